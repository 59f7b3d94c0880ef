use super::*;

fn event(event: &str, key: Option<&str>) -> String {
    let key = key
        .map(|k| format!("<EventKey><![CDATA[{k}]]></EventKey>"))
        .unwrap_or_default();
    format!(
        "<xml><ToUserName><![CDATA[gh_123]]></ToUserName>\
         <FromUserName><![CDATA[oUser_1-x]]></FromUserName><CreateTime>1700000000</CreateTime>\
         <MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event>{key}\
         <Ticket><![CDATA[gQH47joAAAAA+/=]]></Ticket></xml>"
    )
}

fn scan(push: Push) -> ScanEvent {
    match push {
        Push::Scan(s) => s,
        other => panic!("expected a scan, got {other:?}"),
    }
}

#[test]
fn subscribe_through_a_code_is_a_scan_by_a_new_follower() {
    let s = scan(parse(event("subscribe", Some("qrscene_123")).as_bytes()).unwrap());
    assert!(s.new_follower);
    assert_eq!(s.scene, Scene::Id(123));
    assert_eq!(s.openid, "oUser_1-x");
    assert_eq!(s.account, "gh_123");
    assert_eq!(s.create_time, 1_700_000_000);
    assert_eq!(s.ticket.as_deref(), Some("gQH47joAAAAA+/="));
}

#[test]
fn scan_by_a_follower_carries_the_bare_scene() {
    let s = scan(parse(event("SCAN", Some("4294967295")).as_bytes()).unwrap());
    assert!(!s.new_follower);
    assert_eq!(s.scene, Scene::Id(u32::MAX));
}

#[test]
fn scene_strings_and_out_of_range_numbers_stay_strings() {
    assert_eq!(Scene::parse("promo-7"), Some(Scene::Str("promo-7".into())));
    assert_eq!(
        Scene::parse("4294967296"),
        Some(Scene::Str("4294967296".into()))
    );
    assert_eq!(Scene::parse("0"), Some(Scene::Str("0".into())));
    assert_eq!(Scene::parse("007"), Some(Scene::Str("007".into())));
    assert_eq!(Scene::parse(""), None);
    assert_eq!(Scene::parse(&"x".repeat(65)), None);
}

#[test]
fn plain_follow_and_text_are_other_and_an_unfollow_is_itself() {
    assert!(matches!(
        parse(event("unsubscribe", None).as_bytes()).unwrap(),
        Push::Unsubscribe { create_time, .. } if create_time > 0
    ));
    for body in [event("subscribe", None), event("VIEW", Some("http://x"))] {
        assert!(
            matches!(parse(body.as_bytes()).unwrap(), Push::Other { .. }),
            "{body}"
        );
    }
    let text = "<xml><ToUserName>gh_1</ToUserName><FromUserName>o1</FromUserName>\
                <CreateTime>1</CreateTime><MsgType>text</MsgType><Content>hi</Content><MsgId>12</MsgId></xml>";
    assert!(matches!(
        parse(text.as_bytes()).unwrap(),
        Push::Other { .. }
    ));
}

#[test]
fn identity_separates_events_but_not_retries() {
    let a = scan(parse(event("SCAN", Some("5")).as_bytes()).unwrap());
    let b = scan(parse(event("SCAN", Some("5")).as_bytes()).unwrap());
    let c = scan(parse(event("subscribe", Some("qrscene_5")).as_bytes()).unwrap());
    assert_eq!(a.identity(), b.identity());
    assert_ne!(a.identity(), c.identity());
}

#[test]
fn malformed_pushes_say_why() {
    let cases = [
        ("", "empty"),
        ("<xml><ToUserName>gh</ToUserName", "invalid XML"),
        ("not xml at all", "invalid XML"),
        (
            "<xml><FromUserName>o</FromUserName><CreateTime>1</CreateTime><MsgType>event</MsgType></xml>",
            "ToUserName is missing",
        ),
        (
            "<xml><ToUserName>gh</ToUserName><FromUserName>o</FromUserName><CreateTime>x</CreateTime><MsgType>event</MsgType></xml>",
            "CreateTime",
        ),
        (
            "<xml><ToUserName>gh</ToUserName><FromUserName>o p</FromUserName><CreateTime>1</CreateTime><MsgType>event</MsgType></xml>",
            "FromUserName is not",
        ),
        (
            "<xml><ToUserName>gh</ToUserName><FromUserName>o</FromUserName><CreateTime>1</CreateTime></xml>",
            "MsgType",
        ),
    ];
    for (body, reason) in cases {
        let err = parse(body.as_bytes()).unwrap_err();
        assert!(err.0.contains(reason), "{body:?}: {err}");
    }
    let long_key = event("SCAN", Some(&"k".repeat(65)));
    assert!(
        parse(long_key.as_bytes())
            .unwrap_err()
            .0
            .contains("EventKey")
    );
    assert!(
        parse(event("SCAN", None).as_bytes())
            .unwrap_err()
            .0
            .contains("EventKey")
    );
    assert!(parse(&[0xff, 0xfe, b'<']).unwrap_err().0.contains("UTF-8"));
}

#[test]
fn entity_declarations_and_deep_or_huge_documents_are_refused() {
    let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><xml><ToUserName>&lol2;</ToUserName></xml>"#;
    assert!(parse(bomb.as_bytes()).unwrap_err().0.contains("DOCTYPE"));
    let external = r#"<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><ToUserName>&xxe;</ToUserName></xml>"#;
    assert!(
        parse(external.as_bytes())
            .unwrap_err()
            .0
            .contains("DOCTYPE")
    );
    let undeclared = "<xml><ToUserName>&xxe;</ToUserName><FromUserName>o</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType></xml>";
    assert!(parse(undeclared.as_bytes()).is_err());
    let deep = format!("<xml>{}{}</xml>", "<a>".repeat(50), "</a>".repeat(50));
    assert!(parse(deep.as_bytes()).unwrap_err().0.contains("nested"));
    let wide = format!("<xml>{}</xml>", "<a/>".repeat(1000));
    assert!(parse(wide.as_bytes()).unwrap_err().0.contains("too many"));
}

#[test]
fn fields_are_read_as_xml_says_and_odd_documents_refused() {
    let laid_out = "<?xml version=\"1.0\"?>\n<!-- a push -->\n<xml>\n  <ToUserName>\n    <![CDATA[gh_1]]>\n  </ToUserName>\n  \
         <FromUserName> o&#95;1 </FromUserName>\n  <CreateTime>1700000000</CreateTime>\n  \
         <Extra><Nested a=\"1\"><Deeper/></Nested></Extra>\n  <MsgType>text &amp; more</MsgType>\n</xml>\n";
    let [to, from, time, kind, missing] = read_fields(
        laid_out.as_bytes(),
        [
            "ToUserName",
            "FromUserName",
            "CreateTime",
            "MsgType",
            "Event",
        ],
    )
    .unwrap();
    assert_eq!(to.as_deref(), Some("gh_1"));
    assert_eq!(from.as_deref(), Some("o_1"));
    assert_eq!(time.as_deref(), Some("1700000000"));
    assert_eq!(kind.as_deref(), Some("text & more"));
    assert_eq!(missing, None);
    let [kept] = read_fields(b"<xml><A><![CDATA[ x ]]></A></xml>", ["A"]).unwrap();
    assert_eq!(kept.as_deref(), Some(" x "), "CDATA is kept as it is");
    let [spaced] = read_fields(b"<xml><A> x &amp; &amp; y </A></xml>", ["A"]).unwrap();
    assert_eq!(
        spaced.as_deref(),
        Some("x & & y"),
        "inner spaces are content"
    );
    let [mixed] = read_fields(
        b"<xml><A>\n <![CDATA[x]]> &lt; <![CDATA[y]]>\n</A></xml>",
        ["A"],
    )
    .unwrap();
    assert_eq!(
        mixed.as_deref(),
        Some("x <y"),
        "blanks before CDATA are layout"
    );
    let [empty] = read_fields(b"<xml><A/></xml>", ["A"]).unwrap();
    assert_eq!(empty.as_deref(), Some(""));

    for (body, reason) in [
        ("<xml><A>1</A><A>2</A></xml>", "duplicate field `A`"),
        ("<xml><A><b>1</b></A></xml>", "A holds an element"),
        ("<xml/><xml/>", "more than one root"),
        ("text<xml/>", "outside the root"),
        ("<xml/>&amp;", "outside the root"),
        ("<xml><A>&bogus;</A></xml>", "unknown entity"),
        ("<xml><A>1</A>", "not closed"),
        ("<!-- only a comment -->", "no root element"),
        ("<xml><A>1</B></xml>", "invalid XML"),
    ] {
        let err = read_fields(body.as_bytes(), ["A"]).unwrap_err();
        assert!(err.0.contains(reason), "{body}: {err}");
    }
}

#[test]
fn the_encrypt_field_is_found_in_safe_and_compatible_envelopes() {
    let safe =
        "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><Encrypt><![CDATA[abc=]]></Encrypt></xml>";
    assert_eq!(encrypted_part(safe.as_bytes()).unwrap(), "abc=");
    let compatible = format!(
        "{}<Encrypt><![CDATA[xyz]]></Encrypt></xml>",
        event("SCAN", Some("1")).trim_end_matches("</xml>")
    );
    assert_eq!(encrypted_part(compatible.as_bytes()).unwrap(), "xyz");
    assert!(
        encrypted_part(event("SCAN", Some("1")).as_bytes())
            .unwrap_err()
            .0
            .contains("Encrypt")
    );
}

mod fuzz {
    use super::super::*;
    use proptest::prelude::*;

    fn valid() -> String {
        "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName>\
         <CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[SCAN]]></Event>\
         <EventKey><![CDATA[42]]></EventKey><Ticket><![CDATA[t]]></Ticket></xml>".to_owned()
    }

    proptest! {
        #[test]
        fn fields_read_as_quick_xmls_deserializer_reads_them(
            values in proptest::collection::vec(
                proptest::option::of("([a-zA-Z0-9_+/=.-]([ a-zA-Z0-9_+/=.-]{0,18}[a-zA-Z0-9_+/=.-])?)?"),
                3,
            ),
            cdata in any::<[bool; 3]>(),
            extra in any::<bool>(),
        ) {
            #[derive(serde::Deserialize)]
            #[serde(rename_all = "PascalCase")]
            struct Fields { to_user_name: Option<String>, event_key: Option<String>, ticket: Option<String> }
            let names = ["ToUserName", "EventKey", "Ticket"];
            // Compact, as WeChat writes it: around text, the two differ on purpose.
            let mut doc = String::from("<xml>");
            for ((name, value), cdata) in names.iter().zip(&values).zip(cdata) {
                if let Some(v) = value {
                    let v = if cdata { format!("<![CDATA[{v}]]>") } else { v.clone() };
                    doc.push_str(&format!("<{name}>{v}</{name}>"));
                }
                if extra {
                    doc.push_str("<Other><Inner>x</Inner></Other>");
                }
            }
            doc.push_str("</xml>");
            let ours = read_fields(doc.as_bytes(), names).unwrap();
            let theirs: Fields = quick_xml::de::from_str(&doc).unwrap();
            prop_assert_eq!(
                ours,
                [theirs.to_user_name, theirs.event_key, theirs.ticket],
                "{}", doc
            );
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = parse(&bytes);
            let _ = encrypted_part(&bytes);
        }

        #[test]
        fn mutated_pushes_never_panic(cut in 0usize..400, insert in ".{0,40}", flip in any::<(usize, u8)>()) {
            let mut doc = valid().into_bytes();
            let at = cut.min(doc.len());
            doc.splice(at..at, insert.bytes());
            let i = flip.0 % doc.len();
            doc[i] ^= flip.1;
            let _ = parse(&doc);
            let _ = encrypted_part(&doc);
        }
    }
}
