//! Every file the CLI reads is bounded and never blocks: devices, FIFOs,
//! directories and oversized files end with a diagnostic, quickly; a policy
//! that is not UTF-8 is a broken policy; a compiled table gets the
//! compiler's checks on load.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Longer than any of these runs should take; a run past it is a hang.
const TIMEOUT: Duration = Duration::from_secs(20);

/// A scratch directory of the test's own (tests run in parallel).
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mcp-policy-inputs-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `mcp-policy` at the repository root with `stdin`, killed past
/// [`TIMEOUT`] (the test then fails, rather than hanging the suite).
fn bounded_with(args: &[&str], stdin: Stdio) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-policy"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "`mcp-policy {}` still running after {TIMEOUT:?}; stderr: {}",
                args.join(" "),
                stderr(&output)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn bounded(args: &[&str]) -> Output {
    bounded_with(args, Stdio::null())
}

/// Asserts exit code 2 and the read diagnostic with `code` on stderr.
fn refused(output: &Output, code: &str, message: &str) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains(message), "expected `{message}` in: {err}");
    assert!(
        err.contains(&format!("[{code}]")),
        "expected [{code}] in: {err}"
    );
}

const NOT_A_FILE: &str = "mcp_policy::input::not_a_file";
const TOO_LARGE: &str = "mcp_policy::input::too_large";
const DEVICE: &str = "a character device, not a regular file";

fn mkfifo(path: &Path) {
    let made = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(made.success());
}

#[test]
fn dev_zero_is_refused_as_every_kind_of_input() {
    let dir = scratch("zero");
    // A test file whose policy and JWKS are the device.
    let tests = dir.join("zero.yaml");
    std::fs::write(&tests, "policy: /dev/zero\nprincipals:\n  p: { scopes: a }\ntests:\n  - { name: t, principal: p, tool: x, expect: deny }\n").unwrap();
    let jwks_tests = dir.join("jwks.yaml");
    std::fs::write(
        &jwks_tests,
        format!(
            "policy: {}\nprincipals:\n  p: {{ jwt: x.y.z, jwks: /dev/zero, issuer: i, audience: a, now: 2024-01-01T00:00:00Z }}\ntests:\n  - {{ name: t, principal: p, tool: search_repos, expect: unauthenticated, rejection: malformed }}\n",
            root().join("examples/github.mcppolicy").display()
        ),
    )
    .unwrap();
    // A test file that is the device, through a link with a test file's name.
    let linked = dir.join("linked.yaml");
    #[cfg(unix)]
    std::os::unix::fs::symlink("/dev/zero", &linked).unwrap();
    let secret = dir.join("secret");
    let jwks = root().join("examples/github-server/dev-keys/jwks.json");
    let (tests, jwks_tests, linked) = (
        tests.to_str().unwrap(),
        jwks_tests.to_str().unwrap(),
        linked.to_str().unwrap(),
    );
    std::fs::write(&secret, "x").unwrap();
    let policy = "examples/github.mcppolicy";
    let runs: Vec<Vec<&str>> = vec![
        vec!["check", "/dev/zero"],
        vec!["lint", "--tools", "/dev/zero", policy],
        vec!["compile", "/dev/zero", "-o", "-"],
        vec!["explain", "/dev/zero", "--tool", "x"],
        vec!["fmt", "--check", "/dev/zero"],
        vec!["matrix", "/dev/zero"],
        vec!["test", linked],
        vec!["simulate", policy, "--trace", "/dev/zero"],
        vec![
            "token",
            "verify",
            "x.y.z",
            "--jwks",
            "/dev/zero",
            "--issuer",
            "i",
            "--audience",
            "a",
        ],
        vec![
            "token",
            "verify",
            "x.y.z",
            "--jwks",
            jwks.to_str().unwrap(),
            "--issuer",
            "i",
            "--audience",
            "a",
            "--algorithms",
            "HS256",
            "--secret-file",
            "/dev/zero",
        ],
    ];
    for args in runs {
        let started = Instant::now();
        let output = bounded(&args);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(DEVICE), "{args:?}: {err}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{args:?} took {:?}",
            started.elapsed()
        );
    }
    // A test file naming the device as its policy: refused before it is
    // opened, as a policy path (it is not named as a policy).
    let output = bounded(&["test", tests]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(err.contains("mcp_policy::test::policy_path"), "{err}");
    // The JWKS of a test file's principal: the test cannot run.
    let output = bounded(&["test", jwks_tests]);
    let err = stderr(&output);
    assert_ne!(output.status.code(), Some(0), "{err}");
    assert!(err.contains(DEVICE), "{err}");
}

#[test]
fn standard_input_is_read_with_the_same_bound() {
    for (args, limit) in [
        (
            vec!["check", "-"],
            "larger than 64 MiB, the limit for a compiled policy",
        ),
        (
            vec![
                "token",
                "verify",
                "-",
                "--jwks",
                "j",
                "--issuer",
                "i",
                "--audience",
                "a",
            ],
            "larger than 1 MiB, the limit for a token",
        ),
    ] {
        let zero = std::fs::File::open("/dev/zero").unwrap();
        let output = bounded_with(&args, Stdio::from(zero));
        refused(&output, TOO_LARGE, limit);
    }
}

#[test]
fn an_oversized_policy_is_refused_unparsed() {
    let dir = scratch("large");
    let path = dir.join("large.mcppolicy");
    // 16 MiB and one byte of comment: valid text, past the limit.
    let mut text = "# ".to_owned();
    text.push_str(&"x".repeat((16 << 20) - 1));
    std::fs::write(&path, &text).unwrap();
    let output = bounded(&["check", path.to_str().unwrap()]);
    refused(
        &output,
        TOO_LARGE,
        "larger than 16 MiB, the limit for a policy",
    );
    // At the limit it is read: a valid policy with one rule, padded with a
    // comment. (Not an empty one, whose warning would quote the 16 MiB
    // line back.)
    let rules = "scope a level read \"A\"\ntool t requires a\n";
    let mut text = rules.to_owned();
    text.push_str("# ");
    text.push_str(&"x".repeat((16 << 20) - rules.len() - 2));
    assert_eq!(text.len(), 16 << 20);
    std::fs::write(&path, &text).unwrap();
    let output = bounded(&["check", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn an_oversized_tools_list_and_test_file_are_refused() {
    let dir = scratch("large-inputs");
    let big = dir.join("big.yaml");
    std::fs::write(&big, vec![b' '; (16 << 20) + 1]).unwrap();
    let big = big.to_str().unwrap();
    refused(
        &bounded(&["check", "--tools", big, "examples/github.mcppolicy"]),
        TOO_LARGE,
        "the limit for a tools list",
    );
    refused(
        &bounded(&["test", big]),
        TOO_LARGE,
        "the limit for a test file",
    );
}

#[cfg(unix)]
#[test]
fn a_fifo_without_a_writer_does_not_hang() {
    let dir = scratch("fifo");
    let fifo = dir.join("policy.mcppolicy");
    mkfifo(&fifo);
    let fifo = fifo.to_str().unwrap();
    for args in [
        vec!["check", fifo],
        vec!["explain", fifo, "--tool", "x"],
        vec!["simulate", "examples/github.mcppolicy", "--trace", fifo],
        vec!["check", "--tools", fifo, "examples/github.mcppolicy"],
    ] {
        refused(
            &bounded(&args),
            NOT_A_FILE,
            "a FIFO (named pipe), not a regular file",
        );
    }
}

#[test]
fn a_directory_is_refused() {
    let dir = scratch("directory");
    let output = bounded(&["check", dir.to_str().unwrap()]);
    refused(&output, NOT_A_FILE, "a directory, not a regular file");
}

#[test]
fn a_policy_that_is_not_utf8_is_a_broken_policy() {
    let dir = scratch("latin1");
    let path = dir.join("latin1.mcppolicy");
    // `é` in Latin-1, on line 2.
    std::fs::write(
        &path,
        b"scope mcp:read level read\ntool caf\xe9 requires mcp:read\n",
    )
    .unwrap();
    let output = mcp_policy_in(&dir, &["check", "latin1.mcppolicy"]);
    assert_eq!(output.status.code(), Some(1));
    insta::assert_snapshot!(stderr(&output));
    let output = mcp_policy_in(&dir, &["check", "--format", "json", "latin1.mcppolicy"]);
    assert_eq!(output.status.code(), Some(1));
    let diagnostic = &json(&output)["diagnostics"][0];
    assert_eq!(diagnostic["code"], "mcp_policy::syntax");
    assert_eq!(diagnostic["line"], 2);
    assert_eq!(diagnostic["column"], 9);
    for args in [
        vec!["compile", "latin1.mcppolicy", "-o", "-"],
        vec!["explain", "latin1.mcppolicy", "--tool", "x"],
    ] {
        let output = mcp_policy_in(&dir, &args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(stderr(&output).contains("the policy is not UTF-8 text"));
    }
}

#[test]
fn a_byte_order_mark_is_skipped() {
    let dir = scratch("bom");
    let source = std::fs::read(root().join("examples/github.mcppolicy")).unwrap();
    let mut with_bom = b"\xef\xbb\xbf".to_vec();
    with_bom.extend(&source);
    std::fs::write(dir.join("bom.mcppolicy"), &with_bom).unwrap();
    let output = mcp_policy_in(&dir, &["check", "bom.mcppolicy"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("0 errors, 0 warnings"),
        "{}",
        stderr(&output)
    );
    let output = mcp_policy_in(&dir, &["compile", "bom.mcppolicy", "-o", "bom.json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // A table with a mark before it loads too.
    let mut table = b"\xef\xbb\xbf".to_vec();
    table.extend(std::fs::read(dir.join("bom.json")).unwrap());
    std::fs::write(dir.join("bom.json"), table).unwrap();
    let output = mcp_policy_in(&dir, &["explain", "bom.json", "--tool", "search_repos"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

/// `examples/github.mcppolicy` compiled, as JSON to edit.
fn compiled(dir: &Path) -> serde_json::Value {
    let out = dir.join("github.json");
    let output = mcp_policy(&[
        "compile",
        "examples/github.mcppolicy",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap()
}

fn scope_index(table: &serde_json::Value, name: &str) -> usize {
    table["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .position(|scope| scope["name"] == name)
        .unwrap()
}

#[test]
fn a_table_the_compiler_would_reject_is_refused_on_load() {
    let dir = scratch("defects");
    let good = compiled(&dir);
    let read = scope_index(&good, "mcp:read");
    let admin = scope_index(&good, "mcp:admin");
    type Edit = fn(&mut serde_json::Value, usize, usize);
    let defects: [(&str, Edit, &str); 5] = [
        (
            "cycle",
            |table, read, admin| {
                // mcp:read implies mcp:admin: a read token would be an admin.
                table["scopes"][read]["implies"] = serde_json::json!([admin]);
            },
            "scopes imply each other in a cycle",
        ),
        (
            "duplicate",
            |table, _, _| {
                let rules = table["rules"].as_array_mut().unwrap();
                let mut copy = rules[0].clone();
                copy["allow"] = serde_json::json!([]);
                copy.as_object_mut().unwrap().remove("allow");
                rules.push(copy);
            },
            "have the same target [mcp_policy::duplicate_rule]",
        ),
        (
            "space",
            |table, read, _| table["scopes"][read]["name"] = "a b".into(),
            "`a b` is not a valid scope name (contains a space) [mcp_policy::invalid_scope_name]",
        ),
        (
            "empty-glob",
            |table, _, _| {
                table["rules"]
                    .as_array_mut()
                    .unwrap()
                    .push(serde_json::json!({"kind": "tool", "target": {"glob": ""}, "text": "tool \"\"", "line": 99}));
            },
            "has an empty target [mcp_policy::empty_target]",
        ),
        (
            "reserved",
            |table, read, _| table["scopes"][read]["name"] = "any_of".into(),
            "a scope cannot be named `any_of` [mcp_policy::reserved_scope_name]",
        ),
    ];
    for (name, edit, message) in defects {
        let mut table = good.clone();
        edit(&mut table, read, admin);
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, serde_json::to_string_pretty(&table).unwrap()).unwrap();
        let path = path.to_str().unwrap();
        for args in [
            vec!["check", path],
            vec!["explain", path, "--tool", "search_repos"],
            vec!["matrix", path],
        ] {
            let output = mcp_policy(&args);
            let err = stderr(&output);
            assert_eq!(output.status.code(), Some(1), "{name} {args:?}: {err}");
            assert!(err.contains("the compiler rejects it"), "{name}: {err}");
            assert!(
                err.contains("mcp_policy::invalid_artifact"),
                "{name}: {err}"
            );
            if args[0] == "check" {
                assert!(err.contains("checked 1 file: 1 error"), "{name}: {err}");
            }
            assert!(
                err.contains(message),
                "{name}: expected `{message}` in {err}"
            );
        }
    }
}

#[test]
fn check_accepts_a_compiled_table() {
    let dir = scratch("check-table");
    compiled(&dir);
    let output = mcp_policy(&["check", dir.join("github.json").to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stderr(&output).contains("checked 1 file: 0 errors, 0 warnings"));
}

#[test]
fn explain_on_a_table_names_the_source_line() {
    let dir = scratch("explain-table");
    let mut table = compiled(&dir);
    assert_eq!(table["source"], "examples/github.mcppolicy");
    // Version 3: the example has conditions.
    assert_eq!(table["version"], 3);
    let json = dir.join("github.json");
    let output = mcp_policy(&[
        "explain",
        json.to_str().unwrap(),
        "--tool",
        "delete_repo",
        "--scopes",
        "mcp:admin",
    ]);
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let source = mcp_policy(&[
        "explain",
        "examples/github.mcppolicy",
        "--tool",
        "delete_repo",
        "--scopes",
        "mcp:admin",
    ]);
    // The same lines as on the source itself, and never the JSON's name.
    assert_eq!(out, stdout(&source));
    assert!(out.contains("(examples/github.mcppolicy:"), "{out}");
    assert!(!out.contains("github.json"), "{out}");

    // Version 1 had no conditions: a table that has them cannot claim it.
    let mut old = table.clone();
    old["version"] = 1.into();
    std::fs::write(&json, serde_json::to_string(&old).unwrap()).unwrap();
    let output = mcp_policy(&["explain", json.to_str().unwrap(), "--tool", "delete_repo"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("version 1 has no `atoms`"),
        "{}",
        stderr(&output)
    );

    // A version 1 table, without `source`, of the scope-only policy: lines
    // without a file.
    let verbatim = dir.join("verbatim.json");
    let output = mcp_policy(&[
        "compile",
        "tests/verbatim/github.mcppolicy",
        "-o",
        verbatim.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let mut scope_only: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&verbatim).unwrap()).unwrap();
    assert!(scope_only.get("atoms").is_none(), "{scope_only}");
    scope_only["version"] = 1.into();
    scope_only.as_object_mut().unwrap().remove("source");
    std::fs::write(&json, serde_json::to_string(&scope_only).unwrap()).unwrap();
    let output = mcp_policy(&[
        "explain",
        json.to_str().unwrap(),
        "--tool",
        "delete_repo",
        "--scopes",
        "mcp:admin",
    ]);
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(out.contains(" of the policy's source)"), "{out}");
    assert!(!out.contains("github.json"), "{out}");

    // A version from the future is refused with the versions read.
    table["version"] = 4.into();
    std::fs::write(&json, serde_json::to_string(&table).unwrap()).unwrap();
    let output = mcp_policy(&["explain", json.to_str().unwrap(), "--tool", "delete_repo"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("this build reads versions 1 to 3"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_table_compiled_from_standard_input_records_no_source() {
    let policy = std::fs::File::open(root().join("examples/github.mcppolicy")).unwrap();
    let output = bounded_with(&["compile", "-", "-o", "-"], Stdio::from(policy));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let table = json(&output);
    // Version 3: the example has conditions.
    assert_eq!(table["version"], 3);
    assert!(table.get("source").is_none(), "{table}");
}
