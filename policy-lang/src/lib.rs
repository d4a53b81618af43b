//! The `.mcppolicy` language.
//!
//! The pipeline, one module a stage: [`parse`] (pest grammar to syntax tree,
//! with error recovery) → [`check`] (names, levels, cycles, duplicates,
//! ambiguity) → [`compile`] (minimal clauses, the decision table of
//! `mcp-policy-table`). [`compile_source`] runs all three.
//!
//! ```
//! let source = r#"
//! scope mcp:read  level read
//! scope mcp:admin level admin implies mcp:read
//! tool delete_repo requires mcp:admin
//! "#;
//! let table = mcp_policy_lang::compile_source(source).table.expect("valid policy");
//! let token = table.parse_scopes("mcp:read");
//! assert!(!table.is_allowed(mcp_policy_lang::TargetKind::Tool, "delete_repo", &token));
//! ```

pub mod ast;
pub mod check;
mod codes;
pub mod compile;
pub mod diagnostic;
pub mod format;
pub mod lint;
pub mod parse;
/// "Did you mean ...?", shared with test files (`mcp-policy-diagnostic`).
mod suggest {
    pub use mcp_policy_diagnostic::did_you_mean;
}
pub mod syntax;

pub use ast::TargetKind;
pub use diagnostic::{Code, Diagnostic, Label, Report, Severity, line_column};
pub use mcp_policy_diagnostic::{IndexedSource, did_you_mean};
pub use mcp_policy_table::DecisionTable;

/// The outcome of compiling one source: the table when there was no error,
/// and every diagnostic found, in source order.
#[derive(Debug)]
pub struct Compilation {
    pub table: Option<DecisionTable>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Compilation {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Parses, checks and compiles a policy. Syntax errors do not stop the
/// checks: statements that parsed are still checked, so one run reports as
/// much as it can. Lints do not run (see [`check_source`]).
pub fn compile_source(source: &str) -> Compilation {
    pipeline(source, None)
}

/// What `mcp-policy check` does: [`compile_source`], then, when the policy
/// compiled, the lints at the levels `config` sets (with the lints that
/// read the server's tool list when `tools` is given).
pub fn check_source(
    source: &str,
    config: &lint::LintConfig,
    tools: Option<&lint::ToolList>,
) -> Compilation {
    pipeline(source, Some((config, tools)))
}

fn pipeline(
    source: &str,
    lints: Option<(&lint::LintConfig, Option<&lint::ToolList>)>,
) -> Compilation {
    let (file, mut diagnostics) = parse::parse(source);
    let (resolved, check_diagnostics) = check::check(&file, source);
    diagnostics.extend(check_diagnostics);
    let table = if diagnostics.iter().any(Diagnostic::is_error) {
        None
    } else {
        match compile::compile(&resolved) {
            Ok(table) => Some(table),
            Err(compile_diagnostics) => {
                diagnostics.extend(compile_diagnostics);
                None
            }
        }
    };
    if let (Some(table), Some((config, tools))) = (&table, lints) {
        diagnostics.extend(lint::lint(source, &file, &resolved, table, tools, config));
    }
    diagnostics.sort_by_key(|diagnostic| (diagnostic.span().start, diagnostic.code));
    Compilation { table, diagnostics }
}
