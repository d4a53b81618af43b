//! Loading a policy for the commands that decide on it: a `.mcppolicy`
//! source (compiled here, its diagnostics shown as `check` shows them) or a
//! compiled table written by `mcp-policy compile`.

use std::path::Path;

use mcp_policy_evaluator::Evaluator;

use crate::{Outcome, render};

/// The policy at `path`, or the outcome to exit with once the reason is on
/// standard error: a missing file is a usage error, a policy that does not
/// compile a policy error.
pub fn policy(path: &Path) -> Result<Evaluator, Outcome> {
    let text = render::read(path).ok_or(Outcome::UsageOrIo)?;
    let file = path.display().to_string();
    if text.trim_start().starts_with('{') {
        return Evaluator::from_artifact(&text).map_err(|error| {
            eprintln!(
                "error: `{file}`: {}",
                crate::shown::shown(&error.to_string())
            );
            Outcome::PolicyErrors
        });
    }
    let compilation = mcp_policy_lang::compile_source(&text);
    match compilation.table {
        Some(table) => Ok(Evaluator::new(table)),
        None => {
            eprint!("{}", render::human(&compilation.diagnostics, &file, &text));
            Err(Outcome::PolicyErrors)
        }
    }
}
