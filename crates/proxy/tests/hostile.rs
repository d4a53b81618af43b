//! The proxy attacked: a hostile client (duplicate keys, batches, tokens
//! where no token belongs, slow and oversize bodies) and a hostile or
//! broken upstream (garbage, hangs, streams cut short, answers without
//! end). Every server is started by the test, on 127.0.0.1. What was
//! refused is asserted on the upstream's own record of what reached it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../http/tests/common/mod.rs"]
mod common;
mod support;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use common::{call, json_of, list, names, sign};
use mcp_policy_proxy::{AnyUpstream, StdioConfig, Upstream};
use serde_json::{Value, json};
use support::{Running, initialize, start_proxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

// ---- a recording upstream ----

#[derive(Clone, Debug)]
struct Seen {
    method: String,
    uri: String,
    body: String,
}

#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Recorder {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
    fn posts(&self) -> Vec<String> {
        self.seen()
            .into_iter()
            .filter(|s| s.method == "POST")
            .map(|s| s.body)
            .collect()
    }
}

fn prompts() -> Value {
    json!([{"name": "summarize"}, {"name": "secret_prompt"}])
}

/// The answer to one message, as an MCP server gives it.
fn answer(message: &Value) -> Value {
    let id = message["id"].clone();
    match message["method"].as_str().unwrap_or("") {
        "initialize" => json!({"jsonrpc": "2.0", "id": id, "result": {
            "protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
            "serverInfo": {"name": "up", "version": "0"}}}),
        "tools/list" => json!({"jsonrpc": "2.0", "id": id, "result": {"tools": common::tools()}}),
        "prompts/list" => json!({"jsonrpc": "2.0", "id": id, "result": {"prompts": prompts()}}),
        _ => json!({"jsonrpc": "2.0", "id": id,
                    "result": {"content": [{"type": "text", "text": "ok"}], "isError": false}}),
    }
}

async fn recording(
    State(upstream): State<Recorder>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    upstream.seen.lock().unwrap().push(Seen {
        method: method.to_string(),
        uri: uri.to_string(),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    match method {
        Method::DELETE => StatusCode::ACCEPTED.into_response(),
        // The server's stream, resumed: it replays the answers of an
        // earlier POST whose stream broke (a tools/list and a prompts/list),
        // then a notification of its own.
        Method::GET => {
            assert!(headers.contains_key("last-event-id"));
            let tools = json!({"jsonrpc": "2.0", "id": 5, "result": {"tools": common::tools()}});
            let prompts = json!({"jsonrpc": "2.0", "id": 6, "result": {"prompts": prompts()}});
            let note = json!({"jsonrpc": "2.0", "method": "notifications/message",
                              "params": {"level": "info", "data": "replayed"}});
            (
                [(header::CONTENT_TYPE, "text/event-stream")],
                format!(
                    ": keep-alive\n\nid: 9\nevent: message\ndata: {tools}\n\n\
                     id: 10\ndata: {prompts}\n\nid: 11\ndata: {note}\n\n"
                ),
            )
                .into_response()
        }
        _ => {
            let message: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let reply = match &message {
                Value::Array(batch) => Value::Array(batch.iter().map(answer).collect()),
                single => answer(single),
            };
            let mut response = (
                [(header::CONTENT_TYPE, "application/json")],
                reply.to_string(),
            )
                .into_response();
            if message["method"] == "initialize" {
                response
                    .headers_mut()
                    .insert("mcp-session-id", "up-1".parse().unwrap());
            }
            response
        }
    }
}

async fn start_recording() -> (String, Recorder) {
    let upstream = Recorder::default();
    let app = Router::new()
        .route(
            "/mcp",
            axum::routing::post(recording)
                .get(recording)
                .delete(recording),
        )
        .with_state(upstream.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}/mcp"), upstream)
}

async fn recorded_proxy() -> (Running, Recorder, String) {
    let (url, upstream) = start_recording().await;
    let proxy = start_proxy(support::http(&url), |_| {}).await;
    let token = sign(&proxy.key, "mcp:read");
    (proxy, upstream, token)
}

/// Posts raw bytes, as no well-behaved client writes them.
async fn post_raw(proxy: &Running, token: &str, body: &str) -> reqwest::Response {
    proxy
        .client
        .post(&proxy.url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

// ---- 1. duplicate keys ----

#[tokio::test]
async fn a_body_with_a_duplicate_key_is_refused_and_never_forwarded() {
    let (proxy, upstream, token) = recorded_proxy().await;
    for body in [
        // The policy would read `search` (serde_json keeps the last); a
        // server that keeps the first would run `delete_repo`.
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_repo","name":"search"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","name":"delete_repo"}}"#,
        // The method itself, twice.
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","method":"tools/list","params":{"name":"delete_repo"}}"#,
        // `params`, twice.
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_repo"},"params":{"name":"search"}}"#,
        // Deep in the arguments, which a server may read as it likes.
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{"q":{"path":"a","path":"/etc"}}}}"#,
        // The same key once its escapes are read.
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","n\u0061me":"delete_repo"}}"#,
        // In one member of a batch.
        r#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"search","name":"delete_repo"}}]"#,
    ] {
        let response = post_raw(&proxy, &token, body).await;
        assert_eq!(response.status(), 400, "{body}");
        let answer = json_of(response).await;
        assert_eq!(answer["error"]["code"], -32700, "{body}");
        assert_eq!(
            answer["error"]["message"],
            mcp_policy_http::DUPLICATE_KEY_MESSAGE
        );
    }
    assert!(upstream.seen().is_empty(), "{:?}", upstream.seen());
    // Without the duplicate, the same call goes through.
    let response = post_raw(
        &proxy,
        &token,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{"q":{"path":"a"}}}}"#,
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(upstream.posts().len(), 1);
}

#[tokio::test]
async fn a_huge_object_is_read_in_one_bounded_pass() {
    let (proxy, upstream, token) = recorded_proxy().await;
    // 60,000 keys in the arguments (under the 1 MiB body limit), the last
    // a duplicate: refused, quickly.
    let mut arguments = String::new();
    for n in 0..60_000 {
        arguments.push_str(&format!("\"k{n}\":0,"));
    }
    let body = |last: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"search","arguments":{{{arguments}"{last}":1}}}}}}"#
        )
    };
    let started = Instant::now();
    let response = post_raw(&proxy, &token, &body("k0")).await;
    assert_eq!(response.status(), 400);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(upstream.seen().is_empty());
    let response = post_raw(&proxy, &token, &body("unique")).await;
    assert_eq!(response.status(), 200);
    // Nesting past serde_json's recursion limit: a parse error, no crash.
    let deep = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"search","arguments":{}1{}}}}}"#,
        r#"{"a":"#.repeat(50_000),
        "}".repeat(50_000)
    );
    let response = post_raw(&proxy, &token, &deep).await;
    assert_eq!(response.status(), 400);
    assert_eq!(json_of(response).await["error"]["code"], -32700);
    assert_eq!(upstream.posts().len(), 1);
}

// ---- 2. batches ----

#[tokio::test]
async fn no_member_of_a_batch_escapes_its_decision() {
    let (proxy, upstream, token) = recorded_proxy().await;
    for batch in [
        json!([call(1, "search"), call(2, "delete_repo")]),
        // A denied call as a notification, beside an allowed request.
        json!([list(1), {"jsonrpc": "2.0", "method": "tools/call",
                         "params": {"name": "delete_repo"}}]),
        // A batch inside a batch is no message at all.
        json!([list(1), [call(2, "delete_repo")]]),
        json!([list(1), {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                         "params": {"name": ["delete_repo"]}}]),
    ] {
        let response = proxy.post(&token, None, &batch).send().await.unwrap();
        // Refused whole: a step-up 403, or (when only a notification was
        // denied) the other members' answers saying they were not run.
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status == 403 || status == 200, "{status} {text}");
        assert!(!text.contains("\"result\""), "{text}");
    }
    assert!(upstream.seen().is_empty(), "{:?}", upstream.seen());
}

#[tokio::test]
async fn every_list_answer_of_a_batch_is_filtered_whatever_its_id() {
    let (proxy, upstream, token) = recorded_proxy().await;
    // Two list requests under one id: the answers cannot be told apart by
    // their id, and both must be filtered.
    let batch = json!([
        {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 1, "method": "prompts/list"},
    ]);
    let response = proxy.post(&token, None, &batch).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let answers = json_of(response).await;
    assert_eq!(
        names(&answers[0]["result"]["tools"]),
        ["search", "debug_echo"]
    );
    assert_eq!(names(&answers[1]["result"]["prompts"]), ["summarize"]);
    assert_eq!(upstream.posts().len(), 1);
}

// ---- 6. list answers on the server's stream ----

#[tokio::test]
async fn list_answers_replayed_on_a_resumed_stream_are_filtered() {
    let (proxy, upstream, token) = recorded_proxy().await;
    let opened = proxy
        .post(&token, None, &initialize())
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), 200);
    let resumed = proxy
        .client
        .get(&proxy.url)
        .bearer_auth(&token)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", "up-1")
        .header("last-event-id", "8")
        .send()
        .await
        .unwrap();
    assert_eq!(resumed.status(), 200);
    let text = resumed.text().await.unwrap();
    assert!(text.contains("\"search\""), "{text}");
    assert!(text.contains("\"summarize\""), "{text}");
    assert!(text.contains("replayed"), "{text}");
    for hidden in [
        "delete_repo",
        "create_issue",
        "debug_dump_all",
        "secret_prompt",
    ] {
        assert!(!text.contains(hidden), "{hidden} in {text}");
    }
    // The events keep their ids, for the next resumption.
    assert!(
        text.contains("id: 9\n") && text.contains("id: 10\n"),
        "{text}"
    );
    assert!(upstream.seen().iter().any(|s| s.method == "GET"));
}

// ---- 3. tokens where no token belongs ----

#[tokio::test]
async fn a_token_only_in_the_query_or_a_form_body_authenticates_nothing() {
    let (proxy, upstream, token) = recorded_proxy().await;
    let query = proxy
        .client
        .post(format!("{}?access_token={token}", proxy.url))
        .header("content-type", "application/json")
        .body(call(1, "search").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(query.status(), 401);
    // RFC 6750 §2.2's form-encoded body parameter.
    let form = proxy
        .client
        .post(&proxy.url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("access_token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 401);
    assert!(upstream.seen().is_empty());

    // With a header token, the query string still never goes upstream.
    let response = proxy
        .client
        .post(format!("{}?access_token=leaked&debug=1", proxy.url))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(call(1, "search").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].uri, "/mcp");
}

#[tokio::test]
async fn two_authorization_headers_are_a_bad_request() {
    let (proxy, upstream, token) = recorded_proxy().await;
    let mut headers = reqwest::header::HeaderMap::new();
    for value in [format!("Bearer {token}"), "Bearer other".to_owned()] {
        headers.append("authorization", value.parse().unwrap());
    }
    let response = proxy
        .client
        .post(&proxy.url)
        .headers(headers)
        .header("content-type", "application/json")
        .body(call(1, "search").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(upstream.seen().is_empty());
}

// ---- 7. slow and oversize bodies ----

#[tokio::test]
async fn slow_and_oversize_bodies_are_refused_before_the_upstream() {
    let (url, upstream) = start_recording().await;
    let proxy = start_proxy(support::http(&url), |config| {
        config.body_read_timeout = Duration::from_millis(500);
    })
    .await;
    let token = sign(&proxy.key, "mcp:read");
    let address = proxy
        .url
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .to_owned();

    // A body that trickles, one byte at a time: 408 within the timeout.
    let body = call(1, "search").to_string();
    let mut stream = TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let writer = tokio::spawn(async move {
        for byte in body.as_bytes() {
            if stream.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        stream
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut stream = writer.await.unwrap();
    let mut answer = vec![0; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
        .await
        .unwrap()
        .unwrap_or(0);
    let answer = String::from_utf8_lossy(&answer[..read]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(10));

    // One byte past the 1 MiB limit: 413, declared or not.
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"search","pad":"{}"}}}}"#,
        "x".repeat(1024 * 1024)
    );
    let response = post_raw(&proxy, &token, &big).await;
    assert_eq!(response.status(), 413);
    // Chunked, with no length declared: counted as it arrives.
    let mut stream = TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for piece in big.as_bytes().chunks(64 * 1024) {
        let piece = String::from_utf8_lossy(piece);
        if stream.write_all(chunk(&piece).as_bytes()).await.is_err() {
            break;
        }
    }
    let mut answer = vec![0; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
        .await
        .unwrap()
        .unwrap_or(0);
    let answer = String::from_utf8_lossy(&answer[..read]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(upstream.seen().is_empty());
}

// ---- 4. an upstream that misbehaves ----

/// Reads one HTTP request (head, and the body its `Content-Length` says);
/// the body, as text.
async fn read_request(stream: &mut TcpStream) -> String {
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&bytes[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if bytes.len() >= end + 4 + length {
                return String::from_utf8_lossy(&bytes[end + 4..end + 4 + length]).into_owned();
            }
        }
        let read = stream.read(&mut buffer).await.unwrap_or(0);
        if read == 0 {
            return String::new();
        }
        bytes.extend_from_slice(&buffer[..read]);
    }
}

/// An upstream on a raw socket: `serve` gets each request's body and
/// writes whatever it likes.
async fn raw_upstream<F, Fut>(serve: F) -> String
where
    F: Fn(TcpStream, String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let serve = Arc::new(serve);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let serve = Arc::clone(&serve);
            tokio::spawn(async move {
                let body = read_request(&mut stream).await;
                serve(stream, body).await;
            });
        }
    });
    format!("http://{address}/mcp")
}

fn http_json(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

const SECRET: &str = "DATABASE_PASSWORD=hunter2 at /srv/secret.rs";

/// An upstream that answers `tools/call search` properly and misbehaves
/// on anything else, as `misbehave` says.
async fn misbehaving<F, Fut>(misbehave: F) -> String
where
    F: Fn(TcpStream, String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let misbehave = Arc::new(misbehave);
    raw_upstream(move |mut stream, body| {
        let misbehave = Arc::clone(&misbehave);
        async move {
            if body.contains("\"search\"") {
                let message: Value = serde_json::from_str(&body).unwrap();
                let reply = answer(&message).to_string();
                let _ = stream.write_all(http_json(&reply).as_bytes()).await;
                let _ = stream.shutdown().await;
            } else {
                misbehave(stream, body).await;
            }
        }
    })
    .await
}

/// The proxy still serves: an allowed call goes through.
async fn still_serves(proxy: &Running, token: &str) {
    let response = proxy
        .post(token, None, &call(50, "search"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(json_of(response).await["id"], 50);
}

#[tokio::test]
async fn an_upstream_that_answers_garbage_fails_closed() {
    let url = misbehaving(|mut stream, _| async move {
        let _ = stream
            .write_all(format!("SSH-2.0-OpenSSH\r\n\0\u{ff}{SECRET}\r\n\r\n").as_bytes())
            .await;
    })
    .await;
    let proxy = start_proxy(support::http(&url), |_| {}).await;
    let token = sign(&proxy.key, "mcp:read");
    for request in [call(1, "debug_echo"), list(1)] {
        let response = proxy.post(&token, None, &request).send().await.unwrap();
        assert_eq!(response.status(), 502);
        let text = response.text().await.unwrap();
        assert!(!text.contains("hunter2") && !text.contains("SSH"), "{text}");
        let answer: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(answer["id"], 1);
        assert_eq!(answer["error"]["message"], "upstream unavailable");
    }
    still_serves(&proxy, &token).await;
}

#[tokio::test]
async fn a_list_answer_that_is_not_json_fails_closed() {
    let url = misbehaving(|mut stream, body| async move {
        let (content_type, text) = if body.contains("\"id\":1") {
            ("application/json", format!("{{\"tools\": [ {SECRET}"))
        } else if body.contains("\"id\":2") {
            ("text/html", format!("<h1>{SECRET}</h1>"))
        } else {
            // JSON whose duplicate key a client could read either way.
            (
                "application/json",
                r#"{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"delete_repo","name":"search"}]}}"#
                    .to_owned(),
            )
        };
        let _ = stream
            .write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{text}",
                    text.len()
                )
                .as_bytes(),
            )
            .await;
    })
    .await;
    let proxy = start_proxy(support::http(&url), |_| {}).await;
    let token = sign(&proxy.key, "mcp:read");
    for id in [1, 2, 3] {
        let response = proxy.post(&token, None, &list(id)).send().await.unwrap();
        assert_eq!(response.status(), 502, "{id}");
        let text = response.text().await.unwrap();
        assert!(
            !text.contains("hunter2") && !text.contains("delete_repo"),
            "{text}"
        );
        let answer: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(answer["id"], id);
        assert_eq!(answer["error"]["code"], -32603);
        assert_eq!(
            answer["error"]["message"],
            "the server's answer could not be checked"
        );
    }
    still_serves(&proxy, &token).await;
}

#[tokio::test]
async fn an_upstream_that_hangs_before_its_status_line_times_out() {
    let url = misbehaving(|stream, _| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(stream);
    })
    .await;
    let proxy = start_proxy(support::http(&url), |config| {
        if let Upstream::Http(http) = &mut config.upstream {
            http.first_byte_timeout = Duration::from_millis(300);
        }
    })
    .await;
    let token = sign(&proxy.key, "mcp:read");
    let started = Instant::now();
    let response = proxy.post(&token, None, &list(4)).send().await.unwrap();
    assert_eq!(response.status(), 504);
    let answer = json_of(response).await;
    assert_eq!(answer["id"], 4);
    assert_eq!(answer["error"]["message"], "upstream timed out");
    assert!(started.elapsed() < Duration::from_secs(3));
    still_serves(&proxy, &token).await;
}

const SSE_HEAD: &str =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";

fn chunk(text: &str) -> String {
    format!("{:x}\r\n{text}\r\n", text.len())
}

#[tokio::test]
async fn an_sse_answer_cut_mid_stream_ends_the_clients_stream_only() {
    let url = misbehaving(|mut stream, _| async move {
        let event = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progress\":1}}\n\n";
        let _ = stream
            .write_all(format!("{SSE_HEAD}{}", chunk(event)).as_bytes())
            .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        // Half an event, then the connection is gone.
        let _ = stream
            .write_all(chunk("event: message\ndata: {\"jsonrpc\":").as_bytes())
            .await;
        drop(stream);
    })
    .await;
    let proxy = start_proxy(support::http(&url), |_| {}).await;
    let token = sign(&proxy.key, "mcp:read");
    for request in [call(1, "debug_echo"), list(1)] {
        let mut response = proxy.post(&token, None, &request).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let mut received = Vec::new();
        let ended = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match response.chunk().await {
                    Ok(Some(chunk)) => received.extend_from_slice(&chunk),
                    Ok(None) => return true,
                    Err(_) => return false,
                }
            }
        })
        .await
        .expect("the client's stream ends");
        let text = String::from_utf8_lossy(&received);
        // The whole event arrived, and the client learns the stream was
        // cut (the chunked body ends without its last chunk).
        assert!(text.contains("\"progress\":1"), "{text}");
        assert!(!ended, "{text}");
        if request["method"] == "tools/list" {
            // A filtered stream passes whole events only.
            assert!(text.ends_with("}}\n\n"), "{text}");
        }
    }
    still_serves(&proxy, &token).await;
}

#[tokio::test]
async fn an_enormous_list_answer_is_refused_past_the_limit() {
    // 17 MiB: past the 16 MiB a list answer may have to be read whole.
    const SIZE: usize = 17 * 1024 * 1024;
    let url = misbehaving(|mut stream, body| async move {
        let filler = "a".repeat(1024 * 1024);
        if body.contains("\"id\":1") {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                SIZE + 64
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream
                .write_all(br#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"x"#)
                .await;
            for _ in 0..17 {
                if stream.write_all(filler.as_bytes()).await.is_err() {
                    return;
                }
            }
        } else {
            // An SSE answer whose event never ends: one data line, no
            // newline, without end.
            let _ = stream.write_all(SSE_HEAD.as_bytes()).await;
            let _ = stream
                .write_all(
                    chunk("data: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"tools\":[").as_bytes(),
                )
                .await;
            for _ in 0..17 {
                if stream.write_all(chunk(&filler).as_bytes()).await.is_err() {
                    return;
                }
            }
        }
    })
    .await;
    let proxy = start_proxy(support::http(&url), |_| {}).await;
    let token = sign(&proxy.key, "mcp:read");

    let response = proxy.post(&token, None, &list(1)).send().await.unwrap();
    assert_eq!(response.status(), 502);
    let answer = json_of(response).await;
    assert_eq!(answer["id"], 1);
    assert_eq!(
        answer["error"]["message"],
        "the server's answer could not be checked"
    );

    let mut response = proxy.post(&token, None, &list(2)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let mut received = 0;
    let outcome = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => received += chunk.len(),
                Ok(None) => return "ended",
                Err(_) => return "failed",
            }
        }
    })
    .await
    .expect("the stream is cut off at the limit");
    // Nothing of the unfinished event reached the client, and its stream
    // was ended, not left hanging.
    assert_eq!(received, 0, "{outcome}");
    still_serves(&proxy, &token).await;
}

#[tokio::test]
async fn an_upstream_stream_idle_past_its_timeout_is_ended() {
    let url = misbehaving(|mut stream, _| async move {
        let _ = stream.write_all(SSE_HEAD.as_bytes()).await;
        // Keep-alive comments, a little under the idle timeout apart, keep
        // the stream open; then silence.
        for _ in 0..4 {
            let _ = stream.write_all(chunk(": keep-alive\n\n").as_bytes()).await;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let event = "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progress\":1}}\n\n";
        let _ = stream.write_all(chunk(event).as_bytes()).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    })
    .await;
    let proxy = start_proxy(support::http(&url), |config| {
        if let Upstream::Http(http) = &mut config.upstream {
            http.idle_timeout = Duration::from_millis(600);
        }
    })
    .await;
    let token = sign(&proxy.key, "mcp:read");
    let started = Instant::now();
    let mut response = proxy
        .post(&token, None, &call(1, "debug_echo"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut text = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(chunk)) = response.chunk().await {
            text.extend_from_slice(&chunk);
        }
    })
    .await;
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&text);
    assert!(text.contains("\"progress\":1"), "{text}");
    // Ended about 600 ms after the last event, not when the upstream gave up.
    assert!(elapsed >= Duration::from_millis(1500), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    still_serves(&proxy, &token).await;
}

// ---- 5. stdio children that misbehave ----

fn sh(script: &str) -> Upstream {
    let mut config = StdioConfig::new(vec!["sh".into(), "-c".into(), script.into()]);
    config.request_timeout = Duration::from_millis(500);
    Upstream::Stdio(config)
}

fn children(proxy: &Running) -> usize {
    match &proxy.upstream {
        AnyUpstream::Stdio(stdio) => stdio.children(),
        _ => panic!("not a per-session stdio upstream"),
    }
}

/// A file for a child to write its pid in.
fn pid_file(name: &str) -> std::path::PathBuf {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "mcp-policy-hostile-{}-{name}-{n}.pid",
        std::process::id()
    ))
}

/// Waits until the process in `file` is gone: neither running nor a
/// zombie left unreaped.
async fn reaped(file: &std::path::Path) {
    let pid = std::fs::read_to_string(file).unwrap();
    let stat = format!("/proc/{}/stat", pid.trim());
    let started = Instant::now();
    loop {
        match std::fs::read_to_string(&stat) {
            Err(_) => break,
            Ok(stat) => {
                assert!(
                    started.elapsed() < Duration::from_secs(5),
                    "the child is still here: {stat}"
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = std::fs::remove_file(file);
}

const ANSWER_INITIALIZE: &str = r#"echo '{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":"sh","version":"0"}}}'"#;

#[tokio::test]
async fn a_child_that_exits_at_once_gets_a_clear_error_and_leaves_nothing() {
    let file = pid_file("exits");
    for script in [
        format!("echo $$ > {}; exit 1", file.display()),
        // It reads the request, then dies without a word.
        format!("echo $$ > {}; read line; exit 1", file.display()),
    ] {
        let proxy = start_proxy(sh(&script), |_| {}).await;
        let token = sign(&proxy.key, "mcp:read");
        let response = proxy
            .post(&token, None, &initialize())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 502, "{script}");
        assert!(response.headers().get("mcp-session-id").is_none());
        let answer = json_of(response).await;
        assert_eq!(answer["id"], 0);
        assert_eq!(answer["error"]["message"], "the upstream process exited");
        assert_eq!(children(&proxy), 0);
        assert_eq!(proxy.layer.session_count(), 0);
        reaped(&file).await;
    }
    // A command that cannot even start.
    let proxy = start_proxy(sh("exec /nonexistent/mcp-server"), |_| {}).await;
    let token = sign(&proxy.key, "mcp:read");
    let response = proxy
        .post(&token, None, &initialize())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    assert_eq!(proxy.layer.session_count(), 0);
}

#[tokio::test]
async fn a_child_that_never_answers_initialize_is_ended_after_the_timeout() {
    let file = pid_file("silent");
    // Answers nothing; then garbage only.
    for script in [
        format!("echo $$ > {}; exec sleep 1000", file.display()),
        format!(
            "echo $$ > {}; read line; printf 'garbage \\377\\n{{not json\\n[1,2\\n'; exec sleep 1000",
            file.display()
        ),
    ] {
        let proxy = start_proxy(sh(&script), |_| {}).await;
        let token = sign(&proxy.key, "mcp:read");
        let started = Instant::now();
        let response = proxy
            .post(&token, None, &initialize())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 504, "{script}");
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(response.headers().get("mcp-session-id").is_none());
        let text = response.text().await.unwrap();
        assert!(!text.contains("garbage"), "{text}");
        let answer: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(answer["error"]["message"], "upstream timed out");
        assert_eq!(children(&proxy), 0);
        assert_eq!(proxy.layer.session_count(), 0);
        reaped(&file).await;
    }
}

#[tokio::test]
async fn garbage_before_the_answer_is_dropped_and_the_session_works() {
    let script = format!(
        "read line; printf 'garbage \\377\\n\\n{{\"half\":\\n'; {ANSWER_INITIALIZE}; exec sleep 1000"
    );
    let proxy = start_proxy(sh(&script), |_| {}).await;
    let token = sign(&proxy.key, "mcp:read");
    let response = proxy
        .post(&token, None, &initialize())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("mcp-session-id").is_some());
    assert_eq!(
        json_of(response).await["result"]["serverInfo"]["name"],
        "sh"
    );
    assert_eq!(children(&proxy), 1);
}

#[tokio::test]
async fn five_hundred_sessions_at_once_against_a_limit_of_one_hundred() {
    let script = format!("read line; {ANSWER_INITIALIZE}; exec sleep 1000");
    let proxy = Arc::new(
        start_proxy(sh(&script), |config| {
            config.sessions.max_sessions = 100;
            config.sessions.max_sessions_per_principal = 1000;
            if let Upstream::Stdio(stdio) = &mut config.upstream {
                stdio.request_timeout = Duration::from_secs(20);
            }
        })
        .await,
    );
    let token = sign(&proxy.key, "mcp:read");

    // The children, counted while the sessions open.
    let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (proxy, most, done) = (Arc::clone(&proxy), Arc::clone(&most), Arc::clone(&done));
        tokio::spawn(async move {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                most.fetch_max(children(&proxy), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let openings: Vec<_> = (0..500)
        .map(|_| {
            let (proxy, token) = (Arc::clone(&proxy), token.clone());
            tokio::spawn(async move {
                let response = proxy
                    .post(&token, None, &initialize())
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                let session = response
                    .headers()
                    .get("mcp-session-id")
                    .map(|v| v.to_str().unwrap().to_owned());
                let retry = response.headers().get("retry-after").is_some();
                (status, session, retry)
            })
        })
        .collect();
    let mut opened = Vec::new();
    let mut refused = 0;
    for opening in openings {
        let (status, session, retry) = opening.await.unwrap();
        match status {
            200 => opened.push(session.unwrap()),
            503 => {
                assert!(retry);
                refused += 1;
            }
            other => panic!("status {other}"),
        }
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    sampler.await.unwrap();
    assert_eq!(opened.len(), 100);
    assert_eq!(refused, 400);
    assert!(most.load(std::sync::atomic::Ordering::Relaxed) <= 100);
    assert_eq!(children(&proxy), 100);
    assert_eq!(proxy.layer.session_count(), 100);

    // Full: one more is refused, nothing started.
    let response = proxy
        .post(&token, None, &initialize())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(children(&proxy), 100);

    // Ended, the sessions make room again.
    for session in &opened {
        let response = proxy.delete(&token, session).send().await.unwrap();
        assert_eq!(response.status(), 202);
    }
    assert_eq!(children(&proxy), 0);
    assert_eq!(proxy.layer.session_count(), 0);
    let response = proxy
        .post(&token, None, &initialize())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(children(&proxy), 1);
}

#[tokio::test]
async fn a_batch_the_child_ignores_waits_one_timeout_not_one_per_request() {
    let script = format!("read line; {ANSWER_INITIALIZE}; exec sleep 1000");
    let proxy = start_proxy(sh(&script), |config| {
        if let Upstream::Stdio(stdio) = &mut config.upstream {
            stdio.request_timeout = Duration::from_millis(300);
        }
    })
    .await;
    let token = sign(&proxy.key, "mcp:read");
    let response = proxy
        .post(&token, None, &initialize())
        .send()
        .await
        .unwrap();
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let batch: Vec<Value> = (1..=20).map(|id| call(id, "search")).collect();
    let started = Instant::now();
    let response = proxy
        .post(&token, Some(&session), &Value::Array(batch))
        .send()
        .await
        .unwrap();
    let answers = json_of(response).await;
    // 20 requests in turn would take 6 s.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(answers.as_array().unwrap().len(), 20);
    assert!(
        answers
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["error"]["message"] == "upstream timed out")
    );
}

#[tokio::test]
async fn initialize_as_a_notification_starts_no_child() {
    let file = pid_file("notified");
    let script = format!(
        "echo $$ > {}; read line; {ANSWER_INITIALIZE}; exec sleep 1000",
        file.display()
    );
    let proxy = start_proxy(sh(&script), |config| {
        config.sessions.max_sessions = 2;
    })
    .await;
    let token = sign(&proxy.key, "mcp:read");
    // The layer counts a session when `initialize` has an id; without one
    // (or with a null one) nothing would bound the children started.
    let mut notification = initialize();
    notification.as_object_mut().unwrap().remove("id");
    let mut null_id = initialize();
    null_id["id"] = Value::Null;
    for body in [notification, null_id] {
        let openings: Vec<_> = (0..5)
            .map(|_| proxy.post(&token, None, &body).send())
            .collect();
        for opening in openings {
            assert_eq!(opening.await.unwrap().status(), 400);
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!file.exists(), "a child was started");
    assert_eq!(children(&proxy), 0);
    assert_eq!(proxy.layer.session_count(), 0);
}

#[tokio::test]
async fn a_list_answer_a_stdio_child_sends_on_its_own_is_filtered_on_the_stream() {
    let unsolicited = r#"{"jsonrpc":"2.0","id":"replay","result":{"tools":[{"name":"search"},{"name":"delete_repo"}],"prompts":[{"name":"secret_prompt"}]}}"#;
    let script = format!("read line; {ANSWER_INITIALIZE}; echo '{unsolicited}'; exec sleep 1000");
    let proxy = start_proxy(sh(&script), |_| {}).await;
    let token = sign(&proxy.key, "mcp:read");
    let response = proxy
        .post(&token, None, &initialize())
        .send()
        .await
        .unwrap();
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let mut stream = proxy.stream(&token, &session).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    let first = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&first);
    assert!(text.contains("\"search\""), "{text}");
    assert!(
        !text.contains("delete_repo") && !text.contains("secret_prompt"),
        "{text}"
    );
}

#[tokio::test]
async fn sse_line_ends_and_a_byte_order_mark_cannot_smuggle_a_list_past_the_filter() {
    let url = misbehaving(|mut stream, body| async move {
        let message: Value = serde_json::from_str(&body).unwrap();
        let id = message["id"].as_u64().unwrap();
        let list = json!({"jsonrpc": "2.0", "id": id, "result": {"tools": common::tools()}});
        // What an SSE client reads as one event holding the list answer.
        let pieces: Vec<String> = match id {
            1 => vec![format!("\u{feff}data: {list}\n\n")],
            2 => vec![format!("data: {list}\r\rdata: x\n\n")],
            3 => vec![format!("event: message\rdata: {list}\r\r")],
            _ => vec![
                format!("data: {list}\r"),
                "\n\r".to_owned(),
                "\n".to_owned(),
            ],
        };
        let _ = stream.write_all(SSE_HEAD.as_bytes()).await;
        for piece in pieces {
            let _ = stream.write_all(chunk(&piece).as_bytes()).await;
            let _ = stream.flush().await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = stream.write_all(b"0\r\n\r\n").await;
    })
    .await;
    let proxy = start_proxy(support::http(&url), |_| {}).await;
    let token = sign(&proxy.key, "mcp:read");
    for id in 1..=4 {
        let response = proxy.post(&token, None, &list(id)).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let text = response.text().await.unwrap();
        assert!(text.contains("\"search\""), "{id}: {text:?}");
        assert!(!text.contains("delete_repo"), "{id}: {text:?}");
    }
}

#[tokio::test]
async fn sse_data_the_filter_cannot_read_is_dropped_not_passed() {
    let url = misbehaving(|mut stream, body| async move {
        let message: Value = serde_json::from_str(&body).unwrap();
        let id = message["id"].as_u64().unwrap();
        let tools = common::tools().to_string();
        let head = format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{"tools":{tools}"#);
        // Each is read by `JSON.parse` (in a browser or Node SSE client),
        // none by serde_json.
        let events: Vec<Vec<u8>> = vec![
            // A lone surrogate.
            format!(r#"data: {head},"x":"\ud800"}}}}"#).into_bytes(),
            // Nesting past serde_json's recursion limit.
            format!(
                r#"data: {head},"x":{}0{}}}}}"#,
                "[".repeat(200),
                "]".repeat(200)
            )
            .into_bytes(),
            // A byte that is not UTF-8 (a client decodes it to U+FFFD).
            [format!(r#"data: {head},"x":""#).as_bytes(), b"\xff\"}}"].concat(),
            // And one it reads: passed.
            format!(
                "data: {}",
                json!({"jsonrpc": "2.0", "method": "notifications/progress",
                       "params": {"progress": 1}})
            )
            .into_bytes(),
        ];
        let _ = stream.write_all(SSE_HEAD.as_bytes()).await;
        for mut event in events {
            event.extend_from_slice(b"\n\n");
            let mut framed = format!("{:x}\r\n", event.len()).into_bytes();
            framed.extend_from_slice(&event);
            framed.extend_from_slice(b"\r\n");
            let _ = stream.write_all(&framed).await;
        }
        let _ = stream.write_all(b"0\r\n\r\n").await;
    })
    .await;
    let proxy = start_proxy(support::http(&url), |_| {}).await;
    let token = sign(&proxy.key, "mcp:read");
    let response = proxy.post(&token, None, &list(1)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = String::from_utf8_lossy(&response.bytes().await.unwrap()).into_owned();
    assert!(text.contains("\"progress\":1"), "{text}");
    assert!(!text.contains("delete_repo"), "{text}");
    assert!(!text.contains("search"), "{text}");
}

#[tokio::test]
async fn a_list_answer_that_stops_mid_body_fails_closed_after_the_idle_timeout() {
    let url = misbehaving(|mut stream, _| async move {
        let head =
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n";
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream
            .write_all(br#"{"jsonrpc":"2.0","id":1,"result":{"tools":["#)
            .await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    })
    .await;
    let proxy = start_proxy(support::http(&url), |config| {
        if let Upstream::Http(http) = &mut config.upstream {
            http.idle_timeout = Duration::from_millis(500);
        }
    })
    .await;
    let token = sign(&proxy.key, "mcp:read");
    let started = Instant::now();
    let response = tokio::time::timeout(
        Duration::from_secs(5),
        proxy.post(&token, None, &list(1)).send(),
    )
    .await
    .expect("answered before the upstream gives up")
    .unwrap();
    assert_eq!(response.status(), 502);
    assert_eq!(json_of(response).await["id"], 1);
    assert!(started.elapsed() < Duration::from_secs(3));
    still_serves(&proxy, &token).await;
}

#[tokio::test]
async fn a_child_writing_a_line_without_end_is_ended_not_buffered() {
    let file = pid_file("endless");
    // After its answer, a line of 1 MiB and more, no newline, forever.
    let script = format!(
        "echo $$ > {}; read line; {ANSWER_INITIALIZE}; exec tr '\\0' x < /dev/zero",
        file.display()
    );
    let proxy = start_proxy(sh(&script), |config| {
        if let Upstream::Stdio(stdio) = &mut config.upstream {
            stdio.max_line_bytes = 64 * 1024;
        }
    })
    .await;
    let token = sign(&proxy.key, "mcp:read");
    let response = proxy
        .post(&token, None, &initialize())
        .send()
        .await
        .unwrap();
    // The answer may beat the flood, or the flood may end the child first.
    let session = response
        .headers()
        .get("mcp-session-id")
        .map(|v| v.to_str().unwrap().to_owned());
    reaped(&file).await;
    assert_eq!(children(&proxy), 0);
    if let Some(session) = session {
        let response = proxy
            .post(&token, Some(&session), &call(1, "search"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
    }
}
