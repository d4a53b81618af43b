//! The verified-token cache: a token seen before costs a SHA-256 and a map
//! lookup, not a signature verification.
//!
//! Design. The cache is bound to one [`Validator`] (it holds it), so a
//! token verified for one audience is never served for another. Entries are
//! keyed by the SHA-256 of the token (the token itself is not kept), hold
//! an `Arc<VerifiedToken<T>>`, and expire at the token's `exp` by the
//! validator's clock: never later, whatever the leeway. `T` is the
//! server's slot beside the principal: what it derives from a token once
//! and wants on every request, typically the policy's parsed scope set
//! (`TokenCache<ScopeSet>`, filled by
//! `|p| policy.scope_set(p.scopes.iter().map(String::as_str))`). A slot
//! rather than a generic principal keeps [`Principal`] plain data, and
//! keeps this crate independent of the policy crates. `T = ()` for none.
//!
//! The cache is bounded: it holds at most `capacity` entries, and each
//! entry's size is bounded by the token's (at most
//! [`ValidatorConfig::max_token_bytes`](crate::ValidatorConfig::max_token_bytes),
//! 8 KiB by default): the principal, every claim of the payload included
//! (conditions on `claim.NAME` read them), is kept once, in an `Arc` that
//! every hit shares, so the server's slot refers to it rather than copying
//! it. When full, expired entries go first, then the one expiring soonest (a scan, only on a miss into a full cache, which costs
//! a signature verification anyway). Rejections are not cached: they are
//! cheap before the key work, and an attacker could otherwise fill the
//! cache. Keys rotated out of the JWKS do not evict tokens they verified;
//! like the JWT itself, an entry lives until `exp`. [`TokenCache::clear`]
//! drops everything.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::{Principal, Rejection, Validator};

/// A verified token's principal and what the server derived from it.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifiedToken<T> {
    /// Shared, not copied: a request keeps it (say, in its extensions) for
    /// the price of a reference count, claims and all.
    pub principal: Arc<Principal>,
    pub extension: T,
}

/// Counters for tests and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub entries: usize,
}

struct Entry<T> {
    expires_at: i64,
    token: Arc<VerifiedToken<T>>,
}

/// Validates through a [`Validator`], remembering verified tokens.
pub struct TokenCache<T = ()> {
    validator: Arc<Validator>,
    capacity: usize,
    entries: Mutex<HashMap<[u8; 32], Entry<T>>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl<T> fmt::Debug for TokenCache<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("validator", &self.validator)
            .field("capacity", &self.capacity)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl<T> TokenCache<T> {
    /// A cache of at most `capacity` tokens (0: no caching).
    pub fn new(validator: Arc<Validator>, capacity: usize) -> TokenCache<T> {
        TokenCache {
            validator,
            capacity,
            entries: Mutex::new(HashMap::new()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    pub fn validator(&self) -> &Arc<Validator> {
        &self.validator
    }

    /// As [`Validator::validate`]; on a miss, `extend` fills the slot.
    pub async fn validate(
        &self,
        token: &str,
        extend: impl FnOnce(&Principal) -> T,
    ) -> Result<Arc<VerifiedToken<T>>, Rejection> {
        let key = self.key(token)?;
        if let Some(hit) = self.lookup(&key) {
            return Ok(hit);
        }
        let principal = self.validator.validate(token).await?;
        Ok(self.insert(key, principal, extend))
    }

    /// As [`Validator::validate_with_keys`]; on a miss, `extend` fills the slot.
    pub fn validate_with_keys(
        &self,
        token: &str,
        extend: impl FnOnce(&Principal) -> T,
    ) -> Result<Arc<VerifiedToken<T>>, Rejection> {
        let key = self.key(token)?;
        if let Some(hit) = self.lookup(&key) {
            return Ok(hit);
        }
        let principal = self.validator.validate_with_keys(token)?;
        Ok(self.insert(key, principal, extend))
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.lock().len(),
        }
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Entry<T>>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn key(&self, token: &str) -> Result<[u8; 32], Rejection> {
        // Not even a hash for an oversized token.
        if token.len() > self.validator.config().max_token_bytes {
            return Err(Rejection::TooLarge);
        }
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
        let mut key = [0; 32];
        // SHA-256 is 32 bytes; a mismatch would only make every lookup miss.
        if digest.as_ref().len() == key.len() {
            key.copy_from_slice(digest.as_ref());
        }
        Ok(key)
    }

    fn lookup(&self, key: &[u8; 32]) -> Option<Arc<VerifiedToken<T>>> {
        let now = self.validator.now();
        let mut entries = self.lock();
        match entries.get(key) {
            Some(entry) if now < entry.expires_at => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                return Some(Arc::clone(&entry.token));
            }
            Some(_) => {
                entries.remove(key);
            }
            None => {}
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        None
    }

    fn insert(
        &self,
        key: [u8; 32],
        principal: Principal,
        extend: impl FnOnce(&Principal) -> T,
    ) -> Arc<VerifiedToken<T>> {
        let extension = extend(&principal);
        let expires_at = principal.expires_at;
        let principal = Arc::new(principal);
        let token = Arc::new(VerifiedToken {
            principal,
            extension,
        });
        if self.capacity == 0 {
            return token;
        }
        let now = self.validator.now();
        let mut entries = self.lock();
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, entry| now < entry.expires_at);
            if entries.len() >= self.capacity {
                let soonest = entries
                    .iter()
                    .min_by_key(|(_, entry)| entry.expires_at)
                    .map(|(key, _)| *key);
                if let Some(soonest) = soonest {
                    entries.remove(&soonest);
                }
            }
        }
        entries.insert(
            key,
            Entry {
                expires_at,
                token: Arc::clone(&token),
            },
        );
        token
    }
}
