//! Real signed tokens through the layer over real HTTP on 127.0.0.1, with
//! the keys fetched from a JWKS served by a second local server: RS256,
//! ES256 and EdDSA accepted, a key rotation picked up, and a test for each
//! rejection (401 `invalid_token` with the reason code).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use common::*;
use mcp_policy_evaluator::Evaluator;
use mcp_policy_http::{HttpConfig, PolicyLayer};
use mcp_policy_token::{KeySource, Validator, ValidatorConfig};
use serde_json::{Value, json};

const REFETCH: Duration = Duration::from_millis(300);

#[derive(Clone, Default)]
struct Jwks {
    body: Arc<Mutex<String>>,
    requests: Arc<AtomicUsize>,
}

async fn serve_jwks(State(jwks): State<Jwks>) -> impl IntoResponse {
    jwks.requests.fetch_add(1, Ordering::SeqCst);
    let body = jwks.body.lock().unwrap().clone();
    ([(header::CONTENT_TYPE, "application/jwk-set+json")], body)
}

struct Setup {
    mcp: String,
    jwks: Jwks,
    client: reqwest::Client,
}

static UNIQUE: AtomicU64 = AtomicU64::new(0);

/// Valid claims, each call's distinct (`jti`), so that no token is a
/// cache hit of an earlier one.
fn fresh(scope: &str) -> Value {
    let mut claims = claims_now(scope);
    claims["jti"] = json!(UNIQUE.fetch_add(1, Ordering::Relaxed));
    claims
}

fn with(changes: Value) -> Value {
    let mut claims = fresh("mcp:read");
    for (name, value) in changes.as_object().unwrap() {
        claims[name] = value.clone();
    }
    claims
}

async fn setup(keys: &[&TestKey]) -> Setup {
    // The authorization server's JWKS, on its own loopback server.
    let jwks = Jwks::default();
    *jwks.body.lock().unwrap() = jwks_of(keys);
    let app = Router::new()
        .route("/jwks.json", get(serve_jwks))
        .with_state(jwks.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jwks_url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let mut config = ValidatorConfig::new(ISS, RESOURCE, KeySource::Url(jwks_url));
    config.jwks_refetch_interval = REFETCH;
    let validator = Arc::new(Validator::new(config).unwrap());
    let layer = PolicyLayer::new(
        validator,
        Evaluator::from_source(POLICY).unwrap(),
        HttpConfig::new([ISS]),
    )
    .unwrap();
    let app = Router::new()
        .route("/mcp", post(mcp))
        .fallback(|| async { StatusCode::NOT_FOUND })
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mcp = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Setup {
        mcp,
        jwks,
        client: reqwest::Client::new(),
    }
}

impl Setup {
    async fn send(&self, token: &str) -> reqwest::Response {
        self.client
            .post(&self.mcp)
            .header("content-type", "application/json")
            .bearer_auth(token)
            .body(call(1, "search").to_string())
            .send()
            .await
            .unwrap()
    }

    async fn accepts(&self, token: &str) {
        let response = self.send(token).await;
        assert_eq!(response.status(), 200, "{:?}", challenge(&response));
        let body = json_of(response).await;
        assert_eq!(
            body["result"]["content"][0]["text"],
            "called search for user-1 via app-7"
        );
    }

    async fn rejects(&self, token: &str, code: &str) {
        let response = self.send(token).await;
        assert_eq!(response.status(), 401, "{code}");
        let header = challenge(&response).unwrap();
        assert!(header.contains(r#"error="invalid_token""#), "{header}");
        assert!(
            header.contains(&format!(
                r#"error_description="the access token was rejected: {code}""#
            )),
            "{code}: {header}"
        );
    }

    fn serve(&self, keys: &[&TestKey]) {
        *self.jwks.body.lock().unwrap() = jwks_of(keys);
    }

    fn fetches(&self) -> usize {
        self.jwks.requests.load(Ordering::SeqCst)
    }
}

fn all_keys() -> (TestKey, TestKey, TestKey) {
    (
        TestKey::rsa("rsa-1.pem", "rsa-1"),
        TestKey::ec("ec-1"),
        TestKey::ed("ed-1"),
    )
}

#[tokio::test]
async fn rs256_es256_and_eddsa_tokens_pass() {
    let (rsa, ec, ed) = all_keys();
    let s = setup(&[&rsa, &ec, &ed]).await;
    assert_eq!(s.fetches(), 0);
    for key in [&rsa, &ec, &ed] {
        s.accepts(&key.token(&fresh("mcp:read"))).await;
    }
    assert_eq!(s.fetches(), 1, "one fetch serves all three");
}

#[tokio::test]
async fn a_key_rotation_is_picked_up_without_a_restart() {
    let old = TestKey::rsa("rsa-1.pem", "rsa-1");
    let new = TestKey::rsa("rsa-2.pem", "rsa-2");
    let s = setup(&[&old]).await;
    s.accepts(&old.token(&fresh("mcp:read"))).await;
    // Not published yet: unknown.
    s.rejects(&new.token(&fresh("mcp:read")), "unknown_kid")
        .await;

    // The issuer rotates: the new kid is fetched once the rate limit allows.
    s.serve(&[&new]);
    tokio::time::sleep(REFETCH + Duration::from_millis(50)).await;
    s.accepts(&new.token(&fresh("mcp:read"))).await;
    let fetches = s.fetches();
    s.accepts(&new.token(&fresh("mcp:read"))).await;
    assert_eq!(s.fetches(), fetches, "the new key is kept");
    // The old key is gone.
    tokio::time::sleep(REFETCH + Duration::from_millis(50)).await;
    s.rejects(&old.token(&fresh("mcp:read")), "unknown_kid")
        .await;
}

#[tokio::test]
async fn algorithm_attacks_are_rejected() {
    let (rsa, ec, ed) = all_keys();
    let s = setup(&[&rsa, &ec, &ed]).await;
    // alg none, unsigned, in either spelling.
    for alg in ["none", "None"] {
        let token = sign_with(
            &json!({"alg": alg, "typ": "at+jwt"}),
            &fresh("mcp:read"),
            |_| Vec::new(),
        );
        s.rejects(&token, "alg_not_allowed").await;
    }
    // HS256 signed with the RSA public key as the HMAC secret (algorithm
    // confusion), under the RSA key's kid.
    let token = sign_with(
        &json!({"alg": "HS256", "typ": "at+jwt", "kid": "rsa-1"}),
        &fresh("mcp:read"),
        |message| hmac(aws_lc_rs::hmac::HMAC_SHA256, &rsa.public_bytes(), message),
    );
    s.rejects(&token, "alg_not_allowed").await;
    // A key's kid with another family's algorithm: the EC key's kid on an
    // RS256 signature.
    let token = rsa.token_with(
        &json!({"alg": "RS256", "typ": "at+jwt", "kid": "ec-1"}),
        &fresh("mcp:read"),
    );
    s.rejects(&token, "bad_signature").await;
}

#[tokio::test]
async fn claims_out_of_bounds_are_rejected() {
    let (rsa, ec, ed) = all_keys();
    let s = setup(&[&rsa, &ec, &ed]).await;
    let t = now();
    let cases = [
        (json!({"exp": t - 3600, "iat": t - 7200}), "expired"),
        (json!({"nbf": t + 3600}), "not_yet_valid"),
        (json!({"iss": "https://evil.example.com"}), "wrong_issuer"),
        (
            json!({"aud": "https://other.example.com/mcp"}),
            "wrong_audience",
        ),
    ];
    for (changes, code) in cases {
        // The same rejection whichever algorithm signed it.
        for key in [&rsa, &ec, &ed] {
            s.rejects(&key.token(&with(changes.clone())), code).await;
        }
    }
}

#[tokio::test]
async fn an_unknown_kid_is_rejected() {
    let (rsa, ec, ed) = all_keys();
    let s = setup(&[&rsa, &ec, &ed]).await;
    s.accepts(&rsa.token(&fresh("mcp:read"))).await;
    let stranger = TestKey::rsa("rsa-2.pem", "stranger");
    s.rejects(&stranger.token(&fresh("mcp:read")), "unknown_kid")
        .await;
    // A known kid on another key's signature is a bad signature.
    let impostor = TestKey::rsa("rsa-2.pem", "rsa-1");
    s.rejects(&impostor.token(&fresh("mcp:read")), "bad_signature")
        .await;
}

#[tokio::test]
async fn tampering_is_rejected() {
    let (rsa, ec, ed) = all_keys();
    let s = setup(&[&rsa, &ec, &ed]).await;
    for key in [&rsa, &ec, &ed] {
        let token = key.token(&fresh("mcp:read"));
        let parts: Vec<&str> = token.split('.').collect();
        // The payload swapped for one granting more, the signature kept.
        let escalated = b64(fresh("mcp:admin").to_string().as_bytes());
        let tampered = format!("{}.{escalated}.{}", parts[0], parts[2]);
        s.rejects(&tampered, "bad_signature").await;
        // One bit of the signature flipped.
        let mut signature = base64_decode(parts[2]);
        signature[0] ^= 1;
        let tampered = format!("{}.{}.{}", parts[0], parts[1], b64(&signature));
        s.rejects(&tampered, "bad_signature").await;
        // The original still passes.
        s.accepts(&token).await;
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

#[tokio::test]
async fn oversized_and_malformed_tokens_are_rejected() {
    let (rsa, ec, ed) = all_keys();
    let s = setup(&[&rsa, &ec, &ed]).await;
    let mut big = fresh("mcp:read");
    big["padding"] = json!("x".repeat(9 * 1024));
    s.rejects(&rsa.token(&big), "too_large").await;

    let token = ec.token(&fresh("mcp:read"));
    let parts: Vec<&str> = token.split('.').collect();
    let malformed = [
        "not-a-jwt".to_owned(),
        format!("{}.{}", parts[0], parts[1]),
        format!("{token}.{}", parts[2]),
        format!("{}.{}!.{}", parts[0], parts[1], parts[2]),
        format!("{}.{}.{}", b64(b"[1, 2]"), parts[1], parts[2]),
        format!("{}.{}.{}", parts[0], b64(b"not json"), parts[2]),
        format!("..{}", parts[2]),
    ];
    for token in malformed {
        s.rejects(&token, "malformed").await;
    }
}

#[tokio::test]
async fn an_unknown_crit_is_rejected() {
    let (rsa, ec, ed) = all_keys();
    let s = setup(&[&rsa, &ec, &ed]).await;
    for key in [&rsa, &ec, &ed] {
        let token = key.token_with(
            &json!({"alg": key.alg(), "typ": "at+jwt", "kid": key.kid,
                    "crit": ["exp-policy"], "exp-policy": 1}),
            &fresh("mcp:read"),
        );
        s.rejects(&token, "unsupported_crit").await;
    }
}
