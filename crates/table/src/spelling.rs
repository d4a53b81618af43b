//! The words and spellings of the policy language that the table needs
//! too: the requirement keywords (which no scope may be named: a table
//! refuses one that is), and how an operand (`arg.repo`,
//! `claim."https://example.com/roles"`) and a string are written, so that
//! what the runtime and the analyses print about an atom is spelled as the
//! policy spells it. Defined here, below the parser; the language's
//! lexicon (`mcp_policy_lang::syntax::lexicon`) re-exports these rather
//! than keeping a copy.

use std::fmt::{self, Write};

use crate::condition::{Operand, Source};

/// The requirement any valid token meets.
pub const AUTHENTICATED: &str = "authenticated";
/// Either of the members.
pub const ANY_OF: &str = "any_of";
/// All of the members.
pub const ALL_OF: &str = "all_of";
/// Words that are requirements, not scope references, when written bare;
/// no scope may be named so.
pub const REQUIREMENT_KEYWORDS: [&str; 3] = [AUTHENTICATED, ANY_OF, ALL_OF];

/// The operand that reads the request's arguments: `arg.PATH`.
pub const ARG: &str = "arg";
/// The operand that reads the token's claims: `claim.PATH`.
pub const CLAIM: &str = "claim";
/// What joins an operand's source and its segments.
pub const SEGMENT_SEPARATOR: char = '.';

/// A segment of an operand path written bare: an identifier.
pub fn is_identifier(segment: &str) -> bool {
    let mut chars = segment.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Writes `text` as a string: in quotes, with `\` and `"` escaped (a
/// string's only escapes).
pub fn write_quoted(out: &mut impl Write, text: &str) -> fmt::Result {
    out.write_char('"')?;
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            out.write_char('\\')?;
        }
        out.write_char(c)?;
    }
    out.write_char('"')
}

/// Writes an operand path segment: bare when an identifier, quoted
/// otherwise.
pub fn write_segment(out: &mut impl Write, segment: &str) -> fmt::Result {
    if is_identifier(segment) {
        out.write_str(segment)
    } else {
        write_quoted(out, segment)
    }
}

/// The operand as the policy writes it.
impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.source {
            Source::Arg => ARG,
            Source::Claim => CLAIM,
        })?;
        for segment in &self.path {
            f.write_char(SEGMENT_SEPARATOR)?;
            write_segment(f, segment)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operands_are_spelled_as_the_policy_writes_them() {
        assert_eq!(Operand::arg(["repo"]).to_string(), "arg.repo");
        assert_eq!(Operand::arg(["a", "_b2"]).to_string(), "arg.a._b2");
        assert_eq!(
            Operand::claim(["https://example.com/roles"]).to_string(),
            r#"claim."https://example.com/roles""#
        );
        assert_eq!(
            Operand::claim(["say \"hi\"", r"back\slash", "2nd"]).to_string(),
            r#"claim."say \"hi\""."back\\slash"."2nd""#
        );
    }
}
