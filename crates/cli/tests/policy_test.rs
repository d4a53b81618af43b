//! `mcp-policy test`: the examples' tests, every way a test fails, every
//! diagnostic of a malformed test file, the JSON shape and the exit codes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{json, mcp_policy, root, stderr, stdout};

const DATA: &str = "crates/cli/tests/data/suite";

fn data(file: &str) -> String {
    format!("{DATA}/{file}")
}

#[test]
fn every_example_passes() {
    let output = mcp_policy(&["test", "examples/"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stderr(&output), "");
    let text = stdout(&output);
    assert!(!text.contains("FAILED"), "{text}");
    for file in ["github", "filesystem", "database"] {
        assert!(text.contains(&format!("from examples/{file}.mcppolicy.test.yaml")));
    }
    insta::assert_snapshot!(text);
}

/// How many cases the github example's test file has, counted from its text
/// so that a case added there does not need a number changed here.
fn github_cases() -> usize {
    let text = std::fs::read_to_string(root().join("examples/github.mcppolicy.test.yaml")).unwrap();
    let cases = text
        .lines()
        .filter(|line| line.trim_start().starts_with("- name:"))
        .count();
    assert!(cases > 30, "{cases}");
    cases
}

#[test]
fn a_policy_path_runs_the_tests_beside_it() {
    let output = mcp_policy(&["test", "examples/github.mcppolicy"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    let cases = github_cases();
    assert!(text.starts_with(&format!(
        "running {cases} tests from examples/github.mcppolicy.test.yaml (policy examples/github.mcppolicy)\n"
    )));
    assert!(
        text.ends_with(&format!("\ntest result: ok. {cases} passed; 0 failed\n")),
        "{text}"
    );
}

#[test]
fn json_of_an_example() {
    let output = mcp_policy(&[
        "test",
        "--format",
        "json",
        "examples/github.mcppolicy.test.yaml",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let value = json(&output);
    assert_eq!(value["passed"], github_cases());
    assert_eq!(value["failed"], 0);
    assert_eq!(value["files"][0]["status"], "passed");
    insta::assert_json_snapshot!(value);
}

#[test]
fn each_way_a_test_fails_says_why() {
    let output = mcp_policy(&["test", &data("failing.test.yaml")]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(stderr(&output), "");
    insta::assert_snapshot!(stdout(&output));
}

#[test]
fn failures_in_json() {
    let output = mcp_policy(&["test", "--format", "json", &data("failing.test.yaml")]);
    assert_eq!(output.status.code(), Some(1));
    let value = json(&output);
    assert_eq!(
        (value["passed"].as_u64(), value["failed"].as_u64()),
        (Some(1), Some(7))
    );
    let file = &value["files"][0];
    assert_eq!(file["status"], "failed");
    let cases = file["cases"].as_array().unwrap();
    let summary: Vec<(bool, &str, &str, Option<&str>)> = cases
        .iter()
        .map(|case| {
            (
                case["passed"].as_bool().unwrap(),
                case["expect"].as_str().unwrap(),
                case["got"].as_str().unwrap(),
                case["rejection"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (true, "allow", "allow", None),
            (false, "allow", "deny", None),
            (false, "deny", "allow", None),
            (false, "deny", "deny", None),
            (false, "deny", "deny", None),
            (false, "allow", "unauthenticated", Some("expired")),
            (false, "unauthenticated", "allow", None),
            (false, "unauthenticated", "unauthenticated", Some("expired")),
        ]
    );
    let wrong_missing = &cases[3];
    assert_eq!(
        wrong_missing["expect_missing"],
        serde_json::json!(["github:issues"])
    );
    assert_eq!(
        wrong_missing["missing_scopes"],
        serde_json::json!(["mcp:write", "github:issues"])
    );
    assert_eq!(wrong_missing["rule"]["line"], 20);
    assert_eq!(
        (
            wrong_missing["line"].as_u64(),
            wrong_missing["column"].as_u64()
        ),
        (Some(32), Some(5))
    );
    assert_eq!(cases[4]["allowable"], false);
    assert_eq!(cases[5]["allowable"], serde_json::Value::Null);
    assert_eq!(
        cases[7]["reason"],
        "expected rejection `bad_signature`, got `expired`: the token has expired (`exp`, beyond the leeway)"
    );
    assert_eq!(cases[0]["reason"], serde_json::Value::Null);
}

#[test]
fn a_malformed_file_reports_every_problem_and_runs_nothing() {
    let output = mcp_policy(&["test", &data("several-problems.test.yaml")]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "");
    insta::assert_snapshot!(stderr(&output));
}

#[test]
fn syntax_and_shape_errors() {
    let mut transcript = String::new();
    for file in [
        "syntax.test.yaml",
        "schema.test.yaml",
        "wrong-expect.test.yaml",
        "multiple-documents.test.yaml",
    ] {
        let output = mcp_policy(&["test", &data(file)]);
        assert_eq!(output.status.code(), Some(1), "{file}");
        assert_eq!(stdout(&output), "", "{file}");
        transcript.push_str(&format!("## {file}\n{}\n", stderr(&output)));
    }
    insta::assert_snapshot!(transcript);
}

/// Each malformed file, its code, and where the JSON says it is.
#[test]
fn every_diagnostic_has_a_code_a_line_and_a_column() {
    let cases = [
        ("syntax.test.yaml", "mcp_policy::test::syntax", 3, 1),
        ("schema.test.yaml", "mcp_policy::test::schema", 9, 5),
        ("wrong-expect.test.yaml", "mcp_policy::test::schema", 8, 13),
        ("empty.test.yaml", "mcp_policy::test::empty", 1, 1),
        ("no-tests.test.yaml", "mcp_policy::test::empty", 4, 8),
        (
            "multiple-documents.test.yaml",
            "mcp_policy::test::multiple_documents",
            7,
            1,
        ),
        ("no-policy.yaml", "mcp_policy::test::no_policy", 1, 1),
        (
            "unknown-scope.test.yaml",
            "mcp_policy::test::unknown_scope",
            9,
            15,
        ),
        (
            "invalid-keys.test.yaml",
            "mcp_policy::test::invalid_keys",
            5,
            11,
        ),
        (
            "several-problems.test.yaml",
            "mcp_policy::test::duplicate_key",
            6,
            3,
        ),
    ];
    for (file, code, line, column) in cases {
        let output = mcp_policy(&["test", "--format", "json", &data(file)]);
        assert_eq!(output.status.code(), Some(1), "{file}");
        let value = json(&output);
        assert_eq!(value["not_run"], 1, "{file}");
        let result = &value["files"][0];
        assert_eq!(result["status"], "malformed", "{file}");
        assert_eq!(result["cases"], serde_json::json!([]), "{file}");
        let first = &result["diagnostics"][0];
        assert_eq!(
            (
                first["code"].as_str(),
                first["line"].as_u64(),
                first["column"].as_u64()
            ),
            (Some(code), Some(line), Some(column)),
            "{file}: {first}"
        );
        assert_eq!(first["file"], data(file));
        assert_eq!(first["severity"], "error");
    }
}

#[test]
fn a_policy_with_errors_exits_1() {
    let output = mcp_policy(&["test", "--format", "json", &data("broken-policy.test.yaml")]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(json(&output)["files"][0]["status"], "policy_errors");
    assert!(
        stderr(&output).contains("mcp_policy::unknown_scope"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn files_that_cannot_be_read_exit_2() {
    for args in [
        vec!["test", "crates/cli/tests/data/suite/no-such.test.yaml"],
        vec![
            "test",
            "crates/cli/tests/data/suite/missing-policy.test.yaml",
        ],
        // A policy without tests beside it.
        vec!["test", "tests/diagnostics/unknown_scope.mcppolicy"],
        // A directory without test files.
        vec!["test", "crates/cli/src"],
    ] {
        let output = mcp_policy(&args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).starts_with("error: "),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    let output = mcp_policy(&["test"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn several_files_end_with_a_total() {
    let output = mcp_policy(&[
        "test",
        "examples/database.mcppolicy.test.yaml",
        &data("failing.test.yaml"),
        &data("empty.test.yaml"),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(
        text.ends_with(
            "\nall test files: FAILED. 22 passed; 7 failed; 1 test file not run (3 files)\n"
        ),
        "{text}"
    );
    assert!(stderr(&output).contains("mcp_policy::test::empty"));
}

#[test]
fn run_picks_tests_by_name_and_counts_the_rest() {
    let failing = "crates/cli/tests/data/suite/failing.test.yaml";
    assert_eq!(mcp_policy(&["test", failing]).status.code(), Some(1));
    // Only the passing test: the failures are filtered out, not run as passed.
    let output = mcp_policy(&["test", failing, "--run", "passes"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let text = stdout(&output);
    assert!(text.contains("running 1 test from"), "{text}");
    assert!(
        text.contains("test result: ok. 1 passed; 0 failed; 7 filtered out"),
        "{text}"
    );
    // A filter that picks a failing test fails.
    let output = mcp_policy(&["test", failing, "--run", "rejection"]);
    assert_eq!(output.status.code(), Some(1));
    let output = mcp_policy(&["test", failing, "--run", "passes", "--format", "json"]);
    let value = json(&output);
    assert_eq!(value["files"][0]["filtered_out"], 7);
    assert_eq!(value["files"][0]["cases"].as_array().unwrap().len(), 1);
}

/// A test file arrives with pull requests, and a policy that does not
/// compile is shown in the report: `policy:` may name only a policy or a
/// compiled table, so a test file cannot print
/// the environment or a credentials file into a CI log.
#[test]
fn a_test_file_cannot_show_files_that_are_not_policies() {
    let dir = std::env::temp_dir().join(format!("mcp-policy-test-paths-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("secret.txt"), "MY_SECRET=hunter2\n").unwrap();
    std::fs::write(dir.join("data.json"), "[\"MY_SECRET=hunter2\"]\n").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.join("secret.txt"), dir.join("link.mcppolicy")).unwrap();
    let cases = [
        ("absolute", "/proc/self/environ".to_owned()),
        (
            "absolute-policy",
            dir.join("secret.txt").display().to_string(),
        ),
        ("other-file", "secret.txt".to_owned()),
        ("json-not-a-table", "data.json".to_owned()),
        #[cfg(unix)]
        ("link", "link.mcppolicy".to_owned()),
    ];
    for (name, policy) in cases {
        let test = dir.join(format!("{name}.test.yaml"));
        std::fs::write(
            &test,
            format!(
                "policy: {policy}\nprincipals:\n  p: {{scopes: \"\"}}\ntests:\n  - {{name: t, principal: p, tool: x, expect: deny}}\n"
            ),
        )
        .unwrap();
        let output = mcp_policy(&["test", test.to_str().unwrap()]);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{name}: {err}");
        assert!(
            err.contains("mcp_policy::test::policy_path"),
            "{name}: {err}"
        );
        assert!(
            !err.contains("hunter2") && !stdout(&output).contains("hunter2"),
            "{name}: {err}"
        );
        let output = mcp_policy(&["test", "--format", "json", test.to_str().unwrap()]);
        assert!(!stdout(&output).contains("hunter2"), "{name}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
