//! The sandbox's phone: users who follow or not, scanning a ticket (which pushes a
//! signed `subscribe`/`SCAN` to the callback as WeChat does, with its 5-second timeout
//! and 3 tries) and each user's inbox. [`reply`] opens what the callback answered;
//! [`routes`] serves pages for people and JSON for tests.

mod reply;
pub mod routes;

use std::time::Duration;

use rand::Rng;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use super::{ACCOUNT, PushRecord, Sandbox};
use crate::now_ms;
use crate::wechat::signature;

/// WeChat tries a push three times when the callback does not answer.
const TRIES: u32 = 3;

#[derive(Debug, Serialize)]
pub struct ScanResult {
    pub event: String,
    pub event_key: String,
    /// `plaintext`, `compatible` or `safe`.
    pub mode: &'static str,
    /// HTTP status of the callback's last answer, or the transport error.
    pub outcome: String,
    pub tries: u32,
    /// The callback's body: `success`, or a passive reply (sealed in AES mode).
    pub reply: String,
    /// The passive reply as the phone shows it, after checking and opening the seal.
    pub reply_text: Option<String>,
}

/// How WeChat sends pushes: the account's message mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PushMode {
    Plaintext,
    Compatible,
    Safe,
}

impl PushMode {
    fn name(self) -> &'static str {
        match self {
            PushMode::Plaintext => "plaintext",
            PushMode::Compatible => "compatible",
            PushMode::Safe => "safe",
        }
    }
}

impl Sandbox {
    /// The user scans the code of `ticket` with WeChat. `mode` defaults to the service's
    /// own: safe mode when it has an AES key, plaintext otherwise.
    pub async fn scan(
        &self,
        openid: &str,
        ticket: &str,
        mode: Option<PushMode>,
    ) -> Result<ScanResult, String> {
        let mode = match (mode, &self.inner.crypto) {
            (Some(PushMode::Compatible | PushMode::Safe), None) => {
                return Err(
                    "the service has no WECHAT_ENCODING_AES_KEY: only plaintext pushes".into(),
                );
            }
            (Some(mode), _) => mode,
            (None, Some(_)) => PushMode::Safe,
            (None, None) => PushMode::Plaintext,
        };
        let (xml, event, event_key) = {
            let mut world = self.world();
            let now = now_ms();
            let code = world
                .tickets
                .get(ticket)
                .cloned()
                .ok_or("unknown ticket: scan a code this sandbox created")?;
            if code.expires_at_ms.is_some_and(|e| e <= now) {
                return Err("this QR code has expired".into());
            }
            let user = world.users.get_mut(openid).ok_or("沙盒里没有这个用户")?;
            let new_follower = !user.following;
            let (event, event_key) = if new_follower {
                ("subscribe", format!("qrscene_{}", code.scene))
            } else {
                ("SCAN", code.scene.clone())
            };
            // The event opens the window in which the account may answer.
            user.following = true;
            if new_follower {
                user.subscribe_time = now / 1000;
            }
            user.window_opened_ms = now;
            user.window_used = 0;
            world.stats.pushes += 1;
            let xml = format!(
                "<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>\
                 <FromUserName><![CDATA[{openid}]]></FromUserName>\
                 <CreateTime>{}</CreateTime><MsgType><![CDATA[event]]></MsgType>\
                 <Event><![CDATA[{event}]]></Event><EventKey><![CDATA[{event_key}]]></EventKey>\
                 <Ticket><![CDATA[{ticket}]]></Ticket></xml>",
                now / 1000
            );
            (xml, event.to_owned(), event_key)
        };
        let (outcome, tries, reply) = self.push(openid, &xml, mode).await;
        let reply_text = self.open_reply(openid, &reply);
        let result = ScanResult {
            event,
            event_key,
            mode: mode.name(),
            outcome,
            tries,
            reply,
            reply_text,
        };
        self.world().pushes.push(PushRecord {
            openid: openid.to_owned(),
            event: result.event.clone(),
            event_key: result.event_key.clone(),
            tries: result.tries,
            outcome: result.outcome.clone(),
            reply: result
                .reply_text
                .clone()
                .unwrap_or_else(|| result.reply.clone()),
        });
        Ok(result)
    }

    /// The user stops following the account: WeChat pushes `unsubscribe` (no reply is
    /// shown to a user who left). Their tags stay, as WeChat keeps them.
    pub async fn unsubscribe(&self, openid: &str) -> Result<String, String> {
        let xml = {
            let mut world = self.world();
            let user = world.users.get_mut(openid).ok_or("沙盒里没有这个用户")?;
            if !user.following {
                return Err("这个用户没有关注公众号".into());
            }
            user.following = false;
            world.stats.pushes += 1;
            format!(
                "<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>\
                 <FromUserName><![CDATA[{openid}]]></FromUserName>\
                 <CreateTime>{}</CreateTime><MsgType><![CDATA[event]]></MsgType>\
                 <Event><![CDATA[unsubscribe]]></Event></xml>",
                now_ms() / 1000
            )
        };
        let mode = match self.inner.crypto {
            Some(_) => PushMode::Safe,
            None => PushMode::Plaintext,
        };
        let (outcome, tries, reply) = self.push(openid, &xml, mode).await;
        self.world().pushes.push(PushRecord {
            openid: openid.to_owned(),
            event: "unsubscribe".into(),
            event_key: String::new(),
            tries,
            outcome: outcome.clone(),
            reply,
        });
        Ok(outcome)
    }

    /// Sends one push as WeChat does: signed query (and `msg_signature` over the
    /// ciphertext in AES modes), 5-second timeout, up to 3 tries while the callback does
    /// not answer (or answers 5xx).
    async fn push(&self, openid: &str, xml: &str, mode: PushMode) -> (String, u32, String) {
        let token = self.inner.token.expose_secret();
        let encrypted = match (&self.inner.crypto, mode) {
            (Some(crypto), PushMode::Safe | PushMode::Compatible) => Some(crypto.encrypt(xml)),
            _ => None,
        };
        let body = match (&encrypted, mode) {
            (Some(e), PushMode::Safe) => {
                format!(
                    "<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt><![CDATA[{e}]]></Encrypt></xml>"
                )
            }
            (Some(e), PushMode::Compatible) => xml.replace(
                "</xml>",
                &format!("<Encrypt><![CDATA[{e}]]></Encrypt></xml>"),
            ),
            _ => xml.to_owned(),
        };
        let mut last = String::new();
        for attempt in 1..=TRIES {
            let timestamp = (now_ms() / 1000).to_string();
            let nonce = rand::thread_rng()
                .gen_range(100_000_000u32..999_999_999)
                .to_string();
            let sig = signature::sign(&[token, &timestamp, &nonce]);
            let mut query = vec![
                ("signature", sig),
                ("timestamp", timestamp.clone()),
                ("nonce", nonce.clone()),
                ("openid", openid.to_owned()),
            ];
            if let Some(e) = &encrypted {
                query.push(("encrypt_type", "aes".into()));
                query.push((
                    "msg_signature",
                    signature::sign(&[token, &timestamp, &nonce, e]),
                ));
            }
            let sent = self
                .inner
                .http
                .post(self.inner.callback.clone())
                .query(&query)
                .header("content-type", "text/xml")
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(answer) if !answer.status().is_server_error() => {
                    let status = answer.status().as_u16().to_string();
                    let body = answer.text().await.unwrap_or_default();
                    return (status, attempt, body);
                }
                Ok(answer) => last = answer.status().as_u16().to_string(),
                Err(e) => last = e.without_url().to_string(),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        (last, TRIES, String::new())
    }
}
