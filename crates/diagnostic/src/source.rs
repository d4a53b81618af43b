//! A source text with its line starts found once, so that reporting many
//! diagnostics costs a binary search each rather than a scan from the top.
//!
//! `mcp-policy check` on 100,000 rules printed 5,000 warnings in nearly two
//! minutes: each report copied the whole source, and miette found each
//! snippet's lines by scanning from the first byte. An [`IndexedSource`] is
//! shared (reference-counted) by every report of a file, and hands miette
//! only the stretch of text around a span: miette's own line logic runs on
//! that stretch, and its line numbers are moved back to the file's.

use std::sync::Arc;

use miette::{MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents};

/// A source text and where its lines start.
#[derive(Clone, Debug)]
pub struct IndexedSource {
    text: Arc<str>,
    /// Line starts as miette counts lines: after `\n`, `\r\n` or a lone `\r`.
    snippet_lines: Arc<[usize]>,
    /// Line starts after each `\n`, as [`line_column`] counts them.
    lines: Arc<[usize]>,
}

impl IndexedSource {
    pub fn new(text: &str) -> IndexedSource {
        let bytes = text.as_bytes();
        let mut snippet_lines = vec![0];
        let mut lines = vec![0];
        for (at, byte) in bytes.iter().enumerate() {
            match byte {
                b'\n' => {
                    snippet_lines.push(at + 1);
                    lines.push(at + 1);
                }
                b'\r' if bytes.get(at + 1) != Some(&b'\n') => snippet_lines.push(at + 1),
                _ => {}
            }
        }
        IndexedSource {
            text: Arc::from(text),
            snippet_lines: snippet_lines.into(),
            lines: lines.into(),
        }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// 1-based line and column (in characters) of a byte offset: the same
    /// answer as [`line_column`], without scanning from the top.
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.lines.partition_point(|&start| start <= offset);
        let start = line
            .checked_sub(1)
            .and_then(|index| self.lines.get(index))
            .copied()
            .unwrap_or(0);
        let column = self
            .text
            .get(start..offset)
            .map_or(0, |text| text.chars().count());
        (line.max(1), column + 1)
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let column = before
        .get(line_start..)
        .map_or(0, |text| text.chars().count())
        + 1;
    (line, column)
}

impl SourceCode for IndexedSource {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        // The span's line, then one line more than the context asks for:
        // miette drops what it does not need, as it would on the whole text.
        let line = self
            .snippet_lines
            .partition_point(|&start| start <= span.offset())
            .saturating_sub(1);
        let first = line.saturating_sub(context_lines_before + 1);
        let base = self.snippet_lines.get(first).copied().unwrap_or(0);
        let rest = self.text.as_bytes().get(base..).unwrap_or_default();
        let local = SourceSpan::new(span.offset().saturating_sub(base).into(), span.len());
        let contents = rest.read_span(&local, context_lines_before, context_lines_after)?;
        let window = SourceSpan::new(
            (contents.span().offset() + base).into(),
            contents.span().len(),
        );
        Ok(Box::new(MietteSpanContents::new(
            contents.data(),
            window,
            contents.line() + first,
            contents.column(),
            contents.line_count() + first,
        )))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    /// What miette reads from the whole text and from the index agree, for
    /// every span of a text with LF, CRLF and lone CR line ends.
    #[test]
    fn snippets_are_those_of_the_whole_text() {
        let text = "a\nbb\r\nccc\rdddd\n\neeeee\nfff\r\n\r\ngg";
        let indexed = IndexedSource::new(text);
        for start in 0..text.len() {
            for len in 0..4.min(text.len() - start + 1) {
                for context in 0..3 {
                    let span = SourceSpan::new(start.into(), len);
                    let whole = text.as_bytes().read_span(&span, context, context).unwrap();
                    let ours = indexed.read_span(&span, context, context).unwrap();
                    let what = format!("span {start}+{len}, context {context}");
                    assert_eq!(whole.data(), ours.data(), "{what}");
                    assert_eq!(whole.span(), ours.span(), "{what}");
                    assert_eq!(whole.line(), ours.line(), "{what}");
                    assert_eq!(whole.column(), ours.column(), "{what}");
                    assert_eq!(whole.line_count(), ours.line_count(), "{what}");
                }
            }
        }
    }

    #[test]
    fn line_column_counts_characters() {
        let source = "ab\nçd\n";
        assert_eq!(line_column(source, 0), (1, 1));
        assert_eq!(line_column(source, 3), (2, 1));
        assert_eq!(line_column(source, 5), (2, 2)); // after the two-byte ç
        assert_eq!(line_column(source, 99), (3, 1));
    }

    #[test]
    fn line_column_is_that_of_the_scan() {
        let text = "ab\ncé\r\n\nxyz";
        let indexed = IndexedSource::new(text);
        // Spans fall on character boundaries; past the end is the end.
        let offsets = (0..=text.len() + 2).filter(|&o| o > text.len() || text.is_char_boundary(o));
        for offset in offsets {
            assert_eq!(
                indexed.line_column(offset),
                line_column(text, offset),
                "{offset}"
            );
        }
    }
}
