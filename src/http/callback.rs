//! `/wechat`: the callback WeChat verifies and pushes events to.
//!
//! Every push is checked before anything is read from it: the signature (403 when it
//! does not hold), then the XML (400 with the reason). A scan is recorded and its message
//! queued before we answer, and we answer at once: WeChat waits 5 seconds, then retries.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Query, Request, State};
use axum::routing::get;
use secrecy::ExposeSecret;
use serde::Deserialize;

use crate::quote::scans;
use crate::wechat::{Push, inbound, signature};
use crate::{AppError, AppState};

/// WeChat's pushes are a few hundred bytes; anything near this is not from WeChat.
const MAX_PUSH_BYTES: usize = 64 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/wechat", get(verify_server).post(receive_push))
        .layer(DefaultBodyLimit::max(MAX_PUSH_BYTES))
}

#[derive(Deserialize)]
struct Signed {
    signature: Option<String>,
    timestamp: Option<String>,
    nonce: Option<String>,
    echostr: Option<String>,
}

impl Signed {
    fn holds(&self, state: &AppState) -> bool {
        match (&self.signature, &self.timestamp, &self.nonce) {
            (Some(sig), Some(ts), Some(nonce)) => {
                signature::verify(sig, &[state.config.wechat.token.expose_secret(), ts, nonce])
            }
            _ => false,
        }
    }
}

/// The platform's server check: echo `echostr` only when the signature holds.
async fn verify_server(
    State(state): State<AppState>,
    Query(q): Query<Signed>,
) -> Result<String, AppError> {
    if !q.holds(&state) {
        return Err(AppError::Forbidden);
    }
    q.echostr
        .ok_or_else(|| AppError::bad_field("echostr", "is required"))
}

/// A push whose signature held and whose XML parsed.
pub struct VerifiedPush(pub Push);

impl FromRequest<AppState> for VerifiedPush {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, AppError> {
        let Query(q) = Query::<Signed>::try_from_uri(req.uri()).map_err(|_| AppError::Forbidden)?;
        if !q.holds(state) {
            return Err(AppError::Forbidden);
        }
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|e| match e.status() {
                axum::http::StatusCode::PAYLOAD_TOO_LARGE => AppError::TooLarge,
                _ => AppError::bad_request(format!("body could not be read: {e}")),
            })?;
        let push = inbound::parse(&body).map_err(|e| AppError::bad_request(e.0))?;
        Ok(VerifiedPush(push))
    }
}

async fn receive_push(
    State(state): State<AppState>,
    VerifiedPush(push): VerifiedPush,
) -> Result<&'static str, AppError> {
    match &push {
        Push::Scan(event) => {
            let outcome = scans::record_scan(&state, event).await?;
            tracing::info!(?outcome, openid = %event.openid, "scan handled");
        }
        Push::Other {
            msg_type, event, ..
        } => {
            tracing::info!(
                msg_type,
                event = event.as_deref().unwrap_or(""),
                openid = push.openid(),
                "push ignored"
            );
        }
    }
    Ok("success")
}
