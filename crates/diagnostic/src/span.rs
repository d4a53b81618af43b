//! Byte ranges in a source text.

/// A byte range in the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// The span `offset..offset + len` of `source`, clamped into it and
    /// moved back onto character boundaries: a position a reader (YAML's,
    /// say) reports can be past the end or inside a character, and a label
    /// must still slice the text.
    pub fn within(source: &str, offset: usize, len: usize) -> Span {
        let start = floor_char_boundary(source, offset);
        let end = floor_char_boundary(source, start.saturating_add(len));
        Span { start, end }
    }

    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn floor_char_boundary(source: &str, offset: usize) -> usize {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

impl From<Span> for miette::SourceSpan {
    fn from(span: Span) -> miette::SourceSpan {
        (span.start, span.len()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_stays_in_the_text_and_on_characters() {
        let source = "ab\nçd\n";
        assert_eq!(Span::within(source, 0, 2), Span::new(0, 2));
        assert_eq!(Span::within(source, 5, 1), Span::new(5, 6));
        // Inside the two-byte `ç`: moved back onto its start.
        assert_eq!(Span::within(source, 4, 1), Span::new(3, 3));
        assert_eq!(Span::within(source, 99, 5), Span::new(7, 7));
        assert_eq!(Span::within(source, 6, usize::MAX), Span::new(6, 7));
        assert_eq!(Span::within("", 3, 3), Span::new(0, 0));
    }
}
