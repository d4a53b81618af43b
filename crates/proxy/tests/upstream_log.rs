//! What the proxy logs when a session's stdio child ends: a warning when it
//! ended on its own (it crashed), and none when the session was ended on
//! purpose (a client's DELETE stopped it). A warning for every DELETE would
//! teach an operator to ignore the one that matters.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../http/tests/common/mod.rs"]
mod common;
mod support;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::{call, json_of, sign};
use mcp_policy_proxy::{StdioConfig, Upstream};
use support::{initialize, start_proxy};

/// Every line logged in this test binary, at every level.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn captured() -> &'static Captured {
    static LOG: OnceLock<Captured> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = Captured::default();
        let writer = log.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        log
    })
}

/// The logged lines that name `session`.
fn lines_of(session: &str) -> Vec<String> {
    let log = captured().0.lock().unwrap();
    String::from_utf8_lossy(&log)
        .lines()
        .filter(|line| line.contains(session))
        .map(str::to_owned)
        .collect()
}

/// Waits until a line about `session` says its upstream ended.
async fn upstream_end_of(session: &str) -> String {
    for _ in 0..200 {
        if let Some(line) = lines_of(session)
            .into_iter()
            .find(|line| line.contains("upstream ended"))
        {
            return line;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no end logged for {session}: {:#?}", lines_of(session));
}

#[tokio::test]
async fn a_deleted_session_s_child_ends_without_a_warning_and_a_crash_warns() {
    captured();
    let script = format!(
        "{}/tests/fixtures/stdio-server.mjs",
        env!("CARGO_MANIFEST_DIR")
    );
    let upstream = Upstream::Stdio(StdioConfig::new(vec!["node".into(), script]));
    let proxy = start_proxy(upstream, |_| {}).await;
    let token = sign(&proxy.key, "mcp:read");
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let response = proxy
            .post(&token, None, &initialize())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        sessions.push(
            response.headers()["mcp-session-id"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
    }
    let (deleted, crashed) = (&sessions[0], &sessions[1]);

    let ended = proxy.delete(&token, deleted).send().await.unwrap();
    assert_eq!(ended.status(), 202);
    let line = upstream_end_of(deleted).await;
    assert!(line.contains("DEBUG"), "{line}");
    assert!(line.contains("as asked"), "{line}");

    let answer = proxy
        .post(&token, Some(crashed), &call(1, "debug_crash"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(answer).await["error"]["message"],
        "the upstream process exited"
    );
    let line = upstream_end_of(crashed).await;
    assert!(line.contains("WARN"), "{line}");
    assert!(!line.contains("as asked"), "{line}");
}
