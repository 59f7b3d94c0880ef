//! Customer-service messages: `message/custom/send`, news (one article card) or text.
//!
//! Since 2018 a news message carries exactly one article (more → 45008). Since 2023, after
//! a scan or subscribe event the account may send at most 3 messages within one minute
//! (late → 45015, too many → 45047).
//! <https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Service_Center_messages.html>

use serde::{Deserialize, Serialize};

use super::api::WechatError;
use super::client::WechatClient;

/// One article card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Article {
    pub title: String,
    pub description: String,
    pub url: String,
    /// Left out of the request when empty: WeChat then shows the card without a picture.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub picurl: String,
}

#[derive(Deserialize)]
struct Sent {}

/// The request body, serialized straight from borrowed parts: this is sent once per
/// scan, so no intermediate JSON tree.
#[derive(Serialize)]
struct NewsMessage<'a> {
    touser: &'a str,
    msgtype: &'static str,
    news: News<'a>,
}

#[derive(Serialize)]
struct News<'a> {
    articles: [&'a Article; 1],
}

#[derive(Serialize)]
struct TextMessage<'a> {
    touser: &'a str,
    msgtype: &'static str,
    text: Text<'a>,
}

#[derive(Serialize)]
struct Text<'a> {
    content: &'a str,
}

impl WechatClient {
    pub async fn send_text(&self, openid: &str, content: &str) -> Result<(), WechatError> {
        let body = TextMessage {
            touser: openid,
            msgtype: "text",
            text: Text { content },
        };
        self.post::<_, Sent>("/cgi-bin/message/custom/send", &body)
            .await
            .map(|_| ())
    }

    /// Errors are the caller's to log: the outbox records each with the message's id.
    pub async fn send_news(&self, openid: &str, article: &Article) -> Result<(), WechatError> {
        let body = NewsMessage {
            touser: openid,
            msgtype: "news",
            news: News {
                articles: [article],
            },
        };
        self.post::<_, Sent>("/cgi-bin/message/custom/send", &body)
            .await
            .map(|_| ())
    }
}
