//! Scale-out, as far as one machine shows it: two replicas of the proxy
//! with the same configuration, as a load balancer would have them. Token
//! validation is stateless, so a token works at either; an MCP session
//! belongs to the replica that opened it, so the balancer must route by
//! `Mcp-Session-Id` (docs/deploy.md), and a replica that did not open a
//! session refuses it as unknown, with nothing sent upstream.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../http/tests/common/mod.rs"]
mod common;
mod support;

use common::{call, json_of, sign};
use mcp_policy_proxy::{AnyUpstream, StdioConfig, Upstream};
use support::{Running, initialize, start_proxy};

fn stdio() -> Upstream {
    let script = format!(
        "{}/tests/fixtures/stdio-server.mjs",
        env!("CARGO_MANIFEST_DIR")
    );
    Upstream::Stdio(StdioConfig::new(vec!["node".into(), script]))
}

fn children(proxy: &Running) -> usize {
    match &proxy.upstream {
        AnyUpstream::Stdio(stdio) => stdio.children(),
        _ => panic!("not a per-session stdio upstream"),
    }
}

async fn open(proxy: &Running, token: &str) -> String {
    let response = proxy.post(token, None, &initialize()).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_token_works_at_every_replica_and_a_session_at_its_own_only() {
    let a = start_proxy(stdio(), |_| {}).await;
    let b = start_proxy(stdio(), |_| {}).await;
    // One token (one issuer, one audience: the service's, not a replica's).
    let token = sign(&a.key, "mcp:read");
    let at_a = open(&a, &token).await;
    let at_b = open(&b, &token).await;
    assert_ne!(at_a, at_b);

    for (replica, own, other) in [(&a, &at_a, &at_b), (&b, &at_b, &at_a)] {
        let served = replica
            .post(&token, Some(own), &call(1, "search"))
            .send()
            .await
            .unwrap();
        assert_eq!(served.status(), 200);
        assert!(json_of(served).await["result"].is_object());
        // Another replica's session: unknown here, as an id never issued.
        let refused = replica
            .post(&token, Some(other), &call(2, "search"))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 404);
    }
    // Each replica runs its own sessions' children, and no more.
    assert_eq!(children(&a), 1);
    assert_eq!(children(&b), 1);
}
