//! Behaviour fixes of the `check`/`lint` and `fmt` commands: lint levels
//! by full code, `fmt` and CRLF, `fmt --check` diffs, the empty-policy
//! warning, and `--tools` files of the wrong shape.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::PathBuf;

use common::*;

fn scratch(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mcp-policy-behaviour-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

const UNUSED: &str =
    "scope mcp:read level read\nscope mcp:export level read\ntool list_users requires mcp:read\n";

#[test]
fn levels_take_the_full_code_as_printed() {
    let path = scratch("unused.mcppolicy", UNUSED);
    let path = path.to_str().unwrap();
    let run = |flags: &[&str]| {
        let mut args = vec!["lint", path];
        args.extend_from_slice(flags);
        mcp_policy(&args)
    };
    assert_eq!(run(&[]).status.code(), Some(0));
    let denied = run(&["-D", "mcp_policy::lint::unused_scope"]);
    assert_eq!(denied.status.code(), Some(1), "{}", stderr(&denied));
    assert!(
        stderr(&denied).contains("× scope `mcp:export`"),
        "{}",
        stderr(&denied)
    );
    assert_eq!(
        run(&[
            "--deny",
            "unused_scope",
            "-A",
            "mcp_policy::lint::unused_scope"
        ])
        .status
        .code(),
        Some(0)
    );
    let allowed = run(&["-A", "mcp_policy::lint::unused_scope"]);
    assert!(
        !stderr(&allowed).contains("unused_scope"),
        "{}",
        stderr(&allowed)
    );
    assert_eq!(
        run(&["-W", "mcp_policy::lint::unused_scope", "-D", "warnings"])
            .status
            .code(),
        Some(1)
    );
    // A code that is no lint's is still refused, with a suggestion.
    let typo = run(&["-D", "mcp_policy::lint::unused_scop"]);
    assert_eq!(typo.status.code(), Some(2));
    assert!(
        stderr(&typo).contains(
            "unknown lint `mcp_policy::lint::unused_scop`; did you mean `mcp_policy::lint::unused_scope`?"
        ),
        "{}",
        stderr(&typo)
    );
    // An error code is no lint.
    assert_eq!(
        run(&["-D", "mcp_policy::unknown_scope"]).status.code(),
        Some(2)
    );
}

#[test]
fn fmt_keeps_crlf_line_ends() {
    let path = scratch(
        "crlf.mcppolicy",
        "default   deny\r\nscope mcp:read level read\r\n# why\r\ntool a requires mcp:read\r\n",
    );
    let output = mcp_policy(&["fmt", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let formatted = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        formatted,
        "default deny\r\nscope mcp:read  level read\r\n# why\r\ntool a  requires mcp:read\r\n"
    );
    // Formatted once, nothing left to change.
    let check = mcp_policy(&["fmt", "--check", path.to_str().unwrap()]);
    assert_eq!(check.status.code(), Some(0), "{}", stdout(&check));
    assert_eq!(stdout(&check), "");
}

#[test]
fn fmt_check_prints_a_unified_diff() {
    let messy = scratch(
        "messy.mcppolicy",
        "policy \"p\"\ndefault   deny\nscope mcp:read level read\nscope mcp:admin level admin implies mcp:read\n\n\n\ntool list_users requires any_of(\n  mcp:read,\n)\ntool delete_user requires mcp:admin\n",
    );
    let clean = scratch("clean.mcppolicy", "default deny\n");
    let output = mcp_policy(&[
        "fmt",
        "--check",
        messy.to_str().unwrap(),
        clean.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let dir = messy.parent().unwrap().to_str().unwrap().to_owned();
    insta::assert_snapshot!(stdout(&output).replace(&dir, "DIR"));
    assert_eq!(stderr(&output), "checked 2 files: 1 to reformat\n");
    // Nothing was rewritten.
    assert!(
        std::fs::read_to_string(&messy)
            .unwrap()
            .contains("default   deny")
    );
}

#[test]
fn an_empty_policy_is_warned_about() {
    let path = scratch("empty.mcppolicy", "policy \"nothing\"\ndefault deny\n");
    let output = mcp_policy(&["check", path.to_str().unwrap(), "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let value = json(&output);
    assert_eq!(
        value["diagnostics"][0]["code"],
        "mcp_policy::lint::empty_policy"
    );
    assert_eq!(value["diagnostics"][0]["severity"], "warning");
    assert_eq!(
        value["diagnostics"][0]["message"],
        "the policy has no rules: it denies every call to every token"
    );
    // A zero-byte file too, and its report renders.
    let empty = scratch("zero.mcppolicy", "");
    let output = mcp_policy(&["check", empty.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0));
    assert!(
        stderr(&output).contains("⚠ the policy has no rules"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn drop_table_requires_write_is_an_error() {
    let path = scratch(
        "pg.mcppolicy",
        "scope pg:read level read\nscope pg:write level write implies pg:read\ntool query requires pg:read\ntool drop_table requires pg:write\n",
    );
    let output = mcp_policy(&["check", path.to_str().unwrap(), "--format", "json"]);
    assert_eq!(output.status.code(), Some(1));
    let value = json(&output);
    assert_eq!(
        value["diagnostics"][0]["code"],
        "mcp_policy::lint::destructive_reachable"
    );
}

#[test]
fn a_tools_file_of_the_wrong_shape_says_where() {
    let policy = scratch("tools-policy.mcppolicy", UNUSED);
    let mut report = String::new();
    for (name, json) in [
        ("array.json", "[\n  {\"name\": \"list_users\"}\n]\n"),
        (
            "no-name.json",
            "{\n  \"tools\": [\n    {\"name\": \"list_users\"},\n    {\"title\": \"Export\"}\n  ]\n}\n",
        ),
        (
            "no-tools.json",
            "\n\n  {\"jsonrpc\": \"2.0\", \"id\": 1, \"result\": {\"tool\": []}}\n",
        ),
        ("not-a-list.json", "{\"tools\": {\"list_users\": {}}}\n"),
        ("truncated.json", "{\"tools\": [{\"name\": \"list_users\"}"),
    ] {
        let tools = scratch(name, json);
        let output = mcp_policy(&[
            "check",
            policy.to_str().unwrap(),
            "--tools",
            tools.to_str().unwrap(),
        ]);
        assert_eq!(output.status.code(), Some(2), "{name}");
        let dir = tools.parent().unwrap().to_str().unwrap().to_owned();
        report.push_str(&stderr(&output).replace(&dir, "DIR"));
    }
    assert!(
        !report.contains("untagged") && !report.contains("Wire"),
        "{report}"
    );
    insta::assert_snapshot!(report);
}
