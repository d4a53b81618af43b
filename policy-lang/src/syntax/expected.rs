//! What a syntax error says: where parsing stopped, what the grammar
//! would have accepted there, in words, and a suggestion when a keyword is
//! misspelled.

use pest::error::{ErrorVariant, InputLocation};

use super::cst::Cst;
use super::grammar::{Grammar, Rule};
use super::lexicon::{
    ALL_OF, ANY_OF, AUTHENTICATED, STATEMENT_KEYWORDS, is_name_char, is_statement_keyword,
};
use crate::ast::Span;
use crate::diagnostic::{Code, Diagnostic};
use crate::suggest::did_you_mean;

/// Something the grammar would have accepted where parsing stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Expected {
    Rule(Rule),
    Punctuation(String),
}

/// Where parsing stopped (relative to the statement) and what would have
/// been accepted there. Pest's parse attempts see literal tokens such as
/// `,` and `)` that its rule-level error leaves out, and the farthest point
/// reached, which is where the mistake is.
pub(super) fn expectation(error: &pest::error::Error<Rule>) -> (usize, Vec<Expected>) {
    let mut at = match error.location {
        InputLocation::Pos(at) => at,
        InputLocation::Span((at, _)) => at,
    };
    let mut expected: Vec<Expected> = match &error.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            positives.iter().copied().map(Expected::Rule).collect()
        }
        ErrorVariant::CustomError { .. } => Vec::new(),
    };
    // Use the farthest point only where it found missing punctuation: its
    // other attempts include the lookaheads that keep keywords out of
    // names, which would point one word too far.
    if let Some(attempts) = error.parse_attempts()
        && attempts.max_position >= at
    {
        let punctuation: Vec<String> = attempts
            .expected_tokens()
            .iter()
            // `ParsingToken` is not exported; its display is the token.
            .map(ToString::to_string)
            .filter(|token| matches!(token.as_str(), "," | ")"))
            .collect();
        if !punctuation.is_empty() {
            at = attempts.max_position;
            // Only the punctuation can follow what was parsed; the rules
            // pest lists there are its attempts to read on past it.
            expected.clear();
            expected.extend(punctuation.into_iter().map(Expected::Punctuation));
        }
    }
    (at, expected)
}

fn is_statement_start(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::kw_policy
            | Rule::kw_default
            | Rule::kw_scope
            | Rule::kw_deny
            | Rule::kw_tool
            | Rule::kw_resource
            | Rule::kw_prompt
            | Rule::target_kind
            | Rule::policy_decl
            | Rule::default_decl
            | Rule::scope_decl
            | Rule::allow_rule
            | Rule::deny_rule
            | Rule::statement
    )
}

/// The human name of what the grammar expected.
fn expected_name(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::kw_policy => "`policy`",
        Rule::kw_default => "`default`",
        Rule::kw_scope => "`scope`",
        Rule::kw_level => "`level`",
        Rule::kw_implies => "`implies`",
        Rule::kw_tool | Rule::target_kind => "`tool`, `resource` or `prompt`",
        Rule::kw_resource => "`resource`",
        Rule::kw_prompt => "`prompt`",
        Rule::kw_deny => "`deny`",
        Rule::kw_requires => "`requires`",
        Rule::policy_decl
        | Rule::default_decl
        | Rule::scope_decl
        | Rule::allow_rule
        | Rule::deny_rule
        | Rule::statement => {
            "a statement (`policy`, `default`, `scope`, `tool`, `resource`, `prompt` or `deny`)"
        }
        Rule::any_of
        | Rule::all_of
        | Rule::authenticated
        | Rule::scope_ref
        | Rule::kw_any_of
        | Rule::kw_all_of
        | Rule::kw_authenticated => {
            "a requirement (a scope, `any_of(...)`, `all_of(...)` or `authenticated`)"
        }
        Rule::scope_name => "a scope name",
        Rule::target => "a name or a quoted pattern",
        Rule::word | Rule::default_deny => "a word",
        Rule::level_word => "a level (`read`, `write`, `admin`, `resource` or `oauth`)",
        Rule::description | Rule::string => "a quoted string",
        Rule::implies_clause => "`implies`",
        Rule::EOI => "end of file",
        _ => return None,
    })
}

/// The keywords a rule stands for, for "did you mean".
fn keywords_of(rule: Rule) -> &'static [&'static str] {
    match rule {
        Rule::kw_policy | Rule::policy_decl => &["policy"],
        Rule::kw_default | Rule::default_decl => &["default"],
        Rule::kw_scope | Rule::scope_decl => &["scope"],
        Rule::kw_level => &["level"],
        Rule::kw_implies | Rule::implies_clause => &["implies"],
        Rule::kw_tool
        | Rule::kw_resource
        | Rule::kw_prompt
        | Rule::target_kind
        | Rule::allow_rule => &["tool", "resource", "prompt"],
        Rule::kw_deny | Rule::deny_rule => &["deny"],
        Rule::kw_requires => &["requires"],
        Rule::statement => &STATEMENT_KEYWORDS,
        Rule::any_of | Rule::all_of | Rule::authenticated | Rule::scope_ref => {
            &[ANY_OF, ALL_OF, AUTHENTICATED]
        }
        _ => &[],
    }
}

pub(super) fn syntax_error(cst: &Cst<'_>, at: usize, expected_items: &[Expected]) -> Diagnostic {
    let source = cst.source();
    let expected: Vec<Rule> = expected_items
        .iter()
        .filter_map(|item| match item {
            Expected::Rule(rule) => Some(*rule),
            Expected::Punctuation(_) => None,
        })
        .collect();
    let punctuation: Vec<String> = expected_items
        .iter()
        .filter_map(|item| match item {
            Expected::Punctuation(token) => Some(format!("`{token}`")),
            Expected::Rule(_) => None,
        })
        .collect();
    let rest = source.get(at..).unwrap_or_default();
    let word: String = rest.chars().take_while(|c| is_name_char(*c)).collect();
    let (found, width) = if !word.is_empty() {
        (format!("`{word}`"), word.len())
    } else if let Some(c) = rest.chars().next() {
        let shown = match c {
            '\n' | '\r' => "end of line".to_owned(),
            '"' => "a quoted string".to_owned(),
            c => format!("`{c}`"),
        };
        (shown, c.len_utf8())
    } else {
        ("end of file".to_owned(), 0)
    };
    let starts_statement = expected
        .iter()
        .filter(|rule| is_statement_start(**rule))
        .count()
        >= 2;
    let mut names: Vec<&str> = expected
        .iter()
        .map(|rule| match rule {
            rule if starts_statement && is_statement_start(*rule) => Rule::statement,
            other => *other,
        })
        .filter_map(expected_name)
        .collect();
    names.extend(punctuation.iter().map(String::as_str));
    // A requirement may be a scope name, which may be a string: say the
    // most general thing once.
    let requirement = expected_name(Rule::scope_ref);
    if requirement.is_some_and(|requirement| names.contains(&requirement)) {
        names.retain(|name| !matches!(*name, "a scope name" | "a quoted string"));
    }
    names.sort_unstable();
    names.dedup();
    let expected_text = match names.as_slice() {
        [] => "something else".to_owned(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    };
    if rest.starts_with('"')
        && !rest
            .lines()
            .next()
            .unwrap_or_default()
            .get(1..)
            .is_some_and(|r| r.contains('"'))
    {
        return Diagnostic::error(Code::Syntax, "unterminated string")
            .with_label(Span::new(at, at + 1), "this string does not end on its line")
            .with_help("close it with `\"` before the end of the line; a `\"` inside a string is written `\\\"`");
    }
    // The label stands under the text: keep it short, the message has it all.
    let short: Vec<&str> = names
        .iter()
        .map(|name| name.split(" (").next().unwrap_or(name))
        .collect();
    let short_text = match short.as_slice() {
        [] => "something else".to_owned(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    };
    let mut diagnostic = Diagnostic::error(
        Code::Syntax,
        format!("expected {expected_text}, found {found}"),
    )
    .with_label(Span::new(at, at + width), format!("expected {short_text}"));
    let keywords: Vec<&str> = expected
        .iter()
        .flat_map(|rule| keywords_of(*rule))
        .copied()
        .collect();
    let after_name = source
        .get(..at)
        .and_then(|before| before.chars().next_back())
        .is_some_and(is_name_char);
    if !word.is_empty()
        && let Some(suggestion) = did_you_mean(&word, keywords.iter().copied())
    {
        diagnostic = diagnostic.with_help(format!("did you mean `{suggestion}`?"));
    } else if rest.starts_with('*') && after_name {
        let name_start = source
            .get(..at)
            .map_or(at, |before| before.trim_end_matches(is_name_char).len());
        let pattern: String = source
            .get(name_start..)
            .unwrap_or_default()
            .chars()
            .take_while(|c| is_name_char(*c) || *c == '*')
            .collect();
        diagnostic = diagnostic.with_help(format!("a pattern must be quoted: `\"{pattern}\"`"));
    } else if rest.starts_with(',') {
        diagnostic = diagnostic
            .with_help("`,` separates the members of `any_of(...)` and `all_of(...)`; remove it, or group the requirements");
    } else if !word.is_empty() && is_statement_keyword(&word) && cst.starts_line(at) {
        diagnostic = diagnostic.with_help(format!(
            "`{word}` begins the next statement: the one before it is incomplete"
        ));
    } else if !word.is_empty() && is_statement_keyword(&word) {
        diagnostic = diagnostic.with_help(format!(
            "`{word}` is a keyword; a name spelled like it must be quoted: `\"{word}\"`"
        ));
    }
    diagnostic
}

/// The error of a statement that failed to parse, parsed again with its
/// parse attempts recorded. The switch is global to the process: another
/// thread's `parse` may turn it off in between, so a few tries are made
/// (without the attempts, the message is still right, only less precise).
pub(super) fn detailed_error(statement: &str) -> Option<pest::error::Error<Rule>> {
    let mut last = None;
    for _ in 0..4 {
        pest::set_error_detail(true);
        match <Grammar as pest::Parser<Rule>>::parse(Rule::statement, statement) {
            Ok(_) => return None,
            Err(error) if error.parse_attempts().is_some() => return Some(error),
            Err(error) => last = Some(error),
        }
    }
    last
}
