//! What the HTTP tests share: the test policy, tokens signed with the token
//! crate's test keys (its `tests/common/keys.rs`), a fake MCP server behind
//! the layer on loopback, and a real HTTP client.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{self, KeyPair, RsaKeyPair};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Extension;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use mcp_policy_evaluator::Evaluator;
use mcp_policy_http::{HttpConfig, PolicyLayer};
use mcp_policy_token::{KeySource, Principal, Validator, ValidatorConfig};
use serde_json::{Value, json};

pub const ISS: &str = "https://auth.example.com";
pub const RESOURCE: &str = "https://mcp.example.com/mcp";
pub const METADATA: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

pub const POLICY: &str = r#"
policy "test-mcp"
scope mcp:read       level read  "Read"
scope mcp:write      level write "Write"            implies mcp:read
scope mcp:admin      level admin "Everything"       implies mcp:write
scope offline_access level oauth "Refresh tokens"
tool search       requires mcp:read
tool create_issue requires mcp:write
tool delete_repo  requires mcp:admin
tool "debug_*"    requires authenticated
deny tool "debug_dump*"
resource "repo://*" requires mcp:read
prompt summarize    requires mcp:read
"#;

// ---- tokens ----

#[path = "../../../token/tests/common/keys.rs"]
mod keys;
pub use keys::*;

pub mod conditional;

pub fn rsa(file: &str) -> RsaKeyPair {
    RsaKeyPair::from_pkcs8(&pkcs8(file)).unwrap()
}

/// Valid claims now, for the layer's issuer and resource, an hour left.
pub fn claims_now(scope: &str) -> Value {
    json!({
        "iss": ISS, "aud": RESOURCE, "sub": "user-1", "client_id": "app-7",
        "iat": now() - 10, "exp": now() + 3600, "scope": scope,
    })
}

pub fn jwks(key: &RsaKeyPair) -> String {
    let parts = signature::RsaPublicKeyComponents::<Vec<u8>>::from(key.public_key());
    json!({"keys": [{"kty": "RSA", "kid": "k1", "use": "sig", "n": b64(&parts.n), "e": b64(&parts.e)}]})
        .to_string()
}

/// A validator for this server's issuer and resource that trusts `key`
/// (as kid `k1`).
pub fn validator_for(key: &RsaKeyPair) -> Arc<Validator> {
    Arc::new(
        Validator::new(ValidatorConfig::new(
            ISS,
            RESOURCE,
            KeySource::Jwks(jwks(key)),
        ))
        .unwrap(),
    )
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An RS256 token for `key` (kid `k1`) with `claims_now(scope)` and
/// `extra` claims on top (a `null` removes one).
pub fn sign_claims(key: &RsaKeyPair, scope: &str, extra: Value) -> String {
    let mut claims = claims_now(scope);
    for (name, value) in extra.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": "k1"});
    sign_with(&header, &claims, |message| {
        rsa_sign(key, &signature::RSA_PKCS1_SHA256, message)
    })
}

/// An RS256 token for `key` (kid `k1`, the harness's JWKS) with `scope`.
pub fn sign(key: &RsaKeyPair, scope: &str) -> String {
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": "k1"});
    sign_with(&header, &claims_now(scope), |message| {
        rsa_sign(key, &signature::RSA_PKCS1_SHA256, message)
    })
}

// ---- the fake MCP server ----

pub fn tools() -> Value {
    json!([
        {"name": "search", "inputSchema": {"type": "object"}},
        {"name": "create_issue", "inputSchema": {"type": "object"}},
        {"name": "delete_repo", "inputSchema": {"type": "object"}},
        {"name": "debug_echo", "inputSchema": {"type": "object"}},
        {"name": "debug_dump_all", "inputSchema": {"type": "object"}},
        {"name": "no_rule", "inputSchema": {"type": "object"}},
    ])
}

pub fn answer(message: &Value, principal: &Principal) -> Value {
    let id = message["id"].clone();
    match message["method"].as_str().unwrap_or("") {
        "tools/list" => json!({"jsonrpc": "2.0", "id": id, "result": {"tools": tools()}}),
        "tools/call" => {
            let text = format!(
                "called {} for {} via {}",
                message["params"]["name"].as_str().unwrap(),
                principal.subject,
                principal.client_id.as_deref().unwrap_or("-")
            );
            json!({"jsonrpc": "2.0", "id": id,
                   "result": {"content": [{"type": "text", "text": text}], "isError": false}})
        }
        _ => {
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "Method not found"}})
        }
    }
}

/// Answers in JSON, or in SSE when the request has `x-test-sse`.
pub async fn mcp(
    Extension(principal): Extension<Arc<Principal>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let message: Value = serde_json::from_slice(&body).unwrap();
    let reply = match &message {
        Value::Array(batch) => Value::Array(batch.iter().map(|m| answer(m, &principal)).collect()),
        single => answer(single, &principal),
    };
    if headers.contains_key("x-test-sse") {
        let note = json!({"jsonrpc": "2.0", "method": "notifications/message",
                          "params": {"level": "info", "data": {"tools": tools()}}});
        let stream = format!(
            "id: 0\ndata:\n\n: keep-alive\n\nevent: message\ndata: {note}\n\nid: 1\nevent: message\ndata: {reply}\r\n\r\n"
        );
        return (
            [(header::CONTENT_TYPE, "text/event-stream")],
            Body::from(stream),
        )
            .into_response();
    }
    (
        [(header::CONTENT_TYPE, "application/json")],
        reply.to_string(),
    )
        .into_response()
}

// ---- the harness ----

pub struct Harness {
    pub url: String,
    pub layer: PolicyLayer,
    pub validator: Arc<Validator>,
    pub key: RsaKeyPair,
    pub client: reqwest::Client,
}

pub async fn start(configure: impl FnOnce(&mut HttpConfig)) -> Harness {
    let app = Router::new()
        .route("/mcp", post(mcp))
        .fallback(|| async { StatusCode::NOT_FOUND });
    start_with(Evaluator::from_source(POLICY).unwrap(), configure, app).await
}

/// The layer with `policy` over `app` (which serves `/mcp`).
pub async fn start_with(
    policy: Evaluator,
    configure: impl FnOnce(&mut HttpConfig),
    app: Router,
) -> Harness {
    let key = rsa("rsa-1.pem");
    let validator = validator_for(&key);
    let mut config = HttpConfig::new([ISS]);
    configure(&mut config);
    let layer = PolicyLayer::new(Arc::clone(&validator), policy, config).unwrap();
    let app = app.layer(layer.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Harness {
        url: format!("http://{address}"),
        layer,
        validator,
        key,
        client: reqwest::Client::new(),
    }
}

impl Harness {
    pub fn token(&self, scope: &str) -> String {
        sign(&self.key, scope)
    }

    pub fn request(&self, token: Option<&str>, body: &Value) -> reqwest::RequestBuilder {
        let mut request = self
            .client
            .post(format!("{}/mcp", self.url))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.to_string());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request
    }

    pub async fn post(&self, token: Option<&str>, body: &Value) -> reqwest::Response {
        self.request(token, body).send().await.unwrap()
    }
}

pub fn call(id: u64, tool: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": {}}})
}

pub fn list(id: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"})
}

pub fn challenge(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
}

pub async fn json_of(response: reqwest::Response) -> Value {
    serde_json::from_str(&response.text().await.unwrap()).unwrap()
}

pub fn names(tools: &Value) -> Vec<&str> {
    tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect()
}

/// `tools/call` of `name` with these arguments.
pub fn call_with(id: u64, name: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": name, "arguments": arguments}})
}

/// How a captured log is written: as the layer's JSON lines (what a
/// replay reads) or as tracing's text lines (what a person reads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

/// Captures what is logged on this thread until the guard drops. The test
/// runtime is single-threaded, so the server and the client both log here
/// and no other test's events can race in.
pub fn capture_log(format: LogFormat) -> (Captured, tracing::subscriber::DefaultGuard) {
    let logs = Captured::default();
    let writer = logs.clone();
    let builder = tracing_subscriber::fmt().with_writer(move || writer.clone());
    let guard = match format {
        LogFormat::Json => tracing::subscriber::set_default(builder.json().finish()),
        LogFormat::Text => tracing::subscriber::set_default(builder.finish()),
    };
    (logs, guard)
}

/// A log sink for a `tracing_subscriber` writer: what the layer logged, as
/// a test reads it back.
#[derive(Clone, Default)]
pub struct Captured(pub Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
