//! The reader against what a path can name: oversized files, devices,
//! FIFOs without a writer, directories.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use mcp_policy_fs::{FileKind, Limit, ReadError, read, read_from, read_text};

const SMALL: Limit = Limit {
    bytes: 10,
    what: "a test input",
};

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mcp-policy-fs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn a_file_at_the_limit_is_read_and_one_byte_more_is_refused() {
    let path = temp("exact");
    std::fs::write(&path, [b'x'; 10]).unwrap();
    assert_eq!(read(&path, SMALL).unwrap().len(), 10);
    std::fs::write(&path, [b'x'; 11]).unwrap();
    let error = read(&path, SMALL).unwrap_err();
    assert!(matches!(error, ReadError::TooLarge { limit } if limit == SMALL));
    assert_eq!(
        error.to_string(),
        "larger than 10 bytes, the limit for a test input"
    );
    assert_eq!(error.code(), "mcp_policy::input::too_large");
}

#[test]
fn an_endless_stream_is_cut_at_the_limit() {
    let error = read_from(std::io::repeat(0), mcp_policy_fs::limit::POLICY).unwrap_err();
    assert!(matches!(error, ReadError::TooLarge { .. }));
}

#[cfg(unix)]
#[test]
fn dev_zero_is_refused_unread() {
    let started = Instant::now();
    let error = read(
        std::path::Path::new("/dev/zero"),
        mcp_policy_fs::limit::ARTIFACT,
    )
    .unwrap_err();
    assert!(matches!(
        error,
        ReadError::NotARegularFile {
            kind: FileKind::CharDevice
        }
    ));
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn a_directory_is_refused() {
    let error = read(&std::env::temp_dir(), SMALL).unwrap_err();
    assert!(matches!(
        error,
        ReadError::NotARegularFile {
            kind: FileKind::Directory
        }
    ));
    assert_eq!(error.to_string(), "a directory, not a regular file");
    assert_eq!(error.code(), "mcp_policy::input::not_a_file");
}

#[cfg(unix)]
#[test]
fn a_fifo_without_a_writer_is_refused_without_blocking() {
    let path = temp("fifo");
    let _ = std::fs::remove_file(&path);
    let made = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .unwrap();
    assert!(made.success());
    // Run the read on its own thread: a regression would block forever.
    let (sender, receiver) = std::sync::mpsc::channel();
    let fifo = path.clone();
    std::thread::spawn(move || {
        let _ = sender.send(read(&fifo, SMALL).map(|_| ()).map_err(|e| e.to_string()));
    });
    let result = receiver
        .recv_timeout(Duration::from_secs(5))
        .expect("reading a FIFO blocked");
    assert_eq!(
        result.unwrap_err(),
        "a FIFO (named pipe), not a regular file"
    );
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_missing_file_is_an_io_error() {
    let error = read(&temp("missing"), SMALL).unwrap_err();
    assert!(matches!(error, ReadError::Io(ref io) if io.kind() == std::io::ErrorKind::NotFound));
    assert_eq!(error.code(), "mcp_policy::input::io");
}

#[test]
fn text_drops_a_bom_and_locates_bad_bytes() {
    let path = temp("text");
    std::fs::write(&path, b"\xef\xbb\xbfok").unwrap();
    assert_eq!(read_text(&path, SMALL).unwrap(), "ok");
    std::fs::write(&path, b"ok\n\x80").unwrap();
    let error = read_text(&path, SMALL).unwrap_err();
    assert_eq!(
        error.to_string(),
        "not UTF-8: invalid byte at line 2, column 1"
    );
    assert_eq!(error.code(), "mcp_policy::input::not_utf8");
}
