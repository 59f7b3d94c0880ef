//! Database entities for scanquote, shared by the service and its migrations.
//!
//! Every time is stored as Unix milliseconds in a `BIGINT` (`*_at_ms`): exact, UTC by
//! construction and identical on SQLite and MySQL/MariaDB, so leases and deadlines
//! compare the same way everywhere. Money is stored in integer fen (cents) and areas in
//! hundredths of a square metre; neither ever passes through a float.

pub mod access_token;
pub mod admin_session;
pub mod channel_code;
pub mod delivery;
pub mod lease;
pub mod oauth_state;
pub mod order;
pub mod order_message;
pub mod profile;
pub mod push_signature;
pub mod qr_code;
pub mod scan;
pub mod scene_reply;
pub mod setting;
pub mod site_key;
pub mod template;
pub mod unfollow;
pub mod wechat_tag;
