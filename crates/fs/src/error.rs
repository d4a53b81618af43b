//! Why an input could not be read, as data.

use std::fmt;

use crate::Limit;

/// What a path named, when it was not a regular file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Directory,
    Fifo,
    CharDevice,
    BlockDevice,
    Socket,
    Other,
}

impl FileKind {
    pub fn of(file_type: std::fs::FileType) -> Option<FileKind> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt;
            if file_type.is_fifo() {
                return Some(FileKind::Fifo);
            }
            if file_type.is_char_device() {
                return Some(FileKind::CharDevice);
            }
            if file_type.is_block_device() {
                return Some(FileKind::BlockDevice);
            }
            if file_type.is_socket() {
                return Some(FileKind::Socket);
            }
        }
        if file_type.is_file() {
            None
        } else if file_type.is_dir() {
            Some(FileKind::Directory)
        } else {
            Some(FileKind::Other)
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Directory => "a directory",
            FileKind::Fifo => "a FIFO (named pipe)",
            FileKind::CharDevice => "a character device",
            FileKind::BlockDevice => "a block device",
            FileKind::Socket => "a socket",
            FileKind::Other => "not a regular file",
        }
    }
}

/// Why an input could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The input holds more than `limit` bytes; nothing past it was read.
    TooLarge {
        limit: Limit,
    },
    /// The path names a directory, FIFO, device or socket; it was not opened.
    NotARegularFile {
        kind: FileKind,
    },
    /// The text is not UTF-8: the first bad byte, at `offset` (0-based), on
    /// `line` and `column` (1-based; the column in characters).
    NotUtf8 {
        offset: usize,
        line: usize,
        column: usize,
    },
    Io(std::io::Error),
}

impl ReadError {
    /// The stable code callers print with the message.
    pub fn code(&self) -> &'static str {
        match self {
            ReadError::TooLarge { .. } => "mcp_policy::input::too_large",
            ReadError::NotARegularFile { .. } => "mcp_policy::input::not_a_file",
            ReadError::NotUtf8 { .. } => "mcp_policy::input::not_utf8",
            ReadError::Io(_) => "mcp_policy::input::io",
        }
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::TooLarge { limit } => write!(
                f,
                "larger than {limit}, the limit for {what}",
                what = limit.what
            ),
            ReadError::NotARegularFile { kind } => {
                write!(f, "{}, not a regular file", kind.as_str())
            }
            ReadError::NotUtf8 { line, column, .. } => {
                write!(f, "not UTF-8: invalid byte at line {line}, column {column}")
            }
            ReadError::Io(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadError::Io(error) => Some(error),
            _ => None,
        }
    }
}

impl From<std::io::Error> for ReadError {
    fn from(error: std::io::Error) -> ReadError {
        ReadError::Io(error)
    }
}
