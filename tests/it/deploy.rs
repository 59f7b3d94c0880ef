//! As deployed: two scanquote processes on one MariaDB behind the repository's own
//! nginx site (`deploy/nginx/`, TLS with a throw-away certificate made here), the whole
//! flow driven through nginx (order → code → signed push → message → quote page), the
//! client's address as nginx forwarded it counted by the rate limit, and one instance
//! restarted in the middle of a run of pushes with nothing lost. The systemd unit is
//! checked with `systemd-analyze verify` where that exists.
//!
//! Needs nginx, openssl and `TEST_MYSQL_URL`; `.ci/run` has all three and sets
//! `SCANQUOTE_REQUIRE_DEPLOY=1`, so there the test cannot skip.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use futures::future::join_all;
use serde_json::Value;

use crate::stand_in::{APP_ID, SECRET, TOKEN, stand_in};
use crate::support::{
    ADMIN_TOKEN, ServiceProcess, TestDb, create_order_at, free_port, fresh_database,
    push_signed_with, scan_xml, site_key_at, ticket_at,
};

const NGINX: &str = "/usr/sbin/nginx";

/// Whether the test may run here; when it may not and CI requires it, that fails.
fn can_run() -> Option<String> {
    let required = std::env::var("SCANQUOTE_REQUIRE_DEPLOY").is_ok_and(|v| v == "1");
    let missing = if !Path::new(NGINX).exists() {
        Some("nginx")
    } else if Command::new("openssl").arg("version").output().is_err() {
        Some("openssl")
    } else if TestDb::mysql().is_none() {
        Some("TEST_MYSQL_URL")
    } else {
        None
    };
    match missing {
        Some(what) if required => panic!("the deploy test needs {what}"),
        Some(what) => {
            eprintln!("deploy test skipped: no {what}");
            None
        }
        None => std::env::var("TEST_MYSQL_URL").ok(),
    }
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The repository's nginx site, changed only where a test machine differs: ports,
/// certificate and cache paths, and where the proxy snippet is.
fn site_for_test(dir: &Path, http: u16, https: u16, upstreams: [u16; 2]) -> String {
    let site = std::fs::read_to_string(repo("deploy/nginx/scanquote.conf")).unwrap();
    let snippet = repo("deploy/nginx/scanquote-proxy.conf");
    let replaced = site
        .replace(
            "server 127.0.0.1:8080",
            &format!("server 127.0.0.1:{}", upstreams[0]),
        )
        .replace(
            "server 127.0.0.1:8081",
            &format!("server 127.0.0.1:{}", upstreams[1]),
        )
        .replace("listen 80;", &format!("listen 127.0.0.1:{http};"))
        .replace("listen 443 ssl", &format!("listen 127.0.0.1:{https} ssl"))
        .replace(
            "/etc/nginx/snippets/scanquote-proxy.conf",
            snippet.to_str().unwrap(),
        )
        .replace(
            "/var/cache/nginx/scanquote",
            dir.join("cache").to_str().unwrap(),
        )
        .replace("/var/www/scanquote", dir.join("www").to_str().unwrap())
        .replace(
            "/etc/ssl/scanquote/fullchain.pem",
            dir.join("cert.pem").to_str().unwrap(),
        )
        .replace(
            "/etc/ssl/scanquote/privkey.pem",
            dir.join("key.pem").to_str().unwrap(),
        );
    for (from, to) in [
        ("server 127.0.0.1:8080", "the first upstream"),
        ("listen 443 ssl", "the TLS listener"),
        ("/etc/ssl/scanquote/fullchain.pem", "the certificate"),
    ] {
        assert!(site.contains(from), "the site names {to}");
    }
    replaced
        .lines()
        .filter(|l| !l.contains("[::]"))
        .collect::<Vec<_>>()
        .join("\n")
}

struct Nginx(Child);

impl Drop for Nginx {
    /// SIGQUIT, nginx's graceful stop: a SIGKILL would leave its workers behind.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-QUIT", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

/// nginx in the foreground on the test's site; it connects to the instances from
/// 127.0.0.2, so the service's peer is never the client's address.
// The child is owned by the returned value (or stopped with the test on a failed start).
#[allow(clippy::zombie_processes)]
async fn start_nginx(dir: &Path, site: &str, https: u16) -> Nginx {
    let key = dir.join("key.pem");
    let cert = dir.join("cert.pem");
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    std::fs::write(dir.join("site.conf"), site).unwrap();
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false);
    let d = dir.display();
    let conf = format!(
        "{user}daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  \
         fastcgi_temp_path {d}/fcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
         proxy_bind 127.0.0.2;\n  include {d}/site.conf;\n}}\n",
        user = if root { "user root;\n" } else { "" },
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let checked = Command::new(NGINX)
        .arg("-t")
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-p")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "nginx -t: {}",
        String::from_utf8_lossy(&checked.stderr)
    );
    let child = Command::new(NGINX)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-p")
        .arg(dir)
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", https)).is_ok() {
            return Nginx(child);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "nginx did not start: {}",
        std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
    );
}

/// A client that takes the throw-away certificate, connecting from `from`.
fn client(from: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .local_address(Some(from.parse().unwrap()))
        .build()
        .unwrap()
}

/// The scene `qrcode/create` was last asked for at the stand-in.
fn last_scene(recorded: &crate::stand_in::Shared) -> String {
    let r = recorded.lock().unwrap();
    let scene = &r.qrcodes.last().unwrap()["action_info"]["scene"];
    match scene.get("scene_str") {
        Some(s) => s.as_str().unwrap().to_owned(),
        None => scene["scene_id"].to_string(),
    }
}

async fn wait_for_sends(recorded: &crate::stand_in::Shared, n: usize) -> Vec<Value> {
    for _ in 0..300 {
        let sends = recorded.lock().unwrap().sends.clone();
        let distinct: HashSet<String> = sends.iter().map(|s| s["touser"].to_string()).collect();
        if distinct.len() >= n {
            return sends;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    recorded.lock().unwrap().sends.clone()
}

/// One push as WeChat makes it: tried three times when it gets no 200.
async fn push_one(
    client: &reqwest::Client,
    base: &str,
    scene: &str,
    ticket: &str,
    openid: String,
) -> u16 {
    let xml = scan_xml(
        &openid,
        "SCAN",
        scene,
        Some(ticket),
        chrono::Utc::now().timestamp(),
    );
    for _ in 0..3 {
        match push_signed_with(client, base, TOKEN, &xml).await {
            Ok(r) if r.status() == 200 => return 200,
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_behind_the_repositorys_nginx_serve_the_whole_flow() {
    let Some(server) = can_run() else { return };
    let db = fresh_database(&TestDb::Mysql(server)).await;
    let dir = tempfile::tempdir().unwrap();
    let (http_port, https_port) = (free_port(), free_port());
    let ports = [free_port(), free_port()];
    let (wechat, recorded) = stand_in().await;
    let base = format!("https://127.0.0.1:{https_port}");
    let public = format!("{base}/");
    let bind: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let vars = |i: usize| {
        vec![
            ("DATABASE_URL", db.url.clone()),
            ("BIND_ADDR", bind[i].clone()),
            ("PUBLIC_BASE_URL", public.clone()),
            ("TRUST_FORWARDED_FOR", "true".to_owned()),
            ("RATE_LIMIT_PER_MINUTE", "5".to_owned()),
            ("WECHAT_APP_ID", APP_ID.to_owned()),
            ("WECHAT_APP_SECRET", SECRET.to_owned()),
            ("WECHAT_TOKEN", TOKEN.to_owned()),
            ("WECHAT_API_BASE", wechat.clone()),
        ]
    };
    let (va, vb) = (vars(0), vars(1));
    let refs_a: Vec<(&str, &str)> = va.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refs_b: Vec<(&str, &str)> = vb.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut a = ServiceProcess::start(dir.path(), "a", &refs_a).await;
    let _b = ServiceProcess::start(dir.path(), "b", &refs_b).await;
    let site = site_for_test(dir.path(), http_port, https_port, ports);
    let _nginx = start_nginx(dir.path(), &site, https_port).await;
    let shopper = client("127.0.0.1");

    // The doctor asks the callback through nginx as WeChat would: over http it passes;
    // over https the throw-away certificate is refused, as WeChat refuses it.
    let doctor_vars = |public: String| {
        let mut v: Vec<(String, String)> =
            va.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        v.retain(|(k, _)| k != "PUBLIC_BASE_URL");
        v.push(("PUBLIC_BASE_URL".into(), public));
        v
    };
    let over_https = crate::doctor::doctor(doctor_vars(public.clone())).await;
    assert!(!over_https.passed);
    over_https.line(&format!("✗ 回调地址 {base}/wechat 的证书不被信任"));
    let plain_base = format!("http://127.0.0.1:{http_port}/");
    let over_plain = crate::doctor::doctor(doctor_vars(plain_base.clone())).await;
    over_plain.line(&format!(
        "✓ 回调地址 {plain_base}wechat 通过了微信的签名校验"
    ));

    // The platform's domain check file, served by nginx from where the README puts it.
    std::fs::create_dir_all(dir.path().join("www")).unwrap();
    std::fs::write(dir.path().join("www/MP_verify_Abc123xyz.txt"), "Abc123xyz").unwrap();
    for origin in [base.clone(), format!("http://127.0.0.1:{http_port}")] {
        let check = shopper
            .get(format!("{origin}/MP_verify_Abc123xyz.txt"))
            .send()
            .await
            .unwrap();
        assert_eq!(check.status(), 200, "{origin}");
        assert_eq!(check.text().await.unwrap(), "Abc123xyz");
    }

    // The whole flow through nginx.
    let key = site_key_at(&shopper, &base, ADMIN_TOKEN).await;
    let token = create_order_at(&shopper, &base, &key).await;
    let ticket = ticket_at(&shopper, &base, &token).await;
    let scene = last_scene(&recorded);
    let now = chrono::Utc::now().timestamp();
    let pushed = push_signed_with(
        &shopper,
        &base,
        TOKEN,
        &scan_xml("oDeployFirst", "SCAN", &scene, Some(&ticket), now),
    )
    .await
    .unwrap();
    assert_eq!(pushed.status(), 200);
    assert_eq!(pushed.text().await.unwrap(), "success");
    let sends = wait_for_sends(&recorded, 1).await;
    let link = sends[0]["news"]["articles"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        link.starts_with(&public),
        "the message links through nginx: {link}"
    );
    let page = shopper.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.text().await.unwrap().contains("100"),
        "the quote page shows the price"
    );
    // Plain http: the callback answers there too; anything else goes to https.
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let moved = plain
        .get(format!("http://127.0.0.1:{http_port}/admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), 301);
    let over_http = push_signed_with(
        &plain,
        &format!("http://127.0.0.1:{http_port}"),
        TOKEN,
        &scan_xml("oDeployHttp", "SCAN", &scene, Some(&ticket), now),
    )
    .await
    .unwrap();
    assert_eq!(over_http.status(), 200);
    let css = shopper
        .get(format!("{base}/static/style.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
    let again = shopper
        .get(format!("{base}/static/style.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.headers()["x-cache"],
        "HIT",
        "static files are cached by nginx"
    );

    // The rate limit counts the client nginx saw: not nginx (127.0.0.2), and not what
    // the client wrote in X-Forwarded-For.
    // The limit is kept by each instance: two instances, five a minute each.
    let mut tokens = Vec::new();
    for _ in 0..13 {
        tokens.push(create_order_at(&shopper, &base, &key).await);
    }
    let mut statuses = Vec::new();
    for (i, token) in tokens.iter().take(12).enumerate() {
        let r = shopper
            .get(format!("{base}/api/orders/{token}/qrcode"))
            .header("x-forwarded-for", format!("10.0.0.{i}"))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    let made = statuses.iter().filter(|s| **s == 200).count();
    assert!(
        (5..=9).contains(&made) && statuses.last() == Some(&429),
        "one client, however it calls itself: {statuses:?}"
    );
    let neighbour = client("127.0.0.3");
    let theirs = neighbour
        .get(format!("{base}/api/orders/{}/qrcode", tokens[12]))
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), 200, "another client has its own budget");

    // A run of pushes, one instance restarted in the middle: every push answered,
    // every message sent, none twice.
    let n = 200usize;
    let openids: Vec<String> = (0..n).map(|i| format!("oDeploy{i:05}")).collect();
    let run = |some: Vec<String>| {
        let (shopper, base, scene, ticket) =
            (shopper.clone(), base.clone(), scene.clone(), ticket.clone());
        tokio::spawn(async move {
            join_all(
                some.into_iter()
                    .map(|openid| push_one(&shopper, &base, &scene, &ticket, openid)),
            )
            .await
        })
    };
    let first: Vec<u16> = run(openids[..n / 2].to_vec()).await.unwrap();
    let (status, took) = a.terminate();
    assert!(status.success(), "a drains and exits 0 on SIGTERM");
    assert!(took < Duration::from_secs(10), "{took:?}");
    let second = run(openids[n / 2..].to_vec());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _a_again = ServiceProcess::start(dir.path(), "a-restarted", &refs_a).await;
    let second: Vec<u16> = second.await.unwrap();
    assert!(
        first.iter().chain(&second).all(|s| *s == 200),
        "every push answered through nginx"
    );
    let sends = wait_for_sends(&recorded, n + 2).await;
    let to: Vec<String> = sends
        .iter()
        .map(|s| s["touser"].as_str().unwrap().to_owned())
        .filter(|o| o.starts_with("oDeploy0"))
        .collect();
    let distinct: HashSet<&String> = to.iter().collect();
    assert_eq!(distinct.len(), n, "every scan's message was sent");
    assert_eq!(
        to.len(),
        n,
        "and none twice (a drained SIGTERM leaves nothing in flight)"
    );
    let log = std::fs::read_to_string(dir.path().join("access.log")).unwrap();
    assert!(
        log.contains("POST /wechat"),
        "the pushes went through nginx"
    );
}

#[test]
fn the_systemd_units_verify() {
    let service = repo("deploy/scanquote.service");
    let text = std::fs::read_to_string(&service).unwrap();
    for needed in [
        "User=scanquote",
        "EnvironmentFile=/etc/scanquote/env",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/scanquote",
        "KillSignal=SIGTERM",
    ] {
        assert!(text.lines().any(|l| l == needed), "the unit has {needed}");
    }
    let backup = std::fs::read_to_string(repo("deploy/scanquote-backup.service")).unwrap();
    assert!(
        backup.contains("scanquote backup --force /var/lib/scanquote/backups/"),
        "the backup unit runs the backup command"
    );
    let units = [
        service,
        repo("deploy/scanquote-backup.service"),
        repo("deploy/scanquote-backup.timer"),
    ];
    let Ok(out) = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&units)
        .output()
    else {
        eprintln!("systemd-analyze not here: the unit's lines were checked only");
        return;
    };
    let said = String::from_utf8_lossy(&out.stderr);
    // The binary and the user exist only where it is installed; anything else is a fault
    // in the units.
    let faults: Vec<&str> = said
        .lines()
        .filter(|l| {
            let expected = l.contains("/usr/local/bin/scanquote")
                || (l.contains("scanquote") && l.contains("Failed to create"))
                || l.trim().is_empty();
            !expected
        })
        .collect();
    assert!(faults.is_empty(), "systemd-analyze verify: {said}");
}
