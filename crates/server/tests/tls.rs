//! HTTPS through the same accept loop: a self-signed certificate made in
//! the test, a client that trusts it, and a client that connects and
//! never starts its handshake, closed by the header timeout.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use mcp_policy_server::rustls::{self, pki_types};
use mcp_policy_server::{ServerLimits, TlsAcceptor, serve_with};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

fn self_signed() -> (String, Arc<rustls::ServerConfig>) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = certified.cert.der().clone();
    let key = pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    (certified.cert.pem(), Arc::new(config))
}

async fn start(limits: ServerLimits) -> (u16, String) {
    let (pem, config) = self_signed();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new().route("/", get(|| async { "over tls" }));
    tokio::spawn(serve_with(
        listener,
        TlsAcceptor::new(config),
        app,
        limits,
        std::future::pending(),
    ));
    (port, pem)
}

#[tokio::test]
async fn https_is_served_to_a_client_that_trusts_the_certificate() {
    let (port, pem) = start(ServerLimits::default()).await;
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(pem.as_bytes()).unwrap()])
        .resolve("localhost", ([127, 0, 0, 1], port).into())
        .build()
        .unwrap();
    let answer = client
        .get(format!("https://localhost:{port}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.unwrap(), "over tls");

    // A client that does not trust it gets no answer; plain HTTP neither.
    let untrusting = reqwest::Client::builder()
        .resolve("localhost", ([127, 0, 0, 1], port).into())
        .build()
        .unwrap();
    assert!(
        untrusting
            .get(format!("https://localhost:{port}/"))
            .send()
            .await
            .is_err()
    );
    let plain = reqwest::Client::new();
    assert!(
        plain
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_handshake_never_started_is_closed_by_the_header_timeout() {
    let limits = ServerLimits {
        header_read_timeout: Duration::from_millis(300),
        ..ServerLimits::default()
    };
    let (port, _) = start(limits).await;
    let mut silent = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let started = Instant::now();
    let mut buffer = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut buffer))
        .await
        .expect("the server kept a silent connection past its header timeout");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert!(started.elapsed() >= Duration::from_millis(250));
}
