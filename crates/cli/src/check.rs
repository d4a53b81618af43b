//! `mcp-policy check PATH...`

use std::path::PathBuf;

use serde::Serialize;

use crate::render::{self, JsonDiagnostic};
use crate::{Format, Outcome};

pub fn run(paths: &[PathBuf], format: Format) -> Outcome {
    let mut io_failed = false;
    let mut errors = 0usize;
    let mut warnings = 0usize;
    // Sources are kept so JSON diagnostics can borrow from them.
    let mut checked: Vec<(String, String, mcp_policy_lang::Compilation)> = Vec::new();
    for path in paths {
        let Some(source) = render::read(path) else {
            io_failed = true;
            continue;
        };
        let compilation = mcp_policy_lang::compile_source(&source);
        errors += compilation
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .count();
        warnings += compilation
            .diagnostics
            .iter()
            .filter(|d| !d.is_error())
            .count();
        checked.push((path.display().to_string(), source, compilation));
    }
    match format {
        Format::Human => {
            for (file, source, compilation) in &checked {
                eprint!("{}", render::human(&compilation.diagnostics, file, source));
            }
            let files = checked.len();
            let plural =
                |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
            eprintln!(
                "checked {}: {}, {}",
                plural(files, "file"),
                plural(errors, "error"),
                plural(warnings, "warning")
            );
        }
        Format::Json => {
            #[derive(Serialize)]
            struct Output<'a> {
                diagnostics: Vec<JsonDiagnostic<'a>>,
            }
            let output = Output {
                diagnostics: checked
                    .iter()
                    .flat_map(|(file, source, compilation)| {
                        compilation
                            .diagnostics
                            .iter()
                            .map(|d| render::json(d, file, source))
                    })
                    .collect(),
            };
            match serde_json::to_string_pretty(&output) {
                Ok(json) => println!("{json}"),
                Err(error) => {
                    eprintln!("error: cannot write JSON: {error}");
                    return Outcome::UsageOrIo;
                }
            }
        }
    }
    if io_failed {
        Outcome::UsageOrIo
    } else if errors > 0 {
        Outcome::PolicyErrors
    } else {
        Outcome::Ok
    }
}
