//! A request's progress down its own answer (`mcp-policy proxy -- COMMAND`,
//! both stdio modes), attacked as a hostile client would: floods, clients
//! that stop reading, tokens that collide or are of odd types. The child is
//! the Node fixture, tests/fixtures/stdio-server.mjs (`debug_flood`).
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

use common::{json_of, sign};
use mcp_policy_proxy::{AnyUpstream, StdioConfig, StdioMode, Upstream};
use serde_json::{Value, json};
use support::{Running, initialize, start_proxy};

fn config(mode: StdioMode) -> StdioConfig {
    let script = format!(
        "{}/tests/fixtures/stdio-server.mjs",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut config = StdioConfig::new(vec!["node".into(), script]);
    config.mode = mode;
    config
}

async fn open(proxy: &Running, token: &str) -> String {
    let response = proxy.post(token, None, &initialize()).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let session = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let response = proxy
        .post(token, Some(&session), &initialized)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    session
}

fn flood(id: Value, token: Value, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": "debug_flood", "arguments": arguments,
                      "_meta": {"progressToken": token}}})
}

fn echo(id: u64, token: Value, delay: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": "debug_echo", "arguments": {"text": "hi", "delay": delay},
                      "_meta": {"progressToken": token}}})
}

/// The JSON-RPC messages of an SSE body, in order.
fn events(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .map(|data| serde_json::from_str(data).unwrap())
        .collect()
}

async fn plain_call(proxy: &Running, token: &str, session: &str, id: u64) -> Value {
    let call = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                      "params": {"name": "debug_echo", "arguments": {"text": "other"}}});
    let response = tokio::time::timeout(
        Duration::from_secs(5),
        proxy.post(token, Some(session), &call).send(),
    )
    .await
    .expect("another request was held up")
    .unwrap();
    json_of(response).await
}

// 100 times PROGRESS_CAPACITY, read at once: the answer comes last, and the
// progress that does come is the request's own, in order.
#[tokio::test]
async fn a_flood_of_progress_still_ends_with_the_answer() {
    for mode in [StdioMode::PerSession, StdioMode::Shared] {
        let proxy = start_proxy(Upstream::Stdio(config(mode)), |_| {}).await;
        let token = sign(&proxy.key, "mcp:read");
        let session = open(&proxy, &token).await;
        for count in [640, 6400] {
            let response = proxy
                .post(
                    &token,
                    Some(&session),
                    &flood(json!(1), json!("f"), json!({"count": count, "size": 100})),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(response.headers()["content-type"], "text/event-stream");
            let events = events(&response.text().await.unwrap());
            let (answer, progress) = events.split_last().unwrap();
            assert_eq!(answer["id"], 1, "{mode:?}");
            assert!(
                answer["result"]["content"][0]["text"]
                    .as_str()
                    .unwrap()
                    .contains("flooded")
            );
            assert!(progress.len() <= count, "{}", progress.len());
            let mut last = -1;
            for event in progress {
                assert_eq!(event["params"]["progressToken"], "f");
                let n = event["params"]["progress"].as_i64().unwrap();
                assert!(n > last, "out of order");
                last = n;
            }
        }
    }
}

// A client that stops reading its answer stream while the child floods it
// holds up neither its session's other requests nor other sessions.
#[tokio::test]
async fn a_stalled_answer_stream_holds_up_nothing_else() {
    for mode in [StdioMode::PerSession, StdioMode::Shared] {
        let proxy = start_proxy(Upstream::Stdio(config(mode)), |_| {}).await;
        let token = sign(&proxy.key, "mcp:read");
        let session = open(&proxy, &token).await;
        let other = open(&proxy, &token).await;
        // About 64 MB of progress, never read.
        let stalled = proxy
            .post(
                &token,
                Some(&session),
                &flood(
                    json!(1),
                    json!("s"),
                    json!({"count": 16_000, "size": 4000, "answer": false}),
                ),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(stalled.headers()["content-type"], "text/event-stream");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let answer = plain_call(&proxy, &token, &session, 2).await;
        assert_eq!(answer["id"], 2, "{mode:?}: {answer}");
        let answer = plain_call(&proxy, &token, &other, 2).await;
        assert_eq!(answer["id"], 2, "{mode:?}: {answer}");
        drop(stalled);
    }
}

// A client that never reads its answer stream: its request still times out
// and leaves nothing pending (shared mode counts what is in flight).
#[tokio::test]
async fn a_request_whose_client_stops_reading_still_times_out() {
    let mut config = config(StdioMode::Shared);
    config.request_timeout = Duration::from_secs(1);
    let proxy = start_proxy(Upstream::Stdio(config), |_| {}).await;
    let token = sign(&proxy.key, "mcp:read");
    let session = open(&proxy, &token).await;
    let shared = match &proxy.upstream {
        AnyUpstream::Shared(shared) => shared.clone(),
        _ => panic!("not shared"),
    };
    let stalled = proxy
        .post(
            &token,
            Some(&session),
            &flood(
                json!(1),
                json!("s"),
                json!({"count": 16_000, "size": 4000, "answer": false, "pace": 5}),
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(stalled.headers()["content-type"], "text/event-stream");
    tokio::time::sleep(Duration::from_millis(4000)).await;
    assert_eq!(
        shared.in_flight(),
        0,
        "the request is still pending past its timeout"
    );
    drop(stalled);
}

// Tokens that collide: 1 and "1" in one session are two tokens; the same
// token in two sessions of one shared child is each session's own.
#[tokio::test]
async fn colliding_tokens_each_get_their_own_progress() {
    let proxy = start_proxy(Upstream::Stdio(config(StdioMode::PerSession)), |_| {}).await;
    let token = sign(&proxy.key, "mcp:read");
    let session = open(&proxy, &token).await;
    let (a, b) = tokio::join!(
        proxy
            .post(&token, Some(&session), &echo(1, json!(1), 300))
            .send(),
        proxy
            .post(&token, Some(&session), &echo(2, json!("1"), 300))
            .send(),
    );
    for (response, id, progress) in [(a, 1, json!(1)), (b, 2, json!("1"))] {
        let events = events(&response.unwrap().text().await.unwrap());
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!(events[0]["params"]["progressToken"], progress);
        assert_eq!(events[1]["id"], id);
    }

    let proxy = start_proxy(Upstream::Stdio(config(StdioMode::Shared)), |_| {}).await;
    let one = open(&proxy, &token).await;
    let two = open(&proxy, &token).await;
    let (a, b) = tokio::join!(
        proxy
            .post(&token, Some(&one), &echo(1, json!("t"), 300))
            .send(),
        proxy
            .post(&token, Some(&two), &echo(1, json!("t"), 300))
            .send(),
    );
    for response in [a, b] {
        let events = events(&response.unwrap().text().await.unwrap());
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!(events[0]["params"]["progressToken"], "t");
        assert_eq!(events[1]["id"], 1);
    }
}

// A number token the client writes as 1e2 or 100.0: the child reads the
// number 100 and says 100. Its progress is still the request's.
#[tokio::test]
async fn a_number_token_written_otherwise_is_still_its_requests() {
    let proxy = start_proxy(Upstream::Stdio(config(StdioMode::PerSession)), |_| {}).await;
    let token = sign(&proxy.key, "mcp:read");
    let session = open(&proxy, &token).await;
    for written in ["1e2", "100.0", "100"] {
        let body = echo(1, json!(0), 0).to_string().replace(
            "\"progressToken\":0",
            &format!("\"progressToken\":{written}"),
        );
        let response = proxy
            .client
            .post(&proxy.url)
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &session)
            .body(body)
            .send()
            .await
            .unwrap();
        let events = events(&response.text().await.unwrap());
        assert_eq!(events.len(), 2, "{written}: {events:?}");
        assert_eq!(events[0]["method"], "notifications/progress", "{written}");
    }
}

// Tokens of other types, notifications, batches: JSON answers, no stream.
#[tokio::test]
async fn odd_tokens_notifications_and_batches_get_json() {
    for mode in [StdioMode::PerSession, StdioMode::Shared] {
        let proxy = start_proxy(Upstream::Stdio(config(mode)), |_| {}).await;
        let token = sign(&proxy.key, "mcp:read");
        let session = open(&proxy, &token).await;
        for (id, odd) in [json!({"a": 1}), json!([1]), json!(null), json!(true)]
            .into_iter()
            .enumerate()
        {
            let response = proxy
                .post(&token, Some(&session), &echo(id as u64 + 10, odd, 0))
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.headers()["content-type"],
                "application/json",
                "{mode:?}"
            );
            assert_eq!(json_of(response).await["id"], id + 10);
        }
        let mut notification = echo(0, json!("n"), 0);
        notification.as_object_mut().unwrap().remove("id");
        let response = proxy
            .post(&token, Some(&session), &notification)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202, "{mode:?}");
        let batch = json!([echo(20, json!("b1"), 0), echo(21, json!("b2"), 0)]);
        let response = proxy
            .post(&token, Some(&session), &batch)
            .send()
            .await
            .unwrap();
        let answer = json_of(response).await;
        assert!(answer.is_array(), "{mode:?}: {answer}");
        // A huge token (256 KiB) is a token like any other.
        let huge = "h".repeat(1 << 18);
        let response = proxy
            .post(&token, Some(&session), &echo(30, json!(huge), 0))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{mode:?}");
        let huge_events = events(&response.text().await.unwrap());
        assert_eq!(huge_events.len(), 2, "{mode:?}");
        assert_eq!(huge_events[0]["params"]["progressToken"], json!(huge));
        // Progress after the answer does not follow it down the stream.
        let response = proxy
            .post(
                &token,
                Some(&session),
                &flood(json!(31), json!("late"), json!({"count": 1, "after": 5})),
            )
            .send()
            .await
            .unwrap();
        let events = events(&response.text().await.unwrap());
        assert_eq!(events.last().unwrap()["id"], 31, "{mode:?}: {events:?}");
        assert!(events.len() <= 2, "{mode:?}: {events:?}");
    }
}
