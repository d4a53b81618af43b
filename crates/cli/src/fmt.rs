//! `mcp-policy fmt [--check] [--format human|json|sarif|github] PATH...`
//!
//! Rewrites each file in the canonical layout (see
//! `mcp_policy_lang::format`), or with `--check` prints on standard output
//! what would change, as a unified diff per file (as `rustfmt --check`
//! does), and rewrites nothing. A file with syntax
//! errors is never rewritten: its diagnostics are reported as `check`
//! reports them, in the `--format` it takes. In `json`, `sarif` and
//! `github`, standard output holds that one report only, shaped as
//! `check`'s: `--check` prints no diff there, and names each file that
//! would change on standard error instead (`would reformat `FILE``),
//! before the summary. `-` reads standard input and, without `--check`,
//! writes the formatted policy on standard output (in `--format human`
//! only: a machine format's report is there). Exit code 1 when a file has
//! syntax errors or, with `--check`, would change; 2 when a file cannot be
//! read or written.

use std::path::{Path, PathBuf};

use std::time::Duration;

use mcp_policy_lang::{Code, Diagnostic};
use similar::TextDiff;

/// How long the diff of one file may search for the smallest diff.
const DIFF_TIMEOUT: Duration = Duration::from_millis(200);

use crate::escape::shown;
use crate::render::Reported;
use crate::{Format, Outcome};
use crate::{load, render};

/// A file with syntax errors, kept for a machine format's one report.
struct Broken {
    file: String,
    source: String,
    diagnostics: Vec<Diagnostic>,
}

pub fn run(paths: &[PathBuf], check: bool, format: Format) -> Outcome {
    if !check && format != Format::Human && paths.iter().any(|path| path == Path::new("-")) {
        eprintln!(
            "error: `fmt -` writes the formatted policy on standard output, where `--format {}` prints the diagnostics; use `--check`, or `--format human`",
            format.name()
        );
        return Outcome::UsageOrIo;
    }
    let mut io_failed = false;
    let mut broken: Vec<Broken> = Vec::new();
    let mut changed = 0usize;
    let mut parsed = 0usize;
    for path in paths {
        let Some(source) = load::policy_text(path) else {
            io_failed = true;
            continue;
        };
        let file = path.display().to_string();
        let output = match mcp_policy_lang::format::format_source(&source) {
            Ok(output) => output,
            Err(diagnostics) => {
                // Human diagnostics as each file is read, as before; a
                // machine format's in one document at the end.
                if format == Format::Human {
                    eprint!("{}", render::human(&diagnostics, &file, &source));
                }
                broken.push(Broken {
                    file,
                    source,
                    diagnostics,
                });
                continue;
            }
        };
        parsed += 1;
        if output == source {
            if path == Path::new("-") && !check {
                out!("{output}");
            }
            continue;
        }
        if check {
            if format == Format::Human {
                out!("{}", diff(&file, &source, &output));
            } else {
                eprintln!("would reformat `{}`", shown(&file));
            }
            changed += 1;
        } else if path == Path::new("-") {
            // Standard input has no file to rewrite: the result goes to
            // standard output, as rustfmt does (below, unchanged too).
            out!("{output}");
            changed += 1;
        } else if let Err(error) = std::fs::write(path, output) {
            eprintln!("error: cannot write `{}`: {error}", shown(&file));
            io_failed = true;
        } else {
            changed += 1;
        }
    }
    if format != Format::Human {
        let reported: Vec<Reported<'_, Code>> = broken
            .iter()
            .map(|broken| Reported {
                file: &broken.file,
                source: &broken.source,
                diagnostics: &broken.diagnostics,
            })
            .collect();
        if let Err(outcome) = render::report(format, &reported, !io_failed) {
            return outcome;
        }
    }
    let broken = broken.len();
    let files = parsed + broken;
    let mut summary = format!(
        "checked {}: {changed} {}",
        crate::words::count(files as u64, "file"),
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

/// What formatting would change in one file: a unified diff with three
/// lines of context, from the file as it is to the file formatted. The
/// lines are the policy's own text: each goes through [`shown`], its line
/// break (`\n`, or the `\r\n` of a CRLF file) kept as one.
fn diff(file: &str, source: &str, formatted: &str) -> String {
    let file = shown(file);
    // A deadline: past it, the diff is still correct, only less minimal.
    // Myers' algorithm is O(N·D), and a re-aligned file changes every line.
    let text = TextDiff::configure()
        .timeout(DIFF_TIMEOUT)
        .diff_lines(source, formatted)
        .unified_diff()
        .context_radius(3)
        .header(&file, &format!("{file} (formatted)"))
        .to_string();
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let content = line.strip_suffix('\n').unwrap_or(line);
        let content = content.strip_suffix('\r').unwrap_or(content);
        out.push_str(&shown(content));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::diff;

    #[test]
    fn a_file_whose_every_line_changes_is_diffed_in_bounded_time() {
        let source: String = (0..6000)
            .map(|i| format!("tool t{i} requires s{i}\n"))
            .collect();
        let formatted: String = (0..6000)
            .map(|i| {
                format!(
                    "tool t{i}{} requires s{i}\n",
                    " ".repeat(6 - i.to_string().len())
                )
            })
            .collect();
        let started = std::time::Instant::now();
        let out = diff("big.mcppolicy", &source, &formatted);
        let elapsed = started.elapsed();
        assert_eq!(
            out.lines().filter(|line| line.starts_with('+')).count(),
            6000 + 1
        );
        assert!(elapsed < std::time::Duration::from_secs(4), "{elapsed:?}");
    }

    #[test]
    fn the_diff_shows_what_changes_with_escapes() {
        let out = diff(
            "p.mcppolicy",
            "default   deny\r\ntool \"a\u{202E}\" requires x\r\n",
            "default deny\r\ntool \"a\u{202E}\"  requires x\r\n",
        );
        assert_eq!(
            out,
            "--- p.mcppolicy\n+++ p.mcppolicy (formatted)\n@@ -1,2 +1,2 @@\n-default   deny\n-tool \"a\\u{202e}\" requires x\n+default deny\n+tool \"a\\u{202e}\"  requires x\n"
        );
    }
}
