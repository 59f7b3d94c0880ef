//! The WeChat API client: one method per call (in [`super::qrcode`], [`super::message`],
//! [`super::user`]), all going through [`WechatClient::call`], which adds the shared
//! access token, turns WeChat's `errcode`-in-a-200 into [`WechatError`], and on a token
//! error refreshes the token once and retries once.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use super::token::AccessTokens;

/// What went wrong with a WeChat call, grouped by what the caller can do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WechatError {
    /// Transient: network failure, timeout, HTTP 5xx or `errcode` -1 (system busy).
    /// Trying again shortly may work.
    #[error("transient failure: {reason}")]
    Retry {
        errcode: Option<i64>,
        reason: String,
    },
    /// The access token was refused even after one refresh.
    #[error("access token refused ({errcode}: {errmsg})")]
    RefreshToken { errcode: i64, errmsg: String },
    /// WeChat refused the request; sending it again will not help.
    #[error("rejected by WeChat ({errcode}: {errmsg})")]
    Rejected { errcode: i64, errmsg: String },
    /// The answer was not what WeChat answers (wrong status, not JSON): a stand-in or a
    /// proxy in the way. Not retried.
    #[error("unexpected answer: {reason}")]
    Unexpected { reason: String },
}

impl WechatError {
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            WechatError::Retry { .. } | WechatError::RefreshToken { .. }
        )
    }

    /// WeChat's own error code, when it gave one.
    pub fn errcode(&self) -> Option<i64> {
        match self {
            WechatError::Retry { errcode, .. } => *errcode,
            WechatError::RefreshToken { errcode, .. } | WechatError::Rejected { errcode, .. } => {
                Some(*errcode)
            }
            WechatError::Unexpected { .. } => None,
        }
    }

    pub(crate) fn network(e: reqwest::Error) -> Self {
        // The URL carries the access token in its query: never let it reach a log.
        let e = e.without_url();
        let kind = if e.is_timeout() {
            "timeout"
        } else {
            "network error"
        };
        WechatError::Retry {
            errcode: None,
            reason: format!("{kind}: {e}"),
        }
    }
}

/// WeChat's token errors: 40001 invalid or not latest, 40014 invalid, 42001 expired.
pub const TOKEN_ERRCODES: [i64; 3] = [40001, 40014, 42001];

#[derive(Clone)]
pub struct WechatClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    api_base: Url,
    app_id: String,
    secret: SecretString,
    tokens: AccessTokens,
    timings: Timings,
}

/// Upper bounds (ms) of the API latency histogram's buckets.
pub const LATENCY_BUCKETS_MS: [u64; 11] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

/// How long each API took: a histogram per path, for `/metrics`.
#[derive(Default)]
struct Timings {
    by_path: std::sync::Mutex<std::collections::BTreeMap<String, Histogram>>,
}

/// Cumulative bucket counts (as Prometheus wants them), count and sum.
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    pub buckets: [u64; LATENCY_BUCKETS_MS.len()],
    pub count: u64,
    pub sum_ms: f64,
}

impl Timings {
    fn record(&self, path: &str, elapsed: Duration) {
        let ms = elapsed.as_secs_f64() * 1000.0;
        let mut map = self.by_path.lock().unwrap_or_else(|p| p.into_inner());
        // Looked up before inserting: a key is allocated once per path, not per call.
        let h = match map.get_mut(path) {
            Some(h) => h,
            None => map.entry(path.to_owned()).or_default(),
        };
        h.count += 1;
        h.sum_ms += ms;
        for (bucket, bound) in h.buckets.iter_mut().zip(LATENCY_BUCKETS_MS) {
            if ms <= bound as f64 {
                *bucket += 1;
            }
        }
    }
}

impl WechatClient {
    /// `api_base` is `https://api.weixin.qq.com` or a stand-in; the token is shared with
    /// other instances through `db`.
    pub fn new(
        db: DatabaseConnection,
        api_base: Url,
        app_id: String,
        secret: SecretString,
    ) -> Self {
        let http = reqwest::Client::builder()
            // WeChat's API answers, it never redirects. Following one would carry the
            // access token, which rides in the query, to wherever it pointed.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(10))
            .build()
            .expect("the TLS backend is compiled in");
        let tokens = AccessTokens::new(
            db,
            http.clone(),
            api_base.clone(),
            app_id.clone(),
            secret.clone(),
        );
        WechatClient {
            inner: Arc::new(Inner {
                http,
                api_base,
                app_id,
                secret,
                tokens,
                timings: Timings::default(),
            }),
        }
    }

    pub fn tokens(&self) -> &AccessTokens {
        &self.inner.tokens
    }

    /// API latency so far, per path.
    pub fn latencies(&self) -> Vec<(String, Histogram)> {
        let map = self
            .inner
            .timings
            .by_path
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    pub(crate) fn endpoint(&self, path: &str) -> Url {
        endpoint(&self.inner.api_base, path)
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    pub(crate) fn credentials(&self) -> (&str, &str) {
        (&self.inner.app_id, self.inner.secret.expose_secret())
    }

    pub fn app_id(&self) -> &str {
        &self.inner.app_id
    }

    pub(crate) fn api_base(&self) -> &Url {
        &self.inner.api_base
    }

    pub(crate) async fn get<R: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<R, WechatError> {
        let url = self.endpoint(path);
        self.timed(path, |token| {
            self.inner
                .http
                .get(url.clone())
                .query(&[("access_token", token)])
                .query(query)
        })
        .await
    }

    pub(crate) async fn post<B: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<R, WechatError> {
        let url = self.endpoint(path);
        self.timed(path, |token| {
            self.inner
                .http
                .post(url.clone())
                .query(&[("access_token", token)])
                .json(body)
        })
        .await
    }

    /// [`Self::call`], with its time recorded under `path`.
    async fn timed<R: DeserializeOwned>(
        &self,
        path: &str,
        build: impl Fn(&str) -> reqwest::RequestBuilder,
    ) -> Result<R, WechatError> {
        let started = std::time::Instant::now();
        let result = self.call(build).await;
        self.inner.timings.record(path, started.elapsed());
        result
    }

    /// Sends a request built around the current token. A token error expires that token
    /// (only if it is still the current one: another caller may have refreshed already)
    /// and the request is sent once more with a fresh one; never more, so a broken
    /// account cannot burn the daily token quota in a loop.
    async fn call<R: DeserializeOwned>(
        &self,
        build: impl Fn(&str) -> reqwest::RequestBuilder,
    ) -> Result<R, WechatError> {
        let mut refreshed = false;
        loop {
            let token = self.inner.tokens.current().await?;
            let answer = build(token.value.expose_secret()).send().await;
            match decode(answer).await {
                Err(WechatError::RefreshToken { .. }) if !refreshed => {
                    self.inner.tokens.expire_if_current(&token).await;
                    refreshed = true;
                }
                other => return other,
            }
        }
    }
}

/// `path` under the API base (which may have a path of its own, as a stand-in's does).
/// Made from the parsed base, not parsed from text: it runs for every message, and
/// parsing a whole URL, host checks included, cost more than building the request.
pub(crate) fn endpoint(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.set_path(&format!("{}{path}", base.path().trim_end_matches('/')));
    url
}

#[derive(serde::Deserialize)]
struct ErrorHead {
    errcode: Option<i64>,
    errmsg: Option<String>,
}

/// Turns an HTTP answer into the call's result: WeChat reports errors as HTTP 200 with
/// a non-zero `errcode`.
pub(crate) async fn decode<R: DeserializeOwned>(
    answer: Result<reqwest::Response, reqwest::Error>,
) -> Result<R, WechatError> {
    let answer = answer.map_err(WechatError::network)?;
    let status = answer.status();
    if status.is_server_error() || status.as_u16() == 429 {
        return Err(WechatError::Retry {
            errcode: None,
            reason: format!("HTTP {status}"),
        });
    }
    if !status.is_success() {
        return Err(WechatError::Unexpected {
            reason: format!("HTTP {status}"),
        });
    }
    let body = answer.bytes().await.map_err(WechatError::network)?;
    let head: ErrorHead = serde_json::from_slice(&body).map_err(|e| WechatError::Unexpected {
        reason: format!("answer is not JSON: {e}"),
    })?;
    let errmsg = || head.errmsg.clone().unwrap_or_default();
    match head.errcode.unwrap_or(0) {
        0 => serde_json::from_slice(&body).map_err(|e| WechatError::Unexpected {
            reason: format!("answer has an unexpected shape: {e}"),
        }),
        -1 => Err(WechatError::Retry {
            errcode: Some(-1),
            reason: format!("system busy: {}", errmsg()),
        }),
        code if TOKEN_ERRCODES.contains(&code) => Err(WechatError::RefreshToken {
            errcode: code,
            errmsg: errmsg(),
        }),
        code => Err(WechatError::Rejected {
            errcode: code,
            errmsg: errmsg(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_paths_under_the_api_base() {
        for (base, expected) in [
            (
                "https://api.weixin.qq.com",
                "https://api.weixin.qq.com/cgi-bin/token",
            ),
            (
                "https://api.weixin.qq.com/",
                "https://api.weixin.qq.com/cgi-bin/token",
            ),
            (
                "http://127.0.0.1:9/sandbox",
                "http://127.0.0.1:9/sandbox/cgi-bin/token",
            ),
            (
                "http://127.0.0.1:9/sandbox/",
                "http://127.0.0.1:9/sandbox/cgi-bin/token",
            ),
            (
                "http://127.0.0.1:9/s/?x=1#f",
                "http://127.0.0.1:9/s/cgi-bin/token",
            ),
        ] {
            let url = endpoint(&Url::parse(base).unwrap(), "/cgi-bin/token");
            assert_eq!(url.as_str(), expected, "{base}");
        }
    }
}
