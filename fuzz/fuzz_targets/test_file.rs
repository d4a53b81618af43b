//! Fuzzes the policy test file reader, `TestFile::parse`: it must never
//! panic, must explain every refusal with diagnostics located in the text,
//! and must only accept consistent files. The checks live in
//! `src/test_file_body.rs`, which `crates/sim/tests/fuzz_corpus.rs` runs
//! over the seed corpus in CI.

#![no_main]

// Only `check_bytes` is used here; the test reads the rest.
#[allow(dead_code)]
#[path = "../src/test_file_body.rs"]
mod body;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = body::check_bytes(data);
});
