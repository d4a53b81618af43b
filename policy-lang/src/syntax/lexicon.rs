//! The words and characters of the language, defined once: what a bare
//! name is made of, which words are reserved, the requirement keywords,
//! and how a string is quoted and unescaped. `grammar.pest` says the same
//! in pest (`name_char`, `reserved`, `string`); the tests below read the
//! grammar to keep the two in step.

use std::fmt;

use mcp_policy_table::TargetKind;

// The requirement keywords (which the table refuses as scope names) and
// the operand and string spellings (which it prints atoms with) are the
// table's: one definition, read by the parser, the formatter and the
// runtime alike.
pub use mcp_policy_table::spelling::{
    ALL_OF, ANY_OF, ARG, AUTHENTICATED, CLAIM, REQUIREMENT_KEYWORDS, SEGMENT_SEPARATOR,
    is_identifier, write_quoted, write_segment,
};

pub const POLICY: &str = "policy";
pub const DEFAULT: &str = "default";
pub const SCOPE: &str = "scope";
pub const LEVEL: &str = "level";
pub const IMPLIES: &str = "implies";
pub const REQUIRES: &str = "requires";
pub const DENY: &str = "deny";
// The rule keywords are the table's names of the kinds it decides.
pub const TOOL: &str = TargetKind::Tool.keyword();
pub const RESOURCE: &str = TargetKind::Resource.keyword();
pub const PROMPT: &str = TargetKind::Prompt.keyword();

/// Words that begin a statement: they cannot be bare names, so a missing
/// piece is reported where it is missing, not one line later.
pub const STATEMENT_KEYWORDS: [&str; 7] = [POLICY, DEFAULT, SCOPE, TOOL, RESOURCE, PROMPT, DENY];

/// The requirements that take a parenthesised list of members.
pub const GROUP_KEYWORDS: [&str; 2] = [ANY_OF, ALL_OF];

/// `deny KIND TARGET when COND`.
pub const WHEN: &str = "when";
/// The operator words and symbols of a condition atom. The words are
/// keywords only where an operator stands, never reserved as names.
pub const EQ: &str = "==";
pub const NE: &str = "!=";
pub const LT: &str = "<";
pub const LE: &str = "<=";
pub const GT: &str = ">";
pub const GE: &str = ">=";
pub const IN: &str = "in";
pub const CONTAINS: &str = "contains";
pub const MATCHES: &str = "matches";
pub const UNDER: &str = "under";
/// The boolean literals.
pub const TRUE: &str = "true";
pub const FALSE: &str = "false";
/// Every operator of a condition atom.
pub const CONDITION_OPERATORS: [&str; 10] = [EQ, NE, LT, LE, GT, GE, IN, CONTAINS, MATCHES, UNDER];

/// Whether a scope name would read as an operand (`arg.x`, `claim.x`):
/// such names cannot be scopes.
pub fn is_operand_name(name: &str) -> bool {
    [ARG, CLAIM].iter().any(|source| {
        name.strip_prefix(source)
            .is_some_and(|rest| rest.starts_with(SEGMENT_SEPARATOR))
    })
}

/// Writes a group requirement, `any_of(a, b)`: the keyword, then the
/// members, each written by `member`, in parentheses and comma-separated.
/// The one writer of the group syntax, for the syntax tree's `Display` and
/// for the linter's rendering of checked requirements alike.
pub fn write_group<W: fmt::Write + ?Sized, T>(
    out: &mut W,
    keyword: &str,
    members: &[T],
    mut member: impl FnMut(&mut W, &T) -> fmt::Result,
) -> fmt::Result {
    out.write_str(keyword)?;
    out.write_char('(')?;
    for (i, each) in members.iter().enumerate() {
        if i > 0 {
            out.write_str(", ")?;
        }
        member(out, each)?;
    }
    out.write_char(')')
}

/// A character of a bare name: the characters of OAuth scope tokens that
/// need no quoting.
pub fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '.' | '-' | '/')
}

/// A statement keyword (see [`STATEMENT_KEYWORDS`]).
pub fn is_statement_keyword(word: &str) -> bool {
    STATEMENT_KEYWORDS.contains(&word)
}

/// A requirement keyword (see [`REQUIREMENT_KEYWORDS`]).
pub fn is_requirement_keyword(word: &str) -> bool {
    REQUIREMENT_KEYWORDS.contains(&word)
}

/// Whether a name can be written bare, or needs quotes.
pub fn is_bare_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(is_name_char) && !is_statement_keyword(name)
}

/// `text` as a string (see [`write_quoted`]).
pub fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    let _ = write_quoted(&mut out, text);
    out
}

/// Writes a name bare when it can be, quoted otherwise.
pub fn write_name(out: &mut impl fmt::Write, name: &str) -> fmt::Result {
    if is_bare_name(name) {
        out.write_str(name)
    } else {
        write_quoted(out, name)
    }
}

/// Writes a scope reference in a requirement: as a name, but quoted when
/// spelled like a requirement keyword (bare, `authenticated` would mean
/// any token).
pub fn write_scope_ref(out: &mut impl fmt::Write, name: &str) -> fmt::Result {
    if is_requirement_keyword(name) || is_operand_name(name) {
        write_quoted(out, name)
    } else {
        write_name(out, name)
    }
}

/// The value of a string as written, quotes included: without its quotes,
/// unescaped.
pub fn unquote(raw: &str) -> String {
    let body = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(raw);
    let mut value = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(escaped) = chars.next() {
                value.push(escaped);
            }
        } else {
            value.push(c);
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use pest::Parser as _;

    use super::*;
    use crate::syntax::grammar::{Grammar, Rule};

    fn grammar_accepts(rule: Rule, text: &str) -> bool {
        Grammar::parse(rule, text).is_ok_and(|mut pairs| {
            pairs
                .next()
                .is_some_and(|pair| pair.as_str().len() == text.len())
        })
    }

    #[test]
    fn name_characters_are_the_grammars() {
        for c in (0u8..=127).map(char::from).chain(['é', 'ı', '∗']) {
            let text = format!("a{c}");
            assert_eq!(
                is_name_char(c),
                grammar_accepts(Rule::bare_name, &text),
                "{c:?}"
            );
        }
    }

    #[test]
    fn reserved_words_are_the_grammars() {
        for word in STATEMENT_KEYWORDS {
            assert!(!grammar_accepts(Rule::bare_name, word), "{word}");
            assert!(!is_bare_name(word));
            assert!(grammar_accepts(Rule::bare_name, &format!("{word}s")));
        }
        for word in [
            "level",
            "implies",
            "requires",
            AUTHENTICATED,
            ANY_OF,
            ALL_OF,
        ] {
            assert!(grammar_accepts(Rule::bare_name, word), "{word}");
            assert!(is_bare_name(word));
        }
        assert!(grammar_accepts(Rule::authenticated, AUTHENTICATED));
        assert!(grammar_accepts(Rule::kw_any_of, ANY_OF));
        assert!(grammar_accepts(Rule::kw_all_of, ALL_OF));
    }

    #[test]
    fn each_keyword_is_its_grammar_rule() {
        let keywords = [
            (Rule::kw_policy, POLICY),
            (Rule::kw_default, DEFAULT),
            (Rule::kw_scope, SCOPE),
            (Rule::kw_level, LEVEL),
            (Rule::kw_implies, IMPLIES),
            (Rule::kw_requires, REQUIRES),
            (Rule::kw_deny, DENY),
            (Rule::kw_tool, TOOL),
            (Rule::kw_resource, RESOURCE),
            (Rule::kw_prompt, PROMPT),
            (Rule::kw_any_of, ANY_OF),
            (Rule::kw_all_of, ALL_OF),
            (Rule::kw_authenticated, AUTHENTICATED),
            (Rule::kw_when, WHEN),
            (Rule::kw_in, IN),
            (Rule::kw_contains, CONTAINS),
            (Rule::kw_matches, MATCHES),
            (Rule::kw_under, UNDER),
            (Rule::kw_true, TRUE),
            (Rule::kw_false, FALSE),
            (Rule::kw_arg, ARG),
            (Rule::kw_claim, CLAIM),
            (Rule::op_eq, EQ),
            (Rule::op_ne, NE),
            (Rule::op_lt, LT),
            (Rule::op_le, LE),
            (Rule::op_gt, GT),
            (Rule::op_ge, GE),
        ];
        for (rule, word) in keywords {
            assert!(grammar_accepts(rule, word), "{word}");
        }
        let kinds = mcp_policy_table::TargetKind::ALL.map(|kind| kind.keyword());
        assert_eq!(kinds, [TOOL, RESOURCE, PROMPT]);
    }

    #[test]
    fn condition_words_are_names_outside_their_positions() {
        for word in [WHEN, IN, CONTAINS, MATCHES, UNDER, TRUE, FALSE, ARG, CLAIM] {
            assert!(grammar_accepts(Rule::bare_name, word), "{word}");
            assert!(is_bare_name(word));
        }
        for segment in ["a", "_x1", "repo_name"] {
            assert!(is_identifier(segment));
            assert!(grammar_accepts(Rule::identifier, segment));
        }
        for segment in ["", "1a", "a-b", "é"] {
            assert!(!is_identifier(segment), "{segment}");
            assert!(!grammar_accepts(Rule::identifier, segment), "{segment}");
        }
        assert!(is_operand_name("arg.x") && is_operand_name("claim."));
        assert!(!is_operand_name("args.x") && !is_operand_name("arg"));
    }

    #[test]
    fn quoting_round_trips_through_the_grammar() {
        for text in ["", "a b", r#"say "hi""#, r"back\slash", r#"\""#, "é # x"] {
            let written = quoted(text);
            assert!(grammar_accepts(Rule::string, &written), "{written}");
            assert_eq!(unquote(&written), text);
        }
        let mut out = String::new();
        write_scope_ref(&mut out, ANY_OF).unwrap();
        write_name(&mut out, "x y").unwrap();
        write_name(&mut out, "tool").unwrap();
        write_name(&mut out, "mcp:read").unwrap();
        assert_eq!(out, r#""any_of""x y""tool"mcp:read"#);
        // Bare, `arg.x` would read as an operand.
        let mut out = String::new();
        write_scope_ref(&mut out, "arg.x").unwrap();
        write_scope_ref(&mut out, "args.x").unwrap();
        write_segment(&mut out, "repo-name").unwrap();
        write_segment(&mut out, "_a1").unwrap();
        assert_eq!(out, r#""arg.x"args.x"repo-name"_a1"#);
    }
}
