//! `mcp-policy proxy --config FILE` and `--check-config`: the file's
//! diagnostics (snapshots), the precedence flag > environment > file >
//! default, and a proxy started from a file alone.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

#[path = "../../token/tests/common/keys.rs"]
mod keys;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use common::{root, stderr, stdout};
use keys::{TestKey, jwks_of};
use serde_json::{Value, json};

const ISS: &str = "https://auth.example.com";

/// A directory of its own for each test, with a JWKS in it.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "mcp-policy-proxy-config-{}-{test}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("jwks.json"),
        jwks_of(&[&TestKey::rsa("rsa-1.pem", "rsa-1")]),
    )
    .unwrap();
    dir
}

fn policy() -> String {
    root()
        .join("examples/github.mcppolicy")
        .to_str()
        .unwrap()
        .to_owned()
}

/// `mcp-policy proxy ARGS` in `dir`, with `env`, and no MCP_POLICY_*
/// variable of the caller's.
fn proxy(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mcp-policy"));
    command
        .current_dir(dir)
        .arg("proxy")
        .args(args)
        .env("NO_COLOR", "1");
    for (name, _) in std::env::vars() {
        if name.starts_with("MCP_POLICY_") {
            command.env_remove(name);
        }
    }
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

fn good_file(dir: &Path, extra: &str) {
    std::fs::write(
        dir.join("proxy.yaml"),
        format!(
            "# the proxy's settings\nissuer: {ISS}\njwks: jwks.json\npolicy: {}\nupstream: http://127.0.0.1:9/mcp\n{extra}",
            policy()
        ),
    )
    .unwrap();
}

#[test]
fn a_good_file_checks_ok_without_starting_anything() {
    let dir = scratch("good");
    good_file(
        &dir,
        "bind: 127.0.0.1:1\nforward-identity: true\nsubject-header: X-User\n",
    );
    // Port 1 cannot be bound by a test: --check-config binds nothing.
    let output = proxy(&dir, &["--config", "proxy.yaml", "--check-config"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "configuration ok\n");
}

#[test]
fn a_misspelt_key_is_a_diagnostic_with_the_key_it_meant() {
    let dir = scratch("misspelt");
    good_file(&dir, "forward-identiy: true\n");
    let output = proxy(&dir, &["--config", "proxy.yaml", "--check-config"], &[]);
    assert_eq!(output.status.code(), Some(1));
    insta::assert_snapshot!(stderr(&output).replace(&policy(), "POLICY"));
    // Starting (not checking) is a usage error, exit 2, same diagnostic.
    let output = proxy(&dir, &["--config", "proxy.yaml"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("mcp_policy::proxy::config"));
}

/// The file's lines are shown as a policy's are: a control character in
/// them (an ESC that would recolour or rewrite the terminal, a bidi
/// override that would reorder the line) is shown escaped, never raw.
#[test]
fn control_characters_in_the_file_are_shown_escaped() {
    let dir = scratch("escapes");
    // YAML takes a bidi override in a value; the misspelt key is reported
    // on its line.
    good_file(&dir, "forward-identiy: \"\u{202e}eurt\"\n");
    let output = proxy(&dir, &["--config", "proxy.yaml", "--check-config"], &[]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("unknown key `forward-identiy`"), "{err}");
    assert!(!err.contains('\u{202e}'), "{err:?}");
    assert!(err.contains("\\u{202e}eurt"), "{err}");
    // YAML refuses an ESC itself; the refusal shows none either.
    good_file(&dir, "forward-identity: \u{1b}[2Jtrue\n");
    let output = proxy(&dir, &["--config", "proxy.yaml", "--check-config"], &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(!stderr(&output).contains('\u{1b}'), "{:?}", stderr(&output));
}

#[test]
fn a_value_of_the_wrong_type_is_a_diagnostic_too() {
    let dir = scratch("type");
    good_file(&dir, "leeway: a minute\n");
    let output = proxy(&dir, &["--config", "proxy.yaml", "--check-config"], &[]);
    assert_eq!(output.status.code(), Some(1));
    insta::assert_snapshot!(stderr(&output).replace(&policy(), "POLICY"));
}

#[test]
fn every_problem_is_listed_at_once() {
    let dir = scratch("problems");
    std::fs::write(
        dir.join("broken.mcppolicy"),
        "tool x requires nothing-declared\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("proxy.yaml"),
        format!("issuer: {ISS}\njwks: missing.json\npolicy: broken.mcppolicy\nupstream: ftp://127.0.0.1/mcp\ntls-cert: jwks.json\ntls-key: jwks.json\n"),
    )
    .unwrap();
    let output = proxy(&dir, &["--config", "proxy.yaml", "--check-config"], &[]);
    assert_eq!(output.status.code(), Some(1));
    let errors = stderr(&output);
    for expected in [
        "broken.mcppolicy",
        "missing.json",
        "ftp://127.0.0.1/mcp",
        "TLS:",
    ] {
        assert!(
            errors.contains(expected),
            "{expected} missing from:\n{errors}"
        );
    }
    assert_eq!(errors.matches("error: ").count(), 4, "{errors}");
}

#[test]
fn flags_beat_the_environment_which_beats_the_file() {
    let dir = scratch("precedence");
    good_file(&dir, "");
    // The file's upstream is valid; the environment's is not, and wins.
    let bad_env = [("MCP_POLICY_UPSTREAM", "ftp://from-env/mcp")];
    let output = proxy(
        &dir,
        &["--config", "proxy.yaml", "--check-config"],
        &bad_env,
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("ftp://from-env/mcp"),
        "{}",
        stderr(&output)
    );
    // A flag beats the environment.
    let output = proxy(
        &dir,
        &[
            "--config",
            "proxy.yaml",
            "--check-config",
            "--upstream",
            "http://127.0.0.1:9/x",
        ],
        &bad_env,
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // The environment names the file too; a boolean can be turned off by it.
    let output = proxy(
        &dir,
        &["--check-config"],
        &[
            ("MCP_POLICY_CONFIG", "proxy.yaml"),
            ("MCP_POLICY_DRY_RUN", "false"),
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn what_cannot_start_says_which_setting_is_wrong() {
    let dir = scratch("wrong");
    let check = |yaml: &str, args: &[&str]| {
        std::fs::write(dir.join("p.yaml"), yaml).unwrap();
        let mut all = vec!["--config", "p.yaml", "--check-config"];
        all.extend(args);
        let output = proxy(&dir, &all, &[]);
        assert_eq!(output.status.code(), Some(1), "{yaml}");
        stderr(&output)
    };
    let base = format!("issuer: {ISS}\njwks: jwks.json\npolicy: {}\n", policy());
    let cases = [
        (
            format!(
                "jwks: jwks.json\npolicy: {}\nupstream: http://a/mcp\n",
                policy()
            ),
            "missing `issuer`",
        ),
        (base.clone(), "no upstream"),
        (
            format!("{base}upstream: http://a/mcp\ncommand: [sh]\n"),
            "both `upstream` and `command`",
        ),
        (
            format!("{base}upstream: http://a/mcp\nbind: nowhere\n"),
            "`bind: nowhere` is not an address",
        ),
        (
            format!("{base}upstream: http://a/mcp\ndenial: maybe\n"),
            "`denial: maybe`",
        ),
        (
            format!("{base}upstream: http://a/mcp\nmax-sessions: 0\n"),
            "`max-sessions` must be between 1 and 10000000",
        ),
        (
            format!("{base}upstream: http://a/mcp\nmax-connections: 18446744073709551615\n"),
            "`max-connections` must be between 1 and 10000000",
        ),
        (
            format!("{base}upstream: http://a/mcp\nidle-timeout: 18446744073709551615\n"),
            "`idle-timeout` must be between 1 and 86400 seconds",
        ),
        (
            format!("{base}upstream: http://a/mcp\nleeway: 86401\n"),
            "`leeway` must be at most 86400 seconds",
        ),
        (
            format!("{base}upstream: http://a/mcp\nupstream-timeout: 0\n"),
            "`upstream-timeout` must be between 1 and 86400 seconds",
        ),
        (
            format!("{base}upstream: http://a/mcp\ntls-cert: c.pem\n"),
            "both --tls-cert and --tls-key",
        ),
        (
            format!("{base}upstream: http://a/mcp\nsubject-header: mcp-session-id\n"),
            "choose another name",
        ),
        (
            format!("{base}command: [/nonexistent/server]\n"),
            "not an executable",
        ),
        (
            format!("{base}command: [sh]\nforward-identity: true\n"),
            "needs an HTTP upstream",
        ),
    ];
    for (yaml, expected) in cases {
        let errors = check(&yaml, &[]);
        assert!(errors.contains(expected), "{expected}:\n{errors}");
    }
}

#[test]
fn a_file_that_is_not_a_file_or_too_large_is_refused_unread() {
    let dir = scratch("inputs");
    let output = proxy(&dir, &["--config", "/dev/zero", "--check-config"], &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("mcp_policy::input::not_a_file"),
        "{}",
        stderr(&output)
    );
    let huge = dir.join("huge.yaml");
    std::fs::write(&huge, "# x\n".repeat(300_000)).unwrap();
    let output = proxy(&dir, &["--config", "huge.yaml", "--check-config"], &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("1 MiB"), "{}", stderr(&output));
    for (name, text) in [
        ("binary.yaml", &b"issuer: \xff\xfe\n"[..]),
        ("empty.yaml", b""),
    ] {
        std::fs::write(dir.join(name), text).unwrap();
        let output = proxy(&dir, &["--config", name, "--check-config"], &[]);
        assert_eq!(output.status.code(), Some(1), "{name}");
    }
}

/// What the upstream received: headers.
type Record = Arc<Mutex<Vec<HeaderMap>>>;

#[tokio::test]
async fn a_proxy_runs_from_its_file_with_identity_and_an_admin_listener() {
    let record = Record::default();
    async fn mcp(State(record): State<Record>, headers: HeaderMap, body: Bytes) -> String {
        record.lock().unwrap().push(headers);
        let message: Value = serde_json::from_slice(&body).unwrap();
        json!({"jsonrpc": "2.0", "id": message["id"],
               "result": {"content": [], "isError": false}})
        .to_string()
    }
    let app = Router::new()
        .route("/mcp", axum::routing::post(mcp))
        .with_state(Arc::clone(&record));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = scratch("run");
    std::fs::write(
        dir.join("proxy.yaml"),
        format!(
            "issuer: {ISS}\njwks: jwks.json\npolicy: {}\nupstream: {upstream}\nbind: 127.0.0.1:0\nadmin-bind: 127.0.0.1:0\nforward-identity: true\nsubject-header: X-User\n",
            policy()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-policy"))
        .current_dir(&dir)
        .args(["proxy", "--config", "proxy.yaml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().unwrap().unwrap();
        let second = lines.next().unwrap().unwrap();
        (first, second)
    })
    .await
    .unwrap();
    let endpoint = lines.0.strip_prefix("listening on ").unwrap().to_owned();
    let admin = lines.1.strip_prefix("admin on ").unwrap().to_owned();

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let key = TestKey::rsa("rsa-1.pem", "rsa-1");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = key.token_with(
        &json!({"alg": "RS256", "typ": "at+jwt", "kid": key.kid}),
        &json!({"iss": ISS, "aud": endpoint, "sub": "user-1", "client_id": "app-7",
                "iat": now - 10, "exp": now + 600, "scope": "mcp:read github:repos"}),
    );
    let answer = client
        .post(&endpoint)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("x-user", "forged")
        .body(
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                   "params": {"name": "search_repos", "arguments": {}}})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let health = client.get(format!("{admin}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let metrics = client.get(format!("{admin}/metrics")).send().await.unwrap();
    assert!(
        metrics
            .text()
            .await
            .unwrap()
            .contains("mcp_policy_decisions_total{")
    );
    let _ = child.kill();
    let _ = child.wait();

    let seen = record.lock().unwrap();
    assert_eq!(seen.len(), 1);
    let users: Vec<_> = seen[0].get_all("x-user").iter().collect();
    assert_eq!(users, ["user-1"]);
}

/// Every flag is a key of the file and a row of docs/proxy.md's table, and
/// the reverse: "every key also a flag" stays true as settings are added.
#[test]
fn flags_keys_and_the_documented_table_are_the_same_settings() {
    let help = stdout(&common::mcp_policy(&["proxy", "--help"]));
    let mut flags: Vec<String> = help
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("--"))
        .map(|rest| rest.split([' ', '=', '[']).next().unwrap().to_owned())
        .filter(|flag| !["config", "check-config", "help"].contains(&flag.as_str()))
        .collect();
    flags.push("command".to_owned()); // `-- COMMAND ARGS...`
    flags.sort();
    let mut keys: Vec<String> = mcp_policy_proxy::config::KEYS
        .iter()
        .map(|key| (*key).to_owned())
        .collect();
    keys.sort();
    assert_eq!(flags, keys);

    let docs = std::fs::read_to_string(root().join("docs/proxy.md")).unwrap();
    for key in keys.iter().filter(|key| *key != "command") {
        // The OTLP settings read the variables every OpenTelemetry SDK
        // reads, so a collector's usual environment configures the proxy.
        let env = match key.as_str() {
            "otlp-endpoint" => "OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(),
            "otlp-protocol" => "OTEL_EXPORTER_OTLP_PROTOCOL".to_owned(),
            _ => format!("MCP_POLICY_{}", key.to_uppercase().replace('-', "_")),
        };
        let row = docs
            .lines()
            .find(|line| line.starts_with(&format!("| `--{key}")))
            .unwrap_or_else(|| panic!("no row for --{key} in docs/proxy.md"));
        assert!(row.contains(&format!("`{env}`")), "{row}");
        assert!(
            help.contains(&format!("[env: {env}=")),
            "--{key} has no {env}"
        );
    }
}

/// The defaults the help and the docs state are the ones in force.
#[test]
fn stated_defaults_are_the_real_ones() {
    let help = stdout(&common::mcp_policy(&["proxy", "--help"])).replace('\n', " ");
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    let docs = std::fs::read_to_string(root().join("docs/proxy.md")).unwrap();
    let server = mcp_policy_server::ServerLimits::default();
    let sessions = mcp_policy_http::SessionLimits::default();
    for (flag, value) in [
        ("max-connections", server.max_connections.to_string()),
        (
            "header-timeout",
            server.header_read_timeout.as_secs().to_string(),
        ),
        ("idle-timeout", server.idle_timeout.as_secs().to_string()),
        ("max-sessions", sessions.max_sessions.to_string()),
        (
            "max-sessions-per-principal",
            sessions.max_sessions_per_principal.to_string(),
        ),
        (
            "session-idle-timeout",
            sessions.idle_timeout.as_secs().to_string(),
        ),
    ] {
        let row = docs
            .lines()
            .find(|line| line.starts_with(&format!("| `--{flag} ")))
            .unwrap();
        assert!(
            row.contains(&format!("| `{value}` |")),
            "{row} should say {value}"
        );
        let from = help.find(&format!("--{flag} ")).unwrap();
        let text = &help[from..];
        let default = text.find("Default: ").unwrap();
        assert!(
            text[default..].starts_with(&format!("Default: {value} ")),
            "--{flag}: {}",
            &text[default..default + 20]
        );
    }
}
