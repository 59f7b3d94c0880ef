//! `scanquote doctor`, run as the binary against a running service and the recording
//! stand-in, with each thing an operator gets wrong made wrong in turn.

use crate::independent_client::SAMPLE_KEY;
use crate::stand_in::{APP_ID, SECRET, Shared, TOKEN, stand_in};
use crate::support::{ServiceProcess, free_port};

/// A service on a known port with the stand-in as WeChat, and the variables it runs with.
struct Deployment {
    _dir: tempfile::TempDir,
    _service: ServiceProcess,
    recorded: Shared,
    api: String,
    vars: Vec<(String, String)>,
}

impl Deployment {
    async fn start() -> Deployment {
        let (api, recorded) = stand_in().await;
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let vars: Vec<(String, String)> = [
            (
                "DATABASE_URL",
                format!("sqlite://{}?mode=rwc", dir.path().join("d.db").display()),
            ),
            ("BIND_ADDR", format!("127.0.0.1:{port}")),
            ("PUBLIC_BASE_URL", format!("http://127.0.0.1:{port}/")),
            ("WECHAT_APP_ID", APP_ID.into()),
            ("WECHAT_APP_SECRET", SECRET.into()),
            ("WECHAT_TOKEN", TOKEN.into()),
            ("WECHAT_ENCODING_AES_KEY", SAMPLE_KEY.into()),
            ("WECHAT_API_BASE", api.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let borrowed: Vec<(&str, &str)> =
            vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let service = ServiceProcess::start(dir.path(), "doctored", &borrowed).await;
        Deployment {
            _dir: dir,
            _service: service,
            recorded,
            api,
            vars,
        }
    }

    /// The doctor with the service's variables, `changes` applied (an empty value unsets).
    async fn doctor(&self, changes: &[(&str, &str)]) -> Doctor {
        let mut vars = self.vars.clone();
        for (name, value) in changes {
            vars.retain(|(k, _)| k != name);
            vars.push((name.to_string(), value.to_string()));
        }
        doctor(vars).await
    }
}

pub struct Doctor {
    pub passed: bool,
    pub text: String,
}

impl Doctor {
    pub fn line(&self, start: &str) -> &str {
        self.text
            .lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no line starting {start:?} in:\n{}", self.text))
    }
}

/// Runs `scanquote doctor` with exactly these variables, in an empty directory.
pub async fn doctor(vars: Vec<(String, String)>) -> Doctor {
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_scanquote"))
            .arg("doctor")
            .current_dir(dir.path())
            .env_clear()
            .env("NO_COLOR", "1")
            .envs(vars)
            .output()
            .unwrap();
        Doctor {
            passed: out.status.success(),
            text: String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        }
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_that_works_passes_with_only_its_local_address_warned() {
    let d = Deployment::start().await;
    let report = d.doctor(&[]).await;
    assert!(report.passed, "{}", report.text);
    let port = d.vars[1].1.rsplit(':').next().unwrap().to_owned();
    for line in [
        "✓ 令牌(Token) 格式正确".to_owned(),
        "✓ 消息加解密密钥(EncodingAESKey) 格式正确".to_owned(),
        "✓ 数据库 SQLite ".to_owned(),
        "✓ 微信接受了 AppID 和 AppSecret".to_owned(),
        "✓ 服务器时间准确".to_owned(),
        format!("✓ 回调地址 http://127.0.0.1:{port}/wechat 通过了微信的签名校验"),
        format!("⚠ PUBLIC_BASE_URL http://127.0.0.1:{port}/ 只有本机或内网能打开"),
    ] {
        report.line(&line);
    }
    assert!(!report.text.contains('✗'), "{}", report.text);
    report.line("结论：可以工作；1 项 ⚠ 上线前应当处理。");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_refused_credential_is_named_with_where_to_fix_it() {
    let d = Deployment::start().await;

    let wrong_id = d.doctor(&[("WECHAT_APP_ID", "wxwrong000001")]).await;
    assert!(!wrong_id.passed);
    wrong_id.line("✗ AppID 不正确（微信回答 40013");
    assert!(
        wrong_id
            .text
            .contains("公众平台 → 设置与开发 → 基本配置 → 开发者ID(AppID)"),
        "{}",
        wrong_id.text
    );

    let wrong_secret = d.doctor(&[("WECHAT_APP_SECRET", "not-the-secret")]).await;
    assert!(!wrong_secret.passed);
    wrong_secret.line("✗ AppSecret 不正确（微信回答 40125");

    d.recorded.lock().unwrap().token_refusal = Some(serde_json::json!({
        "errcode": 40164,
        "errmsg": "invalid ip 203.0.113.7 ipv6 ::ffff:203.0.113.7, not in whitelist rid: 6565aa03-2d3e4f5a-6b7c8d9e",
    }));
    let not_listed = d.doctor(&[]).await;
    d.recorded.lock().unwrap().token_refusal = None;
    assert!(!not_listed.passed);
    not_listed.line(
        "✗ 服务器 IP 不在白名单：到 公众平台 → 设置与开发 → 基本配置 → IP白名单 加入 203.0.113.7",
    );

    let nowhere = d
        .doctor(&[(
            "WECHAT_API_BASE",
            &format!("http://127.0.0.1:{}", free_port()),
        )])
        .await;
    assert!(!nowhere.passed);
    nowhere.line("✗ 连不上微信接口 http://127.0.0.1:");
    // Without an answer there is no clock to compare with: said, not guessed.
    nowhere.line("⚠ 没法核对服务器时间");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_off_by_more_than_the_window_fails_and_a_little_off_warns() {
    let d = Deployment::start().await;
    d.recorded.lock().unwrap().clock_ahead_secs = 400;
    let far = d.doctor(&[]).await;
    assert!(!far.passed, "{}", far.text);
    let line = far.line("✗ 服务器时间比微信慢 ");
    assert!(
        line.contains("WECHAT_TIMESTAMP_WINDOW_SECONDS（300 秒）"),
        "{line}"
    );
    assert!(far.text.contains("timedatectl set-ntp true"));

    d.recorded.lock().unwrap().clock_ahead_secs = -90;
    let near = d.doctor(&[]).await;
    assert!(near.passed, "{}", near.text);
    near.line("⚠ 服务器时间比微信快 ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callback_is_checked_the_way_wechat_checks_it() {
    let d = Deployment::start().await;

    // The service was started with another token than the doctor is given.
    let other_token = d.doctor(&[("WECHAT_TOKEN", "someOtherToken7")]).await;
    assert!(!other_token.passed);
    other_token.line("✗ 回调地址 http://127.0.0.1:");
    assert!(
        other_token.text.contains("不认这个签名（HTTP 403）"),
        "{}",
        other_token.text
    );

    // Something that is not scanquote answers there.
    let not_us = d.doctor(&[("PUBLIC_BASE_URL", &d.api)]).await;
    assert!(!not_us.passed);
    assert!(
        not_us.text.contains("没有回答 echostr（HTTP 404"),
        "{}",
        not_us.text
    );

    // Nothing answers: this machine may not reach its own public address, so a warning.
    let closed = format!("http://127.0.0.1:{}/", free_port());
    let unreachable = d.doctor(&[("PUBLIC_BASE_URL", &closed)]).await;
    assert!(unreachable.passed, "{}", unreachable.text);
    unreachable.line(&format!("⚠ 从这台机器连不到回调地址 {closed}wechat"));

    let unset = d.doctor(&[("PUBLIC_BASE_URL", "")]).await;
    assert!(!unset.passed);
    unset.line("✗ 没有设置 PUBLIC_BASE_URL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_settings_and_a_missing_database_are_named() {
    let d = Deployment::start().await;

    let short = d.doctor(&[("WECHAT_TOKEN", "ab")]).await;
    assert!(!short.passed);
    short.line("✗ WECHAT_TOKEN 格式不对：须为 3–32 位英文字母或数字（现在是 2 个字符）");

    let key = d
        .doctor(&[("WECHAT_ENCODING_AES_KEY", &SAMPLE_KEY[..42])])
        .await;
    assert!(!key.passed);
    key.line("✗ WECHAT_ENCODING_AES_KEY 格式不对：须为 43 位英文字母或数字（现在是 42 个字符）");

    let plain = d.doctor(&[("WECHAT_ENCODING_AES_KEY", "")]).await;
    assert!(plain.passed, "{}", plain.text);
    plain.line("⚠ 没有设置 WECHAT_ENCODING_AES_KEY");

    let db = d
        .doctor(&[("DATABASE_URL", "mysql://root@127.0.0.1:1/nothing")])
        .await;
    assert!(!db.passed);
    db.line("✗ 连不上数据库 MySQL/MariaDB");

    let dir = tempfile::tempdir().unwrap();
    let missing = format!("sqlite://{}?mode=rwc", dir.path().join("new.db").display());
    let fresh = d.doctor(&[("DATABASE_URL", &missing)]).await;
    fresh.line("⚠ 数据库文件 ");
    assert!(
        !dir.path().join("new.db").exists(),
        "the doctor creates nothing"
    );

    let sandbox = doctor(Vec::new()).await;
    assert!(sandbox.passed, "{}", sandbox.text);
    sandbox.line("⚠ 沙盒模式");
}

/// On MySQL/MariaDB the doctor also reads how the server keeps its binary log, and
/// warns only when it logs statements (the journal then cannot avoid instances'
/// locks; a unit test covers that case, which the local server does not have).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mysql_servers_binary_log_is_read_and_passes_when_it_is_not_statements() {
    let Some(url) = std::env::var("TEST_MYSQL_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("TEST_MYSQL_URL is not set: skipped");
        return;
    };
    let d = Deployment::start().await;
    let report = d.doctor(&[("DATABASE_URL", &url)]).await;
    assert!(
        report.text.contains("数据库 MySQL/MariaDB 可以连接"),
        "{}",
        report.text
    );
    assert!(
        !report.text.contains("二进制日志"),
        "read, and nothing to warn of:\n{}",
        report.text
    );
}

/// The operator runs the doctor with the file systemd gives the service
/// (`EnvironmentFile=/etc/scanquote/env`).
#[test]
fn the_env_file_the_service_reads_is_read_with_env_file() {
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join("env");
    std::fs::write(
        &env,
        "# as in deploy/env.example\nWECHAT_APP_ID=wx0123456789abcdef\nWECHAT_APP_SECRET=secret\nWECHAT_TOKEN=ab\n",
    )
    .unwrap();
    let run = |file: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_scanquote"))
            .arg("--env-file")
            .arg(file)
            .arg("doctor")
            .current_dir(dir.path())
            .env_clear()
            .output()
            .unwrap()
    };
    let out = run(&env);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("✗ WECHAT_TOKEN 格式不对"), "{text}");

    let missing = run(&dir.path().join("nope"));
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("读不了 --env-file"));
}
