//! `mcp-policy proxy --otlp-endpoint`: the request spans and the decision
//! log reach an OTLP/HTTP collector on 127.0.0.1, as a fleet of proxies
//! reports to the collector its operator runs. The collector here is a
//! plain HTTP server that keeps what it is sent (OTLP/JSON).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

#[path = "../../token/tests/common/keys.rs"]
mod keys;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use common::root;
use keys::{TestKey, jwks_of};
use serde_json::{Value, json};

const ISS: &str = "https://auth.example.com";

/// What the collector received: (signal, OTLP/JSON document).
type Received = Arc<Mutex<Vec<(String, Value)>>>;

async fn collector() -> (String, Received) {
    let received = Received::default();
    async fn export(
        State(received): State<Received>,
        Path(signal): Path<String>,
        body: Bytes,
    ) -> &'static str {
        let document: Value = serde_json::from_slice(&body).unwrap();
        received.lock().unwrap().push((signal, document));
        "{}"
    }
    let app = Router::new()
        .route("/v1/{signal}", axum::routing::post(export))
        .with_state(Arc::clone(&received));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}"), received)
}

/// An MCP server that answers every call.
async fn upstream() -> String {
    async fn mcp(body: Bytes) -> String {
        let message: Value = serde_json::from_slice(&body).unwrap();
        json!({"jsonrpc": "2.0", "id": message["id"],
               "result": {"content": [{"type": "text", "text": "ok"}], "isError": false}})
        .to_string()
    }
    let app = Router::new().route("/mcp", axum::routing::post(mcp));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}/mcp")
}

fn token(key: &TestKey, audience: &str, scope: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    key.token_with(
        &json!({"alg": "RS256", "typ": "at+jwt", "kid": key.kid}),
        &json!({"iss": ISS, "aud": audience, "sub": "user-1", "client_id": "app-7",
                "iat": now - 10, "exp": now + 600, "scope": scope}),
    )
}

/// OTLP/JSON attributes (`[{key, value: {stringValue | intValue ...}}]`)
/// as `key -> value as text`.
fn attributes(list: &Value) -> Vec<(String, String)> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|attribute| {
            let value = &attribute["value"];
            let text = value["stringValue"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| value["intValue"].as_str().map(str::to_owned))
                .or_else(|| value["intValue"].as_i64().map(|n| n.to_string()))
                .unwrap_or_else(|| value.to_string());
            (attribute["key"].as_str().unwrap().to_owned(), text)
        })
        .collect()
}

fn attribute<'a>(attributes: &'a [(String, String)], key: &str) -> Option<&'a str> {
    attributes
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn spans_and_the_decision_log_reach_the_collector() {
    let (collector_url, received) = collector().await;
    let upstream_url = upstream().await;
    let key = TestKey::rsa("rsa-1.pem", "rsa-1");
    let dir = std::env::temp_dir().join(format!("mcp-policy-otel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let jwks = dir.join("jwks.json");
    std::fs::write(&jwks, jwks_of(&[&key])).unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-policy"))
        .current_dir(root())
        .args(["proxy", "--bind", "127.0.0.1:0", "--issuer", ISS])
        .args(["--policy", "examples/github.mcppolicy"])
        .arg("--jwks")
        .arg(&jwks)
        .args(["--upstream", &upstream_url])
        .args(["--otlp-endpoint", &collector_url])
        .args(["--otlp-protocol", "http/json"])
        .env("OTEL_SERVICE_NAME", "proxy-under-test")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout).lines().next().unwrap().unwrap()
    })
    .await
    .unwrap();
    let endpoint = line.strip_prefix("listening on ").unwrap().to_owned();

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let read = token(&key, &endpoint, "mcp:read github:repos");
    for (id, tool, status) in [(1, "search_repos", 200), (2, "delete_repo", 403)] {
        let answer = client
            .post(&endpoint)
            .bearer_auth(&read)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(
                json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                       "params": {"name": tool, "arguments": {}}})
                .to_string(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), status, "{tool}");
    }

    // SIGTERM: the proxy drains, then exports what is still batched.
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let exited = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(exited.success(), "{exited:?}");

    let received = received.lock().unwrap();
    let of = |signal: &str| {
        received
            .iter()
            .filter(|(s, _)| s == signal)
            .map(|(_, document)| document)
            .collect::<Vec<_>>()
    };

    // The decision log, one record per decision, with its fields.
    let records: Vec<(Vec<(String, String)>, Value)> = of("logs")
        .into_iter()
        .flat_map(|document| document["resourceLogs"].as_array().unwrap().iter())
        .flat_map(|resource| {
            let resource_attributes = attributes(&resource["resource"]["attributes"]);
            resource["scopeLogs"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|scope| scope["logRecords"].as_array().unwrap().iter())
                .map(move |record| (resource_attributes.clone(), record.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let decision = |tool: &str| {
        let (resource, record) = records
            .iter()
            .find(|(_, record)| attribute(&attributes(&record["attributes"]), "name") == Some(tool))
            .unwrap_or_else(|| panic!("no decision record for {tool} in {records:?}"));
        (
            resource,
            attributes(&record["attributes"]),
            record["traceId"].clone(),
        )
    };
    let (resource, allowed, allowed_trace) = decision("search_repos");
    assert_eq!(
        attribute(resource, "service.name"),
        Some("proxy-under-test")
    );
    assert_eq!(attribute(&allowed, "decision"), Some("allow"));
    assert_eq!(attribute(&allowed, "subject"), Some("user-1"));
    assert_eq!(attribute(&allowed, "method"), Some("tools/call"));
    let (_, denied, denied_trace) = decision("delete_repo");
    assert_eq!(attribute(&denied, "decision"), Some("deny"));
    assert!(
        attribute(&denied, "missing").is_some_and(|m| !m.is_empty()),
        "{denied:?}"
    );
    // Nothing but the project's own events is exported (no reqwest, no
    // hyper: the exporter's own traffic would feed itself). An event is
    // named after its source file, which for a dependency is in the cargo
    // registry, not in the workspace's `crates/`.
    assert!(!records.is_empty());
    for (_, record) in &records {
        let event = record["eventName"].as_str().unwrap_or_default();
        assert!(event.starts_with("event crates/"), "{record}");
    }

    // The request spans, with the status each answer had; each decision
    // record belongs to its request's trace.
    let spans: Vec<Value> = of("traces")
        .into_iter()
        .flat_map(|document| document["resourceSpans"].as_array().unwrap().iter())
        .flat_map(|resource| resource["scopeSpans"].as_array().unwrap().iter())
        .flat_map(|scope| scope["spans"].as_array().unwrap().iter().cloned())
        .collect();
    let status_of_trace = |trace: &Value| {
        let span = spans
            .iter()
            .find(|span| span["name"] == "mcp.request" && &span["traceId"] == trace)
            .unwrap_or_else(|| panic!("no request span in trace {trace}: {spans:?}"));
        attribute(
            &attributes(&span["attributes"]),
            "http.response.status_code",
        )
        .map(str::to_owned)
    };
    assert_eq!(status_of_trace(&allowed_trace).as_deref(), Some("200"));
    assert_eq!(status_of_trace(&denied_trace).as_deref(), Some("403"));
}

#[test]
fn an_endpoint_that_is_not_http_stops_the_start() {
    let output = Command::new(env!("CARGO_BIN_EXE_mcp-policy"))
        .current_dir(root())
        .args(["proxy", "--bind", "127.0.0.1:0", "--issuer", ISS])
        .args(["--policy", "examples/github.mcppolicy"])
        .args(["--jwks", "https://auth.example.com/jwks.json"])
        .args(["--upstream", "http://127.0.0.1:9/mcp"])
        .args(["--otlp-endpoint", "127.0.0.1:4318"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("--otlp-endpoint `127.0.0.1:4318` must be an http:// or https:// URL"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_collector_that_never_answers_delays_the_exit_by_five_seconds_at_most() {
    // Accepts connections and reads nothing, answers nothing.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let upstream_url = upstream().await;
    let key = TestKey::rsa("rsa-1.pem", "rsa-1");
    let dir = std::env::temp_dir().join(format!("mcp-policy-otel-hang-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let jwks = dir.join("jwks.json");
    std::fs::write(&jwks, jwks_of(&[&key])).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-policy"))
        .current_dir(root())
        .args(["proxy", "--bind", "127.0.0.1:0", "--issuer", ISS])
        .args(["--policy", "examples/github.mcppolicy"])
        .arg("--jwks")
        .arg(&jwks)
        .args(["--upstream", &upstream_url])
        .args(["--otlp-endpoint", &collector_url])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout).lines().next().unwrap().unwrap()
    })
    .await
    .unwrap();
    let endpoint = line.strip_prefix("listening on ").unwrap().to_owned();
    // Something to export, spans and decision records both; the request
    // path does not wait on the collector.
    let read = token(&key, &endpoint, "mcp:read github:repos");
    let started = std::time::Instant::now();
    for id in 0..20 {
        let answer = reqwest::Client::new()
            .post(&endpoint)
            .bearer_auth(&read)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(
                json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                       "params": {"name": "search_repos", "arguments": {}}})
                .to_string(),
            )
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let stopping = std::time::Instant::now();
    let exited = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    let took = stopping.elapsed();
    assert!(exited.success(), "{exited:?}");
    // Nothing to drain: the export's 5 s bound, once for spans and logs
    // together, and a little slack.
    assert!(took < Duration::from_secs(7), "{took:?}");
}
