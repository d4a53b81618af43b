//! Where the keys come from, and keeping them fresh.
//!
//! A JWKS given inline never changes. One read from a file or fetched from
//! a URL is refreshed without a restart: when it is older than
//! `jwks_max_age`, and when a token names a `kid` the set does not hold
//! (the issuer rotated). Refreshes are rate-limited (`jwks_refetch_interval`,
//! 30 s by default, on the monotonic clock), so a flood of tokens with
//! made-up `kid`s costs at most one fetch per interval; and single-flight,
//! so concurrent misses share one fetch. A failed refresh keeps the keys
//! the validator had.
//!
//! An issuer's JWKS is found through its metadata first ([`crate::discovery`]).
//!
//! URLs are fetched with reqwest (rustls on aws-lc-rs, no default
//! features): the most used async HTTP client on crates.io, maintained with
//! hyper, which brings timeouts, redirects limits and TLS with the platform's
//! roots in one call, and shares aws-lc-rs with jsonwebtoken rather than
//! adding ring or OpenSSL. hyper-util alone would mean writing the TLS
//! connector and the timeouts here.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use crate::discovery::Discovery;
use crate::jwks::KeySet;
use crate::{ConfigError, JwksError};

/// A fetched JWKS's bound: the one a JWKS file has.
const MAX_JWKS_BYTES: usize = mcp_policy_fs::limit::JWKS.bytes as usize;
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
pub(crate) const JWKS_ACCEPT: &str = "application/jwk-set+json, application/json";

/// Where the validator's keys come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// A JWKS document (`{"keys": [...]}`), fixed for the validator's life.
    Jwks(String),
    /// A JWKS file, read at construction and re-read as a URL is refetched.
    File(PathBuf),
    /// A JWKS URL (`https`, or `http` to a loopback address), fetched on
    /// first use. Needs a tokio runtime ([`Validator::validate`](crate::Validator::validate)).
    Url(String),
    /// The JWKS of an issuer, found through its metadata: the issuer
    /// identifier (`https`, or `http` to a loopback address, no query or
    /// fragment), whose authorization server metadata (RFC 8414; OpenID
    /// Connect discovery as a fallback) names the `jwks_uri`. The
    /// metadata's `issuer` must be this string exactly, and the issuer
    /// must be one of the accepted ones ([`ValidatorConfig::issuers`](crate::ValidatorConfig::issuers)).
    /// Discovered on the first refresh, then fetched and refreshed as a
    /// [`KeySource::Url`]; discovered again after a failed JWKS fetch. The
    /// locations tried are listed in the [`discovery`](crate::discovery)
    /// module.
    Issuer(String),
}

#[derive(Debug)]
enum Origin {
    Inline,
    File(PathBuf),
    Url {
        url: reqwest::Url,
        client: reqwest::Client,
    },
    Issuer(Box<Discovery>),
}

#[derive(Debug, Default)]
struct FetchTimes {
    last_attempt: Option<Instant>,
    last_success: Option<Instant>,
}

#[derive(Debug)]
pub(crate) struct KeyStore {
    origin: Origin,
    keys: RwLock<Option<Arc<KeySet>>>,
    times: Mutex<FetchTimes>,
    /// Held across a fetch, so that concurrent refreshes share one.
    fetching: tokio::sync::Mutex<()>,
    refetch_interval: Duration,
    max_age: Duration,
    fetches: AtomicU64,
}

impl KeyStore {
    pub fn new(
        source: &KeySource,
        refetch_interval: Duration,
        max_age: Duration,
    ) -> Result<KeyStore, ConfigError> {
        let (origin, keys) = match source {
            KeySource::Jwks(json) => (Origin::Inline, Some(static_set(json)?)),
            KeySource::File(path) => {
                let json = mcp_policy_fs::read_text(path, mcp_policy_fs::limit::JWKS).map_err(
                    |error| ConfigError::ReadJwks {
                        path: path.clone(),
                        error,
                    },
                )?;
                (Origin::File(path.clone()), Some(static_set(&json)?))
            }
            KeySource::Url(url) => (url_origin(url)?, None),
            KeySource::Issuer(issuer) => (Origin::Issuer(Box::new(Discovery::new(issuer)?)), None),
        };
        let loaded = keys.is_some().then(Instant::now);
        Ok(KeyStore {
            origin,
            keys: RwLock::new(keys.map(Arc::new)),
            times: Mutex::new(FetchTimes {
                last_attempt: loaded,
                last_success: loaded,
            }),
            fetching: tokio::sync::Mutex::new(()),
            refetch_interval,
            max_age,
            fetches: AtomicU64::new(0),
        })
    }

    /// The keys at hand; `None` before a URL's first successful fetch.
    pub fn current(&self) -> Option<Arc<KeySet>> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether the keys can change by refreshing.
    pub fn refreshable(&self) -> bool {
        !matches!(self.origin, Origin::Inline)
    }

    /// Fetch attempts made (not counting the read at construction).
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// Whether the keys are missing or older than the maximum age.
    pub fn stale(&self) -> bool {
        if !self.refreshable() {
            return false;
        }
        let times = self.times.lock().unwrap_or_else(PoisonError::into_inner);
        times
            .last_success
            .is_none_or(|at| at.elapsed() >= self.max_age)
    }

    /// Claims the right to fetch now, if the rate limit allows (or `force`).
    fn claim_attempt(&self, force: bool) -> bool {
        let mut times = self.times.lock().unwrap_or_else(PoisonError::into_inner);
        let allowed = force
            || times
                .last_attempt
                .is_none_or(|at| at.elapsed() >= self.refetch_interval);
        if allowed {
            times.last_attempt = Some(Instant::now());
        }
        allowed
    }

    fn store(&self, set: KeySet) -> Arc<KeySet> {
        let set = Arc::new(set);
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&set));
        self.times
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last_success = Some(Instant::now());
        set
    }

    /// Refreshes if the rate limit allows (always when `force`), then
    /// returns the keys at hand. Errors only when a fetch was made and failed.
    pub async fn refresh(&self, force: bool) -> Result<Option<Arc<KeySet>>, JwksError> {
        if !self.refreshable() {
            return Ok(self.current());
        }
        let _single_flight = self.fetching.lock().await;
        if !self.claim_attempt(force) {
            return Ok(self.current());
        }
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let json = match &self.origin {
            Origin::Inline => return Ok(self.current()),
            Origin::File(path) => read_file(path)?,
            Origin::Url { url, client } => fetch(client, url, JWKS_ACCEPT).await?,
            Origin::Issuer(discovery) => discovery.fetch_jwks().await?,
        };
        let set = KeySet::parse(&json).map_err(JwksError)?;
        Ok(Some(self.store(set)))
    }

    /// As [`KeyStore::refresh`] without a runtime: files only; a URL's keys
    /// are returned as they are.
    pub fn refresh_without_network(&self) -> Result<Option<Arc<KeySet>>, JwksError> {
        let Origin::File(path) = &self.origin else {
            return Ok(self.current());
        };
        // Another caller is fetching: use what is there.
        let Ok(_single_flight) = self.fetching.try_lock() else {
            return Ok(self.current());
        };
        if !self.claim_attempt(false) {
            return Ok(self.current());
        }
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let set = KeySet::parse(&read_file(path)?).map_err(JwksError)?;
        Ok(Some(self.store(set)))
    }
}

fn static_set(json: &str) -> Result<KeySet, ConfigError> {
    let set = KeySet::parse(json).map_err(ConfigError::InvalidJwks)?;
    if set.keys.is_empty() {
        return Err(ConfigError::NoUsableKeys);
    }
    Ok(set)
}

fn url_origin(text: &str) -> Result<Origin, ConfigError> {
    let (url, loopback) =
        checked_url(text).ok_or_else(|| ConfigError::InvalidJwksUrl(text.to_owned()))?;
    Ok(Origin::Url {
        url,
        client: client(loopback)?,
    })
}

/// `text` as a URL the keys may come from: `https`, or `http` to a
/// loopback address; with whether it is loopback.
pub(crate) fn checked_url(text: &str) -> Option<(reqwest::Url, bool)> {
    let url = reqwest::Url::parse(text).ok()?;
    let loopback = match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    };
    match url.scheme() {
        "https" => Some((url, loopback)),
        "http" if loopback => Some((url, loopback)),
        _ => None,
    }
}

/// The client for a loopback or a remote host (then `https` only, also
/// across redirects).
pub(crate) fn client(loopback: bool) -> Result<reqwest::Client, ConfigError> {
    reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .https_only(!loopback)
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
        .map_err(|error| ConfigError::HttpClient(error.to_string()))
}

/// A JWKS file, bounded as a fetched one is (see `KeyStore::new`).
fn read_file(path: &std::path::Path) -> Result<String, JwksError> {
    mcp_policy_fs::read_text(path, mcp_policy_fs::limit::JWKS).map_err(|error| {
        JwksError(format!(
            "cannot read `{}`: {error} [{}]",
            path.display(),
            error.code()
        ))
    })
}

/// A document of at most 1 MiB, from a 2xx answer.
pub(crate) async fn fetch(
    client: &reqwest::Client,
    url: &reqwest::Url,
    accept: &'static str,
) -> Result<String, JwksError> {
    let failed = |why: String| JwksError(format!("cannot fetch `{url}`: {why}"));
    let mut response = client
        .get(url.clone())
        .header(reqwest::header::ACCEPT, accept)
        .send()
        .await
        .map_err(|error| failed(error.to_string()))?;
    if !response.status().is_success() {
        return Err(failed(format!("HTTP {}", response.status())));
    }
    if response
        .content_length()
        .is_some_and(|length| length > MAX_JWKS_BYTES as u64)
    {
        return Err(failed("the document is too large".to_owned()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| failed(error.to_string()))?
    {
        if body.len().saturating_add(chunk.len()) > MAX_JWKS_BYTES {
            return Err(failed("the document is too large".to_owned()));
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| failed("the document is not UTF-8".to_owned()))
}
