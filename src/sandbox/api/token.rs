//! Access tokens, classic and stable, with WeChat's credential checks.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error;
use crate::now_ms;
use crate::sandbox::{Sandbox, TOKEN_SECONDS};

#[derive(Deserialize)]
pub(super) struct TokenQuery {
    grant_type: Option<String>,
    appid: Option<String>,
    secret: Option<String>,
}

impl Sandbox {
    fn check_credentials(
        &self,
        grant_type: Option<&str>,
        appid: Option<&str>,
        secret: Option<&str>,
    ) -> Result<(), Json<Value>> {
        if grant_type != Some("client_credential") {
            return Err(error(40002, "invalid grant_type"));
        }
        if appid != Some(self.inner.app_id.as_str()) {
            return Err(error(40013, "invalid appid"));
        }
        if secret != Some(self.inner.app_secret.expose_secret()) {
            return Err(error(40125, "invalid appsecret"));
        }
        Ok(())
    }
}

/// Classic tokens: every call issues a new one, and the previous ones keep working for
/// five more minutes only.
pub(super) async fn token_answer(
    State(sandbox): State<Sandbox>,
    Query(q): Query<TokenQuery>,
) -> Json<Value> {
    if let Err(e) = sandbox.check_credentials(
        q.grant_type.as_deref(),
        q.appid.as_deref(),
        q.secret.as_deref(),
    ) {
        return e;
    }
    let mut world = sandbox.world();
    let grace = now_ms() + 5 * 60 * 1000;
    for expires in world.tokens.values_mut() {
        *expires = (*expires).min(grace);
    }
    let (token, _) = world.issue_token();
    Json(json!({ "access_token": token, "expires_in": TOKEN_SECONDS }))
}

/// Stable tokens: the same token while it has more than five minutes left, unless
/// `force_refresh` is set.
pub(super) async fn stable_token_answer(
    State(sandbox): State<Sandbox>,
    body: Bytes,
) -> Json<Value> {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error(47001, "data format error");
    };
    let field = |name: &str| body.get(name).and_then(Value::as_str);
    if let Err(e) = sandbox.check_credentials(field("grant_type"), field("appid"), field("secret"))
    {
        return e;
    }
    let force = body
        .get("force_refresh")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut world = sandbox.world();
    let now = now_ms();
    let (token, expires) = match world.stable.clone() {
        Some((token, expires)) if !force && expires - now > 5 * 60 * 1000 => (token, expires),
        _ => world.issue_token(),
    };
    world.stable = Some((token.clone(), expires));
    Json(json!({ "access_token": token, "expires_in": (expires - now) / 1000 }))
}
