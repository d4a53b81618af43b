//! `check --format github` and `test --format github`: GitHub Actions
//! workflow commands, one line per diagnostic, which the runner turns into annotations on the pull request:
//!
//! ```text
//! ::error file=PATH,line=L,col=C,endLine=L,endColumn=C,title=CODE::MESSAGE
//! ```
//!
//! Lines and columns are 1-based, columns in characters; `endColumn` is the
//! column just past the span, as in the SARIF output.

use mcp_policy_diagnostic::{Diagnostic, DiagnosticCode, IndexedSource, Severity};

use crate::escape::shown;
use crate::render::Reported;

/// Every diagnostic of every file, one workflow command a line.
pub fn render<C: DiagnosticCode>(files: &[Reported<'_, C>]) -> String {
    let mut out = String::new();
    for reported in files {
        let source = IndexedSource::new(reported.source);
        for diagnostic in reported.diagnostics {
            out.push_str(&command(diagnostic, reported.file, &source));
            out.push('\n');
        }
    }
    out
}

fn command<C: DiagnosticCode>(
    diagnostic: &Diagnostic<C>,
    file: &str,
    source: &IndexedSource,
) -> String {
    let name = match diagnostic.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let mut properties = format!("file={}", escape_property(&shown(file)));
    // A diagnostic without a label is about the whole file.
    if let Some(label) = diagnostic.labels.first() {
        let (line, col) = source.line_column(label.span.start);
        let (end_line, end_column) = source.line_column(label.span.end);
        properties.push_str(&format!(
            ",line={line},col={col},endLine={end_line},endColumn={end_column}"
        ));
    }
    properties.push_str(&format!(
        ",title={}",
        escape_property(diagnostic.code.as_str())
    ));
    // Names from the policy are escaped before the command is encoded: a
    // raw line break of theirs would end the command (and start another),
    // a bidi override would reorder the annotation on the review page.
    let mut message = shown(&diagnostic.message).into_owned();
    if let Some(help) = &diagnostic.help {
        message.push_str("\nhelp: ");
        message.push_str(&shown(help));
    }
    format!("::{name} {properties}::{}", escape_data(&message))
}

/// The summary `check` prints after the diagnostics.
pub fn summary(files: usize, errors: usize, warnings: usize) -> String {
    let plural = |n: usize, word: &str| crate::words::count(n as u64, word);
    format!(
        "checked {}: {}, {}",
        plural(files, "file"),
        plural(errors, "error"),
        plural(warnings, "warning")
    )
}

/// A command's message: `%`, CR and LF are encoded (as `@actions/core` does).
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A property value: as a message, and `:` and `,` too, which end values.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_as_the_actions_toolkit_does() {
        assert_eq!(escape_data("50% a\r\nb: c, d"), "50%25 a%0D%0Ab: c, d");
        assert_eq!(escape_property("dir/a,b:c%d\n"), "dir/a%2Cb%3Ac%25d%0A");
    }

    #[test]
    fn names_cannot_end_the_command_or_reorder_it() {
        let diagnostic = Diagnostic::warning(
            mcp_policy_lang::Code::Lint(mcp_policy_lang::lint::Lint::UnknownTool),
            "no tool `a\n::error::forged\u{1b}[2J\u{202E}\u{200B}`",
        )
        .with_help("did you mean `b\r\n`?");
        let line = command(&diagnostic, "p\u{202E}.mcppolicy", &IndexedSource::new(""));
        assert_eq!(
            line,
            "::warning file=p\\u{202e}.mcppolicy,title=mcp_policy%3A%3Alint%3A%3Aunknown_tool::no tool `a\\n::error::forged\\u{1b}[2J\\u{202e}\\u{200b}`%0Ahelp: did you mean `b\\r\\n`?"
        );
        assert!(!line.chars().any(crate::escape::is_hidden));
    }

    #[test]
    fn a_diagnostic_without_a_label_annotates_the_file() {
        let diagnostic = Diagnostic::warning(
            mcp_policy_lang::Code::Lint(mcp_policy_lang::lint::Lint::UncoveredTool),
            "no rule covers `x`",
        )
        .with_help("add a rule");
        assert_eq!(
            command(&diagnostic, "p,1.mcppolicy", &IndexedSource::new("")),
            "::warning file=p%2C1.mcppolicy,title=mcp_policy%3A%3Alint%3A%3Auncovered_tool::no rule covers `x`%0Ahelp: add a rule"
        );
    }
}
