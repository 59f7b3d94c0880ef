//! Configuration, read once from the environment (and `.env`) at start.
//!
//! Unset WeChat credentials mean sandbox mode: the binary serves its own stand-in for
//! the WeChat API under `/sandbox` and talks to it. Credentials that are only half set are
//! an error that names the missing variable, so a typo never silently becomes a sandbox.

use std::net::SocketAddr;

use secrecy::SecretString;
use url::Url;

use crate::db::Synchronous;
use crate::quote::outbox::retry::Guarantee;
use crate::wechat::crypto::AesKey;

/// The fixed dev token the sandbox signs its pushes with when `WECHAT_TOKEN` is unset.
pub const SANDBOX_TOKEN: &str = "scanquote-sandbox-token";
pub const SANDBOX_APP_ID: &str = "wxsandbox0000000";
pub const SANDBOX_APP_SECRET: &str = "sandbox-secret";
const DEFAULT_API_BASE: &str = "https://api.weixin.qq.com";

#[derive(Debug, Clone)]
pub struct Config {
    /// `sqlite://…` or `mysql://…`.
    pub database_url: String,
    /// Where to listen; port 0 picks a free port (tests).
    pub bind_addr: SocketAddr,
    /// Base of the links put in messages. `None`: the address actually bound.
    pub public_base_url: Option<Url>,
    pub wechat: WechatConfig,
    /// Fixes the HMAC key of quote links; `None`: generated once and kept in the database.
    pub link_secret: Option<SecretString>,
    /// The site owner's token; `None`: generated once, printed, and its hash kept.
    pub admin_token: Option<SecretString>,
    /// Pushes whose timestamp is further than this from now are refused (replays);
    /// 0 turns the check off.
    pub timestamp_window_secs: u64,
    /// Requests per minute and client IP on the endpoints that cost WeChat quota (order
    /// creation, QR creation); 0 turns the limit off.
    pub rate_limit_per_minute: u32,
    /// Take the client IP from the last `X-Forwarded-For` entry (behind a proxy).
    pub trust_forwarded_for: bool,
    /// The shop sites allowed to frame the order card and call the public order API
    /// from a browser (`EMBED_ORIGINS`, comma-separated `https://shop.example`).
    pub embed_origins: Vec<String>,
    /// Serve the demo shop's order form on `/` (`DEMO_SHOP`; on by default in sandbox
    /// mode only): it creates orders without a site key.
    pub demo_shop: bool,
    /// At most this many connections at once (`MAX_CONNECTIONS`); `None`: as many as
    /// the descriptor limit leaves room for, up to 16,384.
    pub max_connections: Option<usize>,
    /// What a message whose outcome is unknown gets (`DELIVERY_GUARANTEE`).
    pub delivery_guarantee: Guarantee,
    /// What an acknowledged push survives on SQLite (`SQLITE_SYNCHRONOUS`).
    pub sqlite_synchronous: Synchronous,
}

/// `DATABASE_URL` as `serve` reads it, with its default: a file beside the binary's
/// working directory.
pub fn database_url(lookup: impl Fn(&str) -> Option<String>) -> String {
    lookup("DATABASE_URL")
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "sqlite://scanquote.db?mode=rwc".into())
}

/// The sandbox has no authentication by design (anyone may scan as anyone, read any
/// inbox), so it listens on a loopback address unless `SANDBOX_ALLOW_PUBLIC` says the
/// operator knows what they are showing to whom.
fn check_sandbox_bind(
    sandbox: bool,
    bind_addr: SocketAddr,
    allow: bool,
) -> Result<(), ConfigError> {
    if sandbox && !bind_addr.ip().is_loopback() && !allow {
        return Err(invalid(
            "BIND_ADDR",
            format!(
                "{bind_addr} 能被其他机器访问，而沙盒模式（没有 WECHAT_APP_ID）没有任何鉴权，\
                 谁都能以任何用户扫码、读消息：请监听 127.0.0.1；确要公开演示沙盒时设 \
                 SANDBOX_ALLOW_PUBLIC=true"
            ),
        ));
    }
    Ok(())
}

/// How to reach WeChat. `Debug` shows no secret (`SecretString` redacts itself).
#[derive(Debug, Clone)]
pub struct WechatConfig {
    pub app_id: String,
    pub app_secret: SecretString,
    /// The callback token WeChat signs pushes with.
    pub token: SecretString,
    /// `None` in sandbox mode: the sandbox's address is known only once bound.
    pub api_base: Option<Url>,
    /// True when no credentials were given and the built-in sandbox stands in for WeChat.
    pub sandbox: bool,
    /// Set with `WECHAT_ENCODING_AES_KEY`: compatible and safe mode.
    pub aes: Option<AesKeys>,
    /// With a key set, still accept pushes that come without `encrypt_type=aes`
    /// (`WECHAT_ALLOW_PLAINTEXT`, for the minutes of a switch-over on the platform).
    /// Off by default: a plaintext push is signed over the query only, so anyone who
    /// once saw a push's query could forge bodies for the whole timestamp window.
    pub allow_plaintext: bool,
    /// Where web authorization starts (`WECHAT_OAUTH_BASE`); `None`: WeChat's own, or the
    /// sandbox's in sandbox mode.
    pub oauth_base: Option<Url>,
    /// The account's original id (`WECHAT_ORIGINAL_ID`, `gh_…`): when set, a push whose
    /// `ToUserName` names another account is refused.
    pub original_id: Option<String>,
}

/// The account's message keys: the current one, and the one before a rotation.
#[derive(Debug, Clone)]
pub struct AesKeys {
    pub current: AesKey,
    pub previous: Option<AesKey>,
}

/// A configuration problem, naming the variable a user has to fix.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {reason}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub reason: String,
}

fn invalid(variable: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        reason: reason.into(),
    }
}

impl Config {
    /// Reads the process environment (after loading `.env`, if present).
    pub fn from_env() -> Result<Self, ConfigError> {
        let _ = dotenvy::dotenv();
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds the configuration from any variable source, so tests need not touch the
    /// process environment. Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };

        let database_url = database_url(&lookup);
        if !(database_url.starts_with("sqlite:") || database_url.starts_with("mysql:")) {
            return Err(invalid("DATABASE_URL", "须以 sqlite: 或 mysql: 开头"));
        }
        let bind_addr = get("BIND_ADDR")
            .unwrap_or_else(|| "127.0.0.1:8080".into())
            .parse()
            .map_err(|e| {
                invalid(
                    "BIND_ADDR",
                    format!("不是“地址:端口”的形式，如 127.0.0.1:8080（{e}）"),
                )
            })?;
        let public_base_url = get("PUBLIC_BASE_URL")
            .map(|v| parse_base_url("PUBLIC_BASE_URL", &v))
            .transpose()?;
        let api_base = get("WECHAT_API_BASE")
            .map(|v| parse_base_url("WECHAT_API_BASE", &v))
            .transpose()?;

        let wechat = match (get("WECHAT_APP_ID"), get("WECHAT_APP_SECRET")) {
            // No credentials but an explicit API base: the user points us at some other
            // stand-in, so talk to it with the sandbox's credentials and serve none of ours.
            (None, None) => WechatConfig {
                app_id: SANDBOX_APP_ID.into(),
                app_secret: SANDBOX_APP_SECRET.into(),
                token: get("WECHAT_TOKEN")
                    .unwrap_or_else(|| SANDBOX_TOKEN.into())
                    .into(),
                sandbox: api_base.is_none(),
                api_base,
                aes: None,
                allow_plaintext: false,
                oauth_base: None,
                original_id: None,
            },
            (Some(_), None) => {
                return Err(invalid(
                    "WECHAT_APP_SECRET",
                    "设置了 WECHAT_APP_ID 就必须同时设置（公众平台 → 设置与开发 → 基本配置 → 开发者密码）",
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "WECHAT_APP_ID",
                    "设置了 WECHAT_APP_SECRET 就必须同时设置（公众平台 → 设置与开发 → 基本配置 → 开发者ID）",
                ));
            }
            (Some(app_id), Some(secret)) => {
                let token = get("WECHAT_TOKEN").ok_or_else(|| {
                    invalid(
                        "WECHAT_TOKEN",
                        "使用真实的公众号凭据时必须设置：与公众平台服务器配置里的 令牌(Token) 相同",
                    )
                })?;
                if !crate::wechat::signature::token_format_ok(&token) {
                    return Err(invalid(
                        "WECHAT_TOKEN",
                        "须为 3–32 位英文字母或数字（微信的要求）",
                    ));
                }
                WechatConfig {
                    app_id,
                    app_secret: secret.into(),
                    token: token.into(),
                    api_base: Some(
                        api_base
                            .unwrap_or_else(|| Url::parse(DEFAULT_API_BASE).expect("constant URL")),
                    ),
                    sandbox: false,
                    aes: None,
                    allow_plaintext: false,
                    oauth_base: None,
                    original_id: None,
                }
            }
        };
        let key = |name: &'static str| {
            get(name)
                .map(|k| {
                    AesKey::from_encoding_aes_key(&k).map_err(|_| {
                        invalid(name, "须为 43 位英文字母或数字（公众平台服务器配置里的 消息加解密密钥(EncodingAESKey)，原样复制）")
                    })
                })
                .transpose()
        };
        let current = key("WECHAT_ENCODING_AES_KEY")?;
        let previous = key("WECHAT_ENCODING_AES_KEY_PREVIOUS")?;
        let mut wechat = wechat;
        wechat.oauth_base = get("WECHAT_OAUTH_BASE")
            .map(|v| parse_base_url("WECHAT_OAUTH_BASE", &v))
            .transpose()?;
        wechat.aes = match (current, previous) {
            (Some(current), previous) => Some(AesKeys { current, previous }),
            (None, Some(_)) => {
                return Err(invalid(
                    "WECHAT_ENCODING_AES_KEY_PREVIOUS",
                    "需要同时设置 WECHAT_ENCODING_AES_KEY（现在的密钥）",
                ));
            }
            (None, None) => None,
        };
        wechat.allow_plaintext = boolean(&get, "WECHAT_ALLOW_PLAINTEXT")?;
        if wechat.allow_plaintext && wechat.aes.is_none() {
            return Err(invalid(
                "WECHAT_ALLOW_PLAINTEXT",
                "只在设置了 WECHAT_ENCODING_AES_KEY 时有意义（没有密钥时所有推送都是明文）",
            ));
        }
        wechat.original_id = get("WECHAT_ORIGINAL_ID")
            .map(|id| {
                let plain = id.starts_with("gh_")
                    && id.len() <= 32
                    && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                if plain {
                    Ok(id)
                } else {
                    Err(invalid(
                        "WECHAT_ORIGINAL_ID",
                        "须为公众号的原始ID，如 gh_1234567890ab（公众号设置 → 账号详情 → 原始ID）",
                    ))
                }
            })
            .transpose()?;
        let sandbox = wechat.sandbox;
        check_sandbox_bind(sandbox, bind_addr, boolean(&get, "SANDBOX_ALLOW_PUBLIC")?)?;
        let sqlite_synchronous = match get("SQLITE_SYNCHRONOUS") {
            None => Synchronous::default(),
            Some(_) if !database_url.starts_with("sqlite:") => {
                return Err(invalid(
                    "SQLITE_SYNCHRONOUS",
                    "只用于 SQLite；MySQL/MariaDB 由数据库服务器决定\
                     （innodb_flush_log_at_trx_commit=1 时提交的数据经得起断电）",
                ));
            }
            Some(v) => Synchronous::parse(&v).ok_or_else(|| {
                invalid(
                    "SQLITE_SYNCHRONOUS",
                    "须为 full（提交的数据经得起断电）或 normal（经得起进程被杀，不保证经得起系统崩溃或断电）",
                )
            })?,
        };
        Ok(Config {
            database_url,
            bind_addr,
            public_base_url,
            wechat,
            link_secret: get("LINK_SECRET").map(SecretString::from),
            admin_token: match get("ADMIN_TOKEN") {
                Some(t) if t.len() < 16 => {
                    return Err(invalid("ADMIN_TOKEN", "至少 16 个字符"));
                }
                other => other.map(SecretString::from),
            },
            timestamp_window_secs: number(&get, "WECHAT_TIMESTAMP_WINDOW_SECONDS", 300)?,
            rate_limit_per_minute: number(&get, "RATE_LIMIT_PER_MINUTE", 60)?,
            trust_forwarded_for: boolean(&get, "TRUST_FORWARDED_FOR")?,
            embed_origins: match get("EMBED_ORIGINS") {
                None => Vec::new(),
                Some(list) => list
                    .split(',')
                    .map(str::trim)
                    .filter(|o| !o.is_empty())
                    .map(parse_origin)
                    .collect::<Result<_, _>>()?,
            },
            demo_shop: match get("DEMO_SHOP") {
                None => sandbox,
                Some(_) => boolean(&get, "DEMO_SHOP")?,
            },
            max_connections: match get("MAX_CONNECTIONS") {
                None => None,
                Some(_) => match number(&get, "MAX_CONNECTIONS", 0usize)? {
                    n @ 16.. => Some(n),
                    _ => return Err(invalid("MAX_CONNECTIONS", "至少为 16")),
                },
            },
            sqlite_synchronous,
            delivery_guarantee: match get("DELIVERY_GUARANTEE") {
                None => Guarantee::default(),
                Some(v) => Guarantee::parse(&v).ok_or_else(|| {
                    invalid(
                        "DELIVERY_GUARANTEE",
                        "须为 at-least-once（卡片可能到两次）或 at-most-once（卡片可能到不了）",
                    )
                })?,
            },
        })
    }
}

fn boolean(get: &impl Fn(&str) -> Option<String>, name: &'static str) -> Result<bool, ConfigError> {
    match get(name).as_deref() {
        None | Some("0" | "false" | "no") => Ok(false),
        Some("1" | "true" | "yes") => Ok(true),
        Some(_) => Err(invalid(name, "须为 true 或 false")),
    }
}

fn number<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError> {
    match get(name) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| invalid(name, "须为整数")),
    }
}

/// An origin a browser sends: `https://shop.example` or `http://127.0.0.1:8000`, no
/// path.
fn parse_origin(value: &str) -> Result<String, ConfigError> {
    let url = Url::parse(value)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
        .filter(|u| u.path() == "/" && u.query().is_none() && u.fragment().is_none());
    match url {
        Some(u) => Ok(u.origin().ascii_serialization()),
        None => Err(invalid(
            "EMBED_ORIGINS",
            format!("{value} 不是网站来源的形式，如 https://shop.example（不带路径）"),
        )),
    }
}

/// Parses an http(s) base URL and drops any trailing slash so paths can be appended.
fn parse_base_url(variable: &'static str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value.trim_end_matches('/'))
        .map_err(|e| invalid(variable, format!("不是网址（{e}）")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid(
            variable,
            "须为 http:// 或 https:// 开头、带域名的网址",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(variable, "不能带 ? 查询参数或 # 片段"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests;
