//! Fault injection: make the sandbox's API fail the way WeChat sometimes does, so tests
//! and the benchmark can drive retries, token refreshes and permanent failures.
//!
//! `POST /sandbox/api/faults` adds a fault for one API (or `*`): answer with an
//! `errcode`, an HTTP status, after a delay, or drop the connection, for the next
//! `count` calls (or until cleared), on a `probability` fraction of them.
//! `DELETE /sandbox/api/faults` clears them all.

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Sandbox;

/// The APIs a fault can target.
pub const APIS: [&str; 8] = [
    "token",
    "stable_token",
    "qrcode_create",
    "custom_send",
    "user_info",
    "tags_create",
    "tags_get",
    "batchtagging",
];

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Fault {
    /// One of `APIS`, or `*` for all.
    pub api: String,
    /// Answer HTTP 200 with this `errcode`…
    pub errcode: Option<i64>,
    pub errmsg: Option<String>,
    /// …or with this HTTP status…
    pub http_status: Option<u16>,
    /// …or close the connection without an answer.
    #[serde(default)]
    pub drop: bool,
    /// Wait this long first (alone: a slow but normal answer).
    pub delay_ms: Option<u64>,
    /// Applies to this many calls; `None`: until cleared.
    pub count: Option<u32>,
    /// The fraction of calls it hits, 0–1 (default 1).
    pub probability: Option<f64>,
}

impl Fault {
    pub fn check(&self) -> Result<(), String> {
        if self.api != "*" && !APIS.contains(&self.api.as_str()) {
            return Err(format!("api must be * or one of {}", APIS.join(", ")));
        }
        if self.probability.is_some_and(|p| !(0.0..=1.0).contains(&p)) {
            return Err("probability must be between 0 and 1".into());
        }
        if self
            .http_status
            .is_some_and(|s| StatusCode::from_u16(s).is_err())
        {
            return Err("http_status is not an HTTP status".into());
        }
        if self.delay_ms.is_some_and(|d| d > 60_000) {
            return Err("delay_ms must be at most 60000".into());
        }
        Ok(())
    }
}

impl Sandbox {
    pub fn add_fault(&self, fault: Fault) -> Result<(), String> {
        fault.check()?;
        self.world().faults.push(fault);
        Ok(())
    }

    pub fn clear_faults(&self) {
        self.world().faults.clear();
    }

    /// Counts a call to `api` and applies the first matching fault, if any. `Some` is
    /// the answer to give instead of the normal one.
    pub(super) async fn inject(&self, api: &str) -> Option<Response> {
        let fault = {
            let mut world = self.world();
            world.stats.count(api);
            let hit = world.faults.iter().position(|f| {
                (f.api == "*" || f.api == api)
                    && f.count != Some(0)
                    && rand::thread_rng().gen_bool(f.probability.unwrap_or(1.0))
            })?;
            let fault = world.faults[hit].clone();
            if let Some(n) = &mut world.faults[hit].count {
                *n -= 1;
            }
            world.stats.faults_injected += 1;
            fault
        };
        if let Some(ms) = fault.delay_ms {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        if fault.drop {
            // A body that fails makes the server abort the connection mid-answer.
            let failing = futures_util::stream::once(async {
                Err::<Vec<u8>, _>(std::io::Error::other("dropped by fault injection"))
            });
            return Some(Response::new(Body::from_stream(failing)));
        }
        if let Some(status) = fault.http_status {
            return Some(
                StatusCode::from_u16(status)
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
                    .into_response(),
            );
        }
        fault.errcode.map(|errcode| {
            let errmsg = fault
                .errmsg
                .unwrap_or_else(|| "injected by the sandbox".into());
            Json(json!({ "errcode": errcode, "errmsg": errmsg })).into_response()
        })
    }
}
