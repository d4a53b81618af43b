//! Why a token was rejected, and why a validator could not be built.
//!
//! A [`Rejection`] is data with a stable code: servers log it, map it to
//! `401 invalid_token`, and deny. Every rejection means deny.

use std::fmt;
use std::path::PathBuf;

use crate::Algorithm;

/// Why a token was rejected. The codes ([`Rejection::as_str`]) are stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rejection {
    /// Not three base64url parts, or a header or payload that is not a JSON
    /// object, or a claim of the wrong type.
    Malformed,
    /// Longer than the configured maximum.
    TooLarge,
    /// The header's `alg` is not in the allow-list (`none` never is).
    AlgNotAllowed,
    /// No key in the JWKS has the header's `kid` (or, without a `kid`, none
    /// fits the algorithm), even after a refetch.
    UnknownKid,
    /// The signature does not verify.
    BadSignature,
    /// `exp` has passed, beyond the leeway.
    Expired,
    /// `nbf` is in the future, beyond the leeway.
    NotYetValid,
    /// `iss` is not an accepted issuer.
    WrongIssuer,
    /// `aud` does not name this server's resource URI (RFC 8707).
    WrongAudience,
    /// The header's `typ` is not `at+jwt` (RFC 9068), when that is required.
    WrongType,
    /// The header has a `crit` this validator does not understand
    /// (RFC 7515 §4.1.11).
    UnsupportedCrit,
    /// A required claim (`iss`, `aud`, `exp`, `sub`, or a configured one) is
    /// absent.
    MissingClaim,
    /// The JWKS could not be loaded, so no key can verify.
    JwksUnavailable,
}

impl Rejection {
    pub const ALL: [Rejection; 13] = [
        Rejection::Malformed,
        Rejection::TooLarge,
        Rejection::AlgNotAllowed,
        Rejection::UnknownKid,
        Rejection::BadSignature,
        Rejection::Expired,
        Rejection::NotYetValid,
        Rejection::WrongIssuer,
        Rejection::WrongAudience,
        Rejection::WrongType,
        Rejection::UnsupportedCrit,
        Rejection::MissingClaim,
        Rejection::JwksUnavailable,
    ];

    /// The stable code, for logs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::Malformed => "malformed",
            Rejection::TooLarge => "too_large",
            Rejection::AlgNotAllowed => "alg_not_allowed",
            Rejection::UnknownKid => "unknown_kid",
            Rejection::BadSignature => "bad_signature",
            Rejection::Expired => "expired",
            Rejection::NotYetValid => "not_yet_valid",
            Rejection::WrongIssuer => "wrong_issuer",
            Rejection::WrongAudience => "wrong_audience",
            Rejection::WrongType => "wrong_type",
            Rejection::UnsupportedCrit => "unsupported_crit",
            Rejection::MissingClaim => "missing_claim",
            Rejection::JwksUnavailable => "jwks_unavailable",
        }
    }

    /// One line for people.
    pub fn description(self) -> &'static str {
        match self {
            Rejection::Malformed => "the token is not a well-formed JWS compact JWT",
            Rejection::TooLarge => "the token is longer than the configured maximum",
            Rejection::AlgNotAllowed => "the header's `alg` is not in the allow-list",
            Rejection::UnknownKid => "no key in the JWKS matches the header's `kid`",
            Rejection::BadSignature => "the signature does not verify",
            Rejection::Expired => "the token has expired (`exp`, beyond the leeway)",
            Rejection::NotYetValid => "the token is not valid yet (`nbf`, beyond the leeway)",
            Rejection::WrongIssuer => "the issuer (`iss`) is not accepted",
            Rejection::WrongAudience => "the audience (`aud`) is not this server's resource URI",
            Rejection::WrongType => "the header's `typ` is not `at+jwt`",
            Rejection::UnsupportedCrit => "the header has a `crit` parameter not understood",
            Rejection::MissingClaim => "a required claim is missing",
            Rejection::JwksUnavailable => "the JWKS could not be loaded",
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]", self.description(), self.as_str())
    }
}

impl std::error::Error for Rejection {}

/// Why a [`ValidatorConfig`](crate::ValidatorConfig) cannot make a validator.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    NoIssuer,
    NoAudience,
    NoAlgorithms,
    /// An HMAC algorithm is allowed but no shared secret is configured.
    SymmetricWithoutSecret(Algorithm),
    /// The shared secret is shorter than 32 bytes (RFC 7518 §3.2).
    WeakSecret,
    /// The JWKS file could not be read: missing, not a regular file (a FIFO
    /// or device is never opened), larger than
    /// [`mcp_policy_fs::limit::JWKS`] (1 MiB, as for a JWKS URL), or not UTF-8.
    ReadJwks {
        path: PathBuf,
        error: mcp_policy_fs::ReadError,
    },
    /// The JWKS is not valid JSON, or not `{"keys": [...]}`.
    InvalidJwks(String),
    /// The JWKS holds no key this validator can verify with.
    NoUsableKeys,
    /// A JWKS URL that is not `https` (plain `http` only to a loopback host),
    /// or not a URL.
    InvalidJwksUrl(String),
    /// A [`KeySource::Issuer`](crate::KeySource::Issuer) that is not an
    /// `https` URL (plain `http` only to a loopback host) without query and
    /// fragment.
    InvalidIssuerUrl(String),
    /// A [`KeySource::Issuer`](crate::KeySource::Issuer) that is not among
    /// the accepted issuers: its keys would verify tokens it did not issue.
    IssuerNotAccepted(String),
    HttpClient(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NoIssuer => f.write_str("no accepted issuer is configured"),
            ConfigError::NoAudience => f.write_str("no audience (resource URI) is configured"),
            ConfigError::NoAlgorithms => f.write_str("the algorithm allow-list is empty"),
            ConfigError::SymmetricWithoutSecret(algorithm) => write!(
                f,
                "`{algorithm}` is allowed but no shared secret is configured"
            ),
            ConfigError::WeakSecret => f.write_str("the shared secret is shorter than 32 bytes"),
            ConfigError::ReadJwks { path, error } => {
                write!(
                    f,
                    "cannot read JWKS `{}`: {error} [{}]",
                    path.display(),
                    error.code()
                )
            }
            ConfigError::InvalidJwks(why) => write!(f, "invalid JWKS: {why}"),
            ConfigError::NoUsableKeys => {
                f.write_str("the JWKS holds no signature key this validator can use")
            }
            ConfigError::InvalidJwksUrl(url) => write!(
                f,
                "JWKS URL `{url}` must be https (http only to a loopback address)"
            ),
            ConfigError::InvalidIssuerUrl(issuer) => write!(
                f,
                "issuer `{issuer}` must be an https URL without query or fragment (http only to a loopback address)"
            ),
            ConfigError::IssuerNotAccepted(issuer) => write!(
                f,
                "the keys' issuer `{issuer}` is not among the accepted issuers"
            ),
            ConfigError::HttpClient(why) => write!(f, "cannot build the HTTP client: {why}"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::ReadJwks { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Why a JWKS refresh failed. The validator keeps the keys it had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwksError(pub String);

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for JwksError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for rejection in Rejection::ALL {
            let code = rejection.as_str();
            assert!(seen.insert(code), "{code} twice");
            assert!(code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        }
    }
}
