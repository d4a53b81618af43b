//! A JWKS fetched over HTTP from a real server on 127.0.0.1: first use,
//! rotation, the refetch rate limit, failures.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use mcp_policy_token::{KeySource, Rejection, Validator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A one-route HTTP/1.1 server: every request gets the current JWKS (or a
/// 503 when there is none), and is counted.
struct JwksServer {
    url: String,
    requests: Arc<AtomicUsize>,
    body: Arc<Mutex<Option<String>>>,
}

impl JwksServer {
    async fn start(body: Option<String>) -> JwksServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let body = Arc::new(Mutex::new(body));
        let (count, served) = (requests.clone(), body.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let (count, served) = (count.clone(), served.clone());
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buffer = [0; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buffer[..n]),
                        }
                    }
                    count.fetch_add(1, Ordering::SeqCst);
                    let body = served.lock().unwrap().clone();
                    let response = match body {
                        Some(body) => format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/jwk-set+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        ),
                        None => "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned(),
                    };
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        JwksServer {
            url,
            requests,
            body,
        }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    fn serve(&self, body: Option<String>) {
        *self.body.lock().unwrap() = body;
    }
}

fn validator(url: &str, refetch: Duration) -> Validator {
    let mut config = config(KeySource::Url(url.to_owned()));
    config.jwks_refetch_interval = refetch;
    Validator::new(config).unwrap()
}

#[tokio::test]
async fn fetched_on_first_use_then_kept() {
    let rsa = TestKey::rsa("rsa-1.pem", "rsa-1");
    let server = JwksServer::start(Some(jwks_of(&[&rsa]))).await;
    let validator = validator(&server.url, Duration::from_secs(30));
    assert_eq!(server.requests(), 0, "nothing is fetched at construction");
    // Before a fetch, the network-free path has no keys.
    assert_eq!(
        validator
            .validate_with_keys(&rsa.token(&claims()))
            .unwrap_err(),
        Rejection::JwksUnavailable
    );
    for _ in 0..3 {
        let principal = validator.validate(&rsa.token(&claims())).await.unwrap();
        assert_eq!(principal.subject, "user-1");
    }
    assert_eq!(server.requests(), 1);
    assert!(validator.validate_with_keys(&rsa.token(&claims())).is_ok());
}

#[tokio::test]
async fn rotation_refetches_on_an_unknown_kid_at_most_once_per_interval() {
    let old = TestKey::rsa("rsa-1.pem", "rsa-1");
    let new = TestKey::rsa("rsa-2.pem", "rsa-2");
    let stranger = TestKey::rsa("rsa-attacker.pem", "stranger");
    let server = JwksServer::start(Some(jwks_of(&[&old]))).await;
    let interval = Duration::from_millis(300);
    // Signed before anything is timed: 50 RSA keys loaded and signed with
    // on a busy machine can take longer than the interval, which would let
    // the flood below refetch legitimately.
    let made_up: Vec<String> = (0..50)
        .map(|i| TestKey::rsa("rsa-attacker.pem", &format!("kid-{i}")).token(&claims()))
        .collect();
    let validator = validator(&server.url, interval);
    assert!(validator.validate(&old.token(&claims())).await.is_ok());
    assert_eq!(server.requests(), 1);

    // The issuer rotates. Within the interval of the last fetch, the new
    // kid is unknown and nothing is fetched.
    server.serve(Some(jwks_of(&[&new])));
    assert_eq!(
        validator.validate(&new.token(&claims())).await.unwrap_err(),
        Rejection::UnknownKid
    );
    assert_eq!(server.requests(), 1);

    // Past it, the first unknown kid refetches, and the new key verifies
    // without a restart; the old one is gone.
    tokio::time::sleep(interval + Duration::from_millis(50)).await;
    assert!(validator.validate(&new.token(&claims())).await.is_ok());
    assert_eq!(server.requests(), 2);
    assert_eq!(
        validator.validate(&old.token(&claims())).await.unwrap_err(),
        Rejection::UnknownKid
    );

    // A flood of made-up kids is not a fetch loop.
    for token in &made_up {
        assert_eq!(
            validator.validate(token).await.unwrap_err(),
            Rejection::UnknownKid
        );
    }
    assert_eq!(server.requests(), 2);
    tokio::time::sleep(interval + Duration::from_millis(50)).await;
    for _ in 0..10 {
        assert_eq!(
            validator
                .validate(&stranger.token(&claims()))
                .await
                .unwrap_err(),
            Rejection::UnknownKid
        );
    }
    assert_eq!(server.requests(), 3);
    assert_eq!(validator.stats().jwks_fetches, 3);
}

#[tokio::test]
async fn the_default_interval_is_thirty_seconds() {
    let rsa = TestKey::rsa("rsa-1.pem", "rsa-1");
    let server = JwksServer::start(Some(jwks_of(&[&rsa]))).await;
    let validator = Validator::new(config(KeySource::Url(server.url.clone()))).unwrap();
    assert_eq!(
        validator.config().jwks_refetch_interval,
        Duration::from_secs(30)
    );
    assert!(validator.validate(&rsa.token(&claims())).await.is_ok());
    for i in 0..20 {
        let made_up = TestKey::rsa("rsa-2.pem", &format!("kid-{i}"));
        assert!(validator.validate(&made_up.token(&claims())).await.is_err());
    }
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn concurrent_unknown_kids_share_one_fetch() {
    let old = TestKey::rsa("rsa-1.pem", "rsa-1");
    let new = TestKey::rsa("rsa-2.pem", "rsa-2");
    let server = JwksServer::start(Some(jwks_of(&[&old, &new]))).await;
    let validator = Arc::new(validator(&server.url, Duration::from_secs(30)));
    let token = new.token(&claims());
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (validator, token) = (validator.clone(), token.clone());
            tokio::spawn(async move { validator.validate(&token).await })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap().is_ok());
    }
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn an_unavailable_jwks_denies_and_a_failed_refresh_keeps_the_keys() {
    let rsa = TestKey::rsa("rsa-1.pem", "rsa-1");
    let server = JwksServer::start(None).await;
    let interval = Duration::from_millis(200);
    let validator = validator(&server.url, interval);
    assert_eq!(
        validator.validate(&rsa.token(&claims())).await.unwrap_err(),
        Rejection::JwksUnavailable
    );
    assert!(
        validator
            .refresh_keys()
            .await
            .unwrap_err()
            .0
            .contains("503")
    );

    server.serve(Some(jwks_of(&[&rsa])));
    assert_eq!(validator.refresh_keys().await.unwrap(), 1);
    assert!(validator.validate(&rsa.token(&claims())).await.is_ok());

    // The server breaks (or serves garbage): the keys at hand stay.
    for broken in [None, Some("<html>".to_owned())] {
        server.serve(broken);
        tokio::time::sleep(interval + Duration::from_millis(50)).await;
        let stranger = TestKey::rsa("rsa-2.pem", "rsa-2");
        assert_eq!(
            validator
                .validate(&stranger.token(&claims()))
                .await
                .unwrap_err(),
            Rejection::UnknownKid
        );
        assert!(validator.validate(&rsa.token(&claims())).await.is_ok());
    }
}

#[tokio::test]
async fn nothing_listening_is_jwks_unavailable() {
    // Bind, note the port, close: nothing listens there.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    drop(listener);
    let rsa = TestKey::rsa("rsa-1.pem", "rsa-1");
    let validator = validator(&url, Duration::from_secs(30));
    assert_eq!(
        validator.validate(&rsa.token(&claims())).await.unwrap_err(),
        Rejection::JwksUnavailable
    );
}

#[tokio::test]
async fn stale_keys_are_refreshed() {
    let rsa = TestKey::rsa("rsa-1.pem", "rsa-1");
    let server = JwksServer::start(Some(jwks_of(&[&rsa]))).await;
    let mut config = config(KeySource::Url(server.url.clone()));
    config.jwks_refetch_interval = Duration::from_millis(100);
    config.jwks_max_age = Duration::from_millis(200);
    let validator = Validator::new(config).unwrap();
    assert!(validator.validate(&rsa.token(&claims())).await.is_ok());
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(validator.validate(&rsa.token(&claims())).await.is_ok());
    assert_eq!(server.requests(), 2);
}
