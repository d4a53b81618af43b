//! A JWKS file is read as every input is: a regular file, at most 1 MiB.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mcp_policy_token::{ConfigError, KeySource, Validator, ValidatorConfig};

fn load(path: &Path) -> ConfigError {
    let config = ValidatorConfig::new(
        "https://auth.example.com",
        "https://mcp.example.com",
        KeySource::File(path.to_owned()),
    );
    Validator::new(config).unwrap_err()
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mcp-policy-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[cfg(unix)]
#[test]
fn dev_zero_is_refused_at_once() {
    let started = Instant::now();
    let error = load(Path::new("/dev/zero"));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        error.to_string(),
        "cannot read JWKS `/dev/zero`: a character device, not a regular file [mcp_policy::input::not_a_file]"
    );
}

#[test]
fn a_jwks_past_one_mib_is_refused() {
    let path = temp("big.json");
    std::fs::write(&path, vec![b' '; (1 << 20) + 1]).unwrap();
    let error = load(&path);
    assert!(
        error
            .to_string()
            .ends_with("larger than 1 MiB, the limit for a JWKS [mcp_policy::input::too_large]"),
        "{error}"
    );
}

#[cfg(unix)]
#[test]
fn a_fifo_without_a_writer_does_not_block() {
    let path = temp("fifo.json");
    let _ = std::fs::remove_file(&path);
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap()
            .success()
    );
    let (sender, receiver) = std::sync::mpsc::channel();
    let fifo = path.clone();
    std::thread::spawn(move || {
        let _ = sender.send(load(&fifo).to_string());
    });
    let message = receiver
        .recv_timeout(Duration::from_secs(5))
        .expect("reading a FIFO blocked");
    assert!(
        message.contains("a FIFO (named pipe), not a regular file"),
        "{message}"
    );
    std::fs::remove_file(&path).unwrap();
}
