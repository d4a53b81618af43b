//! Diagnostics as data, shared by everything mcp-policy reads from a user:
//! policies (`mcp-policy-lang`) and policy test files (`mcp-policy-sim`).
//!
//! A [`Diagnostic`] is a stable code, a severity, a message, labelled
//! [`Span`]s (the first one primary, the others related places in the same
//! text) and help. Each reader keeps its own code enum and implements
//! [`DiagnosticCode`] for it; nothing here knows a code. Rendering happens
//! at the edge: [`Diagnostic::report`] binds one to its text for miette,
//! and [`IndexedSource::line_column`] gives the lines and columns the CLI's
//! other formats print.
//!
//! Style, after Cedar's guide: messages are lowercase with no trailing
//! period, user input in backticks, the longer explanation in `help`.

mod codes;
mod diagnostic;
mod report;
mod source;
mod span;
mod suggest;

pub use codes::code_table_problems;
pub use diagnostic::{Diagnostic, DiagnosticCode, Label, Severity};
pub use report::Report;
pub use source::{IndexedSource, line_column};
pub use span::Span;
pub use suggest::did_you_mean;
