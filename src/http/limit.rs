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
        client_ip(parts, self.trust_forwarded_for)
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

/// The client's address: the last `X-Forwarded-For` entry behind a trusted proxy (the
/// proxy appends the address it saw), else the connection's peer.
pub fn client_ip(parts: &Parts, trust_forwarded_for: bool) -> Option<IpAddr> {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    client_ip_from(&parts.headers, peer, trust_forwarded_for)
}

/// [`client_ip`] from a request's headers and its peer.
pub fn client_ip_from(
    headers: &axum::http::HeaderMap,
    peer: Option<SocketAddr>,
    trust_forwarded_for: bool,
) -> Option<IpAddr> {
    if trust_forwarded_for {
        let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
        if let Some(ip) = forwarded
            .and_then(|v| v.rsplit(',').next())
            .and_then(|ip| ip.trim().parse().ok())
        {
            return Some(ip);
        }
    }
    peer.map(|p| p.ip())
}

/// Failed tries at the owner's credentials allowed per client and minute; past them the
/// client is refused (429) until the minute is over, right guess or not, so guessing
/// gets nowhere. Always on: it is not the quota limit that `RATE_LIMIT_PER_MINUTE` sets.
pub const AUTH_FAILURES_PER_MINUTE: u32 = 60;

/// Failed tries at the admin token (bearer or login form), per client, per minute.
pub struct AuthFailures {
    /// Client → (the minute, failures in it).
    seen: std::sync::Mutex<std::collections::HashMap<IpAddr, (i64, u32)>>,
    trust_forwarded_for: bool,
}

impl AuthFailures {
    pub fn new(trust_forwarded_for: bool) -> Self {
        AuthFailures {
            seen: Default::default(),
            trust_forwarded_for,
        }
    }

    pub fn client(&self, parts: &Parts) -> Option<IpAddr> {
        client_ip(parts, self.trust_forwarded_for)
    }

    fn minute() -> i64 {
        crate::now_ms() / 60_000
    }

    /// Refused for now: the client used up its failures this minute.
    pub fn check(&self, ip: Option<IpAddr>) -> Result<(), AppError> {
        let Some(ip) = ip else { return Ok(()) };
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        match seen.get(&ip) {
            Some((minute, n)) if *minute == Self::minute() && *n >= AUTH_FAILURES_PER_MINUTE => {
                let left = 60 - (crate::now_ms() / 1000) % 60;
                Err(AppError::RateLimited {
                    retry_after_secs: left.max(1) as u64,
                })
            }
            _ => Ok(()),
        }
    }

    /// Counts a failed try.
    pub fn failed(&self, ip: Option<IpAddr>) {
        let Some(ip) = ip else { return };
        let now = Self::minute();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() > MAX_TRACKED {
            seen.retain(|_, (minute, _)| *minute == now);
        }
        let entry = seen.entry(ip).or_insert((now, 0));
        if entry.0 != now {
            *entry = (now, 0);
        }
        entry.1 += 1;
        tracing::warn!(%ip, failures = entry.1, "a wrong admin token");
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
