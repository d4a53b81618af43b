#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Runs the body of the `parse_compile` fuzz target over its seed corpus,
//! so plain `cargo test` (on stable, in CI) checks the same properties the
//! fuzzer does on every file of `fuzz/corpus/parse_compile/`.

#[path = "../../fuzz/src/body.rs"]
mod body;

use std::path::PathBuf;

fn repo_file(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}

#[test]
fn fuzz_body_holds_on_the_seed_corpus() {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(repo_file("fuzz/corpus/parse_compile"))
        .expect("fuzz/corpus/parse_compile exists")
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    paths.sort();

    let (mut utf8, mut compiled, mut diagnosed, mut decisions) = (0, 0, 0, 0);
    for path in &paths {
        let bytes = std::fs::read(path).expect("readable corpus file");
        // The fuzz target skips bytes that are not UTF-8; so does this.
        let Ok(source) = std::str::from_utf8(&bytes) else {
            continue;
        };
        let name = path.file_name().unwrap().to_string_lossy();
        // Shown when a check panics: which file it was.
        eprintln!("checking {}", path.display());
        let outcome = body::check_source(&name, source);
        eprintln!("  {outcome:?}");
        utf8 += 1;
        compiled += usize::from(outcome.compiled);
        diagnosed += usize::from(outcome.diagnostics > 0);
        decisions += outcome.decisions;
    }

    // Not vacuous: the corpus is there, and it reaches both the table
    // checks and the diagnostic checks.
    assert!(paths.len() >= 20, "only {} corpus files", paths.len());
    assert!(utf8 >= 20, "only {utf8} UTF-8 corpus files");
    assert!(compiled >= 8, "only {compiled} files compiled to a table");
    assert!(diagnosed >= 8, "only {diagnosed} files had diagnostics");
    assert!(decisions >= 1000, "only {decisions} decisions checked");
}

#[test]
fn fuzz_body_runs_the_example_and_skips_non_utf8() {
    let example = std::fs::read_to_string(repo_file("examples/github.mcppolicy")).unwrap();
    let outcome = body::check_source("github.mcppolicy", &example);
    assert!(outcome.compiled, "{outcome:?}");
    assert!(outcome.decisions > 0, "{outcome:?}");

    let outcome = body::check_source("t.mcppolicy", "tool x requires nope\n");
    assert!(!outcome.compiled && outcome.diagnostics == 1, "{outcome:?}");

    assert_eq!(body::check_bytes(b"\xff\xfe"), None);
}

/// Inputs the fuzzer found that took exponential time (an unclosed nested
/// `any_of(` was retried as an unknown call at every level; see
/// fuzz/README.md): each must compile within a few seconds.
#[test]
fn fuzz_regressions_compile_quickly() {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(repo_file("fuzz/regressions/parse_compile"))
        .expect("fuzz/regressions/parse_compile exists")
        .map(|entry| entry.expect("readable directory entry").path())
        .collect();
    paths.sort();
    assert!(!paths.is_empty());
    for path in paths {
        let source = std::fs::read_to_string(&path).unwrap();
        let (done, finished) = std::sync::mpsc::channel();
        // A thread, so that a hang fails the test instead of stalling it.
        std::thread::spawn(move || {
            mcp_policy_lang::compile_source(&source);
            let _ = done.send(());
        });
        assert!(
            finished
                .recv_timeout(std::time::Duration::from_secs(5))
                .is_ok(),
            "{} did not compile within 5 s",
            path.display()
        );
    }
}
