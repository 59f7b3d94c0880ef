//! User tags, with WeChat's rules: at most 100 tags of 1–30 characters per account
//! (45056 too many, 45158 too long, 45157 a name that exists), at most 20 tags per user
//! (45059), at most 50 openids per batchtagging call (40032), a known tag (45159) and
//! known openids (40003).

use axum::Json;
use serde_json::{Value, json};

use super::error;
use crate::sandbox::World;

pub(super) fn create_tag_answer(world: &mut World, body: Value) -> Json<Value> {
    let name = body
        .pointer("/tag/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if name.is_empty() || name.chars().count() > 30 {
        return error(45158, "tag name too long");
    }
    if world.tags.values().any(|n| *n == name) {
        return error(45157, "invalid tag name");
    }
    if world.tags.len() >= 100 {
        return error(45056, "too many tags now, no need to add new");
    }
    // WeChat keeps ids 0–2 for its own tags.
    let id = 100 + world.tags.len() as i64;
    world.tags.insert(id, name.clone());
    Json(json!({ "tag": { "id": id, "name": name } }))
}

pub(super) fn list_tags_answer(world: &World) -> Json<Value> {
    let tags: Vec<Value> = world
        .tags
        .iter()
        .map(|(id, name)| {
            let count = world
                .users
                .values()
                .filter(|u| u.tags.contains(name))
                .count();
            json!({ "id": id, "name": name, "count": count })
        })
        .collect();
    Json(json!({ "tags": tags }))
}

pub(super) fn batch_tagging_answer(world: &mut World, body: Value) -> Json<Value> {
    let Some(name) = body
        .get("tagid")
        .and_then(Value::as_i64)
        .and_then(|id| world.tags.get(&id).cloned())
    else {
        return error(45159, "invalid tag id");
    };
    let Some(openids) = body.get("openid_list").and_then(Value::as_array) else {
        return error(40032, "invalid openid list size");
    };
    if openids.is_empty() || openids.len() > 50 {
        return error(40032, "invalid openid list size");
    }
    let openids: Vec<String> = openids
        .iter()
        .map(|o| o.as_str().unwrap_or_default().to_owned())
        .collect();
    if openids.iter().any(|o| !world.users.contains_key(o)) {
        return error(40003, "invalid openid");
    }
    for openid in &openids {
        let user = world.users.get_mut(openid).expect("checked above");
        if user.tags.contains(&name) {
            continue;
        }
        if user.tags.len() >= 20 {
            return error(45059, "has too many tags");
        }
        user.tags.push(name.clone());
    }
    world.tagged.extend(openids);
    Json(json!({ "errcode": 0, "errmsg": "ok" }))
}
