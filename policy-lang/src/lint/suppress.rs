//! Suppression comments: `# mcp-policy: allow(LINT, ...) REASON` on the
//! lines just above a statement silences those lints on that statement.

use std::collections::HashSet;

use super::{Finding, Lint};
use crate::ast::{PolicyFile, Span};
use crate::suggest::did_you_mean;

const MARKER: &str = "mcp-policy:";

/// The lints silenced, per statement.
#[derive(Debug, Default)]
pub(crate) struct Suppressions {
    silenced: HashSet<(Span, Lint)>,
}

impl Suppressions {
    pub fn silences(&self, finding: &Finding) -> bool {
        finding.lint != Lint::InvalidSuppression
            && self.silenced.contains(&(finding.statement, finding.lint))
    }
}

/// Reads the directives above every statement; malformed ones become
/// `invalid_suppression` findings (and silence nothing).
pub(crate) fn collect(
    source: &str,
    file: &PolicyFile,
    findings: &mut Vec<Finding>,
) -> Suppressions {
    let mut suppressions = Suppressions::default();
    for statement in &file.statements {
        for (line_span, comment) in comments_above(source, statement.span.start) {
            let Some(directive) = comment.trim().strip_prefix(MARKER) else {
                continue;
            };
            match parse_directive(directive) {
                Ok(lints) => {
                    for lint in lints {
                        suppressions.silenced.insert((statement.span, lint));
                    }
                }
                Err(problem) => findings.push(
                    Finding::new(Lint::InvalidSuppression, statement.span, problem.message)
                        .label(line_span, problem.label)
                        .help(problem.help),
                ),
            }
        }
    }
    suppressions
}

struct Problem {
    message: String,
    label: String,
    help: String,
}

fn parse_directive(directive: &str) -> Result<Vec<Lint>, Problem> {
    let usage = "write `# mcp-policy: allow(LINT) REASON`, for example `# mcp-policy: allow(weaker_override) listing is read-only`".to_owned();
    let Some(rest) = directive.trim_start().strip_prefix("allow(") else {
        return Err(Problem {
            message: "malformed suppression comment".into(),
            label: "expected `allow(...)`".into(),
            help: usage,
        });
    };
    let Some((names, reason)) = rest.split_once(')') else {
        return Err(Problem {
            message: "malformed suppression comment".into(),
            label: "`allow(` is not closed".into(),
            help: usage,
        });
    };
    let mut lints = Vec::new();
    for name in names.split(',').map(str::trim) {
        match Lint::from_name(name) {
            Some(lint) => lints.push(lint),
            None => {
                let help = match did_you_mean(name, Lint::ALL.map(Lint::name)) {
                    Some(suggestion) => format!("did you mean `{suggestion}`?"),
                    None => "the lints are listed in docs/lints.md".to_owned(),
                };
                return Err(Problem {
                    message: format!("suppression names unknown lint `{name}`"),
                    label: "not a lint".into(),
                    help,
                });
            }
        }
    }
    if reason.trim().is_empty() {
        return Err(Problem {
            message: "suppression comment gives no reason".into(),
            label: "why is this lint wrong here?".into(),
            help: "add the reason after `)`: the next reviewer needs it".into(),
        });
    }
    Ok(lints)
}

/// The comment lines directly above `offset`'s line (innermost last), with
/// the text after `#`.
fn comments_above(source: &str, offset: usize) -> Vec<(Span, &str)> {
    let mut comments = Vec::new();
    let mut line_end = source.get(..offset).and_then(|before| before.rfind('\n'));
    while let Some(end) = line_end {
        let before = source.get(..end).unwrap_or_default();
        let start = before.rfind('\n').map_or(0, |newline| newline + 1);
        let line = source.get(start..end).unwrap_or_default();
        let Some(text) = line.trim_start().strip_prefix('#') else {
            break;
        };
        comments.push((
            Span::new(start + (line.len() - line.trim_start().len()), end),
            text,
        ));
        line_end = start.checked_sub(1);
    }
    comments.reverse();
    comments
}
