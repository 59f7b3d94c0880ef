//! The shop's webhook: one URL the site owner sets, and the events scanquote POSTs to
//! it through the outbox (durable, retried for a day, at least once).
//!
//! Each event is `{"id", "type", "created_at", "data"}`; `id` is stable across retries
//! so the shop can drop duplicates. Types: `scan` (the visitor scanned the order's
//! code), `message.sent`, `message.failed`. Each POST is signed the way Stripe signs:
//! `Scanquote-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`,
//! with the secret shown once when the URL is set.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use entity::setting;
use hmac::{Hmac, Mac};
use sea_orm::sea_query::OnConflict;
use sea_orm::{DatabaseConnection, EntityTrait, Set};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::AppError;
use crate::fresh::Fresh;

const SETTING_KEY: &str = "webhook";
/// The header each POST carries.
pub const SIGNATURE_HEADER: &str = "Scanquote-Signature";

/// The webhook in force.
pub struct Webhook {
    pub url: String,
    secret: SecretString,
    pub created_at_ms: i64,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    url: String,
    secret: String,
    created_at_ms: i64,
}

/// The webhook as `PUT` answers it: the secret, this once.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NewWebhook {
    pub url: String,
    /// `whsec_…`: verify each POST's signature with it; it is not shown again.
    pub secret: String,
}

/// What the console shows of the webhook in force.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WebhookView {
    pub url: String,
    pub created_at_ms: i64,
}

impl Webhook {
    /// The header value for `body`, signed at `t` (unix seconds).
    pub fn signature(&self, t: i64, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.expose_secret().as_bytes())
            .expect("HMAC takes any key length");
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(body.as_bytes());
        format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
    }
}

/// Checks a webhook URL: http(s) with a host, no credentials, at most 2,000 characters.
fn check_url(url: &str) -> Result<String, AppError> {
    let url = url.trim();
    let parsed = url::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
    match parsed {
        Some(u) if url.len() <= 2000 && u.username().is_empty() && u.password().is_none() => {
            Ok(u.to_string())
        }
        _ => Err(AppError::bad_field(
            "url",
            "须为 http:// 或 https:// 开头、带主机名、不含用户名密码的地址（最多 2000 个字符）",
        )),
    }
}

/// The webhook setting, read through a short cache.
#[derive(Clone)]
pub struct Webhooks {
    db: DatabaseConnection,
    cache: Arc<Fresh<Option<Arc<Webhook>>, Arc<AppError>>>,
    http: reqwest::Client,
}

impl Webhooks {
    pub fn new(db: DatabaseConnection) -> Self {
        Webhooks {
            db,
            cache: Arc::new(Fresh::new(|_| Duration::from_secs(2))),
            http: reqwest::Client::builder()
                // The shop's server answers; a redirect would take the signed event
                // somewhere the owner did not set.
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(Duration::from_secs(3))
                .timeout(Duration::from_secs(10))
                .build()
                .expect("the TLS backend is compiled in"),
        }
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The webhook in force, if one is set.
    pub async fn current(&self) -> Result<Option<Arc<Webhook>>, AppError> {
        let read = || async {
            let stored = setting::Entity::find_by_id(SETTING_KEY.to_owned())
                .one(&self.db)
                .await?;
            Ok::<_, AppError>(match stored {
                Some(s) => {
                    let s: Stored = serde_json::from_str(&s.value).map_err(|e| {
                        AppError::Internal(anyhow::anyhow!("the stored webhook: {e}"))
                    })?;
                    Some(Arc::new(Webhook {
                        url: s.url,
                        secret: s.secret.into(),
                        created_at_ms: s.created_at_ms,
                    }))
                }
                None => None,
            })
        };
        self.cache.get_or_load_app(read).await
    }

    /// Sets the URL with a new secret (each set makes a new one).
    pub async fn set(&self, url: &str) -> Result<NewWebhook, AppError> {
        let url = check_url(url)?;
        let secret = format!(
            "whsec_{}",
            URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
        );
        let stored = Stored {
            url: url.clone(),
            secret: secret.clone(),
            created_at_ms: crate::now_ms(),
        };
        setting::Entity::insert(setting::ActiveModel {
            key: Set(SETTING_KEY.into()),
            value: Set(serde_json::to_string(&stored).expect("serializes")),
        })
        .on_conflict(
            OnConflict::column(setting::Column::Key)
                .update_column(setting::Column::Value)
                .to_owned(),
        )
        .exec_without_returning(&self.db)
        .await?;
        self.cache.forget();
        Ok(NewWebhook { url, secret })
    }

    /// Turns the webhook off; events not yet sent then fail with a reason.
    pub async fn delete(&self) -> Result<(), AppError> {
        setting::Entity::delete_by_id(SETTING_KEY.to_owned())
            .exec(&self.db)
            .await?;
        self.cache.forget();
        Ok(())
    }
}

/// The kinds of event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Scan,
    MessageSent,
    MessageFailed,
    MessageUnknown,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Scan => "scan",
            EventType::MessageSent => "message.sent",
            EventType::MessageFailed => "message.failed",
            EventType::MessageUnknown => "message.unknown",
        }
    }
}

/// An event's JSON body, with a fresh stable id.
pub fn event(kind: EventType, at_ms: i64, data: Value) -> String {
    let id = format!("evt_{}", hex::encode(rand::random::<[u8; 12]>()));
    json!({
        "id": id,
        "type": kind.as_str(),
        "created_at": rfc3339(at_ms),
        "data": data,
    })
    .to_string()
}

/// UTC, seconds: `2026-12-01T08:00:00Z`.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_the_hmac_of_the_time_and_the_body() {
        let hook = Webhook {
            url: "https://shop.example/hook".into(),
            secret: "whsec_test".to_owned().into(),
            created_at_ms: 0,
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(b"whsec_test").unwrap();
        mac.update(b"1700000000.{\"a\":1}");
        let expected = format!(
            "t=1700000000,v1={}",
            hex::encode(mac.finalize().into_bytes())
        );
        assert_eq!(hook.signature(1_700_000_000, "{\"a\":1}"), expected);
    }

    #[test]
    fn only_plain_http_addresses_are_taken() {
        assert!(check_url("https://shop.example/hook").is_ok());
        assert!(check_url("http://127.0.0.1:9/h").is_ok());
        for bad in [
            "ftp://x/y",
            "javascript:alert(1)",
            "https://u:p@x/",
            "not a url",
            "",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
