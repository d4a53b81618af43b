//! The source as a flat list of tokens, trivia included: the one reading
//! of where strings, comments and line breaks are. Recovery, the nesting
//! limit, the formatter's comments and the suppression comments all read
//! this list instead of scanning the text again.
//!
//! It follows the grammar's lexical rules (`grammar.pest`'s `string`,
//! `COMMENT`, `WHITESPACE`, `name_char`), and never fails: a character the
//! grammar has no use for is an [`TokenKind::Other`], a string cut short by
//! its line's end is a string all the same. The tokens cover the source
//! without gaps, in order.

use crate::syntax::lexicon::is_name_char;
use mcp_policy_diagnostic::Span;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A run of name characters: a bare name or a keyword.
    Word,
    /// A string from its `"` to the `"` that closes it, or, when its line
    /// (or the file) ends first, to before that line break.
    Str,
    Open,
    Close,
    Comma,
    /// `[` and `]`, around an `in` list.
    OpenList,
    CloseList,
    /// A run of the characters of a condition's operators (`==`, `!=`,
    /// `<`, `<=`, `>`, `>=`): `=` alone is one too, the likely mistake.
    Operator,
    /// From `#` to the end of its line, a `\r` included, the `\n` not.
    Comment,
    /// One `\n`.
    Newline,
    /// Spaces and tabs.
    Blank,
    /// A `\r` (the end of a CRLF line break, or a stray one).
    Return,
    /// One character the grammar has no token for (`*`, `+`, `é`, ...).
    Other,
}

impl TokenKind {
    /// What the grammar skips between tokens.
    pub fn is_trivia(self) -> bool {
        matches!(
            self,
            TokenKind::Comment | TokenKind::Newline | TokenKind::Blank | TokenKind::Return
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub span: Span,
}

/// The tokens of one source, and what is read from them.
#[derive(Debug)]
pub struct Tokens<'s> {
    source: &'s str,
    tokens: Vec<Token>,
}

impl<'s> Tokens<'s> {
    pub fn new(source: &'s str) -> Tokens<'s> {
        Tokens {
            source,
            tokens: lex(source),
        }
    }

    pub fn source(&self) -> &'s str {
        self.source
    }

    pub fn all(&self) -> &[Token] {
        &self.tokens
    }

    /// The text of a span.
    pub fn text(&self, span: Span) -> &'s str {
        self.source.get(span.start..span.end).unwrap_or_default()
    }

    /// The index of the token holding `at` (or of the first after it).
    pub fn index_at(&self, at: usize) -> usize {
        self.tokens.partition_point(|token| token.span.end <= at)
    }

    /// The tokens that overlap `start..end`.
    pub fn between(&self, start: usize, end: usize) -> &[Token] {
        let first = self.index_at(start);
        let last = self.tokens.partition_point(|token| token.span.start < end);
        self.tokens.get(first..last.max(first)).unwrap_or_default()
    }

    /// The comments on the lines directly above the line of `at`, each on
    /// a line of its own, innermost last.
    pub fn comments_above(&self, at: usize) -> Vec<Span> {
        let mut found = Vec::new();
        let before = self.tokens.get(..self.index_at(at)).unwrap_or_default();
        // The line break that ends the line above.
        let Some(mut newline) = before
            .iter()
            .rposition(|token| token.kind == TokenKind::Newline)
        else {
            return found;
        };
        loop {
            let line = before.get(..newline).unwrap_or_default();
            let line_start = line
                .iter()
                .rposition(|token| token.kind == TokenKind::Newline)
                .map(|index| index + 1);
            let Some(
                [
                    blanks @ ..,
                    Token {
                        kind: TokenKind::Comment,
                        span,
                    },
                ],
            ) = line.get(line_start.unwrap_or(0)..)
            else {
                break;
            };
            if !blanks
                .iter()
                .all(|token| matches!(token.kind, TokenKind::Blank | TokenKind::Return))
            {
                break;
            }
            found.push(*span);
            match line_start {
                Some(start) => newline = start - 1,
                None => break,
            }
        }
        found.reverse();
        found
    }

    /// The texts of the comments, in order, without trailing whitespace.
    pub fn comment_texts(&self) -> Vec<&'s str> {
        self.tokens
            .iter()
            .filter(|token| token.kind == TokenKind::Comment)
            .map(|token| self.text(token.span).trim_end())
            .collect()
    }
}

/// The tokens of `source`. `"`, `\`, `#` and line breaks are ASCII, so
/// scanning bytes is safe in UTF-8; other characters are taken whole.
pub fn lex(source: &str) -> Vec<Token> {
    let bytes = source.as_bytes();
    let mut tokens = Vec::with_capacity(source.len() / 4);
    let mut pos = 0;
    while let Some(&byte) = bytes.get(pos) {
        let (kind, end) = match byte {
            b'\n' => (TokenKind::Newline, pos + 1),
            b'\r' => (TokenKind::Return, pos + 1),
            b' ' | b'\t' => (
                TokenKind::Blank,
                run_end(bytes, pos, |b| b == b' ' || b == b'\t'),
            ),
            b'(' => (TokenKind::Open, pos + 1),
            b')' => (TokenKind::Close, pos + 1),
            b',' => (TokenKind::Comma, pos + 1),
            b'[' => (TokenKind::OpenList, pos + 1),
            b']' => (TokenKind::CloseList, pos + 1),
            _ if is_operator_char(byte) => {
                (TokenKind::Operator, run_end(bytes, pos, is_operator_char))
            }
            b'#' => (TokenKind::Comment, run_end(bytes, pos, |b| b != b'\n')),
            b'"' => (TokenKind::Str, string_end(bytes, pos)),
            _ if is_name_char(char::from(byte)) => (
                TokenKind::Word,
                run_end(bytes, pos, |b| is_name_char(char::from(b))),
            ),
            _ => {
                let width = source
                    .get(pos..)
                    .and_then(|rest| rest.chars().next())
                    .map_or(1, char::len_utf8);
                (TokenKind::Other, pos + width)
            }
        };
        tokens.push(Token {
            kind,
            span: Span::new(pos, end),
        });
        pos = end;
    }
    tokens
}

/// A character of a condition's operators (the lexicon's `EQ` ... `GE`).
fn is_operator_char(byte: u8) -> bool {
    matches!(byte, b'=' | b'!' | b'<' | b'>')
}

/// The end of the run of bytes from `start` (whose first byte is in it).
fn run_end(bytes: &[u8], start: usize, in_run: impl Fn(u8) -> bool) -> usize {
    bytes
        .get(start + 1..)
        .and_then(|rest| rest.iter().position(|&b| !in_run(b)))
        .map_or(bytes.len(), |length| start + 1 + length)
}

/// The end of the string opening at `start`: after its closing `"`, or
/// before the line break that cuts it short. `\"` and `\\` are escapes; a
/// `\` before anything else is left for the grammar to reject.
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut pos = start + 1;
    while let Some(&byte) = bytes.get(pos) {
        match byte {
            b'"' => return pos + 1,
            b'\n' => return pos,
            b'\\' if matches!(bytes.get(pos + 1), Some(b'"' | b'\\')) => pos += 2,
            _ => pos += 1,
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(source: &str) -> Vec<(TokenKind, &str)> {
        lex(source)
            .into_iter()
            .map(|token| (token.kind, &source[token.span.start..token.span.end]))
            .collect()
    }

    #[test]
    fn conditions_are_tokens_the_operators_and_lists_included() {
        use TokenKind::*;
        assert_eq!(
            kinds(r#"arg."a b".c<=1 in["x",]!=y=z"#),
            [
                (Word, "arg."),
                (Str, "\"a b\""),
                (Word, ".c"),
                (Operator, "<="),
                (Word, "1"),
                (Blank, " "),
                (Word, "in"),
                (OpenList, "["),
                (Str, "\"x\""),
                (Comma, ","),
                (CloseList, "]"),
                (Operator, "!="),
                (Word, "y"),
                (Operator, "="),
                (Word, "z"),
            ]
        );
        for operator in crate::syntax::lexicon::CONDITION_OPERATORS {
            let symbolic = !operator.chars().next().is_some_and(char::is_alphabetic);
            assert_eq!(
                kinds(operator).first().map(|(kind, _)| *kind),
                Some(if symbolic { Operator } else { Word }),
                "{operator}"
            );
        }
    }

    #[test]
    fn tokens_cover_the_source() {
        use TokenKind::*;
        assert_eq!(
            kinds("tool \"a # \\\" b\" requires any_of(x,y) # c \"d\r\n\té*"),
            [
                (Word, "tool"),
                (Blank, " "),
                (Str, "\"a # \\\" b\""),
                (Blank, " "),
                (Word, "requires"),
                (Blank, " "),
                (Word, "any_of"),
                (Open, "("),
                (Word, "x"),
                (Comma, ","),
                (Word, "y"),
                (Close, ")"),
                (Blank, " "),
                (Comment, "# c \"d\r"),
                (Newline, "\n"),
                (Blank, "\t"),
                (Other, "é"),
                (Other, "*"),
            ]
        );
    }

    #[test]
    fn a_string_ends_at_its_line_or_the_file() {
        use TokenKind::*;
        assert_eq!(
            kinds("\"a (\n\"b\\\\\" \"c\\"),
            [
                (Str, "\"a ("),
                (Newline, "\n"),
                (Str, "\"b\\\\\""),
                (Blank, " "),
                (Str, "\"c\\"),
            ]
        );
        assert!(lex("").is_empty());
    }

    #[test]
    fn every_byte_is_covered_once() {
        let source = "\u{0}\u{7f}ÿ#\n\"\\\n((,))\r\r\n";
        let tokens = lex(source);
        let mut at = 0;
        for token in &tokens {
            assert_eq!(token.span.start, at);
            assert!(token.span.end > at);
            at = token.span.end;
        }
        assert_eq!(at, source.len());
    }
}
