//! Text to syntax tree: the pest grammar, driven one statement at a time so
//! that one run reports every syntax error, each with a position, what was
//! expected in words, and a suggestion when a keyword is misspelled.

use pest::Parser as _;
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;

use crate::ast::{
    Node, PolicyFile, Requirement, RuleDecl, ScopeDecl, Span, Statement, TargetKind, TargetPattern,
};
use crate::diagnostic::{Code, Diagnostic};
use crate::suggest::did_you_mean;

#[derive(pest_derive::Parser)]
#[grammar = "grammar.pest"]
struct Grammar;

/// Words that begin a statement: they cannot be bare names.
pub const RESERVED: [&str; 7] = [
    "policy", "default", "scope", "tool", "resource", "prompt", "deny",
];

/// `any_of`/`all_of` nesting deeper than this is rejected before pest sees
/// it: pest recurses per level, and a hostile file must not overflow the
/// stack. No real policy comes near it.
pub const MAX_NESTING: usize = 32;

/// Parses a whole file. Always returns a tree (of the statements that
/// parsed) and the syntax errors found.
pub fn parse(source: &str) -> (PolicyFile, Vec<Diagnostic>) {
    // Parse attempts (what was expected at the farthest point) make the
    // messages precise, and cost: recording them took 60% of parsing a
    // large file. Statements that parse do not need them, so they are
    // recorded only when a statement is parsed again after an error
    // (`detailed_error`).
    pest::set_error_detail(false);
    let mut file = PolicyFile::default();
    let mut diagnostics = Vec::new();
    if let Some(diagnostic) = check_nesting(source) {
        diagnostics.push(diagnostic);
        return (file, diagnostics);
    }
    let mut pos = skip_trivia(source, 0);
    while pos < source.len() {
        let rest = source.get(pos..).unwrap_or_default();
        match Grammar::parse(Rule::statement, rest) {
            Ok(mut pairs) => {
                let Some(pair) = pairs.next() else { break };
                let end = pos + pair.as_span().end();
                match statement(pair, pos) {
                    Ok(statement) => file.statements.push(statement),
                    Err(diagnostic) => diagnostics.push(diagnostic),
                }
                pos = skip_trivia(source, end.max(pos + 1));
            }
            Err(error) => {
                let error = detailed_error(rest).unwrap_or(error);
                let (at, expected) = expectation(&error);
                let at = pos + at;
                diagnostics.push(syntax_error(source, at, &expected));
                if let Some(name) = declared_scope_name(rest) {
                    file.broken_scopes.push(name);
                }
                pos = resync(source, pos, at.max(pos));
            }
        }
    }
    (file, diagnostics)
}

/// The error of a statement that failed to parse, parsed again with its
/// parse attempts recorded. The switch is global to the process: another
/// thread's `parse` may turn it off in between, so a few tries are made
/// (without the attempts, the message is still right, only less precise).
fn detailed_error(statement: &str) -> Option<pest::error::Error<Rule>> {
    let mut last = None;
    for _ in 0..4 {
        pest::set_error_detail(true);
        match Grammar::parse(Rule::statement, statement) {
            Ok(_) => return None,
            Err(error) if error.parse_attempts().is_some() => return Some(error),
            Err(error) => last = Some(error),
        }
    }
    last
}

/// Something the grammar would have accepted where parsing stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Expected {
    Rule(Rule),
    Punctuation(String),
}

/// Where parsing stopped (relative to the statement) and what would have
/// been accepted there. Pest's parse attempts see literal tokens such as
/// `,` and `)` that its rule-level error leaves out, and the farthest point
/// reached, which is where the mistake is.
fn expectation(error: &pest::error::Error<Rule>) -> (usize, Vec<Expected>) {
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

/// The name a broken `scope NAME ...` statement declares, if it got that far.
fn declared_scope_name(statement: &str) -> Option<String> {
    let rest = statement.strip_prefix("scope")?;
    let rest = rest.strip_prefix([' ', '\t'])?.trim_start();
    let name: String = if let Some(quoted) = rest.strip_prefix('"') {
        quoted
            .chars()
            .take_while(|c| *c != '"' && *c != '\n')
            .collect()
    } else {
        rest.chars().take_while(|c| is_name_char(*c)).collect()
    };
    (!name.is_empty()).then_some(name)
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

/// Skips whitespace and comments.
fn skip_trivia(source: &str, mut pos: usize) -> usize {
    let bytes = source.as_bytes();
    while let Some(byte) = bytes.get(pos) {
        match byte {
            b' ' | b'\t' | b'\r' | b'\n' => pos += 1,
            b'#' => {
                pos = source
                    .get(pos..)
                    .and_then(|rest| rest.find('\n'))
                    .map_or(source.len(), |newline| pos + newline + 1);
            }
            _ => break,
        }
    }
    pos
}

/// `true` when only blanks stand between the start of the line and `at`.
fn starts_line(source: &str, at: usize) -> bool {
    let before = source.get(..at).unwrap_or_default();
    let line = before.rsplit('\n').next().unwrap_or_default();
    line.chars().all(|c| c == ' ' || c == '\t')
}

/// After an error, resumes at the next line that begins with a statement
/// keyword: the lines between belong to the broken statement. The error may
/// itself stand on such a keyword (the statement before it was cut short);
/// then parsing resumes right there.
fn resync(source: &str, statement_start: usize, error_at: usize) -> usize {
    if error_at > statement_start && starts_line(source, error_at) {
        let word: String = source
            .get(error_at..)
            .unwrap_or_default()
            .chars()
            .take_while(|c| is_name_char(*c))
            .collect();
        if RESERVED.contains(&word.as_str()) {
            return error_at;
        }
    }
    let mut line_start = source
        .get(error_at..)
        .and_then(|rest| rest.find('\n'))
        .map_or(source.len(), |newline| error_at + newline + 1);
    while line_start < source.len() {
        let line = source.get(line_start..).unwrap_or_default();
        let trimmed = line.trim_start_matches([' ', '\t']);
        let word: String = trimmed.chars().take_while(|c| is_name_char(*c)).collect();
        if RESERVED.contains(&word.as_str()) {
            return line_start + (line.len() - trimmed.len());
        }
        line_start = line
            .find('\n')
            .map_or(source.len(), |newline| line_start + newline + 1);
    }
    source.len()
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '.' | '-' | '/')
}

/// Rejects nesting deeper than [`MAX_NESTING`], counting parentheses
/// outside strings and comments.
fn check_nesting(source: &str) -> Option<Diagnostic> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut in_comment = false;
    let mut escaped = false;
    for (at, c) in source.char_indices() {
        if in_comment {
            in_comment = c != '\n';
        } else if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' || c == '\n' {
                in_string = false;
            }
        } else {
            match c {
                '#' => in_comment = true,
                '"' => in_string = true,
                '(' => {
                    depth += 1;
                    if depth > MAX_NESTING {
                        return Some(
                            Diagnostic::error(
                                Code::NestingTooDeep,
                                format!("requirement nested more than {MAX_NESTING} levels deep"),
                            )
                            .with_label(Span::new(at, at + 1), "too deep")
                            .with_help("flatten the requirement: `any_of(a, any_of(b, c))` is `any_of(a, b, c)`"),
                        );
                    }
                }
                ')' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    None
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
        Rule::statement => &RESERVED,
        Rule::any_of | Rule::all_of | Rule::authenticated | Rule::scope_ref => {
            &["any_of", "all_of", "authenticated"]
        }
        _ => &[],
    }
}

fn syntax_error(source: &str, at: usize, expected_items: &[Expected]) -> Diagnostic {
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
    } else if !word.is_empty() && RESERVED.contains(&word.as_str()) && starts_line(source, at) {
        diagnostic = diagnostic.with_help(format!(
            "`{word}` begins the next statement: the one before it is incomplete"
        ));
    } else if !word.is_empty() && RESERVED.contains(&word.as_str()) {
        diagnostic = diagnostic.with_help(format!(
            "`{word}` is a keyword; a name spelled like it must be quoted: `\"{word}\"`"
        ));
    }
    diagnostic
}

/// The length of `text` up to the end of its last character that is
/// neither blank nor part of a comment (strings are read as strings, so a
/// `#` inside one is no comment).
fn significant_len(text: &str) -> usize {
    let mut end = 0;
    let (mut in_string, mut in_comment, mut escaped) = (false, false, false);
    for (at, c) in text.char_indices() {
        if in_comment {
            in_comment = c != '\n';
            continue;
        }
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '#' {
            in_comment = true;
            continue;
        } else if c == '"' {
            in_string = true;
        } else if c.is_whitespace() {
            continue;
        }
        end = at + c.len_utf8();
    }
    end
}

fn span_of(pair: &Pair<'_, Rule>, base: usize) -> Span {
    let span = pair.as_span();
    Span::new(base + span.start(), base + span.end())
}

/// A pair's children that carry meaning (keywords dropped).
fn children<'i>(pair: Pair<'i, Rule>) -> impl Iterator<Item = Pair<'i, Rule>> {
    pair.into_inner().filter(|child| {
        !matches!(
            child.as_rule(),
            Rule::kw_policy
                | Rule::kw_default
                | Rule::kw_scope
                | Rule::kw_level
                | Rule::kw_implies
                | Rule::kw_deny
                | Rule::kw_requires
                | Rule::kw_any_of
                | Rule::kw_all_of
        )
    })
}

/// What an internal error asks of the reader.
pub(crate) const INTERNAL_HELP: &str =
    "this is a bug of mcp-policy, not of the policy: please report it with the file";

fn internal(span: Span, what: &str) -> Diagnostic {
    // The grammar guarantees the shapes below; should it change without this
    // module, say so instead of panicking.
    Diagnostic::error(
        Code::Internal,
        format!("internal parser error: unexpected shape of {what}"),
    )
    .with_label(span, "here")
    .with_help(INTERNAL_HELP)
}

fn statement(pair: Pair<'_, Rule>, base: usize) -> Result<Node<Statement>, Diagnostic> {
    // The statement ends with its last token. Pest's own span (and its
    // inner pairs') runs on over the blanks and comments it skipped looking
    // for an optional part (a description, `implies`, another `, NAME`),
    // which would put labels and formatting wrong.
    let start = base + pair.as_span().start();
    let span = Span::new(start, start + significant_len(pair.as_str()));
    let rule = pair.as_rule();
    let mut parts = children(pair);
    let mut next = |what: &str| parts.next().ok_or_else(|| internal(span, what));
    let statement = match rule {
        Rule::policy_decl => Statement::Policy(string(next("policy name")?, base)),
        Rule::default_decl => {
            let value = next("default value")?;
            Statement::Default(Node::new(value.as_str().to_owned(), span_of(&value, base)))
        }
        Rule::scope_decl => {
            let name = string_or_bare(next("scope name")?, base);
            let level_pair = next("scope level")?;
            let level = Node::new(level_pair.as_str().to_owned(), span_of(&level_pair, base));
            let mut description = None;
            let mut implies = Vec::new();
            for part in parts {
                match part.as_rule() {
                    Rule::description => {
                        let inner = part
                            .into_inner()
                            .next()
                            .ok_or_else(|| internal(span, "description"))?;
                        description = Some(string(inner, base));
                    }
                    Rule::implies_clause => {
                        implies = children(part)
                            .map(|name| string_or_bare(name, base))
                            .collect();
                    }
                    _ => return Err(internal(span, "scope declaration")),
                }
            }
            Statement::Scope(ScopeDecl {
                name,
                level,
                description,
                implies,
            })
        }
        Rule::allow_rule => {
            let kind = target_kind(next("rule kind")?, base)?;
            let target = target(next("rule target")?, base)?;
            let requirement = requirement(next("requirement")?, base)?;
            Statement::Rule(RuleDecl {
                kind,
                target,
                requires: Some(requirement),
            })
        }
        Rule::deny_rule => {
            let kind = target_kind(next("rule kind")?, base)?;
            let target = target(next("rule target")?, base)?;
            Statement::Rule(RuleDecl {
                kind,
                target,
                requires: None,
            })
        }
        _ => return Err(internal(span, "statement")),
    };
    Ok(Node::new(statement, span))
}

fn target_kind(pair: Pair<'_, Rule>, base: usize) -> Result<Node<TargetKind>, Diagnostic> {
    let span = span_of(&pair, base);
    let kind = match pair.as_str() {
        "tool" => TargetKind::Tool,
        "resource" => TargetKind::Resource,
        "prompt" => TargetKind::Prompt,
        _ => return Err(internal(span, "rule kind")),
    };
    Ok(Node::new(kind, span))
}

fn target(pair: Pair<'_, Rule>, base: usize) -> Result<Node<TargetPattern>, Diagnostic> {
    let span = span_of(&pair, base);
    let inner = pair
        .into_inner()
        .next()
        .ok_or_else(|| internal(span, "target"))?;
    let quoted = inner.as_rule() == Rule::string;
    let text = string_or_bare(inner, base).node;
    Ok(Node::new(TargetPattern { text, quoted }, span))
}

fn requirement(pair: Pair<'_, Rule>, base: usize) -> Result<Node<Requirement>, Diagnostic> {
    let span = span_of(&pair, base);
    let requirement = match pair.as_rule() {
        Rule::authenticated => Requirement::Authenticated,
        Rule::scope_ref => {
            let name = pair
                .into_inner()
                .next()
                .ok_or_else(|| internal(span, "scope reference"))?;
            Requirement::Scope(string_or_bare(name, base).node)
        }
        Rule::any_of => Requirement::AnyOf(
            children(pair)
                .map(|member| requirement(member, base))
                .collect::<Result<_, _>>()?,
        ),
        Rule::all_of => Requirement::AllOf(
            children(pair)
                .map(|member| requirement(member, base))
                .collect::<Result<_, _>>()?,
        ),
        Rule::unknown_call => {
            let name = pair
                .into_inner()
                .next()
                .map(|name| name.as_str().to_owned())
                .unwrap_or_default();
            let name_span = Span::new(span.start, span.start + name.len());
            let mut diagnostic =
                Diagnostic::error(Code::Syntax, format!("unknown requirement `{name}(...)`"))
                    .with_label(name_span, "expected `any_of` or `all_of`");
            diagnostic = match did_you_mean(&name, ["any_of", "all_of"]) {
                Some(suggestion) => diagnostic.with_help(format!("did you mean `{suggestion}`?")),
                None => diagnostic
                    .with_help("a group is `any_of(a, b)` (either) or `all_of(a, b)` (both)"),
            };
            return Err(diagnostic);
        }
        _ => return Err(internal(span, "requirement")),
    };
    Ok(Node::new(requirement, span))
}

/// A `scope_name`, `target` or `word` child: quoted or bare.
fn string_or_bare(pair: Pair<'_, Rule>, base: usize) -> Node<String> {
    match pair.as_rule() {
        Rule::scope_name | Rule::word => match pair.clone().into_inner().next() {
            Some(inner) => string_or_bare(inner, base),
            None => Node::new(pair.as_str().to_owned(), span_of(&pair, base)),
        },
        Rule::string => string(pair, base),
        _ => Node::new(pair.as_str().to_owned(), span_of(&pair, base)),
    }
}

/// A quoted string's value, unescaped; the span covers the quotes.
fn string(pair: Pair<'_, Rule>, base: usize) -> Node<String> {
    let span = span_of(&pair, base);
    let raw = pair.as_str();
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
    Node::new(value, span)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unexpected_tree_shape_is_an_internal_error_that_asks_for_a_report() {
        let diagnostic = internal(Span::new(3, 7), "statement");
        assert_eq!(diagnostic.code, Code::Internal);
        assert_eq!(diagnostic.code.as_str(), "mcp_policy::internal");
        assert_eq!(diagnostic.help.as_deref(), Some(INTERNAL_HELP));
        assert_eq!(diagnostic.span(), Span::new(3, 7));
    }

    fn parse_ok(source: &str) -> PolicyFile {
        let (file, diagnostics) = parse(source);
        assert!(diagnostics.is_empty(), "{diagnostics:#?}");
        file
    }

    #[test]
    fn statements_and_spans() {
        let source = "policy \"p\"\nscope a level read \"d\" implies b, \"c\"\ntool x requires any_of(a, all_of(b, c))\ndeny tool \"x_*\"\n";
        let file = parse_ok(source);
        assert_eq!(file.statements.len(), 4);
        let Statement::Scope(scope) = &file.statements[1].node else {
            panic!()
        };
        assert_eq!(scope.name.node, "a");
        assert_eq!(
            scope
                .implies
                .iter()
                .map(|n| n.node.as_str())
                .collect::<Vec<_>>(),
            ["b", "c"]
        );
        assert_eq!(
            &source[scope.implies[1].span.start..scope.implies[1].span.end],
            "\"c\""
        );
        let Statement::Rule(rule) = &file.statements[2].node else {
            panic!()
        };
        assert_eq!(rule.to_string(), "tool x requires any_of(a, all_of(b, c))");
        let Statement::Rule(deny) = &file.statements[3].node else {
            panic!()
        };
        assert!(deny.is_deny() && deny.target.node.is_glob());
    }

    #[test]
    fn requirements_may_span_lines_and_end_with_comma() {
        let file = parse_ok("tool x requires any_of(\n  a,  # first\n  b,\n)\n");
        let Statement::Rule(rule) = &file.statements[0].node else {
            panic!()
        };
        assert_eq!(rule.to_string(), "tool x requires any_of(a, b)");
    }

    #[test]
    fn a_statement_span_ends_with_its_last_token() {
        let source = "scope a level read   # why\n# next\n\nscope b level read implies a  # and\n# \"more\"\ntool x requires a  # trailing\nscope \"c # d\" level read\n";
        let file = parse_ok(source);
        let spans: Vec<&str> = file
            .statements
            .iter()
            .map(|s| &source[s.span.start..s.span.end])
            .collect();
        assert_eq!(
            spans,
            [
                "scope a level read",
                "scope b level read implies a",
                "tool x requires a",
                "scope \"c # d\" level read"
            ]
        );
    }

    #[test]
    fn escapes_in_strings() {
        let file = parse_ok(r#"tool "say \"hi\" \\ now" requires authenticated"#);
        let Statement::Rule(rule) = &file.statements[0].node else {
            panic!()
        };
        assert_eq!(rule.target.node.text, r#"say "hi" \ now"#);
    }

    #[test]
    fn every_error_is_reported_and_parsing_resumes() {
        let (file, diagnostics) = parse("tol a requires x\ntool b requries x\ntool c requires x\n");
        assert_eq!(diagnostics.len(), 2, "{diagnostics:#?}");
        assert_eq!(diagnostics[0].help.as_deref(), Some("did you mean `tool`?"));
        assert_eq!(
            diagnostics[1].help.as_deref(),
            Some("did you mean `requires`?")
        );
        assert_eq!(file.statements.len(), 1);
    }

    #[test]
    fn a_broken_scope_declaration_is_remembered() {
        let (file, diagnostics) = parse("scope mcp:read levle read\nscope \"x y\" level\n");
        assert_eq!(diagnostics.len(), 2);
        assert_eq!(file.broken_scopes, ["mcp:read", "x y"]);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = format!(
            "tool x requires {}a{}",
            "any_of(".repeat(100_000),
            ")".repeat(100_000)
        );
        let (_, diagnostics) = parse(&deep);
        assert_eq!(diagnostics[0].code, Code::NestingTooDeep);
        let ok = format!(
            "scope a level read\ntool x requires {}a{}",
            "any_of(".repeat(MAX_NESTING),
            ")".repeat(MAX_NESTING)
        );
        parse_ok(&ok);
    }

    #[test]
    fn keywords_are_not_bare_names() {
        let (_, diagnostics) = parse("tool x requires\ntool y requires a\n");
        assert_eq!(diagnostics.len(), 1);
        assert!(
            diagnostics[0].message.starts_with("expected a requirement"),
            "{}",
            diagnostics[0].message
        );
        assert_eq!(diagnostics[0].span().start, 16);
    }
}
