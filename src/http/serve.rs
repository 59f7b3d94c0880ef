//! The server loop: hyper's HTTP/1 with the limits a public port needs.
//!
//! `axum::serve` gives hyper no timer, so a client that never finishes its headers
//! holds a connection (and a file descriptor) for ever, and it accepts connections
//! until the process runs out of descriptors, when `/healthz` itself hangs. This loop
//! is `axum::serve` plus three promises: headers arrive within [`HEADER_TIMEOUT`] (an
//! idle keep-alive connection waiting for its next request counts, so it is closed
//! too), a body within [`BODY_TIMEOUT`] of its headers (answered 408), and no more than
//! [`Limits::max_connections`] connections at once; one more is answered 503 and
//! closed rather than left waiting.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body::Frame;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

use crate::quote::outbox::handoff::IN_FLIGHT;

pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Descriptors kept free of connections: a socket for each send the outbox may have
/// under way, and 256 for the database pool, WeChat's other calls and the shop's
/// webhook, log files, and the 503s themselves.
const RESERVED_DESCRIPTORS: u64 = IN_FLIGHT as u64 + 256;
/// The default cap where descriptors are plentiful: past this, memory, not
/// descriptors, is what runs out.
const DEFAULT_MAX_CONNECTIONS: u64 = 16_384;
/// How many refusals may be under way at once (each takes a second at most); past
/// that a connection is simply closed.
const MAX_REFUSING: usize = 64;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
}

impl Limits {
    /// Raises the soft descriptor limit as far as the hard one allows, then caps
    /// connections below it: `configured` (`MAX_CONNECTIONS`) if it fits, else as many
    /// as leave `RESERVED_DESCRIPTORS` free.
    pub fn for_this_process(configured: Option<usize>) -> Limits {
        let descriptors = match rlimit::increase_nofile_limit(65_536) {
            Ok(soft) => soft,
            Err(e) => {
                tracing::warn!(error = %e, "the descriptor limit could not be read or raised");
                1024
            }
        };
        let room = descriptors.saturating_sub(RESERVED_DESCRIPTORS).max(16);
        let max = match configured {
            Some(n) if n as u64 <= room => n as u64,
            Some(n) => {
                tracing::warn!(
                    configured = n,
                    descriptors,
                    allowed = room,
                    "MAX_CONNECTIONS is above what the descriptor limit leaves room for; capped"
                );
                room
            }
            None => room.min(DEFAULT_MAX_CONNECTIONS),
        };
        tracing::info!(descriptors, max_connections = max, "connection limits");
        Limits {
            max_connections: max as usize,
        }
    }
}

/// Serves `router` on `listener` until `stop` turns true, then stops accepting, lets
/// every connection finish the request it is on, and returns once all are closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let refusing = Arc::new(Semaphore::new(MAX_REFUSING));
    loop {
        let (stream, peer) = tokio::select! {
            () = stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors (or a connection reset before we took it):
                    // wait a moment rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        match connections.clone().try_acquire_owned() {
            Ok(permit) => {
                let router = router.clone();
                let stop = stop.clone();
                tokio::spawn(async move {
                    connection(stream, peer, router, stop).await;
                    drop(permit);
                });
            }
            Err(_) => match refusing.clone().try_acquire_owned() {
                Ok(permit) => {
                    tokio::spawn(async move {
                        refuse(stream).await;
                        drop(permit);
                    });
                }
                Err(_) => drop(stream),
            },
        }
    }
    drop(listener);
    // Every connection holds a permit until it closes: all back means all closed.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = connections.acquire_many(all).await;
}

/// Resolves once `stop` is true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    mut stop: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let router = router.clone();
        async move { Ok::<_, Infallible>(handle(router, req, peer).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
            return;
        }
        () = stopped(&mut stop) => conn.as_mut().graceful_shutdown(),
    }
    let _ = conn.await;
}

/// One request through the router, its body held to [`BODY_TIMEOUT`] from now.
async fn handle(router: Router, req: Request<Incoming>, peer: SocketAddr) -> Response {
    let late = Arc::new(AtomicBool::new(false));
    let mut req = req.map(|body| {
        Body::new(Deadline {
            body,
            sleep: Box::pin(tokio::time::sleep(BODY_TIMEOUT)),
            late: late.clone(),
        })
    });
    req.extensions_mut().insert(ConnectInfo(peer));
    let response = router
        .oneshot(req)
        .await
        .unwrap_or_else(|never| match never {});
    if late.load(Ordering::Relaxed) {
        // Whatever the handler made of its unreadable body, the answer is the timeout,
        // and the connection does not stay open for a next request.
        return (
            StatusCode::REQUEST_TIMEOUT,
            [(header::CONNECTION, "close")],
            axum::Json(serde_json::json!({
                "error": "请求正文 30 秒内没有收完 (request body not received in time)"
            })),
        )
            .into_response();
    }
    response
}

/// A request body that fails once its deadline passes.
struct Deadline {
    body: Incoming,
    sleep: Pin<Box<tokio::time::Sleep>>,
    late: Arc<AtomicBool>,
}

#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {} s", BODY_TIMEOUT.as_secs())]
struct BodyTimedOut;

impl http_body::Body for Deadline {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        ready!(self.sleep.as_mut().poll(cx));
        self.late.store(true, Ordering::Relaxed);
        Poll::Ready(Some(Err(BodyTimedOut.into())))
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The answer when every connection is taken: a plain 503, then close. It waits for
/// the request's head first (a second at most): a client that gets an answer before
/// it has asked takes it for a broken server, not a busy one.
async fn refuse(mut stream: TcpStream) {
    const BODY: &str = "服务繁忙，请稍后再试 (too many connections)\n";
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    let mut head = Vec::with_capacity(1024);
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let mut chunk = [0u8; 1024];
        while head.len() < 8192 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
}
