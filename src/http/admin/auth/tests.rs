use super::*;

#[test]
fn session_cookies_verify_only_under_their_token_and_until_they_expire() {
    let key = AdminKey::from_token("correct horse battery staple");
    let expires = now_ms() + 60_000;
    let cookie = key.session_cookie("abc", expires);
    assert_eq!(key.signed_session(&cookie), Some("abc"));
    assert_eq!(
        AdminKey::from_token("another token, longer").signed_session(&cookie),
        None
    );
    let mac = cookie.rsplit_once('.').unwrap().1;
    assert_eq!(
        key.signed_session(&format!("abc.{}.{mac}", expires + 1)),
        None,
        "the expiry is signed"
    );
    assert_eq!(
        key.signed_session(&format!("abd.{expires}.{mac}")),
        None,
        "the id is signed"
    );
    let past = now_ms() - 1;
    assert_eq!(key.signed_session(&key.session_cookie("abc", past)), None);
    assert_eq!(key.signed_session("garbage"), None);
}

#[test]
fn the_token_is_compared_by_hash() {
    let key = AdminKey::from_token("correct horse battery staple");
    assert!(key.accepts("correct horse battery staple"));
    assert!(!key.accepts("correct horse battery stapl"));
    assert!(!key.accepts(""));
}
