//! Scopes from a principal's claims: a test file's `claims` principals and
//! a trace's `claims` records.
//!
//! Read by the token validator's own function over [`SCOPE_CLAIMS`] —
//! `scope`, then `scp`, then `permissions` — which is one claim more than a
//! server reads by default: `mcp_policy_token::ValidatorConfig::new` sets
//! `scope_claims` to `scope`, `scp`, and a server reads `permissions` only
//! when its `ValidatorConfig::scope_claims` includes it. Claims holding only
//! `permissions` therefore replay as such a server decides; a server with
//! the default reads no scope from them. (A test file's `jwt` principals are
//! validated with the validator's own list instead, `scope_claims` in the
//! file to change it.)

use serde_json::{Map, Value};

/// The claims a simulated principal's scopes are read from, the first
/// present winning: `scope` (a space-delimited string, RFC 6749 §3.3), `scp`
/// (a string or an array, as Entra ID and Okta issue it), `permissions` (an
/// array, as Auth0 issues it). The validator's default is the first two
/// only; `permissions` is read by a server whose
/// `ValidatorConfig::scope_claims` includes it.
pub const SCOPE_CLAIMS: [&str; 3] = ["scope", "scp", "permissions"];

/// The claim that held the scopes was neither a string nor an array of strings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MalformedScopes;

/// The scopes a claims object grants, read by the token validator's own
/// function (`mcp_policy_token::scopes_from_claims`) over [`SCOPE_CLAIMS`].
pub fn scopes_from_claims(claims: &Map<String, Value>) -> Result<Vec<String>, MalformedScopes> {
    let names: Vec<String> = SCOPE_CLAIMS.iter().map(|name| (*name).to_owned()).collect();
    mcp_policy_token::scopes_from_claims(claims, &names).map_err(|_| MalformedScopes)
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
    fn reads_scope_string_then_scp_then_permissions() {
        let scopes = |value| scopes_from_claims(&claims(value)).unwrap();
        assert_eq!(scopes(json!({"scope": "a  b"})), ["a", "b"]);
        assert_eq!(scopes(json!({"scp": ["a", "b"]})), ["a", "b"]);
        assert_eq!(scopes(json!({"permissions": ["p"]})), ["p"]);
        // `scope` wins over the others, whatever their order in the object.
        assert_eq!(scopes(json!({"permissions": ["p"], "scope": "s"})), ["s"]);
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
    }
}
