//! The layer in front of a real axum server on loopback, driven by a real
//! HTTP client with real RS256 tokens.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use mcp_policy_http::Denial;
use serde_json::{Value, json};

// ---- the tests ----

#[tokio::test]
async fn without_a_token_the_challenge_names_the_metadata_and_the_baseline() {
    let h = start(|_| {}).await;
    let response = h.post(None, &call(1, "search")).await;
    assert_eq!(response.status(), 401);
    let header = challenge(&response).unwrap();
    assert_eq!(
        header,
        format!(r#"Bearer resource_metadata="{METADATA}", scope="mcp:read""#)
    );
    insta::assert_snapshot!("challenge_without_token", header);

    // A token in the query string is never read.
    let token = h.token("mcp:read");
    let response = h
        .client
        .post(format!("{}/mcp?access_token={token}", h.url))
        .body(call(1, "search").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // Another scheme is no bearer token either.
    let response = h
        .request(None, &call(1, "search"))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(!challenge(&response).unwrap().contains("error="));
}

#[tokio::test]
async fn a_bad_token_is_invalid_token_with_the_reason() {
    let h = start(|_| {}).await;
    let forged = sign(&rsa("rsa-2.pem"), "mcp:admin");
    let response = h.post(Some(&forged), &call(1, "search")).await;
    assert_eq!(response.status(), 401);
    let header = challenge(&response).unwrap();
    assert_eq!(
        header,
        format!(
            r#"Bearer error="invalid_token", error_description="the access token was rejected: bad_signature", resource_metadata="{METADATA}", scope="mcp:read""#
        )
    );
    insta::assert_snapshot!("challenge_bad_token", header);
    let response = h.post(Some("not-a-jwt"), &call(1, "search")).await;
    assert!(
        challenge(&response)
            .unwrap()
            .contains("rejected: malformed")
    );
}

#[tokio::test]
async fn protected_resource_metadata_at_both_paths() {
    let h = start(|_| {}).await;
    let expected = json!({
        "resource": RESOURCE,
        "authorization_servers": [ISS],
        "scopes_supported": ["mcp:read", "mcp:write", "mcp:admin"],
        "bearer_methods_supported": ["header"],
        "resource_name": "test-mcp",
    });
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let response = h
            .client
            .get(format!("{}{path}", h.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/json",
            "{path}"
        );
        assert_eq!(json_of(response).await, expected, "{path}");
    }
    assert_eq!(h.layer.metadata(), expected);
    assert_eq!(h.layer.metadata_url(), METADATA);
    let response = h
        .client
        .post(format!("{}/.well-known/oauth-protected-resource", h.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let response = h
        .client
        .get(format!(
            "{}/.well-known/oauth-protected-resource/other",
            h.url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401, "not the metadata: needs a token");
}

#[tokio::test]
async fn an_allowed_call_reaches_the_handler_with_the_principal() {
    let h = start(|_| {}).await;
    let token = h.token("mcp:read");
    let response = h.post(Some(&token), &call(7, "search")).await;
    assert_eq!(response.status(), 200);
    let body = json_of(response).await;
    assert_eq!(body["id"], 7);
    assert_eq!(
        body["result"]["content"][0]["text"],
        "called search for user-1 via app-7"
    );
    // `authenticated` needs no scope.
    let response = h.post(Some(&token), &call(8, "debug_echo")).await;
    assert_eq!(json_of(response).await["result"]["isError"], false);
}

#[tokio::test]
async fn a_second_call_with_the_same_token_is_a_cache_hit() {
    let h = start(|_| {}).await;
    let token = h.token("mcp:read");
    for id in 0..3 {
        let response = h.post(Some(&token), &call(id, "search")).await;
        assert_eq!(response.status(), 200);
    }
    assert_eq!(h.validator.stats().signature_verifications, 1);
    assert_eq!(h.layer.token_cache_stats().hits, 2);
}

#[tokio::test]
async fn step_up_challenge_lists_held_and_missing_scopes() {
    let h = start(|_| {}).await;
    let token = h.token("mcp:read offline_access");
    let response = h.post(Some(&token), &call(3, "create_issue")).await;
    assert_eq!(response.status(), 403);
    let header = challenge(&response).unwrap();
    assert_eq!(
        header,
        format!(
            r#"Bearer error="insufficient_scope", scope="mcp:read offline_access mcp:write", resource_metadata="{METADATA}", error_description="tools/call `create_issue` needs mcp:write""#
        )
    );
    insta::assert_snapshot!("challenge_step_up", header);
    let body = json_of(response).await;
    assert_eq!(body["id"], 3);
    assert_eq!(
        body["error"]["data"]["missing_scopes"],
        json!(["mcp:write"])
    );
}

#[tokio::test]
async fn tool_error_mode_answers_with_is_error() {
    let h = start(|c| c.denial = Denial::ToolError).await;
    let token = h.token("mcp:read");
    let response = h.post(Some(&token), &call(4, "delete_repo")).await;
    assert_eq!(response.status(), 200);
    assert!(challenge(&response).is_none());
    let body = json_of(response).await;
    assert_eq!(body["id"], 4);
    assert_eq!(body["result"]["isError"], true);
    let text = body["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("mcp:admin"), "{text}");
}

#[tokio::test]
async fn as_unknown_mode_reveals_nothing() {
    let h = start(|c| c.denial = Denial::AsUnknown).await;
    let token = h.token("mcp:read");
    let response = h.post(Some(&token), &call(5, "delete_repo")).await;
    assert_eq!(response.status(), 200);
    assert!(challenge(&response).is_none());
    assert_eq!(
        json_of(response).await,
        json!({"jsonrpc": "2.0", "id": 5, "error": {"code": -32602, "message": "Unknown tool: delete_repo"}})
    );
}

#[tokio::test]
async fn what_no_scope_allows_never_gets_a_step_up() {
    let h = start(|_| {}).await;
    let token = h.token("mcp:admin");
    for tool in ["debug_dump_all", "no_rule"] {
        let response = h.post(Some(&token), &call(6, tool)).await;
        assert_eq!(response.status(), 200, "{tool}");
        assert!(challenge(&response).is_none(), "{tool}");
        assert_eq!(
            json_of(response).await["error"]["message"],
            format!("Unknown tool: {tool}")
        );
    }
}

#[tokio::test]
async fn a_batch_with_a_denial_is_not_forwarded() {
    let h = start(|c| c.denial = Denial::AsUnknown).await;
    let token = h.token("mcp:read");
    let batch = json!([call(1, "search"), call(2, "delete_repo")]);
    let body = json_of(h.post(Some(&token), &batch).await).await;
    assert_eq!(
        body[0]["error"]["code"],
        mcp_policy_http::BATCH_REFUSED_CODE
    );
    assert_eq!(body[1]["error"]["message"], "Unknown tool: delete_repo");
    let allowed = json!([call(1, "search"), list(2)]);
    let body = json_of(h.post(Some(&token), &allowed).await).await;
    assert_eq!(body[0]["result"]["isError"], false);
    assert_eq!(names(&body[1]["result"]["tools"]), ["search", "debug_echo"]);
}

#[tokio::test]
async fn tools_list_is_filtered_in_json() {
    let h = start(|_| {}).await;
    let read = h.post(Some(&h.token("mcp:read")), &list(9)).await;
    let read = json_of(read).await;
    assert_eq!(read["id"], 9);
    assert_eq!(names(&read["result"]["tools"]), ["search", "debug_echo"]);
    let admin = json_of(h.post(Some(&h.token("mcp:admin")), &list(9)).await).await;
    assert_eq!(
        names(&admin["result"]["tools"]),
        ["search", "create_issue", "delete_repo", "debug_echo"]
    );
}

#[tokio::test]
async fn tools_list_is_filtered_in_sse() {
    let h = start(|_| {}).await;
    let response = h
        .request(Some(&h.token("mcp:write")), &list(11))
        .header("x-test-sse", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = response.text().await.unwrap();
    let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
    assert_eq!(events.len(), 4, "{text}");
    assert_eq!(events[0], "id: 0\ndata:");
    assert_eq!(events[1], ": keep-alive");
    // Not an answer to the list request: as it came.
    assert!(events[2].contains("\"debug_dump_all\""), "{}", events[2]);
    let last: Vec<&str> = events[3].lines().collect();
    assert_eq!(&last[..2], ["id: 1", "event: message"]);
    let data: Value = serde_json::from_str(last[2].strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(data["id"], 11);
    assert_eq!(
        names(&data["result"]["tools"]),
        ["search", "create_issue", "debug_echo"]
    );
}

#[tokio::test]
async fn foreign_origins_and_hosts_are_refused_first() {
    let h = start(|_| {}).await;
    let token = h.token("mcp:read");
    let response = h
        .request(Some(&token), &call(1, "search"))
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(challenge(&response).is_none());
    // Even the metadata, and before the token.
    let response = h
        .client
        .get(format!("{}/.well-known/oauth-protected-resource", h.url))
        .header("host", "evil.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    for origin in ["http://localhost:6274", "https://mcp.example.com"] {
        let response = h
            .request(Some(&token), &call(1, "search"))
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{origin}");
    }
}

#[tokio::test]
async fn oversized_and_malformed_bodies_are_refused() {
    let h = start(|c| c.max_body_bytes = 1024).await;
    let token = h.token("mcp:admin");
    let big = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                     "params": {"name": "search", "arguments": {"q": "x".repeat(2048)}}});
    assert_eq!(h.post(Some(&token), &big).await.status(), 413);

    let response = h
        .client
        .post(format!("{}/mcp", h.url))
        .bearer_auth(&token)
        .body("{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"tools/ca")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(json_of(response).await["error"]["code"], -32700);
    // A tools/call without a name is never forwarded.
    let nameless = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {}});
    let body = json_of(h.post(Some(&token), &nameless).await).await;
    assert_eq!(body["error"]["code"], -32600);
}

#[tokio::test]
async fn reload_swaps_the_policy_and_a_failed_reload_keeps_it() {
    let h = start(|_| {}).await;
    let token = h.token("mcp:read");
    assert_eq!(
        h.post(Some(&token), &call(1, "create_issue"))
            .await
            .status(),
        403
    );

    // The new policy numbers its scopes differently: the cached scope set
    // of this token is foreign to it and must be parsed again.
    let path =
        std::env::temp_dir().join(format!("mcp-policy-http-{}.mcppolicy", std::process::id()));
    std::fs::write(
        &path,
        "policy \"v2\"\nscope other level write\nscope mcp:read level read\n\
         tool search requires mcp:read\ntool create_issue requires mcp:read\n",
    )
    .unwrap();
    assert_eq!(h.layer.reload_from_path(&path).unwrap(), 1);
    let response = h.post(Some(&token), &call(2, "create_issue")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_of(response).await["result"]["isError"], false);
    assert_eq!(
        h.validator.stats().signature_verifications,
        1,
        "still cached"
    );
    assert_eq!(h.layer.metadata()["resource_name"], "v2");

    std::fs::write(&path, "tool create_issue requires nonsense(\n").unwrap();
    assert!(h.layer.reload_from_path(&path).is_err());
    assert!(
        h.layer
            .reload_from_path(path.with_extension("missing"))
            .is_err()
    );
    assert_eq!(h.layer.policy().generation(), 1);
    assert_eq!(
        h.post(Some(&token), &call(3, "create_issue"))
            .await
            .status(),
        200
    );
    std::fs::remove_file(&path).unwrap();
}
