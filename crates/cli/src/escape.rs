//! Text from outside (trace lines written by clients, names in a policy
//! under review, claims of a token) as it may reach a terminal or a review
//! page: every character that would act rather than show is escaped, so
//! that a crafted name cannot move the cursor, clear the screen, retitle
//! the window, reorder the line a reviewer reads (bidi overrides, as in
//! "Trojan Source") or hide inside a name (zero-width characters).
//!
//! This is the one helper every human-readable output goes through.

use std::borrow::Cow;

/// `true` for a character printed as an escape rather than as itself:
/// control characters (C0, DEL, C1), the bidi embeddings, overrides,
/// isolates and marks, zero-width and invisible formatting characters, and
/// the line and paragraph separators (which some viewers break lines at).
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            // Bidi: LRE RLE PDF LRO RLO, LRI RLI FSI PDI, LRM RLM, ALM.
            '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{061C}'
                // Zero width: space, non-joiner, joiner, word joiner and the
                // invisible operators, the byte order mark (zero-width
                // no-break space), the Mongolian vowel separator, soft hyphen.
                | '\u{200B}'..='\u{200D}'
                | '\u{2060}'..='\u{2064}'
                | '\u{FEFF}'
                | '\u{180E}'
                | '\u{00AD}'
                // Line and paragraph separators.
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// How a hidden character is shown: Rust's escapes (`\n`, `\r`, `\t`,
/// `\u{1b}`, `\u{202e}`), so a reader can tell which character it was.
pub fn escape(c: char) -> String {
    if c.is_control() {
        c.escape_default().collect()
    } else {
        c.escape_unicode().collect()
    }
}

/// `text` with every [hidden](is_hidden) character escaped; unchanged, and
/// not copied, when it has none.
pub fn shown(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_hidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_hidden(c) {
            out.push_str(&escape(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// [`shown`], owned: for the places that keep the text.
pub fn owned(text: &str) -> String {
    shown(text).into_owned()
}

/// Policy text listed in a sentence: each item [`shown`] in backticks,
/// separated by commas (`` `arg.repo matches "acme/*"`, `claim.tenant == "acme"` ``).
pub fn backticked(items: &[impl AsRef<str>]) -> String {
    items
        .iter()
        .map(|item| format!("`{}`", shown(item.as_ref())))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The source text of a policy as a diagnostic shows its lines: each hidden
/// character escaped as [`shown`] does, except the line structure (`\n`,
/// `\r` before `\n`, and `\t`, which the renderer expands), and a map from
/// offsets in the source to offsets in the copy, so labels still point at
/// the characters they pointed at (now at their escapes).
#[derive(Debug)]
pub struct DisplaySource {
    pub text: String,
    /// `(offset in the source, bytes added before it)`, ascending: one entry
    /// just past each escaped character.
    shifts: Vec<(usize, usize)>,
}

impl DisplaySource {
    pub fn new(source: &str) -> DisplaySource {
        let mut text = String::with_capacity(source.len());
        let mut shifts = Vec::new();
        let mut added = 0usize;
        let mut chars = source.char_indices().peekable();
        while let Some((offset, c)) = chars.next() {
            let structural = c == '\n'
                || c == '\t'
                || (c == '\r' && chars.peek().is_some_and(|&(_, next)| next == '\n'));
            if structural || !is_hidden(c) {
                text.push(c);
                continue;
            }
            let escaped = escape(c);
            added += escaped.len() - c.len_utf8();
            text.push_str(&escaped);
            shifts.push((offset + c.len_utf8(), added));
        }
        DisplaySource { text, shifts }
    }

    /// Where a source offset lands in the copy. An offset inside or at the
    /// start of an escaped character maps to the start of its escape; one
    /// just past it, to just past the escape.
    pub fn offset(&self, offset: usize) -> usize {
        let index = self.shifts.partition_point(|&(at, _)| at <= offset);
        let added = index
            .checked_sub(1)
            .and_then(|i| self.shifts.get(i))
            .map_or(0, |&(_, added)| added);
        offset + added
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(shown("delete_repo"), "delete_repo");
        assert_eq!(shown("ça\u{1b}[2J\r"), "ça\\u{1b}[2J\\r");
        assert_eq!(shown("a\u{7}b\u{9b}c"), "a\\u{7}b\\u{9b}c");
    }

    #[test]
    fn bidi_and_zero_width_characters_are_escaped() {
        assert_eq!(shown("a\u{202E}b"), "a\\u{202e}b");
        assert_eq!(shown("a\u{2066}b\u{2069}"), "a\\u{2066}b\\u{2069}");
        assert_eq!(shown("del\u{200B}ete"), "del\\u{200b}ete");
        assert_eq!(shown("\u{FEFF}x\u{200F}"), "\\u{feff}x\\u{200f}");
        // Letters of every script stay as they are.
        assert_eq!(shown("dеlete_repo リポジトリ"), "dеlete_repo リポジトリ");
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let out = shown(&c.to_string()).into_owned();
            assert!(!out.chars().any(is_hidden), "{c:?} -> {out:?}");
        }
    }

    #[test]
    fn the_display_source_keeps_lines_and_moves_offsets_with_the_escapes() {
        let source = "a\u{1b}b\r\nc\u{202E}d\te\rf";
        let display = DisplaySource::new(source);
        assert_eq!(display.text, "a\\u{1b}b\r\nc\\u{202e}d\te\\rf");
        // `a` stays, the ESC's start maps to its escape's start, `b` follows.
        assert_eq!(display.offset(0), 0);
        assert_eq!(display.offset(1), 1);
        assert_eq!(display.offset(2), "a\\u{1b}".len());
        let c = source.find('c').unwrap_or_default();
        let d = source.find('d').unwrap_or_default();
        assert_eq!(
            display.text.get(display.offset(c)..=display.offset(c)),
            Some("c")
        );
        assert_eq!(
            display.text.get(display.offset(d)..=display.offset(d)),
            Some("d")
        );
        assert_eq!(display.offset(source.len()), display.text.len());
    }
}
