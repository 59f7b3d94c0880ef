//! Passive replies: XML sent back in the callback's response, answered to the push that
//! came in (no API call, no token, no customer-service quota). News replies carry one
//! article. In AES mode the reply is sealed with [`super::crypto::MessageCrypto::seal`].
//! <https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Passive_user_reply_message.html>

use super::message::Article;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Text(String),
    News(Article),
}

/// Wraps text in CDATA; a `]]>` inside is split across two sections so it cannot end
/// the section early.
fn cdata(text: &str) -> String {
    format!("<![CDATA[{}]]>", text.replace("]]>", "]]]]><![CDATA[>"))
}

impl Reply {
    /// The reply to a push from `openid` to `account`, created at `create_time` (Unix s).
    pub fn to_xml(&self, openid: &str, account: &str, create_time: i64) -> String {
        let head = format!(
            "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName><CreateTime>{create_time}</CreateTime>",
            cdata(openid),
            cdata(account)
        );
        match self {
            Reply::Text(content) => format!(
                "{head}<MsgType><![CDATA[text]]></MsgType><Content>{}</Content></xml>",
                cdata(content)
            ),
            Reply::News(a) => format!(
                "{head}<MsgType><![CDATA[news]]></MsgType><ArticleCount>1</ArticleCount><Articles><item>\
                 <Title>{}</Title><Description>{}</Description><PicUrl>{}</PicUrl><Url>{}</Url></item></Articles></xml>",
                cdata(&a.title),
                cdata(&a.description),
                cdata(&a.picurl),
                cdata(&a.url)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_reply_swaps_sender_and_receiver() {
        let xml = Reply::Text("谜底：月亮".into()).to_xml("oUser", "gh_acct", 1_700_000_000);
        assert_eq!(
            xml,
            "<xml><ToUserName><![CDATA[oUser]]></ToUserName><FromUserName><![CDATA[gh_acct]]></FromUserName>\
             <CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[谜底：月亮]]></Content></xml>"
        );
    }

    #[test]
    fn cdata_terminators_in_content_cannot_break_out() {
        let xml = Reply::Text("a]]><evil/>".into()).to_xml("o", "gh", 1);
        assert!(xml.contains("<![CDATA[a]]]]><![CDATA[><evil/>]]>"), "{xml}");
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Back {
            content: String,
        }
        let back: Back = quick_xml::de::from_str(&xml).unwrap();
        assert_eq!(back.content, "a]]><evil/>");
    }

    #[test]
    fn a_news_reply_has_one_article() {
        let article = Article {
            title: "t".into(),
            description: "d".into(),
            url: "https://x/q".into(),
            picurl: String::new(),
        };
        let xml = Reply::News(article).to_xml("o", "gh", 1);
        assert!(
            xml.contains("<ArticleCount>1</ArticleCount>")
                && xml.contains("<Url><![CDATA[https://x/q]]></Url>"),
            "{xml}"
        );
    }
}
