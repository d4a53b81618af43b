//! `--tls-cert` and `--tls-key`: the proxy serves HTTPS itself, with a
//! self-signed certificate made in the test and a client that trusts it;
//! the default resource URI is then `https://`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../http/tests/common/mod.rs"]
mod common;
mod support;

use aws_lc_rs::signature;
use axum::Router;
use axum::body::Bytes;
use common::{claims_now, rsa_sign, sign_with};
use mcp_policy_proxy::TlsFiles;
use serde_json::{Value, json};
use support::{initialize, start_proxy};

fn files(name: &str, cert: &str, key: &str) -> TlsFiles {
    let dir = std::env::temp_dir().join(format!(
        "mcp-policy-proxy-tls-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cert.pem"), cert).unwrap();
    std::fs::write(dir.join("key.pem"), key).unwrap();
    TlsFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    }
}

async fn upstream() -> String {
    async fn mcp(body: Bytes) -> ([(&'static str, &'static str); 1], String) {
        let message: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        (
            [("content-type", "application/json")],
            json!({"jsonrpc": "2.0", "id": message["id"], "result": {}}).to_string(),
        )
    }
    let app = Router::new().route("/mcp", axum::routing::post(mcp));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}/mcp")
}

#[tokio::test]
async fn the_proxy_serves_https_and_its_resource_is_https() {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let tls = files(
        "ok",
        &certified.cert.pem(),
        &certified.signing_key.serialize_pem(),
    );
    let url = upstream().await;
    let mut proxy = start_proxy(support::http(&url), |config| {
        config.audience = None;
        config.tls = Some(tls);
    })
    .await;
    assert!(proxy.url.starts_with("https://127.0.0.1:"), "{}", proxy.url);
    proxy.client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(certified.cert.pem().as_bytes()).unwrap()])
        .build()
        .unwrap();

    let origin = proxy.url.rsplit_once('/').unwrap().0.to_owned();
    let metadata = proxy
        .client
        .get(format!("{origin}/.well-known/oauth-protected-resource/mcp"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let metadata: Value = serde_json::from_str(&metadata).unwrap();
    assert_eq!(metadata["resource"], proxy.url.as_str());

    let mut claims = claims_now("mcp:read");
    claims["aud"] = json!(proxy.url);
    let token = sign_with(
        &json!({"alg": "RS256", "typ": "at+jwt", "kid": "k1"}),
        &claims,
        |message| rsa_sign(&proxy.key, &signature::RSA_PKCS1_SHA256, message),
    );
    let answer = proxy
        .post(&token, None, &initialize())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);

    // Plain HTTP on the TLS port gets no answer.
    let plain = proxy.url.replacen("https://", "http://", 1);
    assert!(reqwest::Client::new().post(plain).send().await.is_err());
}

#[tokio::test]
async fn unusable_tls_files_stop_the_start() {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let cases = [
        (
            "empty",
            String::new(),
            certified.signing_key.serialize_pem(),
            "no PEM `CERTIFICATE`",
        ),
        (
            "nokey",
            certified.cert.pem(),
            String::new(),
            "not a PEM private key",
        ),
        (
            "mismatch",
            certified.cert.pem(),
            other.signing_key.serialize_pem(),
            "do not make a certificate and its key",
        ),
        (
            "swapped",
            certified.signing_key.serialize_pem(),
            certified.cert.pem(),
            "no PEM `CERTIFICATE`",
        ),
    ];
    for (name, cert, key, expected) in cases {
        let tls = files(name, &cert, &key);
        let mut config = mcp_policy_proxy::ProxyConfig::new(
            common::ISS.to_owned(),
            mcp_policy_token::KeySource::Jwks(common::jwks(&common::rsa("rsa-1.pem"))),
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../examples/github.mcppolicy"),
            support::http("http://127.0.0.1:9/mcp"),
        );
        config.tls = Some(tls);
        let checked = mcp_policy_proxy::check(&config).unwrap_err();
        assert_eq!(checked.len(), 1, "{name}: {checked:?}");
        let error = mcp_policy_proxy::Proxy::bind("127.0.0.1:0".parse().unwrap(), config)
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains(expected), "{name}: {error}");
    }
}
