//! Diagnostics as data: a stable code, a severity, a message, labelled spans
//! and help (the model is `mcp-policy-diagnostic`'s, shared with policy
//! test files). Rendering (miette, JSON) happens at the edge.
//!
//! Style, after Cedar's guide: messages are lowercase with no trailing
//! period, user input in backticks, the longer explanation in `help`.

pub use crate::codes::Code;
pub use mcp_policy_diagnostic::{Label, Severity, line_column};

/// One finding about a policy. The first label is the primary one: its
/// span is where the diagnostic "is" (its line and column).
pub type Diagnostic = mcp_policy_diagnostic::Diagnostic<Code>;

/// A diagnostic with its source text, as miette renders it.
pub type Report = mcp_policy_diagnostic::Report<Code>;

impl mcp_policy_diagnostic::DiagnosticCode for Code {
    fn as_str(self) -> &'static str {
        Code::as_str(self)
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
}
