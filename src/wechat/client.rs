//! The WeChat API client: one method per call (in [`super::qrcode`], [`super::message`],
//! [`super::user`], [`super::oauth`]), all going through `WechatClient::call`, which
//! adds the shared access token ([`super::token`]), turns WeChat's `errcode`-in-a-200
//! into [`WechatError`], and on a token error refreshes the token once and retries once.
//! How long each call took goes to an [`ApiObserver`] the service provides (its
//! metrics); the client keeps no statistics of its own.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use super::api::{WechatError, decode, endpoint};
use super::token::{AccessTokens, Token, TokenStore};

/// Told of every API call the client makes, once it is answered.
pub trait ApiObserver: Send + Sync {
    /// `path` is the API's path (`/cgi-bin/message/custom/send`).
    fn api_called(&self, path: &str, elapsed: Duration);
}

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
    observer: Arc<dyn ApiObserver>,
    /// Each path's address with the current token in its query, as last built.
    addresses: Mutex<Vec<Address>>,
}

/// A call's address under one token. The token changes every two hours or so, yet a
/// send built the same address every time (the path joined to the base, the query
/// encoded): 4,300 instructions of the 59,000 a message's `send_news` took, under
/// callgrind. Now it is built once a token and cloned (200).
struct Address {
    path: &'static str,
    /// Which token, by identity: the one `AccessTokens` holds until it is replaced.
    /// Held here, so a later token cannot be allocated where this one was.
    token: Arc<Token>,
    url: Url,
}

impl WechatClient {
    /// `api_base` is `https://api.weixin.qq.com` or a stand-in; the token is shared with
    /// other instances through `store`.
    pub fn new(
        api_base: Url,
        app_id: String,
        secret: SecretString,
        store: Arc<dyn TokenStore>,
        observer: Arc<dyn ApiObserver>,
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
            store,
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
                observer,
                addresses: Mutex::new(Vec::new()),
            }),
        }
    }

    pub fn tokens(&self) -> &AccessTokens {
        &self.inner.tokens
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
        path: &'static str,
        query: &[(&str, &str)],
    ) -> Result<R, WechatError> {
        self.timed(path, |url| self.inner.http.get(url).query(query))
            .await
    }

    pub(crate) async fn post<B: Serialize, R: DeserializeOwned>(
        &self,
        path: &'static str,
        body: &B,
    ) -> Result<R, WechatError> {
        self.timed(path, |url| self.inner.http.post(url).json(body))
            .await
    }

    /// `path` under the API base, with `token` as its `access_token`.
    fn address(&self, path: &'static str, token: &Arc<Token>) -> Url {
        let mut kept = self
            .inner
            .addresses
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let place = kept.iter().position(|a| a.path == path);
        if let Some(a) = place
            .map(|i| &kept[i])
            .filter(|a| Arc::ptr_eq(&a.token, token))
        {
            return a.url.clone();
        }
        let mut url = self.endpoint(path);
        url.query_pairs_mut()
            .append_pair("access_token", token.value.expose_secret());
        let address = Address {
            path,
            token: token.clone(),
            url: url.clone(),
        };
        match place {
            Some(i) => kept[i] = address,
            None => kept.push(address),
        }
        url
    }

    /// [`Self::call`], with its time told to the observer under `path`.
    async fn timed<R: DeserializeOwned>(
        &self,
        path: &'static str,
        build: impl Fn(Url) -> reqwest::RequestBuilder,
    ) -> Result<R, WechatError> {
        let started = std::time::Instant::now();
        let result = self.call(path, build).await;
        self.inner.observer.api_called(path, started.elapsed());
        result
    }

    /// Sends a request to `path` with the current token. A token error expires that token
    /// (only if it is still the current one: another caller may have refreshed already)
    /// and the request is sent once more with a fresh one; never more, so a broken
    /// account cannot burn the daily token quota in a loop.
    async fn call<R: DeserializeOwned>(
        &self,
        path: &'static str,
        build: impl Fn(Url) -> reqwest::RequestBuilder,
    ) -> Result<R, WechatError> {
        let mut refreshed = false;
        loop {
            let token = self.inner.tokens.current().await?;
            let answer = build(self.address(path, &token)).send().await;
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
