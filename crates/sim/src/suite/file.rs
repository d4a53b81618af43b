//! The test file: its YAML shape, read by serde_yaml, then checked as a
//! whole — every problem found in one pass, each located in the text.

use std::fmt;
use std::path::{Path, PathBuf};

use mcp_policy_evaluator::{Request, TargetKind};
use mcp_policy_token::Rejection;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::diagnostic::{Code, Diagnostic, Location, did_you_mean};
use super::locate::{self, Step, Target};
use super::time;
use crate::claims::{SCOPE_CLAIMS, scopes_from_claims};

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
    pub principals: Vec<Principal>,
    pub cases: Vec<Case>,
    /// Every principal name under `principals`, the invalid ones too: a
    /// test naming one of those is not a second error.
    defined: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Principal {
    pub name: String,
    pub identity: Identity,
}

/// How a principal's scopes are given.
#[derive(Clone, Debug, PartialEq)]
pub enum Identity {
    /// A `scope` claim: space-delimited.
    Scopes(String),
    /// A validated token's claims, with the scopes read from them as the
    /// runtime reads them (`scope`, `scp`, `permissions`).
    Claims {
        claims: Map<String, Value>,
        scopes: Vec<String>,
    },
    /// A signed token, validated as the server would.
    Jwt(Box<Jwt>),
}

/// A signed token and what its validation needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Jwt {
    pub token: String,
    pub keys: Keys,
    pub issuer: String,
    pub audience: String,
    /// The time validation runs at (seconds since the Unix epoch): pinned,
    /// so that a committed token does not expire out of its test.
    pub now: i64,
    /// Allowed clock skew, in seconds; the validator's default when `None`.
    pub leeway: Option<u64>,
    /// The claims scopes are read from; the validator's default when `None`.
    pub scope_claims: Option<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Keys {
    /// A JWKS file, as written: relative to the test file.
    File(PathBuf),
    /// A JWKS document written in the test file.
    Inline(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    pub name: String,
    /// Index in [`TestFile::principals`].
    pub principal: usize,
    pub call: Call,
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
                Diagnostic::new(
                    Code::Empty,
                    "the test file is empty",
                    Location::start(source),
                )
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
                Diagnostic::new(
                    Code::Empty,
                    "the test file has no tests",
                    file.locate(&[Step::Key("tests")], Target::Node, None)
                        .unwrap_or_else(|| Location::start(source)),
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
            return Ok(lexically_normal(&dir.join(policy)));
        }
        let name = test_file
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_default();
        match name.strip_suffix(".test.yaml").or_else(|| name.strip_suffix(".test.yml")) {
            Some(policy) if !policy.is_empty() => Ok(dir.join(policy)),
            _ => Err(Box::new(Diagnostic::new(
                Code::NoPolicy,
                format!("cannot tell which policy `{name}` tests"),
                Location::start(&self.source),
            )
            .with_help(
                "name the file after its policy (`POLICY.test.yaml`), or add `policy: PATH` (relative to the test file)",
            ))),
        }
    }

    /// Where the test at `index` starts in the text.
    pub fn case_location(&self, index: usize) -> Location {
        self.locate(
            &[Step::Key("tests"), Step::Index(index)],
            Target::Node,
            None,
        )
        .unwrap_or_else(|| Location::start(&self.source))
    }

    /// Where the node at `path` (or a key there) is. `text` is what the
    /// node is expected to say, to span it exactly; without it, the span
    /// runs to the end of the line.
    pub(crate) fn locate(
        &self,
        path: &[Step<'_>],
        target: Target<'_>,
        text: Option<&str>,
    ) -> Option<Location> {
        let yaml = self.source.get(self.bom..)?;
        let offset = locate::offset(yaml, 0, path, target)?.saturating_add(self.bom);
        Some(span(&self.source, offset, text))
    }

    fn locate_or(
        &self,
        path: &[Step<'_>],
        target: Target<'_>,
        text: Option<&str>,
        fallback: Location,
    ) -> Location {
        self.locate(path, target, text).unwrap_or(fallback)
    }

    fn principals(
        &self,
        raw: Entries<RawPrincipal>,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Vec<Principal> {
        let mut principals: Vec<Principal> = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for (name, principal) in &raw.0 {
            let occurrence = seen.iter().filter(|seen| **seen == name.as_str()).count();
            let key = |occurrence| {
                self.locate_or(
                    &[Step::Key("principals")],
                    Target::Key { name, occurrence },
                    Some(name),
                    Location::start(&self.source),
                )
            };
            seen.push(name);
            if occurrence > 0 {
                diagnostics.push(
                    Diagnostic::new(
                        Code::DuplicateKey,
                        format!("principal `{name}` is defined twice"),
                        key(occurrence),
                    )
                    .with_label("defined again here")
                    .with_related(key(0), "first defined here")
                    .with_help("give each principal its own name"),
                );
                continue;
            }
            let context = PrincipalContext {
                file: self,
                name,
                key: key(0),
            };
            if let Some(identity) = context.identity(principal, diagnostics) {
                principals.push(Principal {
                    name: name.clone(),
                    identity,
                });
            }
        }
        principals
    }

    fn cases(&self, raw: Vec<RawCase>, diagnostics: &mut Vec<Diagnostic>) -> Vec<Case> {
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
                    Diagnostic::new(
                        Code::DuplicateTest,
                        format!("two tests are named `{}`", case.name),
                        at("name", Some(&case.name)),
                    )
                    .with_label("named again here")
                    .with_related(first_name, "first used here")
                    .with_help("test names say what fails: make each one unique"),
                );
            }
            let principal = match self.principal_index(&case.principal) {
                Some(principal) => Some(principal),
                // Defined, and reported as invalid already.
                None if self.defined.contains(&case.principal) => None,
                None => {
                    let mut diagnostic = Diagnostic::new(
                        Code::UnknownPrincipal,
                        format!("unknown principal `{}`", case.principal),
                        at("principal", Some(&case.principal)),
                    )
                    .with_label("not defined under `principals`");
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
            if let (Some(principal), Some(call), Some(expect)) = (principal, call, expect) {
                cases.push(Case {
                    name: case.name,
                    principal,
                    call,
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
                    expect: Expect::Allow,
                });
            }
        }
        cases
    }

    fn principal_index(&self, name: &str) -> Option<usize> {
        self.principals
            .iter()
            .position(|principal| principal.name == name)
    }

    fn principal_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.defined.iter().map(String::as_str).collect();
        names.dedup();
        names
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
                    Diagnostic::new(
                        Code::MissingCall,
                        format!("test `{}` makes no call", case.name),
                        self.case_location(index),
                    )
                    .with_label("no `tool`, `resource` or `prompt`")
                    .with_help(
                        "add the call to decide: `tool: NAME`, `resource: URI` or `prompt: NAME`",
                    ),
                );
                None
            }
            [(first, ..), (second, _, name), ..] => {
                let path = [Step::Key("tests"), Step::Index(index)];
                diagnostics.push(
                    Diagnostic::new(
                        Code::ConflictingCalls,
                        format!("test `{}` makes more than one call", case.name),
                        self.locate_or(
                            &path,
                            Target::Key {
                                name: second,
                                occurrence: 0,
                            },
                            Some(second),
                            self.case_location(index),
                        ),
                    )
                    .with_label(format!("`{second}: {name}` here"))
                    .with_related(
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
                        Diagnostic::new(
                            Code::InapplicableField,
                            "an allowed call misses no scope",
                            key("missing"),
                        )
                        .with_label("`missing` with `expect: allow`")
                        .with_help("expect `deny` to assert what is missing, or remove `missing`"),
                    );
                }
                Expect::Allow
            }
            RawExpect::Deny => Expect::Deny {
                missing: case.missing.clone(),
            },
            RawExpect::Unauthenticated => {
                if case.missing.is_some() {
                    diagnostics.push(
                        Diagnostic::new(
                            Code::InapplicableField,
                            "a rejected token never reaches the policy: nothing is missing",
                            key("missing"),
                        )
                        .with_label("`missing` with `expect: unauthenticated`")
                        .with_help("remove `missing`, or expect `deny`"),
                    );
                }
                if let Some(principal) = principal.and_then(|index| self.principals.get(index))
                    && !matches!(principal.identity, Identity::Jwt(_))
                {
                    diagnostics.push(
                        Diagnostic::new(
                            Code::InapplicableField,
                            format!("principal `{}` has no token to reject", principal.name),
                            self.locate_or(
                                &path("expect"),
                                Target::Node,
                                Some("unauthenticated"),
                                key("expect"),
                            ),
                        )
                        .with_label("`unauthenticated` needs a `jwt` principal")
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
                            Diagnostic::new(
                                Code::UnknownRejection,
                                format!("unknown rejection `{code}`"),
                                self.locate_or(
                                    &path("rejection"),
                                    Target::Node,
                                    Some(code),
                                    key("rejection"),
                                ),
                            )
                            .with_label("not a token validator code")
                            .with_help(help),
                        );
                    }
                    found
                });
                Expect::Unauthenticated { rejection }
            }
        };
        if case.rejection.is_some() && !matches!(case.expect, RawExpect::Unauthenticated) {
            diagnostics.push(
                Diagnostic::new(
                    Code::InapplicableField,
                    "only a rejected token has a rejection",
                    key("rejection"),
                )
                .with_label(format!("`rejection` with `expect: {}`", expect.as_str()))
                .with_help("expect `unauthenticated`, or remove `rejection`"),
            );
        }
        (diagnostics.len() == before).then_some(expect)
    }
}

const EMPTY_HELP: &str =
    "a test file names principals and the calls they make: see docs/policy-tests.md";

/// What the checks of one principal need.
struct PrincipalContext<'f> {
    file: &'f TestFile,
    name: &'f str,
    /// Where its name is.
    key: Location,
}

impl PrincipalContext<'_> {
    /// Where a field of the principal is: its key, or its value.
    fn field(&self, field: &str, target: FieldPart, text: Option<&str>) -> Location {
        let path = [Step::Key("principals"), Step::Key(self.name)];
        let found = match target {
            FieldPart::Key => self.file.locate(
                &path,
                Target::Key {
                    name: field,
                    occurrence: 0,
                },
                Some(field),
            ),
            FieldPart::Value => self.file.locate(
                &[
                    Step::Key("principals"),
                    Step::Key(self.name),
                    Step::Key(field),
                ],
                Target::Node,
                text,
            ),
        };
        found.unwrap_or(self.key)
    }

    fn identity(&self, raw: &RawPrincipal, diagnostics: &mut Vec<Diagnostic>) -> Option<Identity> {
        let kinds: Vec<&str> = [
            ("scopes", raw.scopes.is_some()),
            ("claims", raw.claims.is_some()),
            ("jwt", raw.jwt.is_some()),
        ]
        .into_iter()
        .filter_map(|(kind, given)| given.then_some(kind))
        .collect();
        let name = self.name;
        match kinds.as_slice() {
            [] => {
                diagnostics.push(
                    Diagnostic::new(Code::InvalidPrincipal, format!("principal `{name}` has no scopes"), self.key)
                        .with_label("none of `scopes`, `claims`, `jwt`")
                        .with_help(
                            "give a scope string (`scopes: \"mcp:read\"`), a claims object (`claims: { scp: [mcp:read] }`) or a signed token (`jwt`)",
                        ),
                );
                return None;
            }
            [_] => {}
            [first, second, ..] => {
                diagnostics.push(
                    Diagnostic::new(
                        Code::InvalidPrincipal,
                        format!("principal `{name}` is given both as `{first}` and as `{second}`"),
                        self.field(second, FieldPart::Key, None),
                    )
                    .with_label(format!("`{second}` here"))
                    .with_related(
                        self.field(first, FieldPart::Key, None),
                        format!("`{first}` here"),
                    )
                    .with_help("give each principal one way: keep one of them"),
                );
                return None;
            }
        }
        let before = diagnostics.len();
        let token_fields = [
            ("jwks", raw.jwks.is_some()),
            ("issuer", raw.issuer.is_some()),
            ("audience", raw.audience.is_some()),
            ("now", raw.now.is_some()),
            ("leeway", raw.leeway.is_some()),
            ("scope_claims", raw.scope_claims.is_some()),
        ];
        if raw.jwt.is_none() {
            for (field, _) in token_fields.iter().filter(|(_, given)| *given) {
                diagnostics.push(
                    Diagnostic::new(
                        Code::InapplicableField,
                        format!("`{field}` only applies to a principal given as a `jwt`"),
                        self.field(field, FieldPart::Key, None),
                    )
                    .with_label(format!("principal `{name}` has no token"))
                    .with_help(format!(
                        "remove `{field}`, or give the principal as a signed `jwt`"
                    )),
                );
            }
        }
        let identity = if let Some(scopes) = &raw.scopes {
            Identity::Scopes(scopes.clone())
        } else if let Some(claims) = &raw.claims {
            self.claims(claims, diagnostics)?
        } else {
            self.jwt(raw, diagnostics)?
        };
        (diagnostics.len() == before).then_some(identity)
    }

    fn claims(&self, raw: &Entries<Value>, diagnostics: &mut Vec<Diagnostic>) -> Option<Identity> {
        let mut claims = Map::new();
        let mut valid = true;
        for (name, value) in &raw.0 {
            if claims.insert(name.clone(), value.clone()).is_some() {
                let path = [
                    Step::Key("principals"),
                    Step::Key(self.name),
                    Step::Key("claims"),
                ];
                let at = |occurrence| {
                    self.file
                        .locate(&path, Target::Key { name, occurrence }, Some(name))
                        .unwrap_or(self.key)
                };
                let occurrence = raw
                    .0
                    .iter()
                    .filter(|(seen, _)| seen == name)
                    .count()
                    .saturating_sub(1);
                diagnostics.push(
                    Diagnostic::new(
                        Code::DuplicateKey,
                        format!("claim `{name}` is given twice"),
                        at(occurrence),
                    )
                    .with_label("given again here")
                    .with_related(at(0), "first given here")
                    .with_help("a token carries each claim once: keep one"),
                );
                valid = false;
            }
        }
        match scopes_from_claims(&claims) {
            Ok(scopes) if valid => Some(Identity::Claims { claims, scopes }),
            Ok(_) => None,
            Err(_) => {
                // The claim read is the first present, as the runtime reads them.
                let claim = SCOPE_CLAIMS
                    .iter()
                    .copied()
                    .find(|claim| claims.contains_key(*claim))
                    .unwrap_or("scope");
                let location = self
                    .file
                    .locate(
                        &[
                            Step::Key("principals"),
                            Step::Key(self.name),
                            Step::Key("claims"),
                        ],
                        Target::Key {
                            name: claim,
                            occurrence: 0,
                        },
                        Some(claim),
                    )
                    .unwrap_or(self.key);
                diagnostics.push(
                    Diagnostic::new(
                        Code::MalformedScopes,
                        format!("claim `{claim}` of principal `{}` is not a string or an array of strings", self.name),
                        location,
                    )
                    .with_label("the scopes are read from here")
                    .with_help(
                        "`scope` is a space-delimited string (`scope: \"mcp:read mcp:write\"`); `scp` and `permissions` are arrays of strings",
                    ),
                );
                None
            }
        }
    }

    fn jwt(&self, raw: &RawPrincipal, diagnostics: &mut Vec<Diagnostic>) -> Option<Identity> {
        let token = raw.jwt.clone()?;
        let missing: Vec<&str> = [
            ("jwks", raw.jwks.is_none()),
            ("issuer", raw.issuer.is_none()),
            ("audience", raw.audience.is_none()),
            ("now", raw.now.is_none()),
        ]
        .into_iter()
        .filter_map(|(field, absent)| absent.then_some(field))
        .collect();
        if !missing.is_empty() {
            diagnostics.push(
                Diagnostic::new(
                    Code::InvalidPrincipal,
                    format!("principal `{}` is a `jwt` without {}", self.name, backticked(&missing)),
                    self.key,
                )
                .with_label("cannot be validated as the server would")
                .with_help(
                    "a token is validated with the server's settings: `jwks` (a file relative to this one, or the JWKS itself), `issuer`, `audience`, and `now`, the time to validate at (so the test does not expire)",
                ),
            );
            return None;
        }
        let keys = match raw.jwks.as_ref()? {
            Value::String(path) => Keys::File(PathBuf::from(path)),
            Value::Object(document) => Keys::Inline(Value::Object(document.clone()).to_string()),
            _ => {
                diagnostics.push(
                    Diagnostic::new(
                        Code::InvalidPrincipal,
                        "`jwks` is neither a file nor a JWKS document",
                        self.field("jwks", FieldPart::Value, None),
                    )
                    .with_help("give a path relative to the test file, or the JWKS itself (`{ keys: [...] }`)"),
                );
                return None;
            }
        };
        Some(Identity::Jwt(Box::new(Jwt {
            token,
            keys,
            issuer: raw.issuer.clone()?,
            audience: raw.audience.clone()?,
            now: raw.now?.0,
            leeway: raw.leeway,
            scope_claims: raw.scope_claims.clone(),
        })))
    }
}

#[derive(Clone, Copy)]
enum FieldPart {
    Key,
    Value,
}

/// `` `a`, `b` and `c` ``.
fn backticked(words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|word| format!("`{word}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => quoted.concat(),
    }
}

/// A span at `offset`: over `text` when the source says it there (bare or
/// quoted), else to the end of the line.
fn span(source: &str, offset: usize, text: Option<&str>) -> Location {
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
    Location::new(source, offset, len)
}

/// A serde_yaml error as a diagnostic: a syntax error when the text is not
/// YAML at all, else one of shape.
fn yaml_error(source: &str, bom: usize, error: &serde_yaml::Error) -> Diagnostic {
    let yaml = source.get(bom..).unwrap_or_default();
    let Some(location) = error.location() else {
        // Errors without a place: several documents, or a failure of the
        // reader itself.
        if serde_yaml::Deserializer::from_str(yaml).take(2).count() > 1 {
            let second = locate::offset(yaml, 1, &[], Target::Node).map_or_else(
                || Location::start(source),
                |offset| span(source, offset + bom, None),
            );
            return Diagnostic::new(
                Code::MultipleDocuments,
                "the test file holds more than one YAML document",
                second,
            )
            .with_label("a second document starts here")
            .with_help(
                "keep one document per file: remove the `---` separator, or split the file",
            );
        }
        return Diagnostic::new(Code::Syntax, error.to_string(), Location::start(source));
    };
    let offset = location.index().saturating_add(bom);
    // serde_yaml puts the place in the message; it is shown beside it.
    let place = format!(" at line {} column {}", location.line(), location.column());
    let message = error.to_string().replacen(&place, "", 1);
    if serde_yaml::from_str::<serde_yaml::Value>(yaml).is_err() {
        return Diagnostic::new(Code::Syntax, message, Location::new(source, offset, 0));
    }
    let diagnostic = Diagnostic::new(Code::Schema, message, span(source, offset, None));
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

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a principal: a mapping with `scopes`, `claims` or `jwt`"
)]
struct RawPrincipal {
    scopes: Option<String>,
    claims: Option<Entries<Value>>,
    jwt: Option<String>,
    jwks: Option<Value>,
    issuer: Option<String>,
    audience: Option<String>,
    now: Option<time::Time>,
    leeway: Option<u64>,
    scope_claims: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a test: a mapping with `name`, `principal`, a `tool`, `resource` or `prompt`, and `expect`"
)]
struct RawCase {
    name: String,
    principal: String,
    tool: Option<String>,
    resource: Option<String>,
    prompt: Option<String>,
    expect: RawExpect,
    missing: Option<Vec<String>>,
    rejection: Option<String>,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawExpect {
    Allow,
    Deny,
    Unauthenticated,
}

/// A mapping's entries in order, duplicates kept (to be reported, where a
/// map would keep the last silently). `null` is no entries.
struct Entries<T>(Vec<(String, T)>);

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
