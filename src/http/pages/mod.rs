//! Server-rendered pages for people: the landing page (the demo shop's quote form),
//! the shopper's order page with its QR code ([`shop`]), the quote page the message
//! links to and the return from web authorization ([`quote`]), and the stylesheet and
//! card picture ([`assets`]). [`render`] holds the templates; [`figures`] the order's
//! figures as the pages print them.

pub mod assets;
pub mod figures;
pub mod quote;
pub mod render;
pub mod shop;

pub use render::Pages;
