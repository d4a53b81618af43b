//! `--format human|json|sarif|github` on every command that reports a
//! policy's diagnostics (`fmt`, `compile`, `test`), shaped as `check`'s,
//! and `--format json` of the commands that decide on a policy.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::PathBuf;

use common::{json, mcp_policy, mcp_policy_in, stderr, stdout};

const SEVERAL_ERRORS: &str = "tests/diagnostics/syntax-several-errors.mcppolicy";
const UNKNOWN_SCOPE: &str = "tests/diagnostics/unknown_scope.mcppolicy";
const BROKEN_POLICY_TEST: &str = "crates/cli/tests/data/suite/broken-policy.test.yaml";

/// A directory of its own for one test, emptied first.
fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("mcp-policy-formats-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `fmt --format json` on a policy with syntax errors prints what
/// `check --format json` prints, and rewrites nothing.
#[test]
fn fmt_json_of_a_broken_policy_is_checks_json() {
    let fmt = mcp_policy(&["fmt", "--check", "--format", "json", SEVERAL_ERRORS]);
    assert_eq!(fmt.status.code(), Some(1), "{}", stderr(&fmt));
    let check = mcp_policy(&["check", "--format", "json", SEVERAL_ERRORS]);
    assert_eq!(stdout(&fmt), stdout(&check));
    assert_eq!(
        stderr(&fmt),
        "checked 1 file: 0 to reformat, 1 with syntax errors (left as they are)\n"
    );
    insta::assert_snapshot!(stdout(&fmt));

    // Without `--check` too: the file is left as it is.
    let dir = scratch("fmt-broken");
    let path = dir.join("broken.mcppolicy");
    let source = std::fs::read(common::root().join(SEVERAL_ERRORS)).unwrap();
    std::fs::write(&path, &source).unwrap();
    let output = mcp_policy_in(&dir, &["fmt", "--format", "json", "broken.mcppolicy"]);
    assert_eq!(output.status.code(), Some(1));
    let diagnostics = json(&output)["diagnostics"].as_array().unwrap().clone();
    assert!(!diagnostics.is_empty());
    assert!(
        diagnostics
            .iter()
            .all(|d| d["file"] == "broken.mcppolicy" && d["code"] == "mcp_policy::syntax"),
        "{diagnostics:#?}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), source);
}

/// `fmt --check` in a machine format prints no diff: standard output is the
/// report alone, and the files that would change are named on standard
/// error.
#[test]
fn fmt_check_in_a_machine_format_names_the_files_on_stderr() {
    let dir = scratch("fmt-check");
    std::fs::write(
        dir.join("loose.mcppolicy"),
        "scope   mcp:read level read \"Read\"\ntool a requires mcp:read\n",
    )
    .unwrap();
    let json_output = mcp_policy_in(
        &dir,
        &["fmt", "--check", "--format", "json", "loose.mcppolicy"],
    );
    assert_eq!(json_output.status.code(), Some(1));
    assert_eq!(json(&json_output), serde_json::json!({"diagnostics": []}));
    assert_eq!(
        stderr(&json_output),
        "would reformat `loose.mcppolicy`\nchecked 1 file: 1 to reformat\n"
    );
    let github = mcp_policy_in(
        &dir,
        &["fmt", "--check", "--format", "github", "loose.mcppolicy"],
    );
    assert_eq!(github.status.code(), Some(1));
    assert_eq!(stdout(&github), "");
    // The human form still prints the diff.
    let human = mcp_policy_in(&dir, &["fmt", "--check", "loose.mcppolicy"]);
    assert_eq!(human.status.code(), Some(1));
    assert!(
        stdout(&human).starts_with("--- loose.mcppolicy\n"),
        "{}",
        stdout(&human)
    );
}

/// `compile --format github` annotates a broken policy as `check` does.
#[test]
fn compile_github_of_a_broken_policy_is_checks() {
    let dir = scratch("compile-github");
    let table = dir.join("table.json");
    let output = mcp_policy(&[
        "compile",
        UNKNOWN_SCOPE,
        "-o",
        table.to_str().unwrap(),
        "--format",
        "github",
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(!table.exists());
    let check = mcp_policy(&["check", "--format", "github", UNKNOWN_SCOPE]);
    assert_eq!(stdout(&output), stdout(&check));
    insta::assert_snapshot!(stdout(&output));

    // A policy that compiles: the table is written, nothing is annotated.
    let output = mcp_policy(&[
        "compile",
        "examples/github.mcppolicy",
        "-o",
        table.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(json(&output), serde_json::json!({"diagnostics": []}));
    assert!(table.exists());
}

/// `compile -o -` writes the table on standard output: a machine format
/// would print its report there too, so the pair is a usage error, refused
/// before anything is read.
#[test]
fn compile_to_stdout_takes_only_the_human_format() {
    for format in ["json", "sarif", "github"] {
        let output = mcp_policy(&["compile", UNKNOWN_SCOPE, "-o", "-", "--format", format]);
        assert_eq!(output.status.code(), Some(2), "{format}");
        assert_eq!(stdout(&output), "", "{format}");
        assert!(
            stderr(&output).starts_with(&format!(
                "error: `--format {format}` prints the diagnostics on standard output, where `-o -` writes the table"
            )),
            "{}",
            stderr(&output)
        );
    }
    let output = mcp_policy(&[
        "compile",
        "examples/github.mcppolicy",
        "-o",
        "-",
        "--format",
        "human",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).starts_with('{'));
}

/// `test --format json` on a test file whose policy does not compile: the
/// policy's diagnostics, against the policy's file, beside the run.
#[test]
fn test_json_carries_the_broken_policys_diagnostics() {
    let output = mcp_policy(&["test", "--format", "json", BROKEN_POLICY_TEST]);
    assert_eq!(output.status.code(), Some(1));
    let run = json(&output);
    let file = &run["files"][0];
    assert_eq!(file["status"], "policy_errors");
    let policy = file["policy"].as_str().unwrap();
    assert!(policy.ends_with(UNKNOWN_SCOPE), "{policy}");
    let check = mcp_policy(&["check", "--format", "json", policy]);
    assert_eq!(file["diagnostics"], json(&check)["diagnostics"]);
    insta::assert_snapshot!(serde_json::to_string_pretty(&file["diagnostics"]).unwrap());
}

/// A policy that is not UTF-8 is a broken policy to `test` as well.
#[test]
fn test_json_of_a_policy_that_is_not_utf8() {
    let dir = scratch("test-latin1");
    std::fs::write(
        dir.join("latin1.mcppolicy"),
        b"scope mcp:read level read\ntool caf\xe9 requires mcp:read\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("latin1.mcppolicy.test.yaml"),
        "policy: latin1.mcppolicy\nprincipals:\n  reader: { scopes: \"mcp:read\" }\ntests:\n  - { name: reads, principal: reader, tool: x, expect: deny }\n",
    )
    .unwrap();
    let output = mcp_policy_in(
        &dir,
        &["test", "--format", "json", "latin1.mcppolicy.test.yaml"],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let file = &json(&output)["files"][0];
    assert_eq!(file["status"], "policy_errors");
    let diagnostics = file["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
    assert_eq!(diagnostics[0]["code"], "mcp_policy::syntax");
    assert_eq!(diagnostics[0]["file"], "latin1.mcppolicy");
    assert_eq!(
        (
            diagnostics[0]["line"].as_u64(),
            diagnostics[0]["column"].as_u64()
        ),
        (Some(2), Some(9))
    );
    // The human diagnostics are on standard error, as before.
    assert!(stderr(&output).contains("the policy is not UTF-8 text"));
}

/// One file is `1 file`, in every summary that counts them.
#[test]
fn a_summary_of_one_file_says_file() {
    let output = mcp_policy(&["test", "--format", "github", BROKEN_POLICY_TEST]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).ends_with(
            "all test files: FAILED. 0 passed; 0 failed; 1 test file not run (1 file)\n"
        ),
        "{}",
        stderr(&output)
    );
    let output = mcp_policy(&["fmt", "--check", "examples/github.mcppolicy"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stderr(&output), "checked 1 file: 0 to reformat\n");
}

/// The commands that decide on a policy (`explain`, `matrix`, `diff`,
/// `simulate`, `token verify --policy`) answer `--format json` on standard
/// output; a policy that does not load is reported there too, as `check
/// --format json` reports it, and they exit 1.
#[test]
fn deciding_commands_report_a_broken_policy_in_their_json() {
    let check = mcp_policy(&["check", "--format", "json", UNKNOWN_SCOPE]);
    let dir = scratch("deciding");
    let trace_path = dir.join("empty.jsonl");
    std::fs::write(&trace_path, "").unwrap();
    let trace_arg = trace_path.to_str().unwrap();
    for args in [
        vec!["explain", UNKNOWN_SCOPE, "--tool", "x", "--format", "json"],
        vec!["matrix", UNKNOWN_SCOPE, "--format", "json"],
        vec![
            "simulate",
            UNKNOWN_SCOPE,
            "--trace",
            trace_arg,
            "--format",
            "json",
        ],
    ] {
        let output = mcp_policy(&args);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{args:?}: {}",
            stderr(&output)
        );
        assert_eq!(stdout(&output), stdout(&check), "{args:?}");
    }

    // Two broken policies: one document, the old one's first.
    let output = mcp_policy(&["diff", UNKNOWN_SCOPE, SEVERAL_ERRORS, "--format", "json"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let files: Vec<String> = json(&output)["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["file"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(files.first().map(String::as_str), Some(UNKNOWN_SCOPE));
    assert!(files.iter().any(|file| file == SEVERAL_ERRORS), "{files:?}");

    // In human form, on standard error, as before; nothing on standard output.
    let output = mcp_policy(&["explain", UNKNOWN_SCOPE, "--tool", "x"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).is_empty());
    assert!(stderr(&output).contains("mcp_policy::unknown_scope"));
}

/// `fmt -` formats standard input onto standard output; it never writes a
/// file named `-`.
#[test]
fn fmt_of_standard_input_writes_standard_output() {
    use std::io::Write;
    let dir = scratch("fmt-stdin");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mcp-policy"))
        .args(["fmt", "-"])
        .current_dir(&dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"default   deny\ntool t  requires authenticated\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // What formatting the same text in a file makes of it.
    std::fs::write(
        dir.join("p.mcppolicy"),
        "default   deny\ntool t  requires authenticated\n",
    )
    .unwrap();
    let in_place = mcp_policy_in(&dir, &["fmt", "p.mcppolicy"]);
    assert_eq!(in_place.status.code(), Some(0), "{}", stderr(&in_place));
    let formatted = std::fs::read_to_string(dir.join("p.mcppolicy")).unwrap();
    assert!(formatted.starts_with("default deny\n"), "{formatted}");
    assert_eq!(stdout(&output), formatted);
    assert!(!dir.join("-").exists());
    // A machine format's report is on standard output: refused, unread.
    let output = mcp_policy_in(&dir, &["fmt", "--format", "json", "-"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stdout(&output).is_empty());
}

/// `compile -o` writes the table atomically and only there: not through a
/// link planted beside it, not over a device, never over its own source.
#[test]
fn compile_writes_only_the_file_it_is_given() {
    let dir = scratch("compile-output");
    std::fs::write(dir.join("p.mcppolicy"), "tool t requires authenticated\n").unwrap();
    std::fs::write(dir.join("victim.txt"), "precious").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.join("victim.txt"), dir.join("table.partial")).unwrap();
    let output = mcp_policy_in(&dir, &["compile", "p.mcppolicy", "-o", "table.json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        std::fs::read_to_string(dir.join("victim.txt")).unwrap(),
        "precious"
    );
    assert!(
        std::fs::symlink_metadata(dir.join("table.json"))
            .unwrap()
            .is_file()
    );

    // "Does it compile?" into /dev/null leaves the device a device.
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let output = mcp_policy_in(&dir, &["compile", "p.mcppolicy", "-o", "/dev/null"]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        let null = std::fs::symlink_metadata("/dev/null").unwrap();
        assert!(null.file_type().is_char_device());
    }

    // The source named as the output, by another spelling: refused.
    let output = mcp_policy_in(&dir, &["compile", "p.mcppolicy", "-o", "./p.mcppolicy"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("is the policy itself"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("p.mcppolicy")).unwrap(),
        "tool t requires authenticated\n"
    );

    // A path that cannot be written is named escaped.
    let output = mcp_policy_in(
        &dir,
        &["compile", "p.mcppolicy", "-o", "no\u{1b}[2J/t.json"],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(!stderr(&output).contains('\u{1b}'), "{:?}", stderr(&output));
    assert!(
        stderr(&output).contains("no\\u{1b}[2J"),
        "{}",
        stderr(&output)
    );
}

/// A compiled table edited by hand: two rules for one target, which the
/// compiler would have refused (`mcp_policy::duplicate_rule`). The rules
/// are on lines 8 and 9.
const BROKEN_TABLE: &str = r#"{
  "format": "mcp-policy-table",
  "version": 2,
  "policy": "broken",
  "default": "deny",
  "scopes": [{"name": "s", "level": "read"}],
  "rules": [
    {"kind": "tool", "target": {"exact": "t"}, "allow": [[0]], "text": "tool t requires s", "line": 3},
    {"kind": "tool", "target": {"exact": "t"}, "allow": [[0]], "text": "tool t requires s", "line": 4}
  ]
}
"#;

/// A table that does not load is a diagnostic (`mcp_policy::invalid_artifact`,
/// at the rule it is about) in every format of `check`, and the deciding
/// commands print it in their JSON as `check --format json` does.
#[test]
fn a_table_that_does_not_load_is_a_diagnostic_in_every_format() {
    let dir = scratch("broken-table");
    std::fs::write(dir.join("broken.json"), BROKEN_TABLE).unwrap();
    let run = |args: &[&str]| mcp_policy_in(&dir, args);

    let check = run(&["check", "--format", "json", "broken.json"]);
    assert_eq!(check.status.code(), Some(1), "{}", stderr(&check));
    assert_eq!(stderr(&check), "");
    let diagnostics = json(&check)["diagnostics"].as_array().unwrap().clone();
    assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
    let diagnostic = &diagnostics[0];
    assert_eq!(diagnostic["code"], "mcp_policy::invalid_artifact");
    assert_eq!(diagnostic["severity"], "error");
    assert_eq!(diagnostic["file"], "broken.json");
    assert_eq!(
        (&diagnostic["line"], &diagnostic["column"]),
        (&8.into(), &72.into())
    );
    let message = diagnostic["message"].as_str().unwrap();
    assert!(
        message.starts_with("invalid decision table: the compiler rejects it: rules")
            && message.ends_with("have the same target [mcp_policy::duplicate_rule]"),
        "{message}"
    );
    assert_eq!(
        diagnostic["help"],
        "recompile the policy with `mcp-policy compile`"
    );

    let github = run(&["check", "--format", "github", "broken.json"]);
    assert_eq!(github.status.code(), Some(1));
    let annotation = stdout(&github);
    assert!(
        annotation.starts_with(
            "::error file=broken.json,line=8,col=72,endLine=8,endColumn=91,\
             title=mcp_policy%3A%3Ainvalid_artifact::invalid decision table:"
        ),
        "{annotation}"
    );
    assert_eq!(annotation.lines().count(), 1, "{annotation}");
    assert!(stderr(&github).contains("1 error"), "{}", stderr(&github));

    // People get a report as for a source with errors, and the summary
    // counts it.
    let human = run(&["check", "broken.json"]);
    assert_eq!(human.status.code(), Some(1));
    assert!(stdout(&human).is_empty());
    insta::assert_snapshot!(stderr(&human));

    std::fs::write(dir.join("empty.jsonl"), "").unwrap();
    let good = common::root().join("examples/github.mcppolicy");
    let good = good.to_str().unwrap();
    for args in [
        vec!["explain", "broken.json", "--tool", "t", "--format", "json"],
        vec!["matrix", "broken.json", "--format", "json"],
        vec!["diff", "broken.json", good, "--format", "json"],
        vec![
            "simulate",
            "broken.json",
            "--trace",
            "empty.jsonl",
            "--format",
            "json",
        ],
    ] {
        let output = run(&args);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{args:?}: {}",
            stderr(&output)
        );
        assert_eq!(stdout(&output), stdout(&check), "{args:?}");
    }
}

/// A table whose JSON is broken is pointed at where serde_json stopped.
#[test]
fn a_table_with_a_json_error_is_pointed_at_it() {
    let dir = scratch("table-json-error");
    std::fs::write(
        dir.join("syntax.json"),
        "{\n  \"format\": \"mcp-policy-table\",\n  \"version\": 2,\n  \"policy\" \"x\"\n}\n",
    )
    .unwrap();
    let output = mcp_policy_in(&dir, &["check", "--format", "json", "syntax.json"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let diagnostic = json(&output)["diagnostics"][0].clone();
    assert_eq!(diagnostic["code"], "mcp_policy::invalid_artifact");
    assert_eq!(
        (&diagnostic["line"], &diagnostic["column"]),
        (&4.into(), &12.into())
    );
    assert!(
        diagnostic["message"]
            .as_str()
            .unwrap()
            .starts_with("not a decision table: expected `:`"),
        "{diagnostic:#?}"
    );
}

/// A policy that cannot be read at all: every command asked for JSON
/// prints the empty document `check` prints, and exits 2.
#[test]
fn an_unreadable_policy_gets_the_empty_document_in_json() {
    let check = mcp_policy(&["check", "--format", "json", "missing.mcppolicy"]);
    assert_eq!(check.status.code(), Some(2));
    assert_eq!(json(&check), serde_json::json!({"diagnostics": []}));
    for args in [
        vec![
            "compile",
            "--format",
            "json",
            "-o",
            "/dev/null",
            "missing.mcppolicy",
        ],
        vec![
            "explain",
            "missing.mcppolicy",
            "--tool",
            "t",
            "--format",
            "json",
        ],
        vec!["matrix", "missing.mcppolicy", "--format", "json"],
        vec![
            "diff",
            "missing.mcppolicy",
            UNKNOWN_SCOPE,
            "--format",
            "json",
        ],
    ] {
        let output = mcp_policy(&args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains("cannot read `missing.mcppolicy`"),
            "{args:?}: {}",
            stderr(&output)
        );
        if args[0] == "diff" {
            // The policy that does load with errors is reported beside it.
            let codes: Vec<serde_json::Value> = json(&output)["diagnostics"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["code"].clone())
                .collect();
            assert!(
                codes.contains(&"mcp_policy::unknown_scope".into()),
                "{codes:?}"
            );
        } else {
            assert_eq!(stdout(&output), stdout(&check), "{args:?}");
        }
    }
}

/// `test` with nothing to run (no test file beside a policy, an empty
/// directory): a usage error, and a machine format still gets its one
/// document; the path is named escaped.
#[test]
fn test_with_nothing_to_run_prints_an_empty_document() {
    let dir = scratch("test-nothing");
    let empty = dir.join("empty\u{1b}[2J");
    std::fs::create_dir_all(&empty).unwrap();
    let empty = empty.to_str().unwrap();
    let output = mcp_policy(&["test", "--format", "json", empty]);
    assert_eq!(output.status.code(), Some(2));
    let document = json(&output);
    assert_eq!(document["files"], serde_json::json!([]));
    assert_eq!(document["passed"], 0);
    assert!(!stderr(&output).contains('\u{1b}'), "{:?}", stderr(&output));
    let output = mcp_policy(&["test", "--format", "sarif", "no-such.mcppolicy"]);
    assert_eq!(output.status.code(), Some(2));
    let log = json(&output);
    assert_eq!(
        log["runs"][0]["invocations"][0]["executionSuccessful"],
        false
    );
    assert_eq!(log["runs"][0]["results"], serde_json::json!([]));
}
