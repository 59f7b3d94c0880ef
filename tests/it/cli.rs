//! The binary itself: configuration errors name the variable and exit non-zero.

use std::process::Command;

fn scanquote(vars: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_scanquote"));
    cmd.args(args)
        .current_dir(dir.path())
        .env("BIND_ADDR", "127.0.0.1:0");
    for name in [
        "DATABASE_URL",
        "WECHAT_APP_ID",
        "WECHAT_APP_SECRET",
        "WECHAT_TOKEN",
        "WECHAT_API_BASE",
        "WECHAT_ENCODING_AES_KEY",
        "PUBLIC_BASE_URL",
    ] {
        cmd.env_remove(name);
    }
    cmd.envs(vars.iter().copied());
    cmd.output().unwrap()
}

#[test]
fn half_set_credentials_stop_the_service_naming_the_missing_variable() {
    let out = scanquote(&[("WECHAT_APP_ID", "wx123")], &["serve"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("WECHAT_APP_SECRET"), "{err}");
}

#[test]
fn a_bad_bind_address_is_named() {
    let out = scanquote(&[("BIND_ADDR", "not-an-address")], &["serve"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("BIND_ADDR"));
}

#[test]
fn the_sandbox_refuses_a_public_address_unless_told() {
    let out = scanquote(&[("BIND_ADDR", "0.0.0.0:0")], &["serve"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("BIND_ADDR") && err.contains("SANDBOX_ALLOW_PUBLIC"),
        "{err}"
    );
}

#[test]
fn migrate_applies_the_schema_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display());
    let out = scanquote(&[("DATABASE_URL", &url)], &["migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("migrations applied"));
    assert!(dir.path().join("m.db").exists());
}

#[test]
fn help_lists_the_commands() {
    let out = scanquote(&[], &["--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains("serve") && text.contains("migrate"), "{text}");
}

/// Runs the real binary with debug logging against the stand-in, through a whole flow
/// in AES mode plus an admin login, and checks that no secret reached its output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_logs() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;

    use crate::independent_client::{SAMPLE_KEY, encrypt, sha1_signature};
    use crate::stand_in::{APP_ID, SECRET, TOKEN, stand_in};

    const ADMIN: &str = "admin-secret-token-4242";
    let (base, recorded) = stand_in().await;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("l.db").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_scanquote"))
        .current_dir(dir.path())
        .envs([
            ("DATABASE_URL", db.as_str()),
            ("BIND_ADDR", "127.0.0.1:0"),
            ("WECHAT_APP_ID", APP_ID),
            ("WECHAT_APP_SECRET", SECRET),
            ("WECHAT_TOKEN", TOKEN),
            ("WECHAT_ENCODING_AES_KEY", SAMPLE_KEY),
            ("WECHAT_API_BASE", base.as_str()),
            ("ADMIN_TOKEN", ADMIN),
            ("RUST_LOG", "trace"),
            ("NO_COLOR", "1"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    let addr = loop {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "the service stopped: {seen}"
        );
        seen.push_str(&line);
        if let Some(rest) = line.strip_prefix("scanquote 已启动，监听 ") {
            break rest.trim().to_owned();
        }
    };
    let http = reqwest::Client::new();
    let site_key = crate::support::site_key_at(&http, &addr, ADMIN).await;
    let order = crate::support::create_order_at(&http, &addr, &site_key).await;
    let ticket = crate::support::ticket_at(&http, &addr, &order).await;
    let now = chrono::Utc::now().timestamp();
    let event = crate::support::scan_xml(
        "oLogCheck0001",
        "subscribe",
        "qrscene_100001",
        Some(&ticket),
        now,
    );
    let sealed = encrypt(SAMPLE_KEY, APP_ID, &event);
    let ts = now.to_string();
    let r = http
        .post(format!("{addr}/wechat"))
        .query(&[
            ("signature", sha1_signature(&[TOKEN, &ts, "77"]).as_str()),
            ("timestamp", ts.as_str()),
            ("nonce", "77"),
            ("encrypt_type", "aes"),
            (
                "msg_signature",
                sha1_signature(&[TOKEN, &ts, "77", &sealed]).as_str(),
            ),
        ])
        .body(format!(
            "<xml><ToUserName>gh</ToUserName><Encrypt><![CDATA[{sealed}]]></Encrypt></xml>"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for _ in 0..100 {
        if !recorded.lock().unwrap().sends.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let login = http
        .post(format!("{addr}/admin/login"))
        .form(&[("token", ADMIN)])
        .send()
        .await
        .unwrap();
    assert!(login.status().is_redirection() || login.status().is_success());
    let _ = http
        .post(format!("{addr}/admin/login"))
        .form(&[("token", "wrong-guess-000000")])
        .send()
        .await
        .unwrap();
    let access_token = recorded.lock().unwrap().current_token.clone();
    assert!(!access_token.is_empty(), "the flow used an access token");
    assert_eq!(
        recorded.lock().unwrap().sends.len(),
        1,
        "the message went out"
    );

    // Stopped as an operator stops it: the log's last lines are written on the way out
    // (a SIGKILL would take those of the last 50 ms with it).
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    stdout.read_to_string(&mut seen).unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut seen)
        .unwrap();
    assert!(
        seen.contains("message sent"),
        "trace output was captured: {} bytes",
        seen.len()
    );
    for (what, secret) in [
        ("app secret", SECRET),
        ("access token", access_token.as_str()),
        ("AES key", SAMPLE_KEY),
        ("admin token", ADMIN),
        ("callback token", TOKEN),
        ("site key", site_key.as_str()),
    ] {
        assert!(!seen.contains(secret), "the {what} appeared in the logs");
    }
}

#[tokio::test]
async fn a_lost_admin_token_is_reset_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let vars = [("DATABASE_URL", url.as_str()), ("ADMIN_TOKEN", "")];
    let first = scanquote(&vars, &["admin-token", "reset"]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let second = scanquote(&vars, &["admin-token", "reset"]);
    let token = |out: &std::process::Output| {
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let line = text
            .lines()
            .find(|l| l.starts_with("新的管理员令牌"))
            .unwrap()
            .to_owned();
        line.rsplit('：').next().unwrap().trim().to_owned()
    };
    let (old, new) = (token(&first), token(&second));
    assert_ne!(old, new);

    let service = crate::support::ServiceProcess::start(dir.path(), "after-reset", &vars).await;
    let http = reqwest::Client::new();
    let ask = |t: String| {
        let http = http.clone();
        let url = format!("{}/api/admin/deliveries", service.base);
        async move { http.get(url).bearer_auth(t).send().await.unwrap().status() }
    };
    assert_eq!(ask(new.clone()).await, 200, "the new token works");
    assert_eq!(ask(old).await, 401, "the one it replaced does not");

    // Reset again while the service runs: it takes the new token within a second or
    // two, without a restart, and the console session opened with the old one ends.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = no_redirects
        .post(format!("{}/admin/login", service.base))
        .form(&[("token", new.as_str())])
        .send()
        .await
        .unwrap();
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let session_works = || {
        let http = http.clone();
        let (url, cookie) = (
            format!("{}/api/admin/deliveries", service.base),
            cookie.clone(),
        );
        async move {
            http.get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(session_works().await, 200);
    let third = token(&scanquote(&vars, &["admin-token", "reset"]));
    let mut waited = std::time::Duration::ZERO;
    while ask(third.clone()).await != 200 {
        assert!(
            waited < std::time::Duration::from_secs(3),
            "the running service took the reset token"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += std::time::Duration::from_millis(100);
    }
    assert_eq!(
        ask(new).await,
        401,
        "the token it replaced stops working without a restart"
    );
    assert_eq!(
        session_works().await,
        401,
        "and so does every console session"
    );

    let refused = scanquote(
        &[
            ("DATABASE_URL", url.as_str()),
            ("ADMIN_TOKEN", "set-in-the-environment"),
        ],
        &["admin-token", "reset"],
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("请在那里改成新值"));
}

#[tokio::test]
async fn json_logs_are_one_object_a_line_with_the_events_fields_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let vars = [("DATABASE_URL", url.as_str()), ("LOG_FORMAT", "json")];
    let mut service = crate::support::ServiceProcess::start(dir.path(), "json", &vars).await;
    let http = reqwest::Client::new();
    let ticket = crate::support::order_ticket_at(&http, &service.base).await;
    let openid = crate::support::sandbox_scan_at(&http, &service.base, "日志", &ticket).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let ready: serde_json::Value = http
        .get(format!("{}/readyz", service.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            ready["status"].as_str(),
            ready["database"].as_str(),
            ready["worker"].as_str()
        ),
        (Some("ready"), Some("ok"), Some("running")),
        "{ready}"
    );
    service.terminate();
    let text = std::fs::read_to_string(dir.path().join("json.log")).unwrap();
    let mut scan_line = None;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            v["timestamp"].is_string() && v["level"].is_string() && v["message"].is_string(),
            "{line}"
        );
        if v["message"] == "scan recorded" {
            scan_line = Some(v);
        }
    }
    let scan = scan_line.expect("the scan's line");
    assert!(
        scan["identity"].as_str().unwrap().contains(&openid),
        "the event's identity is a field: {scan}"
    );
    assert!(
        !text.contains(crate::support::ADMIN_TOKEN),
        "no secret in the logs"
    );
}
