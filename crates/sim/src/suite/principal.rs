//! A test file's principals: who makes the calls — a scope string, a
//! token's claims, or a signed token with what its validation needs — and
//! the checks of each as written.

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::diagnostic::{Code, Diagnostic, Span, backticked};
use super::file::{Entries, TestFile};
use super::locate::{Step, Target};
use super::strict::StrictValue;
use super::time;
use crate::claims::{malformed_claim, scopes_from_claims};

#[derive(Clone, Debug, PartialEq)]
pub struct TestPrincipal {
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

impl TestFile {
    /// The principals as written, checked: each name defined once, each
    /// given one well-formed way. Only the valid ones are kept.
    pub(super) fn principals(
        &self,
        raw: Entries<RawPrincipal>,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Vec<TestPrincipal> {
        let mut principals: Vec<TestPrincipal> = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for (name, principal) in &raw.0 {
            let occurrence = seen.iter().filter(|seen| **seen == name.as_str()).count();
            let key = |occurrence| {
                self.locate_or(
                    &[Step::Key("principals")],
                    Target::Key { name, occurrence },
                    Some(name),
                    Span::default(),
                )
            };
            seen.push(name);
            if occurrence > 0 {
                diagnostics.push(
                    Diagnostic::error(
                        Code::DuplicateKey,
                        format!("principal `{name}` is defined twice"),
                    )
                    .with_label(key(occurrence), "defined again here")
                    .with_label(key(0), "first defined here")
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
                principals.push(TestPrincipal {
                    name: name.clone(),
                    identity,
                });
            }
        }
        principals
    }
}

/// What the checks of one principal need.
struct PrincipalContext<'f> {
    file: &'f TestFile,
    name: &'f str,
    /// Where its name is.
    key: Span,
}

impl PrincipalContext<'_> {
    /// Where a field of the principal is: its key, or its value.
    fn field(&self, field: &str, target: FieldPart, text: Option<&str>) -> Span {
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
                    Diagnostic::error(Code::InvalidPrincipal, format!("principal `{name}` has no scopes")).with_label(self.key, "none of `scopes`, `claims`, `jwt`")
                        .with_help(
                            "give a scope string (`scopes: \"mcp:read\"`), a claims object (`claims: { scp: [mcp:read] }`) or a signed token (`jwt`)",
                        ),
                );
                return None;
            }
            [_] => {}
            [first, second, ..] => {
                diagnostics.push(
                    Diagnostic::error(
                        Code::InvalidPrincipal,
                        format!("principal `{name}` is given both as `{first}` and as `{second}`"),
                    )
                    .with_label(
                        self.field(second, FieldPart::Key, None),
                        format!("`{second}` here"),
                    )
                    .with_label(
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
                    Diagnostic::error(
                        Code::InapplicableField,
                        format!("`{field}` only applies to a principal given as a `jwt`"),
                    )
                    .with_label(
                        self.field(field, FieldPart::Key, None),
                        format!("principal `{name}` has no token"),
                    )
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

    fn claims(
        &self,
        raw: &Entries<StrictValue>,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<Identity> {
        let mut claims = Map::new();
        let mut valid = true;
        for (name, value) in &raw.0 {
            if let Some(duplicate) = &value.duplicate {
                let mut path = vec![
                    Step::Key("principals"),
                    Step::Key(self.name),
                    Step::Key("claims"),
                    Step::Key(name),
                ];
                path.extend(duplicate.steps());
                let at = |occurrence| {
                    self.file
                        .locate(
                            &path,
                            Target::Key {
                                name: &duplicate.key,
                                occurrence,
                            },
                            Some(&duplicate.key),
                        )
                        .unwrap_or(self.key)
                };
                diagnostics.push(
                    Diagnostic::error(
                        Code::DuplicateKey,
                        format!("claim `{}` is given twice", duplicate.dotted(name)),
                    )
                    .with_label(at(1), "given again here")
                    .with_label(at(0), "first given here")
                    .with_help("a token carries each key once: keep one"),
                );
                valid = false;
            }
            if claims.insert(name.clone(), value.value.clone()).is_some() {
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
                    Diagnostic::error(Code::DuplicateKey, format!("claim `{name}` is given twice"))
                        .with_label(at(occurrence), "given again here")
                        .with_label(at(0), "first given here")
                        .with_help("a token carries each claim once: keep one"),
                );
                valid = false;
            }
        }
        match scopes_from_claims(&claims) {
            Ok(scopes) if valid => Some(Identity::Claims { claims, scopes }),
            Ok(_) => None,
            Err(_) => {
                // Every scope claim is read: point at the one that is malformed.
                let claim = malformed_claim(&claims).unwrap_or("scope");
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
                    Diagnostic::error(Code::MalformedScopes, format!("claim `{claim}` of principal `{}` is not a string or an array of strings", self.name)).with_label(location, "the scopes are read from here")
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
                Diagnostic::error(Code::InvalidPrincipal, format!("principal `{}` is a `jwt` without {}", self.name, backticked(&missing))).with_label(self.key, "cannot be validated as the server would")
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
                    Diagnostic::error(Code::InvalidPrincipal, "`jwks` is neither a file nor a JWKS document").with_label(self.field("jwks", FieldPart::Value, None), "")
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

/// A principal as written. Unknown fields are errors, as everywhere in the
/// file.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a principal: a mapping with `scopes`, `claims` or `jwt`"
)]
pub(super) struct RawPrincipal {
    scopes: Option<String>,
    claims: Option<Entries<StrictValue>>,
    jwt: Option<String>,
    jwks: Option<Value>,
    issuer: Option<String>,
    audience: Option<String>,
    now: Option<time::Time>,
    leeway: Option<u64>,
    scope_claims: Option<Vec<String>>,
}
