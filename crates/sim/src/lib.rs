//! What a policy change does, before it ships.
//!
//! - [`suite`]: policy tests (`*.mcppolicy.test.yaml`): named principals,
//!   calls, and the decisions expected of them.
//! - [`diff`]: two policies compared by what they allow — per rule, the
//!   minimal scope sets that grant it before and after — not by their text.
//! - [`matrix`]: which single scope grants what, what needs a combination,
//!   what nothing grants.
//!
//! Everything decides on the compiled [`DecisionTable`](mcp_policy_table::DecisionTable),
//! as the running server does.

pub mod claims;
pub mod diff;
pub mod grants;
pub mod matrix;
mod regions;
pub mod suite;
