//! The decision log of a policy with conditions: it records the arguments
//! the decision read and only those (no other argument, no claim value),
//! as compact JSON a replay can read back, escaped so that no argument can
//! forge a line; and bounded, so that a huge argument is not a huge line.
//! In a test binary of its own: the log is captured with a thread-local
//! subscriber, which no other test's events can race.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use axum::Router;
use axum::routing::post;
use common::*;
use mcp_policy_http::MAX_LOGGED_ARGUMENTS_BYTES;
use mcp_policy_sim::trace::TraceReader;
use serde_json::{Value, json};

async fn harness() -> Harness {
    let app = Router::new().route("/mcp", post(mcp));
    start_with(conditional::policy().build(), |_| {}, app).await
}

/// The `fields` of every decision event of a JSON log.
fn decisions(log: &[u8]) -> Vec<Value> {
    String::from_utf8(log.to_vec())
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|event| event["fields"]["message"] == "policy decision")
        .map(|event| event["fields"].clone())
        .collect()
}

#[tokio::test]
async fn the_log_records_the_arguments_the_decision_read_and_nothing_else() {
    let (logs, _guard) = capture_log(LogFormat::Json);
    let h = harness().await;
    let acme = sign_claims(
        &h.key,
        "mcp:read",
        json!({"sub": "alice", "tenant": "acme", "secret_claim": "claim-s3cr3t"}),
    );
    let globex = sign_claims(&h.key, "mcp:read", json!({"tenant": "gl0bex"}));
    let calls = [
        (
            &acme,
            call_with(
                1,
                "read_file",
                json!({"path": "/workspace/a", "secret": "arg-s3cr3t", "opts": {"x": 1}}),
            ),
        ),
        (
            &acme,
            call_with(2, "read_file", json!({"path": "/workspace/../etc/passwd"})),
        ),
        (
            &acme,
            call_with(3, "scan", json!({"path": "/srv/.env", "n": "arg-s3cr3t"})),
        ),
        (
            &globex,
            call_with(4, "tenant_report", json!({"q": "arg-s3cr3t"})),
        ),
        (&acme, call_with(5, "search", json!({"q": "arg-s3cr3t"}))),
        (
            &acme,
            call_with(
                6,
                "nested",
                json!({"repo": {"owner": "alice", "token": "arg-s3cr3t"}, "x": 1}),
            ),
        ),
        (&acme, call_with(7, "read_file", json!(["/workspace/a"]))),
    ];
    for (token, body) in &calls {
        h.post(Some(token), body).await;
    }
    let log = logs.0.lock().unwrap().clone();
    let text = String::from_utf8(log.clone()).unwrap();
    for secret in ["arg-s3cr3t", "claim-s3cr3t", "gl0bex"] {
        assert!(!text.contains(secret), "{secret} logged: {text}");
    }
    let events = decisions(&log);
    assert_eq!(events.len(), calls.len(), "{text}");
    let field = |event: &Value, name: &str| event.get(name).cloned();
    let arguments = |event: &Value| {
        field(event, "arguments").map(|text| {
            // A string holding compact JSON: read back as a replay would.
            let text = text.as_str().unwrap().to_owned();
            let value: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(value.to_string(), text, "compact");
            value
        })
    };
    let under = r#"arg.path under "/workspace""#;
    // 1: allowed; the deny rule's and the allow rule's `path`, no more.
    assert_eq!(events[0]["decision"], "allow");
    assert_eq!(arguments(&events[0]), Some(json!({"path": "/workspace/a"})));
    assert_eq!(field(&events[0], "failed_conditions"), None);
    // 2: denied by the condition, which is named.
    assert_eq!(events[1]["decision"], "deny");
    assert_eq!(
        arguments(&events[1]),
        Some(json!({"path": "/workspace/../etc/passwd"}))
    );
    assert_eq!(
        serde_json::from_str::<Value>(events[1]["failed_conditions"].as_str().unwrap()).unwrap(),
        json!([under])
    );
    assert_eq!(events[1]["missing"], "");
    assert_eq!(
        events[1]["rule"],
        r#"tool read_file requires all_of(mcp:read, arg.path under "/workspace")"#
    );
    // 3: a deny-when fired, on the path only.
    assert_eq!(arguments(&events[2]), Some(json!({"path": "/srv/.env"})));
    assert_eq!(
        serde_json::from_str::<Value>(events[2]["denied_when"].as_str().unwrap()).unwrap(),
        json!([r#"arg.path matches "*.env""#])
    );
    assert_eq!(
        events[2]["rule"],
        r#"deny tool scan when arg.path matches "*.env""#
    );
    // 4: a claim condition reads no argument, and the claim's value is not
    // logged (the subject and scopes are, as for every decision).
    assert_eq!(events[3]["decision"], "deny");
    assert_eq!(arguments(&events[3]), None);
    // 5: an unconditional rule reads nothing: the line is as it always was.
    assert_eq!(events[4]["decision"], "allow");
    assert_eq!(arguments(&events[4]), None);
    assert_eq!(field(&events[4], "arguments_omitted"), None);
    // 6: a nested path: the objects on the way, and the one value.
    assert_eq!(
        arguments(&events[5]),
        Some(json!({"repo": {"owner": "alice"}}))
    );
    // 7: arguments that are not an object: nothing to read, nothing logged.
    assert_eq!(events[6]["decision"], "deny");
    assert_eq!(arguments(&events[6]), None);

    // Every line still reads as a trace, none malformed.
    let mut reader = TraceReader::new(log.as_slice());
    let records: Vec<_> = reader.by_ref().collect();
    assert!(records.iter().all(Result::is_ok), "{records:?}");
    assert_eq!(records.len(), calls.len());
}

#[tokio::test]
async fn arguments_past_the_limit_are_left_out_and_their_size_logged() {
    let (logs, _guard) = capture_log(LogFormat::Json);
    let h = harness().await;
    let reader = h.token("mcp:read");
    let path = format!("/workspace/{}", "p".repeat(MAX_LOGGED_ARGUMENTS_BYTES));
    h.post(
        Some(&reader),
        &call_with(1, "read_file", json!({"path": path})),
    )
    .await;
    // Just at the limit: kept.
    let fits = format!(
        "/workspace/{}",
        "p".repeat(MAX_LOGGED_ARGUMENTS_BYTES - r#"{"path":"/workspace/"}"#.len())
    );
    h.post(
        Some(&reader),
        &call_with(2, "read_file", json!({"path": fits})),
    )
    .await;
    let log = logs.0.lock().unwrap().clone();
    let events = decisions(&log);
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["decision"], "allow");
    assert!(events[0].get("arguments").is_none());
    assert_eq!(
        events[0]["arguments_omitted"],
        json!(MAX_LOGGED_ARGUMENTS_BYTES + r#"{"path":"/workspace/"}"#.len())
    );
    assert_eq!(
        events[1]["arguments"].as_str().unwrap().len(),
        MAX_LOGGED_ARGUMENTS_BYTES
    );
    assert!(events[1].get("arguments_omitted").is_none());
    // Each line well under a replay's 1 MiB.
    for line in String::from_utf8(log).unwrap().lines() {
        assert!(line.len() < 2 * MAX_LOGGED_ARGUMENTS_BYTES);
    }
}

#[tokio::test]
async fn an_argument_in_the_text_log_is_escaped_and_cannot_forge_lines() {
    let (logs, _guard) = capture_log(LogFormat::Text);
    let h = harness().await;
    let reader = h.token("mcp:read");
    let evil = "/workspace/a\"\n2025-01-01T00:00:00Z  INFO FAKE LINE decision=\"allow\"\u{1b}[2J\r\u{202e}";
    h.post(
        Some(&reader),
        &call_with(1, "read_file", json!({"path": evil})),
    )
    .await;
    // A key read by the policy, spelt to break out of the JSON.
    h.post(
        Some(&reader),
        &call_with(2, "nested", json!({"repo": {"owner": "x\"}\n FAKE"}})),
    )
    .await;
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = logs.lines().collect();
    assert_eq!(lines.len(), 2, "{logs}");
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("FAKE LINE decision=\"allow\""))
    );
    for forbidden in ['\u{1b}', '\r', '\u{202e}'] {
        assert!(!logs.contains(forbidden), "{forbidden:?} raw: {logs:?}");
    }
    assert!(
        lines[0].contains(r#"arguments="{\"path\":"#),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains(r#"arguments="{\"repo\":{\"owner\":"#),
        "{}",
        lines[1]
    );
}
