//! `mcp-policy fmt [--check] PATH...`
//!
//! Rewrites each file in the canonical layout (see
//! `mcp_policy_lang::format`), or with `--check` lists on standard output
//! the files that would change and rewrites nothing. A file with syntax
//! errors is never rewritten: its diagnostics are reported as `check`
//! reports them. Exit code 1 when a file has syntax errors or, with
//! `--check`, would change; 2 when a file cannot be read or written.

use std::path::PathBuf;

use crate::Outcome;
use crate::render;

pub fn run(paths: &[PathBuf], check: bool) -> Outcome {
    let mut io_failed = false;
    let mut broken = 0usize;
    let mut changed = 0usize;
    let mut parsed = 0usize;
    for path in paths {
        let Some(source) = render::read(path) else {
            io_failed = true;
            continue;
        };
        let file = path.display().to_string();
        let output = match mcp_policy_lang::format::format_source(&source) {
            Ok(output) => output,
            Err(diagnostics) => {
                eprint!("{}", render::human(&diagnostics, &file, &source));
                broken += 1;
                continue;
            }
        };
        parsed += 1;
        if output == source {
            continue;
        }
        if check {
            println!("{file}");
            changed += 1;
        } else if let Err(error) = std::fs::write(path, output) {
            eprintln!("error: cannot write `{file}`: {error}");
            io_failed = true;
        } else {
            changed += 1;
        }
    }
    let files = parsed + broken;
    let mut summary = format!(
        "checked {files} file{}: {changed} {}",
        if files == 1 { "" } else { "s" },
        if check { "to reformat" } else { "reformatted" }
    );
    if broken > 0 {
        summary += &format!(", {broken} with syntax errors (left as they are)");
    }
    eprintln!("{summary}");
    if io_failed {
        Outcome::UsageOrIo
    } else if broken > 0 || (check && changed > 0) {
        Outcome::PolicyErrors
    } else {
        Outcome::Ok
    }
}
