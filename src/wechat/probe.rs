//! Questions an operator asks of the platform before going live (`scanquote doctor`):
//! does WeChat take the account's credentials, what time does WeChat's clock say, and
//! does a callback URL answer WeChat's signed server check the way WeChat expects.
//! Each answers once and keeps nothing.

use std::net::IpAddr;

use secrecy::SecretString;
use url::Url;

use super::api::WechatError;
use super::signature::sign;
use super::token::request_token;

/// What a token request told about the credentials and the clock.
pub struct CredentialProbe {
    /// `Ok` when WeChat gave a token for the AppID and AppSecret.
    pub outcome: Result<(), WechatError>,
    /// WeChat's clock at its answer, from the `Date` header (whole seconds).
    pub server_time_ms: Option<i64>,
}

/// Asks for the account's token once. `stable_token` in normal mode hands out the token
/// a running service already has, so asking does not disturb it.
pub async fn credentials(
    http: &reqwest::Client,
    api_base: &Url,
    app_id: &str,
    secret: &SecretString,
) -> CredentialProbe {
    let reply = request_token(http, api_base, app_id, secret).await;
    CredentialProbe {
        outcome: reply.answer.map(|_| ()),
        server_time_ms: reply.server_time_ms,
    }
}

/// The server IP that a 40164 refusal names ("invalid ip 203.0.113.7 ipv6
/// ::ffff:203.0.113.7, not in whitelist …"): the address to add to the whitelist.
pub fn refused_ip(errmsg: &str) -> Option<IpAddr> {
    let rest = &errmsg[errmsg.find("invalid ip ")? + "invalid ip ".len()..];
    rest.split(|c: char| c.is_whitespace() || c == ',')
        .next()?
        .parse()
        .ok()
}

/// How a callback URL answered the server check.
#[derive(Debug, PartialEq, Eq)]
pub enum CallbackProbe {
    /// It echoed `echostr`: WeChat's check passes.
    Echoed,
    /// No connection (DNS, refused, timeout): nothing can be said from this machine.
    Unreachable(String),
    /// The TLS certificate was not accepted; WeChat refuses such a server too.
    UntrustedCertificate(String),
    /// It answered, but not with `echostr`.
    Answered { status: u16, body: String },
}

/// Sends the GET WeChat sends when an operator saves the server settings: `signature`,
/// `timestamp`, `nonce` and `echostr`, signed with the callback token.
pub async fn callback(
    http: &reqwest::Client,
    url: &Url,
    token: &str,
    now_secs: i64,
) -> CallbackProbe {
    let timestamp = now_secs.to_string();
    let nonce = rand::random::<u32>().to_string();
    let echostr = format!("doctor{}", rand::random::<u64>());
    let signature = sign(&[token, &timestamp, &nonce]);
    let answer = http
        .get(url.clone())
        .query(&[
            ("signature", signature.as_str()),
            ("timestamp", &timestamp),
            ("nonce", &nonce),
            ("echostr", &echostr),
        ])
        .send()
        .await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(e) => {
            let why = error_chain(e);
            let tls = ["certificate", "UnknownIssuer", "tls", "TLS", "handshake"];
            return if tls.iter().any(|word| why.contains(word)) {
                CallbackProbe::UntrustedCertificate(why)
            } else {
                CallbackProbe::Unreachable(why)
            };
        }
    };
    let status = answer.status().as_u16();
    let body = answer.text().await.unwrap_or_default();
    if status == 200 && body == echostr {
        CallbackProbe::Echoed
    } else {
        CallbackProbe::Answered {
            status,
            body: body.chars().take(120).collect(),
        }
    }
}

/// The error and its causes on one line: reqwest's own message alone says only "error
/// sending request", the reason (refused, a certificate) is further down.
fn error_chain(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut words = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        words.push_str(": ");
        words.push_str(&cause.to_string());
        source = cause.source();
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refused_ip_is_read_from_wechats_words() {
        let msg = "invalid ip 203.0.113.7 ipv6 ::ffff:203.0.113.7, not in whitelist rid: 6565-1";
        assert_eq!(refused_ip(msg), Some("203.0.113.7".parse().unwrap()));
        assert_eq!(
            refused_ip("invalid ip 203.0.113.8, not in whitelist"),
            Some("203.0.113.8".parse().unwrap())
        );
        assert_eq!(refused_ip("invalid appsecret"), None);
        assert_eq!(refused_ip("invalid ip not-an-ip"), None);
    }
}
