//! `mint-dev-token`: RS256 access tokens signed with the DEMO key in
//! `dev-keys/`. That key is public (it is committed to the repository):
//! anyone can mint any token a server trusting `dev-keys/jwks.json` accepts.
//! It stands in for an authorization server in the walkthrough, nothing
//! more.

use std::error::Error;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::json;

/// The public demo key (a copy of `crates/token/tests/keys/rsa-1.pem`).
pub const DEMO_KEY_PEM: &str = include_str!("../dev-keys/demo-rsa.pem");
/// The `kid` of the demo key in `dev-keys/jwks.json`.
pub const DEMO_KEY_ID: &str = "github-mcp-demo";

/// What goes into a token.
#[derive(Debug, Clone)]
pub struct Claims {
    pub issuer: String,
    pub audience: String,
    pub subject: String,
    pub client_id: String,
    pub scopes: String,
    pub ttl_seconds: u64,
}

pub fn demo_key() -> Result<RsaKeyPair, Box<dyn Error>> {
    let body: String = DEMO_KEY_PEM
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let der = STANDARD.decode(body)?;
    Ok(RsaKeyPair::from_pkcs8(&der).map_err(|e| format!("demo key: {e}"))?)
}

pub fn mint(claims: &Claims) -> Result<String, Box<dyn Error>> {
    let key = demo_key()?;
    let now = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs())?;
    let ttl = i64::try_from(claims.ttl_seconds)?;
    let header = json!({ "alg": "RS256", "typ": "at+jwt", "kid": DEMO_KEY_ID });
    let payload = json!({
        "iss": claims.issuer,
        "aud": claims.audience,
        "sub": claims.subject,
        "client_id": claims.client_id,
        "scope": claims.scopes,
        "iat": now,
        "exp": now.saturating_add(ttl),
    });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    );
    let mut signature = vec![0; key.public_modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .map_err(|e| format!("signing: {e}"))?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{KeyPair, RsaPublicKeyComponents};

    /// `dev-keys/jwks.json` publishes the demo key's public half.
    #[test]
    fn the_committed_jwks_matches_the_demo_key() {
        let key = demo_key().unwrap();
        let parts = RsaPublicKeyComponents::<Vec<u8>>::from(key.public_key());
        let jwks: serde_json::Value =
            serde_json::from_str(include_str!("../dev-keys/jwks.json")).unwrap();
        let jwk = &jwks["keys"][0];
        assert_eq!(jwk["kid"], DEMO_KEY_ID);
        assert_eq!(jwk["n"], URL_SAFE_NO_PAD.encode(&parts.n));
        assert_eq!(jwk["e"], URL_SAFE_NO_PAD.encode(&parts.e));
    }
}
