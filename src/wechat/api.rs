//! How WeChat's API answers, for every call: errors grouped by what the caller can do
//! about them, and the decoding of an answer into a result (WeChat reports errors as
//! HTTP 200 with a non-zero `errcode`).

use serde::de::DeserializeOwned;
use url::Url;

/// What went wrong with a WeChat call, grouped by what the caller can do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WechatError {
    /// Transient, and WeChat did not act on the request: no connection, HTTP 5xx or
    /// `errcode` -1 (system busy). Trying again shortly may work.
    #[error("transient failure: {reason}")]
    Retry {
        errcode: Option<i64>,
        reason: String,
    },
    /// Transient, but the request may have reached WeChat: it left, and no answer came
    /// back (a timeout, the connection lost). Whether it took effect is unknown.
    #[error("no answer: {reason}")]
    Unanswered { reason: String },
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
            WechatError::Retry { .. }
                | WechatError::Unanswered { .. }
                | WechatError::RefreshToken { .. }
        )
    }

    /// WeChat's own error code, when it gave one.
    pub fn errcode(&self) -> Option<i64> {
        match self {
            WechatError::Retry { errcode, .. } => *errcode,
            WechatError::RefreshToken { errcode, .. } | WechatError::Rejected { errcode, .. } => {
                Some(*errcode)
            }
            WechatError::Unexpected { .. } | WechatError::Unanswered { .. } => None,
        }
    }

    /// WeChat's own words when it refused, else what went wrong.
    pub fn errmsg(&self) -> String {
        match self {
            WechatError::Rejected { errmsg, .. } | WechatError::RefreshToken { errmsg, .. } => {
                errmsg.clone()
            }
            other => other.to_string(),
        }
    }

    pub(crate) fn network(e: reqwest::Error) -> Self {
        // The URL carries the access token in its query: never let it reach a log.
        let e = e.without_url();
        if e.is_connect() {
            // No connection, so the request never left.
            return WechatError::Retry {
                errcode: None,
                reason: format!("cannot connect: {e}"),
            };
        }
        let kind = if e.is_timeout() {
            "timeout"
        } else {
            "network error"
        };
        WechatError::Unanswered {
            reason: format!("{kind}: {e}"),
        }
    }
}

/// What WeChat's error codes mean, in the words a site owner reads, for the codes this
/// service meets; `None` for others (then WeChat's own `errmsg` is all there is).
pub fn errcode_zh(code: i64) -> Option<&'static str> {
    Some(match code {
        -1 => "微信系统繁忙，请稍后再试",
        40001 | 40014 | 42001 => "access_token 无效或已过期",
        40003 => "openid 无效：不是本公众号的用户",
        40013 => "AppID 不正确",
        40125 => "AppSecret 不正确",
        40164 => "服务器 IP 不在公众号的 IP 白名单中",
        43004 => "用户未关注公众号",
        44003 => "图文消息内容为空",
        45008 => "图文消息只能有一篇文章",
        45009 => "接口今日调用次数已用完",
        45015 => "用户超过 48 小时未互动，无法发送",
        45056 => "标签已达 100 个上限，请在公众号后台删掉不用的标签",
        45058 => "不能修改微信的系统标签",
        45059 => "这位粉丝身上的标签已达 20 个上限",
        45157 => "标签名已存在",
        45158 => "标签名不能超过 30 个字",
        45159 => "标签不存在或已被删除",
        45047 => "发送次数超限：扫码后 1 分钟内最多发 3 条",
        48001 => "公众号没有这个接口的权限（需要认证的服务号）",
        _ => return None,
    })
}

/// WeChat's token errors: 40001 invalid or not latest, 40014 invalid, 42001 expired.
pub const TOKEN_ERRCODES: [i64; 3] = [40001, 40014, 42001];

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

/// Turns an HTTP answer into the call's result.
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
