//! Web authorization (`snsapi_userinfo`): the only way left to a user's nickname and
//! avatar since `user/info` stopped returning them. The page sends the user to WeChat's
//! authorize page; WeChat sends them back with a `code`, which is traded for a web
//! token and the user's openid, and then for their profile. Web tokens are per user and
//! short-lived: they have nothing to do with the account's access token.
//! <https://developers.weixin.qq.com/doc/offiaccount/OA_Web_Apps/Wechat_webpage_authorization.html>

use serde::Deserialize;
use url::Url;

use super::api::{WechatError, decode};
use super::client::WechatClient;

/// What trading a code gives.
#[derive(Debug, Clone, Deserialize)]
pub struct WebGrant {
    pub access_token: String,
    /// Whose code it was: the person who consented.
    pub openid: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WebProfile {
    pub openid: String,
    pub nickname: Option<String>,
    pub headimgurl: Option<String>,
}

/// The authorize address to send a user to. `state` must be at most 128 letters and
/// digits; WeChat hands it back unchanged.
pub fn authorize_url(oauth_base: &Url, app_id: &str, redirect_uri: &str, state: &str) -> String {
    format!(
        "{}/connect/oauth2/authorize?appid={}&redirect_uri={}&response_type=code&scope=snsapi_userinfo&state={}#wechat_redirect",
        oauth_base.as_str().trim_end_matches('/'),
        urlencoding::encode(app_id),
        urlencoding::encode(redirect_uri),
        urlencoding::encode(state)
    )
}

impl WechatClient {
    /// Trades an authorization code (single-use, 5 minutes) for a web grant.
    #[tracing::instrument(name = "oauth_exchange", skip_all, err(Display))]
    pub async fn exchange_code(&self, code: &str) -> Result<WebGrant, WechatError> {
        let (app_id, secret) = self.credentials();
        let answer = self
            .http()
            .get(self.endpoint("/sns/oauth2/access_token"))
            .query(&[
                ("appid", app_id),
                ("secret", secret),
                ("code", code),
                ("grant_type", "authorization_code"),
            ])
            .send()
            .await;
        decode(answer).await
    }

    #[tracing::instrument(name = "oauth_userinfo", skip_all, err(Display))]
    pub async fn web_profile(&self, grant: &WebGrant) -> Result<WebProfile, WechatError> {
        let answer = self
            .http()
            .get(self.endpoint("/sns/userinfo"))
            .query(&[
                ("access_token", grant.access_token.as_str()),
                ("openid", &grant.openid),
                ("lang", "zh_CN"),
            ])
            .send()
            .await;
        decode(answer).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authorize_url_encodes_the_redirect_and_asks_for_userinfo() {
        let url = authorize_url(
            &Url::parse("https://open.weixin.qq.com").unwrap(),
            "wx1",
            "https://q.example/oauth/callback",
            "abc123",
        );
        assert_eq!(
            url,
            "https://open.weixin.qq.com/connect/oauth2/authorize?appid=wx1&redirect_uri=https%3A%2F%2Fq.example%2Foauth%2Fcallback&response_type=code&scope=snsapi_userinfo&state=abc123#wechat_redirect"
        );
    }
}
