//! `--arguments` and `--claims`: what a policy's conditions read besides
//! scopes (`arg.PATH`, `claim.NAME`), given on the command line.

use serde_json::{Map, Value};

/// What `--claims` holds: claims as JSON, or a token whose verified claims
/// (and scopes) decide.
#[derive(Debug)]
pub enum ClaimsInput {
    Json(Map<String, Value>),
    Token(String),
}

/// A JSON object given to `flag`, or why it is not one (the message to
/// print after `error: `).
///
/// Only an object is accepted: a call's `params.arguments` and a token's
/// payload are objects, and the server decides any other arguments with
/// every `arg.` condition false, which a command line should not pretend to
/// reproduce from a typo.
///
/// Read by the HTTP layer's own strict parser, so that a duplicate key is
/// refused here as the runtime refuses it: the policy and the server could
/// otherwise read two different values.
pub fn object(flag: &str, text: &str) -> Result<Map<String, Value>, String> {
    let value = mcp_policy_http::parse_strict(text.as_bytes()).map_err(|error| match error {
        mcp_policy_http::ParseError::DuplicateKey => format!(
            "{flag}: an object names one key twice; the runtime refuses such a request before deciding"
        ),
        mcp_policy_http::ParseError::Syntax => format!(
            "{flag}: not JSON: give a JSON object, such as '{{\"path\": \"/workspace/a\"}}'"
        ),
    })?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(format!(
            "{flag}: expected a JSON object, found {}: give one, such as '{{\"path\": \"/workspace/a\"}}'",
            kind(&other)
        )),
    }
}

/// `--claims`: a JSON object, or a compact JWT (three base64url parts).
pub fn claims(text: &str) -> Result<ClaimsInput, String> {
    let trimmed = text.trim();
    if looks_like_jwt(trimmed) {
        return Ok(ClaimsInput::Token(trimmed.to_owned()));
    }
    object("--claims", text).map(ClaimsInput::Json)
}

/// A compact JWS's shape: three non-empty base64url parts (the signature
/// may be empty only for `alg: none`, which the validator refuses; it is
/// still sent there to be refused with its reason).
fn looks_like_jwt(text: &str) -> bool {
    let parts: Vec<&str> = text.split('.').collect();
    parts.len() == 3
        && parts.iter().take(2).all(|part| !part.is_empty())
        && parts.iter().all(|part| {
            part.bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
        })
}

/// A JSON value's kind, as an error names it.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_read_and_other_values_refused_by_kind() {
        assert_eq!(
            object("--arguments", r#"{"path": "/a"}"#).ok(),
            serde_json::json!({"path": "/a"}).as_object().cloned()
        );
        for (text, found) in [
            ("[1]", "an array"),
            ("\"x\"", "a string"),
            ("null", "null"),
            ("3", "a number"),
            ("true", "a boolean"),
        ] {
            let error = object("--arguments", text).err().unwrap_or_default();
            assert!(error.contains(found), "{text}: {error}");
        }
        assert!(
            object("--arguments", "{")
                .err()
                .unwrap_or_default()
                .contains("not JSON")
        );
        assert!(object("--arguments", "").is_err());
    }

    #[test]
    fn a_token_is_told_from_json() {
        assert!(matches!(
            claims("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"),
            Ok(ClaimsInput::Token(_))
        ));
        assert!(matches!(claims(r#"{"sub":"a"}"#), Ok(ClaimsInput::Json(_))));
        // Two parts, or characters outside base64url: neither a token nor JSON.
        assert!(claims("a.b").is_err());
        assert!(claims("a.b.c.d").is_err());
        assert!(claims("a b.c.d").is_err());
    }
}
