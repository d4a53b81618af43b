//! Output that cannot lie: names from a policy, a trace, a test file or a
//! token holding ESC, a line break, a bidi override (U+202E) or a
//! zero-width space (U+200B) reach the terminal (or the review page) as
//! visible escapes, from every command that prints them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::PathBuf;

use common::*;

/// A policy whose names hold ESC sequences, a carriage return, bidi
/// controls and zero-width characters (a policy string cannot hold a line
/// feed), and whose destructive rule makes `check` print a diagnostic
/// quoting them.
const POLICY: &str = "policy \"evil\u{1b}[2J\u{202E}\"\n\
default deny\n\
scope mcp:read  level read \"reads \u{1b}]0;title\u{7}\"\n\
scope mcp:admin level admin implies mcp:read\n\
tool \"list\u{1b}[31m_users\u{202E}\u{200B}\" requires mcp:read\n\
tool   \"delete\u{202E}_repo\u{2066}x\u{2069}\r\" requires mcp:read\n";

/// The same policy, its list tool now needing admin: `diff` has a change
/// to print.
fn next_policy() -> String {
    POLICY.replace(
        "\u{200B}\" requires mcp:read",
        "\u{200B}\" requires mcp:admin",
    )
}

const LIST: &str = "list\u{1b}[31m_users\u{202E}\u{200B}";

fn scratch(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mcp-policy-escaping-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A character that acts rather than shows (the line feeds of the output's
/// own lines excepted).
fn hidden(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(
            c,
            '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2060}'
                | '\u{FEFF}'
        )
}

/// No raw control, bidi or zero-width character, and the escapes of those
/// `escapes` lists shown.
fn assert_inert(what: &str, text: &str, escapes: &[&str]) {
    let raw: Vec<char> = text.chars().filter(|&c| hidden(c)).collect();
    assert!(raw.is_empty(), "{what}: raw {raw:?} in\n{text}");
    for escape in escapes {
        assert!(text.contains(escape), "{what}: no `{escape}` in\n{text}");
    }
}

#[test]
fn check_human_escapes_messages_and_source_lines() {
    let policy = scratch("check.mcppolicy", POLICY);
    let output = mcp_policy(&["check", policy.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stderr(&output);
    // The destructive rule's message quotes the name; its snippet shows the
    // source line, where the name's bidi controls and the carriage return
    // stand escaped.
    assert!(text.contains("destructive_reachable"), "{text}");
    assert_inert(
        "check",
        &text,
        &[
            "\\u{202e}",
            "\\u{2066}",
            "\\u{2069}",
            "\\r",
            "\\u{1b}",
            "\\u{200b}",
        ],
    );
    // The label still points at the requirement: the escapes moved it.
    let section = &text[text.find("lint::destructive_reachable").unwrap()..];
    let mut lines = section.lines().skip_while(|line| !line.starts_with(" 6 │"));
    let source_line = lines.next().unwrap();
    let underline = lines.next().unwrap();
    let column = |line: &str, pattern: &str| {
        line.find(pattern)
            .map(|byte| line[..byte].chars().count())
            .unwrap()
    };
    assert_eq!(
        column(underline, "─"),
        column(source_line, "mcp:read"),
        "{source_line}\n{underline}"
    );
}

#[test]
fn check_machine_formats_escape_too() {
    let policy = scratch("formats.mcppolicy", POLICY);
    let path = policy.to_str().unwrap();
    let github = mcp_policy(&["check", "--format", "github", path]);
    let text = stdout(&github);
    assert_inert("github", &text, &["\\u{202e}"]);
    // One workflow command a diagnostic: nothing forged a line of its own.
    assert!(text.lines().all(|line| line.starts_with("::")), "{text}");
    let sarif = mcp_policy(&["check", "--format", "sarif", path]);
    assert_inert("sarif", &stdout(&sarif), &["\\\\u{202e}"]);
    // JSON is exact data (serde escapes control characters): kept as is.
    let json = json(&mcp_policy(&["check", "--format", "json", path]));
    let message = json["diagnostics"][0]["message"].as_str().unwrap();
    assert!(message.contains('\u{202E}'), "{message}");
}

#[test]
fn explain_escapes_the_name_and_the_rule() {
    let policy = scratch("explain.mcppolicy", POLICY);
    let output = mcp_policy(&[
        "explain",
        policy.to_str().unwrap(),
        "--scopes",
        "mcp:read",
        "--tool",
        LIST,
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.starts_with("allow: tools/call `list"), "{text}");
    assert_inert("explain", &text, &["\\u{1b}[31m_users\\u{202e}\\u{200b}"]);
}

#[test]
fn matrix_escapes_names() {
    let policy = scratch("matrix.mcppolicy", POLICY);
    let output = mcp_policy(&["matrix", policy.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_inert(
        "matrix",
        &stdout(&output),
        &["\\u{202e}", "\\u{200b}", "\\u{1b}"],
    );
}

#[test]
fn diff_escapes_names_and_rules() {
    let old = scratch("old.mcppolicy", POLICY);
    let new = scratch("new.mcppolicy", &next_policy());
    for format in ["human", "markdown"] {
        let output = mcp_policy(&[
            "diff",
            old.to_str().unwrap(),
            new.to_str().unwrap(),
            "--format",
            format,
        ]);
        let text = stdout(&output);
        assert!(text.contains("list"), "{format}: {text}{}", stderr(&output));
        assert_inert(format, &text, &["\\u{202e}\\u{200b}"]);
        assert_inert(format, &stderr(&output), &[]);
    }
}

#[test]
fn simulate_escapes_what_the_trace_says() {
    let policy = scratch("simulate.mcppolicy", POLICY);
    // Each line recorded as allowed: the policy denies the subject's call
    // to the tool with a line break in its name, so the drift is printed.
    let trace = scratch(
        "trace.jsonl",
        concat!(
            r#"{"subject": "eve\u001b[2J\u202e\u200b\nforged", "scopes": "mcp:read", "method": "tools/call", "name": "list\u001b[31m_users\u202e\u200b\nforged line", "decision": "allow"}"#,
            "\n",
            r#"{"subject": "eve\u202e", "scopes": "mcp:admin", "method": "tools/call", "name": "list\u001b[31m_users\u202e\u200b", "decision": "deny", "rule": "tool \"x\u001b]0;t\u0007\""}"#,
            "\n",
        ),
    );
    let output = mcp_policy(&[
        "simulate",
        policy.to_str().unwrap(),
        "--trace",
        trace.to_str().unwrap(),
    ]);
    let text = format!("{}{}", stdout(&output), stderr(&output));
    assert_inert("simulate", &text, &["\\u{202e}", "\\n", "\\u{1b}"]);
    assert!(
        !text.lines().any(|line| line.starts_with("forged")),
        "{text}"
    );
}

#[test]
fn test_escapes_case_names_calls_and_the_test_file() {
    // The test files below name this policy beside them.
    scratch("suite.mcppolicy", POLICY);
    let tests = scratch(
        "suite.mcppolicy.test.yaml",
        "principals:\n  \"r\\e[2J\\u202E\": { scopes: \"mcp:read\" }\ntests:\n  - name: \"lists\\e[31m \\u202E\\u200B\\nforged\"\n    principal: \"r\\e[2J\\u202E\"\n    tool: \"list\\e[31m_users\\u202E\\u200B\"\n    expect: deny\n",
    );
    let output = mcp_policy(&["test", tests.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("FAILED"), "{text}");
    assert_inert(
        "test",
        &text,
        &["\\u{1b}[31m \\u{202e}\\u{200b}\\nforged", "\\u{202e}"],
    );
    // A malformed test file: the snippet of its source is escaped too.
    let broken = scratch(
        "broken.mcppolicy.test.yaml",
        "policy: suite.mcppolicy\ntests:\n  - name: x\n    tool: a\n    expect: \"sometimes\u{202E}\u{200B}\"\n",
    );
    let output = mcp_policy(&["test", broken.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_inert(
        "test (malformed)",
        &stderr(&output),
        &["\\u{202e}\\u{200b}"],
    );
}

/// An unsigned token (rejected) whose subject holds ESC, U+202E, U+200B
/// and a line break, and a claim named with U+202E valued with isolates.
const TOKEN: &str = "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.eyJhdWQiOiJodHRwczovL21jcC5leGFtcGxlLmNvbSIsImV4cCI6MTcwMDAwMzYwMCwiaWF0IjoxNjk5OTk5OTQwLCJpc3MiOiJodHRwczovL2F1dGguZXhhbXBsZS5jb20iLCJzY29wZSI6Im1jcDpyZWFkIiwic3ViIjoiZXZpbFx1MDAxYlsySlx1MjAyZVx1MjAwYlxuZm9yZ2VkOiBsaW5lIiwieFx1MjAyZXRhZyI6Ilx1MjA2NnZcdTIwNjkifQ.";

#[test]
fn token_verify_escapes_claims() {
    let output = mcp_policy(&[
        "token",
        "verify",
        TOKEN,
        "--jwks",
        "examples/github-server/dev-keys/jwks.json",
        "--issuer",
        "https://auth.example.com",
        "--audience",
        "https://mcp.example.com",
        "--now",
        "1700000000",
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("claims"), "{text}");
    assert_inert("token", &text, &["x\\u{202e}tag", "\\u{2066}v\\u{2069}"]);
}

#[test]
fn fmt_check_escapes_its_diff() {
    let policy = scratch("fmt.mcppolicy", POLICY);
    let output = mcp_policy(&["fmt", "--check", policy.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("+tool \"delete"), "{text}");
    assert_inert("fmt --check", &text, &["\\u{202e}", "\\r"]);
}

#[test]
fn a_tools_file_error_quoting_its_text_is_escaped() {
    let policy = scratch("tools-policy.mcppolicy", POLICY);
    let tools = scratch(
        "tools.json",
        "{\"tools\": [{\"name\": \"a\", \"annotations\": {\"readOnlyHint\": \"yes\u{202E}\\u001b[2J\"}}]}",
    );
    let output = mcp_policy(&[
        "check",
        policy.to_str().unwrap(),
        "--tools",
        tools.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert_inert(
        "--tools error",
        &stderr(&output),
        &["yes\\u{202e}\\u{1b}[2J"],
    );
}
