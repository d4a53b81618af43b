//! The compiled form of an MCP policy, and the decisions made on it.
//!
//! A [`DecisionTable`] holds scopes as bit positions and each rule as a
//! minimal set of bitmask clauses. [`DecisionTable::decide`] is a hash lookup
//! and a few AND/compare steps, and allocates nothing;
//! [`DecisionTable::explain`] adds which rule decided and what scopes are
//! missing. Tables come from the compiler (`mcp-policy-lang`) or from an
//! artifact written by `mcp-policy compile` ([`DecisionTable::from_artifact`]).
//!
//! Building a table by hand shows the parts (the compiler does this from a
//! policy's text):
//!
//! ```
//! use mcp_policy_table::*;
//!
//! let scope = |name: &str, level, implies: &[u32]| ScopeInfo {
//!     name: name.into(),
//!     level,
//!     description: None,
//!     implies: implies.iter().map(|i| ScopeId(*i)).collect(),
//! };
//! // mcp:admin implies mcp:read.
//! let scopes = ScopeCatalog::new(vec![
//!     scope("mcp:read", Level::Read, &[]),
//!     scope("mcp:admin", Level::Admin, &[0]),
//! ])
//! .unwrap();
//! let rule = Rule {
//!     kind: TargetKind::Tool,
//!     target: Target::Glob(Glob::new("admin_*")),
//!     effect: Effect::Allow(vec![Clause::of_scopes(vec![ScopeId(1)])]),
//!     text: r#"tool "admin_*" requires mcp:admin"#.into(),
//!     line: 1,
//! };
//! let table = DecisionTable::new(None, DefaultEffect::Deny, scopes, vec![rule]).unwrap();
//!
//! let reader = table.parse_scopes("mcp:read");
//! let explanation = table.explain(TargetKind::Tool, "admin_reset", &reader);
//! assert!(!explanation.decision.allowed);
//! assert_eq!(explanation.remedy, Remedy::AddScopes(vec![ScopeId(1)]));
//! assert!(table.is_allowed(TargetKind::Tool, "admin_reset", &table.parse_scopes("mcp:admin")));
//! // No rule for it: the default denies, and no scope can change that.
//! assert_eq!(table.explain(TargetKind::Tool, "other", &reader).remedy, Remedy::Unreachable);
//! ```

mod artifact;
mod artifact_atoms;
pub mod condition;
mod conditional;
mod decision_table;
mod explain;
mod glob;
mod glob_index;
pub mod method;
mod names;
mod scope;
mod validate;

pub use artifact::{ArtifactError, FORMAT as ARTIFACT_FORMAT, VERSION as ARTIFACT_VERSION};
pub use condition::{
    Atom, AtomCatalog, AtomError, AtomId, AtomInfo, AtomTrace, Comparison, Context, Falsity,
    JsonType, Literal, Num, Op, Operand, PathBase, Source,
};
pub use decision_table::{
    Basis, BuildError, Clause, Decision, DecisionTable, DefaultEffect, Effect, Rule, RuleId, Target,
};
pub use explain::{Explanation, Remedy};
pub use glob::Glob;
pub use glob_index::GlobIndex;
pub use method::TargetKind;
pub use scope::{CatalogError, Level, ScopeCatalog, ScopeId, ScopeInfo, ScopeSet, scope_tokens};
pub use validate::{
    Defect, MAX_CLAUSES, RESERVED_SCOPE_NAMES, RuleRef, defects as table_defects,
    scope_token_problem,
};
