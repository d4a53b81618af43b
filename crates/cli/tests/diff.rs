//! `mcp-policy diff` and `mcp-policy matrix` on the examples, as users run them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{json, mcp_policy, stderr, stdout};

const OLD: &str = "examples/github.mcppolicy";
const NEXT: &str = "crates/cli/tests/data/diff/github-next.mcppolicy";
const REORDERED: &str = "crates/cli/tests/data/diff/github-reordered.mcppolicy";

#[test]
fn diff_human() {
    let output = mcp_policy(&["diff", OLD, NEXT]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    insta::assert_snapshot!(stdout(&output));
}

#[test]
fn diff_markdown() {
    let output = mcp_policy(&["diff", OLD, NEXT, "--format", "markdown"]);
    assert_eq!(output.status.code(), Some(0));
    insta::assert_snapshot!(stdout(&output));
}

#[test]
fn diff_json() {
    let output = mcp_policy(&["diff", OLD, NEXT, "--format", "json"]);
    assert_eq!(output.status.code(), Some(0));
    let value = json(&output);
    assert_eq!(value["summary"]["widened"], 3);
    insta::assert_json_snapshot!(value);
}

#[test]
fn reordering_rewriting_and_renaming_an_unused_scope_change_nothing() {
    for args in [[OLD, REORDERED], [REORDERED, OLD], [OLD, OLD]] {
        let output = mcp_policy(&["diff", args[0], args[1], "--fail-on", "any"]);
        assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
        assert!(stdout(&output).contains("no access changes"));
        let output = mcp_policy(&["diff", args[0], args[1], "--format", "json"]);
        assert_eq!(json(&output)["changes"], serde_json::json!([]));
    }
}

#[test]
fn fail_on_gates_by_direction() {
    let widened = mcp_policy(&["diff", OLD, NEXT, "--fail-on", "widened"]);
    assert_eq!(widened.status.code(), Some(1));
    assert!(stderr(&widened).contains("access widens"));
    let narrowed = mcp_policy(&["diff", OLD, NEXT, "--fail-on", "narrowed"]);
    assert_eq!(narrowed.status.code(), Some(1));

    // Taking a scope away from one tool only narrows.
    let dir = std::env::temp_dir().join(format!("mcp-policy-diff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let narrower = dir.join("narrower.mcppolicy");
    let source = std::fs::read_to_string(common::root().join(OLD))
        .unwrap()
        .replace(
            r#"tool list_issues            requires any_of(mcp:read, all_of(github:issues, arg.repo matches "acme/*"))"#,
            "tool list_issues         requires mcp:read",
        );
    std::fs::write(&narrower, source).unwrap();
    let narrower = narrower.to_str().unwrap();
    let output = mcp_policy(&["diff", OLD, narrower, "--fail-on", "widened"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).contains("narrowed: tool list_issues"));
    assert!(stdout(&output).contains("loses   github:issues"));
    let output = mcp_policy(&["diff", OLD, narrower, "--fail-on", "narrowed"]);
    assert_eq!(output.status.code(), Some(1));
    // And the other way round, only widens.
    let output = mcp_policy(&["diff", narrower, OLD, "--fail-on", "narrowed"]);
    assert_eq!(output.status.code(), Some(0));
    let output = mcp_policy(&["diff", narrower, OLD, "--fail-on", "widened"]);
    assert_eq!(output.status.code(), Some(1));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn diff_of_a_broken_policy_shows_its_errors() {
    let output = mcp_policy(&["diff", OLD, "tests/diagnostics/unknown_scope.mcppolicy"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("unknown"), "{}", stderr(&output));
    let output = mcp_policy(&["diff", OLD, "no/such/file.mcppolicy"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn diff_compares_compiled_tables_too() {
    let dir = std::env::temp_dir().join(format!("mcp-policy-diff-table-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let table = dir.join("github.json");
    let output = mcp_policy(&["compile", OLD, "-o", table.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0));
    let output = mcp_policy(&["diff", table.to_str().unwrap(), REORDERED]);
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).contains("no access changes"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn matrix_markdown_of_every_example() {
    for example in ["github", "filesystem", "database"] {
        let output = mcp_policy(&["matrix", &format!("examples/{example}.mcppolicy")]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        insta::assert_snapshot!(format!("matrix_{example}"), stdout(&output));
    }
}

#[test]
fn matrix_json() {
    let output = mcp_policy(&["matrix", OLD, "--format", "json"]);
    assert_eq!(output.status.code(), Some(0));
    let value = json(&output);
    let close = value["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["target"] == "close_issue")
        .unwrap();
    assert_eq!(close["single_scopes"], serde_json::json!([]));
    // Any repository for an admin with the issue scope; acme's for a writer.
    assert_eq!(
        close["combinations"],
        serde_json::json!([["mcp:admin", "github:issues"]])
    );
    let in_acme = &close["conditions"][0];
    assert_eq!(
        in_acme["when"],
        serde_json::json!([r#"arg.repo matches "acme/*""#])
    );
    assert!(
        in_acme["grants"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!(["github:issues", "mcp:write"])),
        "{in_acme}"
    );
    insta::assert_json_snapshot!(value);
}

#[test]
fn a_renamed_scope_is_a_change_and_a_declared_rename_explains_it() {
    let dir = std::env::temp_dir().join(format!("mcp-policy-diff-rename-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let renamed = dir.join("renamed.mcppolicy");
    let source = std::fs::read_to_string(common::root().join(OLD))
        .unwrap()
        .replace("github:issues", "github:tickets");
    std::fs::write(&renamed, source).unwrap();
    let renamed = renamed.to_str().unwrap();

    // Tokens carry names: without the authorization server renaming too,
    // `github:issues` holders lose access and `github:tickets` holders gain it.
    let output = mcp_policy(&["diff", OLD, renamed, "--fail-on", "any"]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(text.contains("changed: tool close_issue"), "{text}");
    assert!(text.contains(
        "hint: renaming github:issues → github:tickets explains every change; \
         if the authorization server renames it too, compare with \
         `--rename github:issues=github:tickets`"
    ));
    let json = json(&mcp_policy(&["diff", OLD, renamed, "--format", "json"]));
    assert_eq!(
        json["suggested_renames"],
        serde_json::json!({
            "renames": [{"old": "github:issues", "new": "github:tickets"}],
            "remaining_changes": 0
        })
    );

    let args = [
        "diff",
        OLD,
        renamed,
        "--rename",
        "github:issues=github:tickets",
    ];
    let output = mcp_policy(&[&args[..], &["--fail-on", "any"]].concat());
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    insta::assert_snapshot!(stdout(&output).replace(renamed, "RENAMED"), @r"
    policy diff: examples/github.mcppolicy → RENAMED
    scopes renamed: github:issues → github:tickets
    no access changes: both policies decide every request of every token alike
    ");

    // A rename of a scope the old policy does not declare is a usage error.
    let output = mcp_policy(&[
        "diff",
        OLD,
        renamed,
        "--rename",
        "github:isues=github:tickets",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output)
            .contains("cannot rename `github:isues`: the old policy declares no such scope")
    );
    let output = mcp_policy(&["diff", OLD, renamed, "--rename", "github:issues"]);
    assert_eq!(output.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `examples/README.md` shows each example's access matrix as `mcp-policy
/// matrix` prints it; regenerate with
/// `UPDATE_DOCS=1 cargo test -p mcp-policy-cli --test diff`.
#[test]
fn the_examples_readme_shows_their_current_matrices() {
    let mut expected = String::from(
        "# Example policies\n\n\
         <!-- Generated by `mcp-policy matrix` for each policy; a test keeps it in sync.\n     \
         Regenerate with `UPDATE_DOCS=1 cargo test -p mcp-policy-cli --test diff`. -->\n\n\
         Three policies for three kinds of MCP server, each with its tests \
         (`*.mcppolicy.test.yaml`, run by `mcp-policy test examples/`). \
         `github-server/` runs the first behind the HTTP layer; `traces/` holds a \
         recorded trace for `mcp-policy simulate`.\n",
    );
    for example in ["github", "filesystem", "database"] {
        let output = mcp_policy(&["matrix", &format!("examples/{example}.mcppolicy")]);
        assert_eq!(output.status.code(), Some(0));
        expected.push_str(&format!(
            "\n## [`{example}.mcppolicy`]({example}.mcppolicy)\n\n"
        ));
        expected.push_str(&stdout(&output));
    }
    let path = common::root().join("examples/README.md");
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &expected).unwrap();
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        actual == expected,
        "examples/README.md is out of date: run `UPDATE_DOCS=1 cargo test -p mcp-policy-cli --test diff`"
    );
}

#[test]
fn matrix_shows_a_rule_a_deny_takes_every_name_from_as_granting_nothing() {
    let dir = std::env::temp_dir().join(format!("mcp-policy-matrix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("shadowed.mcppolicy");
    std::fs::write(
        &policy,
        "scope r level read\n\
         tool debug_dump_all requires authenticated\n\
         tool \"debug_*\" requires r\n\
         deny tool \"debug_dump_*\"\n",
    )
    .unwrap();
    let output = mcp_policy(&["matrix", policy.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    // What the server decides: denied, whatever the rule itself says.
    assert!(
        text.contains(
            "| `debug_dump_all` |  | nothing: `deny tool \"debug_dump_*\"` (line 4) decides it |"
        ),
        "{text}"
    );
    assert!(text.contains("| `debug_*` | ✓ |  |"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_tool_opened_to_every_token_and_control_characters_read_plainly() {
    let dir = std::env::temp_dir().join(format!("mcp-policy-diff-open-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let old = dir.join("old.mcppolicy");
    let new = dir.join("new.mcppolicy");
    std::fs::write(&old, "scope r level read\n").unwrap();
    std::fs::write(
        &new,
        "scope r level read\ntool \"t\u{1b}[2J\" requires authenticated\n",
    )
    .unwrap();
    let output = mcp_policy(&["diff", old.to_str().unwrap(), new.to_str().unwrap()]);
    let text = stdout(&output);
    assert!(text.contains("added: tool t\\u{1b}[2J"), "{text}");
    assert!(text.contains("  gains   any valid token\n"), "{text}");
    assert!(!text.contains('\u{1b}'));
    let output = mcp_policy(&[
        "diff",
        old.to_str().unwrap(),
        new.to_str().unwrap(),
        "--format",
        "markdown",
    ]);
    assert!(
        stdout(&output).contains("| any valid token |  |"),
        "{}",
        stdout(&output)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn policies_too_entangled_to_compare_are_refused_not_approximated() {
    let dir = std::env::temp_dir().join(format!("mcp-policy-diff-limits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("entangled.mcppolicy");
    let mut source = String::from("scope r level read\ntool \"*\" requires r\n");
    for c in ('a'..='z').chain('A'..='Z').chain('0'..='9').take(60) {
        source.push_str(&format!("deny tool \"*{c}*\"\n"));
    }
    std::fs::write(&policy, source).unwrap();
    let policy = policy.to_str().unwrap();
    let output = mcp_policy(&["diff", policy, policy, "--fail-on", "widened"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output)
            .contains("error: the tool targets overlap in too many ways to compare exhaustively"),
        "{}",
        stderr(&output)
    );
    assert!(stdout(&output).is_empty());
    let output = mcp_policy(&["matrix", policy]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("the tool targets are too entangled to tell which rules decide"),
        "{}",
        stderr(&output)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
