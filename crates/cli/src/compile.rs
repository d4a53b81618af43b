//! `mcp-policy compile PATH -o OUT [--format human|json|sarif|github]`
//!
//! The policy's diagnostics are reported as `check --format` reports them:
//! `human` on standard error, the others on standard output (where a
//! policy with no diagnostics gets an empty document, as from `check`).
//! `-o -` writes the table to standard output, so it takes only `human`:
//! a machine format there would mix the diagnostics with the table, and is
//! refused as a usage error (exit 2) before anything is read.

use std::path::Path;

use crate::load::PolicyError;
use crate::render::{self, Reported};
use crate::{Format, Outcome, load};

pub fn run(path: &Path, output: &Path, format: Format) -> Outcome {
    if output == Path::new("-") && format != Format::Human {
        eprintln!(
            "error: `--format {}` prints the diagnostics on standard output, where `-o -` writes the table; write the table to a file (`-o FILE`), or report in `--format human` (on standard error)",
            format.name()
        );
        return Outcome::UsageOrIo;
    }
    if path != Path::new("-") && is_the_source(path, output) {
        eprintln!(
            "error: `-o {}` is the policy itself; writing the table there would replace its source",
            load::shown(output)
        );
        return Outcome::UsageOrIo;
    }
    let file = path.display().to_string();
    let (source, compilation) = match load::source(path) {
        Ok(source) => {
            let compilation = mcp_policy_lang::compile_source(&source);
            (source, compilation)
        }
        Err(PolicyError::NotLoaded {
            text, diagnostics, ..
        }) => (
            text,
            mcp_policy_lang::Compilation {
                table: None,
                diagnostics,
            },
        ),
        Err(PolicyError::Reported(outcome)) => {
            // As `check` does for a file it cannot read: an empty report
            // that says the run did not succeed.
            if let Err(failed) = render::report::<mcp_policy_lang::Code>(format, &[], false) {
                return failed;
            }
            return outcome;
        }
    };
    let reported = Reported {
        file: &file,
        source: &source,
        diagnostics: &compilation.diagnostics,
    };
    if let Err(outcome) = render::report(format, &[reported], true) {
        return outcome;
    }
    let Some(table) = compilation.table else {
        return Outcome::PolicyErrors;
    };
    // Rule lines are lines of this file: `explain` on the table names them
    // so. Standard input has no name worth keeping.
    let table = if path == Path::new("-") {
        table
    } else {
        table.with_source(load::shown(path))
    };
    let artifact = table.to_artifact() + "\n";
    if output == Path::new("-") {
        out!("{artifact}");
        return Outcome::Ok;
    }
    // Atomically, so a server watching the file never loads half a table;
    // never through a planted link, never over a device (`-o /dev/null`).
    match mcp_policy_fs::replace(output, artifact.as_bytes()) {
        Ok(()) => Outcome::Ok,
        Err(error) => {
            eprintln!("error: cannot write `{}`: {error}", load::shown(output));
            Outcome::UsageOrIo
        }
    }
}

/// Whether `output` is the policy file itself (by another name, too):
/// writing the table there would destroy the source.
fn is_the_source(path: &Path, output: &Path) -> bool {
    match (std::fs::canonicalize(path), std::fs::canonicalize(output)) {
        (Ok(source), Ok(output)) => source == output,
        _ => false,
    }
}
