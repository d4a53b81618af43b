//! Source to source: every policy in one canonical layout, its comments
//! kept where they were (`mcp-policy fmt`).
//!
//! The layout:
//!
//! - **One statement per line**, spelled canonically: `policy "NAME"`,
//!   `default WORD`, `scope NAME level LEVEL "DESCRIPTION" implies A, B`,
//!   `KIND TARGET requires REQUIREMENT`, `deny KIND TARGET`, one space
//!   between tokens. A requirement that spanned lines is joined into one
//!   (`any_of(a, b)`, trailing comma dropped). Statements keep their order.
//! - **Names** (scopes, in declarations, `implies` and requirements) are
//!   bare when they can be, quoted otherwise; strings are re-escaped. A
//!   scope reference spelled like a requirement keyword (`"authenticated"`,
//!   `"any_of"`, `"all_of"`) stays quoted: bare, `authenticated` would mean
//!   any token. **Targets keep their quotes** (or their absence): a quoted
//!   target is the pattern syntax, and the compiled table echoes the rule as
//!   written, so formatting changes nothing in the table but line numbers.
//!   Levels and the default's word are bare words and are kept as written.
//! - **Alignment**: the file's `scope` statements form one table of columns
//!   (`scope NAME`, `level LEVEL`, description, `implies ...`), and its
//!   rules another (`KIND TARGET`, `requires ...`), across blank lines and
//!   comments, so a rule reads the same in every block. A column is padded
//!   to its widest cell among the lines where something follows it, plus
//!   two spaces after the first column and one after the others: so a
//!   `deny` rule (nothing after its target) does not push `requires` to the
//!   right, and `implies` lines up after the longest description of the
//!   scopes that imply something. A scope with `implies` and no
//!   description pads the empty description column. Widths count
//!   characters.
//! - **Comments** are all kept, in order, with their text from `#` (trailing
//!   whitespace dropped). A comment on a line of its own stays on a line of
//!   its own, unindented, before the statement that followed it. A comment
//!   after the end of a statement, on the line where it ends, stays at the
//!   end of that statement's line, after two spaces. A comment inside a
//!   statement that spans lines (one at the end of its first line included)
//!   moves above the statement, on a line of its own, since the statement
//!   becomes one line. Comments after the last statement stay at the end.
//! - **Blank lines**: one blank line where the source had one or more
//!   between two statements or comments; none at the start, none at the end.
//!   The file ends with exactly one line break (an empty file stays empty).
//!   Line breaks are the file's own: `\r\n` throughout when its first line
//!   break is `\r\n` (as rustfmt's `newline_style = "Auto"` decides), `\n`
//!   otherwise; a file mixing both gets one kind. No line ends with
//!   whitespace.
//!
//! Only a file that parses without error is formatted. The formatter reads
//! its own output back and refuses (with an internal error) to return text
//! whose statements or comments differ from the source's.
//!
//! Two lint-only caveats, for rare layouts: a comment moved out of a
//! statement now stands directly above it, where a `# mcp-policy: allow(...)`
//! directive applies; and of two statements that shared a line, the second
//! no longer sees the comments above that line.

use std::fmt::Write as _;

use crate::ast::{self, Node, PolicyFile, Requirement, RuleDecl, ScopeDecl, Span, Statement};
use crate::diagnostic::{Code, Diagnostic};

/// Formats a policy source. The errors are the syntax errors of the source
/// (nothing is formatted then), or an internal error should the formatter
/// fail to reproduce the source's meaning.
pub fn format_source(source: &str) -> Result<String, Vec<Diagnostic>> {
    let (file, diagnostics) = crate::parse::parse(source);
    if !diagnostics.is_empty() {
        return Err(diagnostics);
    }
    let formatted = layout(source, &file);
    verify(source, &file, &formatted)?;
    Ok(if uses_crlf(source) {
        // The layout writes `\n` only between lines: strings are re-escaped
        // and comments end before their line break, so no `\n` is inside
        // a token.
        formatted.replace('\n', "\r\n")
    } else {
        formatted
    })
}

/// Whether a source's line breaks are CRLF: decided by its first one.
fn uses_crlf(source: &str) -> bool {
    source
        .find('\n')
        .is_some_and(|newline| newline > 0 && source.as_bytes().get(newline - 1) == Some(&b'\r'))
}

/// A comment: where its `#` stands, where its line ends (before the line
/// break), and its text without trailing whitespace.
#[derive(Clone, Copy, Debug)]
struct Comment<'s> {
    start: usize,
    end: usize,
    text: &'s str,
}

/// The comments of a source, in order: a `#` outside a string runs to the
/// end of its line. `#`, `"`, `\` and `\n` are ASCII, so scanning bytes is
/// safe in UTF-8.
fn comments(source: &str) -> Vec<Comment<'_>> {
    let bytes = source.as_bytes();
    let mut found = Vec::new();
    let mut in_string = false;
    let mut pos = 0;
    while let Some(&byte) = bytes.get(pos) {
        if in_string {
            match byte {
                b'\\' => pos += 1,
                b'"' | b'\n' => in_string = false,
                _ => {}
            }
        } else if byte == b'"' {
            in_string = true;
        } else if byte == b'#' {
            let end = source
                .get(pos..)
                .and_then(|rest| rest.find('\n'))
                .map_or(source.len(), |newline| pos + newline);
            let text = source.get(pos..end).unwrap_or_default().trim_end();
            found.push(Comment {
                start: pos,
                end,
                text,
            });
            pos = end;
            continue;
        }
        pos += 1;
    }
    found
}

/// One line of output, before alignment.
#[derive(Debug)]
enum Line<'a> {
    Blank,
    Comment(&'a str),
    Statement {
        cells: Vec<String>,
        kind: Kind,
        trailing: Option<&'a str>,
    },
}

/// What a statement line aligns with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Scope,
    Rule,
    Other,
}

fn layout(source: &str, file: &PolicyFile) -> String {
    let mut comments = comments(source).into_iter().peekable();
    let mut lines = Vec::new();
    // The end of the last item placed, `None` at the start of the file.
    let mut last_end: Option<usize> = None;
    let blank_between = |lines: &mut Vec<Line<'_>>, last_end: Option<usize>, start: usize| {
        let gap = last_end.and_then(|end| source.get(end..start));
        if gap.is_some_and(|gap| gap.matches('\n').count() >= 2) {
            lines.push(Line::Blank);
        }
    };
    for statement in &file.statements {
        let start = statement.span.start;
        let end = statement.span.end;
        while let Some(comment) = comments.next_if(|comment| comment.start < start) {
            blank_between(&mut lines, last_end, comment.start);
            lines.push(Line::Comment(comment.text));
            last_end = Some(comment.end);
        }
        blank_between(&mut lines, last_end, start);
        while let Some(comment) = comments.next_if(|comment| comment.start < end) {
            lines.push(Line::Comment(comment.text));
        }
        // Only blanks, on the same line, between the statement and a
        // comment that trails it (another statement may stand between).
        let trailing = comments.next_if(|comment| {
            source
                .get(end..comment.start)
                .is_some_and(|gap| gap.chars().all(|c| c == ' ' || c == '\t' || c == '\r'))
        });
        last_end = Some(trailing.map_or(end, |comment| comment.end));
        let (kind, cells) = cells(&statement.node);
        lines.push(Line::Statement {
            cells,
            kind,
            trailing: trailing.map(|comment| comment.text),
        });
    }
    for comment in comments {
        blank_between(&mut lines, last_end, comment.start);
        lines.push(Line::Comment(comment.text));
        last_end = Some(comment.end);
    }
    render(&lines)
}

/// A statement as the cells of its columns.
fn cells(statement: &Statement) -> (Kind, Vec<String>) {
    match statement {
        Statement::Policy(name) => (Kind::Other, vec![format!("policy {}", quote(&name.node))]),
        Statement::Default(word) => (Kind::Other, vec![format!("default {}", word.node)]),
        Statement::Scope(scope) => (Kind::Scope, scope_cells(scope)),
        Statement::Rule(rule) => (Kind::Rule, rule_cells(rule)),
    }
}

fn scope_cells(scope: &ScopeDecl) -> Vec<String> {
    let implies = if scope.implies.is_empty() {
        String::new()
    } else {
        let names: Vec<String> = scope
            .implies
            .iter()
            .map(|name| bare_or_quoted(&name.node))
            .collect();
        format!("implies {}", names.join(", "))
    };
    vec![
        format!("scope {}", bare_or_quoted(&scope.name.node)),
        format!("level {}", scope.level.node),
        scope
            .description
            .as_ref()
            .map(|description| quote(&description.node))
            .unwrap_or_default(),
        implies,
    ]
}

fn rule_cells(rule: &RuleDecl) -> Vec<String> {
    let head = format!("{} {}", rule.kind.node, rule.target.node);
    match &rule.requires {
        Some(requirement) => {
            let mut requires = String::from("requires ");
            write_requirement(&mut requires, &requirement.node);
            vec![head, requires]
        }
        None => vec![format!("deny {head}")],
    }
}

/// As [`Requirement`]'s `Display`, but a scope named like a requirement
/// keyword stays quoted.
fn write_requirement(out: &mut String, requirement: &Requirement) {
    let (keyword, members) = match requirement {
        Requirement::Authenticated => {
            out.push_str("authenticated");
            return;
        }
        Requirement::Scope(name) => {
            if matches!(name.as_str(), "authenticated" | "any_of" | "all_of") {
                out.push_str(&quote(name));
            } else {
                out.push_str(&bare_or_quoted(name));
            }
            return;
        }
        Requirement::AnyOf(members) => ("any_of", members),
        Requirement::AllOf(members) => ("all_of", members),
    };
    out.push_str(keyword);
    out.push('(');
    for (i, member) in members.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_requirement(out, &member.node);
    }
    out.push(')');
}

fn bare_or_quoted(name: &str) -> String {
    if ast::is_bare_name(name) {
        name.to_owned()
    } else {
        quote(name)
    }
}

fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn width(text: &str) -> usize {
    text.chars().count()
}

/// Aligns the scopes and the rules and joins the lines.
fn render(lines: &[Line<'_>]) -> String {
    let scope_widths = column_widths(lines, Kind::Scope);
    let rule_widths = column_widths(lines, Kind::Rule);
    let mut out = String::new();
    for line in lines {
        match line {
            Line::Blank => {}
            Line::Comment(text) => out.push_str(text),
            Line::Statement {
                cells,
                kind,
                trailing,
            } => {
                let widths = match kind {
                    Kind::Scope => scope_widths.as_slice(),
                    Kind::Rule => rule_widths.as_slice(),
                    Kind::Other => &[],
                };
                write_cells(&mut out, cells, widths);
                if let Some(comment) = trailing {
                    out.push_str("  ");
                    out.push_str(comment);
                }
            }
        }
        out.push('\n');
    }
    out
}

/// Per column, the widest cell among the lines of one kind where something
/// follows it. One table per kind for the whole file, as in the examples:
/// a rule reads the same in every block.
fn column_widths(lines: &[Line<'_>], of: Kind) -> Vec<usize> {
    let mut widths: Vec<usize> = Vec::new();
    for line in lines {
        let Line::Statement { cells, kind, .. } = line else {
            continue;
        };
        if *kind != of {
            continue;
        }
        let last = last_filled(cells);
        for (column, cell) in cells.iter().enumerate().take(last) {
            if widths.len() <= column {
                widths.resize(column + 1, 0);
            }
            if let Some(widest) = widths.get_mut(column) {
                *widest = (*widest).max(width(cell));
            }
        }
    }
    widths
}

/// The index of the last non-empty cell.
fn last_filled(cells: &[String]) -> usize {
    cells.iter().rposition(|cell| !cell.is_empty()).unwrap_or(0)
}

fn write_cells(out: &mut String, cells: &[String], widths: &[usize]) {
    let last = last_filled(cells);
    for (column, cell) in cells.iter().enumerate().take(last + 1) {
        let column_width = widths.get(column).copied().unwrap_or(0);
        if column < last {
            if cell.is_empty() && column_width == 0 {
                continue;
            }
            // Two spaces after the name column (`scope NAME`, `tool
            // TARGET`), one after the others: the layout of the examples.
            let gap = if column == 0 { "  " } else { " " };
            let _ = write!(out, "{cell:<column_width$}{gap}");
        } else {
            out.push_str(cell);
        }
    }
}

/// Reads the output back: it must parse, hold the same statements, and
/// the same comments in the same order.
fn verify(source: &str, file: &PolicyFile, formatted: &str) -> Result<(), Vec<Diagnostic>> {
    let (reparsed, diagnostics) = crate::parse::parse(formatted);
    let problem = if !diagnostics.is_empty() {
        Some("its output does not parse")
    } else if shape(file) != shape(&reparsed) {
        Some("its output means something else")
    } else if comment_texts(source) != comment_texts(formatted) {
        Some("its output lost or moved comments")
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(vec![
            Diagnostic::error(
                Code::Syntax,
                format!("internal formatter error: {problem}; the file was left as it is"),
            )
            .with_label(Span::new(0, 0), "in this file")
            .with_help("please report this file to the mcp-policy maintainers"),
        ]),
    }
}

fn comment_texts(source: &str) -> Vec<&str> {
    comments(source)
        .into_iter()
        .map(|comment| comment.text)
        .collect()
}

/// The statements with every span erased, to compare two parses.
fn shape(file: &PolicyFile) -> Vec<Statement> {
    fn name(node: &Node<String>) -> Node<String> {
        Node::new(node.node.clone(), Span::default())
    }
    fn requirement(node: &Node<Requirement>) -> Node<Requirement> {
        let erased = match &node.node {
            Requirement::Authenticated => Requirement::Authenticated,
            Requirement::Scope(scope) => Requirement::Scope(scope.clone()),
            Requirement::AnyOf(members) => {
                Requirement::AnyOf(members.iter().map(requirement).collect())
            }
            Requirement::AllOf(members) => {
                Requirement::AllOf(members.iter().map(requirement).collect())
            }
        };
        Node::new(erased, Span::default())
    }
    file.statements
        .iter()
        .map(|statement| match &statement.node {
            Statement::Policy(policy) => Statement::Policy(name(policy)),
            Statement::Default(word) => Statement::Default(name(word)),
            Statement::Scope(scope) => Statement::Scope(ScopeDecl {
                name: name(&scope.name),
                level: name(&scope.level),
                description: scope.description.as_ref().map(name),
                implies: scope.implies.iter().map(name).collect(),
            }),
            Statement::Rule(rule) => Statement::Rule(RuleDecl {
                kind: Node::new(rule.kind.node, Span::default()),
                target: Node::new(rule.target.node.clone(), Span::default()),
                requires: rule.requires.as_ref().map(requirement),
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(source: &str) -> String {
        format_source(source).unwrap()
    }

    #[test]
    fn a_scope_declaration_does_not_swallow_the_comment_after_it() {
        let source = "scope a level read # why\n# next\nscope b level read\n";
        assert_eq!(
            fmt(source),
            "scope a  level read  # why\n# next\nscope b  level read\n"
        );
    }

    #[test]
    fn comments_are_found_outside_strings_only() {
        let texts = comment_texts("policy \"a # b \\\" # c\" # d  \r\n#e");
        assert_eq!(texts, ["# d", "#e"]);
    }

    #[test]
    fn a_scope_named_authenticated_stays_quoted_in_a_requirement() {
        let source = "tool x requires any_of(\"authenticated\", \"all_of\", \"b\")\n";
        assert_eq!(
            fmt(source),
            "tool x  requires any_of(\"authenticated\", \"all_of\", b)\n"
        );
    }

    #[test]
    fn empty_and_comment_only_files() {
        assert_eq!(fmt(""), "");
        assert_eq!(fmt(" \n\n "), "");
        assert_eq!(fmt("\n\n  # a\n\n\n# b  \n\n"), "# a\n\n# b\n");
    }

    #[test]
    fn syntax_errors_are_returned() {
        let errors = format_source("tool x requries a\n").unwrap_err();
        assert_eq!(errors.first().map(|d| d.code), Some(Code::Syntax));
    }
}
