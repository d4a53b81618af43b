//! Taking a compact JWS apart, and every check that needs no key.
//!
//! Everything here runs before a key is looked up or a signature computed:
//! the size limit, the shape (three base64url parts, JSON objects), the
//! algorithm allow-list, `crit` and `typ`. A token that fails here costs a
//! few microseconds, never a signature verification or a JWKS fetch.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::{Algorithm, Rejection};

/// The `crit` header parameters this validator understands: none. Any
/// `crit` therefore rejects the token (RFC 7515 §4.1.11); `b64: false`
/// (RFC 7797), the usual reason for one, is not supported.
const UNDERSTOOD_CRIT: &[&str] = &[];

/// A token taken apart, nothing verified yet.
#[derive(Debug)]
pub(crate) struct Parsed<'t> {
    /// `header.payload`, the bytes the signature covers.
    pub signing_input: &'t str,
    pub signature: Vec<u8>,
    pub algorithm: Algorithm,
    pub kid: Option<String>,
    pub claims: Map<String, Value>,
}

/// What the key-free checks need from the configuration.
#[derive(Debug)]
pub(crate) struct Limits<'c> {
    pub max_bytes: usize,
    pub algorithms: &'c [Algorithm],
    pub require_at_jwt: bool,
}

pub(crate) fn parse<'t>(token: &'t str, limits: &Limits<'_>) -> Result<Parsed<'t>, Rejection> {
    if token.len() > limits.max_bytes {
        return Err(Rejection::TooLarge);
    }
    let (signing_input, signature) = token.rsplit_once('.').ok_or(Rejection::Malformed)?;
    let (header, payload) = signing_input.split_once('.').ok_or(Rejection::Malformed)?;
    if payload.contains('.') {
        return Err(Rejection::Malformed);
    }
    let header = json_object(header)?;

    // The allow-list decides before anything else reads the header: `none`,
    // unknown names and HMAC without a configured secret stop here.
    let algorithm = match header.get("alg") {
        Some(Value::String(name)) => Algorithm::from_name(name)
            .filter(|algorithm| limits.algorithms.contains(algorithm))
            .ok_or(Rejection::AlgNotAllowed)?,
        _ => return Err(Rejection::Malformed),
    };
    match header.get("crit") {
        None => {}
        Some(Value::Array(names)) if !names.is_empty() => {
            for name in names {
                let name = name.as_str().ok_or(Rejection::Malformed)?;
                if !UNDERSTOOD_CRIT.contains(&name) {
                    return Err(Rejection::UnsupportedCrit);
                }
            }
        }
        Some(_) => return Err(Rejection::Malformed),
    }
    if limits.require_at_jwt {
        let typ = header.get("typ").and_then(Value::as_str).unwrap_or("");
        // RFC 9068 §2.1; media types compare case-insensitively, and the
        // `application/` prefix may be omitted (RFC 7515 §4.1.9).
        let typ = typ.to_ascii_lowercase();
        if typ != "at+jwt" && typ != "application/at+jwt" {
            return Err(Rejection::WrongType);
        }
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(Rejection::Malformed),
    };
    // `jku`, `x5u`, `x5c` and `jwk` are never read: keys come only from the
    // configured JWKS.

    let claims = json_object(payload)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| Rejection::Malformed)?;
    if signature.is_empty() {
        return Err(Rejection::Malformed);
    }
    Ok(Parsed {
        signing_input,
        signature,
        algorithm,
        kid,
        claims,
    })
}

fn json_object(part: &str) -> Result<Map<String, Value>, Rejection> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| Rejection::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(Rejection::Malformed),
    }
}

/// The header and claims of a token, NOT verified: for display (the CLI
/// shows what a rejected token claimed). Never base a decision on them.
pub fn decode_unverified(token: &str) -> Option<(Map<String, Value>, Map<String, Value>)> {
    let mut parts = token.split('.');
    let header = json_object(parts.next()?).ok()?;
    let claims = json_object(parts.next()?).ok()?;
    Some((header, claims))
}
