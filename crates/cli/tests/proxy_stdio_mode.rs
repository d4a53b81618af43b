//! `mcp-policy proxy --stdio-mode per-session|shared -- COMMAND`: the flag
//! (and MCP_POLICY_STDIO_MODE) reaches the proxy. The stdio server is the
//! proxy crate's Node fixture, whose answers name its process id, so two
//! sessions show whether they share a child. The modes themselves are
//! tested in crates/proxy (stdio_upstream.rs, stdio_shared.rs).
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
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

fn jwks(key: &TestKey) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "mcp-policy-stdio-mode-{}-jwks.json",
        std::process::id()
    ));
    std::fs::write(&path, jwks_of(&[key])).unwrap();
    path
}

fn token(key: &TestKey, audience: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    key.token_with(
        &json!({"alg": "RS256", "typ": "at+jwt", "kid": key.kid}),
        &json!({"iss": ISS, "aud": audience, "sub": "user-1", "client_id": "app-7",
                "iat": now - 10, "exp": now + 600, "scope": "mcp:read"}),
    )
}

/// Starts the proxy in front of the fixture with `mode` (None: the
/// default), by flag or by environment; the pids two sessions' children
/// report.
async fn pids_of_two_sessions(mode: Option<&str>, by_env: bool) -> (u32, u32) {
    let key = TestKey::rsa("rsa-1.pem", "rsa-1");
    let jwks = jwks(&key);
    let mut command = Command::new(env!("CARGO_BIN_EXE_mcp-policy"));
    command
        .current_dir(root())
        .args(["proxy", "--bind", "127.0.0.1:0", "--issuer", ISS])
        .args(["--policy", "examples/github.mcppolicy"])
        .arg("--jwks")
        .arg(&jwks)
        .env_remove("MCP_POLICY_STDIO_MODE");
    match (mode, by_env) {
        (Some(mode), true) => {
            command.env("MCP_POLICY_STDIO_MODE", mode);
        }
        (Some(mode), false) => {
            command.args(["--stdio-mode", mode]);
        }
        (None, _) => {}
    }
    let child = command
        .args(["--", "node", "crates/proxy/tests/fixtures/stdio-server.mjs"])
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
    let token = token(&key, &endpoint);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let post = |session: Option<String>, body: Value| {
        let mut request = client
            .post(&endpoint)
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.to_string());
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        request.send()
    };
    let mut pids = Vec::new();
    for _ in 0..2 {
        let opened = post(
            None,
            json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                   "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                              "clientInfo": {"name": "test", "version": "0"}}}),
        )
        .await
        .unwrap();
        assert_eq!(opened.status(), 200);
        let session = opened.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        // `list_users` needs mcp:read; the fixture answers any tool.
        let answer: Value = post(
            Some(session),
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                   "params": {"name": "list_users", "arguments": {}}}),
        )
        .await
        .unwrap()
        .text()
        .await
        .map(|text| serde_json::from_str(&text).unwrap())
        .unwrap();
        let text = answer["result"]["content"][0]["text"].as_str().unwrap();
        pids.push(text.rsplit(' ').next().unwrap().parse().unwrap());
    }
    (pids[0], pids[1])
}

#[tokio::test]
async fn sessions_get_a_child_each_by_default() {
    let (one, two) = pids_of_two_sessions(None, false).await;
    assert_ne!(one, two);
    let (one, two) = pids_of_two_sessions(Some("per-session"), false).await;
    assert_ne!(one, two);
}

#[tokio::test]
async fn shared_mode_serves_every_session_from_one_child() {
    let (one, two) = pids_of_two_sessions(Some("shared"), false).await;
    assert_eq!(one, two);
    let (one, two) = pids_of_two_sessions(Some("shared"), true).await;
    assert_eq!(one, two);
}

#[test]
fn an_unknown_stdio_mode_is_refused() {
    let output = mcp_policy(&[
        "proxy",
        "--issuer",
        ISS,
        "--policy",
        "examples/github.mcppolicy",
        "--jwks",
        "jwks.json",
        "--stdio-mode",
        "pooled",
        "--",
        "node",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("per-session"),
        "{}",
        stderr(&output)
    );
}
