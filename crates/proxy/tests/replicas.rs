//! Scale-out, as far as one machine shows it: two replicas of the proxy in
//! front of one upstream. A token is valid at either (validation is
//! stateless), and a session belongs to the replica that created it: the
//! other answers 404 and forwards nothing, which is why docs/deploy.md
//! routes a session's requests to its creator.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../http/tests/common/mod.rs"]
mod common;
mod support;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use common::{call, sign};
use serde_json::{Value, json};
use support::{initialize, start_proxy};

type Record = Arc<Mutex<Vec<String>>>;

static OPENED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

async fn upstream() -> (String, Record) {
    let record = Record::default();
    async fn mcp(
        State(record): State<Record>,
        body: Bytes,
    ) -> ([(&'static str, String); 2], String) {
        let message: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        record
            .lock()
            .unwrap()
            .push(message["method"].as_str().unwrap_or("").to_owned());
        // Each initialize opens a session of its own id: s-1, s-2, ...
        let n = if message["method"] == "initialize" {
            OPENED.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1
        } else {
            0
        };
        (
            [
                ("content-type", "application/json".to_owned()),
                ("mcp-session-id", format!("s-{n}")),
            ],
            json!({"jsonrpc": "2.0", "id": message["id"], "result": {}}).to_string(),
        )
    }
    let app = Router::new()
        .route("/mcp", axum::routing::post(mcp))
        .with_state(Arc::clone(&record));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}/mcp"), record)
}

#[tokio::test]
async fn a_token_is_valid_at_any_replica_a_session_only_at_its_own() {
    let (url, record) = upstream().await;
    let a = start_proxy(support::http(&url), |_| {}).await;
    let b = start_proxy(support::http(&url), |_| {}).await;
    let token = sign(&a.key, "mcp:read");

    // Stateless validation: the same token opens a session at either.
    let mut ids = Vec::new();
    for replica in [&a, &b] {
        let opened = replica
            .post(&token, None, &initialize())
            .send()
            .await
            .unwrap();
        assert_eq!(opened.status(), 200);
        ids.push(
            opened.headers()["mcp-session-id"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_ne!(ids[0], ids[1]);
    record.lock().unwrap().clear();

    let at_a = a
        .post(&token, Some(&ids[0]), &call(1, "search"))
        .send()
        .await
        .unwrap();
    assert_eq!(at_a.status(), 200);
    let at_b = b
        .post(&token, Some(&ids[0]), &call(2, "search"))
        .send()
        .await
        .unwrap();
    assert_eq!(at_b.status(), 404, "a session is its creator's alone");
    assert_eq!(
        *record.lock().unwrap(),
        ["tools/call"],
        "the replica that does not hold the session forwards nothing"
    );
}
