//! The layer's overhead: the same tiny MCP-like handler, an axum router
//! called in-process as a tower service (no sockets), with and without the
//! `PolicyLayer`, in the same run. Two requests: an allowed `tools/call`
//! with a token already in the layer's cache, and a `tools/list` whose
//! answer the layer filters; and the call again inside an MCP session (the
//! layer checks the session's owner). docs/PERFORMANCE.md ("Runtime
//! checkers") reports the ratios.
//!
//! `cargo bench -p mcp-policy-http --bench layer` measures;
//! `cargo test -p mcp-policy-http --benches` runs each bench once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

// The tests' policy, keys and token signing, shared rather than copied.
#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Extension;
use axum::http::{Request, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use common::{ISS, POLICY, call, list, names, rsa, sign, tools, validator_for};
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt;
use mcp_policy_evaluator::Evaluator;
use mcp_policy_http::{HttpConfig, PolicyLayer};
use mcp_policy_token::Principal;
use serde_json::{Value, json};
use tower_service::Service;

/// The handler both routers serve. Without the layer there is no principal.
async fn mcp(principal: Option<Extension<Arc<Principal>>>, body: Bytes) -> Response {
    let message: Value = serde_json::from_slice(&body).unwrap();
    let id = message["id"].clone();
    let reply = match message["method"].as_str().unwrap_or("") {
        "initialize" => {
            let reply = json!({"jsonrpc": "2.0", "id": id, "result": {}});
            return (
                [
                    (header::CONTENT_TYPE, "application/json"),
                    (header::HeaderName::from_static("mcp-session-id"), SESSION),
                ],
                reply.to_string(),
            )
                .into_response();
        }
        "tools/list" => json!({"jsonrpc": "2.0", "id": id, "result": {"tools": tools()}}),
        "tools/call" => {
            let subject = principal.as_ref().map_or("-", |p| p.subject.as_str());
            let text = format!(
                "called {} for {subject}",
                message["params"]["name"].as_str().unwrap()
            );
            json!({"jsonrpc": "2.0", "id": id,
                   "result": {"content": [{"type": "text", "text": text}], "isError": false}})
        }
        _ => {
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "Method not found"}})
        }
    };
    (
        [(header::CONTENT_TYPE, "application/json")],
        reply.to_string(),
    )
        .into_response()
}

/// The session id the handler issues on `initialize`.
const SESSION: &str = "bench-session";

fn request(token: &str, body: &Bytes) -> Request<Body> {
    Request::post("/mcp")
        .header(header::HOST, "mcp.example.com")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::from(body.clone()))
        .unwrap()
}

/// One request through the service, as a server would: ready, call, and
/// the whole response body read (the list filter works on the body).
async fn send(service: &Router, request: Request<Body>) -> Bytes {
    let (status, body) = answer_of(service, request).await;
    assert_eq!(status, 200);
    body
}

/// [`send`], whatever the status.
async fn answer_of(service: &Router, request: Request<Body>) -> (u16, Bytes) {
    let mut service = service.clone();
    std::future::poll_fn(|cx| Service::<Request<Body>>::poll_ready(&mut service, cx))
        .await
        .unwrap();
    let response = service.call(request).await.unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.into_body().collect().await.unwrap().to_bytes(),
    )
}

fn layer(c: &mut Criterion) {
    // The layer times request bodies: a runtime with its timer, as servers run.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let key = rsa("rsa-1.pem");
    let validator = validator_for(&key);
    let layer = PolicyLayer::new(
        Arc::clone(&validator),
        Evaluator::from_source(POLICY).unwrap(),
        HttpConfig::new([ISS]),
    )
    .unwrap();
    let bare = Router::new().route("/mcp", post(mcp));
    let guarded = Router::new().route("/mcp", post(mcp)).layer(layer.clone());
    let token = sign(&key, "mcp:read");
    let call_body = Bytes::from(call(1, "search").to_string());
    // A call the token's scopes do not allow: the denial is explained (the
    // scopes to add, the answer, the challenge, the log line).
    let denied_body = Bytes::from(call(3, "delete_repo").to_string());
    let list_body = Bytes::from(list(2).to_string());

    // Outside the timings: what each router answers, and the token cached.
    let answer = |service: &Router, body: &Bytes| -> Value {
        let bytes = runtime.block_on(send(service, request(&token, body)));
        serde_json::from_slice(&bytes).unwrap()
    };
    assert_eq!(
        answer(&guarded, &call_body)["result"]["content"][0]["text"],
        "called search for user-1"
    );
    assert_eq!(
        answer(&bare, &call_body)["result"]["content"][0]["text"],
        "called search for -"
    );
    assert_eq!(
        names(&answer(&guarded, &list_body)["result"]["tools"]),
        ["search", "debug_echo"]
    );
    assert_eq!(
        names(&answer(&bare, &list_body)["result"]["tools"]).len(),
        6
    );
    let (status, _) = runtime.block_on(answer_of(&guarded, request(&token, &denied_body)));
    assert_eq!(status, 403, "a step-up challenge");
    assert_eq!(validator.stats().signature_verifications, 1);
    // A session, bound to the token's principal.
    let initialize =
        Bytes::from(json!({"jsonrpc": "2.0", "id": 0, "method": "initialize"}).to_string());
    runtime.block_on(send(&guarded, request(&token, &initialize)));
    assert_eq!(layer.session_count(), 1);
    let in_session = |token: &str, body: &Bytes| {
        let mut request = request(token, body);
        request
            .headers_mut()
            .insert("mcp-session-id", header::HeaderValue::from_static(SESSION));
        request
    };

    let mut group = c.benchmark_group("layer");
    for (name, body) in [("tools_call", &call_body), ("tools_list", &list_body)] {
        for (variant, service) in [("without_layer", &bare), ("with_layer", &guarded)] {
            group.bench_function(format!("{name}/{variant}"), |b| {
                b.iter(|| {
                    let request = request(black_box(&token), black_box(body));
                    runtime.block_on(send(service, request)).len()
                });
            });
        }
    }
    // Beside tools_call/with_layer: what a denial costs over an allowed call.
    group.bench_function("tools_call_denied/with_layer", |b| {
        b.iter(|| {
            let request = request(black_box(&token), black_box(&denied_body));
            runtime.block_on(answer_of(&guarded, request)).1.len()
        });
    });
    group.bench_function("tools_call/with_layer_in_session", |b| {
        b.iter(|| {
            let request = in_session(black_box(&token), black_box(&call_body));
            runtime.block_on(send(&guarded, request)).len()
        });
    });
    group.finish();
    // Every guarded request was a cache hit: one verification in all.
    assert_eq!(validator.stats().signature_verifications, 1);
}

criterion_group! {
    name = benches;
    // Five benches; a full run takes well under a minute on two cores.
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(40);
    targets = layer
}
criterion_main!(benches);
