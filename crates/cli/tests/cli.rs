//! The `mcp-policy` binary, run as CI and users run it: exit codes, JSON
//! shapes, and snapshots of what people read.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{json, mcp_policy, stderr, stdout};

use std::path::PathBuf;

#[test]
fn check_passes_on_every_example() {
    let output = mcp_policy(&[
        "check",
        "examples/github.mcppolicy",
        "examples/filesystem.mcppolicy",
        "examples/database.mcppolicy",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stderr(&output), "checked 3 files: 0 errors, 0 warnings\n");
}

#[test]
fn check_reports_errors_with_exit_code_1() {
    let output = mcp_policy(&["check", "tests/diagnostics/syntax-several-errors.mcppolicy"]);
    assert_eq!(output.status.code(), Some(1));
    insta::assert_snapshot!(stderr(&output));
}

#[test]
fn check_json_has_the_documented_shape() {
    let output = mcp_policy(&[
        "check",
        "--format",
        "json",
        "examples/github.mcppolicy",
        "tests/diagnostics/unknown_scope.mcppolicy",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let value = json(&output);
    let diagnostics = value["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), 1);
    let d = &diagnostics[0];
    assert_eq!(d["code"], "mcp_policy::unknown_scope");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["message"], "unknown scope `mcp:wirte`");
    assert_eq!(d["file"], "tests/diagnostics/unknown_scope.mcppolicy");
    assert_eq!(d["line"], 3);
    assert_eq!(d["column"], 29);
    assert_eq!(d["help"], "did you mean `mcp:write`?");
}

#[test]
fn check_exits_2_when_a_file_cannot_be_read() {
    let output = mcp_policy(&[
        "check",
        "examples/github.mcppolicy",
        "no/such/file.mcppolicy",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("cannot read `no/such/file.mcppolicy`"));
    assert!(
        stderr(&output)
            .ends_with("checked 1 file: 0 errors, 0 warnings; 1 file could not be read\n"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(mcp_policy(&["check"]).status.code(), Some(2));
    assert_eq!(mcp_policy(&["frobnicate"]).status.code(), Some(2));
    let both = mcp_policy(&[
        "explain",
        "examples/github.mcppolicy",
        "--tool",
        "a",
        "--prompt",
        "b",
    ]);
    assert_eq!(both.status.code(), Some(2));
    let neither = mcp_policy(&["explain", "examples/github.mcppolicy"]);
    assert_eq!(neither.status.code(), Some(2));
}

#[test]
fn compile_writes_a_table_that_explain_loads() {
    let dir = std::env::temp_dir().join(format!("mcp-policy-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let table = dir.join("github.table.json");
    let output = mcp_policy(&[
        "compile",
        "examples/github.mcppolicy",
        "-o",
        table.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let artifact: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&table).unwrap()).unwrap();
    assert_eq!(artifact["format"], "mcp-policy-table");
    // Version 3: the example has conditions.
    assert_eq!(artifact["version"], 3);
    assert_eq!(artifact["source"], "examples/github.mcppolicy");
    // The same decision from the artifact as from the source, conditions
    // included: in acme, only the issue scope is missing.
    for path in ["examples/github.mcppolicy", table.to_str().unwrap()] {
        let output = mcp_policy(&[
            "explain",
            path,
            "--scopes",
            "mcp:write",
            "--tool",
            "close_issue",
            "--arguments",
            r#"{"repo":"acme/widgets"}"#,
            "--format",
            "json",
        ]);
        let value = json(&output);
        assert_eq!(value["decision"], "deny", "{path}");
        assert_eq!(
            value["missing_scopes"],
            serde_json::json!(["github:issues"]),
            "{path}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn compile_refuses_a_broken_policy() {
    let output = mcp_policy(&[
        "compile",
        "tests/diagnostics/unknown_scope.mcppolicy",
        "-o",
        "-",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).is_empty());
    assert!(stderr(&output).contains("mcp_policy::unknown_scope"));
}

/// `explain` for the cases a reviewer asks about, as people read them.
#[test]
fn explain_snapshots() {
    let cases: &[(&str, &[&str])] = &[
        (
            "read token calls a read tool",
            &["--scopes", "mcp:read", "--tool", "list_users"],
        ),
        (
            "admin implies read",
            &["--scopes", "mcp:admin", "--tool", "list_users"],
        ),
        (
            "read token calls a destructive tool",
            &["--scopes", "mcp:read github:repos", "--tool", "delete_repo"],
        ),
        (
            "all_of with one part missing",
            &[
                "--scopes",
                "mcp:write",
                "--tool",
                "close_issue",
                "--arguments",
                r#"{"repo":"acme/widgets"}"#,
            ],
        ),
        (
            "a repository outside the organisation",
            &[
                "--scopes",
                "mcp:write github:issues",
                "--tool",
                "close_issue",
                "--arguments",
                r#"{"repo":"octo/hello-world","number":1}"#,
            ],
        ),
        (
            "a traversal out of the organisation",
            &[
                "--scopes",
                "mcp:admin github:issues",
                "--tool",
                "close_issue",
                "--arguments",
                r#"{"repo":"acme/../octo/hello-world","number":1}"#,
            ],
        ),
        (
            "glob rule",
            &["--scopes", "mcp:write", "--tool", "admin_reset"],
        ),
        (
            "explicit deny beats authenticated",
            &["--scopes", "mcp:admin", "--tool", "debug_dump_heap"],
        ),
        (
            "authenticated with no scopes",
            &["--scopes", "", "--tool", "debug_trace"],
        ),
        (
            "unknown tool falls to the default",
            &["--scopes", "mcp:admin", "--tool", "drop_database"],
        ),
        (
            "undeclared scopes are ignored",
            &["--scopes", "repo admin:org", "--tool", "search_repos"],
        ),
        (
            "resource glob",
            &[
                "--scopes",
                "github:repos",
                "--resource",
                "repo://octo/hello/README.md",
            ],
        ),
        (
            "prompt with nested groups",
            &["--scopes", "mcp:read", "--prompt", "summarize_pr"],
        ),
    ];
    let mut human = String::new();
    let mut machine = Vec::new();
    for (title, args) in cases {
        let mut full = vec!["explain", "examples/github.mcppolicy"];
        full.extend_from_slice(args);
        let output = mcp_policy(&full);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{title}: {}",
            stderr(&output)
        );
        human.push_str(&format!(
            "## {title}\n$ mcp-policy {}\n{}\n",
            full.join(" "),
            stdout(&output)
        ));
        full.extend(["--format", "json"]);
        let value = json(&mcp_policy(&full));
        machine.push(serde_json::json!({ "case": title, "output": value }));
    }
    insta::assert_snapshot!("explain_human", human);
    insta::assert_json_snapshot!("explain_json", machine);
}

/// A file in a directory of its own (tests run in parallel, and one of
/// them removes its directory when done).
fn write_temp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mcp-policy-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

const RISKY: &str = "default allow\nscope mcp:read level read\nscope mcp:admin level admin implies mcp:read\ntool delete_repo requires mcp:read\n";

#[test]
fn check_runs_the_lints_and_errors_fail() {
    let path = write_temp("risky.mcppolicy", RISKY);
    let output = mcp_policy(&["check", path.to_str().unwrap(), "--format", "json"]);
    assert_eq!(output.status.code(), Some(1));
    let value = json(&output);
    let codes: Vec<(&str, &str)> = value["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["code"].as_str().unwrap(), d["severity"].as_str().unwrap()))
        .collect();
    assert_eq!(
        codes,
        [
            ("mcp_policy::lint::default_allow", "warning"),
            ("mcp_policy::lint::destructive_reachable", "error"),
        ]
    );
}

#[test]
fn lint_levels_follow_the_command_line_in_order() {
    let path = write_temp("risky-levels.mcppolicy", RISKY);
    let path = path.to_str().unwrap();
    let run = |flags: &[&str]| {
        let mut args = vec!["lint", path];
        args.extend_from_slice(flags);
        mcp_policy(&args).status.code()
    };
    assert_eq!(run(&[]), Some(1));
    assert_eq!(run(&["-A", "destructive_reachable"]), Some(0));
    assert_eq!(
        run(&["-A", "destructive_reachable", "-D", "warnings"]),
        Some(1)
    );
    assert_eq!(
        run(&[
            "--allow",
            "destructive_reachable",
            "--deny",
            "default_allow"
        ]),
        Some(1)
    );
    // The last word on a lint wins.
    assert_eq!(
        run(&[
            "-D",
            "default_allow",
            "-A",
            "default_allow",
            "-A",
            "destructive_reachable"
        ]),
        Some(0)
    );
    assert_eq!(
        run(&[
            "-A",
            "default_allow",
            "-D",
            "default_allow",
            "-A",
            "destructive_reachable"
        ]),
        Some(1)
    );
    let typo = mcp_policy(&["lint", path, "-D", "default_alow"]);
    assert_eq!(typo.status.code(), Some(2));
    assert!(stderr(&typo).contains("did you mean `default_allow`?"));
}

#[test]
fn tools_file_adds_the_tool_list_lints() {
    let tools = write_temp(
        "tools.json",
        r#"{"jsonrpc":"2.0","id":2,"result":{"tools":[
            {"name":"search_repos","inputSchema":{"type":"object"},"annotations":{"readOnlyHint":true}},
            {"name":"fork_repo","inputSchema":{"type":"object"}},
            {"name":"delete_repo","inputSchema":{"type":"object"},"annotations":{"destructiveHint":true}}]}}"#,
    );
    let output = mcp_policy(&[
        "lint",
        "examples/github.mcppolicy",
        "--tools",
        tools.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let value = json(&output);
    let found: Vec<String> = value["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            format!(
                "{} {}",
                d["code"].as_str().unwrap(),
                d["message"].as_str().unwrap()
            )
        })
        .collect();
    assert!(found.iter().any(|f| f == "mcp_policy::lint::uncovered_tool tool `fork_repo` has no rule: the default denies it to every token"), "{found:#?}");
    assert!(
        found.iter().any(
            |f| f == "mcp_policy::lint::unknown_tool the server lists no tool `rotate_secrets`"
        ),
        "{found:#?}"
    );
    // delete_repo needs mcp:admin: no destructiveHint finding.
    assert!(
        !found
            .iter()
            .any(|f| f.contains("destructive_hint_reachable")),
        "{found:#?}"
    );
    assert_eq!(output.status.code(), Some(0), "only warnings");

    let bad = write_temp("not-tools.json", r#"{"tool": []}"#);
    let output = mcp_policy(&[
        "lint",
        "examples/github.mcppolicy",
        "--tools",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(
            "line 1, column 1: no `tools` array and no `result`; expected a `tools/list` result"
        ),
        "{}",
        stderr(&output)
    );
}

#[test]
fn tools_file_checks_conditions_against_each_input_schema() {
    let tools = write_temp(
        "schema-tools.json",
        r#"{"tools":[
            {"name":"search_issues","inputSchema":{"type":"object","properties":{"query":{"type":"string"},"limit":{"type":"integer","minimum":1,"maximum":100}},"required":["query"]}},
            {"name":"read_file","inputSchema":{"type":"object","properties":{"path":{"type":"string"}},"required":["path"],"additionalProperties":false}}]}"#,
    );
    let policy = write_temp(
        "schema.mcppolicy",
        "scope mcp:read level read\n\
         tool search_issues requires all_of(mcp:read, arg.limt <= 50, arg.limit == \"10\", arg.limit > 100)\n\
         tool read_file requires all_of(mcp:read, arg.path matches \"/workspace/*\")\n",
    );
    let codes = |output: &std::process::Output| -> Vec<String> {
        json(output)["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["code"].as_str().unwrap().to_owned())
            .collect()
    };
    let output = mcp_policy(&[
        "lint",
        policy.to_str().unwrap(),
        "--tools",
        tools.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(0), "only warnings");
    assert_eq!(
        codes(&output),
        [
            "mcp_policy::lint::unknown_argument",
            "mcp_policy::lint::argument_type_mismatch",
            "mcp_policy::lint::never_true_condition",
            "mcp_policy::lint::matches_on_path",
        ]
    );
    // Without the tool list only the name-based lint speaks.
    let output = mcp_policy(&["lint", policy.to_str().unwrap(), "--format", "json"]);
    assert_eq!(codes(&output), ["mcp_policy::lint::matches_on_path"]);
    // And a level set on the command line applies to the new lints too.
    let output = mcp_policy(&[
        "lint",
        policy.to_str().unwrap(),
        "--tools",
        tools.to_str().unwrap(),
        "--deny",
        "unknown_argument",
    ]);
    assert_eq!(output.status.code(), Some(1));
}
