//! The diagnostics corpus: one broken policy per mistake in
//! `tests/diagnostics/`, named `<code>[-variant].mcppolicy`. Each file must
//! produce its code first, and its rendered report is a reviewed snapshot.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use mcp_policy_lang::{Code, compile_source};
use miette::{GraphicalReportHandler, GraphicalTheme};

fn render(path: &Path, source: &str) -> String {
    let file = format!(
        "tests/diagnostics/{}",
        path.file_name().unwrap().to_string_lossy()
    );
    let handler =
        GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor()).with_width(100);
    let mut out = String::new();
    for diagnostic in compile_source(source).diagnostics {
        handler
            .render_report(&mut out, &diagnostic.report(&file, source))
            .unwrap();
        out.push('\n');
    }
    out
}

fn expected_code(path: &Path) -> String {
    let stem = path.file_stem().unwrap().to_string_lossy();
    format!("mcp_policy::{}", stem.split('-').next().unwrap())
}

#[test]
fn corpus_snapshots() {
    insta::glob!("../../tests/diagnostics", "*.mcppolicy", |path| {
        let source = std::fs::read_to_string(path).unwrap();
        let compilation = compile_source(&source);
        assert!(compilation.table.is_none(), "{} compiled", path.display());
        let first = compilation
            .diagnostics
            .first()
            .expect("at least one diagnostic");
        assert_eq!(
            first.code.as_str(),
            expected_code(path),
            "{}",
            path.display()
        );
        for diagnostic in &compilation.diagnostics {
            assert!(diagnostic.span().end <= source.len());
            assert!(
                !diagnostic.labels.is_empty(),
                "{diagnostic:?} points nowhere"
            );
        }
        insta::assert_snapshot!(render(path, &source));
    });
}

#[test]
fn corpus_covers_every_code() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/diagnostics");
    let files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| expected_code(&entry.unwrap().path()))
        .collect();
    // No input makes an internal error: that is what the code means. A
    // table that does not load is not source: the CLI's tests cover it.
    for code in Code::ALL
        .into_iter()
        .filter(|code| !matches!(code, Code::Internal | Code::InvalidArtifact))
    {
        assert!(
            files.contains(&code.as_str().to_owned()),
            "no corpus file for {code}"
        );
    }
}

#[test]
fn several_errors_are_all_reported() {
    let source = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/diagnostics/syntax-several-errors.mcppolicy"),
    )
    .unwrap();
    assert_eq!(compile_source(&source).diagnostics.len(), 3);
}

#[test]
fn the_examples_are_clean() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "mcppolicy") {
            let compilation = compile_source(&std::fs::read_to_string(&path).unwrap());
            assert!(
                compilation.diagnostics.is_empty(),
                "{}: {:#?}",
                path.display(),
                compilation.diagnostics
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 3,
        "expected at least three example policies, found {checked}"
    );
}

/// The example, exactly as written there (its `implies` column is
/// off by one): accepted. examples/github.mcppolicy is that policy with its
/// repository tools confined to one organisation since: the same rules but
/// for those five, which the example narrows with conditions.
#[test]
fn the_github_example_is_accepted_verbatim() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let verbatim = std::fs::read_to_string(root.join("tests/verbatim/github.mcppolicy")).unwrap();
    let example = std::fs::read_to_string(root.join("examples/github.mcppolicy")).unwrap();
    let verbatim = compile_source(&verbatim);
    assert!(
        verbatim.diagnostics.is_empty(),
        "{:#?}",
        verbatim.diagnostics
    );
    let texts = |source: mcp_policy_lang::Compilation| -> std::collections::BTreeSet<String> {
        let table = source.table.unwrap();
        table.rules().iter().map(|rule| rule.text.clone()).collect()
    };
    let example = texts(compile_source(&example));
    let verbatim = texts(verbatim);
    let rewritten: Vec<&str> = verbatim.difference(&example).map(String::as_str).collect();
    assert_eq!(
        rewritten,
        [
            "tool close_issue requires all_of(mcp:write, github:issues)",
            "tool create_issue requires any_of(mcp:write, github:issues)",
            "tool create_pr_draft requires any_of(mcp:write, github:repos)",
            "tool get_file_content requires any_of(mcp:read, github:repos)",
            "tool list_issues requires any_of(mcp:read, github:issues)",
        ]
    );
}
