//! The test file: its YAML shape, read by serde_yaml, then checked as a
//! whole — every problem found in one pass, each located in the text. Its
//! principals are checked in `principal`, its tests in `case`.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::case::RawCase;
use super::diagnostic::{Code, Diagnostic, Span};
use super::locate::{self, Step, Target};
use super::principal::RawPrincipal;

// The parts of a test file, at the paths they have always had
// (`suite::file::Case`).
pub use super::case::{Call, Case, Expect};
pub use super::principal::{Identity, Jwt, Keys, TestPrincipal};

/// A test file, checked: every principal well-formed, every test naming a
/// principal the file defines and exactly one call.
#[derive(Clone, Debug)]
pub struct TestFile {
    source: String,
    /// The bytes of a leading byte-order mark, which the YAML reader is not
    /// shown: its offsets are shifted by this much.
    bom: usize,
    /// The policy under test, as written (relative to the test file).
    pub policy: Option<String>,
    pub principals: Vec<TestPrincipal>,
    pub cases: Vec<Case>,
    /// Every principal name under `principals`, the invalid ones too: a
    /// test naming one of those is not a second error.
    defined: Vec<String>,
}

impl TestFile {
    /// Reads and checks a test file's text. All the problems found, or none.
    pub fn parse(source: &str) -> Result<TestFile, Vec<Diagnostic>> {
        let bom = if source.starts_with('\u{feff}') {
            '\u{feff}'.len_utf8()
        } else {
            0
        };
        let yaml = source.get(bom..).unwrap_or_default();
        let raw = match serde_yaml::from_str::<Option<RawFile>>(yaml) {
            Ok(raw) => raw,
            Err(error) => return Err(vec![yaml_error(source, bom, &error)]),
        };
        let mut file = TestFile {
            source: source.to_owned(),
            bom,
            policy: None,
            principals: Vec::new(),
            cases: Vec::new(),
            defined: Vec::new(),
        };
        let Some(raw) = raw else {
            return Err(vec![
                Diagnostic::error(Code::Empty, "the test file is empty")
                    .with_label(Span::default(), "")
                    .with_help(EMPTY_HELP),
            ]);
        };
        let mut diagnostics = Vec::new();
        file.policy = raw.policy;
        file.defined = raw
            .principals
            .0
            .iter()
            .map(|(name, _)| name.clone())
            .collect();
        file.principals = file.principals(raw.principals, &mut diagnostics);
        match raw.tests {
            Some(tests) if !tests.is_empty() => file.cases = file.cases(tests, &mut diagnostics),
            _ => diagnostics.push(
                Diagnostic::error(Code::Empty, "the test file has no tests")
                    .with_label(
                        file.locate(&[Step::Key("tests")], Target::Node, None)
                            .unwrap_or_default(),
                        "",
                    )
                    .with_help(EMPTY_HELP),
            ),
        }
        if diagnostics.is_empty() {
            Ok(file)
        } else {
            Err(diagnostics)
        }
    }

    /// The text the file was read from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The policy this file tests: its `policy` field, relative to the test
    /// file, else the test file's name without `.test.yaml` (or `.test.yml`).
    pub fn policy_path(&self, test_file: &Path) -> Result<PathBuf, Box<Diagnostic>> {
        let dir = test_file.parent().unwrap_or_else(|| Path::new(""));
        if let Some(policy) = &self.policy {
            let path = lexically_normal(&dir.join(policy));
            return match policy_path_problem(&path) {
                None => Ok(path),
                Some(problem) => Err(Box::new(
                    Diagnostic::error(
                        Code::PolicyPath,
                        format!("`policy: {}` {problem}", policy.escape_debug()),
                    )
                    .with_label(
                        self.locate_or(
                            &[],
                            Target::Key {
                                name: "policy",
                                occurrence: 0,
                            },
                            None,
                            Span::default(),
                        ),
                        "this policy",
                    )
                    .with_help(
                        "`policy` is a `.mcppolicy` source or a compiled `.json` table (relative to the test file): a test file names nothing else, so that one added in a pull request cannot show other files in the report",
                    ),
                )),
            };
        }
        let name = test_file
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_default();
        match name.strip_suffix(".test.yaml").or_else(|| name.strip_suffix(".test.yml")) {
            Some(policy) if !policy.is_empty() => Ok(dir.join(policy)),
            _ => Err(Box::new(Diagnostic::error(Code::NoPolicy, format!("cannot tell which policy `{name}` tests")).with_label(Span::default(), "")
            .with_help(
                "name the file after its policy (`POLICY.test.yaml`), or add `policy: PATH` (relative to the test file)",
            ))),
        }
    }

    /// Where the test at `index` starts in the text.
    pub fn case_location(&self, index: usize) -> Span {
        self.locate(
            &[Step::Key("tests"), Step::Index(index)],
            Target::Node,
            None,
        )
        .unwrap_or_default()
    }

    /// Where the node at `path` (or a key there) is. `text` is what the
    /// node is expected to say, to span it exactly; without it, the span
    /// runs to the end of the line.
    pub(crate) fn locate(
        &self,
        path: &[Step<'_>],
        target: Target<'_>,
        text: Option<&str>,
    ) -> Option<Span> {
        let yaml = self.source.get(self.bom..)?;
        let offset = locate::offset(yaml, 0, path, target)?.saturating_add(self.bom);
        Some(span(&self.source, offset, text))
    }

    pub(super) fn locate_or(
        &self,
        path: &[Step<'_>],
        target: Target<'_>,
        text: Option<&str>,
        fallback: Span,
    ) -> Span {
        self.locate(path, target, text).unwrap_or(fallback)
    }

    /// The index in [`TestFile::principals`] of the valid principal `name`.
    pub(super) fn principal_index(&self, name: &str) -> Option<usize> {
        self.principals
            .iter()
            .position(|principal| principal.name == name)
    }

    /// Every name under `principals`, as written, for "did you mean".
    pub(super) fn principal_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.defined.iter().map(String::as_str).collect();
        names.dedup();
        names
    }

    /// Whether `principals` names `name`, validly or not: a test naming an
    /// invalid principal is not a second error.
    pub(super) fn defines(&self, name: &str) -> bool {
        self.defined.iter().any(|defined| defined == name)
    }
}

const EMPTY_HELP: &str =
    "a test file names principals and the calls they make: see docs/policy-tests.md";
/// A span at `offset`: over `text` when the source says it there (bare or
/// quoted), else to the end of the line.
fn span(source: &str, offset: usize, text: Option<&str>) -> Span {
    let rest = source.get(offset..).unwrap_or_default();
    let len = match text {
        Some(text) if !text.is_empty() && rest.starts_with(text) => text.len(),
        Some(text)
            if !text.is_empty()
                && ['"', '\''].into_iter().any(|quote| {
                    rest.strip_prefix(quote)
                        .and_then(|rest| rest.strip_prefix(text))
                        .is_some_and(|rest| rest.starts_with(quote))
                }) =>
        {
            text.len() + 2
        }
        _ => rest.lines().next().unwrap_or_default().trim_end().len(),
    };
    Span::within(source, offset, len)
}

/// A serde_yaml error as a diagnostic: a syntax error when the text is not
/// YAML at all, else one of shape.
fn yaml_error(source: &str, bom: usize, error: &serde_yaml::Error) -> Diagnostic {
    let yaml = source.get(bom..).unwrap_or_default();
    // The reader (bad bytes, control characters) marks the file's start and
    // says where in its message, "... at position N": point there.
    let message = error.to_string();
    if let Some((problem, position)) = message.rsplit_once(" at position ")
        && let Ok(offset) = position.parse::<usize>()
    {
        let at = Span::within(source, offset.saturating_add(bom), 1);
        return Diagnostic::error(Code::Syntax, problem).with_label(at, "");
    }
    let Some(location) = error.location() else {
        // Errors without a place: several documents, or a failure of the
        // reader itself.
        if serde_yaml::Deserializer::from_str(yaml).take(2).count() > 1 {
            let second = locate::offset(yaml, 1, &[], Target::Node)
                .map_or_else(Span::default, |offset| span(source, offset + bom, None));
            return Diagnostic::error(
                Code::MultipleDocuments,
                "the test file holds more than one YAML document",
            )
            .with_label(second, "a second document starts here")
            .with_help(
                "keep one document per file: remove the `---` separator, or split the file",
            );
        }
        return Diagnostic::error(Code::Syntax, error.to_string()).with_label(Span::default(), "");
    };
    let offset = location.index().saturating_add(bom);
    // serde_yaml puts the place in the message; it is shown beside it.
    let place = format!(" at line {} column {}", location.line(), location.column());
    let message = error.to_string().replacen(&place, "", 1);
    if serde_yaml::from_str::<serde_yaml::Value>(yaml).is_err() {
        return Diagnostic::error(Code::Syntax, message)
            .with_label(Span::within(source, offset, 0), "");
    }
    let diagnostic =
        Diagnostic::error(Code::Schema, message).with_label(span(source, offset, None), "");
    if error.to_string().contains("unknown field") {
        diagnostic.with_help("docs/policy-tests.md lists every field")
    } else {
        diagnostic
    }
}

// The YAML as written. Unknown fields are errors: a misspelt `mising` must
// not turn an assertion into no assertion.

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a test file: a mapping with `principals` and `tests`"
)]
struct RawFile {
    #[serde(default)]
    policy: Option<String>,
    #[serde(default)]
    principals: Entries<RawPrincipal>,
    #[serde(default)]
    tests: Option<Vec<RawCase>>,
}
/// A mapping's entries in order, duplicates kept (to be reported, where a
/// map would keep the last silently). `null` is no entries.
pub(super) struct Entries<T>(pub(super) Vec<(String, T)>);

impl<T> Default for Entries<T> {
    fn default() -> Entries<T> {
        Entries(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Entries<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Entries<T>, D::Error> {
        struct EntriesVisitor<T>(std::marker::PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for EntriesVisitor<T> {
            type Value = Entries<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }

            fn visit_unit<E: de::Error>(self) -> Result<Entries<T>, E> {
                Ok(Entries(Vec::new()))
            }

            fn visit_none<E: de::Error>(self) -> Result<Entries<T>, E> {
                Ok(Entries(Vec::new()))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries<T>, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, T>()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }

        deserializer.deserialize_any(EntriesVisitor(std::marker::PhantomData))
    }
}

/// `a/b/../c` as `a/c`, so that messages name the policy as a reader would
/// write it. Lexical: a `..` after a symlinked directory would resolve
/// elsewhere, which test files beside their policy do not do.
/// Why a `policy:` cannot be read as one, or `None`: it, and the file a
/// link there leads to, must be named as a policy (`.mcppolicy`) or a
/// compiled table (`.json`). A test file comes with pull requests; a
/// policy is shown in the report when it does not compile, so
/// `policy: /proc/self/environ` would print the environment.
fn policy_path_problem(resolved: &Path) -> Option<&'static str> {
    let named_as_policy = |path: &Path| {
        path.extension()
            .is_some_and(|extension| extension == "mcppolicy" || extension == "json")
    };
    if !named_as_policy(resolved) {
        return Some("does not name a `.mcppolicy` or `.json` file");
    }
    match std::fs::canonicalize(resolved) {
        Ok(target) if !named_as_policy(&target) => {
            Some("is a link to a file that is not named as a policy")
        }
        _ => None,
    }
}

fn lexically_normal(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut parts: Vec<Component<'_>> = Vec::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir if matches!(parts.last(), Some(Component::Normal(_))) => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        return PathBuf::from(".");
    }
    parts.iter().collect()
}
