//! The shop's server, recognised by its site key (`Authorization: Bearer sk_…`). A
//! missing, wrong or revoked key is refused with 401 and a reason in Chinese.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::AppError;
use crate::quote::Domain;

/// A request from the shop's server holding the key with this id.
pub struct SiteKey(pub i64);

impl<S> FromRequestParts<S> for SiteKey
where
    S: Send + Sync,
    Domain: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let domain = Domain::from_ref(state);
        let sent = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.strip_prefix("Bearer ").unwrap_or("!"));
        match domain.site_keys.check(sent).await? {
            Ok(id) => Ok(SiteKey(id)),
            Err(refused) => {
                tracing::warn!(%refused, "order API refused a request's site key");
                Err(AppError::Unauthorized(refused.reason()))
            }
        }
    }
}
