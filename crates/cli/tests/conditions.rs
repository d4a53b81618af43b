//! `mcp-policy diff` and `mcp-policy matrix` on policies with conditions.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{json, mcp_policy, stderr, stdout};

const OLD: &str = "crates/cli/tests/data/diff/cond-old.mcppolicy";
const NEW: &str = "crates/cli/tests/data/diff/cond-new.mcppolicy";

#[test]
fn conditional_diff_human() {
    let output = mcp_policy(&["diff", OLD, NEW]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    insta::assert_snapshot!(stdout(&output));
}

#[test]
fn conditional_diff_markdown() {
    let output = mcp_policy(&["diff", OLD, NEW, "--format", "markdown"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    insta::assert_snapshot!(stdout(&output));
}

#[test]
fn conditional_diff_json() {
    let output = mcp_policy(&["diff", OLD, NEW, "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let value = json(&output);
    // search and read_file narrow, close_issue widens, set_org changes.
    assert_eq!(value["summary"]["narrowed"], 2);
    assert_eq!(value["summary"]["widened"], 1);
    assert_eq!(value["summary"]["changed"], 1);
    insta::assert_json_snapshot!(value);
}

#[test]
fn fail_on_widened_fails_on_widenings_and_changes_not_narrowings() {
    let output = mcp_policy(&["diff", OLD, NEW, "--fail-on", "widened"]);
    assert_eq!(output.status.code(), Some(1));
    // Only the bound tightened and a conditional deny added: narrowings.
    let dir = std::env::temp_dir().join(format!("mcp-policy-cond-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let old = std::fs::read_to_string(common::root().join(OLD)).unwrap();
    let narrowed = old.replace("arg.limit <= 100", "arg.limit <= 50")
        + "deny tool read_file when arg.path matches \"*.env\"\n";
    let path = dir.join("narrowed.mcppolicy");
    std::fs::write(&path, narrowed).unwrap();
    let output = mcp_policy(&["diff", OLD, path.to_str().unwrap(), "--fail-on", "widened"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let output = mcp_policy(&["diff", OLD, path.to_str().unwrap(), "--fail-on", "narrowed"]);
    assert_eq!(output.status.code(), Some(1));
    // A glob moved sideways is a change: it fails `widened` too.
    let sideways = old.replace("\"acme/*\"", "\"beta/*\"");
    std::fs::write(&path, sideways).unwrap();
    let output = mcp_policy(&["diff", OLD, path.to_str().unwrap(), "--fail-on", "widened"]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn conditional_matrix() {
    let output = mcp_policy(&["matrix", NEW]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    insta::assert_snapshot!(stdout(&output));
    let output = mcp_policy(&["matrix", NEW, "--format", "json"]);
    insta::assert_json_snapshot!("conditional_matrix_json", json(&output));
}
