//! Reading a request's JSON body or form into a type, refused in Chinese with the field
//! named: "缺少字段 text", "字段 limit：需要数字，收到的是文字".
//!
//! serde's own errors are English sentences with no structure to translate from, so the
//! body is parsed into a `serde_json::Value` first and then read by a deserializer of
//! our own (`Reader`), whose error type records what kind of problem it was and where:
//! the type asked for is known from which `deserialize_*` was called, a missing field
//! from serde's `missing_field` hook, the place from the keys walked. Forms go the same
//! way, their values all text, which `Reader` then reads as numbers or booleans where
//! the type asks for one.

use std::fmt;

mod reader;

use serde::de::{self, DeserializeOwned};
use serde_json::{Map, Value};

use crate::AppError;
use reader::Reader;

/// `bytes` as JSON of type `T`.
pub fn json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        AppError::bad_request(match e.classify() {
            Category::Eof => "请求内容不完整：JSON 没有结束".to_owned(),
            _ => format!(
                "请求内容不是有效的 JSON（第 {} 行第 {} 列）",
                e.line(),
                e.column()
            ),
        })
    })?;
    read(&value, false)
}

/// `bytes` as an HTML form (`application/x-www-form-urlencoded`) of type `T`.
pub fn form<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes)
        .map_err(|_| AppError::bad_request("表单内容无法读取（编码不对）"))?;
    let mut fields = Map::new();
    for (name, value) in pairs {
        // A name given twice keeps its last value, as a browser's last input wins.
        fields.insert(name, Value::String(value));
    }
    read(&Value::Object(fields), true)
}

fn read<T: DeserializeOwned>(value: &Value, text: bool) -> Result<T, AppError> {
    T::deserialize(Reader::top(value, text)).map_err(Problem::into_app_error)
}

/// What was wrong, and where (`a.b[2]`; empty for the body itself).
#[derive(Debug)]
pub struct Problem {
    pub(super) kind: Kind,
    pub(super) path: Option<String>,
}

#[derive(Debug)]
pub(super) enum Kind {
    Missing(&'static str),
    Expected {
        wanted: &'static str,
        got: &'static str,
    },
    Value(String),
    UnknownField(String),
    UnknownVariant {
        got: String,
        allowed: &'static [&'static str],
    },
    Duplicate(&'static str),
    /// Said by a type's own check (written in Chinese where we write it).
    Other(String),
}

impl Problem {
    pub(super) fn at(mut self, path: &str) -> Self {
        if self.path.is_none() {
            self.path = Some(path.to_owned());
        }
        self
    }

    fn into_app_error(self) -> AppError {
        let path = self.path.unwrap_or_default();
        let join = |name: &str| match path.as_str() {
            "" => name.to_owned(),
            p => format!("{p}.{name}"),
        };
        let (field, reason) = match self.kind {
            Kind::Missing(name) => (join(name), format!("缺少字段 {}", join(name))),
            Kind::Expected { wanted, got } => (
                path.clone(),
                format!("{}需要{wanted}，收到的是{got}", subject(&path)),
            ),
            Kind::Value(what) => (
                path.clone(),
                format!("{}取值 {what} 不可用", subject(&path)),
            ),
            Kind::UnknownField(name) => (join(&name), format!("不认识的字段 {}", join(&name))),
            Kind::UnknownVariant { got, allowed } => (
                path.clone(),
                format!(
                    "{}不能是 {got}，可选：{}",
                    subject(&path),
                    allowed.join("、")
                ),
            ),
            Kind::Duplicate(name) => (join(name), format!("字段 {} 出现了两次", join(name))),
            Kind::Other(reason) => (path.clone(), format!("{}{reason}", subject(&path))),
        };
        match field.as_str() {
            "" => AppError::bad_request(reason),
            _ => AppError::bad_field(field, reason),
        }
    }
}

fn subject(path: &str) -> String {
    match path {
        "" => "请求内容".to_owned(),
        p => format!("字段 {p}："),
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.kind)
    }
}

impl std::error::Error for Problem {}

impl de::Error for Problem {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Problem {
            kind: Kind::Other(msg.to_string()),
            path: None,
        }
    }

    fn invalid_type(unexpected: de::Unexpected, _: &dyn de::Expected) -> Self {
        let got = unexpected_zh(&unexpected);
        Problem {
            kind: Kind::Other(format!("类型不对，收到的是{got}")),
            path: None,
        }
    }

    fn invalid_value(unexpected: de::Unexpected, _: &dyn de::Expected) -> Self {
        let what = match unexpected {
            de::Unexpected::Unsigned(n) => n.to_string(),
            de::Unexpected::Signed(n) => n.to_string(),
            de::Unexpected::Float(n) => n.to_string(),
            de::Unexpected::Str(s) => format!("“{s}”"),
            other => unexpected_zh(&other).to_owned(),
        };
        Problem {
            kind: Kind::Value(what),
            path: None,
        }
    }

    fn invalid_length(len: usize, _: &dyn de::Expected) -> Self {
        Problem {
            kind: Kind::Value(format!("（{len} 项）")),
            path: None,
        }
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Problem {
            kind: Kind::UnknownVariant {
                got: variant.to_owned(),
                allowed: expected,
            },
            path: None,
        }
    }

    fn unknown_field(field: &str, _: &'static [&'static str]) -> Self {
        Problem {
            kind: Kind::UnknownField(field.to_owned()),
            path: None,
        }
    }

    fn missing_field(field: &'static str) -> Self {
        Problem {
            kind: Kind::Missing(field),
            path: None,
        }
    }

    fn duplicate_field(field: &'static str) -> Self {
        Problem {
            kind: Kind::Duplicate(field),
            path: None,
        }
    }
}

pub(super) fn unexpected_zh(u: &de::Unexpected) -> &'static str {
    use de::Unexpected as U;
    match u {
        U::Bool(_) => "真假值",
        U::Unsigned(_) | U::Signed(_) | U::Float(_) => "数字",
        U::Char(_) | U::Str(_) | U::Bytes(_) => "文字",
        U::Unit | U::Option => "空值",
        U::Seq => "列表",
        U::Map => "对象",
        _ => "其他内容",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Reply {
        text: String,
        limit: Option<u8>,
        #[serde(default)]
        enabled: bool,
        mode: Option<Mode>,
        items: Option<Vec<Item>>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Mode {
        Passive,
        Api,
        News { title: String },
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Item {
        name: String,
    }

    fn refusal<T: DeserializeOwned + fmt::Debug>(body: &str) -> (Option<String>, String) {
        match json::<T>(body.as_bytes()) {
            Err(AppError::BadRequest { field, reason }) => (field, reason),
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn a_good_body_reads_as_serde_would() {
        let r: Reply = json(br#"{"text": "hi", "limit": 5, "enabled": true, "mode": "api", "items": [{"name": "a"}]}"#).unwrap();
        assert_eq!(r.limit, Some(5));
        assert_eq!(r.mode, Some(Mode::Api));
        assert_eq!(r.items.unwrap()[0].name, "a");
        let r: Reply = json(br#"{"text": "hi", "mode": {"news": {"title": "t"}}}"#).unwrap();
        assert_eq!(r.mode, Some(Mode::News { title: "t".into() }));
        assert_eq!(r.limit, None);
    }

    #[test]
    fn each_refusal_names_the_field_in_chinese() {
        for (body, field, words) in [
            (r#"{}"#, Some("text"), "缺少字段 text"),
            (
                r#"{"text": 5}"#,
                Some("text"),
                "字段 text：需要文字，收到的是数字",
            ),
            (
                r#"{"text": "x", "limit": 300}"#,
                Some("limit"),
                "字段 limit：取值 300 不可用",
            ),
            (
                r#"{"text": "x", "limit": "5"}"#,
                Some("limit"),
                "需要数字，收到的是文字",
            ),
            (
                r#"{"text": "x", "mode": "push"}"#,
                Some("mode"),
                "不能是 push，可选：passive、api、news",
            ),
            (
                r#"{"text": "x", "items": [{"name": "a"}, {}]}"#,
                Some("items[1].name"),
                "缺少字段 items[1].name",
            ),
            (
                r#"{"text": "x", "mode": {"news": {}}}"#,
                Some("mode.news.title"),
                "缺少字段 mode.news.title",
            ),
            (
                r#"{"text": "x", "enabled": "yes"}"#,
                Some("enabled"),
                "是或否",
            ),
            (r#"[1]"#, None, "请求内容需要对象，收到的是列表"),
            (r#"{"text": "#, None, "JSON 没有结束"),
            (r#"{"text" 1}"#, None, "不是有效的 JSON（第 1 行"),
        ] {
            let (f, reason) = refusal::<Reply>(body);
            assert_eq!(f.as_deref(), field, "{body}: {reason}");
            assert!(reason.contains(words), "{body}: {reason}");
            assert!(
                reason
                    .chars()
                    .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                "{body}: {reason}"
            );
        }
    }

    #[test]
    fn a_form_reads_numbers_and_booleans_from_text_and_empty_as_absent() {
        let r: Reply = form(b"text=%E4%BD%A0&limit=7&enabled=on&mode=").unwrap();
        assert_eq!(
            (r.text.as_str(), r.limit, r.enabled, r.mode),
            ("你", Some(7), true, None)
        );
        let r: Reply = form(b"text=a&limit=").unwrap();
        assert_eq!(r.limit, None);
        match form::<Reply>(b"text=a&limit=x") {
            Err(AppError::BadRequest { field, reason }) => {
                assert_eq!(field.as_deref(), Some("limit"));
                assert!(reason.contains("需要数字"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }
}
