//! The README's curl session, replayed against the real binary on a free
//! loopback port: metadata, the 401 challenge, a read token through
//! initialize / tools/list / tools/call, the 403 step-up for delete_repo,
//! and the admin token that gets through.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_github-mcp-example");
const ACCEPT: &str = "application/json, text/event-stream";

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Kills the server when the test ends, passed or not; on failure prints
/// what it logged.
struct Server {
    child: Child,
    url: String,
    log: Arc<Mutex<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- server log ---\n{}", self.log.lock().unwrap());
        }
    }
}

/// Starts the server on 127.0.0.1, port 0, and waits for the address it
/// prints once it listens.
fn start() -> Server {
    start_with(&[])
}

/// As [`start`], with more flags.
fn start_with(flags: &[&str]) -> Server {
    let mut child = Command::new(BIN)
        .current_dir(workspace_root())
        .args([
            "--bind",
            "127.0.0.1:0",
            "--jwks",
            "examples/github-server/dev-keys/jwks.json",
        ])
        .args(flags)
        .env_clear()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let mut stderr = child.stderr.take().unwrap();
    let sink = Arc::clone(&log);
    std::thread::spawn(move || {
        let mut text = String::new();
        let mut buf = [0; 4096];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
            sink.lock().unwrap().clone_from(&text);
        }
    });
    let stdout = child.stdout.take().unwrap();
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = send.send(line);
        }
    });
    let mut server = Server {
        child,
        url: String::new(),
        log,
    };
    let line = receive
        .recv_timeout(Duration::from_secs(10))
        .expect("the server did not report its address");
    let endpoint = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
    server.url = endpoint.trim_end_matches("/mcp").to_owned();
    server
}

/// `github-mcp-example mint-dev-token`, as the README runs it.
fn mint(scopes: &str, audience: &str) -> String {
    mint_as(scopes, audience, "demo-user")
}

/// A dev token for another user.
fn mint_as(scopes: &str, audience: &str, subject: &str) -> String {
    let output = Command::new(BIN)
        .args(["mint-dev-token", "--scopes", scopes, "--audience", audience])
        .args(["--subject", subject])
        .env_clear()
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// The JSON-RPC message in a streamable HTTP answer: a JSON body, or the
/// SSE event that carries one.
fn message(content_type: &str, body: &str) -> Value {
    if content_type.starts_with("application/json") {
        return serde_json::from_str(body).unwrap();
    }
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    body.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(str::trim)
        .filter(|data| !data.is_empty())
        .filter_map(|data| serde_json::from_str::<Value>(data).ok())
        .find(|m| m.get("id").is_some())
        .unwrap_or_else(|| panic!("no JSON-RPC answer in {body:?}"))
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .unwrap()
    }

    /// A tool result's text, parsed as the JSON the demo tools return.
    fn tool_json(&self) -> Value {
        assert_eq!(self.body["result"]["isError"], false, "{}", self.body);
        let text = self.body["result"]["content"][0]["text"].as_str().unwrap();
        serde_json::from_str(text).unwrap()
    }
}

struct Client {
    http: reqwest::Client,
    endpoint: String,
    session: Option<String>,
}

impl Client {
    async fn post(&self, token: Option<&str>, body: Value) -> Reply {
        let mut request = self
            .http
            .post(&self.endpoint)
            .header("content-type", "application/json")
            .header("accept", ACCEPT)
            .body(body.to_string());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(session) = &self.session {
            request = request
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", "2025-06-18");
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let content_type = headers
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else if content_type.starts_with("text/plain") {
            // The layer's own refusals (404 for a session, 413, ...).
            Value::String(text)
        } else {
            message(&content_type, &text)
        };
        Reply {
            status,
            headers,
            body,
        }
    }
}

fn call(id: u64, tool: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": tool, "arguments": arguments}})
}

#[tokio::test]
async fn the_readme_walkthrough() {
    let server = start();
    let endpoint = format!("{}/mcp", server.url);
    let metadata_url = format!("{}/.well-known/oauth-protected-resource/mcp", server.url);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    // 1. Discovery, without a token.
    let response = http.get(&metadata_url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let metadata: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(metadata["resource"], endpoint.as_str());
    assert_eq!(
        metadata["authorization_servers"],
        json!(["https://auth.example.com"])
    );
    assert_eq!(metadata["resource_name"], "github-mcp");
    assert_eq!(
        metadata["scopes_supported"],
        json!([
            "mcp:read",
            "mcp:write",
            "mcp:admin",
            "github:repos",
            "github:issues"
        ])
    );

    let mut client = Client {
        http,
        endpoint: endpoint.clone(),
        session: None,
    };
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "walkthrough", "version": "1"}}});

    // 2. No token: 401 and the challenge pointing at the metadata.
    let reply = client.post(None, initialize.clone()).await;
    assert_eq!(reply.status, 401);
    assert_eq!(
        reply.header("www-authenticate"),
        format!(r#"Bearer resource_metadata="{metadata_url}", scope="mcp:read""#)
    );

    // 3. A read token: initialize, and keep the session.
    let read = mint("mcp:read github:repos", &endpoint);
    let reply = client.post(Some(&read), initialize).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body["result"]["serverInfo"]["name"],
        "github-mcp-example"
    );
    client.session = Some(reply.header("mcp-session-id").to_owned());
    let reply = client
        .post(
            Some(&read),
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        )
        .await;
    assert_eq!(reply.status, 202);

    // 4. tools/list, filtered to what the token may call.
    let reply = client
        .post(
            Some(&read),
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        )
        .await;
    assert_eq!(reply.status, 200);
    let mut names: Vec<&str> = reply.body["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "analyze_complexity",
            "create_pr_draft",
            "get_file_content",
            "list_issues",
            "list_users",
            "search_repos"
        ]
    );

    // 5. An allowed call.
    let reply = client
        .post(
            Some(&read),
            call(3, "search_repos", json!({"query": "widget"})),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.tool_json(),
        json!({"total": 1, "repos": [{"name": "acme/widgets",
            "description": "Widgets for every occasion", "language": "Rust", "stars": 128}]})
    );

    // The resource and the prompt the read token covers.
    let reply = client
        .post(
            Some(&read),
            json!({"jsonrpc": "2.0", "id": 4, "method": "resources/read",
                   "params": {"uri": "repo://acme/gadgets"}}),
        )
        .await;
    assert_eq!(reply.status, 200);
    let text = reply.body["result"]["contents"][0]["text"]
        .as_str()
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(text).unwrap()["files"],
        json!(["README.md", "main.go"])
    );
    let reply = client
        .post(
            Some(&read),
            json!({"jsonrpc": "2.0", "id": 5, "method": "prompts/get",
                   "params": {"name": "summarize_pr",
                              "arguments": {"repo": "acme/widgets", "number": 4}}}),
        )
        .await;
    assert_eq!(reply.status, 200);
    let prompt = reply.body["result"]["messages"][0]["content"]["text"]
        .as_str()
        .unwrap();
    assert!(prompt.contains("\"Reject zero in parse\""), "{prompt}");

    // 6. delete_repo: 403, step-up to mcp:admin. The repository stays.
    let delete = call(6, "delete_repo", json!({"repo": "octo/hello-world"}));
    let reply = client.post(Some(&read), delete.clone()).await;
    assert_eq!(reply.status, 403);
    let challenge = reply.header("www-authenticate");
    assert!(
        challenge.starts_with(r#"Bearer error="insufficient_scope""#),
        "{challenge}"
    );
    assert!(
        challenge.contains(r#"scope="mcp:read github:repos mcp:admin""#),
        "{challenge}"
    );
    assert!(
        challenge.contains(&format!(r#"resource_metadata="{metadata_url}""#)),
        "{challenge}"
    );
    assert_eq!(
        reply.body["error"]["data"]["missing_scopes"],
        json!(["mcp:admin"])
    );

    // 7. An admin token, same session: deleted, and the caller recorded.
    let admin = mint("mcp:admin", &endpoint);
    let reply = client.post(Some(&admin), delete).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.tool_json(),
        json!({"deleted": "octo/hello-world", "by": "demo-user"})
    );
    let reply = client
        .post(
            Some(&read),
            call(7, "search_repos", json!({"query": "hello"})),
        )
        .await;
    assert_eq!(reply.tool_json()["total"], 0);
    // admin implies write: create_issue records who opened it.
    let reply = client
        .post(
            Some(&admin),
            call(
                8,
                "create_issue",
                json!({"repo": "acme/gadgets", "title": "Add a README badge"}),
            ),
        )
        .await;
    assert_eq!(reply.status, 200);
    let issue = reply.tool_json();
    assert_eq!(issue["created_by"], "demo-user");
    assert_eq!(issue["number"], 5);
}

/// The real rmcp server behind the layer: a session is its owner's alone,
/// and sessions per principal are capped.
#[tokio::test]
async fn sessions_are_bound_to_their_user_and_capped() {
    let server = start_with(&["--max-sessions-per-principal", "1"]);
    let endpoint = format!("{}/mcp", server.url);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "sessions", "version": "1"}}});
    let mut alice = Client {
        http: http.clone(),
        endpoint: endpoint.clone(),
        session: None,
    };
    let alice_token = mint_as("mcp:read github:repos", &endpoint, "alice");
    let reply = alice.post(Some(&alice_token), initialize.clone()).await;
    assert_eq!(reply.status, 200);
    let session = reply.header("mcp-session-id").to_owned();
    alice.session = Some(session.clone());
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(
        alice.post(Some(&alice_token), initialized).await.status,
        202
    );
    let search = call(2, "search_repos", json!({"query": "hello"}));
    assert_eq!(
        alice.post(Some(&alice_token), search.clone()).await.status,
        200
    );

    // Bob holds a valid token and alice's session id.
    let bob_token = mint_as("mcp:admin", &endpoint, "bob");
    let bob = Client {
        http: http.clone(),
        endpoint: endpoint.clone(),
        session: Some(session.clone()),
    };
    assert_eq!(bob.post(Some(&bob_token), search.clone()).await.status, 404);
    let ended = http
        .delete(&endpoint)
        .bearer_auth(&bob_token)
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), 404);
    // Alice's session goes on.
    assert_eq!(alice.post(Some(&alice_token), search).await.status, 200);

    // One session per principal: a second initialize waits.
    let second = Client {
        http: http.clone(),
        endpoint: endpoint.clone(),
        session: None,
    };
    let reply = second.post(Some(&alice_token), initialize.clone()).await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.header("retry-after"), "10");
    // Ending hers makes room.
    let ended = http
        .delete(&endpoint)
        .bearer_auth(&alice_token)
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert!(ended.status().is_success(), "{}", ended.status());
    assert_eq!(
        second.post(Some(&alice_token), initialize).await.status,
        200
    );
}

/// Attack on the real rmcp server: the owner sends their session id to a
/// path the router does not serve. The 404 is the router's, not rmcp's
/// "unknown session"; the layer used to forget the session on it while
/// rmcp kept it, so the per-principal limit could be passed without end.
#[tokio::test]
async fn a_404_from_another_path_does_not_free_a_session_rmcp_still_holds() {
    let server = start_with(&["--max-sessions-per-principal", "1"]);
    let endpoint = format!("{}/mcp", server.url);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "sessions", "version": "1"}}});
    let token = mint_as("mcp:read github:repos", &endpoint, "mallory");
    let client = Client {
        http: http.clone(),
        endpoint: endpoint.clone(),
        session: None,
    };
    let reply = client.post(Some(&token), initialize.clone()).await;
    assert_eq!(reply.status, 200);
    let session = reply.header("mcp-session-id").to_owned();
    let elsewhere = http
        .get(format!("{}/not-mcp", server.url))
        .bearer_auth(&token)
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 404);
    // rmcp still holds it: so does the layer, and the limit stands.
    let again = client.post(Some(&token), initialize).await;
    assert_eq!(again.status, 503);
    let mut owner = client;
    owner.session = Some(session);
    let search = call(2, "search_repos", json!({"query": "hello"}));
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(owner.post(Some(&token), initialized).await.status, 202);
    assert_eq!(owner.post(Some(&token), search).await.status, 200);
}
