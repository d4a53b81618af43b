//! Opening regular files only, and reading any input with a bound.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::{FileKind, Limit, ReadError};

/// Opens `path` for reading if it is a regular file (after symbolic links).
/// Never blocks: the kind is checked before the open, the open does not
/// wait for a FIFO's writer, and the opened file is checked again.
pub fn open(path: &Path) -> Result<File, ReadError> {
    refuse_irregular(std::fs::metadata(path)?.file_type())?;
    let file = open_nonblocking(path)?;
    refuse_irregular(file.metadata()?.file_type())?;
    Ok(file)
}

fn refuse_irregular(file_type: std::fs::FileType) -> Result<(), ReadError> {
    match FileKind::of(file_type) {
        None => Ok(()),
        Some(kind) => Err(ReadError::NotARegularFile { kind }),
    }
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    // On a regular file O_NONBLOCK changes nothing; on a FIFO it makes the
    // open return at once instead of waiting for a writer.
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    File::open(path)
}

/// The bytes of the regular file at `path`, at most `limit.bytes` of them.
pub fn read(path: &Path, limit: Limit) -> Result<Vec<u8>, ReadError> {
    let file = open(path)?;
    let length = file.metadata()?.len();
    if length > limit.bytes {
        return Err(ReadError::TooLarge { limit });
    }
    // The length is a hint (the file may grow while read): the bound is
    // enforced on the bytes read.
    read_with_capacity(file, limit, usize::try_from(length).unwrap_or(0))
}

/// Standard input, at most `limit.bytes` of it.
pub fn read_stdin(limit: Limit) -> Result<Vec<u8>, ReadError> {
    read_from(std::io::stdin().lock(), limit)
}

/// Any reader, at most `limit.bytes` of it.
pub fn read_from(reader: impl Read, limit: Limit) -> Result<Vec<u8>, ReadError> {
    read_with_capacity(reader, limit, 0)
}

fn read_with_capacity(
    reader: impl Read,
    limit: Limit,
    capacity: usize,
) -> Result<Vec<u8>, ReadError> {
    let mut bytes = Vec::with_capacity(capacity.saturating_add(1));
    // One byte past the limit tells "exactly at the limit" from "past it".
    reader
        .take(limit.bytes.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit.bytes {
        return Err(ReadError::TooLarge { limit });
    }
    Ok(bytes)
}
