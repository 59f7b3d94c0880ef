//! `scanquote doctor`: is this deployment ready for WeChat? One line per check, ✓ (fine),
//! ⚠ (works, but not for production) or ✗ (will not work), each ⚠ and ✗ with what to do,
//! in the platform's own menu names. It reads the same variables as `serve`, and reads
//! them raw as well, so that a value `serve` would refuse still gets its own line.

use std::fmt::Write as _;
use std::time::Duration;

use secrecy::ExposeSecret;
use url::Url;

use crate::config::Config;
use crate::wechat::probe;

mod platform;
mod settings;

/// Where every credential lives on the platform.
const BASIC_SETTINGS: &str = "公众平台 → 设置与开发 → 基本配置";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Fine,
    Warn,
    Fail,
}

/// One check's outcome.
#[derive(Debug, Clone)]
pub struct Finding {
    pub level: Level,
    pub what: String,
    /// What to do about a ⚠ or ✗.
    pub advice: Option<String>,
}

#[derive(Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    pub(super) fn fine(&mut self, what: impl Into<String>) {
        self.push(Level::Fine, what, None::<String>);
    }

    pub(super) fn warn(&mut self, what: impl Into<String>, advice: impl Into<String>) {
        self.push(Level::Warn, what, Some(advice));
    }

    pub(super) fn fail(&mut self, what: impl Into<String>, advice: impl Into<String>) {
        self.push(Level::Fail, what, Some(advice));
    }

    fn push(&mut self, level: Level, what: impl Into<String>, advice: Option<impl Into<String>>) {
        self.findings.push(Finding {
            level,
            what: what.into(),
            advice: advice.map(Into::into),
        });
    }

    /// True when something will not work (the command then exits non-zero).
    pub fn failed(&self) -> bool {
        self.findings.iter().any(|f| f.level == Level::Fail)
    }

    fn count(&self, level: Level) -> usize {
        self.findings.iter().filter(|f| f.level == level).count()
    }

    /// The report as the operator reads it.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for f in &self.findings {
            let mark = match f.level {
                Level::Fine => "✓",
                Level::Warn => "⚠",
                Level::Fail => "✗",
            };
            let _ = writeln!(out, "{mark} {}", f.what);
            if let Some(advice) = &f.advice {
                let _ = writeln!(out, "    → {advice}");
            }
        }
        let (fail, warn) = (self.count(Level::Fail), self.count(Level::Warn));
        let _ = match (fail, warn) {
            (0, 0) => writeln!(out, "结论：全部通过。"),
            (0, w) => writeln!(out, "结论：可以工作；{w} 项 ⚠ 上线前应当处理。"),
            (f, w) => writeln!(out, "结论：{f} 项 ✗ 必须改正（还有 {w} 项 ⚠）。"),
        };
        out
    }
}

/// Runs every check against the variables `lookup` gives (the environment and `.env`,
/// as `serve` reads them).
pub async fn examine(lookup: &dyn Fn(&str) -> Option<String>) -> Report {
    let raw = |name: &str| {
        lookup(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let mut report = Report::default();
    let config = Config::from_lookup(lookup);
    let real_account = raw("WECHAT_APP_ID").is_some() || raw("WECHAT_APP_SECRET").is_some();

    match &config {
        Ok(c) if c.wechat.sandbox => report.warn(
            "沙盒模式：没有设置 WECHAT_APP_ID 和 WECHAT_APP_SECRET，服务不连接微信",
            format!(
                "接入公众号时，把 {BASIC_SETTINGS} 里的 开发者ID(AppID) 和 开发者密码(AppSecret) \
                 填到 WECHAT_APP_ID、WECHAT_APP_SECRET"
            ),
        ),
        Ok(c) if !real_account => report.warn(
            format!(
                "没有填 AppID：服务连接的是 WECHAT_API_BASE 指向的替身接口（{}）",
                c.wechat.api_base.as_ref().map(Url::as_str).unwrap_or("")
            ),
            "只适合测试；接入公众号时填上 WECHAT_APP_ID、WECHAT_APP_SECRET，并删掉 WECHAT_API_BASE",
        ),
        Ok(_) => {}
        // The token's and key's own lines below say what is wrong with them.
        Err(e) if matches!(e.variable, "WECHAT_TOKEN" | "WECHAT_ENCODING_AES_KEY") => {}
        Err(e) => report.fail(
            format!("配置有误：{}（{}）", e.variable, e.reason),
            format!("改正环境变量 {} 后再运行 scanquote doctor", e.variable),
        ),
    }
    if real_account {
        settings::callback_token(&mut report, raw("WECHAT_TOKEN").as_deref());
    }
    settings::aes_key(
        &mut report,
        raw("WECHAT_ENCODING_AES_KEY").as_deref(),
        real_account,
    );
    settings::public_base_url(&mut report, raw("PUBLIC_BASE_URL").as_deref(), real_account);
    settings::database(&mut report, &crate::config::database_url(lookup)).await;

    let Ok(config) = config else {
        return report;
    };
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("the TLS backend is compiled in");
    if let Some(api_base) = config.wechat.api_base.as_ref() {
        let answer = probe::credentials(
            &http,
            api_base,
            &config.wechat.app_id,
            &config.wechat.app_secret,
        )
        .await;
        platform::credentials(&mut report, &answer.outcome, api_base);
        platform::clock(
            &mut report,
            answer.server_time_ms,
            config.timestamp_window_secs,
        );
    }
    if let Some(base) = &config.public_base_url {
        let url = crate::wechat::api::endpoint(base, "/wechat");
        let token = config.wechat.token.expose_secret();
        let answer = probe::callback(&http, &url, token, chrono::Utc::now().timestamp()).await;
        platform::callback(&mut report, &url, answer);
    }
    report
}
