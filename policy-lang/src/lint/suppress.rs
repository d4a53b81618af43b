//! Suppression comments: `# mcp-policy: allow(LINT, ...) REASON` on the
//! lines just above a statement, or on a line inside it, silences those
//! lints on that statement. Inside counts because `mcp-policy fmt` moves a
//! comment from inside a statement to just above it: formatting must not
//! change what a policy silences.

use std::collections::HashSet;

use super::{Finding, Lint};
use crate::ast::{PolicyFile, Span};
use crate::suggest::did_you_mean;
use crate::syntax::token::{TokenKind, Tokens};

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
    // The tokens only, not the concrete tree: the statements are the
    // syntax tree's, and parsing again would double the cost of a check.
    let tokens = Tokens::new(source);
    for statement in &file.statements {
        let inside = tokens
            .between(statement.span.start, statement.span.end)
            .iter()
            .filter(|token| token.kind == TokenKind::Comment)
            .map(|token| token.span);
        for line_span in tokens
            .comments_above(statement.span.start)
            .into_iter()
            .chain(inside)
        {
            let comment = tokens.text(line_span).get(1..).unwrap_or_default();
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
