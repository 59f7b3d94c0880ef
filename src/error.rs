//! One error type for the domain and its handlers, named by what the caller should
//! understand: not found, bad input (and which field), a conflict, WeChat unavailable,
//! or our own failure. It carries no HTTP types; `http::error` says how each is
//! answered, and logs server-side failures with their cause chain.

use std::sync::Arc;

use sea_orm::DbErr;

use crate::wechat::WechatError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    /// The request is wrong; `field` names the offending input when there is one.
    #[error("bad request: {reason}")]
    BadRequest {
        field: Option<String>,
        reason: String,
    },
    /// Credentials are missing or wrong: the text says which, in Chinese.
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// Too many requests from one client; try again after this many seconds.
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
    /// The body is larger than the route accepts.
    #[error("payload too large")]
    TooLarge,
    /// The request conflicts with the current state (the text says how).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A signature did not hold.
    #[error("forbidden")]
    Forbidden,
    /// WeChat refused or could not be reached; the caller may try again later.
    #[error("wechat: {0}")]
    Upstream(#[from] WechatError),
    #[error("database: {0}")]
    Db(#[from] DbErr),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn bad_field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        AppError::BadRequest {
            field: Some(field.into()),
            reason: reason.into(),
        }
    }

    /// An error one load shared with the callers that waited for it
    /// ([`crate::fresh::Fresh`]): a database failure stays one (callers retry those),
    /// anything else is told in its words.
    pub fn shared(e: Arc<AppError>) -> Self {
        match &*e {
            AppError::Db(db) => AppError::Db(db.clone()),
            other => AppError::Internal(anyhow::anyhow!("{other}")),
        }
    }

    pub fn bad_request(reason: impl Into<String>) -> Self {
        AppError::BadRequest {
            field: None,
            reason: reason.into(),
        }
    }
}
