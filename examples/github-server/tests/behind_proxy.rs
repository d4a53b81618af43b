//! `mcp-policy proxy -- github-mcp-example --stdio`, end to end: the real
//! binary over stdio (no layer of its own), behind the proxy (the library
//! the CLI runs), in both stdio modes, with the demo key's tokens.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use mcp_policy_proxy::{Proxy, ProxyConfig, StdioConfig, StdioMode, Upstream};
use mcp_policy_token::KeySource;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_github-mcp-example");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn mint(scopes: &str, audience: &str) -> String {
    let output = Command::new(BIN)
        .args(["mint-dev-token", "--scopes", scopes, "--audience", audience])
        .env_clear()
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

struct Client {
    http: reqwest::Client,
    url: String,
    token: String,
    session: Option<String>,
}

impl Client {
    async fn post(&self, body: &Value) -> (u16, Value) {
        let mut request = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.to_string());
        if let Some(session) = &self.session {
            request = request.header("mcp-session-id", session);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn open(&mut self) -> Value {
        let initialize = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "test", "version": "0"}}});
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(initialize.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        self.session = Some(
            response.headers()["mcp-session-id"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
        let answer: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
        let (status, _) = self
            .post(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        assert_eq!(status, 202);
        answer
    }
}

async fn behind_proxy(mode: StdioMode) {
    let mut stdio = StdioConfig::new(vec![BIN.into(), "--stdio".into()]);
    stdio.mode = mode;
    stdio.request_timeout = Duration::from_secs(20);
    let mut config = ProxyConfig::new(
        "https://auth.example.com".into(),
        KeySource::File(root().join("examples/github-server/dev-keys/jwks.json")),
        root().join("examples/github.mcppolicy"),
        Upstream::Stdio(stdio),
    );
    config.scope_claims = vec!["scope".into()];
    let proxy = Proxy::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let url = format!("http://{}{}", proxy.local_addr().unwrap(), proxy.path());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(proxy.serve(async {
        let _ = stopped.await;
    }));

    let mut reader = Client {
        http: reqwest::Client::new(),
        url: url.clone(),
        token: mint("mcp:read", &url),
        session: None,
    };
    let answer = reader.open().await;
    assert_eq!(
        answer["result"]["serverInfo"]["name"], "github-mcp-example",
        "{answer}"
    );

    // The example's own list, filtered by the proxy for a read token.
    let (status, listed) = reader
        .post(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .await;
    assert_eq!(status, 200);
    let names: Vec<&str> = listed["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"list_users"), "{names:?}");
    assert!(!names.contains(&"delete_repo"), "{names:?}");

    let call = |id: u64, name: &str, arguments: Value| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
               "params": {"name": name, "arguments": arguments}})
    };
    let (status, users) = reader.post(&call(2, "list_users", json!({}))).await;
    assert_eq!(status, 200);
    assert_eq!(users["id"], 2);
    assert!(
        users["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("alice"),
        "{users}"
    );
    let (status, _) = reader
        .post(&call(3, "delete_repo", json!({"repo": "acme/api"})))
        .await;
    assert_eq!(status, 403);

    // A writer's call reaches the tools, which run without a principal of
    // their own over stdio.
    let mut writer = Client {
        http: reqwest::Client::new(),
        url,
        token: mint("mcp:write github:issues", &reader.url),
        session: None,
    };
    writer.open().await;
    let (status, created) = writer
        .post(&call(
            1,
            "create_issue",
            json!({"repo": "acme/widgets", "title": "from the proxy"}),
        ))
        .await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["result"]["isError"], false, "{created}");
    let _ = stop.send(());
}

#[tokio::test]
async fn per_session_children_serve_the_tools_behind_the_proxy() {
    behind_proxy(StdioMode::PerSession).await;
}

#[tokio::test]
async fn a_shared_child_serves_the_tools_behind_the_proxy() {
    behind_proxy(StdioMode::Shared).await;
}
