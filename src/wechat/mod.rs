//! The WeChat Official Account platform, and nothing else.
//!
//! This module knows how WeChat signs and shapes its pushes, how its API is called and
//! what its error codes mean; it knows nothing of orders or quotes, so it could be lifted
//! out as a library.
//!
//! Layout: [`signature`] checks callback signatures; [`inbound`] parses pushed XML into
//! typed events; [`client`] calls the API with a shared [`token`]; [`qrcode`], [`message`]
//! and [`user`] are one API family each.

pub mod client;
pub mod crypto;
pub mod inbound;
pub mod message;
pub mod oauth;
pub mod qrcode;
pub mod reply;
pub mod signature;
pub mod token;
pub mod user;

pub use client::{WechatClient, WechatError};
pub use inbound::{Push, ScanEvent, Scene};
