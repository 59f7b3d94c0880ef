//! Checking a push before anything is read from it: the timestamp (replays), the
//! signature (403 when it does not hold), then, in AES mode, `msg_signature` over the
//! ciphertext and the decryption with the appid inside it, then the XML (400 with the
//! reason). With an AES key configured, a push that comes without encryption is
//! refused unless a switch-over allows it (`WECHAT_ALLOW_PLAINTEXT`).

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, Request};
use axum::http::StatusCode;
use secrecy::ExposeSecret;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::http::web::Web;
use crate::quote::outbox::enqueue::Seen;
use crate::wechat::crypto::CryptoError;
use crate::wechat::{Push, inbound, signature};
use crate::{AppError, now_ms};

#[derive(Deserialize)]
pub struct Signed {
    signature: Option<String>,
    timestamp: Option<String>,
    nonce: Option<String>,
    pub echostr: Option<String>,
    encrypt_type: Option<String>,
    msg_signature: Option<String>,
}

impl Signed {
    /// The parameters of a push's `query`, read as axum's `Query` reads them into this
    /// struct (a parameter given twice refused, others ignored), without its serde
    /// machinery: 4.1k instructions a push against its 6.1k (callgrind).
    fn of_query(query: &str) -> Result<Signed, AppError> {
        let mut q = Signed {
            signature: None,
            timestamp: None,
            nonce: None,
            echostr: None,
            encrypt_type: None,
            msg_signature: None,
        };
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let field = match name.as_ref() {
                "signature" => &mut q.signature,
                "timestamp" => &mut q.timestamp,
                "nonce" => &mut q.nonce,
                "echostr" => &mut q.echostr,
                "encrypt_type" => &mut q.encrypt_type,
                "msg_signature" => &mut q.msg_signature,
                _ => continue,
            };
            if field.replace(value.into_owned()).is_some() {
                return Err(AppError::Forbidden);
            }
        }
        Ok(q)
    }

    fn parts(&self) -> Result<(&str, &str), AppError> {
        match (&self.timestamp, &self.nonce) {
            (Some(ts), Some(nonce)) if ts.len() <= 16 && nonce.len() <= 64 => Ok((ts, nonce)),
            _ => Err(AppError::Forbidden),
        }
    }

    /// The plain signature over token, timestamp and nonce.
    pub fn check_signature(&self, web: &Web) -> Result<(), AppError> {
        let (ts, nonce) = self.parts()?;
        let token = web.config.wechat.token.expose_secret();
        match &self.signature {
            Some(sig) if signature::verify(sig, &[token, ts, nonce]) => Ok(()),
            _ => Err(AppError::Forbidden),
        }
    }

    /// Refuses timestamps far from now, so a captured push cannot be replayed later.
    /// WeChat's own retries come within seconds and pass.
    pub fn check_freshness(&self, web: &Web) -> Result<(), AppError> {
        let window = web.config.timestamp_window_secs as i64;
        if window == 0 {
            return Ok(());
        }
        let (ts, _) = self.parts()?;
        let ts: i64 = ts.parse().map_err(|_| AppError::Forbidden)?;
        if (now_ms() / 1000 - ts).abs() > window {
            tracing::warn!(
                timestamp = ts,
                "request refused: timestamp outside the window"
            );
            return Err(AppError::Forbidden);
        }
        Ok(())
    }
}

/// How the push came, so the reply goes back the same way.
pub enum Mode {
    Plain,
    Aes { nonce: String },
}

/// A push whose signature held and whose XML parsed (decrypted first in AES mode).
pub struct VerifiedPush {
    pub push: Push,
    pub mode: Mode,
    /// Its query's signature and body, to tell WeChat's retries from replays, when the
    /// body is not signed: a plaintext push's `signature` covers the query only, so a
    /// captured query could carry another body. An encrypted push has none: its
    /// `msg_signature` covers the ciphertext, so another body fails it (403), and the
    /// same body again is WeChat's retry, which the scan's identity catches. Keeping its
    /// query too would guard nothing and cost the journal its largest write, a random
    /// entry in the signatures' index per push.
    pub seen: Option<Seen>,
}

impl<S: Send + Sync> FromRequest<S> for VerifiedPush
where
    Web: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let web = Web::from_ref(state);
        let q = Signed::of_query(req.uri().query().unwrap_or_default())?;
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|e| match e.status() {
                StatusCode::PAYLOAD_TOO_LARGE => AppError::TooLarge,
                _ => AppError::bad_request("请求内容没有完整收到"),
            })?;
        q.check_freshness(&web)?;
        if q.encrypt_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("aes"))
        {
            let crypto = web.crypto.as_ref().ok_or_else(|| {
                AppError::bad_request("推送是加密的，但没有配置 WECHAT_ENCODING_AES_KEY")
            })?;
            let encrypt = inbound::encrypted_part(&body).map_err(|e| AppError::bad_request(e.0))?;
            let (ts, nonce) = q.parts()?;
            let token = web.config.wechat.token.expose_secret();
            match &q.msg_signature {
                Some(sig) if signature::verify(sig, &[token, ts, nonce, &encrypt]) => {}
                _ => return Err(AppError::Forbidden),
            }
            let xml = crypto.decrypt(&encrypt).map_err(|e| match e {
                CryptoError::WrongAppId => AppError::Forbidden,
                other => AppError::bad_request(format!("推送的 Encrypt 无法解密（{other}）")),
            })?;
            let push = inbound::parse(xml.as_bytes()).map_err(|e| AppError::bad_request(e.0))?;
            addressed_to_us(&web, &push)?;
            return Ok(VerifiedPush {
                push,
                mode: Mode::Aes {
                    nonce: nonce.to_owned(),
                },
                seen: None,
            });
        }
        q.check_signature(&web)?;
        if web.crypto.is_some() {
            // Safe and compatible mode always carry `Encrypt` and `msg_signature`. A
            // plaintext push's signature covers the query, not the body, so in AES mode
            // it proves nothing about what the push says.
            if !web.config.wechat.allow_plaintext {
                tracing::warn!("push refused: plaintext, but WECHAT_ENCODING_AES_KEY is set");
                return Err(AppError::Forbidden);
            }
            tracing::warn!(
                "plaintext push accepted in AES mode because WECHAT_ALLOW_PLAINTEXT is set: \
                 turn it off once the platform's message mode is safe or compatible"
            );
        }
        let push = inbound::parse(&body).map_err(|e| AppError::bad_request(e.0))?;
        addressed_to_us(&web, &push)?;
        Ok(VerifiedPush {
            push,
            mode: Mode::Plain,
            seen: Some(Seen {
                signature: q.signature.clone().unwrap_or_default().to_ascii_lowercase(),
                body_sha256: signature::lower_hex(&Sha256::digest(&body)),
            }),
        })
    }
}

/// With the account's original id configured, a push for another account is not ours
/// to answer (a token shared between accounts, or a forged `ToUserName`).
fn addressed_to_us(web: &Web, push: &Push) -> Result<(), AppError> {
    match &web.config.wechat.original_id {
        Some(id) if push.account() != id => {
            tracing::warn!(
                to = push.account(),
                expected = id.as_str(),
                "push refused: ToUserName is another account"
            );
            Err(AppError::Forbidden)
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(q: &Signed) -> [Option<&str>; 6] {
        [
            &q.signature,
            &q.timestamp,
            &q.nonce,
            &q.echostr,
            &q.encrypt_type,
            &q.msg_signature,
        ]
        .map(|f| f.as_deref())
    }

    #[test]
    fn a_query_reads_as_axums_query_reads_it() {
        for query in [
            "",
            "signature=ab12&timestamp=1700000000&nonce=42&openid=oA",
            "signature=AB%2012&timestamp=17&nonce=n+1&encrypt_type=aes&msg_signature=cd",
            "echostr=%E4%BD%A0%E5%A5%BD&signature=&other",
            "timestamp=1&timestamp=2",
            "nonce=1&nonce=1",
        ] {
            let uri: axum::http::Uri = format!("/wechat?{query}").parse().unwrap();
            let theirs = axum::extract::Query::<Signed>::try_from_uri(&uri);
            let ours = Signed::of_query(query);
            match (theirs, ours) {
                (Ok(theirs), Ok(ours)) => assert_eq!(fields(&ours), fields(&theirs.0), "{query}"),
                (Err(_), Err(e)) => assert!(matches!(e, AppError::Forbidden), "{query}"),
                (theirs, ours) => {
                    panic!("{query}: {:?} against {:?}", theirs.is_ok(), ours.is_ok())
                }
            }
        }
    }
}
