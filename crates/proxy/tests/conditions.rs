//! Conditions on arguments and claims through the whole proxy, end to end:
//! a real signed token carrying a custom claim (`tenant`), a policy with
//! conditions loaded from its compiled artifact file, and every kind of
//! upstream (Streamable HTTP, a stdio child per session, one shared stdio
//! child, the legacy HTTP+SSE transport). Each upstream sits behind the
//! same policy layer, so each decision is made there, on the request's own
//! arguments and the token's own claims, before anything is forwarded.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../http/tests/common/mod.rs"]
mod common;
mod support;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use common::{conditional, json_of, sign_claims};
use mcp_policy_http::INSUFFICIENT_SCOPE_CODE;
use mcp_policy_proxy::{SseConfig, StdioConfig, StdioMode, Upstream};
use serde_json::{Value, json};
use support::{Running, initialize, start_proxy};

fn temp(name: &str) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "mcp-policy-proxy-conditions-{}-{n}-{name}",
        std::process::id()
    ))
}

/// The policy with conditions, as `mcp-policy compile` writes it.
fn artifact_file() -> PathBuf {
    let path = temp("policy.json");
    std::fs::write(&path, conditional::policy().artifact()).unwrap();
    path
}

type Seen = Arc<Mutex<Vec<Value>>>;

/// A Streamable HTTP upstream that records every body it receives.
async fn http_upstream() -> (Upstream, Seen) {
    let seen = Seen::default();
    let record = Arc::clone(&seen);
    let app = Router::new().route(
        "/mcp",
        axum::routing::post(move |body: Bytes| {
            let record = Arc::clone(&record);
            async move {
                let message: Value = serde_json::from_slice(&body).unwrap();
                let session = {
                    let mut record = record.lock().unwrap();
                    record.push(message.clone());
                    // A session id of its own for each `initialize`.
                    format!("s-{}", record.len())
                };
                let result = match message["method"].as_str() {
                    Some("initialize") => json!({"protocolVersion": "2025-06-18",
                        "capabilities": {"tools": {}}, "serverInfo": {"name": "http-test", "version": "1"}}),
                    _ => json!({"content": [{"type": "text",
                        "text": format!("{} from http", message["params"]["name"])}]}),
                };
                (
                    [
                        ("content-type", "application/json".to_owned()),
                        ("mcp-session-id", session),
                    ],
                    json!({"jsonrpc": "2.0", "id": message["id"], "result": result}).to_string(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (support::http(&format!("http://{address}/mcp")), seen)
}

/// The stdio test server, recording what reaches it in `record`.
fn stdio_upstream(mode: StdioMode, record: &std::path::Path) -> Upstream {
    let script = format!(
        "{}/tests/fixtures/stdio-server.mjs",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut config = StdioConfig::new(vec![
        "node".into(),
        script,
        "--record".into(),
        record.display().to_string(),
    ]);
    config.mode = mode;
    Upstream::Stdio(config)
}

fn tool(id: u64, name: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": name, "arguments": arguments}})
}

async fn open(proxy: &Running, token: &str) -> String {
    let response = proxy.post(token, None, &initialize()).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// A denial by conditions: 200, no `WWW-Authenticate` at all, -32001 whose
/// message names the atom and echoes nothing of the request.
async fn assert_denied(
    proxy: &Running,
    token: &str,
    session: Option<&str>,
    body: &Value,
    atom: &str,
) {
    let response = proxy.post(token, session, body).send().await.unwrap();
    assert_eq!(response.status(), 200, "{body}");
    assert!(
        response.headers().get("www-authenticate").is_none(),
        "{body}: {:?}",
        response.headers()
    );
    let answer = json_of(response).await;
    assert_eq!(answer["error"]["code"], INSUFFICIENT_SCOPE_CODE, "{answer}");
    assert_eq!(
        answer["error"]["message"],
        format!("denied: condition `{atom}` does not hold")
    );
    assert_eq!(
        answer["error"]["data"],
        json!({"failed_conditions": [atom]})
    );
    for echoed in ["globex", "passwd"] {
        assert!(!answer.to_string().contains(echoed), "{answer}");
    }
}

const TENANT: &str = r#"claim.tenant == "acme""#;
const UNDER: &str = r#"arg.path under "/workspace""#;

/// In tenant: allowed and answered by the upstream. Out of tenant, and a
/// traversal out of `/workspace`: denied at the proxy, never forwarded.
async fn tenant_and_traversal(proxy: &Running) -> Vec<String> {
    let acme = sign_claims(
        &proxy.key,
        "mcp:read",
        json!({"sub": "alice", "tenant": "acme"}),
    );
    let globex = sign_claims(
        &proxy.key,
        "mcp:read mcp:admin",
        json!({"sub": "bob", "tenant": "globex"}),
    );
    let mine = open(proxy, &acme).await;
    let theirs = open(proxy, &globex).await;
    let mut answered = Vec::new();
    for body in [
        tool(1, "tenant_report", json!({})),
        tool(2, "read_file", json!({"path": "/workspace/notes.txt"})),
    ] {
        let response = proxy.post(&acme, Some(&mine), &body).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let text = response.text().await.unwrap();
        // JSON, or one SSE event holding it.
        let json = text
            .lines()
            .find_map(|line| line.strip_prefix("data: "))
            .unwrap_or(&text);
        let answer: Value = serde_json::from_str(json).unwrap();
        assert!(answer.get("error").is_none(), "{answer}");
        answered.push(
            answer["result"]["content"][0]["text"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_denied(
        proxy,
        &globex,
        Some(&theirs),
        &tool(3, "tenant_report", json!({})),
        TENANT,
    )
    .await;
    for path in [
        "/workspace/../etc/passwd",
        "/workspace/a/../../etc/passwd",
        "/etc/passwd",
    ] {
        assert_denied(
            proxy,
            &acme,
            Some(&mine),
            &tool(4, "read_file", json!({"path": path})),
            UNDER,
        )
        .await;
    }
    answered
}

#[tokio::test]
async fn through_a_streamable_http_upstream() {
    let (upstream, seen) = http_upstream().await;
    let proxy = start_proxy(upstream, |c| c.policy = artifact_file()).await;
    let answered = tenant_and_traversal(&proxy).await;
    assert_eq!(
        answered,
        ["\"tenant_report\" from http", "\"read_file\" from http"]
    );
    let calls: Vec<Value> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|m| m["method"] == "tools/call")
        .cloned()
        .collect();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(
        calls[1]["params"]["arguments"],
        json!({"path": "/workspace/notes.txt"})
    );
}

#[tokio::test]
async fn through_stdio_children_per_session_and_shared() {
    for mode in [StdioMode::PerSession, StdioMode::Shared] {
        let record = temp("record.jsonl");
        let proxy = start_proxy(stdio_upstream(mode, &record), |c| {
            c.policy = artifact_file();
        })
        .await;
        let answered = tenant_and_traversal(&proxy).await;
        assert!(
            answered[0].starts_with("tenant_report from pid"),
            "{answered:?}"
        );
        assert!(
            answered[1].starts_with("read_file from pid"),
            "{answered:?}"
        );
        // The children's own record: the two allowed calls, nothing denied.
        let received = std::fs::read_to_string(&record).unwrap();
        let calls: Vec<Value> = received
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .filter(|m| m["method"] == "tools/call")
            .collect();
        assert_eq!(calls.len(), 2, "{mode:?}: {received}");
        assert!(!received.contains("passwd"), "{mode:?}: {received}");
        let _ = std::fs::remove_file(&record);
    }
}

/// The legacy HTTP+SSE upstream, here one that is not even listening: a
/// call the conditions deny is answered by the layer in front of it, before
/// any upstream stream is opened.
#[tokio::test]
async fn through_a_legacy_sse_upstream_the_layer_decides_first() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let config = SseConfig::new(format!("http://{address}/sse").parse().unwrap());
    let proxy = start_proxy(Upstream::Sse(config), |c| c.policy = artifact_file()).await;
    let globex = sign_claims(&proxy.key, "mcp:read", json!({"tenant": "globex"}));
    assert_denied(
        &proxy,
        &globex,
        None,
        &tool(1, "tenant_report", json!({})),
        TENANT,
    )
    .await;
    let acme = sign_claims(&proxy.key, "mcp:read", json!({"tenant": "acme"}));
    assert_denied(
        &proxy,
        &acme,
        None,
        &tool(2, "read_file", json!({"path": "/workspace/../etc/passwd"})),
        UNDER,
    )
    .await;
    // Allowed, it goes on to the upstream, which is not there: not a denial.
    let response = proxy
        .post(&acme, None, &tool(3, "tenant_report", json!({})))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(!text.contains("-32001"), "{status}: {text}");
}

/// A token without the claim, and with it of another type: denied, no
/// challenge, through the proxy as through the layer.
#[tokio::test]
async fn a_missing_or_mistyped_claim_is_denied_without_a_challenge() {
    let (upstream, seen) = http_upstream().await;
    let proxy = start_proxy(upstream, |c| c.policy = artifact_file()).await;
    for claims in [json!({}), json!({"tenant": ["acme"]}), json!({"tenant": 1})] {
        let token = sign_claims(&proxy.key, "mcp:read mcp:admin", claims);
        assert_denied(
            &proxy,
            &token,
            None,
            &tool(1, "tenant_report", json!({})),
            TENANT,
        )
        .await;
    }
    assert!(seen.lock().unwrap().is_empty());
}
