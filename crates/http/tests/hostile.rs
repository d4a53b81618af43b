//! Requests an attacker shapes by hand: notifications that would call a
//! tool, ambiguous `Host` headers, bodies sent a byte at a time. Some are
//! written on a raw TCP stream, since a well-behaved client cannot send
//! them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Writes `head` (and `body`), and reads the answer until the server
/// closes or 5 s pass.
async fn raw(h: &Harness, head: &str, body: &[u8]) -> String {
    let address = h.url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_denied_call_sent_as_a_notification_gets_403_without_a_body() {
    for denial in [
        mcp_policy_http::Denial::StepUp,
        mcp_policy_http::Denial::ToolError,
        mcp_policy_http::Denial::AsUnknown,
    ] {
        let h = start(|c| c.denial = denial).await;
        let token = h.token("mcp:read");
        let notification = json!({"jsonrpc": "2.0", "method": "tools/call",
                                  "params": {"name": "delete_repo", "arguments": {}}});
        let response = h.post(Some(&token), &notification).await;
        assert_eq!(response.status(), 403, "{denial:?}");
        // No challenge: nobody reads the answer to a notification.
        assert!(challenge(&response).is_none(), "{denial:?}");
        assert_eq!(response.text().await.unwrap(), "", "{denial:?}");
        // What no scope allows, alike.
        let never = json!({"jsonrpc": "2.0", "method": "tools/call",
                           "params": {"name": "debug_dump_all"}});
        let response = h.post(Some(&token), &never).await;
        assert_eq!(response.status(), 403);
        assert_eq!(response.text().await.unwrap(), "");
    }
}

#[tokio::test]
async fn two_host_headers_are_a_bad_request() {
    let h = start(|_| {}).await;
    let token = h.token("mcp:read");
    let body = call(1, "search").to_string();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let answer = raw(&h, &head, body.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    // One `Host`, the same request: served.
    let head = head.replace("Host: evil.example\r\n", "");
    let answer = raw(&h, &head, body.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn an_absolute_target_naming_a_foreign_host_is_refused() {
    let h = start(|_| {}).await;
    let token = h.token("mcp:read");
    let body = call(1, "search").to_string();
    let head = format!(
        "POST http://evil.example/mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let answer = raw(&h, &head, body.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
}

#[tokio::test]
async fn a_body_sent_too_slowly_is_answered_408() {
    let h = start(|c| c.body_read_timeout = Duration::from_millis(300)).await;
    let token = h.token("mcp:read");
    let address = h.url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    // A byte every 50 ms: the whole body would take 50 s.
    let mut answer = vec![0; 4096];
    let read = loop {
        tokio::select! {
            read = stream.read(&mut answer) => break read.unwrap(),
            () = tokio::time::sleep(Duration::from_millis(50)) => {
                let _ = stream.write_all(b" ").await;
            }
        }
    };
    let answer = String::from_utf8_lossy(&answer[..read]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_body_with_a_duplicate_key_is_a_parse_error_before_any_decision() {
    let h = start(|_| {}).await;
    let token = h.token("mcp:admin");
    // Even a token that may call both tools: the body is refused, not
    // decided, since the server might read the other name.
    for body in [
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","name":"delete_repo"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"tools/list"}"#,
        r#"[{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":"a","cursor":"b"}}]"#,
    ] {
        let response = h
            .client
            .post(format!("{}/mcp", h.url))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let answer = json_of(response).await;
        assert_eq!(answer["error"]["code"], mcp_policy_http::PARSE_ERROR_CODE);
        assert_eq!(
            answer["error"]["message"],
            mcp_policy_http::DUPLICATE_KEY_MESSAGE
        );
        assert_eq!(answer["id"], serde_json::Value::Null);
    }
    // The same keys in different objects are no duplicate.
    let fine = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{"name":"x","params":{"name":"y"}}}}"#;
    let response = h
        .client
        .post(format!("{}/mcp", h.url))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(fine)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// The server's GET stream: a replayed `tools/list` answer (an earlier
/// POST's, resumed with `Last-Event-ID`), filtered; and other GET pages of
/// the application the layer is mounted over, untouched.
#[tokio::test]
async fn get_streams_are_filtered_and_other_pages_left_alone() {
    use axum::response::IntoResponse;
    let key = rsa("rsa-1.pem");
    let layer = mcp_policy_http::PolicyLayer::new(
        validator_for(&key),
        mcp_policy_evaluator::Evaluator::from_source(POLICY).unwrap(),
        mcp_policy_http::HttpConfig::new([ISS]),
    )
    .unwrap();
    let replay = json!({"jsonrpc": "2.0", "id": 41, "result": {"tools": tools()}});
    let app = axum::Router::new()
        .route(
            "/mcp",
            axum::routing::get(move || async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "text/event-stream")],
                    format!("id: 7\ndata: {replay}\n\n"),
                )
                    .into_response()
            }),
        )
        .route(
            "/page",
            axum::routing::get(|| async {
                (
                    [(axum::http::header::CONTENT_TYPE, "text/html")],
                    "<p>delete_repo</p>",
                )
                    .into_response()
            }),
        )
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = reqwest::Client::new();
    let token = sign(&key, "mcp:read");

    let stream = client
        .get(format!("http://{address}/mcp"))
        .bearer_auth(&token)
        .header("last-event-id", "6")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let text = stream.text().await.unwrap();
    assert!(text.starts_with("id: 7\n"), "{text}");
    let data = text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
    let answer: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(names(&answer["result"]["tools"]), ["search", "debug_echo"]);

    let page = client
        .get(format!("http://{address}/page"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.text().await.unwrap(), "<p>delete_repo</p>");
}
