//! The verified-token cache: a hit costs no signature verification, and no
//! entry outlives its token's `exp`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;

use common::*;
use mcp_policy_evaluator::{Evaluator, Request, ScopeSet};
use mcp_policy_token::{KeySource, ManualClock, Rejection, TokenCache, Validator};
use serde_json::json;

fn setup(capacity: usize) -> (TestKey, Arc<ManualClock>, TokenCache<ScopeSet>, Evaluator) {
    let rsa = TestKey::rsa("rsa-1.pem", "rsa-1");
    let clock = Arc::new(ManualClock::new(NOW));
    let validator =
        Validator::new(config_at(KeySource::Jwks(jwks_of(&[&rsa])), clock.clone())).unwrap();
    let policy = Evaluator::from_source(
        "scope mcp:read level read\nscope mcp:admin level admin implies mcp:read\n\
         tool search requires mcp:read\ntool delete requires mcp:admin",
    )
    .unwrap();
    (
        rsa,
        clock,
        TokenCache::new(Arc::new(validator), capacity),
        policy,
    )
}

#[test]
fn a_second_validation_is_a_lookup_with_the_scope_set_beside_the_principal() {
    let (rsa, _clock, cache, policy) = setup(100);
    let token = rsa.token(&claims_with(json!({"scope": "mcp:read other"})));
    let parse =
        |p: &mcp_policy_token::Principal| policy.scope_set(p.scopes.iter().map(String::as_str));
    let first = cache.validate_with_keys(&token, parse).unwrap();
    let second = cache
        .validate_with_keys(&token, |_| panic!("a hit does not rebuild the extension"))
        .unwrap();
    assert!(Arc::ptr_eq(&first, &second));
    assert_eq!(cache.validator().stats().signature_verifications, 1);
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.entries), (1, 1, 1));
    assert_eq!(second.principal.subject, "user-1");
    assert!(policy.is_allowed(Request::CallTool("search"), &second.extension));
    assert!(!policy.is_allowed(Request::CallTool("delete"), &second.extension));
}

#[tokio::test]
async fn the_async_path_hits_too() {
    let (rsa, _clock, cache, policy) = setup(100);
    let token = rsa.token(&claims());
    for _ in 0..5 {
        let verified = cache
            .validate(&token, |p| {
                policy.scope_set(p.scopes.iter().map(String::as_str))
            })
            .await
            .unwrap();
        assert_eq!(verified.principal.scopes, ["mcp:read", "github:repos"]);
    }
    assert_eq!(cache.validator().stats().signature_verifications, 1);
    assert_eq!(cache.stats().hits, 4);
}

#[test]
fn entries_expire_at_exp_whatever_the_leeway() {
    let (rsa, clock, cache, policy) = setup(100);
    let exp = NOW + 100;
    let token = rsa.token(&claims_with(json!({"exp": exp})));
    let parse =
        |p: &mcp_policy_token::Principal| policy.scope_set(p.scopes.iter().map(String::as_str));
    cache.validate_with_keys(&token, parse).unwrap();
    clock.set(exp - 1);
    cache.validate_with_keys(&token, parse).unwrap();
    assert_eq!(cache.validator().stats().signature_verifications, 1);

    // At `exp` the entry is gone; the leeway still accepts the token, but
    // every call verifies it again: nothing is cached past `exp`.
    clock.set(exp);
    cache.validate_with_keys(&token, parse).unwrap();
    cache.validate_with_keys(&token, parse).unwrap();
    assert_eq!(cache.validator().stats().signature_verifications, 3);
    clock.set(exp + 60);
    assert_eq!(
        cache.validate_with_keys(&token, parse).unwrap_err(),
        Rejection::Expired
    );
}

#[test]
fn rejections_are_not_cached() {
    let (rsa, _clock, cache, policy) = setup(100);
    let wrong = rsa.token(&claims_with(json!({"aud": "https://other.example.com"})));
    for _ in 0..3 {
        assert_eq!(
            cache
                .validate_with_keys(&wrong, |_| policy.parse_scopes(""))
                .unwrap_err(),
            Rejection::WrongAudience
        );
    }
    assert_eq!(cache.stats().entries, 0);
    assert_eq!(
        cache
            .validate_with_keys(&"a".repeat(100_000), |_| policy.parse_scopes(""))
            .unwrap_err(),
        Rejection::TooLarge
    );
}

#[test]
fn the_cache_is_bounded_and_evicts_the_soonest_to_expire() {
    let (rsa, clock, cache, policy) = setup(2);
    let tokens: Vec<String> = [300, 100, 200]
        .into_iter()
        .map(|ttl| rsa.token(&claims_with(json!({"exp": NOW + ttl}))))
        .collect();
    for token in &tokens {
        cache
            .validate_with_keys(token, |_| policy.parse_scopes(""))
            .unwrap();
    }
    assert_eq!(cache.stats().entries, 2);
    let before = cache.validator().stats().signature_verifications;
    // The +100 token was evicted; the other two are hits.
    cache
        .validate_with_keys(&tokens[0], |_| policy.parse_scopes(""))
        .unwrap();
    cache
        .validate_with_keys(&tokens[2], |_| policy.parse_scopes(""))
        .unwrap();
    assert_eq!(cache.validator().stats().signature_verifications, before);

    // Expired entries make room first.
    clock.set(NOW + 250);
    let fresh = rsa.token(&claims_with(json!({"exp": NOW + 1000})));
    cache
        .validate_with_keys(&fresh, |_| policy.parse_scopes(""))
        .unwrap();
    cache
        .validate_with_keys(&tokens[0], |_| policy.parse_scopes(""))
        .unwrap();
    assert_eq!(
        cache.validator().stats().signature_verifications,
        before + 1
    );

    // Capacity 0 caches nothing.
    let (rsa, _clock, none, policy) = setup(0);
    let token = rsa.token(&claims());
    none.validate_with_keys(&token, |_| policy.parse_scopes(""))
        .unwrap();
    none.validate_with_keys(&token, |_| policy.parse_scopes(""))
        .unwrap();
    assert_eq!(none.validator().stats().signature_verifications, 2);
    cache.clear();
    assert_eq!(cache.stats().entries, 0);
}

/// Conditions on `claim.NAME` read the cached principal's claims: each
/// token's own (the key is the whole token, so two tokens that differ in a
/// custom claim only are two entries), kept once and shared by every hit.
#[test]
fn a_cached_principal_keeps_its_own_claims_shared_by_every_hit() {
    let (rsa, _clock, cache, policy) = setup(100);
    let parse =
        |p: &mcp_policy_token::Principal| policy.scope_set(p.scopes.iter().map(String::as_str));
    let acme = rsa.token(&claims_with(
        json!({"tenant": "acme", "groups": ["dev", "ops"], "org": {"id": 7}}),
    ));
    let globex = rsa.token(&claims_with(json!({"tenant": "globex"})));
    let first = cache.validate_with_keys(&acme, parse).unwrap();
    let other = cache.validate_with_keys(&globex, parse).unwrap();
    let again = cache.validate_with_keys(&acme, parse).unwrap();
    assert!(Arc::ptr_eq(&first.principal, &again.principal));
    assert!(!Arc::ptr_eq(&first.principal, &other.principal));
    assert_eq!(first.principal.subject, other.principal.subject);
    assert_eq!(first.principal.claims["tenant"], "acme");
    assert_eq!(first.principal.claims["groups"], json!(["dev", "ops"]));
    assert_eq!(first.principal.claims["org"], json!({"id": 7}));
    assert_eq!(other.principal.claims["tenant"], "globex");
    assert!(!other.principal.claims.contains_key("groups"));
    assert_eq!(cache.stats().entries, 2);
}

/// What an entry holds is bounded by the token's size: a token whose
/// claims pass `max_token_bytes` is refused unread, and never cached.
#[test]
fn claims_past_the_token_size_limit_are_never_cached() {
    let (rsa, _clock, cache, policy) = setup(100);
    let limit = cache.validator().config().max_token_bytes;
    let huge = rsa.token(&claims_with(json!({"tenant": "x".repeat(limit)})));
    assert!(huge.len() > limit);
    assert_eq!(
        cache
            .validate_with_keys(&huge, |_| policy.parse_scopes(""))
            .unwrap_err(),
        Rejection::TooLarge
    );
    assert_eq!(cache.stats().entries, 0);
    // Just under the limit: accepted and cached, every claim kept.
    let mut padding = limit;
    let fits = loop {
        let token = rsa.token(&claims_with(json!({"tenant": "x".repeat(padding)})));
        if token.len() <= limit {
            break token;
        }
        padding -= (token.len() - limit).div_ceil(2).max(1);
    };
    let verified = cache
        .validate_with_keys(&fits, |_| policy.parse_scopes(""))
        .unwrap();
    assert_eq!(
        verified.principal.claims["tenant"].as_str().unwrap().len(),
        padding
    );
    assert_eq!(cache.stats().entries, 1);
}
