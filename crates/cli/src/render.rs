//! Diagnostics at the edge, one renderer for every command that reports
//! them (`check`, `lint`, `fmt`, `compile`, `test`), whatever they are about
//! (a policy, a test file): miette for people, JSON for tools, and the
//! [`sarif`](crate::sarif) and [`github`](crate::github) formats, all from
//! the one model of `mcp-policy-diagnostic`.

use std::io::IsTerminal;

pub use mcp_policy_diagnostic::Diagnostic;
use mcp_policy_diagnostic::{DiagnosticCode, IndexedSource, Label, Span};
use miette::{GraphicalReportHandler, GraphicalTheme};
use serde::Serialize;

use crate::escape::{self, DisplaySource};
use crate::sarif::Rules;
use crate::{Format, Outcome, github, sarif};

/// One file's diagnostics, with the text their spans point into.
pub struct Reported<'a, C> {
    pub file: &'a str,
    pub source: &'a str,
    pub diagnostics: &'a [Diagnostic<C>],
}

/// Reports the files' diagnostics in `format`, as every command with a
/// `--format human|json|sarif|github` does: `human` on standard error,
/// each file's rendered by [`human`]; `json` (`{"diagnostics": [...]}`),
/// `sarif` and `github` on standard output, one document (one line a
/// diagnostic for `github`). `execution_successful` is SARIF's: `false`
/// when a file could not be read (its reason is on standard error). A
/// command's summary line is its own, printed after this.
pub fn report<C: Rules>(
    format: Format,
    files: &[Reported<'_, C>],
    execution_successful: bool,
) -> Result<(), Outcome> {
    match format {
        Format::Human => {
            for reported in files {
                eprint!(
                    "{}",
                    human(reported.diagnostics, reported.file, reported.source)
                );
            }
            Ok(())
        }
        Format::Json => {
            #[derive(Serialize)]
            struct Output<'a> {
                diagnostics: Vec<JsonDiagnostic<'a>>,
            }
            let output = Output {
                diagnostics: json_all(files),
            };
            crate::output::json(&output, "JSON")
        }
        Format::Sarif => crate::output::json(&sarif::log(files, execution_successful), "SARIF"),
        Format::Github => {
            out!("{}", github::render(files));
            Ok(())
        }
    }
}

/// Renders diagnostics as rustc does, in colour only on a terminal and
/// without `NO_COLOR`.
///
/// Everything printed goes through [`shown`](crate::escape): the messages,
/// labels and help (which quote names from the policy), the file name, and
/// the source lines under the snippet, so that a policy line holding an
/// ESC or a bidi override cannot forge or reorder the report. The source
/// lines are shown from a copy with visible escapes (`\u{202e}`), the labels'
/// spans moved to match, rather than with a same-length placeholder: a
/// reviewer should see which character hides there, not a `?`.
pub fn human<C: DiagnosticCode>(diagnostics: &[Diagnostic<C>], file: &str, source: &str) -> String {
    let display = DisplaySource::new(source);
    let file = escape::owned(file);
    // Indexed once for all the reports: none copies or rescans the text.
    let indexed = IndexedSource::new(&display.text);
    graphical(diagnostics.iter().map(|diagnostic| {
        let diagnostic = displayed(diagnostic, &display);
        let fallback = format!("{}: {}", diagnostic.code.as_str(), diagnostic.message);
        (diagnostic.report_indexed(&file, &indexed), fallback)
    }))
}

/// The diagnostics with their codes mapped by `code`: to report diagnostics
/// of different kinds (a test file's, a policy's) as one.
pub fn recoded<C: Copy, D>(
    diagnostics: &[Diagnostic<C>],
    code: impl Fn(C) -> D,
) -> Vec<Diagnostic<D>> {
    diagnostics
        .iter()
        .map(|diagnostic| Diagnostic {
            code: code(diagnostic.code),
            severity: diagnostic.severity,
            message: diagnostic.message.clone(),
            labels: diagnostic.labels.clone(),
            help: diagnostic.help.clone(),
        })
        .collect()
}

/// A diagnostic as [`human`] shows it against the escaped source copy.
fn displayed<C: DiagnosticCode>(
    diagnostic: &Diagnostic<C>,
    display: &DisplaySource,
) -> Diagnostic<C> {
    Diagnostic {
        code: diagnostic.code,
        severity: diagnostic.severity,
        message: escape::owned(&diagnostic.message),
        labels: diagnostic
            .labels
            .iter()
            .map(|label| Label {
                span: Span::new(
                    display.offset(label.span.start),
                    display.offset(label.span.end),
                ),
                message: escape::owned(&label.message),
            })
            .collect(),
        help: diagnostic.help.as_deref().map(escape::owned),
    }
}

/// Renders miette reports one after another, each followed by a blank line;
/// the text beside each report stands in if it cannot be rendered. Used
/// for policies and for test files alike, so both read the same.
pub fn graphical<R: miette::Diagnostic>(reports: impl IntoIterator<Item = (R, String)>) -> String {
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let theme = if colour {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme);
    let mut out = String::new();
    for (report, fallback) in reports {
        if handler.render_report(&mut out, &report).is_err() {
            // Rendering into a String cannot fail; keep the message anyway.
            out.push_str(&fallback);
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

/// One diagnostic as `check --format json` and `test --format json` print
/// it.
#[derive(Serialize)]
pub struct JsonDiagnostic<'a> {
    pub code: &'static str,
    pub severity: &'static str,
    pub message: &'a str,
    pub file: &'a str,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<&'a str>,
}

pub fn json<'a, C: DiagnosticCode>(
    diagnostic: &'a Diagnostic<C>,
    file: &'a str,
    source: &IndexedSource,
) -> JsonDiagnostic<'a> {
    let (line, column) = source.line_column(diagnostic.span().start);
    JsonDiagnostic {
        code: diagnostic.code.as_str(),
        severity: diagnostic.severity.as_str(),
        message: &diagnostic.message,
        file,
        line,
        column,
        help: diagnostic.help.as_deref(),
    }
}

/// Every diagnostic of every file, as `--format json` lists them.
pub fn json_all<'a, C: DiagnosticCode>(files: &[Reported<'a, C>]) -> Vec<JsonDiagnostic<'a>> {
    files
        .iter()
        .flat_map(|reported| {
            let source = IndexedSource::new(reported.source);
            reported
                .diagnostics
                .iter()
                .map(move |diagnostic| json(diagnostic, reported.file, &source))
        })
        .collect()
}
