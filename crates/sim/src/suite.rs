//! Policy tests: a YAML file beside the policy (`github.mcppolicy.test.yaml`)
//! names principals and the calls they make, and the decision expected of
//! each — as `opa test` does for Rego. `docs/policy-tests.md` is the
//! reference for the format and every diagnostic code.
//!
//! ```yaml
//! principals:
//!   reader: { scopes: "mcp:read" }
//! tests:
//!   - name: readers cannot delete repositories
//!     principal: reader
//!     tool: delete_repo
//!     expect: deny
//!     missing: [mcp:admin]
//! ```
//!
//! The pipeline, one module each:
//! - [`file`]: the YAML read by serde_yaml, then checked as a whole; every
//!   problem a [`Diagnostic`] located in the text (`locate` asks serde_yaml
//!   where a node is, so positions never come from searching the text).
//! - [`run`]: each principal's scopes (a signed token validated by
//!   `mcp-policy-token`'s [`Validator`](mcp_policy_token::Validator), as the
//!   server validates it), each call decided and explained on the compiled
//!   policy, and compared with the expectation.
//!
//! Nothing here prints: the CLI renders reports and diagnostics.

mod case;
pub mod diagnostic;
pub mod file;
mod locate;
mod principal;
pub mod run;
mod strict;
mod time;

pub use diagnostic::{Code, Diagnostic, Label, Span};
pub use file::{Call, Case, Expect, Identity, Jwt, Keys, TestFile, TestPrincipal};
pub use mcp_policy_evaluator::{Explained, RuleRef};
pub use run::{CaseResult, Failure, Got, Report, run};

/// How test files are named: `POLICY.test.yaml`, beside the policy.
pub const SUFFIX: &str = ".test.yaml";

#[cfg(test)]
mod tests;
