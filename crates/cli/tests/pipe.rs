//! `mcp-policy ... | head`: a reader that closes the pipe early ends the
//! command quietly. `println!` panicked there ("failed printing to stdout:
//! Broken pipe").
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::{Command, Stdio};

use common::root;

#[test]
fn a_closed_pipe_ends_every_command_quietly() {
    let commands: [&[&str]; 6] = [
        &["matrix", "examples/github.mcppolicy"],
        &[
            "diff",
            "examples/github.mcppolicy",
            "examples/traces/github-next.mcppolicy",
        ],
        &["check", "--format", "json", "examples/github.mcppolicy"],
        &[
            "explain",
            "examples/github.mcppolicy",
            "--scopes",
            "mcp:read",
            "--tool",
            "delete_repo",
        ],
        &["test", "examples/"],
        &[
            "simulate",
            "examples/github.mcppolicy",
            "--trace",
            "examples/traces/github.jsonl",
        ],
    ];
    for args in commands {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-policy"))
            .args(args)
            .current_dir(root())
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader is gone before the first line is written.
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_ne!(output.status.code(), Some(101), "{args:?}: {stderr}");
    }
}
