//! What a policy change does, before it ships.
//!
//! - [`suite`]: policy tests (`*.mcppolicy.test.yaml`): named principals,
//!   calls, and the decisions expected of them.
//! - [`trace`] and [`replay`]: recorded calls (the runtime's decision log, one
//!   JSON object a line) replayed on a policy, or on two to see which change.
//! - [`diff`]: two policies compared by what they allow — per rule, the
//!   minimal scope sets that grant it before and after — not by their text.
//! - [`matrix`]: which single scope grants what, what needs a combination,
//!   what nothing grants.
//!
//! Everything decides on the compiled [`DecisionTable`](mcp_policy_table::DecisionTable),
//! as the running server does.

pub mod atom_changes;
pub mod claims;
pub mod conditions;
pub mod diff;
pub mod grants;
pub mod matrix;
mod regions;
pub mod replay;
pub mod suite;
pub mod trace;
pub mod values;
