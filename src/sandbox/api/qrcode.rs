//! `qrcode/create` with WeChat's argument checks, and `showqrcode` (no token needed).

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::distributions::Alphanumeric;
use rand::{Rng, RngCore};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{error, text};
use crate::sandbox::{Sandbox, Ticket, World};
use crate::wechat::{Lifetime, Scene};
use crate::{images, now_ms};

/// The scene a request asks for, checked by the platform's rules for its lifetime.
fn scene_of(action: &str, info: Option<&Value>, lifetime: Lifetime) -> Result<String, Json<Value>> {
    let scene = info
        .and_then(|i| i.get("scene"))
        .ok_or_else(|| error(40097, "invalid args: action_info.scene is missing"))?;
    let (scene, field) = match action {
        "QR_SCENE" | "QR_LIMIT_SCENE" => (
            scene
                .get("scene_id")
                .and_then(Value::as_u64)
                .and_then(|id| u32::try_from(id).ok())
                .map(Scene::Id),
            "scene_id",
        ),
        _ => (
            scene
                .get("scene_str")
                .and_then(Value::as_str)
                .map(|s| Scene::Str(s.to_owned())),
            "scene_str",
        ),
    };
    let invalid = || error(40097, &format!("invalid args: {field}"));
    let scene = scene.ok_or_else(invalid)?;
    scene.check(lifetime).map_err(|_| invalid())?;
    Ok(scene.to_string())
}

pub(super) fn create_qrcode_answer(world: &mut World, body: Value) -> Json<Value> {
    let action = text(&body, "action_name");
    let temporary = match action.as_str() {
        "QR_SCENE" | "QR_STR_SCENE" => true,
        "QR_LIMIT_SCENE" | "QR_LIMIT_STR_SCENE" => false,
        _ => return error(40097, "invalid args: action_name"),
    };
    // Left out, WeChat gives a temporary code 60 seconds.
    let expire_seconds = match body.get("expire_seconds") {
        None => 60,
        Some(v) => match v.as_u64().and_then(|s| u32::try_from(s).ok()) {
            Some(s) if (1..=crate::wechat::scene::MAX_EXPIRE_SECONDS).contains(&s) => s,
            _ => return error(40097, "invalid args: expire_seconds"),
        },
    };
    let lifetime = if temporary {
        Lifetime::Temporary { expire_seconds }
    } else {
        Lifetime::Permanent
    };
    let scene = match scene_of(&action, body.get("action_info"), lifetime) {
        Ok(scene) => scene,
        Err(e) => return e,
    };
    let mut raw = [0u8; 48];
    rand::thread_rng().fill_bytes(&mut raw);
    let ticket = STANDARD.encode(raw);
    let code: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(22)
        .map(char::from)
        .collect();
    let url = format!("http://weixin.qq.com/q/{code}");
    let expires_at_ms = temporary.then(|| now_ms() + expire_seconds as i64 * 1000);
    world.tickets.insert(
        ticket.clone(),
        Ticket {
            ticket: ticket.clone(),
            url: url.clone(),
            action_name: action,
            scene,
            expires_at_ms,
        },
    );
    if temporary {
        Json(json!({ "ticket": ticket, "expire_seconds": expire_seconds, "url": url }))
    } else {
        Json(json!({ "ticket": ticket, "url": url }))
    }
}

#[derive(Deserialize)]
pub(super) struct ShowQuery {
    ticket: Option<String>,
}

/// No token needed; 404 for an unknown or expired ticket.
pub(super) async fn show_qrcode(
    State(sandbox): State<Sandbox>,
    Query(q): Query<ShowQuery>,
) -> Response {
    let url = {
        let world = sandbox.world();
        q.ticket
            .and_then(|t| world.tickets.get(&t).cloned())
            .filter(|t| t.expires_at_ms.is_none_or(|e| e > now_ms()))
            .map(|t| t.url)
    };
    let Some(url) = url else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match qrcode::QrCode::new(url.as_bytes())
        .map_err(anyhow::Error::from)
        .and_then(|c| images::qr_png(&c))
    {
        Ok(png) => ([(CONTENT_TYPE, "image/png")], png).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
