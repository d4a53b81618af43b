//! Scopes from a principal's claims: a test file's `claims` principals and
//! a trace's `claims` records.
//!
//! Read by the token validator's own function
//! (`mcp_policy_token::scopes_from_claims`) over the validator's default
//! claims (`mcp_policy_token::DEFAULT_SCOPE_CLAIMS`: `scope`, `scp`,
//! `permissions`, as one set), so a principal replays as a server with the
//! default `ValidatorConfig::scope_claims` decides. (A test file's `jwt`
//! principals are validated by the validator itself, `scope_claims` in the
//! file to change the list.)

use serde_json::{Map, Value};

/// The claims a simulated principal's scopes are read from: the token
/// validator's default.
pub const SCOPE_CLAIMS: [&str; 3] = mcp_policy_token::DEFAULT_SCOPE_CLAIMS;

/// A claim that holds scopes was neither a string nor an array of strings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MalformedScopes;

/// The scopes a claims object grants, read by the token validator's own
/// function over [`SCOPE_CLAIMS`]: the union of those present.
pub fn scopes_from_claims(claims: &Map<String, Value>) -> Result<Vec<String>, MalformedScopes> {
    mcp_policy_token::scopes_from_claims(claims, &SCOPE_CLAIMS).map_err(|_| MalformedScopes)
}

/// The first of [`SCOPE_CLAIMS`] whose value is neither a string nor an
/// array of strings: the one that makes [`scopes_from_claims`] fail.
pub fn malformed_claim(claims: &Map<String, Value>) -> Option<&'static str> {
    SCOPE_CLAIMS
        .into_iter()
        .find(|name| match claims.get(*name) {
            None | Some(Value::String(_)) => false,
            Some(Value::Array(items)) => !items.iter().all(Value::is_string),
            Some(_) => true,
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn reads_the_union_of_scope_scp_and_permissions() {
        let scopes = |value| scopes_from_claims(&claims(value)).unwrap();
        assert_eq!(scopes(json!({"scope": "a  b"})), ["a", "b"]);
        assert_eq!(scopes(json!({"scp": ["a", "b"]})), ["a", "b"]);
        assert_eq!(scopes(json!({"permissions": ["p"]})), ["p"]);
        // All of them, in that order whatever the object's, each scope once.
        assert_eq!(
            scopes(json!({"permissions": ["p", "s"], "scope": "s"})),
            ["s", "p"]
        );
        assert!(scopes(json!({"sub": "x"})).is_empty());
    }

    #[test]
    fn malformed_scope_claims_are_errors() {
        assert_eq!(
            scopes_from_claims(&claims(json!({"scope": 3}))),
            Err(MalformedScopes)
        );
        assert_eq!(
            scopes_from_claims(&claims(json!({"scp": ["a", 1]}))),
            Err(MalformedScopes)
        );
        // A malformed claim beside a good one still fails: nothing half read.
        assert_eq!(
            scopes_from_claims(&claims(json!({"scope": "a", "permissions": "p"}))).unwrap(),
            ["a", "p"]
        );
        assert_eq!(
            scopes_from_claims(&claims(json!({"scope": "a", "permissions": {}}))),
            Err(MalformedScopes)
        );
    }
}
