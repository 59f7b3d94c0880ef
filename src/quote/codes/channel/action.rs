//! What a scan of a channel code answers: a text, or a news card whose four parts are
//! templates held to the quote card's rules (strict fields, a step budget, an output
//! cap, a link and picture that render to http(s) only). A card can use the code's
//! `name` and `group`, the scanner's `openid` and the service's `base_url`.

use minijinja::{Value, context};
use serde::{Deserialize, Serialize};

use crate::AppError;
use crate::quote::card::versions::MAX_PART_CHARS;
use crate::quote::card::{Compiled, Part, TemplateError, TemplateProblem};
use crate::wechat::message::Article;

/// WeChat shows at most 2048 bytes of a text message.
pub const MAX_TEXT_BYTES: usize = 2048;

/// A reply or welcome as configured: `{"text": …}` or `{"news": {…}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Text(String),
    News(News),
}

/// A news card's four parts, each a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct News {
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// Where the card opens: must render to an http(s) address.
    pub url: String,
    /// The picture: empty, or an http(s) address.
    #[serde(default)]
    pub pic_url: String,
}

/// What goes to the scanner, rendered for them: the outbox's payload for a reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outgoing {
    Text(String),
    News(Article),
}

/// Who scanned what, as a card's template sees it.
pub struct Scanned<'a> {
    pub name: &'a str,
    pub group: Option<&'a str>,
    pub openid: &'a str,
    pub base_url: &'a str,
}

/// The field of a news card that `part` is, in the API's words.
fn news_field(part: Part) -> &'static str {
    match part {
        Part::Title => "title",
        Part::Description => "description",
        Part::PicUrl => "pic_url",
        Part::Link => "url",
    }
}

/// A template error in a channel code's words: its fields are the code's, not an order's.
fn explain(e: &TemplateError) -> String {
    match &e.problem {
        TemplateProblem::UnknownField(name) => format!(
            "{}{}：没有 {name} 这个字段（渠道码的消息可以用 name、group、openid、base_url）",
            e.part.zh(),
            e.line.map(|l| format!("第 {l} 行")).unwrap_or_default()
        ),
        _ => e.to_string(),
    }
}

impl Action {
    /// Checks it as the console and the API take it: `field` names it in a refusal
    /// (`reply`, `welcome`). A card is rendered once for a sample scanner, so what
    /// would fail at a scan fails here.
    pub fn check(&self, field: &str) -> Result<(), AppError> {
        match self {
            Action::Text(text) => {
                let at = format!("{field}.text");
                if text.trim().is_empty() {
                    return Err(AppError::bad_field(at, "回复的文字不能为空"));
                }
                if text.len() > MAX_TEXT_BYTES {
                    return Err(AppError::bad_field(
                        at,
                        "回复的文字最多 2048 字节（约 680 个汉字）",
                    ));
                }
                Ok(())
            }
            Action::News(news) => {
                for (part, source) in [
                    (Part::Title, &news.title),
                    (Part::Description, &news.description),
                    (Part::PicUrl, &news.pic_url),
                    (Part::Link, &news.url),
                ] {
                    let at = format!("{field}.news.{}", news_field(part));
                    if source.chars().count() > MAX_PART_CHARS {
                        return Err(AppError::bad_field(
                            at,
                            format!("{}不能超过 {MAX_PART_CHARS} 个字符", part.zh()),
                        ));
                    }
                    if part == Part::Title && source.trim().is_empty() {
                        return Err(AppError::bad_field(at, "图文消息的标题不能为空"));
                    }
                }
                let sample = Scanned {
                    name: "示例渠道码",
                    group: Some("示例分组"),
                    openid: "o_sample_openid",
                    base_url: "https://example.com/",
                };
                self.render(&sample).map(drop).map_err(|e| {
                    AppError::bad_field(format!("{field}.news.{}", news_field(e.part)), explain(&e))
                })
            }
        }
    }

    /// What to send the scanner.
    pub fn render(&self, scanned: &Scanned<'_>) -> Result<Outgoing, TemplateError> {
        match self {
            Action::Text(text) => Ok(Outgoing::Text(text.clone())),
            Action::News(news) => {
                // Compiled as a template version is, under the same rules.
                let card = Compiled::new(&entity::template::Model {
                    id: 0,
                    title: news.title.clone(),
                    description: news.description.clone(),
                    pic_url: news.pic_url.clone(),
                    link: news.url.clone(),
                    created_at_ms: 0,
                    origin: None,
                })?;
                let ctx: Value = context! {
                    name => scanned.name,
                    group => scanned.group.unwrap_or_default(),
                    openid => scanned.openid,
                    base_url => scanned.base_url,
                };
                card.render(&ctx).map(Outgoing::News)
            }
        }
    }

    /// As stored in `channel_codes.reply` / `welcome`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an action is plain data")
    }

    /// A stored action; `None` when the column is empty or holds what this build does
    /// not read (then nothing is sent rather than something guessed).
    pub fn from_json(stored: Option<&str>) -> Option<Action> {
        serde_json::from_str(stored?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_shapes_read_as_the_api_writes_them() {
        let text: Action = serde_json::from_str(r#"{"text":"谜底是月亮"}"#).unwrap();
        assert_eq!(text, Action::Text("谜底是月亮".into()));
        let news: Action =
            serde_json::from_str(r#"{"news":{"title":"欢迎","url":"https://a.example/"}}"#)
                .unwrap();
        assert!(matches!(news, Action::News(ref n) if n.pic_url.is_empty()));
        assert_eq!(Action::from_json(Some(&news.to_json())), Some(news));
    }

    #[test]
    fn a_card_renders_for_its_scanner_and_refuses_what_a_quote_card_would() {
        let news = |url: &str, title: &str| {
            Action::News(News {
                title: title.into(),
                description: String::new(),
                url: url.into(),
                pic_url: String::new(),
            })
        };
        let ok = news("{{ base_url }}welcome?from={{ name }}", "{{ name }} 欢迎你");
        ok.check("reply").unwrap();
        let scanned = Scanned {
            name: "张三",
            group: None,
            openid: "o1",
            base_url: "https://shop.example/",
        };
        match ok.render(&scanned).unwrap() {
            Outgoing::News(a) => {
                assert_eq!(a.title, "张三 欢迎你");
                assert_eq!(a.url, "https://shop.example/welcome?from=张三");
            }
            other => panic!("{other:?}"),
        }
        let e = news("javascript:alert(1)", "t").check("reply").unwrap_err();
        assert!(
            matches!(e, AppError::BadRequest { ref field, .. } if field.as_deref() == Some("reply.news.url")),
            "{e:?}"
        );
        let e = news("https://a.example/", "{{ order_id }}")
            .check("welcome")
            .unwrap_err();
        match e {
            AppError::BadRequest { field, reason } => {
                assert_eq!(field.as_deref(), Some("welcome.news.title"));
                assert!(reason.contains("没有 order_id 这个字段"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(Action::Text(" ".into()).check("reply").is_err());
        assert!(Action::Text("字".repeat(700)).check("reply").is_err());
    }
}
