//! The bench's two servers besides scanquote: the bare axum ceiling, and a minimal
//! WeChat API stand-in that counts calls and can answer slowly.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use serde_json::{Value, json};

async fn listen(router: Router) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    crate::announce(listener.local_addr()?);
    axum::serve(listener, router).await?;
    Ok(())
}

/// The ceiling: answers every push with `success` and does nothing else.
pub async fn serve_bare() -> anyhow::Result<()> {
    listen(Router::new().route("/wechat", post(|| async { "success" }))).await
}

/// The floor under any implementation of the flow: answers every push with `success`
/// and sends one message to the API at `api` for it, as scanquote's outbox does, with
/// nothing else (no signature, no parsing, no database). Its throughput is the most a
/// service that sends a message per push can reach on these cores, whatever it stores.
pub async fn serve_forwarder(api: String) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()?;
    let url = format!("{api}/cgi-bin/message/custom/send?access_token=bench-access-token");
    let forward = move || {
        let (http, url) = (http.clone(), url.clone());
        async move {
            tokio::spawn(async move {
                let body = json!({"touser": "oBench", "msgtype": "news", "news": {"articles": [
                    {"title": "t", "description": "d", "url": "http://127.0.0.1/quote", "picurl": ""}]}});
                if let Ok(r) = http.post(&url).json(&body).send().await {
                    let _ = r.bytes().await;
                }
            });
            "success"
        }
    };
    listen(Router::new().route("/wechat", post(forward))).await
}

#[derive(Default)]
struct Counts {
    token: AtomicU64,
    qrcode: AtomicU64,
    send: AtomicU64,
}

#[derive(Clone)]
struct Api {
    counts: Arc<Counts>,
    latency: Duration,
}

pub async fn serve_api(latency_ms: u64) -> anyhow::Result<()> {
    let api = Api {
        counts: Arc::default(),
        latency: Duration::from_millis(latency_ms),
    };
    let token = |State(api): State<Api>| async move {
        api.counts.token.fetch_add(1, Ordering::Relaxed);
        Json(json!({ "access_token": "bench-access-token", "expires_in": 7200 }))
    };
    let router = Router::new()
        .route("/cgi-bin/stable_token", post(token))
        .route("/cgi-bin/token", get(token))
        .route(
            "/cgi-bin/qrcode/create",
            post(|State(api): State<Api>| async move {
                let n = api.counts.qrcode.fetch_add(1, Ordering::Relaxed) + 1;
                Json(json!({ "ticket": format!("gQBench{n}=="), "expire_seconds": 1800, "url": format!("http://weixin.qq.com/q/bench{n}") }))
            }),
        )
        .route(
            "/cgi-bin/message/custom/send",
            post(|State(api): State<Api>| async move {
                if !api.latency.is_zero() {
                    tokio::time::sleep(api.latency).await;
                }
                api.counts.send.fetch_add(1, Ordering::Relaxed);
                Json(json!({ "errcode": 0, "errmsg": "ok" }))
            }),
        )
        .route("/cgi-bin/user/info", get(|| async { Json(json!({ "subscribe": 1, "openid": "o" })) }))
        .route(
            "/stats",
            get(|State(api): State<Api>| async move {
                let c = &api.counts;
                Json::<Value>(json!({
                    "token_calls": c.token.load(Ordering::Relaxed),
                    "qrcode_create_calls": c.qrcode.load(Ordering::Relaxed),
                    "custom_send_calls": c.send.load(Ordering::Relaxed),
                }))
            }),
        )
        .with_state(api);
    listen(router).await
}
