//! A signed token's claims are the attacker's text: the decision log must
//! write them so that they cannot forge a line or drive the terminal. In a
//! test binary of its own: the log is captured with a thread-local
//! subscriber, which no other test's events can race.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use aws_lc_rs::signature;
use common::*;
use serde_json::json;

#[tokio::test]
async fn claims_in_the_text_log_are_escaped_and_cannot_forge_lines() {
    let (logs, _guard) = capture_log(LogFormat::Text);
    let h = start(|_| {}).await;

    let mut claims = claims_now("");
    claims["sub"] = json!("evil\u{1b}[2J\nFAKE LINE decision=\"allow\"");
    claims["client_id"] = json!("app\r\n\u{202e}gnp.exe");
    claims["scp"] = json!(["mcp:read", "x\ny\u{1b}[31m"]);
    claims.as_object_mut().unwrap().remove("scope");
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": "k1"});
    let token = sign_with(&header, &claims, |message| {
        rsa_sign(&h.key, &signature::RSA_PKCS1_SHA256, message)
    });
    // One allowed call, one denied, and a body that is not JSON-RPC: every
    // event that names the subject.
    assert_eq!(h.post(Some(&token), &call(1, "search")).await.status(), 200);
    assert_eq!(
        h.post(Some(&token), &call(2, "delete_repo")).await.status(),
        403
    );
    let garbage = h
        .client
        .post(format!("{}/mcp", h.url))
        .bearer_auth(&token)
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 400);

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = logs.lines().collect();
    // Three events, three lines: no line was forged.
    assert_eq!(lines.len(), 3, "{logs}");
    assert!(!lines.iter().any(|l| l.starts_with("FAKE")), "{logs}");
    for forbidden in ['\u{1b}', '\r', '\u{202e}'] {
        assert!(
            !logs.contains(forbidden),
            "{forbidden:?} written raw: {logs:?}"
        );
    }
    for line in &lines {
        assert!(
            line.contains(r#"subject="evil\u{1b}[2J\nFAKE LINE decision=\"allow\"""#),
            "{line}"
        );
    }
    assert!(
        lines[0].contains(r#"client="app\r\n\u{202e}gnp.exe""#),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains(r#"scopes="mcp:read x\ny\u{1b}[31m""#),
        "{}",
        lines[0]
    );
}
