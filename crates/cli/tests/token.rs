//! `mcp-policy token verify`: exit codes, the JSON shape, and the human
//! output, on tokens signed with the test RSA key of crates/token/tests/keys
//! (`rsa-1.pem`), at a fixed `--now`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::tokens::*;
use common::*;

/// scp: ["mcp:read", "github:issues", "offline_access"].
const SCP: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS0xIiwidHlwIjoiYXQrand0In0.eyJhdWQiOiJodHRwczovL21jcC5leG\
FtcGxlLmNvbSIsImNsaWVudF9pZCI6ImFwcC03IiwiZXhwIjoxNzAwMDAzNjAwLCJpYXQiOjE2OTk5OTk5NDAsImlz\
cyI6Imh0dHBzOi8vYXV0aC5leGFtcGxlLmNvbSIsInNjcCI6WyJtY3A6cmVhZCIsImdpdGh1Yjppc3N1ZXMiLCJvZm\
ZsaW5lX2FjY2VzcyJdLCJzdWIiOiJ1c2VyLTEifQ.eWn98IUhlMjV3QSeAyoJOxc6Y8dQv3WFyOA9108b2gXEsAI_m\
oTSWlPQgrLFa7DVpw1Qqab3nObH4c0gVlYj6B3HgcX08PyyM_GR8UxSPfQH5a7V5l3jIxCyXf4l4pkpHyG2_6dJo1Z\
1Gd_EOb5HGBAkhg5Zp9wzHVi5WlOYzDX3Jl71GnG4gFoIXIbXn-ha7ogDSliY97IoJv1XaC88BvE7crIgYpyHZs4j1\
Vuh52sYBI3GI3oDpunIyZPnH2aCnXS9W7PyLgRrVdVfq4YU27pnm_3WyydJRNpVcYGuHfcwfKOiMnl9Rv42qz9O9gj\
-RqpvA_6s8t6Dp7HfM4oYGA";
/// permissions: ["mcp:read", "github:issues"] (Auth0's RBAC), no `scope`.
const PERMISSIONS: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS0xIiwidHlwIjoiYXQrand0In0.eyJhdWQiOiJodHRwczovL21jcC5leG\
FtcGxlLmNvbSIsImNsaWVudF9pZCI6ImFwcC03IiwiZXhwIjoxNzAwMDAzNjAwLCJpYXQiOjE2OTk5OTk5NDAsImlz\
cyI6Imh0dHBzOi8vYXV0aC5leGFtcGxlLmNvbSIsInBlcm1pc3Npb25zIjpbIm1jcDpyZWFkIiwiZ2l0aHViOmlzc3\
VlcyJdLCJzdWIiOiJ1c2VyLTEifQ.PXog1sbidg9SwNLDbRAtUmqmCWgphmYiv1zWqBi9zXmmJXrDVMXJknGjrPRGM\
pkfAffepPUn47tEizuR5zhJJ53r-0zePP6H-VVaMUHkySnvJX2Lx0M1Z-N3GdJm_7a23ZvO-EbWX-AOgk1ROS5d_px\
L4V8R2Lpb_4UG6qRbH06FmgQEJDSmT7h4_HilZPgyY-xA4iAQ_2D6xKPY8iCcbxANzk306EgPT3kxEurNSRm5azB7V\
regj-eFi95kWgpeHa6Q1z1fWhD6sQfnsFSrd2I849HMRRKm-W179djjdguTgzz-TmXWOhicdz7Mu7Y0IOI7_BFU7Cz\
ZSXLtxVxoCg";
/// VALID's payload under `{"alg":"none","typ":"at+jwt"}`, unsigned.
const NONE: &str = "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.eyJhdWQiOiJodHRwczovL21jcC5leGFtcGxlLmNvbSIsImNsaW\
VudF9pZCI6ImFwcC03IiwiZXhwIjoxNzAwMDAzNjAwLCJpYXQiOjE2OTk5OTk5NDAsImlzcyI6Imh0dHBzOi8vYXV0\
aC5leGFtcGxlLmNvbSIsInNjb3BlIjoibWNwOnJlYWQgZ2l0aHViOnJlcG9zIiwic3ViIjoidXNlci0xIn0.";

/// `token verify TOKEN --jwks JWKS --issuer ISS --audience AUD --now NOW`,
/// `options` replacing those defaults or adding to them.
fn verify(token: &str, jwks: &str, options: &[&str]) -> std::process::Output {
    let mut args = vec!["token", "verify", token];
    for (name, default) in [
        ("--jwks", jwks),
        ("--issuer", ISS),
        ("--audience", AUD),
        ("--now", NOW),
    ] {
        if !options.contains(&name) {
            args.extend([name, default]);
        }
    }
    args.extend_from_slice(options);
    mcp_policy(&args)
}

#[test]
fn a_valid_token_exits_0_with_its_scopes_and_claims() {
    let jwks = jwks_file("valid");
    let output = verify(VALID, jwks.to_str().unwrap(), &["--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report = json(&output);
    assert_eq!(report["valid"], true);
    assert_eq!(report["reason"], serde_json::Value::Null);
    assert_eq!(report["subject"], "user-1");
    assert_eq!(report["client_id"], "app-7");
    assert_eq!(
        report["scopes"],
        serde_json::json!(["mcp:read", "github:repos"])
    );
    assert_eq!(report["claims"]["iss"], ISS);
    assert_eq!(report["header"]["kid"], "rsa-1");
    assert!(report.get("decision").is_none());
}

#[test]
fn rejections_exit_1_with_the_reason_code() {
    let jwks = jwks_file("rejections");
    let jwks = jwks.to_str().unwrap();
    let mut tampered = VALID.to_owned();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'Q' } else { 'A' });
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        (VALID, vec!["--now", "1700003660"], "expired"),
        (VALID, vec!["--now", "1700003659"], ""),
        (
            VALID,
            vec!["--now", "1700003601", "--leeway", "0"],
            "expired",
        ),
        (
            VALID,
            vec!["--audience", "https://other.example.com"],
            "wrong_audience",
        ),
        (
            VALID,
            vec!["--issuer", "https://evil.example.com"],
            "wrong_issuer",
        ),
        (
            VALID,
            vec!["--algorithms", "ES256,EdDSA"],
            "alg_not_allowed",
        ),
        (VALID, vec!["--max-token-bytes", "100"], "too_large"),
        (NONE, vec![], "alg_not_allowed"),
        (&tampered, vec![], "bad_signature"),
        ("not.a.token", vec![], "malformed"),
    ];
    for (token, extra, reason) in cases {
        let mut args = vec!["--format", "json"];
        args.extend(extra.iter().copied());
        let output = verify(token, jwks, &args);
        let report = json(&output);
        if reason.is_empty() {
            assert_eq!(output.status.code(), Some(0), "{extra:?}: {report}");
            continue;
        }
        assert_eq!(
            output.status.code(),
            Some(1),
            "{extra:?}: {}",
            stderr(&output)
        );
        assert_eq!(report["valid"], false);
        assert_eq!(report["reason"], reason, "{extra:?}");
        assert_eq!(report["scopes"], serde_json::json!([]));
    }
}

#[test]
fn the_token_can_come_from_stdin() {
    let jwks = jwks_file("stdin");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-policy"))
        .args([
            "token",
            "verify",
            "-",
            "--jwks",
            jwks.to_str().unwrap(),
            "--issuer",
            ISS,
            "--audience",
            AUD,
            "--now",
            NOW,
            "--format",
            "json",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{VALID}\n").as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(json(&output)["valid"], true);
}

#[test]
fn usage_and_io_errors_exit_2() {
    let jwks = jwks_file("usage");
    let jwks = jwks.to_str().unwrap();
    for (args, message) in [
        (vec!["--jwks", "/nonexistent/jwks.json"], "cannot read JWKS"),
        (vec!["--jwks", jwks, "--algorithms", "none"], "none"),
        (
            vec!["--jwks", jwks, "--algorithms", "HS256"],
            "no shared secret",
        ),
        (
            vec!["--jwks", "http://auth.example.com/jwks"],
            "must be https",
        ),
        (
            vec!["--jwks", jwks, "--policy", "examples/github.mcppolicy"],
            "--tool",
        ),
        (
            vec![
                "--jwks",
                jwks,
                "--policy",
                "/nonexistent.mcppolicy",
                "--tool",
                "x",
            ],
            "cannot read",
        ),
    ] {
        let mut full = vec!["token", "verify", VALID, "--issuer", ISS, "--audience", AUD];
        full.extend(args.iter().copied());
        let output = mcp_policy(&full);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&output).contains(message),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    let output = mcp_policy(&["token", "verify", VALID, "--issuer", ISS, "--audience", AUD]);
    assert_eq!(output.status.code(), Some(2), "--jwks is required");
}

/// A broken policy is reported as every command that decides reports one:
/// its diagnostics rendered against its source, exit 1 (a policy error),
/// and no verdict on the token.
#[test]
fn a_broken_policy_is_rendered_and_exits_1() {
    let jwks = jwks_file("broken-policy");
    let dir = std::env::temp_dir().join(format!("mcp-policy-token-broken-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("broken.mcppolicy");
    std::fs::write(
        &policy,
        "scope mcp:read level read\ntool t requires mcp:raed\n",
    )
    .unwrap();
    let output = verify(
        VALID,
        jwks.to_str().unwrap(),
        &["--policy", policy.to_str().unwrap(), "--tool", "t"],
    );
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(err.contains("mcp_policy::unknown_scope"), "{err}");
    assert!(err.contains("did you mean `mcp:read`?"), "{err}");
    assert!(err.contains("broken.mcppolicy:2:"), "{err}");
    assert!(stdout(&output).is_empty(), "{}", stdout(&output));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn with_a_policy_the_decision_joins_the_report() {
    let jwks = jwks_file("policy");
    let jwks = jwks.to_str().unwrap();
    let policy = ["--policy", "examples/github.mcppolicy", "--format", "json"];
    let decide = |token: &str, tool: &str, now: &str| {
        let mut args = policy.to_vec();
        // In one of acme's repositories: the example confines its
        // repository tools to them.
        let arguments = r#"{"repo":"acme/widgets"}"#;
        args.extend(["--tool", tool, "--now", now, "--arguments", arguments]);
        let output = mcp_policy(
            &[
                &[
                    "token",
                    "verify",
                    token,
                    "--jwks",
                    jwks,
                    "--issuer",
                    ISS,
                    "--audience",
                    AUD,
                ][..],
                &args[..],
            ]
            .concat(),
        );
        (output.status.code(), json(&output)["decision"].clone())
    };
    let (code, decision) = decide(VALID, "search_repos", NOW);
    assert_eq!(code, Some(0));
    assert_eq!(decision["effect"], "allow");
    assert_eq!(decision["basis"], "rule");
    assert_eq!(
        decision["policy_scopes"],
        serde_json::json!(["mcp:read", "github:repos"])
    );

    // Valid token, denied call: still exit 0 (the token is valid).
    let (code, decision) = decide(SCP, "delete_repo", NOW);
    assert_eq!(code, Some(0));
    assert_eq!(decision["effect"], "deny");
    assert_eq!(decision["missing_scopes"], serde_json::json!(["mcp:admin"]));
    // `scp` arrays reach the policy too.
    let (_, decision) = decide(SCP, "close_issue", NOW);
    assert_eq!(decision["effect"], "deny");
    assert_eq!(decision["missing_scopes"], serde_json::json!(["mcp:write"]));
    let (_, decision) = decide(SCP, "list_issues", NOW);
    assert_eq!(decision["effect"], "allow");

    let (code, decision) = decide(VALID, "search_repos", "1800000000");
    assert_eq!(code, Some(1));
    assert_eq!(decision["effect"], "deny");
    assert_eq!(decision["basis"], "token_rejected");
}

#[test]
fn human_output_for_an_accepted_and_a_rejected_token() {
    let jwks = jwks_file("human");
    let jwks = jwks.to_str().unwrap();
    let policy = [
        "--policy",
        "examples/github.mcppolicy",
        "--tool",
        "search_repos",
    ];
    let accepted = verify(VALID, jwks, &policy);
    assert_eq!(accepted.status.code(), Some(0));
    insta::assert_snapshot!("token_verify_accepted", stdout(&accepted));
    let rejected = verify(
        VALID,
        jwks,
        &[&policy[..], &["--now", "1700007200"]].concat(),
    );
    assert_eq!(rejected.status.code(), Some(1));
    insta::assert_snapshot!("token_verify_rejected", stdout(&rejected));
}

/// A one-file HTTP server on 127.0.0.1 that counts requests.
fn serve_jwks() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut request = Vec::new();
            let mut buffer = [0; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
            }
            counted.fetch_add(1, Ordering::SeqCst);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{JWKS}",
                JWKS.len()
            );
        }
    });
    (url, requests)
}

#[test]
fn a_jwks_url_is_fetched() {
    let (url, requests) = serve_jwks();
    let output = verify(VALID, &url, &["--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(json(&output)["valid"], true);
    assert_eq!(requests.load(Ordering::SeqCst), 1);

    // Nothing listening: an I/O error, not a verdict.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/jwks.json", closed.local_addr().unwrap());
    drop(closed);
    let output = verify(VALID, &url, &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("cannot fetch"),
        "{}",
        stderr(&output)
    );
}

/// VALID's claims under `{"alg":"HS256","typ":"at+jwt"}`, signed with
/// HMAC_SECRET (computed once with Python's hmac module).
const HS256: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJhdWQiOiJodHRwczovL21jcC5leGFtcGxlLmNvbSIsImNsaWVudF9pZCI6ImFwcC03IiwiZXhwIjoxNzAwMDAzNjAwLCJpYXQiOjE2OTk5OTk5NDAsImlzcyI6Imh0dHBzOi8vYXV0aC5leGFtcGxlLmNvbSIsInNjb3BlIjoibWNwOnJlYWQgZ2l0aHViOnJlcG9zIiwic3ViIjoidXNlci0xIn0.tskmdGhaAiuxpOdw8l0nJaHzyzp4F3FsN1ak6wDI9sc";
const HMAC_SECRET: &str = "an hmac secret of 32+ bytes, test";

#[test]
fn an_hmac_token_verifies_only_with_the_secret_file_and_its_algorithm() {
    let jwks = jwks_file("hmac");
    let dir = jwks.parent().unwrap();
    let secret = dir.join("secret");
    std::fs::write(&secret, HMAC_SECRET).unwrap();
    let wrong = dir.join("wrong-secret");
    std::fs::write(&wrong, "another secret, also 32 bytes long").unwrap();
    let jwks = jwks.to_str().unwrap();
    let run = |secret_file: &str, algorithms: &str| {
        let output = verify(
            HS256,
            jwks,
            &[
                "--secret-file",
                secret_file,
                "--algorithms",
                algorithms,
                "--format",
                "json",
            ],
        );
        (output.status.code(), json(&output)["reason"].clone())
    };
    let secret = secret.to_str().unwrap();
    assert_eq!(run(secret, "HS256"), (Some(0), serde_json::Value::Null));
    assert_eq!(
        run(wrong.to_str().unwrap(), "HS256"),
        (Some(1), "bad_signature".into())
    );
    // The secret alone does not allow HMAC: the allow-list must say so.
    assert_eq!(run(secret, "RS256"), (Some(1), "alg_not_allowed".into()));
    let missing = verify(
        HS256,
        jwks,
        &[
            "--secret-file",
            "/nonexistent/secret",
            "--algorithms",
            "HS256",
        ],
    );
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("cannot read `/nonexistent/secret`"));
}

#[test]
fn permissions_grant_scopes_by_default_and_scope_claims_narrows() {
    let jwks = jwks_file("permissions");
    let jwks = jwks.to_str().unwrap();
    let scopes = |options: &[&str]| {
        let mut args = vec!["--format", "json"];
        args.extend_from_slice(options);
        let output = verify(PERMISSIONS, jwks, &args);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        json(&output)["scopes"].clone()
    };
    assert_eq!(
        scopes(&[]),
        serde_json::json!(["mcp:read", "github:issues"])
    );
    assert_eq!(scopes(&["--scope-claims", "scope"]), serde_json::json!([]));
    assert_eq!(
        scopes(&["--scope-claims", "scope,permissions"]),
        serde_json::json!(["mcp:read", "github:issues"])
    );
    // The former spelling, one claim a flag, still works.
    assert_eq!(
        scopes(&["--scope-claim", "scope", "--scope-claim", "scp"]),
        serde_json::json!([])
    );
}
