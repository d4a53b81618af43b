//! Reading what the commands are given, every input bounded (see
//! `mcp_policy_fs` and docs/SECURITY.md, "Input limits"), and loading a
//! policy for the commands that decide on it: a `.mcppolicy` source
//! (compiled here, its diagnostics handed back for the command to render
//! in its format) or a compiled table written by `mcp-policy compile`.

use std::path::Path;

use mcp_policy_evaluator::{ArtifactError, DecisionTable, Defect, Evaluator, LoadError};
use mcp_policy_fs::{Limit, ReadError, limit};
use mcp_policy_lang::{Code, Diagnostic, ast::Span};

use crate::{Format, Outcome, render};

/// The bytes at `path` (`-`: standard input), at most `limit.bytes`.
pub fn bytes(path: &Path, limit: Limit) -> Result<Vec<u8>, ReadError> {
    if path == Path::new("-") {
        mcp_policy_fs::read_stdin(limit)
    } else {
        mcp_policy_fs::read(path, limit)
    }
}

/// Reports an input that could not be read, with its stable code.
pub fn cannot_read(path: &Path, error: &ReadError) {
    eprintln!(
        "error: cannot read `{}`: {error} [{}]",
        shown(path),
        error.code()
    );
}

/// A text input that is not a policy (a tools list, a test file): its
/// text, or `None` once the reason is on standard error.
pub fn text(path: &Path, limit: Limit) -> Option<String> {
    let read =
        bytes(path, limit).and_then(|bytes| mcp_policy_fs::decode(&bytes).map(str::to_owned));
    read.map_err(|error| cannot_read(path, &error)).ok()
}

/// A policy file's text (source only, for `fmt`), or `None` once the
/// reason is on standard error. Bounded as every policy is.
pub fn policy_text(path: &Path) -> Option<String> {
    text(path, mcp_policy_fs::limit::POLICY)
}

/// What a policy file holds.
pub enum PolicyFile {
    /// `.mcppolicy` source, a leading byte-order mark dropped.
    Source(String),
    /// A compiled table (JSON).
    Artifact(String),
    /// Not UTF-8: the text with the bad bytes replaced, and a diagnostic at
    /// the first, to report as any broken policy is.
    NotUtf8 {
        text: String,
        diagnostic: Box<Diagnostic>,
    },
}

/// The policy at `path`, or `None` once the reason it cannot be read is on
/// standard error. A source is bounded by [`limit::POLICY`], a compiled
/// table by the larger [`limit::ARTIFACT`].
pub fn policy_file(path: &Path) -> Option<PolicyFile> {
    let bytes = bytes(path, limit::ARTIFACT)
        .map_err(|error| cannot_read(path, &error))
        .ok()?;
    let file = match mcp_policy_fs::decode(&bytes) {
        Ok(text) if mcp_policy_evaluator::is_artifact(text) => {
            return Some(PolicyFile::Artifact(text.to_owned()));
        }
        Ok(text) => PolicyFile::Source(text.to_owned()),
        Err(ReadError::NotUtf8 { offset, .. }) => {
            let (text, diagnostic) = not_utf8(&bytes, offset);
            PolicyFile::NotUtf8 {
                text,
                diagnostic: Box::new(diagnostic),
            }
        }
        Err(error) => {
            cannot_read(path, &error);
            return None;
        }
    };
    if bytes.len() as u64 > limit::POLICY.bytes {
        cannot_read(
            path,
            &ReadError::TooLarge {
                limit: limit::POLICY,
            },
        );
        return None;
    }
    Some(file)
}

/// A policy that is not UTF-8: its text with the bad bytes replaced, and a
/// diagnostic at the first.
fn not_utf8(bytes: &[u8], offset: usize) -> (String, Diagnostic) {
    let body = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    let bad = body.get(offset).copied().unwrap_or_default();
    // Replacing bad bytes leaves the valid prefix, and so `offset`, as it was.
    let text = String::from_utf8_lossy(body).into_owned();
    let width = text
        .get(offset..)
        .and_then(|rest| rest.chars().next())
        .map_or(0, char::len_utf8);
    let diagnostic = Diagnostic::error(Code::Syntax, "the policy is not UTF-8 text")
        .with_label(
            Span::new(offset, offset + width),
            format!("byte `0x{bad:02x}` is not UTF-8"),
        )
        .with_help("a policy is UTF-8 text; save the file as UTF-8");
    (text, diagnostic)
}

/// Why a policy was not loaded.
pub enum PolicyError {
    /// The reason is on standard error already (a file that cannot be
    /// read): the outcome to exit with.
    Reported(Outcome),
    /// A policy with errors (one that does not compile, is not UTF-8, or a
    /// compiled table that does not load): its diagnostics, against `text`,
    /// for the caller to render in its format. `file` is the path as given
    /// (renderers escape it).
    NotLoaded {
        file: String,
        text: String,
        diagnostics: Vec<Diagnostic>,
    },
}

impl PolicyError {
    /// The diagnostics reported in `format`, as `check` reports them (human
    /// on standard error; a machine format on standard output, where the
    /// command would have printed its answer), and the outcome to exit
    /// with.
    pub fn report(self, format: Format) -> Outcome {
        report_all(vec![self], format)
    }
}

/// Policies that did not load, reported together in `format`, so that a
/// command given two (`diff`, `simulate --against`) prints one document;
/// the outcome is the worst of theirs. A machine format gets its document
/// even when every reason is on standard error already (a file that cannot
/// be read), as `check` prints one: empty, and in SARIF not successful.
pub fn report_all(errors: Vec<PolicyError>, format: Format) -> Outcome {
    let mut outcome = Outcome::Ok;
    let mut broken = Vec::new();
    let mut unreadable = false;
    for error in errors {
        match error {
            PolicyError::Reported(reported) => {
                unreadable = true;
                outcome = outcome.max(reported);
            }
            PolicyError::NotLoaded {
                file,
                text,
                diagnostics,
            } => {
                outcome = outcome.max(Outcome::PolicyErrors);
                broken.push((file, text, diagnostics));
            }
        }
    }
    if broken.is_empty() && format == Format::Human {
        return outcome;
    }
    let files: Vec<render::Reported<'_, Code>> = broken
        .iter()
        .map(|(file, text, diagnostics)| render::Reported {
            file,
            source: text,
            diagnostics,
        })
        .collect();
    match render::report(format, &files, !unreadable) {
        Ok(()) => outcome,
        Err(failed) => outcome.max(failed),
    }
}

/// A policy's source for the commands that read source only (`compile`),
/// or why not: a policy that is not UTF-8 comes back as
/// [`PolicyError::NotLoaded`] for the caller to render.
pub fn source(path: &Path) -> Result<String, PolicyError> {
    match policy_file(path) {
        None => Err(PolicyError::Reported(Outcome::UsageOrIo)),
        Some(PolicyFile::Source(text) | PolicyFile::Artifact(text)) => Ok(text),
        Some(PolicyFile::NotUtf8 { text, diagnostic }) => Err(PolicyError::NotLoaded {
            file: path.display().to_string(),
            text,
            diagnostics: vec![*diagnostic],
        }),
    }
}

/// The policy at `path`, or why not: a file that cannot be read is a usage
/// error (reported on standard error here), and a policy that does not
/// compile, or a table that does not load, comes back with its diagnostics
/// for the caller to render ([`PolicyError::report`], as `check` does, in
/// the command's format).
/// Loaded by the evaluator's own loader (`Evaluator::from_bytes`, what
/// `from_path` uses), from bytes read here because `-` is standard input; a
/// table compiled from source records `path` as its source, as `compile`
/// does, so rule lines are shown against it.
pub fn policy(path: &Path) -> Result<Evaluator, PolicyError> {
    let file = shown(path);
    let bytes = bytes(path, limit::ARTIFACT).map_err(|error| {
        cannot_read(path, &error);
        PolicyError::Reported(Outcome::UsageOrIo)
    })?;
    let (text, diagnostics) = match Evaluator::from_bytes(&bytes, &file) {
        Ok(evaluator) => return Ok(evaluator),
        Err(LoadError::Read {
            error: ReadError::NotUtf8 { offset, .. },
            ..
        }) => {
            let (text, diagnostic) = not_utf8(&bytes, offset);
            (text, vec![diagnostic])
        }
        Err(LoadError::Read { error, .. }) => {
            cannot_read(path, &error);
            return Err(PolicyError::Reported(Outcome::UsageOrIo));
        }
        Err(LoadError::Artifact(error)) => {
            // A table is only loaded from text that decoded.
            let text = mcp_policy_fs::decode(&bytes).unwrap_or_default().to_owned();
            let diagnostics = artifact_diagnostics(&text, &error);
            (text, diagnostics)
        }
        Err(LoadError::Source {
            source,
            diagnostics,
        }) => (source, diagnostics),
    };
    Err(PolicyError::NotLoaded {
        file: path.display().to_string(),
        text,
        diagnostics,
    })
}

/// A compiled table, every check of the compiler run on it, or why not: its
/// diagnostics against `json`.
pub fn artifact(json: &str) -> Result<DecisionTable, Vec<Diagnostic>> {
    DecisionTable::from_artifact(json).map_err(|error| artifact_diagnostics(json, &error))
}

/// The most defects reported of a table that does not load: a table of a
/// million duplicate rules is refused as well with its first as with all.
const DEFECTS_SHOWN: usize = 20;

/// A table that does not load, as every command reports it: one
/// `mcp_policy::invalid_artifact` diagnostic per reason (each defect the
/// compiler would have rejected, named with its code in the message),
/// pointing where in `json` it can be found (the line and column of a JSON
/// error; the scope, rule or condition a defect names; the field a version
/// lacks), the start of the table when nothing is better.
pub fn artifact_diagnostics(json: &str, error: &ArtifactError) -> Vec<Diagnostic> {
    let diagnostic = |message: String, labels: Vec<(Span, &str)>| {
        let mut diagnostic = Diagnostic::error(Code::InvalidArtifact, message)
            .with_help("recompile the policy with `mcp-policy compile`");
        if labels.is_empty() {
            diagnostic = diagnostic.with_label(start(json), "this table does not load");
        }
        for (span, label) in labels {
            diagnostic = diagnostic.with_label(span, label);
        }
        diagnostic
    };
    match error {
        ArtifactError::Rejected(defects) => {
            let mut diagnostics: Vec<Diagnostic> = defects
                .iter()
                .take(DEFECTS_SHOWN)
                .map(|defect| {
                    diagnostic(
                        format!("invalid decision table: the compiler rejects it: {defect}"),
                        defect_labels(json, defect),
                    )
                })
                .collect();
            if defects.len() > DEFECTS_SHOWN {
                diagnostics.push(diagnostic(
                    format!(
                        "invalid decision table: and {} more defects",
                        defects.len() - DEFECTS_SHOWN
                    ),
                    Vec::new(),
                ));
            }
            diagnostics
        }
        // One reason, found at one place at most.
        ArtifactError::Json(_)
        | ArtifactError::WrongFormat(_)
        | ArtifactError::UnsupportedVersion(_)
        | ArtifactError::FieldTooNew { .. }
        | ArtifactError::Invalid(_) => {
            let place = match error {
                ArtifactError::Json(json_error) => {
                    json_position(json, json_error.line(), json_error.column())
                        .map(|span| (span, "here"))
                }
                ArtifactError::WrongFormat(_) => {
                    find_key(json, "format").map(|span| (span, "not a decision table's format"))
                }
                ArtifactError::UnsupportedVersion(_) => {
                    find_key(json, "version").map(|span| (span, "this version"))
                }
                ArtifactError::FieldTooNew { field, .. } => {
                    find_key(json, field).map(|span| (span, "not in this table's version"))
                }
                _ => None,
            };
            vec![diagnostic(error.to_string(), place.into_iter().collect())]
        }
    }
}

/// Where a defect's scopes, rules or conditions are in the table.
fn defect_labels(json: &str, defect: &Defect) -> Vec<(Span, &'static str)> {
    let one = |text: &str, label| {
        find_value(json, text, 0)
            .map(|span| (span, label))
            .into_iter()
            .collect()
    };
    let two = |first: &str, second: &str, label| {
        let first = find_value(json, first, 0);
        // The second is found past the first, should the two read alike.
        let second = find_value(json, second, first.map_or(0, |span| span.end));
        [(first, label), (second, "and this one")]
            .into_iter()
            .filter_map(|(span, label)| span.map(|span| (span, label)))
            .collect()
    };
    match defect {
        Defect::InvalidScopeName { name, .. } | Defect::ReservedScopeName { name } => {
            one(name, "this scope")
        }
        Defect::ImpliesCycle { scopes } => scopes
            .first()
            .map_or_else(Vec::new, |scope| one(scope, "in the cycle")),
        Defect::EmptyTarget { rule }
        | Defect::TargetTooLong { rule, .. }
        | Defect::TooManyClauses { rule, .. }
        | Defect::MisshapenCondition { rule } => one(&rule.text, "this rule"),
        Defect::DuplicateRule { first, second } | Defect::AmbiguousRules { first, second, .. } => {
            two(&first.text, &second.text, "this rule")
        }
        Defect::InvalidAtom { atom, .. } => one(atom, "this condition"),
        Defect::DuplicateAtom { first, second } => two(first, second, "this condition"),
    }
}

/// The first character of the table (its `{`), where a reason that names
/// no place in it is shown.
fn start(json: &str) -> Span {
    Span::new(0, json.chars().next().map_or(0, char::len_utf8))
}

/// The character at serde_json's 1-based `line` and `column` (`line` 0:
/// none known).
fn json_position(json: &str, line: usize, column: usize) -> Option<Span> {
    if line == 0 {
        return None;
    }
    let line_start = if line == 1 {
        0
    } else {
        json.match_indices('\n').nth(line - 2)?.0 + 1
    };
    let line_end = json[line_start..]
        .find('\n')
        .map_or(json.len(), |end| line_start + end);
    let mut offset = (line_start + column.saturating_sub(1)).min(line_end);
    while !json.is_char_boundary(offset) {
        offset -= 1;
    }
    let width = json[offset..].chars().next().map_or(0, char::len_utf8);
    Some(Span::new(offset, offset + width))
}

/// The first JSON string that reads `value`, written as serde_json writes
/// it, at or past byte `from`.
fn find_value(json: &str, value: &str, from: usize) -> Option<Span> {
    let needle = serde_json::to_string(value).ok()?;
    let start = from + json.get(from..)?.find(&needle)?;
    Some(Span::new(start, start + needle.len()))
}

/// The first object key `key` (a string followed by `:`).
fn find_key(json: &str, key: &str) -> Option<Span> {
    let mut from = 0;
    while let Some(span) = find_value(json, key, from) {
        if json[span.end..].trim_start().starts_with(':') {
            return Some(span);
        }
        from = span.end;
    }
    None
}

/// A path as messages show it, escaped as all text from outside is.
pub fn shown(path: &Path) -> String {
    crate::escape::shown(&path.display().to_string()).to_string()
}
