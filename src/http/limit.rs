//! Per-client-IP rate limit on the endpoints that cost WeChat quota (order and QR
//! creation) or invite guessing (admin login), so a script cannot burn the account's
//! daily API allowance. Handlers opt in by taking a [`Throttle`] argument.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::AppError;

/// Forget idle clients once this many are tracked.
const MAX_TRACKED: usize = 100_000;

#[derive(Clone)]
pub struct Limiter {
    inner: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    trust_forwarded_for: bool,
}

impl Limiter {
    /// `None` when `per_minute` is 0 (limit off).
    pub fn new(per_minute: u32, trust_forwarded_for: bool) -> Option<Self> {
        let quota = Quota::per_minute(NonZeroU32::new(per_minute)?);
        Some(Limiter {
            inner: Arc::new(RateLimiter::keyed(quota)),
            trust_forwarded_for,
        })
    }

    fn client_ip(&self, parts: &Parts) -> Option<IpAddr> {
        if self.trust_forwarded_for {
            // The proxy appends the address it saw: the last entry is the one to trust.
            let forwarded = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok());
            if let Some(ip) = forwarded
                .and_then(|v| v.rsplit(',').next())
                .and_then(|ip| ip.trim().parse().ok())
            {
                return Some(ip);
            }
        }
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
    }

    fn check(&self, ip: IpAddr) -> Result<(), AppError> {
        if self.inner.len() > MAX_TRACKED {
            self.inner.retain_recent();
        }
        self.inner.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            AppError::RateLimited {
                retry_after_secs: wait.as_secs().max(1),
            }
        })
    }
}

/// Taking this argument puts a handler under the per-IP limit.
pub struct Throttle;

impl<S: Send + Sync> FromRequestParts<S> for Throttle
where
    Option<Limiter>: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        if let Some(limiter) = &Option::<Limiter>::from_ref(state)
            && let Some(ip) = limiter.client_ip(parts)
            && let Err(e) = limiter.check(ip)
        {
            tracing::warn!(%ip, "rate limited");
            return Err(e);
        }
        Ok(Throttle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_quota_then_waits_while_others_go_on() {
        let limiter = Limiter::new(3, false).unwrap();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(limiter.check(a).is_ok());
        }
        match limiter.check(a) {
            Err(AppError::RateLimited { retry_after_secs }) => {
                assert!((1..=20).contains(&retry_after_secs))
            }
            other => panic!("{other:?}"),
        }
        assert!(limiter.check(b).is_ok());
        assert!(Limiter::new(0, false).is_none());
    }
}
