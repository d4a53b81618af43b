//! The decision log is a trace: what the layer logs, as a server's JSON log
//! writes it, replays with `mcp-policy simulate` to the decisions the layer
//! made. In a test binary of its own: the log is captured with a
//! thread-local subscriber, which no other test's events can race.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use aws_lc_rs::signature;
use common::*;
use mcp_policy_evaluator::Evaluator;
use mcp_policy_sim::replay::Replay;
use mcp_policy_sim::trace::TraceReader;
use serde_json::{Value, json};

/// A token for the harness's key with these claims besides the usual ones.
fn token(h: &Harness, extra: Value) -> String {
    let mut claims = claims_now("");
    let object = claims.as_object_mut().unwrap();
    object.remove("scope");
    for (name, value) in extra.as_object().unwrap() {
        object.insert(name.clone(), value.clone());
    }
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": "k1"});
    sign_with(&header, &claims, |message| {
        rsa_sign(&h.key, &signature::RSA_PKCS1_SHA256, message)
    })
}

fn request(id: u64, method: &str, field: &str, name: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": {field: name}})
}

#[tokio::test]
async fn the_decision_log_replays_to_the_decisions_the_layer_made() {
    let (logs, _guard) = capture_log(LogFormat::Json);
    let h = start(|_| {}).await;

    let reader = token(&h, json!({"sub": "reader", "scope": "openid mcp:read"}));
    let writer_token = token(
        &h,
        json!({"sub": "writer", "client_id": "ide", "scp": ["mcp:write", "offline_access"]}),
    );
    let admin = token(&h, json!({"sub": "admin", "scope": "mcp:admin"}));
    let nobody = token(&h, json!({"sub": "nobody"}));
    // An `scp` entry with a space is one scope no policy declares: the
    // server denies `delete_repo`, and so must the replay of its log.
    let spaced = token(
        &h,
        json!({"sub": "spaced", "scp": ["mcp:read", "mcp:read mcp:admin", ""]}),
    );

    let calls: Vec<(&str, Value)> = vec![
        (&reader, call(1, "search")),
        (&reader, call(2, "create_issue")),
        (&reader, call(3, "debug_echo")),
        (&reader, call(4, "debug_dump_all")),
        (&reader, call(5, "no_rule")),
        (
            &reader,
            request(6, "resources/read", "uri", "repo://acme/api"),
        ),
        (&reader, request(7, "prompts/get", "name", "summarize")),
        (&writer_token, call(8, "create_issue")),
        (&writer_token, call(9, "delete_repo")),
        (&admin, call(10, "delete_repo")),
        (&nobody, call(11, "search")),
        (&nobody, request(12, "resources/read", "uri", "repo://x")),
        (&nobody, call(13, "debug_echo")),
        // A batch: each message is one decision.
        (&admin, json!([call(14, "search"), call(15, "no_rule")])),
        (&spaced, call(19, "delete_repo")),
        (&spaced, call(20, "search")),
        // Events on the decision target that are not calls.
        (&reader, list(16)),
        (
            &reader,
            json!({"jsonrpc": "2.0", "id": 17, "method": "tools/call", "params": {}}),
        ),
    ];
    for (token, body) in &calls {
        h.post(Some(token), body).await;
    }
    assert_eq!(
        h.post(Some("not-a-token"), &call(18, "search"))
            .await
            .status(),
        401
    );

    let log = logs.0.lock().unwrap().clone();
    let policy = Evaluator::from_source(POLICY).unwrap();
    let mut reader = TraceReader::new(log.as_slice());
    let mut replay = Replay::new(&policy);
    let mut replayed = Vec::new();
    for item in reader.by_ref() {
        let record =
            item.unwrap_or_else(|error| panic!("{error}\n{}", String::from_utf8_lossy(&log)));
        let recorded = record
            .recorded
            .clone()
            .expect("the log records its decision");
        let decided = replay.replay(&record);
        assert_eq!(
            decided.allowed, recorded.allowed,
            "line {}: {record:?}",
            record.line
        );
        assert!(!decided.drift);
        assert_eq!(
            decided.rule.map(|rule| rule.text.as_str()),
            recorded.rule_text(),
            "line {}",
            record.line
        );
        replayed.push((
            record.subject.clone().unwrap(),
            record.name.clone(),
            record.scope_string(),
            decided.allowed,
        ));
    }
    // Every call was logged, with the scopes as the token granted them.
    let expected = [
        ("reader", "search", "openid mcp:read", true),
        ("reader", "create_issue", "openid mcp:read", false),
        ("reader", "debug_echo", "openid mcp:read", true),
        ("reader", "debug_dump_all", "openid mcp:read", false),
        ("reader", "no_rule", "openid mcp:read", false),
        ("reader", "repo://acme/api", "openid mcp:read", true),
        ("reader", "summarize", "openid mcp:read", true),
        ("writer", "create_issue", "mcp:write offline_access", true),
        ("writer", "delete_repo", "mcp:write offline_access", false),
        ("admin", "delete_repo", "mcp:admin", true),
        ("nobody", "search", "", false),
        ("nobody", "repo://x", "", false),
        ("nobody", "debug_echo", "", true),
        ("admin", "search", "mcp:admin", true),
        ("admin", "no_rule", "mcp:admin", false),
        ("spaced", "delete_repo", "mcp:read", false),
        ("spaced", "search", "mcp:read", true),
    ];
    let replayed: Vec<(&str, &str, &str, bool)> = replayed
        .iter()
        .map(|(s, n, sc, a)| (s.as_str(), n.as_str(), sc.as_str(), *a))
        .collect();
    assert_eq!(replayed, expected);
    // The list filtered, the invalid call and the rejected token.
    assert_eq!(reader.skipped(), 3, "{}", String::from_utf8_lossy(&log));
    let summary = replay.finish(reader.skipped());
    assert_eq!(summary.totals.calls(), 17);
    assert_eq!(summary.recorded, 17);
    assert_eq!(summary.malformed, 0);
}
