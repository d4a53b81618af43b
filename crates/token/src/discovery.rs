//! The JWKS found through the issuer's metadata ([`KeySource::Issuer`](crate::KeySource::Issuer)).
//!
//! The metadata is looked for, in order, at:
//!
//! 1. the OAuth 2.0 authorization server metadata (RFC 8414 §3.1):
//!    `{origin}/.well-known/oauth-authorization-server{path}`, the
//!    well-known segment inserted between the issuer's host and its path;
//! 2. OpenID Connect discovery, path-inserted the same way:
//!    `{origin}/.well-known/openid-configuration{path}`;
//! 3. for an issuer with a path, OpenID Connect discovery appended
//!    (OpenID Connect Discovery 1.0 §4): `{issuer}/.well-known/openid-configuration`.
//!
//! For an issuer without a path, (1) and (2) are `…/.well-known/oauth-authorization-server`
//! and `…/.well-known/openid-configuration`. This is the order the MCP
//! authorization specification gives.
//!
//! A location that cannot be fetched or answers other than 2xx with a JSON
//! object is skipped for the next. The first document found decides, and
//! must be right (fail closed): its `issuer` identical to the configured
//! issuer, compared as strings (RFC 8414 §3.3), and its `jwks_uri` present
//! and `https` (`http` only to a loopback address, as for
//! [`KeySource::Url`](crate::KeySource::Url)). Otherwise the refresh fails
//! and, with no keys at hand, tokens are rejected as `jwks_unavailable`.
//!
//! The `jwks_uri` is resolved on the first refresh and kept; a JWKS fetch
//! that fails forgets it, so that the next refresh (rate-limited as every
//! refresh) discovers it again.

use std::sync::{Mutex, PoisonError};

use serde_json::Value;

use crate::keys::{JWKS_ACCEPT, checked_url, client, fetch};
use crate::{ConfigError, JwksError};

const METADATA_ACCEPT: &str = "application/json";

/// Where the JWKS is, once discovered.
#[derive(Clone, Debug)]
struct Endpoint {
    url: reqwest::Url,
    client: reqwest::Client,
}

#[derive(Debug)]
pub(crate) struct Discovery {
    issuer: String,
    /// The metadata locations, in the order they are tried.
    candidates: Vec<reqwest::Url>,
    client: reqwest::Client,
    jwks: Mutex<Option<Endpoint>>,
}

impl Discovery {
    pub fn new(issuer: &str) -> Result<Discovery, ConfigError> {
        let invalid = || ConfigError::InvalidIssuerUrl(issuer.to_owned());
        let (url, loopback) = checked_url(issuer).ok_or_else(invalid)?;
        // RFC 8414 §2: an issuer has no query and no fragment.
        if url.query().is_some() || url.fragment().is_some() || url.cannot_be_a_base() {
            return Err(invalid());
        }
        Ok(Discovery {
            issuer: issuer.to_owned(),
            candidates: metadata_urls(&url),
            client: client(loopback)?,
            jwks: Mutex::new(None),
        })
    }

    /// The JWKS document, discovering where it is first when needed.
    pub async fn fetch_jwks(&self) -> Result<String, JwksError> {
        let known = self
            .jwks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let endpoint = match known {
            Some(endpoint) => endpoint,
            None => {
                let endpoint = self.discover().await?;
                *self.jwks.lock().unwrap_or_else(PoisonError::into_inner) = Some(endpoint.clone());
                endpoint
            }
        };
        let fetched = fetch(&endpoint.client, &endpoint.url, JWKS_ACCEPT).await;
        if fetched.is_err() {
            // Discover again next time: the issuer may have moved its keys.
            *self.jwks.lock().unwrap_or_else(PoisonError::into_inner) = None;
        }
        fetched
    }

    async fn discover(&self) -> Result<Endpoint, JwksError> {
        let mut failures = Vec::new();
        for candidate in &self.candidates {
            let document = match fetch(&self.client, candidate, METADATA_ACCEPT).await {
                Ok(text) => match serde_json::from_str::<Value>(&text) {
                    Ok(document @ Value::Object(_)) => document,
                    _ => {
                        failures.push(format!("`{candidate}`: not a JSON object"));
                        continue;
                    }
                },
                Err(error) => {
                    failures.push(error.0);
                    continue;
                }
            };
            return self.endpoint(candidate, &document);
        }
        Err(JwksError(format!(
            "no authorization server metadata for issuer `{}`: {}",
            self.issuer,
            failures.join("; ")
        )))
    }

    /// The `jwks_uri` of the metadata found at `location`, if the document
    /// is the configured issuer's.
    fn endpoint(&self, location: &reqwest::Url, document: &Value) -> Result<Endpoint, JwksError> {
        let failed = |why: String| JwksError(format!("metadata `{location}`: {why}"));
        match document.get("issuer").and_then(Value::as_str) {
            Some(issuer) if issuer == self.issuer => {}
            Some(issuer) => {
                return Err(failed(format!(
                    "its issuer `{issuer}` is not `{}` (RFC 8414 §3.3)",
                    self.issuer
                )));
            }
            None => return Err(failed("no `issuer`".to_owned())),
        }
        let jwks_uri = document
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or_else(|| failed("no `jwks_uri`".to_owned()))?;
        let (url, loopback) = checked_url(jwks_uri).ok_or_else(|| {
            failed(format!(
                "`jwks_uri` `{jwks_uri}` must be https (http only to a loopback address)"
            ))
        })?;
        let client = client(loopback).map_err(|error| failed(error.to_string()))?;
        Ok(Endpoint { url, client })
    }
}

/// The metadata locations for `issuer`, in the order they are tried.
fn metadata_urls(issuer: &reqwest::Url) -> Vec<reqwest::Url> {
    let path = issuer.path().trim_end_matches('/');
    let at = |well_known_path: String| {
        let mut url = issuer.clone();
        url.set_path(&well_known_path);
        url
    };
    let mut urls = vec![
        at(format!("/.well-known/oauth-authorization-server{path}")),
        at(format!("/.well-known/openid-configuration{path}")),
    ];
    if !path.is_empty() {
        urls.push(at(format!("{path}/.well-known/openid-configuration")));
    }
    urls
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(issuer: &str) -> Vec<String> {
        let discovery = Discovery::new(issuer).map_err(|e| e.to_string());
        discovery
            .map(|d| d.candidates.iter().map(ToString::to_string).collect())
            .unwrap_or_default()
    }

    #[test]
    fn locations_without_and_with_a_path() {
        assert_eq!(
            urls("https://as.example.com"),
            [
                "https://as.example.com/.well-known/oauth-authorization-server",
                "https://as.example.com/.well-known/openid-configuration",
            ]
        );
        assert_eq!(
            urls("https://as.example.com/"),
            urls("https://as.example.com")
        );
        assert_eq!(
            urls("https://as.example.com/tenant/1/"),
            [
                "https://as.example.com/.well-known/oauth-authorization-server/tenant/1",
                "https://as.example.com/.well-known/openid-configuration/tenant/1",
                "https://as.example.com/tenant/1/.well-known/openid-configuration",
            ]
        );
    }

    #[test]
    fn an_issuer_must_be_https_without_query_or_fragment() {
        for issuer in [
            "http://as.example.com",
            "https://as.example.com?tenant=1",
            "https://as.example.com#x",
            "as.example.com",
            "",
        ] {
            assert!(
                matches!(
                    Discovery::new(issuer),
                    Err(ConfigError::InvalidIssuerUrl(_))
                ),
                "{issuer}"
            );
        }
        assert!(Discovery::new("http://127.0.0.1:8080/realm").is_ok());
        assert!(Discovery::new("http://localhost").is_ok());
    }
}
