//! `mcp-policy simulate`: the example traces replayed on the example
//! policies, as users run it; exit codes, JSON shapes, and snapshots of
//! what people read.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::{json, mcp_policy, root, stderr, stdout};

const POLICY: &str = "examples/github.mcppolicy";
const NEXT: &str = "examples/traces/github-next.mcppolicy";
const TRACE: &str = "examples/traces/github.jsonl";
const HANDWRITTEN: &str = "examples/traces/handwritten.jsonl";

/// A trace written for one test, under cargo's scratch directory.
fn scratch(name: &str, text: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("simulate-{name}.jsonl"));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn replays_the_runtime_log_example() {
    let output = mcp_policy(&["simulate", POLICY, "--trace", TRACE]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stderr(&output), "");
    insta::assert_snapshot!(stdout(&output));
}

#[test]
fn replays_handwritten_records() {
    let output = mcp_policy(&["simulate", POLICY, "--trace", HANDWRITTEN]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    insta::assert_snapshot!(stdout(&output));
}

#[test]
fn against_lists_every_change_then_counts_them() {
    let output = mcp_policy(&["simulate", POLICY, "--trace", TRACE, "--against", NEXT]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert_eq!(text.matches("\nchange: ").count() + 1, 5, "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn json_summary_has_the_documented_shape() {
    let output = mcp_policy(&["simulate", POLICY, "--trace", TRACE, "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let value = json(&output);
    assert_eq!(value["calls"], 33);
    assert_eq!(value["allowed"], 23);
    assert_eq!(value["denied"], 10);
    assert_eq!(value["skipped"], 4);
    assert_eq!(value["lines"], 37);
    assert_eq!(value["drift"], 1);
    assert_eq!(value["drifted"][0]["line"], 24);
    assert_eq!(value["drifted"][0]["recorded"]["decision"], "allow");
    assert_eq!(value["drifted"][0]["replayed"]["decision"], "deny");
    assert!(value.get("changes").is_none());
    assert!(value.get("allow_to_deny").is_none());
    let close = value["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|tool| tool["name"] == "close_issue")
        .unwrap();
    assert_eq!(close["method"], "tools/call");
    assert_eq!(
        (close["allowed"].as_u64(), close["denied"].as_u64()),
        (Some(0), Some(3))
    );
    assert_eq!(close["reasons"][0]["missing_scopes"][0], "mcp:write");
    assert_eq!(close["reasons"][0]["rule"]["line"], 20);
    assert_eq!(value["principals"][0]["subject"], "alice");
    assert_eq!(value["other_tools"], serde_json::Value::Null);
    insta::assert_snapshot!(serde_json::to_string_pretty(&value).unwrap());
}

#[test]
fn json_against_streams_changes_into_one_document() {
    let output = mcp_policy(&[
        "simulate",
        POLICY,
        "--trace",
        TRACE,
        "--against",
        NEXT,
        "--format",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // One change a line, inside one JSON document.
    let text = stdout(&output);
    assert_eq!(
        text.lines().filter(|l| l.starts_with("{\"after\"")).count(),
        5
    );
    let value = json(&output);
    assert_eq!(value["against"], NEXT);
    let changes = value["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 5);
    assert_eq!(changes[0]["line"], 10);
    assert_eq!(changes[0]["principal"]["subject"], "ci-bot");
    assert_eq!(changes[0]["before"]["decision"], "allow");
    assert_eq!(changes[0]["after"]["decision"], "deny");
    assert_eq!(
        changes[0]["after"]["rule"]["text"],
        r#"tool create_pr_draft requires any_of(mcp:admin, all_of(mcp:write, arg.repo matches "acme/*"))"#
    );
    assert_eq!(
        (
            value["allow_to_deny"].as_u64(),
            value["deny_to_allow"].as_u64()
        ),
        (Some(4), Some(1))
    );
    insta::assert_snapshot!(serde_json::to_string_pretty(&value).unwrap());
}

#[test]
fn a_policy_against_itself_changes_nothing() {
    let output = mcp_policy(&[
        "simulate",
        POLICY,
        "--trace",
        TRACE,
        "--against",
        POLICY,
        "--format",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(0));
    let value = json(&output);
    assert_eq!(value["changes"].as_array().unwrap().len(), 0);
    assert_eq!(value["allow_to_deny"], 0);
    assert_eq!(value["deny_to_allow"], 0);
}

#[test]
fn malformed_lines_are_reported_and_exit_2_after_the_whole_replay() {
    let good = r#"{"subject":"s","scopes":"mcp:read","method":"tools/call","name":"search_repos"}"#;
    let mut lines = vec![good.to_owned(), "not json".to_owned()];
    lines.push(r#"{"scopes":"","method":"tools/cal","name":"x"}"#.to_owned());
    lines.push(r#"{"method":"tools/call","name":"x"}"#.to_owned());
    // More than are reported one by one.
    for _ in 0..10 {
        lines.push("{".to_owned());
    }
    lines.push(good.to_owned());
    let trace = scratch("malformed", &(lines.join("\n") + "\n"));
    let output = mcp_policy(&["simulate", POLICY, "--trace", trace.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let errors = stderr(&output).replace(trace.to_str().unwrap(), "TRACE");
    insta::assert_snapshot!(errors);
    assert!(
        stdout(&output).contains("allowed 2, denied 0"),
        "{}",
        stdout(&output)
    );
    assert!(stdout(&output).contains("15 read, 0 without a call, 13 malformed"));

    let output = mcp_policy(&[
        "simulate",
        POLICY,
        "--trace",
        trace.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(stderr(&output), "", "JSON keeps the errors in the document");
    let value = json(&output);
    assert_eq!(value["malformed"], 13);
    assert_eq!(value["errors"].as_array().unwrap().len(), 10);
    assert_eq!(value["errors"][0]["line"], 2);
    assert_eq!(value["errors"][0]["message"], "not a JSON object");
}

#[test]
fn reads_the_trace_from_standard_input() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-policy"))
        .args(["simulate", POLICY, "--trace", "-", "--format", "json"])
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let trace = std::fs::read(root().join(HANDWRITTEN)).unwrap();
    child.stdin.take().unwrap().write_all(&trace).unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let value = json(&output);
    assert_eq!(value["trace"], "-");
    assert_eq!(value["calls"], 7);
}

#[test]
fn principals_beyond_the_cap_are_counted_together() {
    let lines: Vec<String> = (0..1_005)
        .map(|i| {
            format!(
                r#"{{"subject":"user-{i:04}","scopes":"mcp:read","method":"tools/call","name":"list_users"}}"#
            )
        })
        .collect();
    let trace = scratch("many-principals", &(lines.join("\n") + "\n"));
    let output = mcp_policy(&["simulate", POLICY, "--trace", trace.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("  user-0999 "), "{text}");
    assert!(!text.contains("user-1000"), "{text}");
    let other = text
        .lines()
        .find(|line| line.starts_with("  (other: 5 more)"))
        .unwrap_or_else(|| panic!("no other row in {text}"));
    assert_eq!(
        other.split_whitespace().collect::<Vec<_>>(),
        ["(other:", "5", "more)", "5", "0"]
    );

    let output = mcp_policy(&[
        "simulate",
        POLICY,
        "--trace",
        trace.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let value = json(&output);
    assert_eq!(value["principals"].as_array().unwrap().len(), 1_000);
    assert_eq!(value["other_principals"]["allowed"], 5);
    assert_eq!(value["other_principals"]["keys"], 5);
    assert_eq!(value["other_principals"]["keys_at_least"], false);
}

#[test]
fn an_empty_trace_replays_nothing() {
    let trace = scratch("empty", "");
    let output = mcp_policy(&["simulate", POLICY, "--trace", trace.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).starts_with("replayed 0 calls from"));
    assert!(stdout(&output).contains("lines: 0 read"));
}

#[test]
fn usage_and_policy_errors() {
    let missing = mcp_policy(&["simulate", POLICY, "--trace", "no/such/trace.jsonl"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).starts_with("error: cannot read `no/such/trace.jsonl`:"),
        "{}",
        stderr(&missing)
    );
    assert_eq!(mcp_policy(&["simulate", POLICY]).status.code(), Some(2));
    let broken = mcp_policy(&[
        "simulate",
        "tests/diagnostics/unknown_scope.mcppolicy",
        "--trace",
        TRACE,
    ]);
    assert_eq!(broken.status.code(), Some(1));
    assert!(stderr(&broken).contains("unknown scope `mcp:wirte`"));
    let broken_new = mcp_policy(&[
        "simulate",
        POLICY,
        "--trace",
        TRACE,
        "--against",
        "tests/diagnostics/unknown_scope.mcppolicy",
    ]);
    assert_eq!(broken_new.status.code(), Some(1));
    assert_eq!(stdout(&broken_new), "");
}

#[test]
fn the_next_policy_example_checks_and_is_formatted() {
    let check = mcp_policy(&["check", NEXT]);
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
    assert_eq!(stderr(&check), "checked 1 file: 0 errors, 0 warnings\n");
    let fmt = mcp_policy(&["fmt", "--check", NEXT]);
    assert_eq!(fmt.status.code(), Some(0), "{}", stdout(&fmt));
}

#[test]
fn fail_on_gates_ci_on_what_the_replay_finds() {
    let run = |extra: &[&str]| {
        let mut args = vec!["simulate", POLICY, "--trace", TRACE];
        args.extend_from_slice(extra);
        mcp_policy(&args)
    };
    // The example next policy takes 4 recorded calls away and allows 1 more.
    for (finding, message) in [
        (
            "narrowed",
            "error: 4 calls allowed before denied now (--fail-on)",
        ),
        (
            "widened",
            "error: 1 call denied before allowed now (--fail-on)",
        ),
        ("any", "error: 5 calls decided otherwise (--fail-on)"),
    ] {
        let output = run(&["--against", NEXT, "--fail-on", finding]);
        assert_eq!(output.status.code(), Some(1), "{finding}");
        assert!(stderr(&output).contains(message), "{}", stderr(&output));
        // The whole report is still printed first.
        assert!(stdout(&output).contains("changed: 5 calls"));
    }
    // A policy against itself changes nothing, whatever the gate.
    let output = run(&["--against", POLICY, "--fail-on", "any"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));

    // The log records one decision this policy would not make.
    let output = run(&["--fail-on", "drift"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("1 call the policy decides otherwise than recorded"));
    let output = mcp_policy(&[
        "simulate",
        POLICY,
        "--trace",
        HANDWRITTEN,
        "--fail-on",
        "drift",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));

    // Comparing needs two policies.
    let output = run(&["--fail-on", "narrowed"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("give the second with `--against`"));
}

#[test]
fn control_characters_from_the_trace_never_reach_the_terminal() {
    // Escape sequences and carriage returns in every field a client or a
    // log writer controls: the subject, the scopes, the name, the recorded
    // rule, a method that makes the line malformed.
    let lines = [
        r#"{"subject":"ci\u001b[2Jbot\r","scopes":"github:repos x\u001b]0;pwned\u0007","method":"tools/call","name":"create_pr_draft","arguments":{"repo":"acme/widgets"},"decision":"deny","rule":"tool a\r\u001b[1A requires b"}"#,
        r#"{"subject":"eve","scopes":"mcp:read","method":"tools/call","name":"\u001b[2Jdelete_repo\r","decision":"deny"}"#,
        r#"{"scopes":"mcp:read \u001b[31mred","method":"tools/call","name":"delete_repo\u001b[0m"}"#,
        r#"{"scopes":"","method":"tools/\u001b[2Jcall\r","name":"x"}"#,
    ];
    let trace = scratch("control-characters", &(lines.join("\n") + "\n"));
    let output = mcp_policy(&[
        "simulate",
        POLICY,
        "--trace",
        trace.to_str().unwrap(),
        "--against",
        NEXT,
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let (out, err) = (stdout(&output), stderr(&output));
    for (stream, text) in [("stdout", &out), ("stderr", &err)] {
        assert!(
            !text.contains(['\u{1b}', '\r', '\u{7}']),
            "raw control characters on {stream}: {text:?}"
        );
    }
    // Escaped, so the reader still sees what the client sent.
    assert!(out.contains("change: line 1: ci\\u{1b}[2Jbot\\r [github:repos x\\u{1b}]0;pwned\\u{7}] tools/call `create_pr_draft`: allow → deny"), "{out}");
    assert!(
        out.contains("    recorded: tool a\\r\\u{1b}[1A requires b"),
        "{out}"
    );
    assert!(
        out.contains("  tools/call \\u{1b}[2Jdelete_repo\\r "),
        "{out}"
    );
    assert!(
        out.contains("(no subject) scopes [mcp:read \\u{1b}[31mred]"),
        "{out}"
    );
    assert!(
        out.contains("tools/call `delete_repo\\u{1b}[0m`: no scope can allow"),
        "{out}"
    );
    assert!(
        err.contains("unknown method `tools/\\u{1b}[2Jcall\\r`"),
        "{err}"
    );

    // JSON escapes them as JSON does, and keeps the text.
    let output = mcp_policy(&[
        "simulate",
        POLICY,
        "--trace",
        trace.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(!output.stdout.contains(&0x1b) && !output.stdout.contains(&b'\r'));
    let value = json(&output);
    assert_eq!(
        value["drifted"][0]["principal"]["subject"],
        "ci\u{1b}[2Jbot\r"
    );
}

/// `simulate` with standard input open on `examples/`, a directory: it
/// opens, and fails on the first read. (Named as `--trace examples`, a
/// directory is refused before it is opened; see tests/inputs.rs.)
fn simulate_reading_a_directory(extra: &[&str]) -> std::process::Output {
    let directory = std::fs::File::open(root().join("examples")).unwrap();
    Command::new(env!("CARGO_BIN_EXE_mcp-policy"))
        .args(["simulate", POLICY, "--trace", "-"])
        .args(extra)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .stdin(Stdio::from(directory))
        .output()
        .unwrap()
}

#[test]
fn json_output_stays_one_document_when_the_trace_cannot_be_read() {
    for against in [None, Some(NEXT)] {
        let mut args = vec!["--format", "json"];
        if let Some(next) = against {
            args.extend(["--against", next]);
        }
        let output = simulate_reading_a_directory(&args);
        assert_eq!(output.status.code(), Some(2), "{against:?}");
        let value: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|error| panic!("{error}: {:?}", stdout(&output)));
        assert_eq!(value["trace"], "-");
        assert_eq!(value["error"]["line"], 1, "{value}");
        assert!(
            value["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("cannot read the trace: "),
            "{value}"
        );
        assert!(
            value.get("calls").is_none(),
            "no summary of an unread trace"
        );
        if against.is_some() {
            assert_eq!(value["changes"], serde_json::json!([]));
        }
        assert!(
            stderr(&output).starts_with("error: `-`: line 1: cannot read the trace: "),
            "{}",
            stderr(&output)
        );
    }
    // Human output: the error, on standard error only.
    let output = simulate_reading_a_directory(&[]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(stdout(&output), "");
}

#[test]
fn a_fail_on_finding_is_still_reported_when_malformed_lines_exit_2() {
    let lines = [
        // Recorded as allowed; the policy denies it: drift.
        r#"{"subject":"s","scopes":"mcp:read","method":"tools/call","name":"delete_repo","decision":"allow"}"#,
        "not json",
    ];
    let trace = scratch("malformed-and-drift", &(lines.join("\n") + "\n"));
    for format in ["human", "json"] {
        let output = mcp_policy(&[
            "simulate",
            POLICY,
            "--trace",
            trace.to_str().unwrap(),
            "--fail-on",
            "drift",
            "--format",
            format,
        ]);
        assert_eq!(output.status.code(), Some(2), "{format}");
        assert!(
            stderr(&output).contains(
                "note: 1 call the policy decides otherwise than recorded \
                 (--fail-on; exit 2 for the malformed lines takes precedence)"
            ),
            "{format}: {}",
            stderr(&output)
        );
        assert!(
            !stderr(&output).contains("error: 1 call"),
            "{}",
            stderr(&output)
        );
    }
    // Without a finding (a policy against itself changes nothing), no note.
    let output = mcp_policy(&[
        "simulate",
        POLICY,
        "--trace",
        trace.to_str().unwrap(),
        "--against",
        POLICY,
        "--fail-on",
        "any",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(!stderr(&output).contains("note:"), "{}", stderr(&output));
}

/// `simulate --against NEXT --format json` on `trace`: the exit code, and
/// standard output as text and parsed (it must be one JSON document).
fn json_against(trace: &std::path::Path) -> (Option<i32>, String, serde_json::Value) {
    let output = mcp_policy(&[
        "simulate",
        POLICY,
        "--trace",
        trace.to_str().unwrap(),
        "--against",
        NEXT,
        "--format",
        "json",
    ]);
    let text = stdout(&output);
    let value = serde_json::from_str(&text).unwrap_or_else(|error| panic!("{error}: {text}"));
    (output.status.code(), text, value)
}

/// The changes streamed into a JSON document, one a line.
fn change_lines(text: &str) -> usize {
    text.lines().filter(|l| l.starts_with("{\"after\"")).count()
}

/// Names a client controls, at JSON's awkward edges: quotes, backslashes,
/// NUL and other control characters, non-ASCII, U+2028 and U+2029 (valid
/// in JSON strings, not in older JavaScript), an empty name.
const HOSTILE: [&str; 8] = [
    "he said \"hi\"",
    "back\\slash",
    "nul\u{0}x",
    "ctl\u{1}\u{1b}[2J\r\n\t",
    "café 日本 😀",
    "sep\u{2028}line\u{2029}para",
    "",
    "}]\n,{\"after\":",
];

#[test]
fn json_output_of_hostile_names_parses_back_to_the_same_text() {
    let mut lines = Vec::new();
    for name in HOSTILE {
        let quoted = serde_json::to_string(name).unwrap();
        let scopes = serde_json::to_string(&format!("github:repos {name}")).unwrap();
        // Allowed (in acme), then denied on NEXT: a change; recorded as
        // denied: drift.
        lines.push(format!(
            r#"{{"subject":{quoted},"client":{quoted},"scopes":{scopes},"method":"tools/call","name":"create_pr_draft","arguments":{{"repo":"acme/widgets"}},"decision":"deny","rule":{quoted}}}"#
        ));
        // A name no rule knows, without a subject: the principals' table
        // keys it by its scopes.
        lines.push(format!(
            r#"{{"scopes":{quoted},"method":"tools/call","name":{quoted},"decision":"allow","rule":"default"}}"#
        ));
    }
    // Malformed lines whose messages quote what they saw.
    lines.push("not json \u{2028} \"".to_owned());
    lines.push(r#"{"subject":"x","method":"tools/\u2028\"call","name":"x"}"#.to_owned());
    let trace = scratch("hostile-names", &(lines.join("\n") + "\n"));
    let (code, text, value) = json_against(&trace);
    assert_eq!(code, Some(2));
    // One change a line: no name breaks a line of the document.
    assert_eq!(change_lines(&text), HOSTILE.len(), "{text}");
    let changes = value["changes"].as_array().unwrap();
    let drifted = value["drifted"].as_array().unwrap();
    assert_eq!(changes.len(), HOSTILE.len(), "{value}");
    // Both lines of each name drift.
    assert_eq!(drifted.len(), 2 * HOSTILE.len(), "{value}");
    for (index, name) in HOSTILE.iter().enumerate() {
        let change = &changes[index];
        let scopes: Vec<&str> = change["principal"]["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|scope| scope.as_str().unwrap())
            .collect();
        assert_eq!(
            scopes.join(" "),
            format!("github:repos {name}").trim_end_matches(' ')
        );
        assert_eq!(drifted[2 * index + 1]["name"], *name);
        if !name.is_empty() {
            // (An empty subject, client or rule is none.)
            assert_eq!(drifted[2 * index]["recorded"]["rule"], *name);
            assert_eq!(change["principal"]["subject"], *name);
            assert_eq!(change["principal"]["client"], *name);
        }
        assert!(
            value["principals"]
                .as_array()
                .unwrap()
                .iter()
                .any(|row| row["scopes"] == *name),
            "{name:?}"
        );
    }
    let tools = value["tools"].as_array().unwrap();
    for name in HOSTILE.iter().filter(|name| !name.is_empty()) {
        assert!(tools.iter().any(|row| row["name"] == *name), "{name:?}");
    }
    let errors = value["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{value}");
    assert!(
        errors[1]["message"]
            .as_str()
            .unwrap()
            .contains("tools/\u{2028}\"call"),
        "{value}"
    );
}

#[test]
fn a_hundredfold_trace_streams_into_one_document() {
    let trace = std::fs::read_to_string(root().join(TRACE)).unwrap();
    let lines = trace.lines().count() as u64;
    let big = scratch("hundredfold", &trace.repeat(100));
    let (code, text, value) = json_against(&big);
    assert_eq!(code, Some(0));
    // Every change, streamed one a line; the kept drift capped.
    assert_eq!(change_lines(&text), 500);
    assert_eq!(value["changes"].as_array().unwrap().len(), 500);
    assert_eq!(value["changes"][499]["line"], 99 * lines + 35);
    assert_eq!(value["calls"], 3_300);
    assert_eq!(value["lines"], 100 * lines);
    assert_eq!(value["drift"], 100);
    assert_eq!(value["drifted"].as_array().unwrap().len(), 20);
    assert_eq!(value["errors"], serde_json::json!([]));
}
