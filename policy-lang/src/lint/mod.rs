//! Lints: policies that compile and are still likely wrong.
//!
//! Each lint is a function over a compiled policy ([`Context`]) that
//! reports findings; this module applies levels (defaults, then the command
//! line) and suppression comments, and turns findings into diagnostics.

mod arguments;
mod catalogue;
mod conditions;
mod confusable;
mod danger;
mod empty;
mod requirements;
mod schema;
mod scopes;
mod suppress;
mod targets;
mod tools;

use std::collections::HashMap;

use mcp_policy_table::{Clause, DecisionTable, Rule, ScopeCatalog, ScopeId, ScopeSet};

pub use catalogue::{Lint, LintDoc, LintLevel, catalogue_markdown};
pub use tools::{ToolInfo, ToolList, ToolListError};

use crate::ast::{PolicyFile, Span, Statement};
use crate::check::{Resolved, ResolvedRule};
use crate::diagnostic::{Code, Diagnostic, Severity};

/// Which lints run, and how loudly.
#[derive(Clone, Debug, Default)]
pub struct LintConfig {
    overrides: HashMap<Lint, LintLevel>,
    deny_warnings: bool,
}

impl LintConfig {
    /// Sets one lint's level (the last setting for a lint wins).
    pub fn set(&mut self, lint: Lint, level: LintLevel) -> &mut LintConfig {
        self.overrides.insert(lint, level);
        self
    }

    /// `--deny warnings`: every lint that would warn is an error.
    pub fn deny_warnings(&mut self, deny: bool) -> &mut LintConfig {
        self.deny_warnings = deny;
        self
    }

    pub fn level(&self, lint: Lint) -> LintLevel {
        let level = self
            .overrides
            .get(&lint)
            .copied()
            .unwrap_or_else(|| lint.default_level());
        if self.deny_warnings && level == LintLevel::Warn {
            LintLevel::Deny
        } else {
            level
        }
    }
}

/// One finding, before levels and suppressions apply.
#[derive(Debug)]
pub(crate) struct Finding {
    pub lint: Lint,
    pub message: String,
    pub labels: Vec<(Span, String)>,
    pub help: Option<String>,
    /// The statement a suppression comment must stand above.
    pub statement: Span,
}

impl Finding {
    pub fn new(lint: Lint, statement: Span, message: impl Into<String>) -> Finding {
        Finding {
            lint,
            message: message.into(),
            labels: Vec::new(),
            help: None,
            statement,
        }
    }

    pub fn label(mut self, span: Span, message: impl Into<String>) -> Finding {
        self.labels.push((span, message.into()));
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Finding {
        self.help = Some(help.into());
        self
    }
}

/// What every lint reads: the tree, names resolved, the table.
pub(crate) struct Context<'a> {
    pub file: &'a PolicyFile,
    pub resolved: &'a Resolved,
    pub table: &'a DecisionTable,
}

impl<'a> Context<'a> {
    pub fn catalog(&self) -> &'a ScopeCatalog {
        self.table.scopes()
    }

    /// Each rule as checked, beside the same rule as compiled (the compiler
    /// keeps the order).
    pub fn rules(&self) -> impl Iterator<Item = (&'a ResolvedRule, &'a Rule)> {
        self.resolved.rules.iter().zip(self.table.rules())
    }

    pub fn scope_name(&self, id: ScopeId) -> &'a str {
        self.catalog().name(id)
    }

    /// A scope's declaration: the statement's span and the name's.
    pub fn scope_declaration(&self, id: ScopeId) -> (Span, Span) {
        let name = self.scope_name(id);
        self.file
            .statements
            .iter()
            .find_map(|statement| match &statement.node {
                Statement::Scope(decl) if decl.name.node == name => {
                    Some((statement.span, decl.name.span))
                }
                _ => None,
            })
            .unwrap_or_default()
    }

    /// `true` when a token holding `held` satisfies `clause`.
    pub fn clause_within(&self, clause: &Clause, held: &ScopeSet) -> bool {
        self.catalog()
            .set_of(clause.scopes.iter().copied())
            .is_subset(held)
    }

    /// The weakest token satisfying `clause`, in words: "any authenticated
    /// token" or "a token with `a` (read) and `b` (resource)".
    pub fn token_with(&self, clause: &Clause) -> String {
        if clause.scopes.is_empty() {
            return "any authenticated token".to_owned();
        }
        let catalog = self.catalog();
        let names: Vec<String> = clause
            .scopes
            .iter()
            .map(|id| {
                let level = catalog.info(*id).map_or("", |info| info.level.as_str());
                format!("`{}` ({level})", catalog.name(*id))
            })
            .collect();
        format!("a token with {}", names.join(" and "))
    }
}

/// Runs the lints on a policy that compiled, and returns their diagnostics
/// in source order.
pub fn lint(
    source: &str,
    file: &PolicyFile,
    resolved: &Resolved,
    table: &DecisionTable,
    tools: Option<&ToolList>,
    config: &LintConfig,
) -> Vec<Diagnostic> {
    let context = Context {
        file,
        resolved,
        table,
    };
    let mut findings = Vec::new();
    scopes::unused(&context, &mut findings);
    requirements::redundant(&context, &mut findings);
    requirements::oauth_grants(&context, &mut findings);
    targets::shadowed(&context, &mut findings);
    targets::broad_globs(&context, &mut findings);
    targets::weaker_overrides(&context, &mut findings);
    danger::destructive(&context, &mut findings);
    danger::default_allow(&context, &mut findings);
    empty::allows_nothing(&context, &mut findings);
    confusable::lint(&context, tools, &mut findings);
    conditions::lint(&context, &mut findings);
    if let Some(tools) = tools {
        tools::lint(&context, tools, &mut findings);
        arguments::lint(&context, tools, &mut findings);
    }
    let suppressions = suppress::collect(source, file, &mut findings);
    let mut diagnostics: Vec<Diagnostic> = findings
        .into_iter()
        .filter(|finding| !suppressions.silences(finding))
        .filter_map(|finding| {
            let severity = match config.level(finding.lint) {
                LintLevel::Allow => return None,
                LintLevel::Warn => Severity::Warning,
                LintLevel::Deny => Severity::Error,
            };
            let mut diagnostic = Diagnostic::error(Code::Lint(finding.lint), finding.message);
            diagnostic.severity = severity;
            for (span, message) in finding.labels {
                diagnostic = diagnostic.with_label(span, message);
            }
            if let Some(help) = finding.help {
                diagnostic = diagnostic.with_help(help);
            }
            Some(diagnostic)
        })
        .collect();
    diagnostics.sort_by_key(|d| (d.span().start, d.code));
    diagnostics
}
