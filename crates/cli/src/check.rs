//! `mcp-policy check PATH...` and `mcp-policy lint PATH...`

use clap::ArgMatches;
use mcp_policy_lang::lint::ToolList;
use mcp_policy_lang::{Code, Compilation};

use crate::load::{self, PolicyFile};
use crate::render::{self, Reported};
use crate::{CheckArgs, Format, Outcome, github, levels};

/// `check` reports everything; `lint` reports errors that keep a policy
/// from compiling, and lints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Check,
    Lint,
}

/// One policy file as checked.
pub struct Checked {
    pub file: String,
    pub source: String,
    pub compilation: Compilation,
}

pub fn run(args: &CheckArgs, matches: Option<&ArgMatches>, mode: Mode) -> Outcome {
    let config = match levels::config(matches) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("error: {message}");
            return Outcome::UsageOrIo;
        }
    };
    let tools = match &args.tools {
        None => None,
        Some(path) => {
            let Some(json) = load::text(path, mcp_policy_fs::limit::TOOLS) else {
                return Outcome::UsageOrIo;
            };
            match ToolList::from_json(&json) {
                Ok(tools) => Some(tools),
                Err(error) => {
                    // serde quotes the file's strings in its messages.
                    eprintln!(
                        "error: `{}`: {}",
                        path.display(),
                        crate::escape::shown(&error.to_string())
                    );
                    return Outcome::UsageOrIo;
                }
            }
        }
    };
    let mut unreadable = 0usize;
    let mut checked = Vec::new();
    for path in &args.paths {
        let (source, mut compilation) = match load::policy_file(path) {
            None => {
                unreadable += 1;
                continue;
            }
            Some(PolicyFile::Source(source)) => {
                let compilation = mcp_policy_lang::check_source(&source, &config, tools.as_ref());
                (source, compilation)
            }
            Some(PolicyFile::NotUtf8 { text, diagnostic }) => (
                text,
                Compilation {
                    table: None,
                    diagnostics: vec![*diagnostic],
                },
            ),
            // A compiled table gets the compiler's checks on load; lints
            // need the source. One that does not load is reported as a
            // source with errors is, in every format.
            Some(PolicyFile::Artifact(json)) => {
                let compilation = match load::artifact(&json) {
                    Ok(table) => Compilation {
                        table: Some(table),
                        diagnostics: Vec::new(),
                    },
                    Err(diagnostics) => Compilation {
                        table: None,
                        diagnostics,
                    },
                };
                (json, compilation)
            }
        };
        if mode == Mode::Lint && compilation.table.is_some() {
            compilation
                .diagnostics
                .retain(|d| matches!(d.code, Code::Lint(_)));
        }
        checked.push(Checked {
            file: path.display().to_string(),
            source,
            compilation,
        });
    }
    let errors: usize = checked
        .iter()
        .map(|c| {
            c.compilation
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .count()
        })
        .sum();
    let warnings: usize = checked
        .iter()
        .map(|c| {
            c.compilation
                .diagnostics
                .iter()
                .filter(|d| !d.is_error())
                .count()
        })
        .sum();
    let reported: Vec<Reported<'_, Code>> = checked
        .iter()
        .map(|c| Reported {
            file: &c.file,
            source: &c.source,
            diagnostics: &c.compilation.diagnostics,
        })
        .collect();
    if let Err(outcome) = render::report(args.format, &reported, unreadable == 0) {
        return outcome;
    }
    match args.format {
        Format::Human => {
            let unread = if unreadable > 0 {
                format!(
                    "; {} could not be read",
                    crate::words::count(unreadable as u64, "file")
                )
            } else {
                String::new()
            };
            eprintln!(
                "checked {}: {}, {}{unread}",
                crate::words::count(checked.len() as u64, "file"),
                crate::words::count(errors as u64, "error"),
                crate::words::count(warnings as u64, "warning")
            );
        }
        Format::Github => eprintln!("{}", github::summary(checked.len(), errors, warnings)),
        Format::Json | Format::Sarif => {}
    }
    if unreadable > 0 {
        Outcome::UsageOrIo
    } else if errors > 0 {
        Outcome::PolicyErrors
    } else {
        Outcome::Ok
    }
}
