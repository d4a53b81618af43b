//! A test file's tests: the call a principal makes and the decision
//! expected of it, and the checks of each as written.

use mcp_policy_evaluator::{Request, TargetKind};
use mcp_policy_token::Rejection;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::diagnostic::{Code, Diagnostic, backticked, did_you_mean};
use super::file::{Entries, TestFile};
use super::locate::{Step, Target};
use super::principal::Identity;
use super::strict::StrictValue;

#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    pub name: String,
    /// Index in [`TestFile::principals`](TestFile#structfield.principals).
    pub principal: usize,
    pub call: Call,
    /// The call's `params.arguments`, for the policy's `arg.` conditions.
    pub arguments: Option<Map<String, Value>>,
    pub expect: Expect,
}

/// A `tools/call`, `resources/read` or `prompts/get`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub kind: TargetKind,
    pub name: String,
}

impl Call {
    pub fn request(&self) -> Request<'_> {
        Request::new(self.kind, &self.name)
    }
}

/// The outcome a test expects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    Allow,
    /// `missing`, when given: the scopes whose addition would allow,
    /// compared as a set; empty when no scope can allow.
    Deny {
        missing: Option<Vec<String>>,
        /// `failing`, when given: conditions (by their policy text) each of
        /// which must be among those that denied, a failing condition of
        /// the deciding rule or one that made a `deny ... when` fire.
        failing: Option<Vec<String>>,
    },
    /// The token is rejected; `rejection`, when given, says why.
    Unauthenticated {
        rejection: Option<Rejection>,
    },
}

impl Expect {
    pub fn as_str(&self) -> &'static str {
        match self {
            Expect::Allow => "allow",
            Expect::Deny { .. } => "deny",
            Expect::Unauthenticated { .. } => "unauthenticated",
        }
    }
}

impl TestFile {
    /// The tests as written, checked: each naming a principal the file
    /// defines, making exactly one call, and expecting what can happen.
    pub(super) fn cases(&self, raw: Vec<RawCase>, diagnostics: &mut Vec<Diagnostic>) -> Vec<Case> {
        let mut cases = Vec::new();
        for (index, case) in raw.into_iter().enumerate() {
            let at = |field: &str, text: Option<&str>| {
                self.locate_or(
                    &[Step::Key("tests"), Step::Index(index), Step::Key(field)],
                    Target::Node,
                    text,
                    self.case_location(index),
                )
            };
            if let Some(first) = cases.iter().position(|seen: &Case| seen.name == case.name) {
                let first_name = self.locate_or(
                    &[Step::Key("tests"), Step::Index(first), Step::Key("name")],
                    Target::Node,
                    Some(&case.name),
                    self.case_location(first),
                );
                diagnostics.push(
                    Diagnostic::error(
                        Code::DuplicateTest,
                        format!("two tests are named `{}`", case.name),
                    )
                    .with_label(at("name", Some(&case.name)), "named again here")
                    .with_label(first_name, "first used here")
                    .with_help("test names say what fails: make each one unique"),
                );
            }
            let principal = match self.principal_index(&case.principal) {
                Some(principal) => Some(principal),
                // Defined, and reported as invalid already.
                None if self.defines(&case.principal) => None,
                None => {
                    let mut diagnostic = Diagnostic::error(
                        Code::UnknownPrincipal,
                        format!("unknown principal `{}`", case.principal),
                    )
                    .with_label(
                        at("principal", Some(&case.principal)),
                        "not defined under `principals`",
                    );
                    let names = self.principal_names();
                    diagnostic = match did_you_mean(&case.principal, names.iter().copied()) {
                        Some(name) => diagnostic.with_help(format!("did you mean `{name}`?")),
                        None if names.is_empty() => diagnostic
                            .with_help("define it under `principals` (the file defines none)"),
                        None => {
                            diagnostic.with_help(format!("the file defines {}", backticked(&names)))
                        }
                    };
                    diagnostics.push(diagnostic);
                    None
                }
            };
            let call = self.call(index, &case, diagnostics);
            let expect = self.expect(index, &case, principal, diagnostics);
            let arguments = self.arguments(index, case.arguments.as_ref(), diagnostics);
            if let (Some(principal), Some(call), Some(expect), Some(arguments)) =
                (principal, call, expect, arguments)
            {
                cases.push(Case {
                    name: case.name,
                    principal,
                    call,
                    arguments,
                    expect,
                });
            } else {
                // Keep the name, so that a duplicate of it is still reported.
                cases.push(Case {
                    name: case.name,
                    principal: usize::MAX,
                    call: Call {
                        kind: TargetKind::Tool,
                        name: String::new(),
                    },
                    arguments: None,
                    expect: Expect::Allow,
                });
            }
        }
        cases
    }

    fn call(
        &self,
        index: usize,
        case: &RawCase,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<Call> {
        let given: Vec<(&str, TargetKind, &String)> = [
            ("tool", TargetKind::Tool, &case.tool),
            ("resource", TargetKind::Resource, &case.resource),
            ("prompt", TargetKind::Prompt, &case.prompt),
        ]
        .into_iter()
        .filter_map(|(field, kind, name)| name.as_ref().map(|name| (field, kind, name)))
        .collect();
        match given.as_slice() {
            [(_, kind, name)] => Some(Call {
                kind: *kind,
                name: (*name).clone(),
            }),
            [] => {
                diagnostics.push(
                    Diagnostic::error(
                        Code::MissingCall,
                        format!("test `{}` makes no call", case.name),
                    )
                    .with_label(
                        self.case_location(index),
                        "no `tool`, `resource` or `prompt`",
                    )
                    .with_help(
                        "add the call to decide: `tool: NAME`, `resource: URI` or `prompt: NAME`",
                    ),
                );
                None
            }
            [(first, ..), (second, _, name), ..] => {
                let path = [Step::Key("tests"), Step::Index(index)];
                diagnostics.push(
                    Diagnostic::error(
                        Code::ConflictingCalls,
                        format!("test `{}` makes more than one call", case.name),
                    )
                    .with_label(
                        self.locate_or(
                            &path,
                            Target::Key {
                                name: second,
                                occurrence: 0,
                            },
                            Some(second),
                            self.case_location(index),
                        ),
                        format!("`{second}: {name}` here"),
                    )
                    .with_label(
                        self.locate_or(
                            &path,
                            Target::Key {
                                name: first,
                                occurrence: 0,
                            },
                            Some(first),
                            self.case_location(index),
                        ),
                        format!("`{first}` here"),
                    )
                    .with_help("a test decides one call: split it into one test per call"),
                );
                None
            }
        }
    }

    /// A test's `arguments` as a map; `None` (reported) when a key is
    /// given twice: the policy and the server could read either value.
    fn arguments(
        &self,
        index: usize,
        raw: Option<&Entries<StrictValue>>,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<Option<Map<String, Value>>> {
        let Some(raw) = raw else {
            return Some(None);
        };
        let mut arguments = Map::new();
        let mut valid = true;
        for (name, value) in &raw.0 {
            if let Some(duplicate) = &value.duplicate {
                let mut path = vec![
                    Step::Key("tests"),
                    Step::Index(index),
                    Step::Key("arguments"),
                    Step::Key(name),
                ];
                path.extend(duplicate.steps());
                let at = |occurrence| {
                    self.locate_or(
                        &path,
                        Target::Key {
                            name: &duplicate.key,
                            occurrence,
                        },
                        Some(&duplicate.key),
                        self.case_location(index),
                    )
                };
                diagnostics.push(
                    Diagnostic::error(
                        Code::DuplicateKey,
                        format!("argument `{}` is given twice", duplicate.dotted(name)),
                    )
                    .with_label(at(1), "given again here")
                    .with_label(at(0), "first given here")
                    .with_help(
                        "a server reads one of them, the policy may read the other (a server behind mcp-policy refuses such a call): keep one",
                    ),
                );
                valid = false;
            }
            if arguments
                .insert(name.clone(), value.value.clone())
                .is_none()
            {
                continue;
            }
            let path = [
                Step::Key("tests"),
                Step::Index(index),
                Step::Key("arguments"),
            ];
            let occurrence = raw
                .0
                .iter()
                .filter(|(seen, _)| seen == name)
                .count()
                .saturating_sub(1);
            let at = |occurrence| {
                self.locate_or(
                    &path,
                    Target::Key { name, occurrence },
                    Some(name),
                    self.case_location(index),
                )
            };
            diagnostics.push(
                Diagnostic::error(
                    Code::DuplicateKey,
                    format!("argument `{name}` is given twice"),
                )
                .with_label(at(occurrence), "given again here")
                .with_label(at(0), "first given here")
                .with_help("a server reads one of them, the policy may read the other: keep one"),
            );
            valid = false;
        }
        valid.then_some(Some(arguments))
    }

    fn expect(
        &self,
        index: usize,
        case: &RawCase,
        principal: Option<usize>,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<Expect> {
        let path = |field| [Step::Key("tests"), Step::Index(index), Step::Key(field)];
        let key = |field| {
            self.locate_or(
                &[Step::Key("tests"), Step::Index(index)],
                Target::Key {
                    name: field,
                    occurrence: 0,
                },
                Some(field),
                self.case_location(index),
            )
        };
        let before = diagnostics.len();
        let expect = match case.expect {
            RawExpect::Allow => {
                if case
                    .missing
                    .as_ref()
                    .is_some_and(|missing| !missing.is_empty())
                {
                    diagnostics.push(
                        Diagnostic::error(
                            Code::InapplicableField,
                            "an allowed call misses no scope",
                        )
                        .with_label(key("missing"), "`missing` with `expect: allow`")
                        .with_help("expect `deny` to assert what is missing, or remove `missing`"),
                    );
                }
                Expect::Allow
            }
            RawExpect::Deny => {
                let failing = case.failing.clone().map(OneOrMany::into_vec);
                if failing.is_some()
                    && case
                        .missing
                        .as_ref()
                        .is_some_and(|missing| !missing.is_empty())
                {
                    diagnostics.push(
                        Diagnostic::error(
                            Code::InapplicableField,
                            "a call denied by conditions misses no scope",
                        )
                        .with_label(key("missing"), "`missing` with `failing`")
                        .with_help(
                            "no scope can lift a condition: remove `missing`, or `failing` if scopes are what is missing",
                        ),
                    );
                }
                Expect::Deny {
                    missing: case.missing.clone(),
                    failing,
                }
            }
            RawExpect::Unauthenticated => {
                if case.missing.is_some() {
                    diagnostics.push(
                        Diagnostic::error(
                            Code::InapplicableField,
                            "a rejected token never reaches the policy: nothing is missing",
                        )
                        .with_label(key("missing"), "`missing` with `expect: unauthenticated`")
                        .with_help("remove `missing`, or expect `deny`"),
                    );
                }
                if let Some(principal) = principal.and_then(|index| self.principals.get(index))
                    && !matches!(principal.identity, Identity::Jwt(_))
                {
                    diagnostics.push(
                        Diagnostic::error(
                            Code::InapplicableField,
                            format!("principal `{}` has no token to reject", principal.name),
                        )
                        .with_label(
                            self.locate_or(
                                &path("expect"),
                                Target::Node,
                                Some("unauthenticated"),
                                key("expect"),
                            ),
                            "`unauthenticated` needs a `jwt` principal",
                        )
                        .with_help(
                            "only a principal given as a `jwt` is validated, and can be rejected",
                        ),
                    );
                }
                let rejection = case.rejection.as_deref().and_then(|code| {
                    let found = Rejection::ALL
                        .into_iter()
                        .find(|rejection| rejection.as_str() == code);
                    if found.is_none() {
                        let codes = Rejection::ALL.map(Rejection::as_str);
                        let help = match did_you_mean(code, codes) {
                            Some(code) => format!("did you mean `{code}`?"),
                            None => format!("the validator's codes: {}", backticked(&codes)),
                        };
                        diagnostics.push(
                            Diagnostic::error(
                                Code::UnknownRejection,
                                format!("unknown rejection `{code}`"),
                            )
                            .with_label(
                                self.locate_or(
                                    &path("rejection"),
                                    Target::Node,
                                    Some(code),
                                    key("rejection"),
                                ),
                                "not a token validator code",
                            )
                            .with_help(help),
                        );
                    }
                    found
                });
                Expect::Unauthenticated { rejection }
            }
        };
        if case.failing.is_some() && !matches!(case.expect, RawExpect::Deny) {
            diagnostics.push(
                Diagnostic::error(
                    Code::InapplicableField,
                    "only a denied call has failing conditions",
                )
                .with_label(
                    key("failing"),
                    format!("`failing` with `expect: {}`", expect.as_str()),
                )
                .with_help("expect `deny`, or remove `failing`"),
            );
        }
        if case.arguments.is_some() && case.resource.is_some() {
            diagnostics.push(
                Diagnostic::error(
                    Code::InapplicableField,
                    "a resource read has no arguments",
                )
                .with_label(key("arguments"), "`arguments` with `resource`")
                .with_help(
                    "`resources/read` is decided on scopes and claims alone: remove `arguments`",
                ),
            );
        }
        if case.rejection.is_some() && !matches!(case.expect, RawExpect::Unauthenticated) {
            diagnostics.push(
                Diagnostic::error(
                    Code::InapplicableField,
                    "only a rejected token has a rejection",
                )
                .with_label(
                    key("rejection"),
                    format!("`rejection` with `expect: {}`", expect.as_str()),
                )
                .with_help("expect `unauthenticated`, or remove `rejection`"),
            );
        }
        (diagnostics.len() == before).then_some(expect)
    }
}

/// A test as written. Unknown fields are errors: a misspelt `mising` must
/// not turn an assertion into no assertion.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a test: a mapping with `name`, `principal`, a `tool`, `resource` or `prompt`, and `expect`"
)]
pub(super) struct RawCase {
    name: String,
    principal: String,
    tool: Option<String>,
    resource: Option<String>,
    prompt: Option<String>,
    expect: RawExpect,
    missing: Option<Vec<String>>,
    rejection: Option<String>,
    /// `params.arguments`: a mapping (YAML keys are strings here), its
    /// entries in order, so that a key given twice is reported.
    arguments: Option<Entries<StrictValue>>,
    failing: Option<OneOrMany>,
}

/// One condition text, or a list of them.
#[derive(Clone, Deserialize)]
#[serde(
    untagged,
    expecting = "a condition as the policy writes it, or a list of them"
)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        }
    }
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawExpect {
    Allow,
    Deny,
    Unauthenticated,
}
