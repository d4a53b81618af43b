//! `mcp-policy compile PATH -o OUT`

use std::path::Path;

use crate::{Outcome, render};

pub fn run(path: &Path, output: &Path) -> Outcome {
    let Some(source) = render::read(path) else {
        return Outcome::UsageOrIo;
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
    let artifact = table.to_artifact() + "\n";
    if output == Path::new("-") {
        print!("{artifact}");
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
