//! The sandbox's WeChat API, answering as WeChat does: HTTP 200 with JSON, `errcode`
//! and `errmsg` on failure. [`token`] issues access tokens (classic and stable),
//! [`qrcode`] makes and shows codes, [`message`] takes customer-service messages and
//! answers `user/info`, [`tags`] keeps user tags; every call passes fault injection
//! first.

mod message;
mod qrcode;
mod tags;
mod token;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rand::Rng;
use rand::distributions::Alphanumeric;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Sandbox, TOKEN_SECONDS, World};
use crate::now_ms;
use message::{UserQuery, custom_send_answer, user_info_answer};
use qrcode::{create_qrcode_answer, show_qrcode};
use tags::{batch_tagging_answer, create_tag_answer, list_tags_answer};
use token::{TokenQuery, stable_token_answer, token_answer};

pub fn router() -> Router<Sandbox> {
    Router::new()
        .route("/cgi-bin/token", get(token))
        .route("/cgi-bin/stable_token", post(stable_token))
        .route("/cgi-bin/qrcode/create", post(create_qrcode))
        .route("/cgi-bin/showqrcode", get(show_qrcode))
        .route("/cgi-bin/message/custom/send", post(custom_send))
        .route("/cgi-bin/user/info", get(user_info))
        .route("/cgi-bin/tags/create", post(create_tag))
        .route("/cgi-bin/tags/get", get(list_tags))
        .route("/cgi-bin/tags/members/batchtagging", post(batch_tagging))
}

/// Each API first passes fault injection, which also counts the call.
macro_rules! with_faults {
    ($name:ident, $answer:ident, $api:literal, ($($arg:ident: $ty:ty),*)) => {
        async fn $name(State(sandbox): State<Sandbox>, $($arg: $ty),*) -> Response {
            if let Some(injected) = sandbox.inject($api).await {
                return injected;
            }
            $answer(State(sandbox), $($arg),*).await.into_response()
        }
    };
}

/// An API that takes an access token in the query and a JSON body: after fault
/// injection, the token and the body are checked as WeChat checks them.
macro_rules! with_token_and_body {
    ($name:ident, $answer:ident, $api:literal) => {
        async fn $name(
            State(sandbox): State<Sandbox>,
            Query(q): Query<AccessQuery>,
            body: Bytes,
        ) -> Response {
            if let Some(injected) = sandbox.inject($api).await {
                return injected;
            }
            let mut world = sandbox.world();
            match world.authorized_json(q.access_token.as_deref(), &body) {
                Ok(body) => $answer(&mut world, body).into_response(),
                Err(refused) => refused.into_response(),
            }
        }
    };
}

with_faults!(token, token_answer, "token", (q: Query<TokenQuery>));
with_faults!(stable_token, stable_token_answer, "stable_token", (body: Bytes));
with_token_and_body!(create_qrcode, create_qrcode_answer, "qrcode_create");
with_token_and_body!(custom_send, custom_send_answer, "custom_send");
with_faults!(user_info, user_info_answer, "user_info", (q: Query<UserQuery>));
with_token_and_body!(create_tag, create_tag_answer, "tags_create");
with_token_and_body!(batch_tagging, batch_tagging_answer, "batchtagging");

async fn list_tags(State(sandbox): State<Sandbox>, Query(q): Query<AccessQuery>) -> Response {
    if let Some(injected) = sandbox.inject("tags_get").await {
        return injected;
    }
    let world = sandbox.world();
    match world.check_token(q.access_token.as_deref()) {
        Ok(()) => list_tags_answer(&world).into_response(),
        Err(refused) => refused.into_response(),
    }
}

fn error(errcode: i64, errmsg: &str) -> Json<Value> {
    Json(json!({ "errcode": errcode, "errmsg": errmsg }))
}

/// A string field of a request body; missing or not a string reads as empty.
fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn random_token() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(64)
        .map(char::from)
        .collect()
}

impl World {
    /// The JSON body of a call that needs a valid access token, or WeChat's refusal.
    fn authorized_json(&self, token: Option<&str>, body: &Bytes) -> Result<Value, Json<Value>> {
        self.check_token(token)?;
        serde_json::from_slice(body).map_err(|_| error(47001, "data format error"))
    }

    fn check_token(&self, token: Option<&str>) -> Result<(), Json<Value>> {
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| error(41001, "access_token missing"))?;
        match self.tokens.get(token) {
            Some(expires) if *expires > now_ms() => Ok(()),
            Some(_) => Err(error(42001, "access_token expired")),
            None => Err(error(
                40001,
                "invalid credential, access_token is invalid or not latest",
            )),
        }
    }

    fn issue_token(&mut self) -> (String, i64) {
        let now = now_ms();
        let token = random_token();
        let expires = now + TOKEN_SECONDS * 1000;
        self.tokens.insert(token.clone(), expires);
        (token, expires)
    }
}

#[derive(Deserialize)]
pub(super) struct AccessQuery {
    pub(super) access_token: Option<String>,
}
