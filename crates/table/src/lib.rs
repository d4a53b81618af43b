//! The compiled form of an MCP policy, and the decisions made on it.
//!
//! A [`DecisionTable`] holds scopes as bit positions and each rule as a
//! minimal set of bitmask clauses. [`DecisionTable::decide`] is a hash lookup
//! and a few AND/compare steps, and allocates nothing;
//! [`DecisionTable::explain`] adds which rule decided and what scopes are
//! missing. Tables come from the compiler (`mcp-policy-lang`) or from an
//! artifact written by `mcp-policy compile` ([`DecisionTable::from_artifact`]).

mod artifact;
mod explain;
mod glob;
mod names;
mod scope;
mod table;

pub use artifact::{ArtifactError, FORMAT as ARTIFACT_FORMAT, VERSION as ARTIFACT_VERSION};
pub use explain::{Explanation, Remedy};
pub use glob::Glob;
pub use scope::{CatalogError, Level, ScopeCatalog, ScopeId, ScopeInfo, ScopeSet, scope_tokens};
pub use table::{
    Basis, BuildError, Clause, Decision, DecisionTable, DefaultEffect, Effect, Rule, RuleId,
    Target, TargetKind,
};
