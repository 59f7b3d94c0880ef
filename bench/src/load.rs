//! The load generator: signed pushes over keep-alive connections, every push distinct.

use std::time::{Duration, Instant};

use scanquote::wechat::crypto::{AesKey, MessageCrypto};
use scanquote::wechat::signature;

use crate::{APP_ID, TOKEN};

pub struct Run {
    /// Pushes answered `success`.
    pub acked: usize,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub errors: u64,
}

/// One push: a `SCAN` by a distinct user of the code of `ticket`, signed (and sealed
/// in AES mode) as WeChat does. (WeChat's EventKey would be the code's scene; the
/// service resolves a push by its Ticket, so any scene reads the same.)
fn push_request(
    client: &reqwest::Client,
    base: &str,
    crypto: Option<&MessageCrypto>,
    who: &str,
    ticket: &str,
) -> reqwest::RequestBuilder {
    let now = chrono::Utc::now().timestamp();
    let xml = format!(
        "<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[{who}]]></FromUserName>\
         <CreateTime>{now}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[SCAN]]></Event>\
         <EventKey><![CDATA[100001]]></EventKey><Ticket><![CDATA[{ticket}]]></Ticket></xml>"
    );
    let ts = now.to_string();
    // A nonce per push, as WeChat sends: the service refuses the same query with
    // another body as a replay.
    let nonce = &signature::sign(&[&xml])[..10];
    let sig = signature::sign(&[TOKEN, &ts, nonce]);
    let url = format!("{base}/wechat");
    match crypto {
        None => client
            .post(url)
            .query(&[
                ("signature", sig.as_str()),
                ("timestamp", &ts),
                ("nonce", nonce),
            ])
            .body(xml),
        Some(c) => {
            let e = c.encrypt(&xml);
            let msg_sig = signature::sign(&[TOKEN, &ts, nonce, &e]);
            let body = format!(
                "<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><Encrypt><![CDATA[{e}]]></Encrypt></xml>"
            );
            client
                .post(url)
                .query(&[
                    ("signature", sig.as_str()),
                    ("timestamp", &ts),
                    ("nonce", nonce),
                    ("encrypt_type", "aes"),
                    ("msg_signature", &msg_sig),
                ])
                .body(body)
        }
    }
}

fn crypto_for(key: Option<&str>) -> Option<MessageCrypto> {
    key.map(|k| {
        MessageCrypto::new(
            AesKey::from_encoding_aes_key(k).expect("a valid key"),
            None,
            APP_ID,
        )
    })
}

/// How fast the clients push.
#[derive(Clone, Copy)]
pub enum Pace {
    /// Each client sends its next push as soon as the last is answered: the most the
    /// server takes, and latency as it is at that load.
    Flat,
    /// This many pushes a second in all, on a fixed schedule. A push's latency counts
    /// from when it was due, not when it left, so a server that falls behind shows it
    /// (no coordinated omission).
    PerSecond(f64),
}

/// `connections` clients push for `seconds`; returns throughput and latency. Users
/// are named after `who` so that runs against one server never repeat a push.
pub async fn pushes(
    base: &str,
    connections: usize,
    seconds: u64,
    key: Option<&str>,
    tickets: &Tickets,
    who: &str,
    pace: Pace,
) -> Run {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|conn| {
            let base = base.to_owned();
            let crypto = crypto_for(key);
            let prefix = who.to_owned();
            let tickets = tickets.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .build()
                    .expect("client");
                let (mut lat, mut errors, mut seq) = (Vec::with_capacity(100_000), 0u64, 0usize);
                while Instant::now() < deadline {
                    let who = format!("{prefix}{conn:03}x{seq:09}");
                    let ticket = &tickets[(seq * connections + conn) % tickets.len()];
                    let t = match pace {
                        Pace::Flat => Instant::now(),
                        Pace::PerSecond(rate) => {
                            let due = started
                                + Duration::from_secs_f64((seq * connections + conn) as f64 / rate);
                            if due >= deadline {
                                break;
                            }
                            tokio::time::sleep_until(due.into()).await;
                            due
                        }
                    };
                    let ok = match push_request(&client, &base, crypto.as_ref(), &who, ticket)
                        .send()
                        .await
                    {
                        Ok(r) => {
                            r.status() == 200
                                && r.bytes()
                                    .await
                                    .map(|b| &b[..] == b"success")
                                    .unwrap_or(false)
                        }
                        Err(_) => false,
                    };
                    if ok {
                        lat.push(t.elapsed().as_micros() as u32)
                    } else {
                        errors += 1
                    }
                    seq += 1;
                }
                (lat, errors)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (lat, e) = t.await.expect("load task");
        all.extend(lat);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        if all.is_empty() {
            0.0
        } else {
            all[((all.len() - 1) as f64 * p) as usize] as f64 / 1000.0
        }
    };
    Run {
        acked: all.len(),
        per_second: all.len() as f64 / elapsed,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        max_ms: pct(1.0),
        errors,
    }
}

/// Exactly `n` pushes as fast as `connections` clients go; returns how many were acknowledged.
pub async fn push_n(
    base: &str,
    connections: usize,
    n: usize,
    key: Option<&str>,
    tickets: &Tickets,
) -> u64 {
    let tasks: Vec<_> = (0..connections)
        .map(|conn| {
            let base = base.to_owned();
            let crypto = crypto_for(key);
            let tickets = tickets.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .build()
                    .expect("client");
                let mut ok = 0u64;
                for i in (conn..n).step_by(connections) {
                    let sent = push_request(
                        &client,
                        &base,
                        crypto.as_ref(),
                        &format!("oD{i:09}"),
                        &tickets[i % tickets.len()],
                    )
                    .send()
                    .await;
                    if matches!(sent, Ok(r) if r.status() == 200) {
                        ok += 1;
                    }
                }
                ok
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        ok += t.await.expect("push task");
    }
    ok
}

/// The live tickets of the orders the run's pushes scan.
pub type Tickets = std::sync::Arc<Vec<String>>;

/// Makes a site key with the service's admin token, as a shop's owner does once.
pub async fn site_key(http: &reqwest::Client, base: &str, admin: &str) -> anyhow::Result<String> {
    let made: serde_json::Value = http
        .post(format!("{base}/api/admin/site-keys"))
        .bearer_auth(admin)
        .json(&serde_json::json!({"name": "bench"}))
        .send()
        .await?
        .json()
        .await?;
    made["key"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no site key in {made}"))
}

/// Creates `count` orders with the site key `key`, as a shop's server does; returns
/// their tokens.
pub async fn create_orders(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    count: usize,
) -> anyhow::Result<Vec<String>> {
    use futures_like::run_bounded;
    run_bounded(count, 32, |i| {
        let (http, base, key) = (http.clone(), base.to_owned(), key.to_owned());
        async move {
            let body = format!(
                r#"{{"total_money": {}, "saved_money": 1000, "room_area": 88.5}}"#,
                10_000 + i
            );
            let r = http
                .post(format!("{base}/api/orders"))
                .bearer_auth(key)
                .body(body)
                .send()
                .await?;
            anyhow::ensure!(r.status() == 201, "order creation answered {}", r.status());
            let order: serde_json::Value = r.json().await?;
            order["token"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| anyhow::anyhow!("no token in {order}"))
        }
    })
    .await
}

/// Asks for each order's QR ticket twice, as its page would on a reload; returns the
/// tickets.
pub async fn ask_tickets(
    http: &reqwest::Client,
    base: &str,
    tokens: &[String],
) -> anyhow::Result<Tickets> {
    use futures_like::run_bounded;
    let k = tokens.len();
    let tokens = std::sync::Arc::new(tokens.to_vec());
    let tickets = run_bounded(k * 2, 16, |i| {
        let (http, base, tokens) = (http.clone(), base.to_owned(), tokens.clone());
        async move {
            let r = http
                .get(format!("{base}/api/orders/{}/qrcode", tokens[i % k]))
                .send()
                .await?;
            anyhow::ensure!(r.status() == 200, "qrcode answered {}", r.status());
            let code: serde_json::Value = r.json().await?;
            code["ticket"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| anyhow::anyhow!("no ticket in {code}"))
        }
    })
    .await?;
    Ok(std::sync::Arc::new(tickets[..k].to_vec()))
}

mod futures_like {
    use std::future::Future;
    use std::sync::Arc;

    use tokio::sync::Semaphore;

    /// Runs `make(i)` for i in 0..n, at most `limit` at a time; their results in order.
    pub async fn run_bounded<F, Fut, T>(n: usize, limit: usize, make: F) -> anyhow::Result<Vec<T>>
    where
        F: Fn(usize) -> Fut,
        Fut: Future<Output = anyhow::Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        let permits = Arc::new(Semaphore::new(limit));
        let mut tasks = Vec::with_capacity(n);
        for i in 0..n {
            let permit = permits.clone().acquire_owned().await?;
            let fut = make(i);
            tasks.push(tokio::spawn(async move {
                let r = fut.await;
                drop(permit);
                r
            }));
        }
        let mut out = Vec::with_capacity(n);
        for t in tasks {
            out.push(t.await??);
        }
        Ok(out)
    }
}
