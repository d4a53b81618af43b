//! The claims checks that follow a verified signature, and the principal
//! they yield.

use serde_json::{Map, Value};

use crate::{Algorithm, Rejection};

/// Who a verified token speaks for, and what it grants.
#[derive(Clone, Debug, PartialEq)]
pub struct Principal {
    /// `sub`.
    pub subject: String,
    /// `client_id` (RFC 9068), else `azp`.
    pub client_id: Option<String>,
    /// `iss`, one of the accepted issuers.
    pub issuer: String,
    /// The scopes as granted: every scope of every claim in
    /// [`ValidatorConfig::scope_claims`](crate::ValidatorConfig::scope_claims)
    /// (by default `scope`, `scp`, `permissions`), once each, in that
    /// order; see [`scopes_from_claims`].
    /// A policy parses them once: `evaluator.scope_set(principal.scopes.iter().map(String::as_str))`.
    pub scopes: Vec<String>,
    /// `exp`, in seconds since the Unix epoch.
    pub expires_at: i64,
    /// The algorithm the signature verified with.
    pub algorithm: Algorithm,
    /// The `kid` of the key that verified it, if the header named one.
    pub key_id: Option<String>,
    /// Every claim of the payload, as verified: what a policy's conditions
    /// on `claim.NAME` read (`sub`, `client_id`, `azp`, or custom ones such
    /// as `tenant` or `groups`), unchanged and untyped. Its size is bounded
    /// by the token's ([`ValidatorConfig::max_token_bytes`](crate::ValidatorConfig::max_token_bytes)).
    pub claims: Map<String, Value>,
}

/// What the claim checks need from the configuration.
#[derive(Debug)]
pub(crate) struct Expectations<'c> {
    pub issuers: &'c [String],
    pub audience: &'c str,
    pub leeway: i64,
    pub now: i64,
    pub scope_claims: &'c [String],
    pub required_claims: &'c [String],
}

pub(crate) fn check(
    claims: Map<String, Value>,
    expected: &Expectations<'_>,
    algorithm: Algorithm,
    key_id: Option<String>,
) -> Result<Principal, Rejection> {
    let issuer = match claims.get("iss") {
        None => return Err(Rejection::MissingClaim),
        Some(Value::String(issuer)) => issuer,
        Some(_) => return Err(Rejection::Malformed),
    };
    if !expected.issuers.iter().any(|accepted| accepted == issuer) {
        return Err(Rejection::WrongIssuer);
    }
    check_audience(claims.get("aud"), expected.audience)?;

    let expires_at = numeric_date(claims.get("exp"))?.ok_or(Rejection::MissingClaim)?;
    if expected.now >= expires_at.saturating_add(expected.leeway) {
        return Err(Rejection::Expired);
    }
    if let Some(not_before) = numeric_date(claims.get("nbf"))?
        && expected.now.saturating_add(expected.leeway) < not_before
    {
        return Err(Rejection::NotYetValid);
    }

    let subject = match claims.get("sub") {
        None => return Err(Rejection::MissingClaim),
        Some(Value::String(subject)) => subject.clone(),
        Some(_) => return Err(Rejection::Malformed),
    };
    if expected
        .required_claims
        .iter()
        .any(|name| !claims.contains_key(name))
    {
        return Err(Rejection::MissingClaim);
    }
    let client_id = ["client_id", "azp"]
        .into_iter()
        .find_map(|name| claims.get(name).and_then(Value::as_str))
        .map(str::to_owned);
    let scopes = scopes_from_claims(&claims, expected.scope_claims)?;
    Ok(Principal {
        subject,
        client_id,
        issuer: issuer.clone(),
        scopes,
        expires_at,
        algorithm,
        key_id,
        claims,
    })
}

/// `aud` is a string or an array of strings (RFC 7519 §4.1.3); one of them
/// must be this server's resource URI, compared exactly.
fn check_audience(aud: Option<&Value>, audience: &str) -> Result<(), Rejection> {
    match aud {
        None => Err(Rejection::MissingClaim),
        Some(Value::String(aud)) if aud == audience => Ok(()),
        Some(Value::String(_)) => Err(Rejection::WrongAudience),
        Some(Value::Array(auds)) => {
            let mut found = false;
            for aud in auds {
                found |= aud.as_str().ok_or(Rejection::Malformed)? == audience;
            }
            if found {
                Ok(())
            } else {
                Err(Rejection::WrongAudience)
            }
        }
        Some(_) => Err(Rejection::Malformed),
    }
}

/// A NumericDate (RFC 7519 §2): seconds, possibly fractional, truncated.
fn numeric_date(value: Option<&Value>) -> Result<Option<i64>, Rejection> {
    match value {
        None => Ok(None),
        Some(Value::Number(number)) => {
            if let Some(seconds) = number.as_i64() {
                return Ok(Some(seconds));
            }
            match number.as_f64() {
                // `as` saturates; the range check keeps absurd values apart.
                #[allow(clippy::cast_possible_truncation)]
                Some(seconds) if seconds.is_finite() && seconds.abs() < 1e15 => {
                    Ok(Some(seconds.floor() as i64))
                }
                _ => Err(Rejection::Malformed),
            }
        }
        Some(_) => Err(Rejection::Malformed),
    }
}

/// The claims scopes are read from by default
/// ([`ValidatorConfig::scope_claims`](crate::ValidatorConfig::scope_claims)):
/// `scope` (a space-delimited string, RFC 6749 §3.3, RFC 9068), `scp` (a
/// string or an array, as Entra ID and Okta issue it), `permissions` (an
/// array, as Auth0's RBAC issues it).
pub const DEFAULT_SCOPE_CLAIMS: [&str; 3] = ["scope", "scp", "permissions"];

/// The scopes a token's claims grant: the union of every claim of `names`
/// present, each read as a space-delimited string (RFC 6749 §3.3: spaces
/// only) or an array of strings, each scope once, in the order of `names`
/// then of the claim; none when no such claim is present. A present claim
/// of another type is malformed, whatever the others hold: a token is not
/// half read. Public so that whatever reads claims outside a token (the
/// simulator's principals and traces) reads them as the validator does.
pub fn scopes_from_claims(
    claims: &Map<String, Value>,
    names: &[impl AsRef<str>],
) -> Result<Vec<String>, Rejection> {
    let mut scopes: Vec<String> = Vec::new();
    let mut add = |scope: &str| {
        if !scope.is_empty() && !scopes.iter().any(|held| held == scope) {
            scopes.push(scope.to_owned());
        }
    };
    for value in names.iter().filter_map(|name| claims.get(name.as_ref())) {
        match value {
            Value::String(text) => text.split(' ').for_each(&mut add),
            Value::Array(items) => {
                for item in items {
                    add(item.as_str().ok_or(Rejection::Malformed)?);
                }
            }
            _ => return Err(Rejection::Malformed),
        }
    }
    Ok(scopes)
}
