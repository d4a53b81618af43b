//! The principal as a task-local: a handler's helper that never sees the
//! request finds it through `current_principal()`, over real HTTP.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;

use axum::Router;
use axum::extract::Extension;
use axum::http::StatusCode;
use axum::routing::post;
use common::*;
use mcp_policy_evaluator::Evaluator;
use mcp_policy_http::{HttpConfig, PolicyLayer, current_principal};
use mcp_policy_token::Principal;
use serde_json::json;

/// Deep in a handler: no request, no extractor.
fn who_is_calling() -> String {
    match current_principal() {
        Some(principal) => format!(
            "{} via {}",
            principal.subject,
            principal.client_id.as_deref().unwrap_or("-")
        ),
        None => "nobody".to_owned(),
    }
}

async fn handler(Extension(from_extensions): Extension<Arc<Principal>>) -> String {
    let here = who_is_calling();
    // The same principal as the extensions'.
    let same = current_principal().is_some_and(|p| Arc::ptr_eq(&p, &from_extensions));
    // A spawned task does not inherit it.
    let spawned = tokio::spawn(async { who_is_calling() }).await.unwrap();
    json!({"here": here, "same": same, "spawned": spawned}).to_string()
}

async fn serve() -> String {
    let key = rsa("rsa-1.pem");
    let validator = validator_for(&key);
    let layer = PolicyLayer::new(
        validator,
        Evaluator::from_source(POLICY).unwrap(),
        HttpConfig::new([ISS]),
    )
    .unwrap();
    let app = Router::new()
        .route("/mcp", post(handler))
        .fallback(|| async { StatusCode::NOT_FOUND })
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}/mcp")
}

#[tokio::test]
async fn a_plain_function_in_the_handler_reads_the_principal() {
    let url = serve().await;
    let token = sign(&rsa("rsa-1.pem"), "mcp:read");
    let client = reqwest::Client::new();
    let response = client
        .post(&url)
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(call(1, "search").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = json_of(response).await;
    assert_eq!(body["here"], "user-1 via app-7");
    assert_eq!(body["same"], true);
    assert_eq!(body["spawned"], "nobody");

    // A refused request never reaches the handler, and leaves nothing set.
    let response = client
        .post(&url)
        .body(call(2, "search").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(current_principal().is_none());
}

#[test]
fn outside_a_request_there_is_none() {
    assert!(current_principal().is_none());
    assert_eq!(who_is_calling(), "nobody");
}

#[tokio::test]
async fn outside_a_request_on_a_runtime_there_is_none() {
    assert!(current_principal().is_none());
    let spawned = tokio::spawn(async { current_principal().is_none() })
        .await
        .unwrap();
    assert!(spawned);
}
