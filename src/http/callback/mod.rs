//! `/wechat`: the callback WeChat verifies and pushes events to.
//!
//! Every push is checked before anything is read from it: the timestamp (replays), the
//! signature (403 when it does not hold), then, in AES mode, `msg_signature` over the
//! ciphertext and the decryption with the appid inside it, then the XML (400 with the
//! reason). A scan is recorded and its message queued before we answer, and we answer
//! at once: WeChat waits 5 seconds, then retries. A passive reply goes back in the mode
//! the push came in (sealed in AES mode).

mod verify;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::handler::Handler;
use axum::http::header::{CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rand::Rng;
use secrecy::ExposeSecret;

use super::web::Web;
use crate::http::extract::Query;
use crate::metrics::Metrics;
use crate::quote::{Domain, scans};
use crate::wechat::Push;
use crate::wechat::reply::Reply;
use crate::{AppError, AppState, now_ms};
use verify::{Mode, Signed, VerifiedPush};

/// WeChat's pushes are a few hundred bytes; anything near this is not from WeChat.
const MAX_PUSH_BYTES: usize = 64 * 1024;

pub fn router(metrics: Arc<Metrics>) -> Router<AppState> {
    let timed = middleware::from_fn(move |request, next| timed(metrics.clone(), request, next));
    Router::new()
        .route(
            "/wechat",
            get(verify_server).post(receive_push.layer(timed)),
        )
        .layer(DefaultBodyLimit::max(MAX_PUSH_BYTES))
}

/// Times a push from its request reaching the route (before its body is read and
/// checked) to its answer, for `/metrics`: how much of WeChat's 5 s wait we use.
async fn timed(metrics: Arc<Metrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let answer = next.run(request).await;
    metrics.push_answered(started.elapsed());
    answer
}

/// The platform's server check: echo `echostr` only when the signature holds and the
/// timestamp is recent (a captured check cannot be replayed later). The echo is sent as
/// plain text the browser must not sniff, since its content is the caller's.
async fn verify_server(
    State(web): State<Web>,
    Query(q): Query<Signed>,
) -> Result<Response, AppError> {
    q.check_freshness(&web)?;
    q.check_signature(&web)?;
    let echo = q
        .echostr
        .ok_or_else(|| AppError::bad_field("echostr", "缺少 echostr"))?;
    Ok((
        [
            (CONTENT_TYPE, "text/plain; charset=utf-8"),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        echo,
    )
        .into_response())
}

async fn receive_push(
    State(domain): State<Domain>,
    State(web): State<Web>,
    pushed: VerifiedPush,
) -> Result<Response, AppError> {
    let VerifiedPush { push, mode, seen } = pushed;
    let reply = match &push {
        Push::Scan(event) => scans::record_scan(&domain, event, seen).await?,
        Push::Unsubscribe {
            openid,
            create_time,
            ..
        } => {
            scans::record_unfollow(&domain, openid, *create_time).await?;
            None
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
            None
        }
    };
    Ok(match reply {
        Some(reply) => passive_reply(&web, &push, &mode, &reply),
        None => "success".into_response(),
    })
}

fn passive_reply(web: &Web, push: &Push, mode: &Mode, reply: &Reply) -> Response {
    let now = now_ms() / 1000;
    let xml = reply.to_xml(push.openid(), push.account(), now);
    let body = match (mode, &web.crypto) {
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
                    web.config.wechat.token.expose_secret(),
                    &now.to_string(),
                    &nonce,
                )
                .to_xml()
        }
        _ => xml,
    };
    ([(CONTENT_TYPE, "application/xml; charset=utf-8")], body).into_response()
}
