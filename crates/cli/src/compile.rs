//! `mcp-policy compile PATH -o OUT`

use std::path::Path;

use crate::{Outcome, load, render};

pub fn run(path: &Path, output: &Path) -> Outcome {
    let source = match load::source(path) {
        Ok(source) => source,
        Err(error) => return error.report(),
    };
    let compilation = mcp_policy_lang::compile_source(&source);
    eprint!(
        "{}",
        render::human(
            &compilation.diagnostics,
            &path.display().to_string(),
            &source
        )
    );
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
    // Write beside the target and rename, so a server watching the file
    // never loads half a table.
    let partial = output.with_extension("partial");
    let written =
        std::fs::write(&partial, artifact).and_then(|()| std::fs::rename(&partial, output));
    match written {
        Ok(()) => Outcome::Ok,
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            eprintln!("error: cannot write `{}`: {error}", output.display());
            Outcome::UsageOrIo
        }
    }
}
