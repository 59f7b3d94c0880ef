//! The WeChat API client: one method per call (in [`super::qrcode`], [`super::message`],
//! [`super::user`], [`super::oauth`]), all going through `WechatClient::call`, which
//! adds the shared access token ([`super::token`]), turns WeChat's `errcode`-in-a-200
//! into [`WechatError`], and on a token error refreshes the token once and retries once.
//! How long each call took goes to an [`ApiObserver`] the service provides (its
//! metrics); the client keeps no statistics of its own.

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use super::api::{WechatError, decode, endpoint};
use super::token::{AccessTokens, TokenStore};

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

    /// [`Self::call`], with its time told to the observer under `path`.
    async fn timed<R: DeserializeOwned>(
        &self,
        path: &str,
        build: impl Fn(&str) -> reqwest::RequestBuilder,
    ) -> Result<R, WechatError> {
        let started = std::time::Instant::now();
        let result = self.call(build).await;
        self.inner.observer.api_called(path, started.elapsed());
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
