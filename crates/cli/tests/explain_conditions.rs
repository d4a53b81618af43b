//! Conditions on arguments and claims from the command line: `explain
//! --arguments --claims` (JSON, or a token verified as `token verify`
//! does), and `token verify --arguments`, on
//! tests/data/conditions/files.mcppolicy. Tokens are token.rs's, signed with
//! crates/token/tests/keys/rsa-1.pem (sub `user-1`, scope `mcp:read
//! github:repos`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::tokens::*;
use common::*;
use serde_json::json;

const POLICY: &str = "crates/cli/tests/data/conditions/files.mcppolicy";

/// `explain POLICY --tool TOOL` with `options`.
fn explain(tool: &str, options: &[&str]) -> std::process::Output {
    mcp_policy(&[&["explain", POLICY, "--tool", tool][..], options].concat())
}

fn explain_json(tool: &str, options: &[&str]) -> serde_json::Value {
    let output = explain(tool, &[options, &["--format", "json"]].concat());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    json(&output)
}

#[test]
fn arguments_decide_and_every_atom_is_shown_with_its_value() {
    let inside = explain_json(
        "read_file",
        &[
            "--scopes",
            "fs:read",
            "--arguments",
            r#"{"path":"/workspace/a"}"#,
        ],
    );
    assert_eq!(inside["decision"], "allow");
    assert_eq!(
        inside["conditions"],
        json!([
            {"atom": "arg.path matches \"*.env\"", "holds": false, "value": "/workspace/a", "why": "does not match"},
            {"atom": "arg.path under \"/workspace\"", "holds": true, "value": "/workspace/a"}
        ])
    );
    assert!(inside.get("failed_conditions").is_none());

    // A traversal: the condition fails, and fs:admin would allow.
    let traversal = explain_json(
        "read_file",
        &[
            "--scopes",
            "fs:read",
            "--arguments",
            r#"{"path":"/workspace/../etc/passwd"}"#,
        ],
    );
    assert_eq!(traversal["decision"], "deny");
    assert_eq!(traversal["missing_scopes"], json!(["fs:admin"]));
    assert_eq!(traversal["allowable"], true);

    // Where no scope can help, none is named: the condition is.
    let write = explain_json(
        "write_file",
        &[
            "--scopes",
            "fs:read fs:admin",
            "--arguments",
            r#"{"path":"/workspace2/x"}"#,
        ],
    );
    assert_eq!(write["decision"], "deny");
    assert_eq!(write["missing_scopes"], json!([]));
    assert_eq!(write["allowable"], false);
    assert_eq!(
        write["failed_conditions"],
        json!(["arg.path under \"/workspace\""])
    );

    // A deny-when fires, whatever the scopes.
    let env = explain_json(
        "read_file",
        &[
            "--scopes",
            "fs:admin",
            "--arguments",
            r#"{"path":"/workspace/.env"}"#,
        ],
    );
    assert_eq!(env["decision"], "deny");
    assert_eq!(env["denied_when"], json!(["arg.path matches \"*.env\""]));
    assert_eq!(
        env["rule"]["text"],
        "deny tool read_file when arg.path matches \"*.env\""
    );
    assert_eq!(env["missing_scopes"], json!([]));

    // Without --arguments every argument is missing: false, and said so.
    let missing = explain_json("write_file", &["--scopes", "fs:read"]);
    assert_eq!(missing["decision"], "deny");
    assert_eq!(missing["conditions"][0]["why"], "missing");
    assert!(missing["conditions"][0].get("value").is_none());
}

#[test]
fn traversal_and_malformed_paths_are_denied() {
    for path in [
        json!("/workspace/../etc/passwd"),
        json!("/workspace2/x"),
        json!("workspace/a"),
        json!("./workspace/a"),
        json!("/workspace/a\u{0}b"),
        json!("/workspace\\a"),
        json!(["/workspace/a"]),
        json!(null),
        json!(7),
    ] {
        let arguments = json!({ "path": path }).to_string();
        let output = explain_json(
            "write_file",
            &["--scopes", "fs:read", "--arguments", &arguments],
        );
        assert_eq!(output["decision"], "deny", "{arguments}");
        assert_eq!(output["allowable"], false, "{arguments}");
    }
}

/// The attack: `/etc/passwd\0` (C stops at the NUL), `etc/passwd` (the
/// server's working directory may be `/`), `\etc\passwd` and
/// `/../etc/passwd` must not slip past `deny ... when arg.path under
/// "/etc"` because `under` cannot place them.
#[test]
fn a_deny_under_fires_on_paths_it_cannot_place_and_says_so() {
    for (path, why) in [
        ("/etc/passwd\u{0}", "holds a NUL byte"),
        ("etc/passwd", "not an absolute path"),
        ("", "not an absolute path"),
        ("\\etc\\passwd", "holds a backslash"),
        ("/../etc/passwd", "a `..` climbs above the root"),
    ] {
        let arguments = json!({ "path": path }).to_string();
        let output = explain_json("cat", &["--scopes", "mcp:read", "--arguments", &arguments]);
        assert_eq!(output["decision"], "deny", "{arguments}");
        assert_eq!(
            output["denied_when"],
            json!(["arg.path under \"/etc\""]),
            "{arguments}"
        );
        assert_eq!(
            output["conditions"],
            json!([{
                "atom": "arg.path under \"/etc\"",
                "holds": false,
                "value": path,
                "why": why,
                "undecided": true,
            }]),
            "{arguments}"
        );
    }
    for (path, decision) in [("/etc/passwd", "deny"), ("/tmp/x", "allow")] {
        let arguments = json!({ "path": path }).to_string();
        let output = explain_json("cat", &["--scopes", "mcp:read", "--arguments", &arguments]);
        assert_eq!(output["decision"], decision, "{arguments}");
        assert!(output["conditions"][0].get("undecided").is_none());
    }
    let human = explain(
        "cat",
        &[
            "--scopes",
            "mcp:read",
            "--arguments",
            r#"{"path":"etc/passwd"}"#,
        ],
    );
    assert!(
        stdout(&human).contains(
            "[undecided: not an absolute path; an allow fails on it, a deny fires; read \"etc/passwd\"]"
        ),
        "{}",
        stdout(&human)
    );
}

#[test]
fn unconditional_rules_keep_their_output_byte_for_byte() {
    // `plain` reads no condition: the JSON has exactly the old fields.
    let output = explain("plain", &["--scopes", "mcp:read", "--format", "json"]);
    let plain = json(&output);
    let keys: Vec<&str> = plain
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    // (serde_json's map sorts them.)
    assert_eq!(
        keys,
        [
            "allowable",
            "decision",
            "ignored_scopes",
            "method",
            "missing_scopes",
            "name",
            "rule",
            "scopes"
        ]
    );
    // Arguments and claims given to an unconditional rule change nothing.
    let with = explain(
        "plain",
        &[
            "--scopes",
            "mcp:read",
            "--format",
            "json",
            "--arguments",
            r#"{"a":1}"#,
            "--claims",
            r#"{"sub":"x"}"#,
        ],
    );
    assert_eq!(stdout(&with), stdout(&output));
}

#[test]
fn claims_given_as_json_decide_claim_conditions_and_grant_no_scope() {
    let alice = explain_json(
        "whoami",
        &["--scopes", "mcp:read", "--claims", r#"{"sub":"user-1"}"#],
    );
    assert_eq!(alice["decision"], "allow");
    let bob = explain_json(
        "whoami",
        &["--scopes", "mcp:read", "--claims", r#"{"sub":"bob"}"#],
    );
    assert_eq!(bob["decision"], "deny");
    assert_eq!(bob["failed_conditions"], json!(["claim.sub == \"user-1\""]));
    assert_eq!(bob["conditions"][0]["value"], "bob");
    // A `scope` claim beside --scopes grants nothing: --scopes is what is held.
    let shadow = explain_json(
        "plain",
        &["--claims", r#"{"scope":"mcp:read","scp":["mcp:read"]}"#],
    );
    assert_eq!(shadow["decision"], "deny");
    assert_eq!(shadow["scopes"], json!([]));
    // Resources are decided on claims alone.
    let resource = mcp_policy(&[
        "explain",
        POLICY,
        "--resource",
        "file:///a",
        "--scopes",
        "fs:read",
        "--claims",
        r#"{"tenant":"acme"}"#,
        "--arguments",
        r#"{"tenant":"x"}"#,
        "--format",
        "json",
    ]);
    assert_eq!(json(&resource)["decision"], "allow");
}

#[test]
fn a_token_in_claims_is_verified_and_its_scopes_are_held() {
    let jwks = jwks_file("explain");
    let jwks = jwks.to_str().unwrap();
    let trust = [
        "--jwks",
        jwks,
        "--issuer",
        ISS,
        "--audience",
        AUD,
        "--now",
        NOW,
    ];
    let output = explain_json("whoami", &[&["--claims", VALID][..], &trust].concat());
    assert_eq!(output["decision"], "allow");
    assert_eq!(output["scopes"], json!(["mcp:read"]));
    assert_eq!(output["ignored_scopes"], json!(["github:repos"]));

    // A bad signature: refused, exit 2, with the validator's reason.
    let mut forged = VALID.to_owned();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let rejected = explain(
        "whoami",
        &[&["--claims", forged.as_str()][..], &trust].concat(),
    );
    assert_eq!(rejected.status.code(), Some(2));
    assert!(
        stderr(&rejected).contains("[bad_signature]"),
        "{}",
        stderr(&rejected)
    );
    assert!(stdout(&rejected).is_empty());

    // Expired at another time: refused too.
    let expired = explain(
        "whoami",
        &[
            "--claims",
            VALID,
            "--jwks",
            jwks,
            "--issuer",
            ISS,
            "--audience",
            AUD,
            "--now",
            "1800000000",
        ],
    );
    assert_eq!(expired.status.code(), Some(2));
    assert!(stderr(&expired).contains("[expired]"));

    // --scopes beside a token: which scopes hold would be ambiguous.
    let both = explain(
        "whoami",
        &[&["--claims", VALID, "--scopes", "mcp:read"][..], &trust].concat(),
    );
    assert_eq!(both.status.code(), Some(2));
    assert!(stderr(&both).contains("--scopes and a token"));

    // Without what verifies it, a token is never read unverified.
    let unverified = explain("whoami", &["--claims", VALID]);
    assert_eq!(unverified.status.code(), Some(2));
    assert!(stderr(&unverified).contains("--jwks, --issuer and --audience"));
}

#[test]
fn arguments_and_claims_that_are_not_objects_or_name_a_key_twice_are_usage_errors() {
    for (flag, text, says) in [
        ("--arguments", "[1,2]", "found an array"),
        ("--arguments", "\"/workspace/a\"", "found a string"),
        ("--arguments", "null", "found null"),
        ("--arguments", "12", "found a number"),
        ("--arguments", "{", "not JSON"),
        ("--arguments", "", "not JSON"),
        ("--claims", "[\"sub\"]", "found an array"),
        ("--claims", "alice", "not JSON"),
        ("--claims", "a.b", "not JSON"),
        // Read as the runtime reads a request: a key named twice, at any
        // depth, is refused rather than read as its last value.
        (
            "--arguments",
            r#"{"path":"/workspace/a","path":"/etc/passwd"}"#,
            "names one key twice",
        ),
        (
            "--arguments",
            r#"{"o":{"p\u0061th":1,"path":2}}"#,
            "names one key twice",
        ),
        (
            "--claims",
            r#"{"sub":"a","sub":"b"}"#,
            "names one key twice",
        ),
    ] {
        let output = explain("plain", &[flag, text]);
        assert_eq!(output.status.code(), Some(2), "{flag} {text}");
        let error = stderr(&output);
        assert!(error.starts_with(&format!("error: {flag}: ")), "{error}");
        assert!(error.contains(says), "{flag} {text}: {error}");
        assert!(stdout(&output).is_empty());
    }
}

#[test]
fn a_large_argument_is_decided_and_shown_clipped() {
    // 100 KiB (the command line's own limit per argument is 128 KiB).
    let long = format!("/workspace/{}", "a".repeat(100 * 1024));
    let arguments = json!({ "path": long, "other": "x".repeat(1024) }).to_string();
    let decided = explain_json(
        "write_file",
        &["--scopes", "fs:read", "--arguments", &arguments],
    );
    assert_eq!(decided["decision"], "allow");
    assert_eq!(decided["conditions"][0]["value"], json!(long));
    let human = explain(
        "write_file",
        &["--scopes", "fs:read", "--arguments", &arguments],
    );
    let text = stdout(&human);
    assert!(text.len() < 2048, "{} bytes", text.len());
    assert!(text.contains("... (102413 bytes)"), "{text}");
}

#[test]
fn human_output_names_the_failing_condition_and_no_scope() {
    let failed = explain(
        "write_file",
        &[
            "--scopes",
            "fs:read",
            "--arguments",
            r#"{"path":"/workspace/../etc/passwd"}"#,
        ],
    );
    insta::assert_snapshot!("explain_condition_failed", stdout(&failed));
    let fired = explain(
        "read_file",
        &[
            "--scopes",
            "fs:admin",
            "--arguments",
            r#"{"path":"/workspace/.env"}"#,
        ],
    );
    insta::assert_snapshot!("explain_deny_when_fired", stdout(&fired));
    let scopes = explain(
        "read_file",
        &[
            "--scopes",
            "fs:read",
            "--arguments",
            r#"{"path":"/etc/hosts"}"#,
        ],
    );
    insta::assert_snapshot!("explain_condition_failed_scopes_help", stdout(&scopes));
}

#[test]
fn token_verify_decides_on_its_arguments_and_the_tokens_claims() {
    let jwks = jwks_file("verify");
    let jwks = jwks.to_str().unwrap();
    let verify = |tool: &str, extra: &[&str]| {
        mcp_policy(
            &[
                &[
                    "token",
                    "verify",
                    VALID,
                    "--jwks",
                    jwks,
                    "--issuer",
                    ISS,
                    "--audience",
                    AUD,
                    "--now",
                    NOW,
                    "--policy",
                    POLICY,
                    "--tool",
                    tool,
                ][..],
                extra,
            ]
            .concat(),
        )
    };
    let whoami = verify("whoami", &["--format", "json"]);
    assert_eq!(whoami.status.code(), Some(0));
    let decision = &json(&whoami)["decision"];
    assert_eq!(decision["effect"], "allow");
    assert_eq!(decision["conditions"][0]["value"], "user-1");

    let arguments = verify(
        "plain",
        &["--arguments", r#"{"path":"/x"}"#, "--format", "json"],
    );
    assert_eq!(json(&arguments)["decision"]["effect"], "allow");
    assert!(json(&arguments)["decision"].get("conditions").is_none());

    let bad = verify("plain", &["--arguments", "[1]"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("--arguments: expected a JSON object"));

    let human = verify("whoami", &[]);
    insta::assert_snapshot!("token_verify_conditions", stdout(&human));
}

const TESTS: &str = "crates/cli/tests/data/conditions";

#[test]
fn policy_tests_take_arguments_claims_and_failing_conditions() {
    let passing = mcp_policy(&["test", &format!("{TESTS}/files.mcppolicy.test.yaml")]);
    assert_eq!(passing.status.code(), Some(0), "{}", stdout(&passing));
    assert!(stdout(&passing).contains("test result: ok. 6 passed; 0 failed"));

    // Denied, but by missing scopes: `failing` says otherwise.
    let wrong = mcp_policy(&["test", &format!("{TESTS}/wrong-condition.test.yaml")]);
    assert_eq!(wrong.status.code(), Some(1));
    insta::assert_snapshot!("test_failing_condition_differs", stdout(&wrong));
    let json_wrong = mcp_policy(&[
        "test",
        "--format",
        "json",
        &format!("{TESTS}/wrong-condition.test.yaml"),
    ]);
    let case = &json(&json_wrong)["files"][0]["cases"][0];
    assert_eq!(
        case["expect_failing"],
        json!(["arg.path under \"/workspace\""])
    );
    assert_eq!(case["missing_scopes"], json!(["fs:admin"]));

    // A misspelt condition: did you mean.
    let unknown = mcp_policy(&["test", &format!("{TESTS}/unknown-condition.test.yaml")]);
    assert_eq!(unknown.status.code(), Some(1));
    insta::assert_snapshot!("test_unknown_condition", stderr(&unknown));

    let inapplicable = mcp_policy(&["test", &format!("{TESTS}/inapplicable.test.yaml")]);
    assert_eq!(inapplicable.status.code(), Some(1));
    let errors = stderr(&inapplicable);
    assert!(
        errors.contains("only a denied call has failing conditions"),
        "{errors}"
    );
    assert!(
        errors.contains("a resource read has no arguments"),
        "{errors}"
    );
}

#[test]
fn matrix_shows_conditions_in_its_cells() {
    let output = mcp_policy(&["matrix", POLICY]);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    // A scope that grants only under a condition says so in its cell; a
    // scope that grants outright keeps its tick; a deny-when is its own row.
    for row in [
        "| `write_file` | if `arg.path under \"/workspace\"` |  |  |  |",
        "| `whoami` |  |  | if `claim.sub == \"user-1\"` |  |",
        "| `plain` |  |  | ✓ |  |",
        "| `read_file` |  |  |  | nothing when `arg.path matches \"*.env\"` |",
        "| `file:///*` | if `claim.tenant == \"acme\"` |  |  |  |",
    ] {
        assert!(text.contains(row), "missing {row} in\n{text}");
    }
}
