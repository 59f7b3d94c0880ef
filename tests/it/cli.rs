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
