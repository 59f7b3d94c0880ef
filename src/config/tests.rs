use super::*;
use std::collections::HashMap;

fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(|k| map.get(k).cloned())
}

#[test]
fn no_credentials_means_sandbox_with_defaults() {
    let c = config(&[]).unwrap();
    assert!(c.wechat.sandbox);
    assert_eq!(c.bind_addr.to_string(), "127.0.0.1:8080");
    assert_eq!(c.database_url, "sqlite://scanquote.db?mode=rwc");
}

#[test]
fn the_sandbox_stays_on_loopback_unless_told() {
    let e = config(&[("BIND_ADDR", "0.0.0.0:8080")]).unwrap_err();
    assert_eq!(e.variable, "BIND_ADDR");
    assert!(e.reason.contains("SANDBOX_ALLOW_PUBLIC"), "{e}");
    assert!(config(&[("BIND_ADDR", "[::]:8080")]).is_err());
    assert!(config(&[("BIND_ADDR", "[::1]:8080")]).is_ok());
    assert!(
        config(&[
            ("BIND_ADDR", "0.0.0.0:8080"),
            ("SANDBOX_ALLOW_PUBLIC", "true")
        ])
        .is_ok()
    );
    let real = [
        ("BIND_ADDR", "0.0.0.0:8080"),
        ("WECHAT_APP_ID", "wx1"),
        ("WECHAT_APP_SECRET", "s"),
        ("WECHAT_TOKEN", "tok123"),
    ];
    assert!(
        config(&real).is_ok(),
        "real credentials may listen anywhere"
    );
}

#[test]
fn sqlite_durability_is_one_of_two_words_and_only_for_sqlite() {
    let name = |vars: &[(&str, &str)]| config(vars).unwrap_err().variable;
    assert_eq!(config(&[]).unwrap().sqlite_synchronous, Synchronous::Full);
    let normal = config(&[("SQLITE_SYNCHRONOUS", "NORMAL")]).unwrap();
    assert_eq!(normal.sqlite_synchronous, Synchronous::Normal);
    assert_eq!(name(&[("SQLITE_SYNCHRONOUS", "off")]), "SQLITE_SYNCHRONOUS");
    assert_eq!(
        name(&[
            ("SQLITE_SYNCHRONOUS", "normal"),
            ("DATABASE_URL", "mysql://root@127.0.0.1/test")
        ]),
        "SQLITE_SYNCHRONOUS"
    );
}

#[test]
fn the_delivery_guarantee_is_one_of_two_words() {
    assert_eq!(
        config(&[]).unwrap().delivery_guarantee,
        Guarantee::AtLeastOnce
    );
    let c = config(&[("DELIVERY_GUARANTEE", "at-most-once")]).unwrap();
    assert_eq!(c.delivery_guarantee, Guarantee::AtMostOnce);
    let e = config(&[("DELIVERY_GUARANTEE", "exactly-once")]).unwrap_err();
    assert_eq!(e.variable, "DELIVERY_GUARANTEE");
}

#[test]
fn the_original_id_must_look_like_one() {
    let c = config(&[("WECHAT_ORIGINAL_ID", "gh_1234567890ab")]).unwrap();
    assert_eq!(c.wechat.original_id.as_deref(), Some("gh_1234567890ab"));
    for bad in ["wx1234", "gh_ab cd", "gh_<script>"] {
        let e = config(&[("WECHAT_ORIGINAL_ID", bad)]).unwrap_err();
        assert_eq!(e.variable, "WECHAT_ORIGINAL_ID", "{bad}");
    }
}

#[test]
fn half_set_credentials_name_the_missing_variable() {
    let e = config(&[("WECHAT_APP_ID", "wx123")]).unwrap_err();
    assert_eq!(e.variable, "WECHAT_APP_SECRET");
    let e = config(&[("WECHAT_APP_SECRET", "s")]).unwrap_err();
    assert_eq!(e.variable, "WECHAT_APP_ID");
    let e = config(&[("WECHAT_APP_ID", "wx123"), ("WECHAT_APP_SECRET", "s")]).unwrap_err();
    assert_eq!(e.variable, "WECHAT_TOKEN");
}

#[test]
fn real_credentials_default_to_the_real_api() {
    let c = config(&[
        ("WECHAT_APP_ID", "wx1"),
        ("WECHAT_APP_SECRET", "s"),
        ("WECHAT_TOKEN", "tok123"),
    ])
    .unwrap();
    assert!(!c.wechat.sandbox);
    assert_eq!(
        c.wechat.api_base.unwrap().as_str(),
        "https://api.weixin.qq.com/"
    );
}

#[test]
fn bad_values_are_refused_by_name() {
    assert_eq!(
        config(&[("BIND_ADDR", "nope")]).unwrap_err().variable,
        "BIND_ADDR"
    );
    assert_eq!(
        config(&[("PUBLIC_BASE_URL", "ftp://x")])
            .unwrap_err()
            .variable,
        "PUBLIC_BASE_URL"
    );
    assert_eq!(
        config(&[("DATABASE_URL", "postgres://x")])
            .unwrap_err()
            .variable,
        "DATABASE_URL"
    );
    assert_eq!(
        config(&[("WECHAT_ENCODING_AES_KEY", "short")])
            .unwrap_err()
            .variable,
        "WECHAT_ENCODING_AES_KEY"
    );
}

#[test]
fn debug_output_redacts_secrets() {
    let c = config(&[
        ("WECHAT_APP_ID", "wx1"),
        ("WECHAT_APP_SECRET", "topsecret"),
        ("WECHAT_TOKEN", "tok123"),
    ])
    .unwrap();
    let shown = format!("{c:?}");
    assert!(
        !shown.contains("topsecret") && !shown.contains("tok123"),
        "{shown}"
    );
}

#[test]
fn new_settings_are_checked_by_name() {
    let name = |vars: &[(&str, &str)]| config(vars).unwrap_err().variable;
    assert_eq!(
        name(&[("WECHAT_ENCODING_AES_KEY", &"*".repeat(43))]),
        "WECHAT_ENCODING_AES_KEY"
    );
    assert_eq!(
        name(&[(
            "WECHAT_ENCODING_AES_KEY_PREVIOUS",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
        )]),
        "WECHAT_ENCODING_AES_KEY_PREVIOUS"
    );
    assert_eq!(name(&[("ADMIN_TOKEN", "short")]), "ADMIN_TOKEN");
    assert_eq!(
        name(&[("RATE_LIMIT_PER_MINUTE", "-1")]),
        "RATE_LIMIT_PER_MINUTE"
    );
    assert_eq!(
        name(&[("WECHAT_TIMESTAMP_WINDOW_SECONDS", "soon")]),
        "WECHAT_TIMESTAMP_WINDOW_SECONDS"
    );
    assert_eq!(
        name(&[("TRUST_FORWARDED_FOR", "maybe")]),
        "TRUST_FORWARDED_FOR"
    );
    assert_eq!(
        name(&[("EMBED_ORIGINS", "https://shop.example/page")]),
        "EMBED_ORIGINS"
    );
    assert_eq!(name(&[("DEMO_SHOP", "perhaps")]), "DEMO_SHOP");
    assert_eq!(
        name(&[("WECHAT_ALLOW_PLAINTEXT", "true")]),
        "WECHAT_ALLOW_PLAINTEXT",
        "no key: there is nothing to allow"
    );
}

#[test]
fn embed_origins_and_the_demo_shop() {
    let c = config(&[(
        "EMBED_ORIGINS",
        "https://shop.example, http://127.0.0.1:8000/",
    )])
    .unwrap();
    assert_eq!(
        c.embed_origins,
        ["https://shop.example", "http://127.0.0.1:8000"]
    );
    assert!(c.demo_shop, "the sandbox shows its demo shop");
    let real = config(&[
        ("WECHAT_APP_ID", "wx1"),
        ("WECHAT_APP_SECRET", "s"),
        ("WECHAT_TOKEN", "tok123"),
    ])
    .unwrap();
    assert!(!real.demo_shop, "a real account's / is no order form");
}

#[test]
fn an_aes_key_enables_encrypted_mode() {
    let c = config(&[(
        "WECHAT_ENCODING_AES_KEY",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    )])
    .unwrap();
    assert!(c.wechat.aes.is_some_and(|k| k.previous.is_none()));
    assert_eq!(c.timestamp_window_secs, 300);
    assert_eq!(c.rate_limit_per_minute, 60);
}

#[test]
fn no_secret_shows_in_debug_output() {
    let c = config(&[
        ("WECHAT_APP_ID", "wx1"),
        ("WECHAT_APP_SECRET", "topsecret"),
        ("WECHAT_TOKEN", "tok123"),
        (
            "WECHAT_ENCODING_AES_KEY",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        ),
        ("ADMIN_TOKEN", "admin-token-0123456789"),
        ("LINK_SECRET", "link-secret-value"),
    ])
    .unwrap();
    let shown = format!("{c:?}");
    for secret in [
        "topsecret",
        "tok123",
        "abcdefghijklmnop",
        "admin-token-0123456789",
        "link-secret-value",
    ] {
        assert!(!shown.contains(secret), "{secret} leaked: {shown}");
    }
}
