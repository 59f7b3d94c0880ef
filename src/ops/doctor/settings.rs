//! The checks that read the configuration and the database alone.

use url::{Host, Url};

use super::{BASIC_SETTINGS, Report};
use crate::db::mysql_writer::logs_statements;
use crate::wechat::crypto::AesKey;

pub(super) fn callback_token(report: &mut Report, token: Option<&str>) {
    let place = format!("{BASIC_SETTINGS} → 服务器配置 → 令牌(Token)");
    match token {
        None => report.fail(
            "没有设置 WECHAT_TOKEN（回调令牌）",
            format!("在 {place} 填一个 3–32 位字母或数字的令牌，WECHAT_TOKEN 填同一个"),
        ),
        Some(t) if crate::wechat::signature::token_format_ok(t) => {
            report.fine("令牌(Token) 格式正确")
        }
        Some(t) => report.fail(
            format!(
                "WECHAT_TOKEN 格式不对：须为 3–32 位英文字母或数字（现在是 {} 个字符）",
                t.chars().count()
            ),
            format!("改成 3–32 位字母或数字，并在 {place} 填同一个"),
        ),
    }
}

pub(super) fn aes_key(report: &mut Report, key: Option<&str>, real_account: bool) {
    let place = format!("{BASIC_SETTINGS} → 服务器配置 → 消息加解密密钥(EncodingAESKey)");
    match key {
        None if real_account => report.warn(
            "没有设置 WECHAT_ENCODING_AES_KEY：只能用“明文模式”，推送在网上不加密",
            format!("在 {place} 随机生成一个，消息加解密方式选“安全模式”，把它填到 WECHAT_ENCODING_AES_KEY"),
        ),
        None => {}
        Some(k) if AesKey::from_encoding_aes_key(k).is_ok() => {
            report.fine("消息加解密密钥(EncodingAESKey) 格式正确")
        }
        Some(k) => report.fail(
            format!(
                "WECHAT_ENCODING_AES_KEY 格式不对：须为 43 位英文字母或数字（现在是 {} 个字符）",
                k.chars().count()
            ),
            format!("从 {place} 原样复制，不要带空格或引号"),
        ),
    }
}

pub(super) fn public_base_url(report: &mut Report, value: Option<&str>, real_account: bool) {
    let Some(value) = value else {
        if real_account {
            report.fail(
                "没有设置 PUBLIC_BASE_URL：消息卡片的链接会指向本机地址，用户的手机打不开",
                "设成用户和微信访问本服务的地址，如 https://quote.example.com/",
            );
        }
        return;
    };
    // A malformed value is named by the configuration line above.
    let Ok(url) = Url::parse(value) else { return };
    let local = match url.host() {
        Some(Host::Domain(d)) => {
            d == "localhost" || d.ends_with(".localhost") || d.ends_with(".local")
        }
        Some(Host::Ipv4(ip)) => ip.is_loopback() || ip.is_private() || ip.is_link_local(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => true,
    };
    if local {
        report.warn(
            format!("PUBLIC_BASE_URL {url} 只有本机或内网能打开，微信和用户的手机访问不到"),
            "上线时设成公网域名，如 https://quote.example.com/",
        );
    } else if url.scheme() != "https" {
        report.warn(
            format!("PUBLIC_BASE_URL {url} 不是 https：链接和授权页在微信里会提示不安全"),
            "在 nginx 上配好证书（deploy/nginx/scanquote.conf），改成 https:// 开头",
        );
    } else if !matches!(url.port_or_known_default(), Some(80 | 443)) {
        report.warn(
            format!("PUBLIC_BASE_URL {url} 用的不是 80 或 443 端口：微信只向这两个端口推送"),
            "让 nginx 在 443 端口接收，PUBLIC_BASE_URL 不写端口",
        );
    } else {
        report.fine(format!("PUBLIC_BASE_URL {url} 是公网 https 地址"));
    }
}

pub(super) async fn database(report: &mut Report, url: &str) {
    use migration::MigratorTrait;
    let shown = match crate::ops::sqlite_path(url) {
        Some(path) if !path.exists() => {
            report.warn(
                format!("数据库文件 {} 还不存在", path.display()),
                "第一次运行 scanquote serve（或 scanquote migrate）时会创建；确认这个路径就是你要的",
            );
            return;
        }
        Some(path) => format!("SQLite {}", path.display()),
        None => "MySQL/MariaDB".to_owned(),
    };
    let db = match crate::db::connect(url).await {
        Ok(db) => db,
        Err(e) => {
            return report.fail(
                format!("连不上数据库 {shown}：{e:#}"),
                "检查 DATABASE_URL（地址、用户名、密码、库名），以及数据库是否在运行",
            );
        }
    };
    if db.get_database_backend() == sea_orm::DbBackend::MySql {
        binary_log(report, &db).await;
    }
    match migration::Migrator::get_pending_migrations(&db).await {
        Ok(pending) if pending.is_empty() => {
            report.fine(format!("数据库 {shown} 可以连接，结构是最新的"))
        }
        Ok(pending) => report.warn(
            format!(
                "数据库 {shown} 可以连接，但有 {} 个迁移还没应用",
                pending.len()
            ),
            "运行 scanquote migrate（scanquote serve 启动时也会自动应用）",
        ),
        Err(e) => report.fail(
            format!("读不了数据库 {shown} 的迁移记录：{e}"),
            "确认 DATABASE_URL 指向 scanquote 自己的库，且用户有读写权限",
        ),
    }
}

/// A ⚠ when the MySQL server logs statements: the journal then cannot read committed
/// rows only, and instances may wait on each other's locks (`db::mysql_writer`).
async fn binary_log(report: &mut Report, db: &sea_orm::DatabaseConnection) {
    use crate::db::mysql_writer::BINARY_LOG;
    use sea_orm::{ConnectionTrait, Statement};
    let asked = db
        .query_one_raw(Statement::from_string(
            sea_orm::DbBackend::MySql,
            BINARY_LOG,
        ))
        .await;
    let answer = asked.ok().flatten().and_then(|row| {
        let log_bin = row.try_get_by_index::<i64>(0).ok()?;
        let format = row.try_get_by_index::<String>(1).ok()?;
        Some((log_bin, format))
    });
    match answer {
        Some((log_bin, format)) => binary_log_finding(report, log_bin, &format),
        None => report.warn(
            "读不到数据库的二进制日志设置（@@log_bin、@@binlog_format）",
            "确认 DATABASE_URL 指向 MySQL 或 MariaDB，且用户能读这两个变量",
        ),
    }
}

/// What [`binary_log`] says of the server's answer: nothing when all is well.
fn binary_log_finding(report: &mut Report, log_bin: i64, format: &str) {
    if logs_statements(log_bin, format) {
        report.warn(
            "数据库按语句写二进制日志（binlog_format=STATEMENT）：多个实例在高峰时可能互相等锁，推送变慢",
            "在 MariaDB/MySQL 的配置里把 binlog_format 设为 MIXED 或 ROW，重启数据库",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warned(log_bin: i64, format: &str) -> bool {
        let mut report = Report::default();
        binary_log_finding(&mut report, log_bin, format);
        report
            .findings
            .iter()
            .any(|f| f.level == super::super::Level::Warn)
    }

    /// A server that does not answer the question (here SQLite, which has no such
    /// variables) is named, not taken for a good one.
    #[tokio::test]
    async fn settings_that_cannot_be_read_are_warned() {
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        let mut report = Report::default();
        binary_log(&mut report, &db).await;
        let warned: Vec<&str> = report
            .findings
            .iter()
            .filter(|f| f.level == super::super::Level::Warn)
            .map(|f| f.what.as_str())
            .collect();
        assert_eq!(
            warned,
            ["读不到数据库的二进制日志设置（@@log_bin、@@binlog_format）"]
        );
    }

    #[test]
    fn only_a_binary_log_of_statements_is_warned() {
        assert!(warned(1, "STATEMENT"));
        assert!(warned(1, "statement"), "as a server may spell it");
        assert!(!warned(1, "MIXED"), "MariaDB's default");
        assert!(!warned(1, "ROW"));
        assert!(!warned(0, "STATEMENT"), "no binary log kept");
    }
}
