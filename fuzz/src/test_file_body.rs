//! The properties the `test_file` fuzz target checks on every input, shared
//! with `crates/sim/tests/fuzz_corpus.rs`, which runs them over the seed
//! corpus in CI:
//!
//! - `TestFile::parse` never panics, whatever the text;
//! - on error, there is at least one diagnostic, each with a message, and
//!   every label (primary and related) lies inside the text, on character
//!   boundaries (exactly what `Span::within` makes of it), and there is a
//!   primary one;
//! - on success, there is at least one test, every test names a principal
//!   of the file, principal names and test names are unique (else the
//!   file has a `duplicate_key` or `duplicate_test` error), the file keeps
//!   its text, and every test's `case_location` is a located place of it.

use mcp_policy_sim::suite::{Diagnostic, Span, TestFile};

/// What one input did, for the corpus test to show it is not vacuous.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub parsed: bool,
    pub diagnostics: usize,
    pub cases: usize,
}

/// The fuzz entry point: bytes that are not UTF-8 are not a test file (the
/// CLI reads it as a `String` first).
pub fn check_bytes(data: &[u8]) -> Option<Outcome> {
    let source = std::str::from_utf8(data).ok()?;
    Some(check_source(source))
}

/// Parses `source` as a test file and checks the result. Panics on the
/// first property that does not hold.
pub fn check_source(source: &str) -> Outcome {
    match TestFile::parse(source) {
        Err(diagnostics) => {
            assert!(
                !diagnostics.is_empty(),
                "an error without diagnostics for {source:?}"
            );
            for diagnostic in &diagnostics {
                check_diagnostic(source, diagnostic);
            }
            Outcome {
                parsed: false,
                diagnostics: diagnostics.len(),
                cases: 0,
            }
        }
        Ok(file) => {
            check_file(source, &file);
            Outcome {
                parsed: true,
                diagnostics: 0,
                cases: file.cases.len(),
            }
        }
    }
}

fn check_diagnostic(source: &str, diagnostic: &Diagnostic) {
    assert!(
        !diagnostic.message.is_empty(),
        "empty message: {diagnostic:?}"
    );
    assert!(
        diagnostic.primary().is_some(),
        "no primary label: {diagnostic:?}"
    );
    for label in &diagnostic.labels {
        check_location(source, label.span, &format!("{diagnostic:?}"));
    }
}

/// `at` is inside `source`, on character boundaries.
fn check_location(source: &str, at: Span, context: &str) {
    assert!(
        at.start <= at.end && at.end <= source.len(),
        "{at:?} outside the text ({} bytes): {context}\n{source:?}",
        source.len()
    );
    assert!(
        source.is_char_boundary(at.start) && source.is_char_boundary(at.end),
        "{at:?} splits a character: {context}\n{source:?}"
    );
    assert_eq!(
        Span::within(source, at.start, at.len()),
        at,
        "not a span of the text: {context}\n{source:?}"
    );
}

fn check_file(source: &str, file: &TestFile) {
    assert_eq!(file.source(), source, "the file does not keep its text");
    assert!(
        !file.cases.is_empty(),
        "a file without tests was accepted: {source:?}"
    );
    let mut principals = std::collections::HashSet::new();
    for principal in &file.principals {
        assert!(
            principals.insert(principal.name.as_str()),
            "principal `{}` accepted twice: {source:?}",
            principal.name
        );
    }
    let mut names = std::collections::HashSet::new();
    for (index, case) in file.cases.iter().enumerate() {
        assert!(
            case.principal < file.principals.len(),
            "test `{}` names principal {} of {}: {source:?}",
            case.name,
            case.principal,
            file.principals.len()
        );
        assert!(
            names.insert(case.name.as_str()),
            "test name `{}` accepted twice: {source:?}",
            case.name
        );
        check_location(
            source,
            file.case_location(index),
            &format!("case_location({index})"),
        );
    }
}
