//! Access-token validation for MCP servers: is this bearer token a JWT
//! our authorization server issued, for this server, still valid — and
//! which scopes does it grant?
//!
//! ```no_run
//! use mcp_policy_token::{KeySource, Validator, ValidatorConfig};
//!
//! # async fn serve(token: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let validator = Validator::new(ValidatorConfig::new(
//!     "https://auth.example.com",
//!     "https://mcp.example.com",                  // this server's resource URI (RFC 8707)
//!     KeySource::Url("https://auth.example.com/.well-known/jwks.json".into()),
//! ))?;
//! match validator.validate(token).await {
//!     Ok(principal) => println!("{} may use {:?}", principal.subject, principal.scopes),
//!     Err(rejection) => println!("401 invalid_token: {}", rejection.as_str()), // deny
//! }
//! # Ok(()) }
//! ```
//!
//! The order of the checks is the point:
//!
//! 1. Without a key ([`jws`]): size, shape (three base64url parts whose
//!    header and payload are JSON objects), the header's `alg` against the
//!    allow-list, `crit`, `typ`. `none` is never allowed; HMAC only with an
//!    explicitly configured secret.
//! 2. The key: chosen by `kid` from the configured JWKS only (`jku`, `x5u`,
//!    `x5c` and an embedded `jwk` are never read), and only among keys whose
//!    type fits the header's algorithm — the algorithm picks the key type,
//!    never the reverse, so an RSA public key can never become an HMAC
//!    secret. An unknown `kid` refetches the JWKS, rate-limited (`keys`).
//! 3. The signature, on aws-lc-rs.
//! 4. The claims (`claims`): `iss`, `aud`, `exp`, `nbf` (with leeway, on
//!    an injectable [`Clock`]), `sub`, then the scopes.
//!
//! # Which claims hold the scopes
//!
//! Authorization servers disagree: RFC 9068 and most servers put a
//! space-delimited string in `scope`; Entra ID and Okta put `scp` (a string
//! or an array); Auth0's RBAC puts an array in `permissions`. A token's
//! scopes are the union of every claim of [`ValidatorConfig::scope_claims`]
//! it carries, each scope once, in that order — by default
//! [`DEFAULT_SCOPE_CLAIMS`]: `scope`, `scp`, `permissions`. A listed claim
//! that is neither a string nor an array of strings rejects the token as
//! `malformed`. Narrow the list (say to `scope`) when an authorization
//! server puts something other than scopes in one of them; the command
//! line's `mcp-policy token verify --scope-claims scope,scp` does the same.
//! The simulator's `claims` principals and trace records are read by the
//! same function ([`scopes_from_claims`]) over the same default.
//!
//! A JWKS file ([`KeySource::File`]) is read as a fetched one is bounded:
//! at most 1 MiB, a regular file only (never a FIFO or device).
//!
//! Every failure is a [`Rejection`] with a stable code, and means deny.
//! [`TokenCache`] skips all of it for a token already verified.

mod algorithm;
mod cache;
mod claims;
mod clock;
pub mod discovery;
mod jwks;
pub mod jws;
mod keys;
mod rejection;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jsonwebtoken::DecodingKey;

pub use algorithm::{Algorithm, UnknownAlgorithm};
pub use cache::{CacheStats, TokenCache, VerifiedToken};
pub use claims::{DEFAULT_SCOPE_CLAIMS, Principal, scopes_from_claims};
pub use clock::{Clock, ManualClock, SystemClock};
pub use keys::KeySource;
pub use rejection::{ConfigError, JwksError, Rejection};

use jwks::{KeySet, Selection};
use keys::KeyStore;

/// How a [`Validator`] decides. [`ValidatorConfig::new`] sets the defaults.
#[derive(Clone, Debug)]
pub struct ValidatorConfig {
    /// Accepted `iss` values, compared exactly.
    pub issuers: Vec<String>,
    /// This server's canonical resource URI (RFC 8707): `aud` must name it,
    /// compared exactly. Tokens for any other resource are rejected.
    pub audience: String,
    /// The algorithm allow-list. Default: [`Algorithm::ASYMMETRIC`].
    pub algorithms: Vec<Algorithm>,
    /// Where the keys come from.
    pub keys: KeySource,
    /// The HMAC secret, for `HS*` algorithms (which must also be in
    /// `algorithms`); at least 32 bytes. Default: none.
    pub shared_secret: Option<Vec<u8>>,
    /// Allowed clock skew for `exp` and `nbf`. Default: 60 s.
    pub leeway: Duration,
    /// Require the header's `typ` to be `at+jwt` (RFC 9068). Default: off,
    /// as many authorization servers still issue `JWT`.
    pub require_at_jwt: bool,
    /// The claims scopes are read from, as one set: a token's scopes are the
    /// union of every listed claim present, each a space-delimited string
    /// or an array of strings (see [`scopes_from_claims`]). Default:
    /// [`DEFAULT_SCOPE_CLAIMS`], `scope`, `scp` and `permissions`, so that
    /// RFC 9068 tokens, Entra ID and Okta's `scp` and Auth0's RBAC
    /// `permissions` all grant their scopes. Narrow it (say to `scope`) when
    /// an authorization server puts something else in one of them; `token
    /// verify --scope-claims` sets it.
    pub scope_claims: Vec<String>,
    /// Claims that must be present beyond `iss`, `aud`, `exp` and `sub`
    /// (say `jti`). Default: none.
    pub required_claims: Vec<String>,
    /// Longer tokens are rejected unread. Default: 8 KiB.
    pub max_token_bytes: usize,
    /// The least time between two JWKS refreshes. Default: 30 s.
    pub jwks_refetch_interval: Duration,
    /// A file's or URL's keys are refreshed when older. Default: 10 min.
    pub jwks_max_age: Duration,
    /// What "now" is for `exp`, `nbf` and the token cache. Default: the
    /// system clock.
    pub clock: Arc<dyn Clock>,
}

impl ValidatorConfig {
    pub fn new(
        issuer: impl Into<String>,
        audience: impl Into<String>,
        keys: KeySource,
    ) -> ValidatorConfig {
        ValidatorConfig {
            issuers: vec![issuer.into()],
            audience: audience.into(),
            algorithms: Algorithm::ASYMMETRIC.to_vec(),
            keys,
            shared_secret: None,
            leeway: Duration::from_secs(60),
            require_at_jwt: false,
            scope_claims: DEFAULT_SCOPE_CLAIMS.map(str::to_owned).to_vec(),
            required_claims: Vec::new(),
            max_token_bytes: 8 * 1024,
            jwks_refetch_interval: Duration::from_secs(30),
            jwks_max_age: Duration::from_secs(600),
            clock: Arc::new(SystemClock),
        }
    }
}

/// Counters for tests and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Signature verifications computed (one per key tried).
    pub signature_verifications: u64,
    /// JWKS refreshes attempted (a file read or an HTTP fetch), not counting
    /// the read at construction.
    pub jwks_fetches: u64,
}

/// Validates access tokens. `Send + Sync`: share one in an `Arc`.
#[derive(Debug)]
pub struct Validator {
    config: ValidatorConfig,
    secret: Option<DecodingKey>,
    store: KeyStore,
    verifications: AtomicU64,
}

/// Makes aws-lc-rs jsonwebtoken's process-wide provider. Idempotent: when
/// one is installed already (by an earlier validator, or by the
/// application), that one stays. Verification here does not depend on it —
/// it calls the aws-lc provider directly — but other jsonwebtoken calls in
/// the process would otherwise panic when the crate features leave the
/// choice ambiguous.
fn install_crypto_provider() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        // `Err` means another provider was installed first: keep it.
        let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    });
}

impl Validator {
    pub fn new(config: ValidatorConfig) -> Result<Validator, ConfigError> {
        install_crypto_provider();
        if config.issuers.is_empty() || config.issuers.iter().any(String::is_empty) {
            return Err(ConfigError::NoIssuer);
        }
        if config.audience.is_empty() {
            return Err(ConfigError::NoAudience);
        }
        if config.algorithms.is_empty() {
            return Err(ConfigError::NoAlgorithms);
        }
        let secret = match &config.shared_secret {
            Some(secret) if secret.len() < 32 => return Err(ConfigError::WeakSecret),
            Some(secret) => Some(DecodingKey::from_secret(secret)),
            None => None,
        };
        if let Some(&symmetric) = config.algorithms.iter().find(|a| a.is_symmetric())
            && secret.is_none()
        {
            return Err(ConfigError::SymmetricWithoutSecret(symmetric));
        }
        if let KeySource::Issuer(issuer) = &config.keys
            && !config.issuers.contains(issuer)
        {
            return Err(ConfigError::IssuerNotAccepted(issuer.clone()));
        }
        let store = KeyStore::new(
            &config.keys,
            config.jwks_refetch_interval,
            config.jwks_max_age,
        )?;
        Ok(Validator {
            config,
            secret,
            store,
            verifications: AtomicU64::new(0),
        })
    }

    pub fn config(&self) -> &ValidatorConfig {
        &self.config
    }

    /// Now, by the configured clock (seconds since the Unix epoch).
    pub fn now(&self) -> i64 {
        self.config.clock.now()
    }

    pub fn stats(&self) -> Stats {
        Stats {
            signature_verifications: self.verifications.load(Ordering::Relaxed),
            jwks_fetches: self.store.fetches(),
        }
    }

    /// Validates a token (without `Bearer `). Fetches the JWKS when it is
    /// a URL's and missing, stale, or lacks the token's `kid` (rate-limited).
    pub async fn validate(&self, token: &str) -> Result<Principal, Rejection> {
        let parsed = self.parse(token)?;
        if parsed.algorithm.is_symmetric() {
            self.verify_with_secret(&parsed)?;
            return self.check_claims(parsed);
        }
        let mut keys = self.store.current();
        if keys.is_none() || self.store.stale() {
            // A failed refresh keeps the old keys; none at all is reported below.
            keys = self.store.refresh(false).await.unwrap_or(keys);
        }
        let keys = keys.ok_or(Rejection::JwksUnavailable)?;
        match self.verify(&keys, &parsed) {
            Err(Rejection::UnknownKid) if self.store.refreshable() => {
                let keys = self
                    .store
                    .refresh(false)
                    .await
                    .ok()
                    .flatten()
                    .ok_or(Rejection::UnknownKid)?;
                self.verify(&keys, &parsed)?;
            }
            verified => verified?,
        }
        self.check_claims(parsed)
    }

    /// Validates with the keys at hand, without a runtime: a file's JWKS is
    /// still re-read on an unknown `kid` or when stale (rate-limited), but a
    /// URL's is never fetched — before [`Validator::validate`] or
    /// [`Validator::refresh_keys`] has fetched it, tokens are rejected as
    /// `jwks_unavailable`.
    pub fn validate_with_keys(&self, token: &str) -> Result<Principal, Rejection> {
        let parsed = self.parse(token)?;
        if parsed.algorithm.is_symmetric() {
            self.verify_with_secret(&parsed)?;
            return self.check_claims(parsed);
        }
        let mut keys = self.store.current();
        if self.store.stale() {
            keys = self.store.refresh_without_network().unwrap_or(keys);
        }
        let keys = keys.ok_or(Rejection::JwksUnavailable)?;
        match self.verify(&keys, &parsed) {
            Err(Rejection::UnknownKid) if self.store.refreshable() => {
                let keys = self
                    .store
                    .refresh_without_network()
                    .ok()
                    .flatten()
                    .ok_or(Rejection::UnknownKid)?;
                self.verify(&keys, &parsed)?;
            }
            verified => verified?,
        }
        self.check_claims(parsed)
    }

    /// Refreshes the JWKS now, ignoring the rate limit (say, at start-up, to
    /// fail fast). Returns how many usable keys it holds.
    pub async fn refresh_keys(&self) -> Result<usize, JwksError> {
        let keys = self.store.refresh(true).await?;
        Ok(keys.map_or(0, |keys| keys.keys.len()))
    }

    fn parse<'t>(&self, token: &'t str) -> Result<jws::Parsed<'t>, Rejection> {
        jws::parse(
            token,
            &jws::Limits {
                max_bytes: self.config.max_token_bytes,
                algorithms: &self.config.algorithms,
                require_at_jwt: self.config.require_at_jwt,
            },
        )
    }

    /// Verifies the signature with the keys the header selects.
    fn verify(&self, keys: &KeySet, parsed: &jws::Parsed<'_>) -> Result<(), Rejection> {
        match keys.select(parsed.algorithm, parsed.kid.as_deref()) {
            Selection::Unknown => Err(Rejection::UnknownKid),
            Selection::WrongKeyType => Err(Rejection::BadSignature),
            Selection::Keys(candidates) => {
                if candidates
                    .into_iter()
                    .any(|key| self.signature_verifies(&key.decoding, parsed))
                {
                    Ok(())
                } else {
                    Err(Rejection::BadSignature)
                }
            }
        }
    }

    fn signature_verifies(&self, key: &DecodingKey, parsed: &jws::Parsed<'_>) -> bool {
        self.verifications.fetch_add(1, Ordering::Relaxed);
        // The aws-lc provider directly, whatever provider the process has
        // installed; the algorithm is the allow-listed header's.
        let algorithm = parsed.algorithm.to_jsonwebtoken();
        match (jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.verifier_factory)(&algorithm, key) {
            Ok(verifier) => verifier
                .verify(parsed.signing_input.as_bytes(), &parsed.signature)
                .is_ok(),
            Err(_) => false,
        }
    }

    /// HMAC: the configured secret, never a key from the JWKS.
    fn verify_with_secret(&self, parsed: &jws::Parsed<'_>) -> Result<(), Rejection> {
        // The allow-list only holds HS* when a secret is configured.
        let secret = self.secret.as_ref().ok_or(Rejection::AlgNotAllowed)?;
        if self.signature_verifies(secret, parsed) {
            Ok(())
        } else {
            Err(Rejection::BadSignature)
        }
    }

    fn check_claims(&self, parsed: jws::Parsed<'_>) -> Result<Principal, Rejection> {
        let leeway = i64::try_from(self.config.leeway.as_secs()).unwrap_or(i64::MAX);
        claims::check(
            parsed.claims,
            &claims::Expectations {
                issuers: &self.config.issuers,
                audience: &self.config.audience,
                leeway,
                now: self.now(),
                scope_claims: &self.config.scope_claims,
                required_claims: &self.config.required_claims,
            },
            parsed.algorithm,
            parsed.kid,
        )
    }
}
