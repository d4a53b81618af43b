#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! `check --format sarif`, validated against the SARIF 2.1.0 schema
//! (tests/data/sarif-schema-2.1.0.json, see tests/data/README.md), and
//! `check --format github`.

mod common;

use common::{mcp_policy, mcp_policy_in, stderr, stdout};

use std::path::{Path, PathBuf};
use std::process::Output;

use mcp_policy_lang::Code;
use mcp_policy_lang::lint::{Lint, LintLevel};
use serde_json::Value;

/// A directory of its own for one test, emptied first.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mcp-policy-sarif-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn schema() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sarif-schema-2.1.0.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The schema is draft-04 with only local references: nothing is fetched.
fn validator() -> jsonschema::Validator {
    jsonschema::draft4::options()
        .should_validate_formats(true)
        .build(&schema())
        .unwrap()
}

fn schema_errors(log: &Value) -> Vec<String> {
    validator()
        .iter_errors(log)
        .map(|error| format!("{error} (at {})", error.instance_path()))
        .collect()
}

/// Parses the SARIF on standard output and checks it against the schema.
fn valid_sarif(output: &Output) -> Value {
    let log: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("not JSON ({error}): {}", stdout(output)));
    let errors = schema_errors(&log);
    assert!(errors.is_empty(), "invalid SARIF:\n{}", errors.join("\n"));
    log
}

fn results(log: &Value) -> &Vec<Value> {
    log["runs"][0]["results"].as_array().unwrap()
}

/// The rule a result names by index, checked to be the rule it names by id.
fn rule<'a>(log: &'a Value, result: &Value) -> &'a Value {
    let index = result["ruleIndex"].as_u64().unwrap();
    let rule = &log["runs"][0]["tool"]["driver"]["rules"][usize::try_from(index).unwrap()];
    assert_eq!(rule["id"], result["ruleId"]);
    rule
}

#[test]
fn the_schema_is_the_oasis_standard_and_rejects_bad_logs() {
    let schema = schema();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-04/schema#");
    assert_eq!(
        schema["id"],
        "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
    );
    // The validator does validate: each of these breaks the schema.
    let good = valid_sarif(&mcp_policy(&[
        "check",
        "--format",
        "sarif",
        "tests/diagnostics/unknown_scope.mcppolicy",
    ]));
    let broken: [(&str, Value); 4] = [
        ("/runs/0/results/0/level", "fatal".into()),
        ("/runs/0/columnKind", "bytes".into()),
        (
            "/runs/0/results/0/locations/0/physicalLocation/region/startLine",
            0.into(),
        ),
        ("/runs/0/tool/driver/rules/0/helpUri", "not a uri".into()),
    ];
    for (pointer, value) in broken {
        let mut log = good.clone();
        *log.pointer_mut(pointer).unwrap() = value;
        assert!(!schema_errors(&log).is_empty(), "{pointer} accepted");
    }
    let mut log = good;
    log["runs"][0]["results"][0]
        .as_object_mut()
        .unwrap()
        .remove("message");
    assert!(
        !schema_errors(&log).is_empty(),
        "a result without a message"
    );
}

#[test]
fn sarif_for_a_policy_with_errors() {
    let output = mcp_policy(&[
        "check",
        "--format",
        "sarif",
        "examples/github.mcppolicy",
        "tests/diagnostics/unknown_scope.mcppolicy",
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let log = valid_sarif(&output);
    assert_eq!(
        log["$schema"],
        "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
    );
    assert_eq!(log["version"], "2.1.0");
    let runs = log["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run["columnKind"], "unicodeCodePoints");
    assert_eq!(run["invocations"][0]["executionSuccessful"], true);
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "mcp-policy");
    assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(driver["informationUri"], env!("CARGO_PKG_REPOSITORY"));
    let rules = driver["rules"].as_array().unwrap();
    assert_eq!(rules.len(), Code::ALL.len() + Lint::ALL.len());
    for code in Code::ALL {
        assert!(
            rules.iter().any(
                |r| r["id"] == code.as_str() && r["shortDescription"]["text"] == code.summary()
            ),
            "{code}"
        );
    }

    let results = results(&log);
    assert_eq!(results.len(), 1);
    let result = &results[0];
    assert_eq!(result["ruleId"], "mcp_policy::unknown_scope");
    assert_eq!(result["level"], "error");
    assert_eq!(
        result["message"]["text"],
        "unknown scope `mcp:wirte`\nhelp: did you mean `mcp:write`?"
    );
    let rule = rule(&log, result);
    assert_eq!(rule["defaultConfiguration"]["level"], "error");
    assert_eq!(
        rule["shortDescription"]["text"],
        Code::UnknownScope.summary()
    );
    let location = &result["locations"][0]["physicalLocation"];
    assert_eq!(
        location["artifactLocation"]["uri"],
        "tests/diagnostics/unknown_scope.mcppolicy"
    );
    assert_eq!(location["artifactLocation"]["uriBaseId"], "%SRCROOT%");
    // `tool update_record requires mcp:wirte`: the scope, columns 29 to 37.
    assert_eq!(
        location["region"],
        serde_json::json!({"startLine": 3, "startColumn": 29, "endLine": 3, "endColumn": 38})
    );
}

#[test]
fn sarif_keeps_secondary_labels_as_related_locations() {
    let output = mcp_policy(&[
        "check",
        "--format",
        "sarif",
        "tests/diagnostics/syntax-several-errors.mcppolicy",
        "tests/diagnostics/duplicate_scope.mcppolicy",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let log = valid_sarif(&output);
    let results = results(&log);
    assert_eq!(results.len(), 4);
    for result in results {
        rule(&log, result);
    }
    let duplicate = &results[3];
    assert_eq!(duplicate["ruleId"], "mcp_policy::duplicate_scope");
    assert_eq!(
        duplicate["locations"][0]["message"]["text"],
        "declared again here"
    );
    let related = duplicate["relatedLocations"].as_array().unwrap();
    assert_eq!(related.len(), 1);
    assert_eq!(related[0]["message"]["text"], "first declared here");
    assert_eq!(
        related[0]["physicalLocation"]["region"],
        serde_json::json!({"startLine": 1, "startColumn": 7, "endLine": 1, "endColumn": 15})
    );
    insta::assert_json_snapshot!(results);
}

#[test]
fn sarif_for_the_examples_has_no_results() {
    let output = mcp_policy(&[
        "check",
        "--format",
        "sarif",
        "examples/github.mcppolicy",
        "examples/filesystem.mcppolicy",
        "examples/database.mcppolicy",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let log = valid_sarif(&output);
    assert!(results(&log).is_empty());
    assert_eq!(stderr(&output), "");
}

/// Every lint's "fires" example from docs/lints.md, checked (and linted)
/// with `--format sarif`: the lint is reported at its default level.
#[test]
fn sarif_for_every_lint() {
    let dir = scratch("lints");
    for lint in Lint::ALL {
        let doc = lint.doc();
        let policy = format!("{}.mcppolicy", lint.name());
        std::fs::write(dir.join(&policy), doc.bad).unwrap();
        let tools = format!("{}.tools.json", lint.name());
        let mut args = vec!["check", "--format", "sarif", policy.as_str()];
        if let Some(json) = doc.tools {
            std::fs::write(dir.join(&tools), json).unwrap();
            args.extend(["--tools", tools.as_str()]);
        }
        for command in ["check", "lint"] {
            args[0] = command;
            let output = mcp_policy_in(&dir, &args);
            let log = valid_sarif(&output);
            let results = results(&log);
            let result = results
                .iter()
                .find(|r| r["ruleId"] == lint.code())
                .unwrap_or_else(|| panic!("{command}: {} did not fire", lint.name()));
            let level = match lint.default_level() {
                LintLevel::Deny => "error",
                LintLevel::Warn => "warning",
                LintLevel::Allow => "none",
            };
            assert_eq!(result["level"], level, "{}", lint.name());
            let rule = rule(&log, result);
            assert_eq!(rule["name"], lint.name());
            assert_eq!(rule["defaultConfiguration"]["level"], level);
            assert_eq!(rule["shortDescription"]["text"], lint.summary());
            assert_eq!(rule["fullDescription"]["text"], doc.rationale);
            assert_eq!(
                rule["helpUri"],
                format!(
                    "{}/blob/main/docs/lints.md#{}",
                    env!("CARGO_PKG_REPOSITORY"),
                    lint.name()
                )
            );
            let artifact = &result["locations"][0]["physicalLocation"]["artifactLocation"];
            assert_eq!(artifact["uri"], policy.as_str());
            assert_eq!(artifact["uriBaseId"], "%SRCROOT%");
            let errors = results.iter().any(|r| r["level"] == "error");
            assert_eq!(
                output.status.code(),
                Some(if errors { 1 } else { 0 }),
                "{command} {}",
                lint.name()
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sarif_lint_levels_follow_the_command_line() {
    let dir = scratch("levels");
    std::fs::write(dir.join("p.mcppolicy"), Lint::UnusedScope.doc().bad).unwrap();
    let warned = mcp_policy_in(&dir, &["lint", "--format", "sarif", "p.mcppolicy"]);
    assert_eq!(warned.status.code(), Some(0));
    let log = valid_sarif(&warned);
    assert_eq!(results(&log).len(), 1);
    assert_eq!(results(&log)[0]["level"], "warning");
    let denied = mcp_policy_in(
        &dir,
        &[
            "lint",
            "--format",
            "sarif",
            "-D",
            "unused_scope",
            "p.mcppolicy",
        ],
    );
    assert_eq!(denied.status.code(), Some(1));
    assert_eq!(results(&valid_sarif(&denied))[0]["level"], "error");
    let allowed = mcp_policy_in(
        &dir,
        &[
            "lint",
            "--format",
            "sarif",
            "-A",
            "unused_scope",
            "p.mcppolicy",
        ],
    );
    assert_eq!(allowed.status.code(), Some(0));
    assert!(results(&valid_sarif(&allowed)).is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sarif_columns_count_code_points_and_paths_become_uris() {
    let dir = scratch("columns");
    // `😀` is one code point, two UTF-16 code units and four bytes.
    let line = "scope mcp:read level read \"données 😀\" implies mcp:wirte";
    let file = dir.join("a policy%.mcppolicy");
    std::fs::write(&file, format!("{line}\ntool a requires mcp:read\n")).unwrap();
    let output = mcp_policy(&["check", "--format", "sarif", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let log = valid_sarif(&output);
    let location = &results(&log)[0]["locations"][0]["physicalLocation"];
    let column = line[..line.find("mcp:wirte").unwrap()].chars().count() + 1;
    assert_eq!(location["region"]["startColumn"], column);
    assert_eq!(location["region"]["endColumn"], column + "mcp:wirte".len());
    // An absolute path is a `file:` URI of its own, %-encoded.
    let uri = location["artifactLocation"]["uri"].as_str().unwrap();
    assert!(uri.starts_with("file:///"), "{uri}");
    assert!(uri.ends_with("/a%20policy%25.mcppolicy"), "{uri}");
    assert!(location["artifactLocation"].get("uriBaseId").is_none());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sarif_says_when_a_file_could_not_be_read() {
    let output = mcp_policy(&[
        "check",
        "--format",
        "sarif",
        "examples/github.mcppolicy",
        "no/such/file.mcppolicy",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let log = valid_sarif(&output);
    assert_eq!(
        log["runs"][0]["invocations"][0]["executionSuccessful"],
        false
    );
    assert!(stderr(&output).contains("cannot read `no/such/file.mcppolicy`"));
}

#[test]
fn github_format_annotates_each_diagnostic() {
    let output = mcp_policy(&[
        "check",
        "--format",
        "github",
        "tests/diagnostics/syntax-several-errors.mcppolicy",
        "tests/diagnostics/duplicate_scope.mcppolicy",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stderr(&output), "checked 2 files: 4 errors, 0 warnings\n");
    insta::assert_snapshot!(stdout(&output));
}

#[test]
fn github_format_escapes_properties_and_warns_for_warnings() {
    let dir = scratch("github");
    std::fs::write(dir.join("a,b:c.mcppolicy"), Lint::UnusedScope.doc().bad).unwrap();
    let output = mcp_policy_in(&dir, &["check", "--format", "github", "a,b:c.mcppolicy"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stderr(&output), "checked 1 file: 0 errors, 1 warning\n");
    let stdout = stdout(&output);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert!(
        lines[0].starts_with(
            "::warning file=a%2Cb%3Ac.mcppolicy,line=2,col=7,endLine=2,endColumn=17,title=mcp_policy%3A%3Alint%3A%3Aunused_scope::"
        ),
        "{stdout}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn explain_refuses_sarif_and_github() {
    for format in ["sarif", "github"] {
        let output = mcp_policy(&[
            "explain",
            "examples/github.mcppolicy",
            "--tool",
            "delete_repo",
            "--format",
            format,
        ]);
        assert_eq!(output.status.code(), Some(2), "{format}");
        assert_eq!(stdout(&output), "");
        assert!(stderr(&output).contains("invalid value"), "{format}");
    }
}

const SEVERAL_PROBLEMS: &str = "crates/cli/tests/data/suite/several-problems.test.yaml";

/// `test --format sarif`: a malformed test file's diagnostics as results,
/// against the test files' codes, related places kept.
#[test]
fn test_sarif_reports_a_malformed_test_file() {
    let output = mcp_policy(&["test", "--format", "sarif", SEVERAL_PROBLEMS]);
    assert_eq!(output.status.code(), Some(1));
    let log = valid_sarif(&output);
    let rules = log["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    // The test files' codes, then `check`'s: a test file's policy that does
    // not compile is reported too.
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let codes: Vec<&str> = mcp_policy_sim::suite::Code::ALL
        .iter()
        .map(|code| code.as_str())
        .collect();
    assert_eq!(ids[..codes.len()], codes[..]);
    assert_eq!(ids.len(), codes.len() + Code::ALL.len() + Lint::ALL.len());
    assert_eq!(
        log["runs"][0]["invocations"][0]["executionSuccessful"],
        true
    );
    let results = results(&log);
    assert!(results.len() >= 9, "{results:#?}");
    for result in results {
        rule(&log, result);
        assert_eq!(result["level"], "error");
    }
    let duplicate = results
        .iter()
        .find(|r| r["ruleId"] == "mcp_policy::test::duplicate_test")
        .unwrap();
    assert_eq!(
        duplicate["relatedLocations"][0]["message"]["text"],
        "first used here"
    );
    insta::assert_snapshot!(serde_json::to_string_pretty(results).unwrap());
}

/// A test file that cannot be read: exit 2, and the run says it did not
/// succeed, as `check`'s does.
#[test]
fn test_sarif_of_an_unreadable_file_is_not_successful() {
    let output = mcp_policy(&[
        "test",
        "--format",
        "sarif",
        "crates/cli/tests/data/suite/nope.test.yaml",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let log = valid_sarif(&output);
    assert_eq!(
        log["runs"][0]["invocations"][0]["executionSuccessful"],
        false
    );
    assert!(results(&log).is_empty());
}

/// `test --format github`: one annotation a diagnostic on standard output,
/// the summary last on standard error; passing tests annotate nothing.
#[test]
fn test_github_annotates_a_malformed_test_file() {
    let output = mcp_policy(&["test", "--format", "github", SEVERAL_PROBLEMS]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).ends_with(
            "all test files: FAILED. 0 passed; 0 failed; 1 test file not run (1 file)\n"
        ),
        "{}",
        stderr(&output)
    );
    let annotations = stdout(&output);
    assert!(
        annotations.lines().all(|line| line.starts_with(
            "::error file=crates/cli/tests/data/suite/several-problems.test.yaml,line="
        )),
        "{annotations}"
    );
    insta::assert_snapshot!(annotations);

    let passing = mcp_policy(&[
        "test",
        "--format",
        "github",
        "examples/github.mcppolicy.test.yaml",
    ]);
    assert_eq!(passing.status.code(), Some(0), "{}", stderr(&passing));
    assert_eq!(stdout(&passing), "");
    assert!(
        stderr(&passing).starts_with("all test files: ok."),
        "{}",
        stderr(&passing)
    );
}

/// `compile --format sarif` on a broken policy: the log `check` writes.
#[test]
fn compile_sarif_of_a_broken_policy_is_checks() {
    let dir = scratch("compile");
    let table = dir.join("table.json");
    let policy = "tests/diagnostics/unknown_scope.mcppolicy";
    let output = mcp_policy(&[
        "compile",
        policy,
        "-o",
        table.to_str().unwrap(),
        "--format",
        "sarif",
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let log = valid_sarif(&output);
    let check = valid_sarif(&mcp_policy(&["check", "--format", "sarif", policy]));
    assert_eq!(log, check);
    assert_eq!(results(&log).len(), 1);
    assert!(!table.exists());
}

/// `test --format sarif` on a test file whose policy does not compile: the
/// policy's diagnostics as results, against the policy's file and `check`'s
/// rules.
#[test]
fn test_sarif_reports_the_policy_a_test_file_names() {
    let output = mcp_policy(&[
        "test",
        "--format",
        "sarif",
        "crates/cli/tests/data/suite/broken-policy.test.yaml",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let log = valid_sarif(&output);
    let results = results(&log);
    assert_eq!(results.len(), 1, "{results:#?}");
    let result = &results[0];
    assert_eq!(result["ruleId"], "mcp_policy::unknown_scope");
    assert_eq!(rule(&log, result)["id"], "mcp_policy::unknown_scope");
    let location = &result["locations"][0]["physicalLocation"];
    assert!(
        location["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .ends_with("tests/diagnostics/unknown_scope.mcppolicy"),
        "{location}"
    );
    assert_eq!(
        location["region"],
        serde_json::json!({"startLine": 3, "startColumn": 29, "endLine": 3, "endColumn": 38})
    );
}

/// A compiled table that does not load is a result of its own rule
/// (`mcp_policy::invalid_artifact`), at the rules it is about; the file was
/// read, so the run succeeded.
#[test]
fn sarif_for_a_table_that_does_not_load() {
    let dir = scratch("broken-table");
    std::fs::write(
        dir.join("broken.json"),
        r#"{
  "format": "mcp-policy-table",
  "version": 2,
  "default": "deny",
  "scopes": [{"name": "s", "level": "read"}],
  "rules": [
    {"kind": "tool", "target": {"exact": "t"}, "allow": [[0]], "text": "tool t requires s", "line": 3},
    {"kind": "tool", "target": {"exact": "t"}, "allow": [[0]], "text": "tool t requires s", "line": 4}
  ]
}
"#,
    )
    .unwrap();
    let output = mcp_policy_in(&dir, &["check", "--format", "sarif", "broken.json"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let log = valid_sarif(&output);
    assert_eq!(
        log["runs"][0]["invocations"][0]["executionSuccessful"],
        true
    );
    let results = results(&log);
    assert_eq!(results.len(), 1, "{results:#?}");
    let result = &results[0];
    assert_eq!(result["ruleId"], "mcp_policy::invalid_artifact");
    assert_eq!(rule(&log, result)["id"], "mcp_policy::invalid_artifact");
    assert_eq!(result["level"], "error");
    assert!(
        result["message"]["text"]
            .as_str()
            .unwrap()
            .contains("[mcp_policy::duplicate_rule]"),
        "{result:#?}"
    );
    let location = &result["locations"][0];
    assert_eq!(
        location["physicalLocation"]["artifactLocation"]["uri"],
        "broken.json"
    );
    assert_eq!(location["physicalLocation"]["region"]["startLine"], 7);
    let related = result["relatedLocations"].as_array().unwrap();
    assert_eq!(related.len(), 1, "{related:#?}");
    assert_eq!(related[0]["message"]["text"], "and this one");
    assert_eq!(related[0]["physicalLocation"]["region"]["startLine"], 8);
}
