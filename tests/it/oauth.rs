//! Web authorization on the quote page, through the sandbox's authorize page.

use reqwest::header::{COOKIE, LOCATION, USER_AGENT};

use crate::db_test;
use crate::support::TestApp;

const IN_WECHAT: &str =
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) MicroMessenger/8.0.50";

/// A quote link for `nickname`'s scan of a fresh order.
async fn link_for(app: &TestApp, nickname: &str) -> (String, String) {
    let order = app.new_order().await;
    let ticket = app.ticket(&order).await;
    let openid = app.sandbox_user(nickname).await;
    app.sandbox_scan(&openid, &ticket).await;
    let url = app.wait_for_inbox(&openid, 1).await[0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    (openid, url)
}

/// Opens `url` inside WeChat; returns status, Location and body.
async fn open(app: &TestApp, url: &str, cookies: &str) -> (u16, Option<String>, String) {
    let mut req = app.http.get(url).header(USER_AGENT, IN_WECHAT);
    if !cookies.is_empty() {
        req = req.header(COOKIE, cookies);
    }
    let r = req.send().await.unwrap();
    let location = r
        .headers()
        .get(LOCATION)
        .map(|v| v.to_str().unwrap().to_owned());
    (r.status().as_u16(), location, r.text().await.unwrap())
}

/// Answers the sandbox's consent page as `openid`; returns where WeChat sends them.
async fn consent(app: &TestApp, authorize: &str, openid: &str, decision: &str) -> String {
    let page = app.http.get(authorize).send().await.unwrap();
    assert_eq!(page.status(), 200, "{authorize}");
    let q: Vec<(String, String)> = url::Url::parse(authorize)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).unwrap().1.clone();
    assert_eq!(get("scope"), "snsapi_userinfo");
    let r = app
        .http
        .post(app.url("/sandbox/connect/oauth2/consent"))
        .form(&[
            ("openid", openid),
            ("decision", decision),
            ("redirect_uri", &get("redirect_uri")),
            ("state", &get("state")),
        ])
        .send()
        .await
        .unwrap();
    r.headers()[LOCATION].to_str().unwrap().to_owned()
}

db_test! {
    async fn the_owner_consents_once_and_everyone_then_sees_their_profile(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let (owner, link) = link_for(&app, "小红").await;

        let (status, authorize, _) = open(&app, &link, "").await;
        assert_eq!(status, 303, "inside WeChat, an unknown profile asks for authorization");
        let authorize = authorize.unwrap();
        assert!(authorize.contains("/sandbox/connect/oauth2/authorize?appid="), "{authorize}");
        let back = consent(&app, &authorize, &owner, "allow").await;
        assert!(back.contains("/oauth/callback?code="), "{back}");
        let (status, to_page, _) = open(&app, &back, "").await;
        assert_eq!(status, 303);
        assert_eq!(to_page.as_deref(), Some(link.as_str()));
        let (status, _, page) = open(&app, &link, "sq_oauth_tried=1").await;
        assert_eq!(status, 200);
        assert!(page.contains("小红") && page.contains("avatars"), "the owner's nickname and avatar");

        // A friend opening the shared link (in WeChat, no cookies) is not asked at all.
        let (status, _, page) = open(&app, &link, "").await;
        assert_eq!(status, 200);
        assert!(page.contains("小红"));

        // The state worked once.
        let (status, _, _) = open(&app, &back, "").await;
        assert_eq!(status, 404);
        app.stop().await;
    }
}

db_test! {
    async fn a_friend_who_consents_is_never_taken_for_the_owner(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let (_owner, link) = link_for(&app, "主人").await;
        let friend = app.sandbox_user("朋友").await;

        let (_, authorize, _) = open(&app, &link, "").await;
        let back = consent(&app, &authorize.unwrap(), &friend, "allow").await;
        let (status, to_page, _) = open(&app, &back, "").await;

        assert_eq!((status, to_page.as_deref()), (303, Some(link.as_str())));
        let (_, _, page) = open(&app, &link, "sq_oauth_tried=1").await;
        assert!(!page.contains("朋友"), "the friend's profile is not shown as the owner's");
        assert!(page.contains("微信用户"));
        app.stop().await;
    }
}

db_test! {
    async fn declining_or_forging_leaves_a_working_neutral_page(db: TestDb) {
        let app = TestApp::spawn(db).await;
        let (owner, link) = link_for(&app, "拒绝者").await;

        let (_, authorize, _) = open(&app, &link, "").await;
        let back = consent(&app, &authorize.unwrap(), &owner, "deny").await;
        assert!(!back.contains("code="));
        let (status, to_page, _) = open(&app, &back, "").await;
        assert_eq!((status, to_page.as_deref()), (303, Some(link.as_str())));
        let (status, _, page) = open(&app, &link, "sq_oauth_tried=1").await;
        assert_eq!(status, 200, "no second request for consent in this browser");
        assert!(page.contains("微信用户") && page.contains("12800 元"));

        for forged in ["/oauth/callback?code=x&state=AAAAAAAAAAAAAAAAAAAA0000000000000000", "/oauth/callback?code=x", "/oauth/callback?state=%3Cscript%3E"] {
            let (status, _, _) = open(&app, &app.url(forged), "").await;
            assert_eq!(status, 404, "{forged}");
        }
        // Outside WeChat nobody is asked.
        let r = app.http.get(&link).send().await.unwrap();
        assert_eq!(r.status(), 200);
        app.stop().await;
    }
}
