//! Reading what the commands are given, every input bounded (see
//! `mcp_policy_fs` and docs/SECURITY.md, "Input limits"), and loading a
//! policy for the commands that decide on it: a `.mcppolicy` source
//! (compiled here, its diagnostics handed back for the command to render
//! in its format) or a compiled table written by `mcp-policy compile`.

use std::path::Path;

use mcp_policy_evaluator::{DecisionTable, Evaluator, LoadError};
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
    /// read, a compiled table that does not load): the outcome to exit with.
    Reported(Outcome),
    /// A policy with errors (one that does not compile, or is not UTF-8):
    /// its diagnostics, against `text`, for the caller to render in its
    /// format. `file` is the path as given (renderers escape it).
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
/// the outcome is the worst of theirs.
pub fn report_all(errors: Vec<PolicyError>, format: Format) -> Outcome {
    let mut outcome = Outcome::Ok;
    let mut broken = Vec::new();
    for error in errors {
        match error {
            PolicyError::Reported(reported) => outcome = outcome.max(reported),
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
    if broken.is_empty() {
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
    match render::report(format, &files, true) {
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
/// error, a table that does not load a policy error (both reported on
/// standard error here), and a policy that does not compile comes back
/// with its diagnostics for the caller to render
/// ([`PolicyError::report`], as `check` does, in the command's format).
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
            eprintln!(
                "error: `{file}`: {}",
                crate::escape::shown(&artifact_error(&error))
            );
            return Err(PolicyError::Reported(Outcome::PolicyErrors));
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

/// A compiled table, every check of the compiler run on it, or why not.
pub fn artifact(json: &str) -> Result<DecisionTable, String> {
    DecisionTable::from_artifact(json).map_err(|error| artifact_error(&error))
}

/// A table that does not load, as every command reports it: with its code.
fn artifact_error(error: &mcp_policy_evaluator::ArtifactError) -> String {
    format!("[{ARTIFACT_CODE}] {error}")
}

/// The code of a compiled table that does not load.
pub const ARTIFACT_CODE: &str = "mcp_policy::invalid_artifact";

/// A path as messages show it, escaped as all text from outside is.
pub fn shown(path: &Path) -> String {
    crate::escape::shown(&path.display().to_string()).to_string()
}
