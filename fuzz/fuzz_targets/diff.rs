//! Fuzzes the semantic diff and the access matrix on real policies: two
//! `.mcppolicy` sources separated by `\n----\n`, compiled, then compared
//! (`diff`) and tabulated (`matrix`), every answer checked against the
//! tables' own decisions. The checks live in `src/diff_body.rs`, which
//! `crates/sim/tests/fuzz_corpus.rs` runs over the seed corpus in CI.

#![no_main]

// Only `check_bytes` is used here; the test reads the rest.
#[allow(dead_code)]
#[path = "../src/diff_body.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = body::check_bytes(data);
});
