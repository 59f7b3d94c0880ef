//! User information: `user/info`.
//!
//! Since 2021-12-27 WeChat no longer returns `nickname` or `headimgurl` here; they are
//! optional so that accounts (and stand-ins) that still send them are used.
//! <https://developers.weixin.qq.com/doc/offiaccount/User_Management/Get_users_basic_information_UnionID.html>

use serde::Deserialize;

use super::api::WechatError;
use super::client::WechatClient;

#[derive(Debug, Clone, Deserialize)]
pub struct UserInfo {
    /// 1 when the user follows the account.
    #[serde(default)]
    pub subscribe: i64,
    pub openid: String,
    pub nickname: Option<String>,
    pub headimgurl: Option<String>,
}

impl WechatClient {
    #[tracing::instrument(name = "user_info", skip(self), err(Display))]
    pub async fn user_info(&self, openid: &str) -> Result<UserInfo, WechatError> {
        self.get(
            "/cgi-bin/user/info",
            &[("openid", openid), ("lang", "zh_CN")],
        )
        .await
    }
}
