//! The checks that ask WeChat, or ask the callback URL as WeChat would.

use url::Url;

use super::{BASIC_SETTINGS, Report};
use crate::wechat::WechatError;
use crate::wechat::probe::{self, CallbackProbe};

/// Within this much of WeChat's clock nothing needs saying.
const CLOCK_FINE_SECS: i64 = 30;

pub(super) fn credentials(report: &mut Report, outcome: &Result<(), WechatError>, api_base: &Url) {
    let Err(e) = outcome else {
        return report.fine("微信接受了 AppID 和 AppSecret（取到了 access_token）");
    };
    let said = |e: &WechatError| match e.errcode() {
        Some(code) => format!("微信回答 {code}：{}", e.errmsg()),
        None => e.to_string(),
    };
    match e.errcode() {
        Some(40013) => report.fail(
            format!("AppID 不正确（{}）", said(e)),
            format!("从 {BASIC_SETTINGS} → 开发者ID(AppID) 原样复制到 WECHAT_APP_ID"),
        ),
        Some(40125) => report.fail(
            format!("AppSecret 不正确（{}）", said(e)),
            format!(
                "在 {BASIC_SETTINGS} → 开发者密码(AppSecret) 核对；忘了就重置（旧的立即失效），\
                 新的填到 WECHAT_APP_SECRET"
            ),
        ),
        Some(40164) => {
            let ip = probe::refused_ip(&e.errmsg())
                .map(|ip| ip.to_string())
                .unwrap_or_else(|| "本机的出口 IP".into());
            report.fail(
                format!("服务器 IP 不在白名单：到 {BASIC_SETTINGS} → IP白名单 加入 {ip}"),
                format!(
                    "加入 {ip} 后几分钟内生效，再运行 scanquote doctor（{}）",
                    said(e)
                ),
            )
        }
        Some(-1) => report.warn(
            format!("微信系统繁忙，没能核对 AppID 和 AppSecret（{}）", said(e)),
            "过一会儿再运行 scanquote doctor",
        ),
        Some(code) => report.fail(
            format!(
                "微信拒绝了 AppID 和 AppSecret：{}（{}）",
                crate::wechat::api::errcode_zh(code).unwrap_or("见微信的错误码说明"),
                said(e)
            ),
            format!("核对 {BASIC_SETTINGS} 里的开发者ID和开发者密码"),
        ),
        None => report.fail(
            format!("连不上微信接口 {api_base}：{e}"),
            "检查这台机器能否访问外网的 443 端口（防火墙、代理、DNS）",
        ),
    }
}

pub(super) fn clock(report: &mut Report, server_time_ms: Option<i64>, window_secs: u64) {
    let Some(server) = server_time_ms else {
        return report.warn(
            "没法核对服务器时间：没有拿到微信带时间的回答",
            "确认系统开启了时间同步：timedatectl set-ntp true",
        );
    };
    // The Date header has whole seconds: up to one of the difference is its rounding.
    let skew = (crate::now_ms() - server) / 1000;
    let ahead = if skew > 0 { "快" } else { "慢" };
    let secs = skew.abs();
    let sync = "开启时间同步：timedatectl set-ntp true（或安装 chrony）";
    if secs <= CLOCK_FINE_SECS {
        report.fine(format!(
            "服务器时间准确（与微信相差 {secs} 秒，以微信回答里的时间为准）"
        ));
    } else if window_secs > 0 && secs as u64 > window_secs {
        report.fail(
            format!(
                "服务器时间比微信{ahead} {secs} 秒，超过了 WECHAT_TIMESTAMP_WINDOW_SECONDS（{window_secs} 秒）：\
                 微信的每条推送都会被当作重放拒绝"
            ),
            sync,
        );
    } else {
        report.warn(format!("服务器时间比微信{ahead} {secs} 秒"), sync);
    }
}

pub(super) fn callback(report: &mut Report, url: &Url, answer: CallbackProbe) {
    match answer {
        CallbackProbe::Echoed => {
            report.fine(format!("回调地址 {url} 通过了微信的签名校验"))
        }
        CallbackProbe::Unreachable(why) => report.warn(
            format!("从这台机器连不到回调地址 {url}（{why}）"),
            "如果这台机器访问不到自己的公网地址可以忽略；否则检查 nginx 和 scanquote 是否在运行、域名是否解析到这里",
        ),
        CallbackProbe::UntrustedCertificate(why) => report.fail(
            format!("回调地址 {url} 的证书不被信任（{why}）"),
            "微信只向证书受信任的 https 地址推送：换用正规证书（如 Let's Encrypt 的 certbot），证书要含完整的中间证书链",
        ),
        CallbackProbe::Answered { status, .. } if status == 401 || status == 403 => report.fail(
            format!("回调地址 {url} 不认这个签名（HTTP {status}）：运行中的服务用的 WECHAT_TOKEN 与这里的不同"),
            "让服务和 doctor 读同一份配置，改好后重启服务（systemctl restart scanquote）",
        ),
        CallbackProbe::Answered { status, body } => report.fail(
            format!("回调地址 {url} 没有回答 echostr（HTTP {status}：{body}）"),
            "确认 nginx 把 /wechat 转给了 scanquote（deploy/nginx/scanquote.conf），且 PUBLIC_BASE_URL 指向这个服务",
        ),
    }
}
