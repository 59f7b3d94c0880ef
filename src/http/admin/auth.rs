//! Site-owner authentication for `/admin` and `/api/admin/*`.
//!
//! The owner proves knowledge of `ADMIN_TOKEN`, either per request (`Authorization:
//! Bearer …`, for scripts) or once through the login form, which sets an HttpOnly,
//! SameSite=Strict session cookie. Only the token's SHA-256 is kept in memory (and in the
//! database when the token was generated), and all comparisons are constant-time.
//! A session cookie names a session kept in the database ([`super::sessions`]) and
//! carries an HMAC under that hash, so changing the token ends every session and a
//! logout ends one everywhere. Forms and cookie-authenticated API calls that change
//! state must carry a CSRF token derived from the session; bearer calls need none (a
//! browser never adds the header). Wrong tokens count against the client
//! ([`AuthFailures`]): past 60 a minute it is refused whatever it sends.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use entity::setting;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sea_orm::sea_query::OnConflict;
use sea_orm::{DatabaseConnection, DbErr, EntityTrait, Set};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::sessions::Sessions;
use crate::http::limit::AuthFailures;
use crate::{AppError, now_ms};

pub const COOKIE_NAME: &str = "sq_admin";
/// Why a request without the owner's credentials is refused.
const NEEDS_ADMIN: &str = "需要管理员令牌（Authorization: Bearer 管理员令牌），或先登录控制台";
const SETTING_KEY: &str = "admin_token_sha256";

/// What checks the owner's credentials: the token's hash, the sessions, the count of
/// wrong tries.
#[derive(Clone)]
pub struct Gate {
    pub key: AdminKey,
    pub sessions: Sessions,
    pub failures: Arc<AuthFailures>,
}

/// The SHA-256 of the admin token. Clones share it: when the stored token is reset
/// ([`AdminKey::follow`]), every request handler sees the new one.
#[derive(Clone)]
pub struct AdminKey {
    hash: Arc<std::sync::RwLock<[u8; 32]>>,
}

impl std::fmt::Debug for AdminKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminKey([redacted])")
    }
}

/// A stored hash, as hex.
fn decode_hash(stored: &str) -> Result<[u8; 32], DbErr> {
    hex::decode(stored)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| DbErr::Custom("stored admin token hash is malformed".into()))
}

fn sha256(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

impl AdminKey {
    /// Uses `ADMIN_TOKEN` when set. Otherwise the hash kept in the database; if there is
    /// none yet, a token is generated, its hash stored, and the token returned so it can
    /// be printed this once.
    pub async fn load_or_create(
        db: &DatabaseConnection,
        configured: Option<&SecretString>,
    ) -> Result<(Self, Option<SecretString>), DbErr> {
        if let Some(token) = configured {
            return Ok((
                AdminKey {
                    hash: Arc::new(std::sync::RwLock::new(sha256(token.expose_secret()))),
                },
                None,
            ));
        }
        let mut raw = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut raw);
        let fresh = URL_SAFE_NO_PAD.encode(raw);
        let row = setting::ActiveModel {
            key: Set(SETTING_KEY.into()),
            value: Set(hex::encode(sha256(&fresh))),
        };
        let inserted = setting::Entity::insert(row)
            .on_conflict(
                OnConflict::column(setting::Column::Key)
                    .do_nothing_on([setting::Column::Key])
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await;
        let ours = match inserted {
            Ok(n) => n > 0,
            Err(DbErr::RecordNotInserted) => false,
            Err(e) => return Err(e),
        };
        let stored = setting::Entity::find_by_id(SETTING_KEY.to_owned())
            .one(db)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound("admin token hash".into()))?;
        let hash = decode_hash(&stored.value)?;
        Ok((
            AdminKey {
                hash: Arc::new(std::sync::RwLock::new(hash)),
            },
            ours.then(|| fresh.into()),
        ))
    }

    /// Keeps this key the stored one: every second, the hash in the database is read
    /// again, so a reset on any machine holds on every running instance within about a
    /// second. (Not for a key from `ADMIN_TOKEN`, which only the environment changes.)
    pub fn follow(&self, db: DatabaseConnection) -> tokio::task::JoinHandle<()> {
        let key = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let stored = setting::Entity::find_by_id(SETTING_KEY.to_owned())
                    .one(&db)
                    .await;
                let Ok(Some(stored)) = stored else { continue };
                let Ok(hash) = decode_hash(&stored.value) else {
                    continue;
                };
                if hash != key.current() {
                    *key.hash
                        .write()
                        .expect("never poisoned: no code panics holding it") = hash;
                    tracing::warn!("the admin token was reset: the old one no longer works here");
                }
            }
        })
    }

    fn current(&self) -> [u8; 32] {
        *self
            .hash
            .read()
            .expect("never poisoned: no code panics holding it")
    }

    /// Replaces the stored hash with a fresh token's and returns the token, to be shown
    /// once (`scanquote admin-token reset`). Sessions are signed under the hash, so
    /// every console session ends with it; running instances take the new hash within
    /// a second ([`AdminKey::follow`]).
    pub async fn reset(db: &DatabaseConnection) -> Result<SecretString, DbErr> {
        let mut raw = [0u8; 24];
        rand::thread_rng().fill_bytes(&mut raw);
        let fresh = URL_SAFE_NO_PAD.encode(raw);
        setting::Entity::insert(setting::ActiveModel {
            key: Set(SETTING_KEY.into()),
            value: Set(hex::encode(sha256(&fresh))),
        })
        .on_conflict(
            OnConflict::column(setting::Column::Key)
                .update_column(setting::Column::Value)
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
        Sessions::new(db.clone()).end_all().await?;
        Ok(fresh.into())
    }

    pub fn from_token(token: &str) -> Self {
        AdminKey {
            hash: Arc::new(std::sync::RwLock::new(sha256(token))),
        }
    }

    pub fn accepts(&self, token: &str) -> bool {
        sha256(token).ct_eq(&self.current()).into()
    }

    fn mac(&self, purpose: &str, value: &str) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.current()).expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        mac.update(b"|");
        mac.update(value.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// The cookie value for session `id` ending at `expires`: both, and an HMAC of them.
    pub fn session_cookie(&self, id: &str, expires: i64) -> String {
        let named = format!("{id}.{expires}");
        format!("{named}.{}", self.mac("session", &named))
    }

    /// The session a cookie names, if its HMAC holds and it has not expired (whether it
    /// is still open, the database says).
    fn signed_session<'c>(&self, cookie: &'c str) -> Option<&'c str> {
        let (named, mac) = cookie.rsplit_once('.')?;
        let (id, expires) = named.split_once('.')?;
        let at = expires.parse::<i64>().ok()?;
        let expected = self.mac("session", named);
        (at > now_ms() && bool::from(expected.as_bytes().ct_eq(mac.as_bytes()))).then_some(id)
    }

    /// The CSRF token that goes with a session.
    pub fn csrf_for(&self, session: &str) -> String {
        self.mac("csrf", session)
    }
}

/// A request made by the site owner.
pub enum Admin {
    /// `Authorization: Bearer <ADMIN_TOKEN>`.
    Bearer,
    /// The login cookie; `csrf` is what state-changing requests must echo.
    Session { id: String, csrf: String },
}

impl Admin {
    /// Checks the CSRF token a cookie-authenticated form or call sent.
    pub fn check_csrf(&self, sent: Option<&str>) -> Result<(), AppError> {
        match self {
            Admin::Bearer => Ok(()),
            Admin::Session { csrf, .. } => match sent {
                Some(s) if bool::from(s.as_bytes().ct_eq(csrf.as_bytes())) => Ok(()),
                _ => Err(AppError::Forbidden),
            },
        }
    }

    pub fn csrf(&self) -> &str {
        match self {
            Admin::Bearer => "",
            Admin::Session { csrf, .. } => csrf,
        }
    }

    /// The session this request came with, if it came with one.
    pub fn session(&self) -> Option<&str> {
        match self {
            Admin::Bearer => None,
            Admin::Session { id, .. } => Some(id),
        }
    }
}

pub fn session_cookie(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (name, value) = c.trim().split_once('=')?;
            (name == COOKIE_NAME).then(|| value.to_owned())
        })
}

/// Why a request is not the owner's: a browser that opened a console page or download
/// signed out is sent to log in and back; anything else is a 401.
#[derive(Debug)]
pub enum NotAdmin {
    LogIn { next: String },
    Refused(AppError),
}

impl From<AppError> for NotAdmin {
    fn from(e: AppError) -> Self {
        NotAdmin::Refused(e)
    }
}

impl From<NotAdmin> for AppError {
    fn from(e: NotAdmin) -> Self {
        match e {
            NotAdmin::LogIn { .. } => AppError::Unauthorized(NEEDS_ADMIN),
            NotAdmin::Refused(e) => e,
        }
    }
}

impl axum::response::IntoResponse for NotAdmin {
    fn into_response(self) -> axum::response::Response {
        match self {
            NotAdmin::LogIn { next } => axum::response::Redirect::to(&format!(
                "/admin/login?next={}",
                urlencoding::encode(&next)
            ))
            .into_response(),
            NotAdmin::Refused(e) => e.into_response(),
        }
    }
}

/// Without credentials: a console page, or a browser navigating to a download (a GET
/// that takes HTML), logs in first.
fn signed_out(parts: &Parts) -> NotAdmin {
    let navigating = parts.method == axum::http::Method::GET
        && (parts.uri.path().starts_with("/admin")
            || parts
                .headers
                .get(axum::http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|accept| accept.contains("text/html")));
    if navigating {
        let next = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/admin".into());
        NotAdmin::LogIn { next }
    } else {
        NotAdmin::Refused(AppError::Unauthorized(NEEDS_ADMIN))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Admin
where
    Gate: FromRef<S>,
{
    type Rejection = NotAdmin;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, NotAdmin> {
        let gate = Gate::from_ref(state);
        if let Some(value) = parts.headers.get(AUTHORIZATION) {
            let client = gate.failures.client(parts);
            gate.failures.check(client)?;
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or_default();
            if gate.key.accepts(token.trim()) {
                return Ok(Admin::Bearer);
            }
            gate.failures.failed(client);
            return Err(AppError::Unauthorized(NEEDS_ADMIN).into());
        }
        let Some(cookie) = session_cookie(parts) else {
            return Err(signed_out(parts));
        };
        match gate.key.signed_session(&cookie) {
            Some(id) if gate.sessions.is_open(id).await.map_err(AppError::from)? => {
                Ok(Admin::Session {
                    id: id.to_owned(),
                    csrf: gate.key.csrf_for(&cookie),
                })
            }
            _ => Err(signed_out(parts)),
        }
    }
}

#[cfg(test)]
mod tests;
