//! What only the web side needs, beside the domain: the configuration the handlers
//! read (sandbox mode, the callback's token and windows), the page templates, the site
//! owner's key, the per-client rate limiter and the AES keys of the callback.

use std::sync::Arc;

use super::admin::auth::Gate;
use super::limit::Limiter;
use super::pages::Pages;
use crate::config::Config;
use crate::wechat::crypto::MessageCrypto;

/// Cloned per request, so one reference-counted pointer.
#[derive(Clone)]
pub struct Web(Arc<WebParts>);

impl std::ops::Deref for Web {
    type Target = WebParts;

    fn deref(&self) -> &WebParts {
        &self.0
    }
}

pub struct WebParts {
    pub config: Arc<Config>,
    pub pages: Pages,
    /// Checks the site owner's token and sessions.
    pub admin: Gate,
    /// Per-IP limit on the endpoints that cost WeChat quota; `None` when turned off.
    pub limiter: Option<Limiter>,
    /// Set in AES mode: decrypts pushes and seals passive replies.
    pub crypto: Option<MessageCrypto>,
}

impl Web {
    pub fn new(parts: WebParts) -> Self {
        Web(Arc::new(parts))
    }

    pub fn sandbox(&self) -> bool {
        self.config.wechat.sandbox
    }
}
