//! The JWKS found through the issuer's metadata (RFC 8414, OpenID Connect
//! discovery as a fallback), served by a real server on 127.0.0.1.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use mcp_policy_token::{ConfigError, KeySource, Rejection, Validator};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A server of fixed documents by path (404 elsewhere) that records the
/// paths asked for.
struct Server {
    base: String,
    documents: Arc<Mutex<HashMap<String, String>>>,
    requested: Arc<Mutex<Vec<String>>>,
}

impl Server {
    async fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let documents = Arc::new(Mutex::new(HashMap::<String, String>::new()));
        let requested = Arc::new(Mutex::new(Vec::new()));
        let (served, log) = (documents.clone(), requested.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let (served, log) = (served.clone(), log.clone());
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buffer = [0; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buffer[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&request);
                    let path = text.split(' ').nth(1).unwrap_or("").to_owned();
                    log.lock().unwrap().push(path.clone());
                    let body = served.lock().unwrap().get(&path).cloned();
                    let response = match body {
                        Some(body) => format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        ),
                        None => "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned(),
                    };
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Server {
            base,
            documents,
            requested,
        }
    }

    fn serve(&self, path: &str, body: impl ToString) {
        self.documents
            .lock()
            .unwrap()
            .insert(path.to_owned(), body.to_string());
    }

    fn remove(&self, path: &str) {
        self.documents.lock().unwrap().remove(path);
    }

    fn requested(&self) -> Vec<String> {
        self.requested.lock().unwrap().clone()
    }

    fn count(&self, path: &str) -> usize {
        self.requested().iter().filter(|p| *p == path).count()
    }
}

fn metadata(issuer: &str, jwks_uri: &str) -> Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": jwks_uri,
    })
}

fn validator(issuer: &str, refetch: Duration) -> Validator {
    let mut config = config(KeySource::Issuer(issuer.to_owned()));
    config.issuers = vec![issuer.to_owned()];
    config.jwks_refetch_interval = refetch;
    Validator::new(config).unwrap()
}

fn token(key: &TestKey, issuer: &str) -> String {
    key.token(&claims_with(json!({"iss": issuer})))
}

#[tokio::test]
async fn rfc8414_metadata_names_the_jwks() {
    let server = Server::start().await;
    let issuer = server.base.clone();
    let rsa = TestKey::rsa("rsa-1.pem", "rsa-1");
    server.serve(
        "/.well-known/oauth-authorization-server",
        metadata(&issuer, &format!("{issuer}/keys")),
    );
    server.serve("/keys", jwks_of(&[&rsa]));
    let validator = validator(&issuer, Duration::from_secs(30));
    assert!(server.requested().is_empty(), "nothing at construction");
    for _ in 0..3 {
        let principal = validator.validate(&token(&rsa, &issuer)).await.unwrap();
        assert_eq!(principal.subject, "user-1");
    }
    assert_eq!(
        server.requested(),
        ["/.well-known/oauth-authorization-server", "/keys"]
    );
    // A token of another issuer is still refused by its claims.
    assert_eq!(
        validator.validate(&rsa.token(&claims())).await.unwrap_err(),
        Rejection::WrongIssuer
    );
}

#[tokio::test]
async fn an_issuer_with_a_path_uses_the_path_inserted_form() {
    let server = Server::start().await;
    let issuer = format!("{}/tenant/one", server.base);
    let ec = TestKey::ec("ec-1");
    server.serve(
        "/.well-known/oauth-authorization-server/tenant/one",
        metadata(&issuer, &format!("{}/tenant/one/jwks", server.base)),
    );
    server.serve("/tenant/one/jwks", jwks_of(&[&ec]));
    let validator = validator(&issuer, Duration::from_secs(30));
    assert!(validator.validate(&token(&ec, &issuer)).await.is_ok());
    assert_eq!(
        server.requested(),
        [
            "/.well-known/oauth-authorization-server/tenant/one",
            "/tenant/one/jwks"
        ]
    );
}

#[tokio::test]
async fn openid_configuration_is_the_fallback() {
    let server = Server::start().await;
    let issuer = server.base.clone();
    let ed = TestKey::ed("ed-1");
    server.serve(
        "/.well-known/openid-configuration",
        metadata(&issuer, &format!("{issuer}/oidc/jwks")),
    );
    server.serve("/oidc/jwks", jwks_of(&[&ed]));
    let validator = validator(&issuer, Duration::from_secs(30));
    assert_eq!(validator.refresh_keys().await.unwrap(), 1);
    assert!(validator.validate(&token(&ed, &issuer)).await.is_ok());
    assert_eq!(
        server.requested(),
        [
            "/.well-known/oauth-authorization-server",
            "/.well-known/openid-configuration",
            "/oidc/jwks"
        ]
    );
}

#[tokio::test]
async fn openid_configuration_appended_to_an_issuer_path() {
    let server = Server::start().await;
    let issuer = format!("{}/realms/main", server.base);
    let rsa = TestKey::rsa("rsa-2.pem", "rsa-2");
    server.serve(
        "/realms/main/.well-known/openid-configuration",
        metadata(&issuer, &format!("{issuer}/certs")),
    );
    server.serve("/realms/main/certs", jwks_of(&[&rsa]));
    let validator = validator(&issuer, Duration::from_secs(30));
    assert!(validator.validate(&token(&rsa, &issuer)).await.is_ok());
    assert_eq!(
        server.requested(),
        [
            "/.well-known/oauth-authorization-server/realms/main",
            "/.well-known/openid-configuration/realms/main",
            "/realms/main/.well-known/openid-configuration",
            "/realms/main/certs"
        ]
    );
}

#[tokio::test]
async fn metadata_of_another_issuer_is_refused() {
    let server = Server::start().await;
    let issuer = server.base.clone();
    let rsa = TestKey::rsa("rsa-1.pem", "rsa-1");
    server.serve("/keys", jwks_of(&[&rsa]));
    // Another issuer, and the same one spelled differently (RFC 8414
    // §3.3: identical, not equivalent).
    for claimed in [
        "https://attacker.example".to_owned(),
        format!("{issuer}/"),
        issuer.to_uppercase(),
    ] {
        server.serve(
            "/.well-known/oauth-authorization-server",
            metadata(&claimed, &format!("{issuer}/keys")),
        );
        // Even with a valid document at the fallback: the first found decides.
        server.serve(
            "/.well-known/openid-configuration",
            metadata(&issuer, &format!("{issuer}/keys")),
        );
        let validator = validator(&issuer, Duration::from_secs(30));
        assert_eq!(
            validator.validate(&token(&rsa, &issuer)).await.unwrap_err(),
            Rejection::JwksUnavailable,
            "{claimed}"
        );
        let error = validator.refresh_keys().await.unwrap_err();
        assert!(error.0.contains("RFC 8414 §3.3"), "{error}");
    }
    assert_eq!(
        server.count("/keys"),
        0,
        "no JWKS fetched from a wrong document"
    );
}

#[tokio::test]
async fn metadata_without_a_usable_jwks_uri_is_refused() {
    let server = Server::start().await;
    let issuer = server.base.clone();
    let rsa = TestKey::rsa("rsa-1.pem", "rsa-1");
    let mut without = metadata(&issuer, "");
    without.as_object_mut().unwrap().remove("jwks_uri");
    let cases = [
        (without, "no `jwks_uri`"),
        (json!({"jwks_uri": format!("{issuer}/keys")}), "no `issuer`"),
        (
            metadata(&issuer, "http://keys.example.com/jwks"),
            "must be https",
        ),
        (metadata(&issuer, "not a url"), "must be https"),
    ];
    for (document, why) in cases {
        server.serve("/.well-known/oauth-authorization-server", document);
        let validator = validator(&issuer, Duration::from_secs(30));
        assert_eq!(
            validator.validate(&token(&rsa, &issuer)).await.unwrap_err(),
            Rejection::JwksUnavailable
        );
        let error = validator.refresh_keys().await.unwrap_err();
        assert!(error.0.contains(why), "{error} / {why}");
    }
}

#[tokio::test]
async fn no_metadata_anywhere_is_jwks_unavailable() {
    let server = Server::start().await;
    let issuer = server.base.clone();
    server.serve("/.well-known/oauth-authorization-server", "<html>");
    let validator = validator(&issuer, Duration::from_secs(30));
    let rsa = TestKey::rsa("rsa-1.pem", "rsa-1");
    assert_eq!(
        validator.validate(&token(&rsa, &issuer)).await.unwrap_err(),
        Rejection::JwksUnavailable
    );
    let error = validator.refresh_keys().await.unwrap_err();
    assert!(
        error.0.contains("no authorization server metadata"),
        "{error}"
    );
}

#[tokio::test]
async fn rotation_and_a_moved_jwks_are_followed() {
    let server = Server::start().await;
    let issuer = server.base.clone();
    let old = TestKey::rsa("rsa-1.pem", "rsa-1");
    let new = TestKey::ec("ec-2");
    let interval = Duration::from_millis(200);
    server.serve(
        "/.well-known/oauth-authorization-server",
        metadata(&issuer, &format!("{issuer}/keys-1")),
    );
    server.serve("/keys-1", jwks_of(&[&old]));
    let validator = validator(&issuer, interval);
    assert!(validator.validate(&token(&old, &issuer)).await.is_ok());

    // Rotation at the same jwks_uri: the metadata is not asked again.
    server.serve("/keys-1", jwks_of(&[&old, &new]));
    tokio::time::sleep(interval + Duration::from_millis(50)).await;
    assert!(validator.validate(&token(&new, &issuer)).await.is_ok());
    assert_eq!(server.count("/.well-known/oauth-authorization-server"), 1);

    // The issuer moves its keys: the old location fails once (the keys at
    // hand stay), the next refresh discovers the new one.
    server.remove("/keys-1");
    server.serve(
        "/.well-known/oauth-authorization-server",
        metadata(&issuer, &format!("{issuer}/keys-2")),
    );
    let newest = TestKey::ed("ed-3");
    server.serve("/keys-2", jwks_of(&[&newest]));
    tokio::time::sleep(interval + Duration::from_millis(50)).await;
    assert_eq!(
        validator
            .validate(&token(&newest, &issuer))
            .await
            .unwrap_err(),
        Rejection::UnknownKid
    );
    assert!(validator.validate(&token(&old, &issuer)).await.is_ok());
    tokio::time::sleep(interval + Duration::from_millis(50)).await;
    assert!(validator.validate(&token(&newest, &issuer)).await.is_ok());
    assert_eq!(server.count("/.well-known/oauth-authorization-server"), 2);
    assert_eq!(server.count("/keys-2"), 1);
}

#[test]
fn configuration_errors() {
    // The issuer whose keys are used must be an accepted one.
    let mut other = config(KeySource::Issuer("https://other.example.com".to_owned()));
    other.issuers = vec![ISS.to_owned()];
    assert!(matches!(
        Validator::new(other),
        Err(ConfigError::IssuerNotAccepted(_))
    ));
    for issuer in [
        "http://auth.example.com",
        "https://auth.example.com?x=1",
        "ftp://auth.example.com",
    ] {
        let mut config = config(KeySource::Issuer(issuer.to_owned()));
        config.issuers = vec![issuer.to_owned()];
        assert!(
            matches!(
                Validator::new(config),
                Err(ConfigError::InvalidIssuerUrl(_))
            ),
            "{issuer}"
        );
    }
    assert!(Validator::new(config(KeySource::Issuer(ISS.to_owned()))).is_ok());
}
