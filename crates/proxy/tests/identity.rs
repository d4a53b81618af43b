//! `--forward-identity` through the whole proxy, asserted on the upstream's
//! own record of the headers it received: the principal's headers arrive
//! when the option is on, a client's made-up ones never do, and a signed
//! `sub` built to inject a header arrives percent-encoded, as one header.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../http/tests/common/mod.rs"]
mod common;
mod support;

use std::sync::{Arc, Mutex};

use aws_lc_rs::signature;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use common::{claims_now, rsa_sign, sign, sign_with};
use mcp_policy_proxy::{ForwardIdentity, IdentityHeaders, Upstream};
use serde_json::{Value, json};
use support::{initialize, start_proxy};

type Record = Arc<Mutex<Vec<HeaderMap>>>;

/// An upstream that records the headers of every request and answers
/// every message with an empty result.
async fn upstream() -> (String, Record) {
    let record = Record::default();
    async fn mcp(
        State(record): State<Record>,
        method: axum::http::Method,
        mut headers: HeaderMap,
        body: Bytes,
    ) -> ([(&'static str, &'static str); 1], String) {
        headers.insert("x-test-method", method.as_str().parse().unwrap());
        record.lock().unwrap().push(headers);
        let message: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        (
            [("mcp-session-id", "s-1")],
            json!({"jsonrpc": "2.0", "id": message["id"], "result": {}}).to_string(),
        )
    }
    let app = Router::new()
        .route("/mcp", axum::routing::post(mcp).delete(mcp))
        .with_state(Arc::clone(&record));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}/mcp"), record)
}

fn token_for(key: &aws_lc_rs::signature::RsaKeyPair, subject: &str) -> String {
    let mut claims = claims_now("mcp:read mcp:write");
    claims["sub"] = json!(subject);
    sign_with(
        &json!({"alg": "RS256", "typ": "at+jwt", "kid": "k1"}),
        &claims,
        |message| rsa_sign(key, &signature::RSA_PKCS1_SHA256, message),
    )
}

fn all(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_principal_reaches_the_upstream_and_a_clients_headers_never_do() {
    let (url, record) = upstream().await;
    let proxy = start_proxy(support::http(&url), |config| {
        config.identity = ForwardIdentity {
            enabled: true,
            headers: IdentityHeaders::default(),
        };
    })
    .await;
    let token = sign(&proxy.key, "mcp:read");
    let response = proxy
        .post(&token, None, &initialize())
        .header("x-mcp-subject", "forged-admin")
        .header("X-MCP-Scopes", "mcp:admin")
        .header("x-mcp-client-id", "forged")
        .header("x-mcp-issuer", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = record.lock().unwrap()[0].clone();
    assert_eq!(all(&seen, "x-mcp-subject"), ["user-1"]);
    assert_eq!(all(&seen, "x-mcp-client-id"), ["app-7"]);
    assert_eq!(all(&seen, "x-mcp-scopes"), ["mcp:read"]);
    assert_eq!(all(&seen, "x-mcp-issuer"), ["https://auth.example.com"]);
    assert!(seen.get("authorization").is_none());
}

#[tokio::test]
async fn a_clients_identity_headers_are_stripped_when_the_option_is_off() {
    let (url, record) = upstream().await;
    // Off, with custom names: both the custom and the default names of a
    // client are dropped.
    let proxy = start_proxy(support::http(&url), |config| {
        config.identity = ForwardIdentity {
            enabled: false,
            headers: IdentityHeaders::new(
                "x-user",
                "x-client",
                "x-scopes",
                "x-iss",
                &HeaderMap::new(),
            )
            .unwrap(),
        };
    })
    .await;
    let token = sign(&proxy.key, "mcp:read");
    proxy
        .post(&token, None, &initialize())
        .header("x-user", "forged")
        .header("x-scopes", "mcp:admin")
        .header("x-mcp-subject", "forged")
        .send()
        .await
        .unwrap();
    let seen = record.lock().unwrap()[0].clone();
    for name in ["x-user", "x-client", "x-scopes", "x-iss", "x-mcp-subject"] {
        assert!(seen.get(name).is_none(), "{name} reached the upstream");
    }
}

#[tokio::test]
async fn a_signed_subject_built_to_inject_a_header_arrives_encoded() {
    let (url, record) = upstream().await;
    let proxy = start_proxy(support::http(&url), |config| {
        config.identity.enabled = true;
    })
    .await;
    for (subject, expected) in [
        ("victim\r\nX-Evil: 1", "victim%0D%0AX-Evil:%201"),
        ("José Ñúñez", "Jos%C3%A9%20%C3%91%C3%BA%C3%B1ez"),
        ("nul\0and\ttab%", "nul%00and%09tab%25"),
        ("auth0|abc@example.com", "auth0|abc@example.com"),
    ] {
        record.lock().unwrap().clear();
        let response = proxy
            .post(&token_for(&proxy.key, subject), None, &initialize())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{subject:?}");
        let seen = record.lock().unwrap()[0].clone();
        assert_eq!(all(&seen, "x-mcp-subject"), [expected], "{subject:?}");
        assert!(seen.get("x-evil").is_none());
        assert_eq!(all(&seen, "x-mcp-scopes"), ["mcp:read mcp:write"]);
    }
}

#[tokio::test]
async fn forwarding_identity_to_a_stdio_server_is_refused_at_start() {
    let mut config = mcp_policy_proxy::ProxyConfig::new(
        common::ISS.to_owned(),
        mcp_policy_token::KeySource::Jwks(common::jwks(&common::rsa("rsa-1.pem"))),
        std::env::temp_dir().join("never-read.mcppolicy"),
        Upstream::Stdio(mcp_policy_proxy::StdioConfig::new(vec!["true".into()])),
    );
    config.identity.enabled = true;
    let error = mcp_policy_proxy::Proxy::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("--forward-identity"), "{error}");
}

#[tokio::test]
async fn the_layers_own_session_ends_reach_the_upstream_with_identity_on() {
    let (url, record) = upstream().await;
    let proxy = start_proxy(support::http(&url), |config| {
        config.identity.enabled = true;
        config.sessions.idle_timeout = std::time::Duration::from_millis(100);
    })
    .await;
    let token = sign(&proxy.key, "mcp:read");
    let opened = proxy
        .post(&token, None, &initialize())
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // Any request at the endpoint sweeps the expired session: the layer
    // sends its DELETE, which carries no principal.
    let again = proxy
        .post(&token, None, &initialize())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let deletes: Vec<HeaderMap> = record
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h["x-test-method"] == "DELETE")
            .cloned()
            .collect();
        if let Some(delete) = deletes.first() {
            assert_eq!(delete["mcp-session-id"], "s-1");
            assert!(delete.get("x-mcp-subject").is_none());
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the session's DELETE never reached the upstream"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
