//! The reload triggers: a changed policy file, and SIGHUP. A change takes
//! effect; a policy that fails to load leaves the old one serving; the
//! same content written again does not reload. Each test waits for the
//! state it expects (with a deadline), never for a fixed time. The reload
//! logs are captured by a global subscriber (the reloads run on tokio's
//! blocking pool, other threads), and each test reads only the lines
//! naming its own file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use common::*;
use mcp_policy_evaluator::{Evaluator, Request};
use mcp_policy_http::{HttpConfig, PolicyLayer, reload};
use mcp_policy_token::{KeySource, Validator, ValidatorConfig};

const V1: &str = "scope mcp:read level read\ntool search requires mcp:read\n";
const V2: &str = "scope mcp:read level read\ntool search requires mcp:read\n\
                  tool create_issue requires mcp:read\n";
const V3: &str = "scope mcp:read level read\ntool search requires mcp:read\n\
                  tool create_issue requires mcp:read\ntool delete_repo requires mcp:read\n";
const BROKEN: &str = "scope mcp:read level read\ntool search requires mcp:nope\n";

const DEADLINE: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(20);

// ---- captured logs ----

fn logs() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        logs
    })
}

/// How many log lines name `path` and contain `text`.
fn logged(path: &Path, text: &str) -> usize {
    let bytes = logs().0.lock().unwrap().clone();
    let path = path.display().to_string();
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter(|line| line.contains(&path) && line.contains(text))
        .count()
}

// ---- the harness ----

/// A policy file of its own in the temporary directory, removed on drop.
struct PolicyFile(PathBuf);

impl PolicyFile {
    fn new(name: &str, content: &str) -> PolicyFile {
        let path = std::env::temp_dir().join(format!(
            "mcp-policy-reload-{}-{name}.mcppolicy",
            std::process::id()
        ));
        std::fs::write(&path, content).unwrap();
        // A minute old: any write from the test has another modification
        // time, however coarse the file system's clock.
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(std::time::SystemTime::now() - Duration::from_secs(60))
            .unwrap();
        PolicyFile(path)
    }

    /// Written whole and renamed over the file, as the docs advise.
    fn write(&self, content: &str) {
        let temporary = self.0.with_extension("tmp");
        std::fs::write(&temporary, content).unwrap();
        std::fs::rename(&temporary, &self.0).unwrap();
    }
}

impl Drop for PolicyFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn layer_for(file: &PolicyFile) -> PolicyLayer {
    logs();
    let key = rsa("rsa-1.pem");
    let validator = Validator::new(ValidatorConfig::new(
        ISS,
        RESOURCE,
        KeySource::Jwks(jwks(&key)),
    ))
    .unwrap();
    PolicyLayer::new(
        Arc::new(validator),
        Evaluator::from_path(&file.0).unwrap(),
        HttpConfig::new([ISS]),
    )
    .unwrap()
}

/// Whether the policy in force lets an `mcp:read` token call `tool`.
fn allows(layer: &PolicyLayer, tool: &str) -> bool {
    let policy = layer.policy();
    let evaluator = policy.evaluator();
    evaluator.is_allowed(Request::CallTool(tool), &evaluator.parse_scopes("mcp:read"))
}

/// Waits (without blocking the runtime) until `done`, or fails with `what`.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(POLL).await;
    }
}

// ---- the tests ----

#[tokio::test]
async fn a_changed_file_is_reloaded_and_a_broken_one_keeps_the_old_policy() {
    let file = PolicyFile::new("watch", V1);
    let layer = layer_for(&file);
    assert!(allows(&layer, "search"));
    assert!(!allows(&layer, "create_issue"));
    let watcher = reload::watch_file(layer.clone(), &file.0, Duration::from_millis(25));

    // A tool becomes allowed.
    file.write(V2);
    eventually("the change to load", || layer.policy().generation() == 1).await;
    assert!(allows(&layer, "create_issue"));
    assert!(!allows(&layer, "delete_repo"));
    assert_eq!(logged(&file.0, "policy file changed; reloading"), 1);

    // A policy that does not compile: logged, and the old one serves.
    file.write(BROKEN);
    eventually("the failed reload to be logged", || {
        logged(&file.0, "policy reload failed; the policy in force stays") == 1
    })
    .await;
    assert_eq!(layer.policy().generation(), 1);
    assert!(allows(&layer, "search"));
    assert!(allows(&layer, "create_issue"));

    // The watcher goes on: a good policy after the broken one loads.
    file.write(V3);
    eventually("the next change to load", || {
        layer.policy().generation() == 2
    })
    .await;
    assert!(allows(&layer, "delete_repo"));
    // The broken content was tried once, not on every poll.
    assert_eq!(logged(&file.0, "policy reload failed"), 1);
    watcher.abort();
}

#[tokio::test]
async fn the_same_content_written_again_does_not_reload() {
    let file = PolicyFile::new("touch", V1);
    let layer = layer_for(&file);
    let watcher = reload::watch_file(layer.clone(), &file.0, Duration::from_millis(25));
    // New modification time (the rename makes a new file), same bytes.
    file.write(V1);
    eventually("the rewrite to be seen", || {
        logged(&file.0, "content unchanged, not reloaded") >= 1
    })
    .await;
    assert_eq!(layer.policy().generation(), 0);
    assert_eq!(logged(&file.0, "policy file changed"), 0);
    // And a real change after it still loads.
    file.write(V2);
    eventually("the change to load", || layer.policy().generation() == 1).await;
    assert!(allows(&layer, "create_issue"));
    watcher.abort();
}

#[tokio::test]
async fn a_file_that_disappears_keeps_the_policy_until_it_is_back() {
    let file = PolicyFile::new("vanish", V1);
    let layer = layer_for(&file);
    let watcher = reload::watch_file(layer.clone(), &file.0, Duration::from_millis(25));
    std::fs::remove_file(&file.0).unwrap();
    eventually("the missing file to be logged", || {
        logged(&file.0, "policy file unreadable") == 1
    })
    .await;
    assert_eq!(layer.policy().generation(), 0);
    assert!(allows(&layer, "search"));
    file.write(V2);
    eventually("the file to load again", || {
        layer.policy().generation() == 1
    })
    .await;
    assert!(allows(&layer, "create_issue"));
    // Unreadable was logged once, not on every poll.
    assert_eq!(logged(&file.0, "policy file unreadable"), 1);
    watcher.abort();
}

#[cfg(unix)]
#[tokio::test]
async fn a_fifo_in_place_of_the_file_never_blocks_the_watch() {
    let file = PolicyFile::new("fifo", V1);
    let layer = layer_for(&file);
    let watcher = reload::watch_file(layer.clone(), &file.0, Duration::from_millis(25));
    std::fs::remove_file(&file.0).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&file.0)
        .status()
        .unwrap();
    assert!(made.success());
    // Polls meet a FIFO with no writer: refused, never opened and waited on.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(layer.policy().generation(), 0);
    std::fs::remove_file(&file.0).unwrap();
    file.write(V2);
    eventually("the file to load after the FIFO", || {
        layer.policy().generation() == 1
    })
    .await;
    assert!(allows(&layer, "create_issue"));
    watcher.abort();
}

#[cfg(unix)]
#[tokio::test]
async fn sighup_reloads_and_a_broken_policy_keeps_the_old_one() {
    // The only test of this binary that sends a signal: the handler is
    // installed (by `reload_on_sighup`, before it returns) before any is
    // sent, so the default action (terminate) never applies.
    let file = PolicyFile::new("sighup", V1);
    let layer = layer_for(&file);
    let listener = reload::reload_on_sighup(layer.clone(), &file.0).unwrap();
    let hangup = || {
        let status = std::process::Command::new("kill")
            .args(["-HUP", &std::process::id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    };

    file.write(V2);
    hangup();
    eventually("the SIGHUP reload", || layer.policy().generation() == 1).await;
    assert!(allows(&layer, "create_issue"));

    file.write(BROKEN);
    hangup();
    eventually("the failed reload to be logged", || {
        logged(&file.0, "policy reload failed; the policy in force stays") == 1
    })
    .await;
    assert_eq!(layer.policy().generation(), 1);
    assert!(allows(&layer, "create_issue"));
    assert_eq!(logged(&file.0, "SIGHUP received"), 2);
    listener.abort();
}
