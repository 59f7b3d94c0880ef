//! How WeChat's API answers, for every call: errors grouped by what the caller can do
//! about them, and the decoding of an answer into a result (WeChat reports errors as
//! HTTP 200 with a non-zero `errcode`).

use serde::de::DeserializeOwned;
use url::Url;

/// What went wrong with a WeChat call, grouped by what the caller can do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WechatError {
    /// Transient: network failure, timeout, HTTP 5xx or `errcode` -1 (system busy).
    /// Trying again shortly may work.
    #[error("transient failure: {reason}")]
    Retry {
        errcode: Option<i64>,
        reason: String,
    },
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
            WechatError::Retry { .. } | WechatError::RefreshToken { .. }
        )
    }

    /// WeChat's own error code, when it gave one.
    pub fn errcode(&self) -> Option<i64> {
        match self {
            WechatError::Retry { errcode, .. } => *errcode,
            WechatError::RefreshToken { errcode, .. } | WechatError::Rejected { errcode, .. } => {
                Some(*errcode)
            }
            WechatError::Unexpected { .. } => None,
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
        let kind = if e.is_timeout() {
            "timeout"
        } else {
            "network error"
        };
        WechatError::Retry {
            errcode: None,
            reason: format!("{kind}: {e}"),
        }
    }
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
