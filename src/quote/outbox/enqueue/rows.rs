//! The rows a scan is written as: its own and its push's signature, their values
//! borrowed from the scan ([`crate::db::shaped`]).

use std::sync::LazyLock;

use entity::{push_signature, scan};

use super::NewScan;
use crate::db::shaped::{Param, Table};

/// A scan's row but for its identity (the push's) and its id (the database's).
#[derive(Debug, Clone)]
pub struct ScanRow {
    pub openid: String,
    /// `subscribe` or `SCAN`.
    pub event: &'static str,
    /// The scene as the push carried it (its `EventKey` without `qrscene_`).
    pub scene: String,
    pub ticket: Option<String>,
    /// The registry entry the ticket matched, if any.
    pub qr_code_id: Option<i64>,
    /// The order the code points at, if it points at one.
    pub order_id: Option<i64>,
    /// WeChat's `CreateTime`, in seconds.
    pub event_time: i64,
    pub received_at_ms: i64,
}

/// The columns a scan is written with, in the order of [`NewScan::values`].
pub(super) static SCANS: LazyLock<Table> = LazyLock::new(|| {
    use scan::Column as S;
    Table::of(
        scan::Entity,
        [
            S::EventIdentity,
            S::Openid,
            S::Event,
            S::Scene,
            S::Ticket,
            S::QrCodeId,
            S::OrderId,
            S::EventTime,
            S::ReceivedAtMs,
        ],
    )
});

/// The columns a push's signature is written with, in the order of
/// [`NewScan::signature_values`].
pub(super) static SIGNATURES: LazyLock<Table> = LazyLock::new(|| {
    use push_signature::Column as P;
    Table::of(
        push_signature::Entity,
        [P::Signature, P::BodySha256, P::ReceivedAtMs],
    )
});

impl NewScan {
    /// The scan's row, as [`SCANS`] names its columns.
    pub(super) fn values(&self) -> [Param<'_>; 9] {
        let r = &self.row;
        [
            self.identity.as_str().into(),
            r.openid.as_str().into(),
            r.event.into(),
            r.scene.as_str().into(),
            r.ticket.as_deref().into(),
            r.qr_code_id.into(),
            r.order_id.into(),
            r.event_time.into(),
            r.received_at_ms.into(),
        ]
    }

    /// The push's signature's row, as [`SIGNATURES`] names its columns, if it has one.
    pub(super) fn signature_values(&self) -> Option<[Param<'_>; 3]> {
        let seen = self.seen.as_ref()?;
        Some([
            seen.signature.as_str().into(),
            seen.body_sha256.as_str().into(),
            self.row.received_at_ms.into(),
        ])
    }
}
