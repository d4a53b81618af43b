//! Diagnostics as data: a stable code, a severity, a message, labelled spans
//! and help. Rendering (miette, JSON) happens at the edge.
//!
//! Style, after Cedar's guide: messages are lowercase with no trailing
//! period, user input in backticks, the longer explanation in `help`.

use std::fmt;

use crate::ast::Span;

/// Every diagnostic the language reports. A code, once published, keeps its
/// meaning: CI configurations and editors match on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    Syntax,
    NestingTooDeep,
    InvalidScopeName,
    ReservedScopeName,
    DuplicateScope,
    UnknownLevel,
    UnknownScope,
    ImpliesCycle,
    DuplicatePolicyName,
    DuplicateDefault,
    UnknownDefault,
    EmptyTarget,
    EmptyGroup,
    DuplicateRule,
    AmbiguousRules,
    RequirementTooComplex,
    /// A check inside mcp-policy failed that the input cannot make fail: a
    /// bug of mcp-policy, not of the policy. Reported, never panicked on.
    Internal,
    /// A lint fired (see `lint`); lints have codes of their own.
    Lint(crate::lint::Lint),
}

impl Code {
    /// Every error code (lints are listed by `Lint::ALL`).
    pub const ALL: [Code; 17] = [
        Code::Syntax,
        Code::NestingTooDeep,
        Code::InvalidScopeName,
        Code::ReservedScopeName,
        Code::DuplicateScope,
        Code::UnknownLevel,
        Code::UnknownScope,
        Code::ImpliesCycle,
        Code::DuplicatePolicyName,
        Code::DuplicateDefault,
        Code::UnknownDefault,
        Code::EmptyTarget,
        Code::EmptyGroup,
        Code::DuplicateRule,
        Code::AmbiguousRules,
        Code::RequirementTooComplex,
        Code::Internal,
    ];

    /// The stable code, as printed and as matched by tools.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Syntax => "mcp_policy::syntax",
            Code::NestingTooDeep => "mcp_policy::nesting_too_deep",
            Code::InvalidScopeName => "mcp_policy::invalid_scope_name",
            Code::ReservedScopeName => "mcp_policy::reserved_scope_name",
            Code::DuplicateScope => "mcp_policy::duplicate_scope",
            Code::UnknownLevel => "mcp_policy::unknown_level",
            Code::UnknownScope => "mcp_policy::unknown_scope",
            Code::ImpliesCycle => "mcp_policy::implies_cycle",
            Code::DuplicatePolicyName => "mcp_policy::duplicate_policy_name",
            Code::DuplicateDefault => "mcp_policy::duplicate_default",
            Code::UnknownDefault => "mcp_policy::unknown_default",
            Code::EmptyTarget => "mcp_policy::empty_target",
            Code::EmptyGroup => "mcp_policy::empty_group",
            Code::DuplicateRule => "mcp_policy::duplicate_rule",
            Code::AmbiguousRules => "mcp_policy::ambiguous_rules",
            Code::RequirementTooComplex => "mcp_policy::requirement_too_complex",
            Code::Internal => "mcp_policy::internal",
            Code::Lint(lint) => lint.code(),
        }
    }

    /// One line on what the code means (SPEC.md lists them all).
    pub fn summary(self) -> &'static str {
        match self {
            Code::Syntax => "the text does not follow the grammar",
            Code::NestingTooDeep => "`any_of`/`all_of` nested deeper than the parser allows",
            Code::InvalidScopeName => "a scope name that is not an OAuth scope token",
            Code::ReservedScopeName => "a scope named like a keyword of requirements",
            Code::DuplicateScope => "a scope declared twice",
            Code::UnknownLevel => "a scope level other than read, write, admin, resource, oauth",
            Code::UnknownScope => "a rule or `implies` names a scope that is not declared",
            Code::ImpliesCycle => "scopes that imply each other in a cycle",
            Code::DuplicatePolicyName => "more than one `policy` statement",
            Code::DuplicateDefault => "more than one `default` statement",
            Code::UnknownDefault => "a default other than `deny` or `allow`",
            Code::EmptyTarget => "a rule whose target is the empty string",
            Code::EmptyGroup => "an `any_of()` or `all_of()` with no members",
            Code::DuplicateRule => "two rules for the same target",
            Code::AmbiguousRules => "two globs of equal specificity that can match the same name",
            Code::RequirementTooComplex => {
                "a requirement whose normal form has more clauses than the compiler allows"
            }
            Code::Internal => "a bug of mcp-policy, not of the policy: please report it",
            Code::Lint(lint) => lint.summary(),
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// A labelled span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

/// One finding about a policy. The first label is the primary one: its
/// span is where the diagnostic "is" (its line and column).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    pub labels: Vec<Label>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            labels: Vec::new(),
            help: None,
        }
    }

    pub fn warning(code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message)
        }
    }

    pub fn with_label(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.labels.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Where the diagnostic points: its primary label's span.
    pub fn span(&self) -> Span {
        self.labels
            .first()
            .map(|label| label.span)
            .unwrap_or_default()
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Binds the diagnostic to its source for rendering with miette.
    pub fn report(&self, file_name: &str, source: &str) -> Report {
        self.report_indexed(file_name, &crate::IndexedSource::new(source))
    }

    /// As [`Diagnostic::report`], sharing one indexed source among all the
    /// reports of a file: no copy of the text, no scan from its top.
    pub fn report_indexed(&self, file_name: &str, source: &crate::IndexedSource) -> Report {
        Report {
            diagnostic: self.clone(),
            source: miette::NamedSource::new(file_name, source.clone()),
        }
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let column = before
        .get(line_start..)
        .map_or(0, |text| text.chars().count())
        + 1;
    (line, column)
}

/// A diagnostic with its source text, as miette renders it.
#[derive(Debug)]
pub struct Report {
    diagnostic: Diagnostic,
    source: miette::NamedSource<crate::IndexedSource>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl std::error::Error for Report {}

impl miette::Diagnostic for Report {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.diagnostic.code.as_str()))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.diagnostic
            .help
            .as_ref()
            .map(|help| Box::new(help) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        Some(Box::new(self.diagnostic.labels.iter().enumerate().map(
            |(i, label)| {
                let text = (!label.message.is_empty()).then(|| label.message.clone());
                if i == 0 {
                    miette::LabeledSpan::new_primary_with_span(text, label.span)
                } else {
                    miette::LabeledSpan::new_with_span(text, label.span)
                }
            },
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_namespaced() {
        let mut seen = std::collections::HashSet::new();
        for code in Code::ALL {
            assert!(code.as_str().starts_with("mcp_policy::"), "{code}");
            assert!(seen.insert(code.as_str()), "duplicate code {code}");
            assert!(!code.summary().ends_with('.'), "{code}");
        }
    }

    #[test]
    fn spec_documents_every_code() {
        let spec = include_str!("../SPEC.md");
        for code in Code::ALL {
            assert!(
                spec.contains(&format!("| `{code}` |")),
                "SPEC.md does not list {code}"
            );
        }
    }

    #[test]
    fn line_column_counts_characters() {
        let source = "ab\nçd\n";
        assert_eq!(line_column(source, 0), (1, 1));
        assert_eq!(line_column(source, 3), (2, 1));
        assert_eq!(line_column(source, 5), (2, 2)); // after the two-byte ç
        assert_eq!(line_column(source, 99), (3, 1));
    }
}
