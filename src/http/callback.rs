//! `/wechat`: the callback WeChat verifies and pushes events to.
//!
//! Every push is checked before anything is read from it: the timestamp (replays), the
//! signature (403 when it does not hold), then, in AES mode, `msg_signature` over the
//! ciphertext and the decryption with the appid inside it, then the XML (400 with the
//! reason). A scan is recorded and its message queued before we answer, and we answer
//! at once: WeChat waits 5 seconds, then retries. A passive reply goes back in the mode
//! the push came in (sealed in AES mode).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Query, Request, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rand::Rng;
use secrecy::ExposeSecret;
use serde::Deserialize;

use crate::quote::scans;
use crate::wechat::crypto::CryptoError;
use crate::wechat::reply::Reply;
use crate::wechat::{Push, inbound, signature};
use crate::{AppError, AppState, now_ms};

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
    encrypt_type: Option<String>,
    msg_signature: Option<String>,
}

impl Signed {
    fn parts(&self) -> Result<(&str, &str), AppError> {
        match (&self.timestamp, &self.nonce) {
            (Some(ts), Some(nonce)) if ts.len() <= 16 && nonce.len() <= 64 => Ok((ts, nonce)),
            _ => Err(AppError::Forbidden),
        }
    }

    /// The plain signature over token, timestamp and nonce.
    fn check_signature(&self, state: &AppState) -> Result<(), AppError> {
        let (ts, nonce) = self.parts()?;
        let token = state.config.wechat.token.expose_secret();
        match &self.signature {
            Some(sig) if signature::verify(sig, &[token, ts, nonce]) => Ok(()),
            _ => Err(AppError::Forbidden),
        }
    }

    /// Refuses timestamps far from now, so a captured push cannot be replayed later.
    /// WeChat's own retries come within seconds and pass.
    fn check_freshness(&self, state: &AppState) -> Result<(), AppError> {
        let window = state.config.timestamp_window_secs as i64;
        if window == 0 {
            return Ok(());
        }
        let (ts, _) = self.parts()?;
        let ts: i64 = ts.parse().map_err(|_| AppError::Forbidden)?;
        if (now_ms() / 1000 - ts).abs() > window {
            tracing::warn!(timestamp = ts, "push refused: timestamp outside the window");
            return Err(AppError::Forbidden);
        }
        Ok(())
    }
}

/// The platform's server check: echo `echostr` only when the signature holds.
async fn verify_server(
    State(state): State<AppState>,
    Query(q): Query<Signed>,
) -> Result<String, AppError> {
    q.check_signature(&state)?;
    q.echostr
        .ok_or_else(|| AppError::bad_field("echostr", "is required"))
}

/// How the push came, so the reply goes back the same way.
pub enum Mode {
    Plain,
    Aes { nonce: String },
}

/// A push whose signature held and whose XML parsed (decrypted first in AES mode).
pub struct VerifiedPush {
    pub push: Push,
    pub mode: Mode,
}

impl FromRequest<AppState> for VerifiedPush {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, AppError> {
        let Query(q) = Query::<Signed>::try_from_uri(req.uri()).map_err(|_| AppError::Forbidden)?;
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|e| match e.status() {
                StatusCode::PAYLOAD_TOO_LARGE => AppError::TooLarge,
                _ => AppError::bad_request(format!("body could not be read: {e}")),
            })?;
        q.check_freshness(state)?;
        if q.encrypt_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("aes"))
        {
            let crypto = state.crypto.as_ref().ok_or_else(|| {
                AppError::bad_request(
                    "encrypted push, but no WECHAT_ENCODING_AES_KEY is configured",
                )
            })?;
            let encrypt = inbound::encrypted_part(&body).map_err(|e| AppError::bad_request(e.0))?;
            let (ts, nonce) = q.parts()?;
            let token = state.config.wechat.token.expose_secret();
            match &q.msg_signature {
                Some(sig) if signature::verify(sig, &[token, ts, nonce, &encrypt]) => {}
                _ => return Err(AppError::Forbidden),
            }
            let xml = crypto.decrypt(&encrypt).map_err(|e| match e {
                CryptoError::WrongAppId => AppError::Forbidden,
                other => AppError::bad_request(format!("Encrypt: {other}")),
            })?;
            let push = inbound::parse(xml.as_bytes()).map_err(|e| AppError::bad_request(e.0))?;
            return Ok(VerifiedPush {
                push,
                mode: Mode::Aes {
                    nonce: nonce.to_owned(),
                },
            });
        }
        q.check_signature(state)?;
        if state.crypto.is_some() {
            // Safe and compatible mode always carry `Encrypt` and `msg_signature`. A
            // plaintext push's signature covers the query, not the body, so in AES mode
            // it proves nothing about what the push says.
            if !state.config.wechat.allow_plaintext {
                tracing::warn!("push refused: plaintext, but WECHAT_ENCODING_AES_KEY is set");
                return Err(AppError::Forbidden);
            }
            tracing::warn!(
                "plaintext push accepted in AES mode because WECHAT_ALLOW_PLAINTEXT is set: \
                 turn it off once the platform's message mode is safe or compatible"
            );
        }
        let push = inbound::parse(&body).map_err(|e| AppError::bad_request(e.0))?;
        Ok(VerifiedPush {
            push,
            mode: Mode::Plain,
        })
    }
}

async fn receive_push(
    State(state): State<AppState>,
    pushed: VerifiedPush,
) -> Result<Response, AppError> {
    let reply = match &pushed.push {
        Push::Scan(event) => scans::record_scan(&state, event).await?.reply,
        Push::Other {
            msg_type, event, ..
        } => {
            tracing::info!(
                msg_type,
                event = event.as_deref().unwrap_or(""),
                openid = pushed.push.openid(),
                "push ignored"
            );
            None
        }
    };
    Ok(match reply {
        Some(reply) => passive_reply(&state, &pushed, &reply),
        None => "success".into_response(),
    })
}

fn passive_reply(state: &AppState, pushed: &VerifiedPush, reply: &Reply) -> Response {
    let now = now_ms() / 1000;
    let xml = reply.to_xml(pushed.push.openid(), pushed.push.account(), now);
    let body = match (&pushed.mode, &state.crypto) {
        (Mode::Aes { nonce }, Some(crypto)) => {
            let nonce = if nonce.is_empty() {
                rand::thread_rng()
                    .gen_range(100_000_000u32..u32::MAX)
                    .to_string()
            } else {
                nonce.clone()
            };
            crypto
                .seal(
                    &xml,
                    state.config.wechat.token.expose_secret(),
                    &now.to_string(),
                    &nonce,
                )
                .to_xml()
        }
        _ => xml,
    };
    ([(CONTENT_TYPE, "application/xml; charset=utf-8")], body).into_response()
}
