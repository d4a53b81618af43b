//! `mcp-policy proxy` in front of an MCP server over Streamable HTTP, end to
//! end on 127.0.0.1: a real proxy (the same stack the command serves), a
//! real HTTP upstream that records every request it receives, real signed
//! tokens. What was denied is asserted on the upstream's record, not only
//! on the answers the client gets.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../http/tests/common/mod.rs"]
mod common;
mod support;

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use common::{RESOURCE, call, json_of, list, names, sign};
use mcp_policy_proxy::Upstream;
use serde_json::{Value, json};
use support::initialize;
use support::start_proxy;

// ---- the upstream: an MCP server that records what reaches it ----

#[derive(Clone, Debug)]
struct Seen {
    method: String,
    rpc: String,
    headers: HeaderMap,
}

#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Recorder {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
    fn calls(&self) -> Vec<String> {
        self.seen()
            .into_iter()
            .filter(|s| s.rpc.starts_with("tools/call "))
            .map(|s| s.rpc)
            .collect()
    }
}

/// An SSE body: one event at once, the next after `gap`.
struct TwoEvents {
    sent: u8,
    gap: Pin<Box<tokio::time::Sleep>>,
}

impl http_body::Body for TwoEvents {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let event = |n: u8| {
            let message = json!({"jsonrpc": "2.0", "method": "notifications/progress",
                                 "params": {"progress": n}});
            Some(Ok(http_body::Frame::data(Bytes::from(format!(
                "id: {n}\nevent: message\ndata: {message}\n\n"
            )))))
        };
        match self.sent {
            0 => {
                self.sent = 1;
                Poll::Ready(event(1))
            }
            1 => match self.gap.as_mut().poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(()) => {
                    self.sent = 2;
                    Poll::Ready(event(2))
                }
            },
            _ => Poll::Ready(None),
        }
    }
}

use std::future::Future;

async fn upstream_mcp(
    State(upstream): State<Recorder>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let message: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let rpc = match message["method"].as_str() {
        Some("tools/call") => format!(
            "tools/call {}",
            message["params"]["name"].as_str().unwrap_or("")
        ),
        Some(other) => other.to_owned(),
        None => String::new(),
    };
    upstream.seen.lock().unwrap().push(Seen {
        method: method.to_string(),
        rpc: rpc.clone(),
        headers: headers.clone(),
    });
    let id = message["id"].clone();
    let json = |value: Value| {
        (
            [(header::CONTENT_TYPE, "application/json")],
            value.to_string(),
        )
            .into_response()
    };
    match (method, rpc.as_str()) {
        (Method::DELETE, _) => StatusCode::ACCEPTED.into_response(),
        (Method::GET, _) => (
            [(header::CONTENT_TYPE, "text/event-stream")],
            format!(
                "id: 8\nevent: message\ndata: {}\n\n",
                json!({"jsonrpc": "2.0", "method": "notifications/message",
                       "params": {"level": "info", "data": "resumed"}})
            ),
        )
            .into_response(),
        (_, "initialize") => (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::HeaderName::from_static("mcp-session-id"), "up-1"),
                (
                    header::HeaderName::from_static("set-cookie"),
                    "upstream=secret",
                ),
            ],
            json!({"jsonrpc": "2.0", "id": id, "result": {"protocolVersion": "2025-06-18",
                   "capabilities": {"tools": {}}, "serverInfo": {"name": "up", "version": "0"}}})
            .to_string(),
        )
            .into_response(),
        (_, "tools/list") => json(json!({"jsonrpc": "2.0", "id": id,
                                         "result": {"tools": common::tools()}})),
        (_, "tools/call debug_crash") => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "panic at /srv/secret/path.rs:12 DATABASE_PASSWORD=hunter2",
        )
            .into_response(),
        (_, "tools/call debug_hang") => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            StatusCode::OK.into_response()
        }
        (_, "tools/call debug_echo") => (
            [(header::CONTENT_TYPE, "text/event-stream")],
            Body::new(TwoEvents {
                sent: 0,
                gap: Box::pin(tokio::time::sleep(Duration::from_millis(800))),
            }),
        )
            .into_response(),
        (_, _) => json(json!({"jsonrpc": "2.0", "id": id,
            "result": {"content": [{"type": "text", "text": "ok"}], "isError": false}})),
    }
}

async fn start_upstream() -> (String, Recorder) {
    let upstream = Recorder::default();
    let app = Router::new()
        .route(
            "/upstream/mcp",
            axum::routing::post(upstream_mcp)
                .get(upstream_mcp)
                .delete(upstream_mcp),
        )
        .with_state(upstream.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}/upstream/mcp"), upstream)
}

#[tokio::test]
async fn a_whole_session_through_the_proxy() {
    let (upstream_url, upstream) = start_upstream().await;
    let proxy = start_proxy(support::http(&upstream_url), |_| {}).await;
    let token = sign(&proxy.key, "mcp:read");

    // initialize: the upstream's session id comes back; its cookie does not.
    let response = proxy
        .post(&token, None, &initialize())
        .header("x-mcp-subject", "forged-admin")
        .header("cookie", "client=1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["mcp-session-id"], "up-1");
    assert!(response.headers().get("set-cookie").is_none());
    let session = "up-1";

    // The upstream got the proxy's credentials, never the client's token,
    // cookies or made-up identity headers.
    let first = &upstream.seen()[0];
    assert_eq!(first.rpc, "initialize");
    assert!(first.headers.get("authorization").is_none());
    assert!(first.headers.get("cookie").is_none());
    assert!(first.headers.get("x-mcp-subject").is_none());
    assert_eq!(first.headers["x-upstream-key"], "configured");

    // tools/list: filtered to what a read token may call.
    let listed = json_of(
        proxy
            .post(&token, Some(session), &list(1))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(names(&listed["result"]["tools"]), ["search", "debug_echo"]);

    // An allowed call goes through; a denied one is refused and never
    // reaches the upstream.
    let allowed = proxy
        .post(&token, Some(session), &call(2, "search"))
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    let denied = proxy
        .post(&token, Some(session), &call(3, "delete_repo"))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
    assert!(
        denied.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
    assert_eq!(upstream.calls(), ["tools/call search"]);

    // The server's stream, resumed: Last-Event-ID and the session reach the
    // upstream, the events come back.
    let resumed = proxy
        .stream(&token, session)
        .header("last-event-id", "7")
        .header("mcp-protocol-version", "2025-06-18")
        .send()
        .await
        .unwrap();
    assert_eq!(resumed.status(), 200);
    assert!(resumed.text().await.unwrap().contains("resumed"));
    let get = upstream
        .seen()
        .into_iter()
        .find(|s| s.method == "GET")
        .unwrap();
    assert_eq!(get.headers["last-event-id"], "7");
    assert_eq!(get.headers["mcp-session-id"], "up-1");
    assert_eq!(get.headers["mcp-protocol-version"], "2025-06-18");

    // The end of the session.
    let ended = proxy.delete(&token, session).send().await.unwrap();
    assert_eq!(ended.status(), 202);
    assert!(upstream.seen().iter().any(|s| s.method == "DELETE"));
    // Gone for the layer too.
    let after = proxy
        .post(&token, Some(session), &call(4, "search"))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 404);
}

#[tokio::test]
async fn streamed_answers_arrive_as_the_upstream_sends_them() {
    let (upstream_url, _upstream) = start_upstream().await;
    let proxy = start_proxy(support::http(&upstream_url), |_| {}).await;
    let token = sign(&proxy.key, "mcp:read");
    let started = Instant::now();
    let mut response = proxy
        .post(&token, None, &call(1, "debug_echo"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let first = response.chunk().await.unwrap().unwrap();
    let first_at = started.elapsed();
    assert!(String::from_utf8_lossy(&first).contains("\"progress\":1"));
    let mut rest = Vec::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        rest.extend_from_slice(&chunk);
    }
    let all_at = started.elapsed();
    assert!(String::from_utf8_lossy(&rest).contains("\"progress\":2"));
    // The first event came well before the upstream's 800 ms pause ended.
    assert!(first_at < Duration::from_millis(600), "{first_at:?}");
    assert!(all_at >= Duration::from_millis(800), "{all_at:?}");
}

#[tokio::test]
async fn upstream_failures_fail_closed_and_leak_nothing() {
    let (upstream_url, upstream) = start_upstream().await;
    let proxy = start_proxy(support::http(&upstream_url), |config| {
        if let Upstream::Http(http) = &mut config.upstream {
            http.first_byte_timeout = Duration::from_millis(300);
        }
    })
    .await;
    let token = sign(&proxy.key, "mcp:read");

    // A 500 with the upstream's secrets in it: a JSON-RPC error, and none
    // of the upstream's words.
    let crashed = proxy
        .post(&token, None, &call(7, "debug_crash"))
        .send()
        .await
        .unwrap();
    assert_eq!(crashed.status(), 502);
    let text = crashed.text().await.unwrap();
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["id"], 7);
    assert_eq!(answer["error"]["message"], "upstream failed");
    assert!(
        !text.contains("hunter2") && !text.contains("/srv"),
        "{text}"
    );

    // No answer in time: 504, within the first-byte timeout.
    let started = Instant::now();
    let hung = proxy
        .post(&token, None, &call(8, "debug_hang"))
        .send()
        .await
        .unwrap();
    assert_eq!(hung.status(), 504);
    assert_eq!(
        json_of(hung).await["error"]["message"],
        "upstream timed out"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        upstream.calls(),
        ["tools/call debug_crash", "tools/call debug_hang"]
    );

    // Nobody listening upstream: 502.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gone = format!("http://{}/mcp", closed.local_addr().unwrap());
    drop(closed);
    let proxy = start_proxy(support::http(&gone), |_| {}).await;
    let token = sign(&proxy.key, "mcp:read");
    let refused = proxy
        .post(&token, None, &call(9, "search"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 502);
    let answer = json_of(refused).await;
    assert_eq!(answer["id"], 9);
    assert_eq!(answer["error"]["message"], "upstream unavailable");
}

#[tokio::test]
async fn only_the_endpoint_and_the_metadata_are_served() {
    let (upstream_url, upstream) = start_upstream().await;
    let proxy = start_proxy(support::http(&upstream_url), |_| {}).await;
    let token = sign(&proxy.key, "mcp:read");
    let base = proxy.url.trim_end_matches("/mcp");
    for path in ["/", "/admin", "/mcp/extra", "/upstream/mcp"] {
        let response = proxy
            .client
            .post(format!("{base}{path}"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(call(1, "search").to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
    assert!(upstream.seen().is_empty());
    let metadata = proxy
        .client
        .get(format!("{base}/.well-known/oauth-protected-resource/mcp"))
        .send()
        .await
        .unwrap();
    assert_eq!(metadata.status(), 200);
    assert_eq!(json_of(metadata).await["resource"], RESOURCE);
    // A token in the query string is no token.
    let response = proxy
        .client
        .post(format!("{}?access_token={token}", proxy.url))
        .header("content-type", "application/json")
        .body(call(1, "search").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(upstream.seen().is_empty());
}
