//! The metrics' labels under a hostile client: whatever names it sends
//! (tools, methods, tokens), the label sets stay those of the policy. In a
//! binary of its own: the recorder is global, and admin.rs counts exactly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../http/tests/common/mod.rs"]
mod common;
mod support;

use axum::Router;
use axum::body::Bytes;
use common::{call, sign};
use serde_json::{Value, json};
use support::{initialize, start_proxy};

/// An upstream that answers every message with an empty result.
async fn upstream() -> String {
    async fn mcp(body: Bytes) -> ([(&'static str, &'static str); 2], String) {
        let message: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        (
            [
                ("content-type", "application/json"),
                ("mcp-session-id", "s-1"),
            ],
            json!({"jsonrpc": "2.0", "id": message["id"], "result": {}}).to_string(),
        )
    }
    let app = Router::new().route("/mcp", axum::routing::post(mcp));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}/mcp")
}

async fn get(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn names_chosen_by_a_client_never_become_metric_labels() {
    let url = upstream().await;
    let proxy = start_proxy(support::http(&url), |config| {
        config.admin = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let admin = proxy.admin.clone().unwrap();
    let token = sign(&proxy.key, "mcp:read");
    let opened = proxy
        .post(&token, None, &initialize())
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), 200);
    // Warm every label a normal request sets, then measure.
    for message in [call(1, "search"), call(2, "warm-up")] {
        proxy
            .post(&token, Some("s-1"), &message)
            .send()
            .await
            .unwrap();
    }
    let (_, before) = get(&format!("{admin}/metrics")).await;
    for i in 0..300 {
        let tool = format!("tool-{i}-\"}}\n# evil");
        let method = format!("evil/{i}");
        let batch = json!([
            call(i, &tool),
            {"jsonrpc": "2.0", "id": i, "method": method, "params": {"name": tool}},
            {"jsonrpc": "2.0", "id": i, "method": "resources/read", "params": {"uri": format!("x://{i}")}},
            {"jsonrpc": "2.0", "id": i, "method": "prompts/get", "params": {"name": tool}},
        ]);
        proxy
            .post(&token, Some("s-1"), &batch)
            .send()
            .await
            .unwrap();
        proxy
            .post(&format!("garbage.{i}.x"), Some("s-1"), &batch)
            .send()
            .await
            .unwrap();
    }
    let (_, after) = get(&format!("{admin}/metrics")).await;
    assert!(!after.contains("evil"), "{after}");
    // They were decided (and counted), under the policy's labels.
    let decided = |page: &str| -> f64 {
        page.lines()
            .filter(|l| l.starts_with("mcp_policy_decisions_total{"))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
            .sum()
    };
    assert!(decided(&after) - decided(&before) >= 300.0, "{after}");
    let grown = after.lines().count().saturating_sub(before.lines().count());
    assert!(grown < 10, "{grown} new lines:\n{after}");
}
