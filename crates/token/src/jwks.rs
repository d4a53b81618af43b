//! A JSON Web Key Set (RFC 7517) as the validator uses it: signature keys
//! only, each usable with the algorithms of its type and curve.
//!
//! Keys the validator cannot or must not use are skipped, not errors, so
//! that an issuer adding an encryption key or a new key type does not
//! break validation: `use` other than `sig`, `key_ops` without `verify`,
//! symmetric (`oct`) keys (a shared secret is configured explicitly,
//! never published), unknown types and curves, and an `alg` that does not
//! fit the key's type.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use serde_json::Value;

use crate::Algorithm;
use crate::algorithm::KeyFamily;

/// One verification key.
#[derive(Debug)]
pub(crate) struct Key {
    pub kid: Option<String>,
    pub family: KeyFamily,
    /// The key's `alg`: when present, the only algorithm it verifies.
    pub algorithm: Option<Algorithm>,
    pub decoding: DecodingKey,
}

impl Key {
    /// Whether this key verifies `algorithm`. The algorithm comes from the
    /// allow-listed header and picks the key type, never the reverse.
    pub fn verifies(&self, algorithm: Algorithm) -> bool {
        self.family == algorithm.family() && self.algorithm.is_none_or(|pinned| pinned == algorithm)
    }
}

#[derive(Debug, Default)]
pub(crate) struct KeySet {
    pub keys: Vec<Key>,
}

/// Which keys a token's header selects.
#[derive(Debug)]
pub(crate) enum Selection<'k> {
    Keys(Vec<&'k Key>),
    /// A key has the `kid`, but none of that `kid` verifies the algorithm.
    WrongKeyType,
    /// No key has the `kid` (or, without one, none fits the algorithm).
    Unknown,
}

impl KeySet {
    pub fn parse(json: &str) -> Result<KeySet, String> {
        let value: Value =
            serde_json::from_str(json).map_err(|error| format!("not JSON: {error}"))?;
        let keys = value
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("not a JWK Set: no `keys` array")?;
        Ok(KeySet {
            keys: keys.iter().filter_map(parse_key).collect(),
        })
    }

    pub fn select(&self, algorithm: Algorithm, kid: Option<&str>) -> Selection<'_> {
        let named: Vec<&Key> = match kid {
            Some(kid) => self
                .keys
                .iter()
                .filter(|key| key.kid.as_deref() == Some(kid))
                .collect(),
            None => self.keys.iter().collect(),
        };
        let fitting: Vec<&Key> = named
            .iter()
            .copied()
            .filter(|key| key.verifies(algorithm))
            .collect();
        match (named.is_empty(), fitting.is_empty()) {
            (_, false) => Selection::Keys(fitting),
            (false, true) if kid.is_some() => Selection::WrongKeyType,
            _ => Selection::Unknown,
        }
    }
}

fn parse_key(jwk: &Value) -> Option<Key> {
    let text = |name: &str| jwk.get(name).and_then(Value::as_str);
    if text("use").is_some_and(|usage| usage != "sig") {
        return None;
    }
    if let Some(ops) = jwk.get("key_ops") {
        let ops = ops.as_array()?;
        if !ops.iter().any(|op| op.as_str() == Some("verify")) {
            return None;
        }
    }
    let algorithm = match jwk.get("alg") {
        None => None,
        Some(alg) => Some(Algorithm::from_name(alg.as_str()?)?),
    };
    let (family, decoding) = match (text("kty")?, text("crv")) {
        ("RSA", _) => {
            let n = component(text("n")?, None)?;
            let e = component(text("e")?, None)?;
            (KeyFamily::Rsa, DecodingKey::from_rsa_raw_components(&n, &e))
        }
        ("EC", Some(curve @ ("P-256" | "P-384"))) => {
            let (family, size) = if curve == "P-256" {
                (KeyFamily::P256, 32)
            } else {
                (KeyFamily::P384, 48)
            };
            let x = component(text("x")?, Some(size))?;
            let y = component(text("y")?, Some(size))?;
            let mut point = Vec::with_capacity(1 + 2 * size);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            (family, DecodingKey::from_ec_der(&point))
        }
        ("OKP", Some("Ed25519")) => {
            let x = component(text("x")?, Some(32))?;
            (KeyFamily::Ed25519, DecodingKey::from_ed_der(&x))
        }
        _ => return None,
    };
    if algorithm.is_some_and(|algorithm| algorithm.family() != family) {
        return None;
    }
    Some(Key {
        kid: text("kid").map(str::to_owned),
        family,
        algorithm,
        decoding,
    })
}

/// A base64url key component, of `size` bytes when given.
fn component(encoded: &str, size: Option<usize>) -> Option<Vec<u8>> {
    let bytes = URL_SAFE_NO_PAD.decode(encoded).ok()?;
    if bytes.is_empty() || size.is_some_and(|size| bytes.len() != size) {
        return None;
    }
    Some(bytes)
}
