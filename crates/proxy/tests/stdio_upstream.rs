//! `mcp-policy proxy -- COMMAND`: a stdio MCP server (a Node script using
//! only Node's standard library, tests/fixtures/stdio-server.mjs) served
//! over Streamable HTTP on 127.0.0.1, one child process per session.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../http/tests/common/mod.rs"]
mod common;
mod support;

use std::time::Duration;

use common::{call, json_of, list, names, sign};
use mcp_policy_http::SessionLimits;
use mcp_policy_proxy::{AnyUpstream, StdioConfig, Upstream};
use serde_json::{Value, json};
use support::{Running, initialize, start_proxy};

fn stdio() -> Upstream {
    let script = format!(
        "{}/tests/fixtures/stdio-server.mjs",
        env!("CARGO_MANIFEST_DIR")
    );
    Upstream::Stdio(StdioConfig::new(vec!["node".into(), script]))
}

fn children(proxy: &Running) -> usize {
    match &proxy.upstream {
        AnyUpstream::Stdio(stdio) => stdio.children(),
        _ => panic!("not a per-session stdio upstream"),
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
    assert_eq!(answer["result"]["serverInfo"]["name"], "stdio-test");
    session
}

async fn text(proxy: &Running, token: &str, session: &str, id: u64, tool: &str) -> Value {
    let response = proxy
        .post(token, Some(session), &call(id, tool))
        .send()
        .await
        .unwrap();
    json_of(response).await
}

fn pid_of(answer: &Value) -> u32 {
    answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn each_session_gets_a_child_of_its_own() {
    let proxy = start_proxy(stdio(), |_| {}).await;
    let token = sign(&proxy.key, "mcp:read");
    let first = open(&proxy, &token).await;
    let second = open(&proxy, &token).await;
    // Unguessable ids, not counters.
    assert_eq!(first.len(), 32);
    assert!(first.chars().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(first, second);
    assert_eq!(children(&proxy), 2);

    // The policy still decides, and filters the child's list.
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
        ["search", "debug_echo", "debug_sample", "debug_crash"]
    );
    let denied = proxy
        .post(&token, Some(&first), &call(2, "delete_repo"))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);

    let one = pid_of(&text(&proxy, &token, &first, 3, "search").await);
    let two = pid_of(&text(&proxy, &token, &second, 3, "search").await);
    assert_ne!(one, two, "two sessions share a child");
    assert!(std::path::Path::new(&format!("/proc/{one}")).exists());

    // DELETE ends the session and its child.
    let ended = proxy.delete(&token, &first).send().await.unwrap();
    assert_eq!(ended.status(), 202);
    assert_eq!(children(&proxy), 1);
    let mut gone = false;
    for _ in 0..100 {
        // Gone, or a zombie until the runtime reaps it.
        let status = std::fs::read_to_string(format!("/proc/{one}/status")).unwrap_or_default();
        if status.is_empty() || status.contains("State:\tZ") {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone, "the child of an ended session still runs");
    let after = proxy
        .post(&token, Some(&first), &call(4, "search"))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 404);
    // The other session goes on.
    assert_eq!(
        pid_of(&text(&proxy, &token, &second, 5, "search").await),
        two
    );
}

#[tokio::test]
async fn requests_from_the_child_reach_the_client_and_its_answers_the_child() {
    let proxy = start_proxy(stdio(), |_| {}).await;
    let token = sign(&proxy.key, "mcp:read");
    let session = open(&proxy, &token).await;
    let mut stream = proxy.stream(&token, &session).send().await.unwrap();
    assert_eq!(stream.status(), 200);

    // The tool call waits on the child, which first asks the client.
    let pending = proxy
        .post(&token, Some(&session), &call(7, "debug_sample"))
        .send();
    let pending = tokio::spawn(pending);
    let mut seen = String::new();
    let asked = loop {
        let chunk = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
            .await
            .expect("no event from the child")
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
    assert!(seen.contains("notifications/progress"), "{seen}");
    assert_eq!(asked["id"], "sample-7");

    // The client answers on a POST of its own.
    let answer = json!({"jsonrpc": "2.0", "id": "sample-7",
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

    // One stream at a time.
    let second = proxy.stream(&token, &session).send().await.unwrap();
    assert_eq!(second.status(), 409);
}

#[tokio::test]
async fn a_crashed_child_fails_its_session_only() {
    let proxy = start_proxy(stdio(), |_| {}).await;
    let token = sign(&proxy.key, "mcp:read");
    let doomed = open(&proxy, &token).await;
    let other = open(&proxy, &token).await;
    let crashed = text(&proxy, &token, &doomed, 1, "debug_crash").await;
    assert_eq!(crashed["id"], 1);
    assert_eq!(crashed["error"]["message"], "the upstream process exited");
    // The session is gone: 404, upon which a client starts a new one.
    let after = proxy
        .post(&token, Some(&doomed), &call(2, "search"))
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 404);
    let again = open(&proxy, &token).await;
    assert!(text(&proxy, &token, &again, 3, "search").await["result"].is_object());
    assert!(text(&proxy, &token, &other, 3, "search").await["result"].is_object());
    assert_eq!(children(&proxy), 2);
}

#[tokio::test]
async fn sessions_past_the_limit_start_no_child() {
    let proxy = start_proxy(stdio(), |config| {
        config.sessions = SessionLimits {
            max_sessions: 2,
            ..SessionLimits::default()
        };
    })
    .await;
    let token = sign(&proxy.key, "mcp:read");
    open(&proxy, &token).await;
    open(&proxy, &token).await;
    let mut refused = 0;
    for _ in 0..5 {
        let response = proxy
            .post(&token, None, &initialize())
            .send()
            .await
            .unwrap();
        if response.status() == 503 {
            assert!(response.headers().contains_key("retry-after"));
            refused += 1;
        }
    }
    assert_eq!(refused, 5);
    assert_eq!(children(&proxy), 2);
}

#[tokio::test]
async fn a_command_that_cannot_start_is_a_502_and_no_session() {
    let proxy = start_proxy(
        Upstream::Stdio(StdioConfig::new(vec!["/nonexistent/mcp-server".into()])),
        |_| {},
    )
    .await;
    let token = sign(&proxy.key, "mcp:read");
    let response = proxy
        .post(&token, None, &initialize())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    assert!(response.headers().get("mcp-session-id").is_none());
    assert_eq!(
        json_of(response).await["error"]["message"],
        "upstream unavailable"
    );
    assert_eq!(children(&proxy), 0);
}

#[tokio::test]
async fn a_client_that_hangs_up_can_use_its_id_again_and_leaves_nothing_pending() {
    let proxy = start_proxy(stdio(), |_| {}).await;
    let token = sign(&proxy.key, "mcp:read");
    let session = open(&proxy, &token).await;
    let slow = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
        "params": {"name": "debug_echo", "arguments": {"text": "slow", "delay": 10_000}}});
    for _ in 0..3 {
        let gone = proxy
            .post(&token, Some(&session), &slow)
            .timeout(Duration::from_millis(150))
            .send()
            .await;
        assert!(gone.is_err(), "{gone:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The id of the abandoned call is free again: not "in flight".
    let answer = text(&proxy, &token, &session, 5, "search").await;
    assert!(answer.get("result").is_some(), "{answer}");
}

#[tokio::test]
async fn a_child_that_stops_reading_ends_its_session_within_the_timeout() {
    // Answers initialize, then never reads its stdin again.
    let deaf = r#"
const rl = require("readline").createInterface({ input: process.stdin });
rl.once("line", (line) => {
  const m = JSON.parse(line);
  process.stdout.write(JSON.stringify({ jsonrpc: "2.0", id: m.id, result: {
    protocolVersion: "2025-06-18", capabilities: { tools: {} },
    serverInfo: { name: "stdio-test", version: "1" } } }) + "\n");
  rl.close();
  process.stdin.pause();
  setInterval(() => {}, 1000);
});
"#;
    let mut config = StdioConfig::new(vec!["node".into(), "-e".into(), deaf.into()]);
    config.request_timeout = Duration::from_millis(500);
    let proxy = start_proxy(Upstream::Stdio(config), |_| {}).await;
    let token = sign(&proxy.key, "mcp:read");
    let session = open(&proxy, &token).await;
    // More than a pipe holds (64 KiB), within the 1 MiB a body may have.
    let padding = "x".repeat(900);
    let batch: Vec<Value> = (0..600)
        .map(|i| {
            json!({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                   "params": {"name": "search", "arguments": {"q": padding}}})
        })
        .collect();
    let started = std::time::Instant::now();
    let answer = proxy
        .post(&token, Some(&session), &Value::Array(batch))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let answer = json_of(answer).await;
    assert!(answer[0]["error"]["message"].is_string(), "{answer}");
    assert_eq!(children(&proxy), 0);
}

/// The JSON-RPC messages of an SSE body, in order.
fn events(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .map(|data| serde_json::from_str(data).unwrap())
        .collect()
}

// A request's progress goes down its own answer, before the answer: on the
// GET stream, the last progress could reach the client after the answer,
// which ends the request for it (the official conformance suite's
// tools-call-with-progress lost its third notification so).
#[tokio::test]
async fn progress_comes_on_its_requests_answer_before_the_answer() {
    let proxy = start_proxy(stdio(), |_| {}).await;
    let token = sign(&proxy.key, "mcp:read");
    let session = open(&proxy, &token).await;
    let mut stream = proxy.stream(&token, &session).send().await.unwrap();
    assert_eq!(stream.status(), 200);

    let asking = |id: u64, token: Value| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
               "params": {"name": "debug_echo", "arguments": {"text": "hi", "delay": 50},
                          "_meta": {"progressToken": token}}})
    };
    for (id, progress) in [(5, json!("p-5")), (6, json!(6))] {
        let response = proxy
            .post(&token, Some(&session), &asking(id, progress.clone()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let events = events(&response.text().await.unwrap());
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!(events[0]["method"], "notifications/progress");
        assert_eq!(events[0]["params"]["progressToken"], progress);
        assert_eq!(events[1]["id"], id);
        let echoed: Value =
            serde_json::from_str(events[1]["result"]["content"][0]["text"].as_str().unwrap())
                .unwrap();
        assert_eq!(echoed["text"], "hi");
    }
    // None of it went to the GET stream.
    let quiet = tokio::time::timeout(Duration::from_millis(300), stream.chunk()).await;
    assert!(quiet.is_err(), "the GET stream got {quiet:?}");

    // A client that takes JSON only gets JSON; the progress goes where it can.
    let response = proxy
        .client
        .post(&proxy.url)
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .header("mcp-session-id", &session)
        .body(asking(7, json!("p-7")).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(json_of(response).await["id"], 7);
    let chunk = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
        .await
        .expect("the progress did not reach the GET stream")
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&chunk).contains("\"p-7\""));

    // A list answered as a stream is filtered as any other.
    let listing = json!({"jsonrpc": "2.0", "id": 8, "method": "tools/list",
                         "params": {"_meta": {"progressToken": "p-8"}}});
    let response = proxy
        .post(&token, Some(&session), &listing)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let events = events(&response.text().await.unwrap());
    let listed = events.last().unwrap();
    assert_eq!(listed["id"], 8);
    assert_eq!(
        names(&listed["result"]["tools"]),
        ["search", "debug_echo", "debug_sample", "debug_crash"]
    );
}

#[tokio::test]
async fn a_client_that_hangs_up_on_its_progress_frees_the_id_and_the_token() {
    let proxy = start_proxy(stdio(), |_| {}).await;
    let token = sign(&proxy.key, "mcp:read");
    let session = open(&proxy, &token).await;
    let asking = |delay: u64| {
        json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
               "params": {"name": "debug_echo", "arguments": {"text": "again", "delay": delay},
                          "_meta": {"progressToken": "p"}}})
    };
    for _ in 0..3 {
        let response = proxy
            .post(&token, Some(&session), &asking(10_000))
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        drop(response);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Neither "a request with this id is in flight" nor a token still routed
    // to a stream nobody reads.
    let response = proxy
        .post(&token, Some(&session), &asking(0))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let events = events(&response.text().await.unwrap());
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0]["params"]["progressToken"], "p");
    assert!(
        events[1]["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("again")
    );
}
