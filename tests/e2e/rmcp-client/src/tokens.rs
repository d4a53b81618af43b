//! Reading the claims of the tokens the AS issued (no verification here: the
//! servers verify), and the bad tokens of step 6 made from a real one.

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::Res;

/// The header and claims of a JWT, unverified.
#[derive(Debug, Clone)]
pub struct Jwt {
    pub typ: Option<String>,
    pub claims: Value,
}

impl Jwt {
    pub fn read(token: &str) -> Res<Self> {
        let data = jsonwebtoken::dangerous::insecure_decode::<Value>(token)?;
        Ok(Self {
            typ: data.header.typ,
            claims: data.claims,
        })
    }

    /// `aud`, a string or an array of strings.
    pub fn audiences(&self) -> Vec<String> {
        match self.claims.get("aud") {
            Some(Value::String(aud)) => vec![aud.clone()],
            Some(Value::Array(auds)) => auds
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        }
    }

    pub fn scopes(&self) -> BTreeSet<String> {
        self.claims
            .get("scope")
            .and_then(Value::as_str)
            .map(|scope| scope.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default()
    }

    pub fn exp(&self) -> Option<u64> {
        self.claims.get("exp").and_then(Value::as_u64)
    }

    pub fn str_claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }
}

fn parts(token: &str) -> Res<(&str, &str, &str)> {
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(header), Some(payload), Some(signature), None) => Ok((header, payload, signature)),
        _ => Err("not a compact JWS (three parts)".into()),
    }
}

/// The same header and claims, and the signature with one bit flipped: a
/// signature the issuer's key did not make.
pub fn forged_signature(token: &str) -> Res<String> {
    let (header, payload, signature) = parts(token)?;
    let mut bytes = URL_SAFE_NO_PAD.decode(signature)?;
    let last = bytes.last_mut().ok_or("empty signature")?;
    *last ^= 0x01;
    Ok(format!(
        "{header}.{payload}.{}",
        URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// The same claims under `"alg": "none"` and no signature (RFC 7519 §6, the
/// unsecured JWT a verifier must refuse).
pub fn alg_none(token: &str) -> Res<String> {
    let (header, payload, _) = parts(token)?;
    let mut header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header)?)?;
    let object = header
        .as_object_mut()
        .ok_or("JWT header is not an object")?;
    object.insert("alg".to_string(), Value::String("none".to_string()));
    let header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?);
    Ok(format!("{header}.{payload}."))
}

#[cfg(test)]
mod tests {
    use super::*;

    // A token of the shape the AS issues (the signature is not checked here).
    fn sample() -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"at+jwt","kid":"k"}"#);
        let claims = URL_SAFE_NO_PAD.encode(
            br#"{"aud":"http://127.0.0.1:1/mcp","scope":"mcp:read offline_access","exp":5}"#,
        );
        let signature = URL_SAFE_NO_PAD.encode([7u8; 256]);
        format!("{header}.{claims}.{signature}")
    }

    #[test]
    fn reads_the_claims() -> Res<()> {
        let jwt = Jwt::read(&sample())?;
        assert_eq!(jwt.typ.as_deref(), Some("at+jwt"));
        assert_eq!(jwt.audiences(), vec!["http://127.0.0.1:1/mcp".to_string()]);
        assert!(jwt.scopes().contains("mcp:read"));
        assert_eq!(jwt.exp(), Some(5));
        Ok(())
    }

    #[test]
    fn forging_changes_only_the_signature() -> Res<()> {
        let token = sample();
        let forged = forged_signature(&token)?;
        let (h1, p1, s1) = parts(&token)?;
        let (h2, p2, s2) = parts(&forged)?;
        assert_eq!((h1, p1), (h2, p2));
        assert_ne!(s1, s2);
        assert_eq!(URL_SAFE_NO_PAD.decode(s2)?.len(), 256);
        Ok(())
    }

    #[test]
    fn alg_none_keeps_the_claims_and_drops_the_signature() -> Res<()> {
        let token = sample();
        let none = alg_none(&token)?;
        let (header, payload, signature) = parts(&none)?;
        let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header)?)?;
        assert_eq!(header.get("alg"), Some(&Value::String("none".into())));
        assert_eq!(header.get("typ"), Some(&Value::String("at+jwt".into())));
        assert_eq!(payload, parts(&token)?.1);
        assert_eq!(signature, "");
        Ok(())
    }

    #[test]
    fn refuses_what_is_not_a_jws() {
        assert!(forged_signature("a.b").is_err());
        assert!(alg_none("a.b.c.d").is_err());
        assert!(forged_signature("a.b.").is_err());
        assert!(Jwt::read("").is_err());
    }
}
