//! Token validation per algorithm, and the verified-token cache against
//! validating the same token again, in the same run. Real tokens, signed in
//! the setup with the test keys (tests/keys), validated at the tests' fixed
//! "now". docs/PERFORMANCE.md ("Runtime checkers") reports the ratios.
//!
//! `cargo bench -p mcp-policy-token --bench validate` measures;
//! `cargo test -p mcp-policy-token --benches` runs each bench once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

// The tests' keys and signing code, shared rather than copied.
#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use common::{TestKey, claims, config, jwks_of};
use criterion::{Criterion, criterion_group, criterion_main};
use mcp_policy_token::{KeySource, TokenCache, Validator};
use serde_json::json;

fn validate(c: &mut Criterion) {
    let rsa = TestKey::rsa("rsa-1.pem", "rsa-1");
    let ec = TestKey::ec("ec-1");
    let ed = TestKey::ed("ed-1");
    let validator =
        Arc::new(Validator::new(config(KeySource::Jwks(jwks_of(&[&rsa, &ec, &ed])))).unwrap());
    let claims = claims();
    let tokens: Vec<(&str, String)> = [
        (&rsa, "RS256"),
        (&rsa, "PS256"),
        (&ec, "ES256"),
        (&ed, "EdDSA"),
    ]
    .into_iter()
    .map(|(key, alg)| {
        let token = key.token_with(
            &json!({"alg": alg, "typ": "at+jwt", "kid": key.kid}),
            &claims,
        );
        // Outside the timings: every token is valid, by the algorithm it names.
        let principal = validator
            .validate_with_keys(&token)
            .unwrap_or_else(|r| panic!("{alg}: {r}"));
        assert_eq!(principal.algorithm.as_str(), alg);
        (alg, token)
    })
    .collect();

    // Parse, key selection by `kid`, signature, claims: the whole check.
    let mut group = c.benchmark_group("validate");
    for (alg, token) in &tokens {
        group.bench_function(*alg, |b| {
            b.iter(|| {
                black_box(&validator)
                    .validate_with_keys(black_box(token))
                    .unwrap()
                    .expires_at
            });
        });
    }
    group.finish();

    // The same token, validated again against looked up: the cache is
    // filled before the timings, so every iteration of `cached_*` is a hit
    // (a SHA-256 of the token and a map lookup).
    let cache: TokenCache<()> = TokenCache::new(Arc::clone(&validator), 1_000);
    let mut group = c.benchmark_group("cache");
    for (alg, token) in tokens
        .iter()
        .filter(|(alg, _)| ["RS256", "ES256"].contains(alg))
    {
        cache.validate_with_keys(token, |_| ()).unwrap();
        let verified = validator.stats().signature_verifications;
        group.bench_function(format!("uncached_{alg}"), |b| {
            b.iter(|| {
                black_box(&validator)
                    .validate_with_keys(black_box(token))
                    .unwrap()
                    .expires_at
            });
        });
        group.bench_function(format!("cached_{alg}"), |b| {
            b.iter(|| {
                black_box(&cache)
                    .validate_with_keys(black_box(token), |_| panic!("a miss in the cached bench"))
                    .unwrap()
                    .principal
                    .expires_at
            });
        });
        // The uncached bench verified; the cached one must not have.
        assert!(validator.stats().signature_verifications > verified);
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // Ten benches; this keeps a full run under a minute on two cores.
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = validate
}
criterion_main!(benches);
