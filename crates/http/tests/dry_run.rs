//! Dry-run mode, in a test binary of its own: the decision log is captured
//! with a thread-local subscriber, which no other test's events can race.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use mcp_policy_http::Mode;

#[tokio::test]
async fn dry_run_lets_denials_through_and_logs_them() {
    let (logs, _guard) = capture_log(LogFormat::Text);

    let h = start(|c| c.mode = Mode::DryRun).await;
    let token = h.token("mcp:read");
    let response = h.post(Some(&token), &call(1, "delete_repo")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        json_of(response).await["result"]["content"][0]["text"],
        "called delete_repo for user-1 via app-7"
    );
    let listed = json_of(h.post(Some(&token), &list(2)).await).await;
    assert_eq!(names(&listed["result"]["tools"]).len(), 6);
    // Authentication stays enforced.
    assert_eq!(h.post(None, &call(1, "search")).await.status(), 401);

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let line = logs
        .lines()
        .find(|l| l.contains("delete_repo") && l.contains("policy decision"))
        .unwrap_or_else(|| panic!("no decision logged:\n{logs}"));
    for field in [
        "subject=\"user-1\"",
        "client=\"app-7\"",
        "method=\"tools/call\"",
        "decision=\"deny\"",
        "rule=\"tool delete_repo requires mcp:admin\"",
        "missing=\"mcp:admin\"",
        "mode=\"dry_run\"",
    ] {
        assert!(line.contains(field), "{field} missing in {line}");
    }
}
