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
//!
//! Conditions ([`condition`]) stand beside scopes: a clause's atoms must
//! all hold on the request's arguments and claims ([`Context`]), and
//! [`Effect::DenyWhen`] denies when its condition holds. Atoms are stored
//! once per table ([`AtomCatalog`]). A failed condition is not a missing
//! scope: the remedy says so, and no step-up can help.
//!
//! ```
//! use mcp_policy_table::*;
//! use serde_json::json;
//!
//! let scopes = ScopeCatalog::new(vec![ScopeInfo {
//!     name: "github:issues".into(),
//!     level: Level::Write,
//!     description: None,
//!     implies: vec![],
//! }])
//! .unwrap();
//! let mut atoms = AtomCatalog::new();
//! let acme = atoms.intern(
//!     Atom::new(Operand::arg(["repo"]), Op::Matches(Glob::new("acme/*"))).unwrap(),
//!     r#"arg.repo matches "acme/*""#,
//! );
//! let rule = Rule {
//!     kind: TargetKind::Tool,
//!     target: Target::Exact("close_issue".into()),
//!     effect: Effect::Allow(vec![Clause { scopes: vec![ScopeId(0)], atoms: vec![acme] }]),
//!     text: r#"tool close_issue requires all_of(github:issues, arg.repo matches "acme/*")"#.into(),
//!     line: 1,
//! };
//! let table = DecisionTable::with_atoms(None, DefaultEffect::Deny, scopes, atoms, vec![rule]).unwrap();
//!
//! let held = table.parse_scopes("github:issues");
//! let ours = json!({"repo": "acme/tools"});
//! let theirs = json!({"repo": "evil/tools"});
//! let decide = |arguments: &serde_json::Value| {
//!     table.decide_in(TargetKind::Tool, "close_issue", &held, &Context::new(arguments.as_object(), None))
//! };
//! assert!(decide(&ours).allowed);
//! assert!(!decide(&theirs).allowed);
//! let why = table.explain_in(TargetKind::Tool, "close_issue", &held, &Context::new(theirs.as_object(), None));
//! assert_eq!(why.remedy, Remedy::ConditionsFailed(vec![acme]));
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
pub mod spelling;
mod validate;

pub use artifact::{ArtifactError, FORMAT as ARTIFACT_FORMAT, VERSION as ARTIFACT_VERSION};
pub use condition::{
    Atom, AtomCatalog, AtomError, AtomId, AtomInfo, AtomTrace, Comparison, Context, Falsity,
    JsonType, Literal, Num, Op, Operand, PathBase, Reading, Source,
};
pub use decision_table::{
    Basis, BuildError, Clause, Decision, DecisionTable, DefaultEffect, Effect, Rule, RuleId, Target,
};
pub use explain::{Explanation, Remedy};
pub use glob::{Glob, MAX_PATTERN_CHARS};
pub use glob_index::GlobIndex;
pub use method::TargetKind;
pub use scope::{CatalogError, Level, ScopeCatalog, ScopeId, ScopeInfo, ScopeSet, scope_tokens};
pub use validate::{
    Ambiguities, Defect, MAX_AMBIGUITIES, MAX_CLAUSES, RESERVED_SCOPE_NAMES, RuleRef,
    ambiguous_globs, defects as table_defects, scope_token_problem, too_long as pattern_too_long,
};
