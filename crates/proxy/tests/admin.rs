//! The admin listener: liveness, readiness (cached, so probes do not flood
//! the upstream), and Prometheus metrics scraped over HTTP after real
//! allowed and denied calls through the proxy.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../http/tests/common/mod.rs"]
mod common;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Bytes;
use common::{call, sign};
use mcp_policy_proxy::{StdioConfig, Upstream};
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

/// The value of the one sample whose line starts with `name{` (or is
/// `name `) and contains every one of `labels`.
fn sample(page: &str, name: &str, labels: &[&str]) -> Option<f64> {
    let found: Vec<f64> = page
        .lines()
        .filter(|line| {
            (line.starts_with(&format!("{name}{{")) || line.starts_with(&format!("{name} ")))
                && labels.iter().all(|label| line.contains(label))
        })
        .map(|line| line.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert!(found.len() <= 1, "{name} {labels:?} matches {found:?}");
    found.first().copied()
}

#[tokio::test]
async fn metrics_count_what_happened() {
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
    let session = Some("s-1");
    for _ in 0..3 {
        let allowed = proxy
            .post(&token, session, &call(1, "search"))
            .send()
            .await
            .unwrap();
        assert_eq!(allowed.status(), 200);
    }
    let denied = proxy
        .post(&token, session, &call(2, "delete_repo"))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
    let denied = proxy
        .post(&token, session, &call(3, "debug_dump_all"))
        .send()
        .await
        .unwrap();
    // Denied by a deny rule: no scope helps, so no challenge (an error result).
    assert_eq!(denied.status(), 200);
    let anonymous = proxy
        .client
        .post(&proxy.url)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let garbage = proxy
        .post("not.a.token", None, &initialize())
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 401);

    let (status, page) = get(&format!("{admin}/metrics")).await;
    assert_eq!(status, 200);
    let allow = [
        "method=\"tools/call\"",
        "decision=\"allow\"",
        "rule=\"tool search",
    ];
    assert_eq!(
        sample(&page, "mcp_policy_decisions_total", &allow),
        Some(3.0),
        "{page}"
    );
    let deny = [
        "method=\"tools/call\"",
        "decision=\"deny\"",
        "mode=\"enforce\"",
    ];
    let denials: f64 = page
        .lines()
        .filter(|l| {
            l.starts_with("mcp_policy_decisions_total{") && deny.iter().all(|d| l.contains(d))
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(denials, 2.0, "{page}");
    assert_eq!(
        sample(
            &page,
            "mcp_policy_token_rejections_total",
            &["reason=\"missing\""]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &page,
            "mcp_policy_token_rejections_total",
            &["reason=\"malformed\""]
        ),
        Some(1.0),
        "{page}"
    );
    // initialize and the three allowed calls went upstream; nothing denied did.
    assert_eq!(
        sample(
            &page,
            "mcp_policy_upstream_latency_seconds_count",
            &["upstream=\"http\""]
        ),
        Some(4.0),
        "{page}"
    );
    assert!(
        page.contains(
            "mcp_policy_upstream_latency_seconds_bucket{upstream=\"http\",le=\"0.0005\"}"
        ),
        "{page}"
    );
    assert_eq!(sample(&page, "mcp_policy_sessions", &[]), Some(1.0));
    assert_eq!(sample(&page, "mcp_policy_child_processes", &[]), Some(0.0));
    assert_eq!(
        sample(&page, "mcp_policy_policy_generation", &[]),
        Some(0.0)
    );
    let expected = mcp_policy_proxy::metrics::policy_hash(
        &proxy.layer.policy().evaluator().table().to_artifact(),
    );
    assert_eq!(expected.len(), 16);
    let first = format!("hash=\"{expected}\"");
    assert_eq!(
        sample(&page, "mcp_policy_policy_info", &[&first]),
        Some(1.0),
        "{page}"
    );

    // A reload that fails is counted; one that succeeds moves the hash.
    let bad = std::env::temp_dir().join(format!(
        "mcp-policy-admin-bad-{}.mcppolicy",
        std::process::id()
    ));
    std::fs::write(&bad, "this is not a policy").unwrap();
    assert!(proxy.layer.reload_from_path(&bad).is_err());
    let good = std::env::temp_dir().join(format!(
        "mcp-policy-admin-good-{}.mcppolicy",
        std::process::id()
    ));
    std::fs::write(
        &good,
        format!("{}\ntool extra requires mcp:read\n", common::POLICY),
    )
    .unwrap();
    proxy.layer.reload_from_path(&good).unwrap();
    let (_, page) = get(&format!("{admin}/metrics")).await;
    assert_eq!(
        sample(&page, "mcp_policy_reload_failures_total", &[]),
        Some(1.0),
        "{page}"
    );
    assert_eq!(
        sample(&page, "mcp_policy_policy_generation", &[]),
        Some(1.0)
    );
    assert_eq!(
        sample(&page, "mcp_policy_policy_info", &[&first]),
        Some(0.0),
        "{page}"
    );
    let second = mcp_policy_proxy::metrics::policy_hash(
        &proxy.layer.policy().evaluator().table().to_artifact(),
    );
    assert_ne!(second, expected);
    assert_eq!(
        sample(
            &page,
            "mcp_policy_policy_info",
            &[&format!("hash=\"{second}\"")]
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn health_and_readiness_live_on_the_admin_listener_only() {
    let url = upstream().await;
    let proxy = start_proxy(support::http(&url), |config| {
        config.admin = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let admin = proxy.admin.clone().unwrap();
    assert_eq!(
        get(&format!("{admin}/healthz")).await,
        (200, "ok\n".to_owned())
    );
    let (status, report) = get(&format!("{admin}/readyz")).await;
    assert_eq!(status, 200, "{report}");
    assert!(
        report.contains("keys: ok") && report.contains("upstream: ok"),
        "{report}"
    );
    assert_eq!(get(&format!("{admin}/other")).await.0, 404);
    let posted = reqwest::Client::new()
        .post(format!("{admin}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 405);

    // The public listener serves none of it.
    let origin = proxy.url.rsplit_once('/').unwrap().0;
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(get(&format!("{origin}{path}")).await.0, 404, "{path}");
    }
}

#[tokio::test]
async fn readiness_probes_reach_the_upstream_once_per_interval() {
    // An "upstream" that only counts the connections it gets.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    let proxy = start_proxy(support::http(&format!("http://{address}/mcp")), |config| {
        config.admin = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let admin = proxy.admin.clone().unwrap();
    let probes = (0..50).map(|_| get_owned(format!("{admin}/readyz")));
    for (status, _) in futures_join(probes).await {
        assert_eq!(status, 200);
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

async fn get_owned(url: String) -> (u16, String) {
    get(&url).await
}

async fn futures_join<F: std::future::Future<Output = (u16, String)> + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<(u16, String)> {
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

#[tokio::test]
async fn an_unreachable_upstream_or_a_missing_command_is_not_ready() {
    // A port nothing listens on: bound, then closed.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let proxy = start_proxy(support::http(&format!("http://{closed}/mcp")), |config| {
        config.admin = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let (status, report) = get(&format!("{}/readyz", proxy.admin.clone().unwrap())).await;
    assert_eq!(status, 503);
    assert!(report.contains("upstream: unreachable"), "{report}");
    assert_eq!(
        get(&format!("{}/healthz", proxy.admin.clone().unwrap()))
            .await
            .0,
        200
    );

    let missing = Upstream::Stdio(StdioConfig::new(vec!["/nonexistent/mcp-server".into()]));
    let proxy = start_proxy(missing, |config| {
        config.admin = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let (status, report) = get(&format!("{}/readyz", proxy.admin.clone().unwrap())).await;
    assert_eq!(status, 503);
    assert!(report.contains("not an executable"), "{report}");

    let present = Upstream::Stdio(StdioConfig::new(vec!["sh".into()]));
    let proxy = start_proxy(present, |config| {
        config.admin = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    assert_eq!(
        get(&format!("{}/readyz", proxy.admin.clone().unwrap()))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn keys_not_yet_fetched_are_not_ready() {
    let url = upstream().await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let proxy = start_proxy(support::http(&url), |config| {
        config.admin = Some("127.0.0.1:0".parse().unwrap());
        config.keys = mcp_policy_token::KeySource::Url(format!("http://{closed}/jwks.json"));
    })
    .await;
    let (status, report) = get(&format!("{}/readyz", proxy.admin.clone().unwrap())).await;
    assert_eq!(status, 503);
    assert!(report.contains("keys: not obtained yet"), "{report}");
}

#[tokio::test]
async fn an_admin_address_in_use_stops_the_start_and_says_which_listener() {
    let busy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = mcp_policy_proxy::ProxyConfig::new(
        common::ISS.to_owned(),
        mcp_policy_token::KeySource::Jwks(common::jwks(&common::rsa("rsa-1.pem"))),
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/github.mcppolicy"),
        support::http("http://127.0.0.1:9/mcp"),
    );
    config.admin = Some(busy.local_addr().unwrap());
    let error = mcp_policy_proxy::Proxy::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("the admin listener on 127.0.0.1:"),
        "{error}"
    );
}

#[tokio::test]
async fn readiness_says_draining_once_shutdown_begins() {
    // An upstream whose calls take a while: a request in flight holds the
    // drain open.
    async fn slow(body: Bytes) -> ([(&'static str, &'static str); 1], String) {
        let message: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if message["method"] == "tools/call" {
            tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        }
        (
            [("content-type", "application/json")],
            json!({"jsonrpc": "2.0", "id": message["id"], "result": {}}).to_string(),
        )
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let app = Router::new().route("/mcp", axum::routing::post(slow));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut proxy = start_proxy(support::http(&url), |config| {
        config.admin = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let admin = proxy.admin.clone().unwrap();
    assert_eq!(get(&format!("{admin}/readyz")).await.0, 200);
    let token = sign(&proxy.key, "mcp:read");
    let in_flight = tokio::spawn(proxy.post(&token, None, &call(1, "search")).send());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    proxy.shut_down();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(
        get(&format!("{admin}/readyz")).await,
        (503, "draining\n".to_owned())
    );
    assert_eq!(get(&format!("{admin}/healthz")).await.0, 200);
    // The request in flight is answered all the same.
    assert_eq!(in_flight.await.unwrap().unwrap().status(), 200);
}
