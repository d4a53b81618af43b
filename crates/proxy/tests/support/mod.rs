//! The proxy as the tests run it: the whole stack on 127.0.0.1, the HTTP
//! tests' policy and signing key, a client.
#![allow(dead_code, clippy::unwrap_used)]

use mcp_policy_proxy::{AnyUpstream, Proxy, ProxyConfig, Upstream, UpstreamConfig};
use mcp_policy_token::KeySource;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::common::{ISS, POLICY, RESOURCE, jwks, rsa};

pub struct Running {
    pub url: String,
    pub key: aws_lc_rs::signature::RsaKeyPair,
    pub client: reqwest::Client,
    pub upstream: AnyUpstream,
    /// `http://ADDRESS` of the admin listener, when configured.
    pub admin: Option<String>,
    pub layer: mcp_policy_http::PolicyLayer,
    stop: Option<oneshot::Sender<()>>,
}

fn policy_file() -> std::path::PathBuf {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!(
        "mcp-policy-proxy-test-{}-{n}.mcppolicy",
        std::process::id()
    ));
    std::fs::write(&path, POLICY).unwrap();
    path
}

/// An HTTP upstream at `url`, with one configured header.
pub fn http(url: &str) -> Upstream {
    let mut upstream = UpstreamConfig::new(url.parse().unwrap());
    upstream
        .headers
        .insert("x-upstream-key", "configured".parse().unwrap());
    Upstream::Http(upstream)
}

pub async fn start_proxy(upstream: Upstream, configure: impl FnOnce(&mut ProxyConfig)) -> Running {
    let key = rsa("rsa-1.pem");
    let mut config = ProxyConfig::new(
        ISS.to_owned(),
        KeySource::Jwks(jwks(&key)),
        policy_file(),
        upstream,
    );
    config.audience = Some(RESOURCE.to_owned());
    configure(&mut config);
    let proxy = Proxy::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let url = format!(
        "{}://{}{}",
        proxy.scheme(),
        proxy.local_addr().unwrap(),
        proxy.path()
    );
    let upstream = proxy.upstream().clone();
    let admin = proxy
        .admin_addr()
        .map(|address| format!("http://{address}"));
    let layer = proxy.layer().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(proxy.serve(async {
        let _ = stopped.await;
    }));
    Running {
        url,
        key,
        client: reqwest::Client::new(),
        upstream,
        admin,
        layer,
        stop: Some(stop),
    }
}

impl Running {
    /// Starts the proxy's shutdown (what SIGTERM does), keeping the rest.
    pub fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    pub fn post(
        &self,
        token: &str,
        session: Option<&str>,
        body: &Value,
    ) -> reqwest::RequestBuilder {
        let mut request = self
            .client
            .post(&self.url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.to_string());
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        request
    }

    /// A DELETE that ends `session`.
    pub fn delete(&self, token: &str, session: &str) -> reqwest::RequestBuilder {
        self.client
            .delete(&self.url)
            .bearer_auth(token)
            .header("mcp-session-id", session)
    }

    /// The session's GET stream.
    pub fn stream(&self, token: &str, session: &str) -> reqwest::RequestBuilder {
        self.client
            .get(&self.url)
            .bearer_auth(token)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", session)
    }
}

pub fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
           "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                      "clientInfo": {"name": "test", "version": "0"}}})
}
