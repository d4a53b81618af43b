//! Reading the files mcp-policy is given, with a byte bound, and writing
//! the ones it makes ([`replace`]: atomically, never through a link or
//! over a device).
//!
//! Every input (a policy, a compiled table, a `tools/list` answer, a test
//! file, a JWKS, a token, a secret) goes through [`read`] or [`read_stdin`]
//! with one of the [`limit`]s, so no input can exhaust memory, and through
//! [`open`] first, so no input can block forever:
//!
//! - only regular files are opened. A FIFO, a character or block device
//!   (`/dev/zero`), a socket or a directory is refused from its metadata,
//!   before any `open(2)`: opening a FIFO with no writer blocks, and a device
//!   may never end. The open itself is non-blocking and the opened file is
//!   checked again, so a FIFO swapped in between the two cannot block it.
//! - at most `limit` bytes are read; a file past it is refused with
//!   [`ReadError::TooLarge`] (a regular file from its length, without
//!   reading it).
//! - standard input (`-` on the command line) is read with the same bound;
//!   whether it ever ends is the caller's business.
//!
//! Errors are data ([`ReadError`]); each caller turns them into its own
//! message, with the stable code [`ReadError::code`].

mod error;
pub mod limit;
mod open;
mod text;
mod write;

pub use error::{FileKind, ReadError};
pub use limit::Limit;
pub use open::{open, read, read_from, read_stdin};
pub use text::{decode, read_text};
pub use write::replace;
