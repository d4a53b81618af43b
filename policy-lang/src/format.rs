//! Source to source: every policy in one canonical layout, its comments
//! kept where they were (`mcp-policy fmt`).
//!
//! The layout:
//!
//! - **One statement per line**, spelled canonically: `policy "NAME"`,
//!   `default WORD`, `scope NAME level LEVEL "DESCRIPTION" implies A, B`,
//!   `KIND TARGET requires REQUIREMENT`, `deny KIND TARGET [when COND]`,
//!   conditions as `arg.x == "a"` and lists as `in ["a", "b"]`, one space
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

use crate::ast::{Node, PolicyFile, Requirement, RuleDecl, ScopeDecl, Span, Statement};
use crate::diagnostic::{Code, Diagnostic};
use crate::parse::parse_cst;
use crate::syntax::cst::{Cst, Leading};
use crate::syntax::lexicon::{
    DEFAULT, DENY, IMPLIES, LEVEL, POLICY, REQUIRES, SCOPE, WHEN, quoted, write_name,
};

/// Formats a policy source. The errors are the syntax errors of the source
/// (nothing is formatted then), or an internal error should the formatter
/// fail to reproduce the source's meaning.
pub fn format_source(source: &str) -> Result<String, Vec<Diagnostic>> {
    let (cst, file, diagnostics) = parse_cst(source);
    if !diagnostics.is_empty() {
        return Err(diagnostics);
    }
    let formatted = layout(&cst, &file).ok_or_else(|| vec![internal("it lost a statement")])?;
    verify(&cst, &file, &formatted)?;
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

/// The lines of the file: each statement of the concrete tree with its
/// comments, and its cells from the syntax tree (the two hold the same
/// statements, in order, when the file parsed without error).
fn layout<'s>(cst: &Cst<'s>, file: &PolicyFile) -> Option<String> {
    if cst.statements().len() != file.statements.len() {
        return None;
    }
    let mut lines: Vec<Line<'s>> = Vec::new();
    let comment = |span: Span| -> &'s str { cst.text(span).trim_end() };
    let leading = |lines: &mut Vec<Line<'s>>, items: &[Leading]| {
        for item in items {
            if item.blank_before {
                lines.push(Line::Blank);
            }
            lines.push(Line::Comment(comment(item.comment)));
        }
    };
    for (parsed, statement) in cst.statements().iter().zip(&file.statements) {
        leading(&mut lines, &parsed.leading);
        if parsed.blank_before {
            lines.push(Line::Blank);
        }
        lines.extend(
            parsed
                .inner
                .iter()
                .map(|span| Line::Comment(comment(*span))),
        );
        let (kind, cells) = cells(&statement.node);
        lines.push(Line::Statement {
            cells,
            kind,
            trailing: parsed.trailing.map(comment),
        });
    }
    leading(&mut lines, cst.end());
    Some(render(&lines))
}

/// A statement as the cells of its columns.
fn cells(statement: &Statement) -> (Kind, Vec<String>) {
    match statement {
        Statement::Policy(name) => (
            Kind::Other,
            vec![format!("{POLICY} {}", quoted(&name.node))],
        ),
        Statement::Default(word) => (Kind::Other, vec![format!("{DEFAULT} {}", word.node)]),
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
        format!("{IMPLIES} {}", names.join(", "))
    };
    vec![
        format!("{SCOPE} {}", bare_or_quoted(&scope.name.node)),
        format!("{LEVEL} {}", scope.level.node),
        scope
            .description
            .as_ref()
            .map(|description| quoted(&description.node))
            .unwrap_or_default(),
        implies,
    ]
}

fn rule_cells(rule: &RuleDecl) -> Vec<String> {
    let head = format!("{} {}", rule.kind.node, rule.target.node);
    match &rule.requires {
        Some(requirement) => vec![head, format!("{REQUIRES} {}", requirement.node)],
        None => match &rule.when {
            // `when` stands in the column of `requires`.
            Some(condition) => vec![
                format!("{DENY} {head}"),
                format!("{WHEN} {}", condition.node),
            ],
            None => vec![format!("{DENY} {head}")],
        },
    }
}

fn bare_or_quoted(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let _ = write_name(&mut out, name);
    out
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
fn verify(cst: &Cst<'_>, file: &PolicyFile, formatted: &str) -> Result<(), Vec<Diagnostic>> {
    let (output, reparsed, diagnostics) = parse_cst(formatted);
    let problem = if !diagnostics.is_empty() {
        Some("its output does not parse")
    } else if shape(file) != shape(&reparsed) {
        Some("its output means something else")
    } else if cst.comment_texts() != output.comment_texts() {
        Some("its output lost or moved comments")
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(vec![internal(problem)]),
    }
}

fn internal(problem: &str) -> Diagnostic {
    Diagnostic::error(
        Code::Syntax,
        format!("internal formatter error: {problem}; the file was left as it is"),
    )
    .with_label(Span::new(0, 0), "in this file")
    .with_help("please report this file to the mcp-policy maintainers")
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
            // Compared by their canonical text: spans erased.
            Requirement::Condition(condition) => Requirement::Scope(condition.to_string()),
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
                when: rule.when.as_ref().map(requirement),
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
        let (cst, _, _) = parse_cst("policy \"a # b \\\" # c\" # d  \r\n#e");
        assert_eq!(cst.comment_texts(), ["# d", "#e"]);
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
