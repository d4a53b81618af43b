//! Conditions on arguments and claims through the layer: each request is
//! decided on its own `params.arguments` and its own token's claims; a
//! condition that fails (or a `deny ... when` that fires) is answered with
//! the atoms' texts and never a step-up challenge; lists show what some
//! arguments could call; and a body the server could read otherwise than
//! the policy (a duplicate key, at any depth) is refused before any
//! decision.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::post;
use common::*;
use mcp_policy_http::{Denial, INSUFFICIENT_SCOPE_CODE, Mode};
use serde_json::{Value, json};

/// What the server received: every body the layer forwarded.
type Seen = Arc<Mutex<Vec<Value>>>;

fn answer_to(message: &Value) -> Value {
    let id = message["id"].clone();
    let tools: Vec<Value> = [
        "read_file",
        "write_file",
        "tenant_report",
        "same_tenant",
        "scan",
        "nested",
        "search",
        "delete_repo",
    ]
    .iter()
    .map(|name| json!({"name": name, "inputSchema": {"type": "object"}}))
    .collect();
    match message["method"].as_str().unwrap_or("") {
        "tools/list" => json!({"jsonrpc": "2.0", "id": id, "result": {"tools": tools}}),
        "resources/list" => json!({"jsonrpc": "2.0", "id": id, "result": {"resources": [
            {"uri": "tenant://acme/a", "name": "a"}, {"uri": "repo://acme/b", "name": "b"},
        ]}}),
        "prompts/list" => json!({"jsonrpc": "2.0", "id": id, "result": {"prompts": [
            {"name": "summarize"},
        ]}}),
        method => json!({"jsonrpc": "2.0", "id": id, "result": {
            "content": [{"type": "text", "text": format!("{method} {}", message["params"])}],
            "isError": false,
        }}),
    }
}

fn app(seen: &Seen) -> Router {
    let seen = Arc::clone(seen);
    Router::new().route(
        "/mcp",
        post(move |body: Bytes| {
            let seen = Arc::clone(&seen);
            async move {
                let message: Value = serde_json::from_slice(&body).unwrap();
                seen.lock().unwrap().push(message.clone());
                let reply = match &message {
                    Value::Array(batch) => Value::Array(batch.iter().map(answer_to).collect()),
                    single => answer_to(single),
                };
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    reply.to_string(),
                )
                    .into_response()
            }
        }),
    )
}

async fn harness(configure: impl FnOnce(&mut mcp_policy_http::HttpConfig)) -> (Harness, Seen) {
    let seen = Seen::default();
    let h = start_with(conditional::policy().build(), configure, app(&seen)).await;
    (h, seen)
}

/// A token with `scope` and these claims on top.
fn token(h: &Harness, scope: &str, claims: Value) -> String {
    sign_claims(&h.key, scope, claims)
}

/// Posts a raw body (not re-serialised: duplicate keys survive).
async fn post_raw(h: &Harness, token: &str, body: &str) -> reqwest::Response {
    h.client
        .post(format!("{}/mcp", h.url))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

/// The answer to a call that conditions denied: HTTP 200, no challenge,
/// JSON-RPC error -32001 with `message`, and the atoms in `data`.
async fn assert_condition_denial(response: reqwest::Response, message: &str, data: Value) {
    assert_eq!(response.status(), 200);
    assert!(challenge(&response).is_none(), "{:?}", challenge(&response));
    let body = json_of(response).await;
    assert_eq!(body["error"]["code"], INSUFFICIENT_SCOPE_CODE, "{body}");
    assert_eq!(body["error"]["message"], message, "{body}");
    assert_eq!(body["error"]["data"], data, "{body}");
    assert!(body.get("result").is_none());
}

const UNDER: &str = r#"arg.path under "/workspace""#;

#[tokio::test]
async fn an_argument_condition_confines_paths_and_a_traversal_gets_no_challenge() {
    let (h, seen) = harness(|_| {}).await;
    let reader = h.token("mcp:read");
    for path in [
        "/workspace",
        "/workspace/a",
        "/workspace//b/./c",
        "/workspace/x/../y",
    ] {
        let response = h
            .post(
                Some(&reader),
                &call_with(1, "read_file", json!({"path": path})),
            )
            .await;
        assert_eq!(response.status(), 200, "{path}");
        let body = json_of(response).await;
        assert_eq!(body["result"]["isError"], false, "{path}: {body}");
    }
    assert_eq!(seen.lock().unwrap().len(), 4);
    // Out of the base, by traversal, by prefix, relative, with NUL or a
    // backslash, missing, of another type: the same answer, which names the
    // atom and echoes nothing of the arguments.
    for arguments in [
        json!({"path": "/workspace/../etc/passwd"}),
        json!({"path": "/workspace/a/../../etc/passwd"}),
        json!({"path": "/workspace2/a"}),
        json!({"path": "/etc/passwd"}),
        json!({"path": "workspace/a"}),
        json!({"path": "/workspace/a\u{0}/../../etc"}),
        json!({"path": "/workspace\\..\\etc"}),
        json!({"path": "/../workspace/a"}),
        json!({}),
        json!({"path": 7}),
        json!({"path": ["/workspace/a"]}),
        json!({"path": {"path": "/workspace/a"}}),
        json!({"Path": "/workspace/a"}),
    ] {
        let response = h
            .post(Some(&reader), &call_with(2, "read_file", arguments.clone()))
            .await;
        let text = format!("{arguments}");
        assert_eq!(response.status(), 200, "{text}");
        assert!(challenge(&response).is_none(), "{text}");
        let body = json_of(response).await;
        assert_eq!(body["id"], 2);
        assert_eq!(body["error"]["code"], INSUFFICIENT_SCOPE_CODE, "{text}");
        assert_eq!(
            body["error"]["message"],
            format!("denied: condition `{UNDER}` does not hold"),
            "{text}"
        );
        assert_eq!(body["error"]["data"], json!({"failed_conditions": [UNDER]}));
        for leaked in ["passwd", "workspace2", "etc"] {
            assert!(!body.to_string().contains(leaked), "{body}");
        }
    }
    // Nothing denied reached the server.
    assert_eq!(seen.lock().unwrap().len(), 4);
}

#[tokio::test]
async fn a_claim_condition_decides_on_each_tokens_own_claims() {
    let (h, seen) = harness(|_| {}).await;
    let atom = r#"claim.tenant == "acme""#;
    let acme = token(&h, "mcp:read", json!({"tenant": "acme"}));
    let response = h
        .post(Some(&acme), &call_with(1, "tenant_report", json!({})))
        .await;
    assert_eq!(json_of(response).await["result"]["isError"], false);
    // Another tenant, none, and claims of the wrong type (a number, an
    // array holding the right value, an object): denied, never a
    // challenge, and the claim's value is not echoed.
    for claims in [
        json!({"tenant": "globex"}),
        json!({"tenant": null}),
        json!({"tenant": 7}),
        json!({"tenant": ["acme"]}),
        json!({"tenant": {"name": "acme"}}),
        json!({"tenant": "ACME"}),
        json!({"tenant": "acme "}),
    ] {
        let other = token(&h, "mcp:read mcp:admin", claims.clone());
        let response = h
            .post(Some(&other), &call_with(2, "tenant_report", json!({})))
            .await;
        let text = response.text().await.unwrap();
        assert!(!text.contains("globex"), "{claims}: {text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            body["error"]["message"],
            format!("denied: condition `{atom}` does not hold"),
            "{claims}"
        );
        assert_eq!(body["error"]["data"], json!({"failed_conditions": [atom]}));
    }
    assert_eq!(seen.lock().unwrap().len(), 1);

    // An argument compared with a claim: the caller's own.
    let alice = token(&h, "mcp:read", json!({"sub": "alice", "tenant": "acme"}));
    let ok = h
        .post(
            Some(&alice),
            &call_with(3, "nested", json!({"repo": {"owner": "alice"}})),
        )
        .await;
    assert_eq!(json_of(ok).await["result"]["isError"], false);
    for arguments in [
        json!({"repo": {"owner": "bob"}}),
        json!({"repo": "alice"}),
        json!({"repo.owner": "alice"}),
    ] {
        let denied = h
            .post(Some(&alice), &call_with(4, "nested", arguments.clone()))
            .await;
        assert_condition_denial(
            denied,
            "denied: condition `arg.repo.owner == claim.sub` does not hold",
            json!({"failed_conditions": ["arg.repo.owner == claim.sub"]}),
        )
        .await;
    }
}

#[tokio::test]
async fn scopes_are_asked_for_only_where_they_would_allow() {
    let (h, _seen) = harness(|_| {}).await;
    let reader = h.token("mcp:read");
    // In the workspace, the conditions hold: one scope is missing, and the
    // challenge names the least (mcp:write, not mcp:admin).
    let inside = h
        .post(
            Some(&reader),
            &call_with(1, "write_file", json!({"path": "/workspace/a"})),
        )
        .await;
    assert_eq!(inside.status(), 403);
    let header = challenge(&inside).unwrap();
    assert!(header.contains(r#"scope="mcp:read mcp:write""#), "{header}");
    assert_eq!(
        json_of(inside).await["error"]["data"]["missing_scopes"],
        json!(["mcp:write"])
    );
    // Outside, only mcp:admin (whose clause has no condition) would allow:
    // that step-up helps, and is asked for.
    let outside = h
        .post(
            Some(&h.token("mcp:write")),
            &call_with(2, "write_file", json!({"path": "/etc/passwd"})),
        )
        .await;
    assert_eq!(outside.status(), 403);
    let header = challenge(&outside).unwrap();
    assert!(header.contains("needs mcp:admin"), "{header}");
    // With mcp:admin it is allowed anywhere.
    let admin = h
        .post(
            Some(&h.token("mcp:admin")),
            &call_with(3, "write_file", json!({"path": "/etc/passwd"})),
        )
        .await;
    assert_eq!(json_of(admin).await["result"]["isError"], false);
    // A condition on a claim that fails while scopes are missing too: no
    // scope can allow it, so no challenge.
    let nobody = token(&h, "", json!({"tenant": "globex"}));
    let response = h
        .post(Some(&nobody), &call_with(4, "tenant_report", json!({})))
        .await;
    assert_condition_denial(
        response,
        r#"denied: condition `claim.tenant == "acme"` does not hold"#,
        json!({"failed_conditions": [r#"claim.tenant == "acme""#]}),
    )
    .await;
}

#[tokio::test]
async fn a_deny_when_that_fires_is_named_and_no_scope_lifts_it() {
    let (h, seen) = harness(|_| {}).await;
    let atom = r#"arg.path matches "*.env""#;
    for scope in ["mcp:read", "mcp:admin"] {
        let response = h
            .post(
                Some(&h.token(scope)),
                &call_with(1, "read_file", json!({"path": "/workspace/app/.env"})),
            )
            .await;
        assert_condition_denial(
            response,
            &format!("denied by a deny rule: condition `{atom}` holds"),
            json!({"denied_when": [atom]}),
        )
        .await;
    }
    // Missing, or of another type: the deny does not fire (a false atom
    // never fires a deny); the allow rule decides.
    let reader = h.token("mcp:read");
    for arguments in [json!({}), json!({"path": 7}), json!({"path": ["/x/.env"]})] {
        let response = h
            .post(Some(&reader), &call_with(2, "scan", arguments))
            .await;
        assert_eq!(json_of(response).await["result"]["isError"], false);
    }
    assert_eq!(seen.lock().unwrap().len(), 3);
}

/// `params.arguments` that is not an object: no `arg.` atom holds. An
/// allow rule with an argument condition denies (fail closed); a `deny ...
/// when` on an argument does not fire, as on a missing argument (the
/// language's semantics: must-haves go on the allow side), and a server
/// rejects such arguments itself (MCP: `arguments` is an object).
#[tokio::test]
async fn arguments_that_are_not_an_object_satisfy_no_argument_condition() {
    let (h, seen) = harness(|_| {}).await;
    let reader = h.token("mcp:read");
    for arguments in [
        json!(["/workspace/a"]),
        json!("/workspace/a"),
        json!(null),
        json!(7),
        json!(true),
        json!([{"path": "/workspace/a"}]),
    ] {
        let response = h
            .post(Some(&reader), &call_with(1, "read_file", arguments.clone()))
            .await;
        assert_condition_denial(
            response,
            &format!("denied: condition `{UNDER}` does not hold"),
            json!({"failed_conditions": [UNDER]}),
        )
        .await;
        let response = h
            .post(Some(&reader), &call_with(2, "scan", arguments))
            .await;
        assert_eq!(json_of(response).await["result"]["isError"], false);
    }
    // `arguments` absent altogether.
    let bare =
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "read_file"}});
    let response = h.post(Some(&reader), &bare).await;
    assert_eq!(
        json_of(response).await["error"]["data"],
        json!({"failed_conditions": [UNDER]})
    );
    // Only the six `scan` calls reached the server.
    assert_eq!(seen.lock().unwrap().len(), 6);
}

/// The body is parsed once, strictly: a key twice in `params.arguments`, at
/// any depth, in any message of a batch, is refused before any decision,
/// whatever the token. The policy would read one path, the server perhaps
/// the other.
#[tokio::test]
async fn a_duplicate_key_in_the_arguments_is_refused_before_any_decision() {
    let (h, seen) = harness(|_| {}).await;
    let admin = token(&h, "mcp:admin", json!({"tenant": "acme"}));
    for body in [
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/workspace/a","path":"/etc/passwd"}}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/etc/passwd","path":"/workspace/a"}}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"nested","arguments":{"repo":{"owner":"user-1","owner":"root"}}}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"scan","arguments":{"opts":[{"deep":{"k":1,"k":2}}]}}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/workspace/a","p\u0061th":"/etc/passwd"}}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/workspace/a"},"arguments":{"path":"/etc/passwd"}}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"summarize","arguments":{"lang":"en","lang":"de"}}}"#,
        r#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{}}},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/workspace/a","path":"/etc/passwd"}}}]"#,
    ] {
        let response = post_raw(&h, &admin, body).await;
        assert_eq!(response.status(), 400, "{body}");
        assert!(challenge(&response).is_none());
        let answer = json_of(response).await;
        assert_eq!(answer["error"]["code"], mcp_policy_http::PARSE_ERROR_CODE);
        assert_eq!(
            answer["error"]["message"],
            mcp_policy_http::DUPLICATE_KEY_MESSAGE
        );
    }
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn denial_modes_keep_their_shapes_for_conditions() {
    // tool-error: a tools/call gets a result with isError and the text; a
    // prompts/get (no error flag) the JSON-RPC error.
    let (h, seen) = harness(|c| c.denial = Denial::ToolError).await;
    let reader = h.token("mcp:read");
    let response = h
        .post(
            Some(&reader),
            &call_with(1, "read_file", json!({"path": "/etc"})),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert!(challenge(&response).is_none());
    let body = json_of(response).await;
    assert_eq!(body["result"]["isError"], true);
    assert_eq!(
        body["result"]["content"][0]["text"],
        format!("denied: condition `{UNDER}` does not hold")
    );
    let prompt = json!({"jsonrpc": "2.0", "id": 2, "method": "prompts/get",
                        "params": {"name": "summarize", "arguments": {"lang": "de"}}});
    assert_condition_denial(
        h.post(Some(&reader), &prompt).await,
        r#"denied: condition `arg.lang in ["en", "fr"]` does not hold"#,
        json!({"failed_conditions": [r#"arg.lang in ["en", "fr"]"#]}),
    )
    .await;
    assert!(seen.lock().unwrap().is_empty());

    // as-unknown reveals nothing, conditions included.
    let (h, _seen) = harness(|c| c.denial = Denial::AsUnknown).await;
    let response = h
        .post(
            Some(&h.token("mcp:read")),
            &call_with(3, "read_file", json!({"path": "/etc"})),
        )
        .await;
    assert_eq!(
        json_of(response).await,
        json!({"jsonrpc": "2.0", "id": 3, "error": {"code": -32602, "message": "Unknown tool: read_file"}})
    );
}

#[tokio::test]
async fn prompts_read_their_arguments_and_resources_only_claims() {
    let (h, seen) = harness(|_| {}).await;
    let reader = token(&h, "mcp:read", json!({"groups": ["readers", "dev"]}));
    let prompt = |id: u64, arguments: Value| {
        json!({"jsonrpc": "2.0", "id": id, "method": "prompts/get",
               "params": {"name": "summarize", "arguments": arguments}})
    };
    let allowed = h
        .post(Some(&reader), &prompt(1, json!({"lang": "fr"})))
        .await;
    assert_eq!(json_of(allowed).await["result"]["isError"], false);
    let denied = h
        .post(Some(&reader), &prompt(2, json!({"lang": "de"})))
        .await;
    assert_eq!(
        json_of(denied).await["error"]["code"],
        INSUFFICIENT_SCOPE_CODE
    );

    let read = |id: u64, uri: &str| {
        json!({"jsonrpc": "2.0", "id": id, "method": "resources/read",
               "params": {"uri": uri, "arguments": {"groups": ["readers"]}}})
    };
    let allowed = h.post(Some(&reader), &read(3, "tenant://acme/a")).await;
    assert_eq!(json_of(allowed).await["result"]["isError"], false);
    // Arguments sent with resources/read are no claims.
    for claims in [
        json!({"groups": ["dev"]}),
        json!({"groups": "readers"}),
        json!({}),
    ] {
        let other = token(&h, "mcp:read", claims);
        let denied = h.post(Some(&other), &read(4, "tenant://acme/a")).await;
        assert_condition_denial(
            denied,
            r#"denied: condition `claim.groups contains "readers"` does not hold"#,
            json!({"failed_conditions": [r#"claim.groups contains "readers""#]}),
        )
        .await;
    }
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn lists_show_what_some_arguments_could_call_with_these_claims() {
    let (h, _seen) = harness(|_| {}).await;
    let acme = token(
        &h,
        "mcp:read",
        json!({"tenant": "acme", "groups": ["readers"]}),
    );
    let globex = token(&h, "mcp:read", json!({"tenant": "globex"}));
    let listed = |body: Value, field: &str, key: &str| -> Vec<String> {
        body["result"][field]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item[key].as_str().unwrap().to_owned())
            .collect()
    };
    let tools = json_of(h.post(Some(&acme), &list(1)).await).await;
    // read_file and same_tenant depend on arguments: shown. write_file
    // needs mcp:write or mcp:admin whatever the arguments: hidden.
    assert_eq!(
        listed(tools, "tools", "name"),
        [
            "read_file",
            "tenant_report",
            "same_tenant",
            "scan",
            "nested",
            "search"
        ]
    );
    let tools = json_of(h.post(Some(&globex), &list(2)).await).await;
    assert_eq!(
        listed(tools, "tools", "name"),
        ["read_file", "same_tenant", "scan", "nested", "search"]
    );
    let resources = json!({"jsonrpc": "2.0", "id": 3, "method": "resources/list"});
    let shown = json_of(h.post(Some(&acme), &resources).await).await;
    assert_eq!(
        listed(shown, "resources", "uri"),
        ["tenant://acme/a", "repo://acme/b"]
    );
    let shown = json_of(h.post(Some(&globex), &resources).await).await;
    assert_eq!(listed(shown, "resources", "uri"), ["repo://acme/b"]);
    let prompts = json!({"jsonrpc": "2.0", "id": 4, "method": "prompts/list"});
    let shown = json_of(h.post(Some(&globex), &prompts).await).await;
    assert_eq!(listed(shown, "prompts", "name"), ["summarize"]);
}

#[tokio::test]
async fn a_batch_is_decided_message_by_message_on_its_own_arguments() {
    let (h, seen) = harness(|_| {}).await;
    let reader = h.token("mcp:read");
    let batch = json!([
        call_with(1, "read_file", json!({"path": "/workspace/a"})),
        call_with(2, "read_file", json!({"path": "/workspace/../etc/passwd"})),
        call_with(3, "read_file", json!({"path": "/workspace/.env"})),
    ]);
    let response = h.post(Some(&reader), &batch).await;
    assert_eq!(response.status(), 200);
    assert!(challenge(&response).is_none());
    let body = json_of(response).await;
    assert_eq!(
        body[0]["error"]["code"],
        mcp_policy_http::BATCH_REFUSED_CODE
    );
    assert_eq!(
        body[1]["error"]["data"],
        json!({"failed_conditions": [UNDER]})
    );
    assert_eq!(
        body[2]["error"]["data"],
        json!({"denied_when": [r#"arg.path matches "*.env""#]})
    );
    assert!(seen.lock().unwrap().is_empty());
    // Each message its own arguments: all in bounds, all forwarded.
    let fine = json!([
        call_with(4, "read_file", json!({"path": "/workspace/a"})),
        call_with(5, "read_file", json!({"path": "/workspace/b"})),
    ]);
    let body = json_of(h.post(Some(&reader), &fine).await).await;
    assert_eq!(body[0]["result"]["isError"], false);
    assert_eq!(body[1]["result"]["isError"], false);
    // A condition denial sent as a notification: 403, no body, no challenge.
    let note = json!({"jsonrpc": "2.0", "method": "tools/call",
                      "params": {"name": "read_file", "arguments": {"path": "/etc"}}});
    let response = h.post(Some(&reader), &note).await;
    assert_eq!(response.status(), 403);
    assert!(challenge(&response).is_none());
    assert!(response.text().await.unwrap().is_empty());
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_dry_run_decides_conditions_and_forwards_everything() {
    let (h, seen) = harness(|c| c.mode = Mode::DryRun).await;
    let response = h
        .post(
            Some(&h.token("mcp:read")),
            &call_with(1, "read_file", json!({"path": "/workspace/../etc/passwd"})),
        )
        .await;
    assert_eq!(json_of(response).await["result"]["isError"], false);
    assert_eq!(seen.lock().unwrap().len(), 1);
}

/// Huge arguments: the body limit holds as for any body, and within it the
/// decision reads what it reads, however large the rest.
#[tokio::test]
async fn huge_arguments_meet_the_body_limit_and_are_decided_within_it() {
    let (h, seen) = harness(|_| {}).await;
    let reader = h.token("mcp:read");
    let big = "x".repeat(900 * 1024);
    let inside = call_with(
        1,
        "read_file",
        json!({"path": format!("/workspace/{big}"), "blob": "y"}),
    );
    assert_eq!(
        json_of(h.post(Some(&reader), &inside).await).await["result"]["isError"],
        false
    );
    let outside = call_with(2, "read_file", json!({"path": format!("/etc/{big}")}));
    let body = json_of(h.post(Some(&reader), &outside).await).await;
    assert_eq!(body["error"]["data"], json!({"failed_conditions": [UNDER]}));
    // The denial's answer is small: nothing of the path is echoed.
    assert!(body.to_string().len() < 300, "{}", body.to_string().len());
    // 10 MiB of arguments: 413, unread.
    let huge = call_with(
        3,
        "read_file",
        json!({"path": "/workspace/a", "blob": "z".repeat(10 << 20)}),
    );
    assert_eq!(h.post(Some(&reader), &huge).await.status(), 413);
    // 10,000 arguments, or a path of 100,000 segments with `..` in them.
    let mut many = serde_json::Map::new();
    for n in 0..10_000 {
        many.insert(format!("k{n}"), json!(n));
    }
    many.insert("path".into(), json!("/workspace/a"));
    let response = h
        .post(
            Some(&reader),
            &call_with(4, "read_file", Value::Object(many)),
        )
        .await;
    assert_eq!(json_of(response).await["result"]["isError"], false);
    let climb = format!("/workspace/{}{}", "a/".repeat(50_000), "../".repeat(50_001));
    let body = json_of(
        h.post(
            Some(&reader),
            &call_with(5, "read_file", json!({"path": climb})),
        )
        .await,
    )
    .await;
    assert_eq!(body["error"]["data"], json!({"failed_conditions": [UNDER]}));
    assert_eq!(seen.lock().unwrap().len(), 2);
}

/// 50 clients at once on loopback, each with its own tenant: every call is
/// decided on its own token's claims and its own arguments, however the
/// token cache and the connections interleave.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_tenants_each_get_their_own_decision() {
    let (h, seen) = harness(|_| {}).await;
    let h = Arc::new(h);
    let mut tasks = Vec::new();
    for client in 0..50u64 {
        let h = Arc::clone(&h);
        tasks.push(tokio::spawn(async move {
            let mine = format!("t{client}");
            let theirs = format!("t{}", (client + 1) % 50);
            let token = token(&h, "mcp:read", json!({"tenant": mine}));
            // Its own client, so its own connections.
            let http = reqwest::Client::new();
            let mut outcomes = Vec::new();
            for round in 0..4u64 {
                for (tenant, expect) in [(&mine, true), (&theirs, false)] {
                    let body = call_with(round, "same_tenant", json!({"tenant": tenant}));
                    let response = http
                        .post(format!("{}/mcp", h.url))
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .body(body.to_string())
                        .send()
                        .await
                        .unwrap();
                    assert!(challenge(&response).is_none());
                    let answer = json_of(response).await;
                    let allowed = answer["result"]["isError"] == false;
                    if allowed {
                        // The server got this client's tenant.
                        let text = answer["result"]["content"][0]["text"].as_str().unwrap();
                        assert!(text.contains(&format!("\"{mine}\"")), "{text}");
                    } else {
                        assert_eq!(
                            answer["error"]["data"],
                            json!({"failed_conditions": ["arg.tenant == claim.tenant"]})
                        );
                    }
                    outcomes.push(allowed == expect);
                }
                // And the list, decided on this token's claims.
                let listed = http
                    .post(format!("{}/mcp", h.url))
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(list(99).to_string())
                    .send()
                    .await
                    .unwrap();
                let names = names(&json_of(listed).await["result"]["tools"])
                    .into_iter()
                    .map(str::to_owned)
                    .collect::<Vec<_>>();
                outcomes.push(!names.iter().any(|name| name == "tenant_report"));
            }
            outcomes
        }));
    }
    for (client, task) in tasks.into_iter().enumerate() {
        let outcomes = task.await.unwrap();
        assert!(
            outcomes.iter().all(|ok| *ok),
            "client {client}: {outcomes:?}"
        );
    }
    // One allowed call per client per round reached the server, no more.
    let calls = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|m| m["method"] == "tools/call")
        .count();
    assert_eq!(calls, 50 * 4);
    // The tokens were cached (one verification each), and yet no decision
    // crossed tenants.
    assert_eq!(h.layer.token_cache_stats().misses, 50);
}

/// A policy with conditions put in force at run time (a compiled artifact
/// file, reloaded) decides a token verified and cached before it, on that
/// token's claims.
#[tokio::test]
async fn a_reload_to_conditions_applies_to_tokens_cached_before() {
    let h = start(|_| {}).await;
    let globex = token(&h, "mcp:read", json!({"tenant": "globex"}));
    let acme = token(&h, "mcp:read", json!({"tenant": "acme"}));
    for token in [&globex, &acme] {
        let response = h
            .post(Some(token), &call_with(1, "search", json!({})))
            .await;
        assert_eq!(json_of(response).await["result"]["isError"], false);
    }
    let path = std::env::temp_dir().join(format!(
        "mcp-policy-http-conditions-{}.json",
        std::process::id()
    ));
    std::fs::write(&path, conditional::policy().artifact()).unwrap();
    assert_eq!(h.layer.reload_from_path(&path).unwrap(), 1);
    std::fs::remove_file(&path).unwrap();
    assert_condition_denial(
        h.post(Some(&globex), &call_with(2, "tenant_report", json!({})))
            .await,
        r#"denied: condition `claim.tenant == "acme"` does not hold"#,
        json!({"failed_conditions": [r#"claim.tenant == "acme""#]}),
    )
    .await;
    let response = h
        .post(Some(&acme), &call_with(3, "tenant_report", json!({})))
        .await;
    assert_eq!(json_of(response).await["result"]["isError"], false);
    assert_eq!(h.layer.token_cache_stats().misses, 2);
}
