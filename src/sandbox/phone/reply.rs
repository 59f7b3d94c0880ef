//! A passive reply as the phone opens it: the seal checked and opened in AES mode, the
//! reply read, and what it says put in the user's inbox.

use secrecy::ExposeSecret;
use serde::Deserialize;

use crate::now_ms;
use crate::sandbox::{Received, Sandbox};
use crate::wechat::signature;

impl Sandbox {
    /// Opens a passive reply as the phone would (checking the seal in AES mode) and puts
    /// it in the user's inbox. `success` and empty answers are no reply.
    pub(super) fn open_reply(&self, openid: &str, body: &str) -> Option<String> {
        let body = body.trim();
        if body.is_empty() || body == "success" || !body.starts_with("<xml>") {
            return None;
        }
        let xml = match sealed_reply(body) {
            Some(sealed) => {
                let crypto = self.inner.crypto.as_ref()?;
                let token = self.inner.token.expose_secret();
                if !signature::verify(
                    &sealed.msg_signature,
                    &[token, &sealed.timestamp, &sealed.nonce, &sealed.encrypt],
                ) {
                    return Some("(reply refused: MsgSignature does not hold)".into());
                }
                match crypto.decrypt(&sealed.encrypt) {
                    Ok(xml) => xml,
                    Err(e) => return Some(format!("(reply refused: {e})")),
                }
            }
            None => body.to_owned(),
        };
        let reply: PassiveReply = quick_xml::de::from_str(&xml).ok()?;
        if reply.to_user_name != openid {
            return Some("(reply refused: ToUserName is another user)".into());
        }
        let (title, description, url, picurl) = match reply.msg_type.as_str() {
            "text" => (
                String::new(),
                reply.content.unwrap_or_default(),
                String::new(),
                String::new(),
            ),
            "news" => {
                let items = reply.articles.map(|a| a.item).unwrap_or_default();
                if items.len() != 1 || reply.article_count != Some(1) {
                    return Some(
                        "(reply refused: a news reply carries exactly one article)".into(),
                    );
                }
                let a = items.into_iter().next().expect("one article");
                (a.title, a.description, a.url, a.pic_url)
            }
            other => return Some(format!("(reply of unsupported type {other})")),
        };
        let shown = if title.is_empty() {
            description.clone()
        } else {
            title.clone()
        };
        self.world().inbox.push(Received {
            openid: openid.to_owned(),
            msgtype: reply.msg_type,
            title,
            description,
            url,
            picurl,
            at_ms: now_ms(),
            via: "passive".into(),
        });
        Some(shown)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SealedReply {
    encrypt: String,
    msg_signature: String,
    time_stamp: String,
    nonce: String,
}

struct Sealed {
    encrypt: String,
    msg_signature: String,
    timestamp: String,
    nonce: String,
}

fn sealed_reply(body: &str) -> Option<Sealed> {
    let s: SealedReply = quick_xml::de::from_str(body).ok()?;
    Some(Sealed {
        encrypt: s.encrypt,
        msg_signature: s.msg_signature,
        timestamp: s.time_stamp,
        nonce: s.nonce,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PassiveReply {
    to_user_name: String,
    msg_type: String,
    content: Option<String>,
    article_count: Option<u32>,
    articles: Option<ReplyArticles>,
}

#[derive(Deserialize)]
struct ReplyArticles {
    #[serde(default)]
    item: Vec<ReplyArticle>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReplyArticle {
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    pic_url: String,
}
