//! `check --format sarif` and `test --format sarif`: SARIF 2.1.0 (OASIS),
//! the format code-scanning services read (GitHub's `upload-sarif`, Azure
//! DevOps, IDE viewers).
//!
//! One run; the driver lists every code the command can report as a rule
//! (for `check`, every error code and every lint; for `test`, every test
//! file code), and each diagnostic becomes a result pointing at its rule by
//! id and index.
//! Columns count Unicode code points (as the other formats do), which the
//! run says with `columnKind`, SARIF's default being UTF-16 code units.

use std::path::Path;

use mcp_policy_diagnostic::{Diagnostic, DiagnosticCode, IndexedSource, Label, Severity};
use mcp_policy_lang::Code;
use mcp_policy_lang::lint::{Lint, LintLevel};
use serde::Serialize;

use crate::escape::shown;
use crate::render::Reported;

/// The schema the output follows (the OASIS standard with its errata).
pub const SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";
const VERSION: &str = "2.1.0";
/// The symbol relative artifact URIs are resolved against: the checkout's
/// root, as code-scanning services expect.
const SRCROOT: &str = "%SRCROOT%";
const REPOSITORY: &str = env!("CARGO_PKG_REPOSITORY");

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Log {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: Vec<Run>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Run {
    tool: Tool,
    invocations: Vec<Invocation>,
    column_kind: &'static str,
    results: Vec<SarifResult>,
}

#[derive(Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver {
    name: &'static str,
    version: &'static str,
    information_uri: &'static str,
    rules: Vec<Rule>,
}

/// A code's entry in the driver's rules.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    id: &'static str,
    name: &'static str,
    short_description: Text,
    #[serde(skip_serializing_if = "Option::is_none")]
    full_description: Option<Text>,
    default_configuration: Configuration,
    help_uri: String,
}

#[derive(Serialize)]
struct Configuration {
    level: &'static str,
}

/// A `message` or a `multiformatMessageString`: both are `{"text": ...}` here.
#[derive(Serialize)]
struct Text {
    text: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Invocation {
    execution_successful: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult {
    rule_id: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule_index: Option<usize>,
    level: &'static str,
    message: Text,
    locations: Vec<Location>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    related_locations: Vec<Location>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    /// Set on related locations, which must be distinct within a result.
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<usize>,
    physical_location: PhysicalLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<Text>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<Region>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ArtifactLocation {
    uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    uri_base_id: Option<&'static str>,
}

/// 1-based lines and columns; `end_column` is the column just past the end.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: usize,
    start_column: usize,
    end_line: usize,
    end_column: usize,
}

/// The codes a command reports, as the driver's rules.
pub trait Rules: DiagnosticCode {
    /// Every code of the kind: `rule_index` depends on this order.
    fn rules() -> Vec<Rule>;
}

impl Rules for Code {
    fn rules() -> Vec<Rule> {
        rules()
    }
}

impl Rules for mcp_policy_sim::suite::Code {
    fn rules() -> Vec<Rule> {
        mcp_policy_sim::suite::Code::ALL
            .into_iter()
            .map(|code| error_rule(code.as_str(), code.summary(), "docs/policy-tests.md"))
            .collect()
    }
}

/// The SARIF log for the files' diagnostics. `execution_successful` is
/// `false` when a file could not be read (its problem is on standard error).
pub fn log<C: Rules>(files: &[Reported<'_, C>], execution_successful: bool) -> Log {
    let rules = C::rules();
    let results = files
        .iter()
        .flat_map(|reported| {
            let source = IndexedSource::new(reported.source);
            let rules = &rules;
            reported
                .diagnostics
                .iter()
                .map(move |d| result(d, reported.file, &source, rules))
        })
        .collect();
    Log {
        schema: SCHEMA,
        version: VERSION,
        runs: vec![Run {
            tool: Tool {
                driver: Driver {
                    name: "mcp-policy",
                    version: env!("CARGO_PKG_VERSION"),
                    information_uri: REPOSITORY,
                    rules,
                },
            },
            invocations: vec![Invocation {
                execution_successful,
            }],
            column_kind: "unicodeCodePoints",
            results,
        }],
    }
}

/// Every error code, then every lint: `rule_index` depends on this order.
fn rules() -> Vec<Rule> {
    let codes = Code::ALL
        .into_iter()
        .map(|code| error_rule(code.as_str(), code.summary(), "policy-lang/SPEC.md"));
    let lints = Lint::ALL.into_iter().map(|lint| Rule {
        id: lint.code(),
        name: lint.name(),
        short_description: text(lint.summary()),
        full_description: Some(text(lint.doc().rationale)),
        default_configuration: Configuration {
            level: match lint.default_level() {
                LintLevel::Deny => "error",
                LintLevel::Warn => "warning",
                LintLevel::Allow => "none",
            },
        },
        help_uri: format!("{REPOSITORY}/blob/main/docs/lints.md#{}", lint.name()),
    });
    codes.chain(lints).collect()
}

/// The rule of an error code, documented in the `Diagnostics` section of
/// `doc` (a path in the repository).
fn error_rule(id: &'static str, summary: &str, doc: &str) -> Rule {
    Rule {
        id,
        name: short_name(id),
        short_description: text(summary),
        full_description: None,
        default_configuration: Configuration { level: "error" },
        help_uri: format!("{REPOSITORY}/blob/main/{doc}#diagnostics"),
    }
}

/// The index of a code's rule in `rules`.
fn rule_index<C: DiagnosticCode>(code: C, rules: &[Rule]) -> Option<usize> {
    rules.iter().position(|rule| rule.id == code.as_str())
}

/// `mcp_policy::unknown_scope` → `unknown_scope`.
fn short_name(code: &'static str) -> &'static str {
    code.rsplit("::").next().unwrap_or(code)
}

fn text(text: impl Into<String>) -> Text {
    Text { text: text.into() }
}

fn result<C: DiagnosticCode>(
    diagnostic: &Diagnostic<C>,
    file: &str,
    source: &IndexedSource,
    rules: &[Rule],
) -> SarifResult {
    // JSON escapes control characters, but not bidi overrides or
    // zero-width characters, which a code-scanning page would render: names
    // from the policy are escaped as in the human output.
    let mut message = shown(&diagnostic.message).into_owned();
    if let Some(help) = &diagnostic.help {
        message.push_str("\nhelp: ");
        message.push_str(&shown(help));
    }
    let location = |id: Option<usize>, label: Option<&Label>| Location {
        id,
        physical_location: PhysicalLocation {
            artifact_location: artifact_location(file),
            region: label.map(|label| {
                let (start_line, start_column) = source.line_column(label.span.start);
                let (end_line, end_column) = source.line_column(label.span.end);
                Region {
                    start_line,
                    start_column,
                    end_line,
                    end_column,
                }
            }),
        },
        message: label
            .filter(|label| !label.message.is_empty())
            .map(|label| text(shown(&label.message))),
    };
    let mut labels = diagnostic.labels.iter();
    // A diagnostic without a label is about the whole file: no region.
    let primary = location(None, labels.next());
    let related = labels
        .enumerate()
        .map(|(i, label)| location(Some(i + 1), Some(label)))
        .collect();
    SarifResult {
        rule_id: diagnostic.code.as_str(),
        rule_index: rule_index(diagnostic.code, rules),
        level: match diagnostic.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        },
        message: text(message),
        locations: vec![primary],
        related_locations: related,
    }
}

/// A relative path stays relative to `%SRCROOT%`; an absolute one becomes a
/// `file:` URI. Either way, characters a URI cannot hold are %-encoded.
fn artifact_location(file: &str) -> ArtifactLocation {
    let path = if cfg!(windows) {
        file.replace('\\', "/")
    } else {
        file.to_owned()
    };
    if Path::new(file).is_absolute() {
        let path = encode(&path, true);
        let uri = if path.starts_with('/') {
            format!("file://{path}")
        } else {
            // `C:/dir/file` on Windows.
            format!("file:///{path}")
        };
        ArtifactLocation {
            uri,
            uri_base_id: None,
        }
    } else {
        ArtifactLocation {
            // A `:` in a relative path would read as a URI scheme.
            uri: encode(&path, false),
            uri_base_id: Some(SRCROOT),
        }
    }
}

/// Percent-encodes every byte outside RFC 3986's unreserved and sub-delims
/// characters, `/`, `@`, and (when `keep_colon`) `:`.
fn encode(path: &str, keep_colon: bool) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        let keep = byte.is_ascii_alphanumeric()
            || b"-._~!$&'()*+,;=/@".contains(&byte)
            || (keep_colon && byte == b':');
        if keep {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_indexes_follow_the_rules() {
        let rules = rules();
        for code in Code::ALL
            .into_iter()
            .chain(Lint::ALL.into_iter().map(Code::Lint))
        {
            let index = rule_index(code, &rules);
            assert_eq!(
                index.and_then(|i| rules.get(i)).map(|rule| rule.id),
                Some(code.as_str())
            );
        }
    }

    #[test]
    fn uris_are_encoded() {
        assert_eq!(
            encode("examples/a b%c.mcppolicy", false),
            "examples/a%20b%25c.mcppolicy"
        );
        assert_eq!(encode("a:b/é", false), "a%3Ab/%C3%A9");
        assert_eq!(encode("/x/a:b", true), "/x/a:b");
        let relative = artifact_location("dir/p.mcppolicy");
        assert_eq!(relative.uri, "dir/p.mcppolicy");
        assert_eq!(relative.uri_base_id, Some(SRCROOT));
        if cfg!(unix) {
            let absolute = artifact_location("/tmp/p q.mcppolicy");
            assert_eq!(absolute.uri, "file:///tmp/p%20q.mcppolicy");
            assert_eq!(absolute.uri_base_id, None);
        }
    }
}
