//! Running a test file on a policy: each principal's scopes (a signed token
//! validated by the runtime's own validator), each call decided and
//! explained, and the outcome compared with what the test expects.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use mcp_policy_evaluator::{Context, Evaluator, Explained, TargetKind};
use mcp_policy_token::{
    ConfigError, KeySource, ManualClock, Principal, Rejection, Validator, ValidatorConfig,
};
use serde_json::{Map, Value};

use super::diagnostic::{Code, Diagnostic, did_you_mean};
use super::file::{Call, Case, Expect, Identity, Jwt, Keys, TestFile};
use super::locate::{Step, Target};

/// What a test file's run found: one result per test, in file order.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub cases: Vec<CaseResult>,
}

impl Report {
    pub fn passed(&self) -> usize {
        self.cases.iter().filter(|case| case.passed()).count()
    }

    pub fn failed(&self) -> usize {
        self.cases.len() - self.passed()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct CaseResult {
    /// Index of the test in the file (see [`TestFile::case_location`]).
    pub index: usize,
    pub name: String,
    pub principal: String,
    pub call: Call,
    pub expect: Expect,
    pub got: Got,
    /// `None` when the test passed.
    pub failure: Option<Failure>,
}

impl CaseResult {
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

/// What happened to the call.
#[derive(Clone, Debug, PartialEq)]
pub enum Got {
    /// The policy decided.
    Decision(Explained),
    /// The token was rejected: the policy was never asked.
    Rejected(Rejection),
}

/// Why a test failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The policy allowed what was to be denied, or the reverse.
    Decision,
    /// Denied as expected, but another set of scopes would allow.
    MissingScopes,
    /// The token was rejected, where the test expects the policy to decide.
    TokenRejected,
    /// The token was valid, where the test expects it rejected.
    TokenAccepted,
    /// Rejected, for another reason than the expected one.
    Rejection,
    /// Denied as expected, but not by the conditions `failing` names (by
    /// scopes, a deny rule, the default, or other conditions).
    Conditions,
}

/// Runs every test of `file` on `policy`. Paths in the file (JWKS files)
/// are relative to `base`, the test file's directory.
///
/// The diagnostics are the file's problems only this run can see: `missing`
/// naming a scope the policy does not declare, keys that cannot be read.
pub fn run(file: &TestFile, base: &Path, policy: &Evaluator) -> Result<Report, Vec<Diagnostic>> {
    let mut diagnostics = check_scopes(file, policy);
    diagnostics.extend(check_conditions(file, policy));
    let identities: Vec<Option<Result<Principal, Rejection>>> = file
        .principals
        .iter()
        .map(|principal| match &principal.identity {
            Identity::Scopes(_) | Identity::Claims { .. } => None,
            Identity::Jwt(jwt) => match validate(jwt, base) {
                Ok(result) => Some(result),
                Err(error) => {
                    diagnostics.push(keys_error(file, &principal.name, &error));
                    None
                }
            },
        })
        .collect();
    if !diagnostics.is_empty() {
        return Err(diagnostics);
    }
    let cases = file
        .cases
        .iter()
        .enumerate()
        .filter_map(|(index, case)| {
            let principal = file.principals.get(case.principal)?;
            let granted = match (&principal.identity, identities.get(case.principal)) {
                (Identity::Scopes(scopes), _) => Ok(Granted::String(scopes)),
                (Identity::Claims { scopes, claims }, _) => Ok(Granted::List(scopes, claims)),
                (Identity::Jwt(_), Some(Some(Ok(principal)))) => {
                    Ok(Granted::List(&principal.scopes, &principal.claims))
                }
                (Identity::Jwt(_), Some(Some(Err(rejection)))) => Err(*rejection),
                (Identity::Jwt(_), _) => return None,
            };
            Some(run_case(index, case, &principal.name, granted, policy))
        })
        .collect();
    Ok(Report { cases })
}

/// A principal's scopes, in the form they were given, with the claims
/// `claim.` conditions read (none for a principal given as scopes).
enum Granted<'a> {
    String(&'a str),
    List(&'a [String], &'a Map<String, Value>),
}

impl Granted<'_> {
    fn names(&self) -> Vec<&str> {
        match self {
            Granted::String(scopes) => mcp_policy_evaluator::scope_tokens(scopes).collect(),
            Granted::List(scopes, _) => scopes.iter().map(String::as_str).collect(),
        }
    }

    fn claims(&self) -> Option<&Map<String, Value>> {
        match self {
            Granted::String(_) => None,
            Granted::List(_, claims) => Some(claims),
        }
    }
}

fn run_case(
    index: usize,
    case: &Case,
    principal: &str,
    granted: Result<Granted<'_>, Rejection>,
    policy: &Evaluator,
) -> CaseResult {
    let got = match granted {
        Err(rejection) => Got::Rejected(rejection),
        Ok(granted) => Got::Decision(decide(case, &granted, policy)),
    };
    let failure = match (&case.expect, &got) {
        (Expect::Unauthenticated { .. }, Got::Decision(_)) => Some(Failure::TokenAccepted),
        (
            Expect::Unauthenticated {
                rejection: Some(expected),
            },
            Got::Rejected(got),
        ) if expected != got => Some(Failure::Rejection),
        (Expect::Unauthenticated { .. }, Got::Rejected(_)) => None,
        (Expect::Allow | Expect::Deny { .. }, Got::Rejected(_)) => Some(Failure::TokenRejected),
        (Expect::Allow, Got::Decision(decided)) => (!decided.allowed).then_some(Failure::Decision),
        (Expect::Deny { missing, failing }, Got::Decision(decided)) => {
            if decided.allowed {
                Some(Failure::Decision)
            } else if let Some(failing) = failing
                && !failing.iter().all(|atom| {
                    decided.failed_conditions.contains(atom) || decided.denied_when.contains(atom)
                })
            {
                Some(Failure::Conditions)
            } else {
                missing.as_ref().and_then(|missing| {
                    let expected: BTreeSet<&str> = missing.iter().map(String::as_str).collect();
                    let got: BTreeSet<&str> =
                        decided.missing_scopes.iter().map(String::as_str).collect();
                    (expected != got).then_some(Failure::MissingScopes)
                })
            }
        }
    };
    CaseResult {
        index,
        name: case.name.clone(),
        principal: principal.to_owned(),
        call: case.call.clone(),
        expect: case.expect.clone(),
        got,
        failure,
    }
}

/// Decided as a server decides: the call's arguments (none for a resource
/// read) and the principal's claims.
fn decide(case: &Case, granted: &Granted<'_>, policy: &Evaluator) -> Explained {
    let arguments = match case.call.kind {
        TargetKind::Resource => None,
        TargetKind::Tool | TargetKind::Prompt => case.arguments.as_ref(),
    };
    let context = Context::new(arguments, granted.claims());
    policy.explained_in(case.call.request(), &granted.names(), &context)
}

/// The token validated as the server would: the same validator, at the
/// test's pinned time. `Err` when the validator cannot be built.
fn validate(jwt: &Jwt, base: &Path) -> Result<Result<Principal, Rejection>, ConfigError> {
    let keys = match &jwt.keys {
        Keys::File(path) => KeySource::File(base.join(path)),
        Keys::Inline(document) => KeySource::Jwks(document.clone()),
    };
    let mut config = ValidatorConfig::new(jwt.issuer.clone(), jwt.audience.clone(), keys);
    config.clock = Arc::new(ManualClock::new(jwt.now));
    if let Some(leeway) = jwt.leeway {
        config.leeway = Duration::from_secs(leeway);
    }
    if let Some(claims) = &jwt.scope_claims {
        config.scope_claims.clone_from(claims);
    }
    let validator = Validator::new(config)?;
    Ok(validator.validate_with_keys(&jwt.token))
}

fn keys_error(file: &TestFile, principal: &str, error: &ConfigError) -> Diagnostic {
    let field = match error {
        ConfigError::NoIssuer => "issuer",
        ConfigError::NoAudience => "audience",
        _ => "jwks",
    };
    let location = file
        .locate(
            &[
                Step::Key("principals"),
                Step::Key(principal),
                Step::Key(field),
            ],
            Target::Node,
            None,
        )
        .unwrap_or_default();
    Diagnostic::error(
        Code::InvalidKeys,
        format!("cannot validate principal `{principal}`'s token: {error}"),
    )
    .with_label(location, "")
    .with_help(
        "`jwks` is a JWKS file relative to the test file, or the JWKS itself (`{ keys: [...] }`)",
    )
}

/// `missing` names scopes the policy declares: any other can never be
/// missing, and the test could never pass.
fn check_scopes(file: &TestFile, policy: &Evaluator) -> Vec<Diagnostic> {
    let catalog = policy.table().scopes();
    let declared: Vec<&str> = catalog.iter().map(|(_, info)| info.name.as_str()).collect();
    let mut diagnostics = Vec::new();
    for (index, case) in file.cases.iter().enumerate() {
        let Expect::Deny {
            missing: Some(missing),
            ..
        } = &case.expect
        else {
            continue;
        };
        for (item, scope) in missing.iter().enumerate() {
            if catalog.lookup(scope).is_some() {
                continue;
            }
            let location = file
                .locate(
                    &[
                        Step::Key("tests"),
                        Step::Index(index),
                        Step::Key("missing"),
                        Step::Index(item),
                    ],
                    Target::Node,
                    Some(scope),
                )
                .unwrap_or_else(|| file.case_location(index));
            let diagnostic =
                Diagnostic::error(Code::UnknownScope, format!("unknown scope `{scope}`"))
                    .with_label(location, "the policy does not declare it");
            diagnostics.push(match did_you_mean(scope, declared.iter().copied()) {
                Some(name) => diagnostic.with_help(format!("did you mean `{name}`?")),
                None => {
                    diagnostic.with_help("a scope the policy does not declare can never be missing")
                }
            });
        }
    }
    diagnostics
}

/// `failing` names conditions as the policy writes them (each atom's
/// canonical text): any other can never be among those that denied, and
/// the test could never pass.
fn check_conditions(file: &TestFile, policy: &Evaluator) -> Vec<Diagnostic> {
    let atoms = policy.table().atoms();
    let texts: Vec<&str> = atoms.iter().map(|(_, info)| info.text.as_str()).collect();
    let mut diagnostics = Vec::new();
    for (index, case) in file.cases.iter().enumerate() {
        let Expect::Deny {
            failing: Some(failing),
            ..
        } = &case.expect
        else {
            continue;
        };
        for (item, atom) in failing.iter().enumerate() {
            if texts.contains(&atom.as_str()) {
                continue;
            }
            let mut path = vec![Step::Key("tests"), Step::Index(index), Step::Key("failing")];
            if failing.len() > 1 {
                path.push(Step::Index(item));
            }
            let location = file
                .locate(&path, Target::Node, Some(atom))
                .unwrap_or_else(|| file.case_location(index));
            let diagnostic = Diagnostic::error(
                Code::UnknownCondition,
                format!("unknown condition `{atom}`"),
            )
            .with_label(location, "the policy has no such condition");
            diagnostics.push(match did_you_mean(atom, texts.iter().copied()) {
                Some(text) => diagnostic.with_help(format!("did you mean `{text}`?")),
                None if texts.is_empty() => diagnostic.with_help("the policy has no conditions"),
                None => diagnostic.with_help(format!(
                    "write a condition as the policy does (`mcp-policy explain` shows each one evaluated); the policy has {}",
                    super::diagnostic::backticked(&texts)
                )),
            });
        }
    }
    diagnostics
}
