//! Connections that cannot starve the service: headers within 10 s (an idle keep-alive
//! connection too), a body within 30 s of its headers, and a cap on connections that
//! answers 503 rather than hang.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::db_test;
use crate::support::TestApp;

async fn open(app: &TestApp, first_bytes: &str) -> TcpStream {
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(first_bytes.as_bytes()).await.unwrap();
    stream
}

/// Reads until the server closes; what it said, and when it closed.
async fn until_closed(mut stream: TcpStream, started: Instant) -> (String, Duration) {
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(40), stream.read_to_end(&mut got)).await;
    (
        String::from_utf8_lossy(&got).into_owned(),
        started.elapsed(),
    )
}

db_test! {
    async fn slow_and_idle_connections_are_closed_and_a_full_house_answers_503(db: TestDb) {
        let app = TestApp::spawn_with(db, &[("MAX_CONNECTIONS", "16")]).await;
        let started = Instant::now();
        // One that sends its headers but only part of the body it announced.
        let slow_body = open(&app, "POST /wechat?timestamp=1&nonce=1&signature=x HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n<xml>").await;
        // One that asked once and then sits on the open connection.
        let mut idle = open(&app, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n").await;
        let mut first = [0u8; 12];
        idle.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"HTTP/1.1 200");
        // And fourteen that never finish their headers.
        let mut slow_headers = Vec::new();
        for _ in 0..14 {
            slow_headers.push(open(&app, "GET /healthz HTTP/1.1\r\nHost: t\r\n").await);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;

        let fresh = reqwest::Client::new();
        let asked = Instant::now();
        let full = fresh.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(full.status(), 503, "the seventeenth connection");
        assert!(full.headers().contains_key("retry-after"));
        assert!(asked.elapsed() < Duration::from_secs(2), "answered, not left waiting");

        let closes = futures::future::join_all(slow_headers.into_iter().chain([idle]).map(|s| until_closed(s, started))).await;
        for (said, after) in &closes {
            assert!(*after < Duration::from_secs(11), "closed after {after:?} ({said:?})");
            assert!(*after > Duration::from_secs(9), "not before its 10 s ({after:?})");
        }
        let r = reqwest::Client::new().get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(r.status(), 200, "room again once they are gone");

        let (said, after) = until_closed(slow_body, started).await;
        assert!(said.starts_with("HTTP/1.1 408"), "{said}");
        assert!(after < Duration::from_secs(32) && after > Duration::from_secs(29), "{after:?}");
        assert_eq!(app.count("scans").await, 0);
        app.stop().await;
    }
}
