#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Runs the bodies of the `test_file` and `diff` fuzz targets over their
//! seed corpora (and the inputs the fuzzers found), so plain `cargo test`
//! (on stable, in CI) checks the same properties the fuzzers do on every
//! file of `fuzz/corpus/test_file/`, `fuzz/corpus/diff/` and
//! `fuzz/regressions/{test_file,diff}/`.

#[path = "../../../fuzz/src/test_file_body.rs"]
mod test_file_body;

#[path = "../../../fuzz/src/diff_body.rs"]
mod diff_body;

use std::path::{Path, PathBuf};

fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

/// The files of a corpus directory, sorted; none when it does not exist
/// (a regressions directory before the fuzzer found anything).
fn files(relative: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(repo_file(relative)) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    paths.sort();
    paths
}

#[test]
fn test_file_body_holds_on_the_seed_corpus() {
    let seeds = files("fuzz/corpus/test_file");
    let regressions = files("fuzz/regressions/test_file");
    let (mut parsed, mut refused, mut cases, mut diagnostics) = (0, 0, 0, 0);
    for path in seeds.iter().chain(&regressions) {
        let bytes = std::fs::read(path).expect("readable corpus file");
        // Shown when a check panics: which file it was.
        eprintln!("checking {}", path.display());
        let Some(outcome) = test_file_body::check_bytes(&bytes) else {
            continue;
        };
        eprintln!("  {outcome:?}");
        parsed += usize::from(outcome.parsed);
        refused += usize::from(!outcome.parsed);
        cases += outcome.cases;
        diagnostics += outcome.diagnostics;
    }

    // Not vacuous: the corpus is there, and it reaches both the accepted
    // files' checks and the diagnostics' checks.
    assert!(seeds.len() >= 20, "only {} corpus files", seeds.len());
    assert!(parsed >= 5, "only {parsed} files were read");
    assert!(refused >= 10, "only {refused} files were refused");
    assert!(cases >= 50, "only {cases} tests checked");
    assert!(diagnostics >= 20, "only {diagnostics} diagnostics checked");
}

#[test]
fn diff_body_holds_on_the_seed_corpus() {
    let seeds = files("fuzz/corpus/diff");
    let regressions = files("fuzz/regressions/diff");
    let (mut pairs, mut diffed, mut changes, mut sets, mut rows) = (0, 0, 0, 0, 0);
    for path in seeds.iter().chain(&regressions) {
        let bytes = std::fs::read(path).expect("readable corpus file");
        eprintln!("checking {}", path.display());
        let Some(outcome) = diff_body::check_bytes(&bytes) else {
            continue;
        };
        eprintln!("  {outcome:?}");
        pairs += usize::from(outcome.compiled == 2);
        diffed += usize::from(outcome.diffed);
        changes += outcome.changes;
        sets += outcome.sets_checked;
        rows += outcome.rows_checked;
    }

    assert!(seeds.len() >= 15, "only {} corpus files", seeds.len());
    assert!(pairs >= 12, "only {pairs} inputs compiled on both sides");
    assert!(diffed >= 12, "only {diffed} pairs were compared");
    assert!(changes >= 30, "only {changes} changes checked");
    assert!(sets >= 50, "only {sets} gained or lost sets checked");
    assert!(rows >= 100, "only {rows} matrix rows checked");
}

#[test]
fn diff_body_reads_the_separator_and_skips_non_utf8() {
    let github = std::fs::read_to_string(repo_file("examples/github.mcppolicy")).unwrap();
    let next = std::fs::read_to_string(repo_file(
        "crates/cli/tests/data/diff/github-next.mcppolicy",
    ))
    .unwrap();
    let outcome = diff_body::check_input(&format!("{github}{}{next}", &diff_body::SEPARATOR[1..]));
    assert_eq!(outcome.compiled, 2, "{outcome:?}");
    assert!(outcome.diffed && outcome.changes > 0, "{outcome:?}");

    // Without a separator, the new policy is empty: everything is removed.
    let alone = diff_body::check_input(&github);
    assert!(alone.diffed && alone.changes > 0, "{alone:?}");

    let same = diff_body::check_pair(&github, &github);
    assert!(same.diffed && same.changes == 0, "{same:?}");

    assert_eq!(diff_body::check_bytes(b"\xff\n----\n"), None);
    assert_eq!(test_file_body::check_bytes(b"tests: \xff"), None);
}
