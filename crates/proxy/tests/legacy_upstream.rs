//! `mcp-policy proxy --upstream URL --upstream-transport sse`: a server of
//! the deprecated HTTP+SSE transport (MCP 2024-11-05) served over
//! Streamable HTTP on 127.0.0.1, one upstream stream per session. The
//! server is a fake on 127.0.0.1 that speaks the transport as the
//! TypeScript SDK's `SSEServerTransport` does (an `endpoint` event, then
//! messages; POSTs answered 202) and records every message it receives.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../http/tests/common/mod.rs"]
mod common;
mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use common::{call, json_of, list, names, sign};
use mcp_policy_proxy::{AnyUpstream, SseConfig, Upstream};
use serde_json::{Value, json};
use support::{Running, initialize, start_proxy};
use tokio::sync::{mpsc, oneshot};

/// The fake server's state: its open streams, what it received.
#[derive(Default)]
struct Fake {
    next: AtomicUsize,
    links: Mutex<HashMap<usize, mpsc::Sender<String>>>,
    /// Every message POSTed, with the stream it was posted for.
    record: Mutex<Vec<(usize, Value)>>,
    /// The headers of every request: the GETs and the POSTs.
    headers: Mutex<Vec<axum::http::HeaderMap>>,
    /// Streams whose body the proxy still holds.
    open: Arc<AtomicUsize>,
    /// The server's own requests to the client, waiting for an answer.
    waiting: Mutex<HashMap<usize, oneshot::Sender<Value>>>,
}

type Shared = Arc<Fake>;

/// Counts a stream open while its body lives.
struct OpenGuard(Arc<AtomicUsize>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `a=1&b=2` as pairs (the fake's own URLs need no decoding).
fn pairs(query: Option<String>) -> HashMap<String, String> {
    query
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn event(name: &str, data: &str) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

async fn sse(
    State(fake): State<Shared>,
    headers: axum::http::HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    fake.headers.lock().unwrap().push(headers);
    let query = pairs(query);
    let n = fake.next.fetch_add(1, Ordering::SeqCst);
    let (send, receive) = mpsc::channel::<String>(64);
    let endpoint = match query.get("mode").map(String::as_str) {
        Some("foreign") => format!("http://127.0.0.2:9/messages?sessionId={n}"),
        Some("silent") => String::new(),
        _ => format!("/messages?sessionId={n}"),
    };
    if !endpoint.is_empty() {
        send.try_send(event("endpoint", &endpoint)).unwrap();
    }
    if query.get("mode").map(String::as_str) == Some("huge") {
        // An event that never ends: one data line after another.
        let flood = send.clone();
        tokio::spawn(async move {
            let line = format!("data: {}\n", "x".repeat(1024));
            while flood.send(line.clone()).await.is_ok() {}
        });
    }
    if query.get("mode").map(String::as_str) == Some("flood") {
        // Small events without end of count: logging nobody reads.
        let flood = send.clone();
        tokio::spawn(async move {
            for i in 0..20_000 {
                let log = json!({"jsonrpc": "2.0", "method": "notifications/message",
                                 "params": {"level": "info", "data": i}});
                if flood
                    .send(event("message", &log.to_string()))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        });
    }
    fake.links.lock().unwrap().insert(n, send);
    fake.open.fetch_add(1, Ordering::SeqCst);
    let guard = OpenGuard(Arc::clone(&fake.open));
    let stream = futures_util::stream::unfold((receive, guard), |(mut receive, guard)| async {
        let chunk = receive.recv().await?;
        Some((Ok::<_, std::convert::Infallible>(chunk), (receive, guard)))
    });
    (
        [
            ("content-type", "text/event-stream"),
            ("cache-control", "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

async fn messages(
    State(fake): State<Shared>,
    headers: axum::http::HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    fake.headers.lock().unwrap().push(headers);
    let query = pairs(query);
    let Some(n) = query.get("sessionId").and_then(|n| n.parse::<usize>().ok()) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let Some(link) = fake.links.lock().unwrap().get(&n).cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let message: Value = serde_json::from_slice(&body).unwrap();
    fake.record.lock().unwrap().push((n, message.clone()));
    tokio::spawn(handle(fake, n, link, message));
    (StatusCode::ACCEPTED, "Accepted").into_response()
}

fn result(id: &Value, result: Value) -> String {
    event(
        "message",
        &json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string(),
    )
}

fn text(id: &Value, text: &str) -> String {
    result(
        id,
        json!({"content": [{"type": "text", "text": text}], "isError": false}),
    )
}

async fn handle(fake: Shared, n: usize, link: mpsc::Sender<String>, message: Value) {
    let id = &message["id"];
    let answer = match message["method"].as_str() {
        Some("initialize") => result(
            id,
            json!({"protocolVersion": "2024-11-05", "capabilities": {"tools": {}},
                   "serverInfo": {"name": "legacy-test", "version": "0"}}),
        ),
        Some("tools/list") => result(
            id,
            json!({"tools": [
                {"name": "search", "inputSchema": {"type": "object"}},
                {"name": "delete_repo", "inputSchema": {"type": "object"}},
                {"name": "debug_sample", "inputSchema": {"type": "object"}},
                {"name": "debug_end", "inputSchema": {"type": "object"}},
            ]}),
        ),
        Some("tools/call") => match message["params"]["name"].as_str() {
            Some("debug_sample") => {
                let (answered, answer) = oneshot::channel();
                fake.waiting.lock().unwrap().insert(n, answered);
                let ask = json!({"jsonrpc": "2.0", "id": "sample-1",
                                 "method": "sampling/createMessage",
                                 "params": {"messages": [], "maxTokens": 1}});
                link.send(event("message", &ask.to_string())).await.unwrap();
                let sampled = answer.await.unwrap();
                let said = sampled["result"]["content"]["text"].as_str().unwrap_or("");
                text(id, &format!("sampled: {said}"))
            }
            Some("debug_progress") => {
                // Two progress notifications, the answer, one more after it.
                let token = &message["params"]["_meta"]["progressToken"];
                let progress = |n: i64| {
                    let note = json!({"jsonrpc": "2.0", "method": "notifications/progress",
                                      "params": {"progressToken": token, "progress": n}});
                    event("message", &note.to_string())
                };
                for n in [1, 2] {
                    link.send(progress(n)).await.unwrap();
                }
                link.send(text(id, "progressed")).await.unwrap();
                link.send(progress(-1)).await.unwrap();
                return;
            }
            Some("debug_end") => {
                // The server goes away: its stream ends, no answer.
                fake.links.lock().unwrap().remove(&n);
                return;
            }
            Some(tool) => text(id, &format!("{tool} on stream {n}")),
            None => return,
        },
        // The client's answer to the server's own request.
        None if message.get("result").is_some() => {
            if let Some(waiting) = fake.waiting.lock().unwrap().remove(&n) {
                let _ = waiting.send(message);
            }
            return;
        }
        _ => return,
    };
    let _ = link.send(answer).await;
}

async fn fake() -> (String, Shared) {
    let fake = Shared::default();
    let app = Router::new()
        .route("/sse", axum::routing::get(sse))
        .route("/messages", axum::routing::post(messages))
        .with_state(Arc::clone(&fake));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}/sse"), fake)
}

fn legacy(url: &str) -> Upstream {
    let mut config = SseConfig::new(url.parse().unwrap());
    config.endpoint_timeout = Duration::from_secs(2);
    config.max_event_bytes = 64 * 1024;
    Upstream::Sse(config)
}

fn sessions(proxy: &Running) -> usize {
    match &proxy.upstream {
        AnyUpstream::Sse(upstream) => upstream.sessions(),
        _ => panic!("not an HTTP+SSE upstream"),
    }
}

async fn open(proxy: &Running, token: &str) -> String {
    let response = proxy.post(token, None, &initialize()).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let answer = json_of(response).await;
    assert_eq!(answer["result"]["serverInfo"]["name"], "legacy-test");
    session
}

async fn called(proxy: &Running, token: &str, session: &str, id: u64, tool: &str) -> Value {
    let response = proxy
        .post(token, Some(session), &call(id, tool))
        .send()
        .await
        .unwrap();
    json_of(response).await
}

async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what}");
}

#[tokio::test]
async fn a_session_is_one_upstream_stream_and_the_policy_decides_every_call() {
    let (url, fake) = fake().await;
    let proxy = start_proxy(legacy(&url), |_| {}).await;
    let token = sign(&proxy.key, "mcp:read");
    let first = open(&proxy, &token).await;
    let second = open(&proxy, &token).await;
    assert_ne!(first, second);
    assert_eq!(first.len(), 32);
    assert_eq!(sessions(&proxy), 2);
    assert_eq!(fake.open.load(Ordering::SeqCst), 2);

    // The upstream's list, filtered by the policy.
    let listed = json_of(
        proxy
            .post(&token, Some(&first), &list(1))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        names(&listed["result"]["tools"]),
        ["search", "debug_sample", "debug_end"]
    );
    // Each session's calls go to its own stream.
    let one = called(&proxy, &token, &first, 2, "search").await;
    let two = called(&proxy, &token, &second, 2, "search").await;
    assert_eq!(one["id"], 2);
    let one = one["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    let two = two["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(one.starts_with("search on stream "), "{one}");
    assert_ne!(one, two);

    // A denied call never reaches the server: its own record says so.
    let denied = proxy
        .post(&token, Some(&first), &call(3, "delete_repo"))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
    let record = fake.record.lock().unwrap().clone();
    assert!(
        record
            .iter()
            .all(|(_, m)| m["params"]["name"] != "delete_repo"),
        "{record:?}"
    );
    // `initialize` reached the server once per session, with the client's
    // own parameters; `notifications/initialized` is the client's to send.
    assert_eq!(
        record
            .iter()
            .filter(|(_, m)| m["method"] == "initialize")
            .count(),
        2
    );

    // DELETE ends the session and closes its upstream stream.
    let ended = proxy.delete(&token, &first).send().await.unwrap();
    assert_eq!(ended.status(), 202);
    assert_eq!(sessions(&proxy), 1);
    eventually("the ended session's stream is still open", || {
        fake.open.load(Ordering::SeqCst) == 1
    })
    .await;
    let after = proxy
        .post(&token, Some(&first), &call(4, "search"))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 404);
    let still = called(&proxy, &token, &second, 5, "search").await;
    assert_eq!(still["result"]["content"][0]["text"], two.as_str());
}

#[tokio::test]
async fn the_servers_requests_reach_the_client_and_its_answers_the_server() {
    let (url, _fake) = fake().await;
    let proxy = start_proxy(legacy(&url), |_| {}).await;
    let token = sign(&proxy.key, "mcp:read");
    let session = open(&proxy, &token).await;
    let mut stream = proxy.stream(&token, &session).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    let pending = tokio::spawn(
        proxy
            .post(&token, Some(&session), &call(7, "debug_sample"))
            .send(),
    );
    let mut seen = String::new();
    let asked = loop {
        let chunk = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
            .await
            .expect("no request from the server")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
        let request = seen
            .lines()
            .filter_map(|line| line.strip_prefix("data: "))
            .filter_map(|data| serde_json::from_str::<Value>(data).ok())
            .find(|m| m["method"] == "sampling/createMessage");
        if let Some(request) = request {
            break request;
        }
    };
    assert_eq!(asked["id"], "sample-1");
    let answer = json!({"jsonrpc": "2.0", "id": "sample-1",
                        "result": {"role": "assistant", "content": {"type": "text", "text": "hi"},
                                   "model": "test"}});
    let posted = proxy
        .post(&token, Some(&session), &answer)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 202);
    let result = json_of(pending.await.unwrap().unwrap()).await;
    assert_eq!(result["result"]["content"][0]["text"], "sampled: hi");
}

#[tokio::test]
async fn a_server_that_goes_away_fails_its_session_only() {
    let (url, _fake) = fake().await;
    let proxy = start_proxy(legacy(&url), |_| {}).await;
    let token = sign(&proxy.key, "mcp:read");
    let doomed = open(&proxy, &token).await;
    let other = open(&proxy, &token).await;
    let failed = called(&proxy, &token, &doomed, 1, "debug_end").await;
    assert_eq!(failed["id"], 1);
    assert!(failed["error"]["message"].is_string(), "{failed}");
    eventually("the session outlived its stream", || sessions(&proxy) == 1).await;
    let after = proxy
        .post(&token, Some(&doomed), &call(2, "search"))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 404);
    let fine = called(&proxy, &token, &other, 3, "search").await;
    assert!(fine["result"].is_object(), "{fine}");
}

#[tokio::test]
async fn a_stream_that_cannot_serve_opens_no_session() {
    let (url, fake) = fake().await;
    // An endpoint on another origin: the upstream's credentials would go
    // there with every message.
    let proxy = start_proxy(legacy(&format!("{url}?mode=foreign")), |_| {}).await;
    let token = sign(&proxy.key, "mcp:read");
    let refused = proxy
        .post(&token, None, &initialize())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 502);
    assert!(refused.headers().get("mcp-session-id").is_none());
    let answer = json_of(refused).await;
    assert_eq!(answer["id"], 0);
    assert_eq!(sessions(&proxy), 0);

    // No endpoint within the timeout.
    let proxy = start_proxy(legacy(&format!("{url}?mode=silent")), |_| {}).await;
    let refused = proxy
        .post(&token, None, &initialize())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 504);
    assert_eq!(sessions(&proxy), 0);

    // Nobody listening.
    let proxy = start_proxy(legacy("http://127.0.0.1:9/sse"), |_| {}).await;
    let refused = proxy
        .post(&token, None, &initialize())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 502);

    // An event without end: the session ends, the memory stays bounded.
    let proxy = start_proxy(legacy(&format!("{url}?mode=huge")), |_| {}).await;
    let refused = proxy
        .post(&token, None, &initialize())
        .send()
        .await
        .unwrap();
    let answer = json_of(refused).await;
    assert!(answer["error"]["message"].is_string(), "{answer}");
    eventually("the flooding stream is still open", || {
        fake.open.load(Ordering::SeqCst) == 0
    })
    .await;
    assert_eq!(sessions(&proxy), 0);
}

#[tokio::test]
async fn the_principal_goes_with_every_request_of_its_stream_and_nothing_of_the_client() {
    let (url, fake) = fake().await;
    let proxy = start_proxy(legacy(&url), |config| config.identity.enabled = true).await;
    let token = sign(&proxy.key, "mcp:read");
    let response = proxy
        .post(&token, None, &initialize())
        .header("x-mcp-subject", "admin")
        .header("cookie", "session=stolen")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let answer = called(&proxy, &token, &session, 1, "search").await;
    assert!(answer["result"].is_object(), "{answer}");

    let headers = fake.headers.lock().unwrap().clone();
    // The GET that opened the stream, initialize, the call.
    assert_eq!(headers.len(), 3, "{headers:?}");
    let subject = common::claims_now("mcp:read")["sub"]
        .as_str()
        .unwrap()
        .to_owned();
    for request in &headers {
        let subjects: Vec<_> = request.get_all("x-mcp-subject").iter().collect();
        assert_eq!(subjects.len(), 1, "{request:?}");
        assert_eq!(subjects[0], subject.as_str());
        assert_eq!(request["x-mcp-scopes"], "mcp:read");
        assert!(request.get("authorization").is_none());
        assert!(request.get("cookie").is_none());
    }
}

/// A server counting what reaches it: where a redirect points.
async fn elsewhere() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    let app = Router::new().fallback(move || {
        let counted = Arc::clone(&counted);
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            StatusCode::OK
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}"), hits)
}

#[tokio::test]
async fn a_redirect_is_never_followed() {
    use futures_util::StreamExt;
    let (other, hits) = elsewhere().await;
    let target = format!("{other}/stolen");
    // The stream itself redirects; then a stream whose POSTs redirect.
    let app = Router::new()
        .route(
            "/moved",
            axum::routing::get({
                let target = target.clone();
                move || async move {
                    (StatusCode::TEMPORARY_REDIRECT, [("location", target)]).into_response()
                }
            }),
        )
        .route(
            "/sse",
            axum::routing::get(|| async {
                let body = event("endpoint", "/messages");
                let stream = futures_util::stream::once(async move {
                    Ok::<_, std::convert::Infallible>(Bytes::from(body))
                })
                .chain(futures_util::stream::pending())
                .boxed();
                (
                    [("content-type", "text/event-stream")],
                    Body::from_stream(stream),
                )
                    .into_response()
            }),
        )
        .route(
            "/messages",
            axum::routing::post(move || async move {
                (StatusCode::TEMPORARY_REDIRECT, [("location", target)]).into_response()
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let proxy = start_proxy(legacy(&format!("http://{address}/moved")), |_| {}).await;
    let token = sign(&proxy.key, "mcp:read");
    let refused = proxy
        .post(&token, None, &initialize())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 502);
    assert_eq!(sessions(&proxy), 0);

    let proxy = start_proxy(legacy(&format!("http://{address}/sse")), |_| {}).await;
    let refused = proxy
        .post(&token, None, &initialize())
        .send()
        .await
        .unwrap();
    assert!(refused.headers().get("mcp-session-id").is_none());
    let answer = json_of(refused).await;
    assert!(answer["error"]["message"].is_string(), "{answer}");
    assert_eq!(sessions(&proxy), 0);
    // Neither the GET nor the POST (with the upstream's credentials) went
    // where the redirects pointed.
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_stream_flooding_small_events_keeps_only_the_last_few_for_the_client() {
    let (url, _fake) = fake().await;
    let proxy = start_proxy(legacy(&format!("{url}?mode=flood")), |_| {}).await;
    let token = sign(&proxy.key, "mcp:read");
    let session = open(&proxy, &token).await;
    // The flood arrives while nobody reads the session's GET stream.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let answer = called(&proxy, &token, &session, 1, "search").await;
    assert!(answer.get("result").is_some(), "{answer}");
    let mut stream = proxy.stream(&token, &session).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    let mut text = String::new();
    while let Ok(Ok(Some(chunk))) =
        tokio::time::timeout(Duration::from_millis(500), stream.chunk()).await
    {
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let events = text.matches("notifications/message").count();
    // What was kept for the stream: at most max_buffered_messages (256).
    assert_eq!(events, 256);
    // The newest were kept, the oldest dropped.
    assert!(
        text.contains("\"data\":19999"),
        "{}",
        &text[text.len().saturating_sub(300)..]
    );
}

// The progress of a request that asks for it comes down its own answer,
// before the answer; what the server says for the token after its answer
// does not jump ahead of it.
#[tokio::test]
async fn progress_comes_on_its_requests_answer_and_late_progress_stays_behind() {
    let (url, _fake) = fake().await;
    let proxy = start_proxy(legacy(&url), |_| {}).await;
    let token = sign(&proxy.key, "mcp:read");
    let session = open(&proxy, &token).await;
    let asking = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                        "params": {"name": "debug_progress", "arguments": {},
                                   "_meta": {"progressToken": "lp"}}});
    let response = proxy
        .post(&token, Some(&session), &asking)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = response.text().await.unwrap();
    let events: Vec<Value> = text
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .map(|data| serde_json::from_str(data).unwrap())
        .collect();
    let progress: Vec<&Value> = events.iter().map(|e| &e["params"]["progress"]).collect();
    assert_eq!(progress[..2], [&json!(1), &json!(2)], "{events:?}");
    assert_eq!(events.last().unwrap()["id"], 7, "{events:?}");
    assert!(events.len() == 3, "{events:?}");
}
