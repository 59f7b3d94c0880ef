//! The WeChat Official Account platform, and nothing else.
//!
//! This module knows how WeChat signs and shapes its pushes, how its API is called and
//! what its error codes mean; it knows nothing of orders, of the database or of HTTP
//! handlers, so it could be lifted out as a library. Where it needs the service (to
//! keep the shared access token, to report call timings) it asks through a small
//! trait: [`token::TokenStore`], [`client::ApiObserver`].
//!
//! Layout: pushes come in through [`signature`] (callback signatures), [`crypto`] (AES
//! modes) and [`inbound`] (pushed XML → typed events), and are answered with a
//! [`reply`]. The API is called through [`client`] with the shared [`token`]; its
//! answers and errors are read in [`api`]; [`qrcode`], [`message`], [`user`],
//! [`tags`] and [`oauth`] (web authorization) are one API family each; [`probe`] asks the
//! questions `scanquote doctor` puts to the platform. [`scene`] holds the rules
//! for a QR code's scene.

pub mod api;
pub mod client;
pub mod crypto;
pub mod inbound;
pub mod message;
pub mod oauth;
pub mod probe;
pub mod qrcode;
pub mod reply;
pub mod scene;
pub mod signature;
pub mod tags;
pub mod token;
pub mod user;

pub use api::WechatError;
pub use client::WechatClient;
pub use inbound::{Push, ScanEvent};
pub use scene::{Lifetime, Scene};
