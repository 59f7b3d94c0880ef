//! The console's pages, one per section ([`console`] has what they share: navigation,
//! the shop's name, "已保存" or the refusal at the top): the overview
//! ([`dashboard`]), the message template ([`template`]: edit, preview, versions), the
//! deliveries ([`deliveries`]: filter, pages, resend, CSV), channel codes
//! ([`channel_codes`], one code's page [`channel_code`]), the shop's identity ([`shop`]), the page that plugs the shop's
//! website in ([`integration`]) and the delivery mode ([`settings`]); login and
//! logout ([`session`]). Every form that changes something carries the session's
//! CSRF token; each file has its routes, which `http::router` merges.

pub mod channel_code;
pub mod channel_codes;
pub mod console;
pub mod dashboard;
pub mod deliveries;
pub mod integration;
pub mod session;
pub mod settings;
pub mod shop;
pub mod template;

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::auth::{Admin, Gate};
use crate::AppError;

/// A form the site owner sent: the session is checked (401 without one), then the
/// form's CSRF token (403 when it is not the session's), then the form itself is read.
pub struct AdminForm<T> {
    pub admin: Admin,
    pub form: T,
}

/// A form with nothing in it but its CSRF token.
#[derive(Deserialize)]
pub struct NoFields {}

/// The field every console form carries.
#[derive(Deserialize)]
struct Csrf {
    csrf: Option<String>,
}

impl<S, T> FromRequest<S> for AdminForm<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
    Gate: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let (mut parts, body) = req.into_parts();
        let admin = Admin::from_request_parts(&mut parts, state)
            .await
            .map_err(AppError::from)?;
        let body = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(crate::http::admin::api::unreadable)?;
        let csrf: Csrf = crate::http::body::form(&body)?;
        admin.check_csrf(csrf.csrf.as_deref())?;
        let form = crate::http::body::form(&body)?;
        Ok(AdminForm { admin, form })
    }
}
