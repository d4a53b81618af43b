//! Fuzzes the whole pipeline: parse, check, compile, then the table
//! (artifact round trip, `decide`, `explain`) and every diagnostic (spans,
//! miette rendering). The checks live in `src/body.rs`, which
//! `policy-lang/tests/fuzz_corpus.rs` runs over the seed corpus in CI.

#![no_main]

// Only `check_bytes` is used here; the test reads the rest.
#[allow(dead_code)]
#[path = "../src/body.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = body::check_bytes(data);
});
