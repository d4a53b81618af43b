//! `mcp-policy proxy`, the binary as users start it: in front of an MCP
//! server on 127.0.0.1 that records what reaches it, with tokens signed by
//! the token crate's test key. The behaviours are tested in depth in
//! crates/proxy; here, that the command wires them up.
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
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use common::{mcp_policy, root, stderr};
use keys::{TestKey, jwks_of};
use serde_json::{Value, json};

const ISS: &str = "https://auth.example.com";

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mcp-policy-proxy-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// What the upstream received: (headers, body).
type Record = Arc<Mutex<Vec<(HeaderMap, Value)>>>;

async fn upstream() -> (String, Record) {
    let record = Record::default();
    async fn mcp(State(record): State<Record>, headers: HeaderMap, body: Bytes) -> String {
        let message: Value = serde_json::from_slice(&body).unwrap();
        record.lock().unwrap().push((headers, message.clone()));
        json!({"jsonrpc": "2.0", "id": message["id"],
               "result": {"content": [{"type": "text", "text": "upstream ok"}], "isError": false}})
        .to_string()
    }
    let app = Router::new()
        .route("/mcp", axum::routing::post(mcp))
        .with_state(Arc::clone(&record));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}/mcp"), record)
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

#[tokio::test]
async fn the_proxy_serves_the_policy_in_front_of_an_http_upstream() {
    let (upstream_url, record) = upstream().await;
    let key = TestKey::rsa("rsa-1.pem", "rsa-1");
    let jwks = scratch("jwks.json");
    std::fs::write(&jwks, jwks_of(&[&key])).unwrap();
    let headers = scratch("upstream-headers");
    std::fs::write(
        &headers,
        "# the upstream's own key\nX-Api-Key: upstream-secret\n",
    )
    .unwrap();

    let child = Command::new(env!("CARGO_BIN_EXE_mcp-policy"))
        .current_dir(root())
        .args(["proxy", "--bind", "127.0.0.1:0", "--issuer", ISS])
        .args(["--policy", "examples/github.mcppolicy"])
        .arg("--jwks")
        .arg(&jwks)
        .args(["--upstream", &upstream_url])
        .arg("--upstream-header-file")
        .arg(&headers)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Killed(child);
    let stdout = child.0.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout).lines().next().unwrap().unwrap()
    })
    .await
    .unwrap();
    let endpoint = line.strip_prefix("listening on ").unwrap().to_owned();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let post = |token: String, body: Value| {
        client
            .post(&endpoint)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.to_string())
            .send()
    };
    let call = |id: u64, tool: &str| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
               "params": {"name": tool, "arguments": {}}})
    };
    let read = token(&key, &endpoint, "mcp:read github:repos");
    let allowed = post(read.clone(), call(1, "search_repos")).await.unwrap();
    assert_eq!(allowed.status(), 200);
    let denied = post(read, call(2, "delete_repo")).await.unwrap();
    assert_eq!(denied.status(), 403);
    let unauthenticated = client.post(&endpoint).body("{}").send().await.unwrap();
    assert_eq!(unauthenticated.status(), 401);

    let record = record.lock().unwrap();
    assert_eq!(
        record.len(),
        1,
        "only the allowed call reaches the upstream"
    );
    let (headers, body) = &record[0];
    assert_eq!(body["params"]["name"], "search_repos");
    assert_eq!(headers["x-api-key"], "upstream-secret");
    assert!(headers.get("authorization").is_none());
}

#[test]
fn bad_configuration_stops_the_start_with_a_message() {
    let jwks = scratch("jwks-bad.json");
    std::fs::write(&jwks, jwks_of(&[&TestKey::rsa("rsa-1.pem", "rsa-1")])).unwrap();
    let jwks = jwks.to_str().unwrap().to_owned();
    let base = |upstream: &str| {
        vec![
            "proxy".to_owned(),
            "--bind".into(),
            "127.0.0.1:0".into(),
            "--issuer".into(),
            ISS.into(),
            "--policy".into(),
            "examples/github.mcppolicy".into(),
            "--jwks".into(),
            jwks.clone(),
            "--upstream".into(),
            upstream.into(),
        ]
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        mcp_policy(&args)
    };

    let output = run(base("ftp://127.0.0.1/mcp"));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("must be an absolute http:// URL"),
        "{}",
        stderr(&output)
    );

    let headers = scratch("headers-bad");
    std::fs::write(&headers, "X-Good: 1\nno colon here\n").unwrap();
    let mut args = base("http://127.0.0.1:9/mcp");
    args.extend([
        "--upstream-header-file".into(),
        headers.to_str().unwrap().into(),
    ]);
    let output = run(args);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(":2: expected `Name: value`"),
        "{}",
        stderr(&output)
    );

    // A device, read as no input is: refused, not read forever.
    let mut args = base("http://127.0.0.1:9/mcp");
    args.extend(["--upstream-header-file".into(), "/dev/zero".into()]);
    let output = run(args);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("mcp_policy::input::not_a_file"),
        "{}",
        stderr(&output)
    );

    let mut args = base("http://127.0.0.1:9/mcp");
    args[6] = "examples/missing.mcppolicy".into();
    let output = run(args);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("missing.mcppolicy"),
        "{}",
        stderr(&output)
    );
}
