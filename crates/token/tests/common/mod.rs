//! What the token tests share: test keys, signing real tokens with
//! aws-lc-rs, JWKS documents, and a validator configuration at a fixed time.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use mcp_policy_token::{KeySource, ManualClock, ValidatorConfig};
use serde_json::{Value, json};

mod keys;
pub use keys::*;

pub const ISS: &str = "https://auth.example.com";
pub const AUD: &str = "https://mcp.example.com";
/// The tests' "now": 2023-11-14T22:13:20Z.
pub const NOW: i64 = 1_700_000_000;

/// Valid claims at [`NOW`]: an hour left.
pub fn claims() -> Value {
    json!({
        "iss": ISS,
        "aud": AUD,
        "sub": "user-1",
        "client_id": "app-7",
        "iat": NOW - 60,
        "exp": NOW + 3600,
        "scope": "mcp:read github:repos",
    })
}

/// `claims()` with some fields replaced (or removed, with `null`).
pub fn claims_with(changes: Value) -> Value {
    let mut claims = claims();
    for (name, value) in changes.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    claims
}

/// A configuration at [`NOW`] on a clock the test can move.
pub fn config_at(keys: KeySource, clock: Arc<ManualClock>) -> ValidatorConfig {
    let mut config = ValidatorConfig::new(ISS, AUD, keys);
    config.clock = clock;
    config
}

pub fn config(keys: KeySource) -> ValidatorConfig {
    config_at(keys, Arc::new(ManualClock::new(NOW)))
}
