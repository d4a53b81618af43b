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
    fn codes_are_namespaced_unique_and_in_the_spec() {
        let problems = mcp_policy_diagnostic::code_table_problems(
            &Code::ALL,
            Code::summary,
            "mcp_policy::",
            include_str!("../SPEC.md"),
        );
        assert!(problems.is_empty(), "{problems:#?}");
    }
}
