//! Bytes to text: UTF-8, a leading byte-order mark dropped.

use std::path::Path;

use crate::{Limit, ReadError, read};

const BOM: &str = "\u{feff}";

/// The regular file at `path` as text (see [`decode`]), at most
/// `limit.bytes` long.
pub fn read_text(path: &Path, limit: Limit) -> Result<String, ReadError> {
    decode(&read(path, limit)?).map(str::to_owned)
}

/// The bytes as UTF-8 text without a leading byte-order mark (editors on
/// Windows write one; it is not part of the text). Otherwise
/// [`ReadError::NotUtf8`] at the first invalid byte. Offsets, lines and
/// columns count from after the mark, as the returned text does.
pub fn decode(bytes: &[u8]) -> Result<&str, ReadError> {
    let body = bytes.strip_prefix(BOM.as_bytes()).unwrap_or(bytes);
    std::str::from_utf8(body).map_err(|error| {
        let valid = error.valid_up_to();
        // The prefix up to `valid` is UTF-8 by definition.
        let prefix = body
            .get(..valid)
            .and_then(|prefix| std::str::from_utf8(prefix).ok())
            .unwrap_or_default();
        let (line, column) = line_column(prefix);
        ReadError::NotUtf8 {
            offset: valid,
            line,
            column,
        }
    })
}

/// The 1-based line and column (in characters) just past `prefix`.
fn line_column(prefix: &str) -> (usize, usize) {
    let line = prefix.matches('\n').count() + 1;
    let start = prefix.rfind('\n').map_or(0, |newline| newline + 1);
    let column = prefix.get(start..).map_or(0, |last| last.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn position(bytes: &[u8]) -> (usize, usize, usize) {
        match decode(bytes) {
            Err(ReadError::NotUtf8 {
                offset,
                line,
                column,
            }) => (offset, line, column),
            other => panic!("expected NotUtf8, got {other:?}"),
        }
    }

    #[test]
    fn a_bom_is_dropped_and_only_a_leading_one() {
        assert_eq!(decode(b"\xef\xbb\xbfscope a").unwrap(), "scope a");
        assert_eq!(decode(b"a\xef\xbb\xbf").unwrap(), "a\u{feff}");
        assert_eq!(decode(b"").unwrap(), "");
    }

    #[test]
    fn the_first_bad_byte_is_located_in_characters() {
        assert_eq!(position(b"\xff"), (0, 1, 1));
        assert_eq!(position(b"ab\ncd\xffe"), (5, 2, 3));
        // `é` is two bytes, one column.
        assert_eq!(position(b"\xc3\xa9\xc3"), (2, 1, 2));
        // After a BOM, positions count from the text.
        assert_eq!(position(b"\xef\xbb\xbfx\n\xfe"), (2, 2, 1));
    }
}
