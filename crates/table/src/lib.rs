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
mod scope;
mod table;

pub use artifact::{ArtifactError, FORMAT as ARTIFACT_FORMAT, VERSION as ARTIFACT_VERSION};
pub use explain::{Explanation, Remedy};
pub use glob::Glob;
pub use scope::{CatalogError, Level, ScopeCatalog, ScopeId, ScopeInfo, ScopeSet};
pub use table::{
    Basis, BuildError, Clause, Decision, DecisionTable, DefaultEffect, Effect, Rule, RuleId,
    Target, TargetKind,
};

/// The hash map of the hot path: foldhash is several times faster than
/// std's SipHash on short names (see docs/PERFORMANCE.md), and its per-map
/// random seed keeps it unpredictable. Keys come from the policy, not from
/// clients, so clients cannot grow its chains.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
