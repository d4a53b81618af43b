//! What a syntax error says: where parsing stopped, what the grammar
//! would have accepted there, in words, and a suggestion when a keyword is
//! misspelled.

use pest::error::{ErrorVariant, InputLocation};

use super::cst::Cst;
use super::grammar::Rule;
use super::lexicon::{
    ALL_OF, ANY_OF, AUTHENTICATED, CONTAINS, DEFAULT, DENY, FALSE, IMPLIES, IN, LEVEL, MATCHES,
    POLICY, PROMPT, REQUIRES, RESOURCE, SCOPE, STATEMENT_KEYWORDS, TOOL, TRUE, UNDER, WHEN,
    is_name_char, is_statement_keyword,
};
use crate::diagnostic::{Code, Diagnostic};
use crate::suggest::did_you_mean;
use mcp_policy_diagnostic::Span;

/// Where parsing stopped (relative to the statement) and the rules the
/// grammar would have accepted there. `word_follows`: whether a word or a
/// string stands there (see below).
pub(super) fn expectation(
    error: &pest::error::Error<Rule>,
    word_follows: impl FnOnce(usize) -> bool,
) -> (usize, Vec<Rule>) {
    let at = match error.location {
        InputLocation::Pos(at) => at,
        InputLocation::Span((at, _)) => at,
    };
    let mut expected: Vec<Rule> = match &error.variant {
        ErrorVariant::ParsingError { positives, .. } => positives.clone(),
        ErrorVariant::CustomError { .. } => Vec::new(),
    };
    // Where a `,` or `)` could follow what was parsed, only the punctuation
    // is the mistake: the other rules pest lists there are its attempts to
    // read on past it. Unless a requirement could stand there too (after
    // `any_of(a,`) and a word or string does: a keyword where a member was
    // due reads as a missing member, not as a missing `)`.
    if expected.iter().copied().any(is_punctuation) {
        let member_due = expected.iter().copied().any(starts_requirement) && word_follows(at);
        expected.retain(|rule| is_punctuation(*rule) != member_due);
    }
    (at, expected)
}

/// The rules pest names where a requirement fails to begin.
fn starts_requirement(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::any_of
            | Rule::all_of
            | Rule::authenticated
            | Rule::scope_ref
            | Rule::unknown_call
            | Rule::condition
            | Rule::kw_any_of
            | Rule::kw_all_of
            | Rule::kw_authenticated
    )
}

fn is_punctuation(rule: Rule) -> bool {
    matches!(rule, Rule::comma | Rule::close | Rule::close_list)
}

/// The rules pest names where a condition's operator is due.
/// Operators written as other languages write them, and what this one
/// writes. Longest first, so that `===` is not read as `==` and `=`.
const MISSPELLED_OPERATORS: [(&str, &str); 6] = [
    ("===", "=="),
    ("!==", "!="),
    ("=<", "<="),
    ("=>", ">="),
    ("<>", "!="),
    ("=!", "!="),
];

/// The misspelled operator that covers `at`, where an operator or the
/// value after one was expected: pest stops inside it (`=<` at the `=`,
/// `<>` at the `>` after reading `<`), so the text is looked at around
/// `at`, not only from it.
fn misspelled_operator(
    source: &str,
    at: usize,
    expected: &[Rule],
) -> Option<(&'static str, &'static str)> {
    if !expected
        .iter()
        .any(|rule| is_operator(*rule) || is_literal(*rule))
    {
        return None;
    }
    MISSPELLED_OPERATORS.into_iter().find(|(wrong, _)| {
        (0..wrong.len()).any(|back| {
            at.checked_sub(back)
                .and_then(|start| source.get(start..))
                .is_some_and(|text| text.starts_with(wrong))
        })
    })
}

fn is_operator(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::equality
            | Rule::membership
            | Rule::ordering
            | Rule::containment
            | Rule::glob_match
            | Rule::path_under
            | Rule::op_eq
            | Rule::op_ne
            | Rule::op_lt
            | Rule::op_le
            | Rule::op_gt
            | Rule::op_ge
            | Rule::kw_in
            | Rule::kw_contains
            | Rule::kw_matches
            | Rule::kw_under
    )
}

/// The rules pest names where a literal is due.
fn is_literal(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::literal | Rule::number | Rule::kw_true | Rule::kw_false
    )
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
        | Rule::condition
        | Rule::kw_any_of
        | Rule::kw_all_of
        | Rule::kw_authenticated => {
            "a requirement (a scope, a condition, `any_of(...)`, `all_of(...)` or `authenticated`)"
        }
        Rule::when_clause | Rule::kw_when => "`when`",
        rule if is_operator(rule) => {
            "an operator (`==`, `!=`, `<`, `<=`, `>`, `>=`, `in`, `contains`, `matches` or `under`)"
        }
        rule if is_literal(rule) => "a value (a quoted string, a number, `true` or `false`)",
        Rule::operand | Rule::operand_source | Rule::kw_arg | Rule::kw_claim => {
            "an operand (`arg.NAME` or `claim.NAME`)"
        }
        Rule::segment | Rule::identifier => "a key after `.` (a name or a quoted string)",
        Rule::open_list => "`[`",
        Rule::close_list => "`]`",
        Rule::scope_name => "a scope name",
        Rule::target => "a name or a quoted pattern",
        Rule::word | Rule::default_deny => "a word",
        Rule::level_word => "a level (`read`, `write`, `admin`, `resource` or `oauth`)",
        Rule::description | Rule::string => "a quoted string",
        Rule::implies_clause => "`implies`",
        Rule::comma => "`,`",
        Rule::close => "`)`",
        Rule::EOI => "end of file",
        _ => return None,
    })
}

/// The keywords a rule stands for, for "did you mean".
fn keywords_of(rule: Rule) -> &'static [&'static str] {
    match rule {
        Rule::kw_policy | Rule::policy_decl => &[POLICY],
        Rule::kw_default | Rule::default_decl => &[DEFAULT],
        Rule::kw_scope | Rule::scope_decl => &[SCOPE],
        Rule::kw_level => &[LEVEL],
        Rule::kw_implies | Rule::implies_clause => &[IMPLIES],
        Rule::kw_tool
        | Rule::kw_resource
        | Rule::kw_prompt
        | Rule::target_kind
        | Rule::allow_rule => &[TOOL, RESOURCE, PROMPT],
        Rule::kw_deny | Rule::deny_rule => &[DENY],
        Rule::kw_requires => &[REQUIRES],
        Rule::statement => &STATEMENT_KEYWORDS,
        Rule::any_of | Rule::all_of | Rule::authenticated | Rule::scope_ref => {
            &[ANY_OF, ALL_OF, AUTHENTICATED]
        }
        Rule::kw_when | Rule::when_clause => &[WHEN],
        rule if is_operator(rule) => &[IN, CONTAINS, MATCHES, UNDER],
        rule if is_literal(rule) => &[TRUE, FALSE],
        _ => &[],
    }
}

pub(super) fn syntax_error(cst: &Cst<'_>, at: usize, expected: &[Rule]) -> Diagnostic {
    let source = cst.source();
    let rest = source.get(at..).unwrap_or_default();
    let word: String = rest.chars().take_while(|c| is_name_char(*c)).collect();
    let (found, width) = if !word.is_empty() {
        (format!("`{word}`"), word.len())
    } else if let Some(c) = rest.chars().next() {
        let shown = match c {
            '\n' | '\r' => "end of line".to_owned(),
            '"' => "a quoted string".to_owned(),
            ' ' | '\t' => "a space".to_owned(),
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
    // A requirement may be a scope name, which may be a string: say the
    // most general thing once.
    let requirement = expected_name(Rule::scope_ref);
    if requirement.is_some_and(|requirement| names.contains(&requirement)) {
        let operand = expected_name(Rule::operand).unwrap_or_default();
        names.retain(|name| {
            !matches!(*name, "a scope name" | "a quoted string") && *name != operand
        });
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
    } else if let Some((wrong, right)) = misspelled_operator(source, at, expected) {
        diagnostic = diagnostic.with_help(format!(
            "`{wrong}` is not an operator here: write `{right}`"
        ));
    } else if rest.starts_with('=') && expected.iter().copied().any(is_operator) {
        diagnostic = diagnostic.with_help("equality is `==`: `arg.repo == \"acme/web\"`");
    } else if !word.is_empty() && expected.iter().copied().any(is_literal) {
        let under = source
            .get(..at)
            .is_some_and(|before| before.trim_end().ends_with(UNDER));
        diagnostic = diagnostic.with_help(if under {
            format!("an `under` base is a quoted absolute path: `\"/{word}\"`")
        } else {
            format!("a string is quoted: `\"{word}\"`")
        });
    } else if expected
        .iter()
        .any(|rule| matches!(rule, Rule::segment | Rule::identifier))
    {
        diagnostic = diagnostic.with_help(
            "name the key after the `.`: `arg.path`, `claim.sub`, or quoted, `claim.\"https://example.com/roles\"`",
        );
    } else if expected.iter().copied().any(is_operator) {
        diagnostic = diagnostic.with_help(
            "a condition compares its operand: `arg.repo == \"acme/web\"`, `arg.limit <= 100`, `arg.path under \"/workspace\"`",
        );
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
