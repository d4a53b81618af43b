//! Policy decisions for MCP servers.
//!
//! Load a policy once, parse each token's scopes once, then decide every
//! `tools/call`, `resources/read` and `prompts/get`:
//!
//! ```
//! use mcp_policy_evaluator::{Evaluator, Request};
//!
//! let policy = Evaluator::from_source(r#"
//!     scope mcp:read  level read
//!     scope mcp:admin level admin implies mcp:read
//!     tool search_repos requires mcp:read
//!     tool delete_repo  requires mcp:admin
//! "#).expect("valid policy");
//!
//! let token = policy.parse_scopes("mcp:read github:repos"); // once per token
//! assert!(policy.is_allowed(Request::CallTool("search_repos"), &token));
//!
//! let why = policy.explained(Request::CallTool("delete_repo"), &["mcp:read"]);
//! assert!(!why.allowed);
//! assert_eq!(why.missing_scopes, ["mcp:admin"]);
//! ```
//!
//! Servers that ship a compiled artifact (`mcp-policy compile`) can turn
//! off the default `source` feature and carry no parser:
//! [`Evaluator::from_artifact`]. An [`Evaluator`] is `Send + Sync`; share it
//! in an `Arc`. [`Evaluator::decide`] and [`Evaluator::is_allowed`] do not
//! allocate.
//!
//! A policy with conditions on arguments and claims decides on a
//! [`Context`]: [`Evaluator::decide_in`] (no allocation either),
//! [`Evaluator::explained_in`] (which atoms were evaluated, on what
//! values), [`Evaluator::may_allow`] for lists, and
//! [`Evaluator::logged_arguments`] for the decision log. `decide` is
//! `decide_in` on an empty context, where every condition atom is false.

use std::fmt;
use std::path::Path;

pub use mcp_policy_table::{
    ArtifactError, AtomId, AtomTrace, Basis, Context, Decision, DecisionTable, DefaultEffect,
    Defect, Falsity, Level, Remedy, Rule, RuleId, ScopeId, ScopeSet, TargetKind, condition, method,
    scope_tokens,
};
use serde_json::{Map, Value};

/// The `tracing` target of the decision events: the HTTP layer writes them
/// under it, and the simulator replays the lines that carry it. It is
/// defined here, the one crate both depend on, so that the two cannot drift
/// (the simulator must not depend on the HTTP stack to read a log).
pub const DECISION_LOG_TARGET: &str = "mcp_policy::decision";

/// One request to decide: the MCP method and its name or URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Request<'a> {
    /// `tools/call`, by tool name.
    CallTool(&'a str),
    /// `resources/read`, by resource URI.
    ReadResource(&'a str),
    /// `prompts/get`, by prompt name.
    GetPrompt(&'a str),
}

impl<'a> Request<'a> {
    /// The request for a JSON-RPC method and its `name` (or `uri`), or
    /// `None` for methods a policy does not govern.
    pub fn from_method(method: &str, name: &'a str) -> Option<Request<'a>> {
        TargetKind::of_method(method).map(|kind| Request::new(kind, name))
    }

    pub fn new(kind: TargetKind, name: &'a str) -> Request<'a> {
        match kind {
            TargetKind::Tool => Request::CallTool(name),
            TargetKind::Resource => Request::ReadResource(name),
            TargetKind::Prompt => Request::GetPrompt(name),
        }
    }

    pub fn kind(self) -> TargetKind {
        match self {
            Request::CallTool(_) => TargetKind::Tool,
            Request::ReadResource(_) => TargetKind::Resource,
            Request::GetPrompt(_) => TargetKind::Prompt,
        }
    }

    pub fn name(self) -> &'a str {
        match self {
            Request::CallTool(name) | Request::ReadResource(name) | Request::GetPrompt(name) => {
                name
            }
        }
    }
}

impl fmt::Display for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} `{}`", self.kind().method(), self.name())
    }
}

/// Why a policy could not be loaded. Loading never half-succeeds: on error
/// there is no evaluator, and a server keeps the one it had.
#[derive(Debug)]
pub enum LoadError {
    /// The file could not be read: missing, not a regular file (a FIFO or
    /// device is never opened), past its size limit, or not UTF-8.
    Read {
        path: String,
        error: mcp_policy_fs::ReadError,
    },
    Artifact(ArtifactError),
    /// The source has errors; render them against `source`, the text they
    /// point into, with [`mcp_policy_lang::Diagnostic::report`].
    #[cfg(feature = "source")]
    Source {
        source: String,
        diagnostics: Vec<mcp_policy_lang::Diagnostic>,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Read { path, error } => {
                write!(f, "cannot read `{path}`: {error} [{}]", error.code())
            }
            LoadError::Artifact(error) => error.fmt(f),
            #[cfg(feature = "source")]
            LoadError::Source { diagnostics, .. } => {
                let errors = diagnostics.iter().filter(|d| d.is_error()).count();
                write!(f, "the policy has {errors} error(s)")?;
                if let Some(first) = diagnostics.iter().find(|d| d.is_error()) {
                    write!(f, "; the first: {} [{}]", first.message, first.code)?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadError::Read { error, .. } => Some(error),
            LoadError::Artifact(error) => Some(error),
            #[cfg(feature = "source")]
            LoadError::Source { .. } => None,
        }
    }
}

/// `true` for the text of a compiled table (a JSON object): a policy's
/// source never starts with `{`. The one test of which a file is.
pub fn is_artifact(text: &str) -> bool {
    text.trim_start().starts_with('{')
}

/// A loaded policy, ready to decide.
#[derive(Clone, Debug)]
pub struct Evaluator {
    table: DecisionTable,
}

impl Evaluator {
    pub fn new(table: DecisionTable) -> Evaluator {
        Evaluator { table }
    }

    /// Loads a compiled artifact (see `mcp-policy compile`).
    pub fn from_artifact(json: &str) -> Result<Evaluator, LoadError> {
        DecisionTable::from_artifact(json)
            .map(Evaluator::new)
            .map_err(LoadError::Artifact)
    }

    /// Compiles `.mcppolicy` source.
    #[cfg(feature = "source")]
    pub fn from_source(source: &str) -> Result<Evaluator, LoadError> {
        let compilation = mcp_policy_lang::compile_source(source);
        match compilation.table {
            Some(table) => Ok(Evaluator::new(table)),
            None => Err(LoadError::Source {
                source: source.to_owned(),
                diagnostics: compilation.diagnostics,
            }),
        }
    }

    /// Loads a file: an artifact when it holds one (JSON), else source
    /// (with the `source` feature). Only a regular file is read, and at most
    /// [`mcp_policy_fs::limit::ARTIFACT`] of it
    /// ([`mcp_policy_fs::limit::POLICY`] for source); a leading byte-order
    /// mark is skipped.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Evaluator, LoadError> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let bytes = mcp_policy_fs::read(path, mcp_policy_fs::limit::ARTIFACT).map_err(|error| {
            LoadError::Read {
                path: origin.clone(),
                error,
            }
        })?;
        Evaluator::from_bytes(&bytes, &origin)
    }

    /// Loads a policy's bytes as [`Evaluator::from_path`] loads a file's,
    /// for a caller that read them itself (from standard input, say):
    /// `origin` names them in errors, and a table compiled from source
    /// records it as its source file. The bytes are bounded by the caller;
    /// source past [`mcp_policy_fs::limit::POLICY`] is refused here.
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<Evaluator, LoadError> {
        use mcp_policy_fs::{ReadError, limit};
        let failed = |error| LoadError::Read {
            path: origin.to_owned(),
            error,
        };
        let text = mcp_policy_fs::decode(bytes).map_err(failed)?;
        if is_artifact(text) {
            return Evaluator::from_artifact(text);
        }
        if bytes.len() as u64 > limit::POLICY.bytes {
            return Err(failed(ReadError::TooLarge {
                limit: limit::POLICY,
            }));
        }
        #[cfg(feature = "source")]
        {
            Evaluator::from_source(text)
                .map(|evaluator| Evaluator::new(evaluator.table.with_source(origin.to_owned())))
        }
        #[cfg(not(feature = "source"))]
        Evaluator::from_artifact(text)
    }

    pub fn table(&self) -> &DecisionTable {
        &self.table
    }

    /// A token's scope set, from its `scope` claim (space-delimited). Do this
    /// once per token. Scopes the policy does not declare are ignored.
    pub fn parse_scopes(&self, scope: &str) -> ScopeSet {
        self.table.parse_scopes(scope)
    }

    /// A token's scope set from a list of names (`scp` arrays and the like).
    pub fn scope_set<'s>(&self, names: impl IntoIterator<Item = &'s str>) -> ScopeSet {
        self.table.scopes().scope_set(names)
    }

    /// Decides one request. Does not allocate.
    #[inline]
    pub fn decide(&self, request: Request<'_>, scopes: &ScopeSet) -> Decision {
        self.table.decide(request.kind(), request.name(), scopes)
    }

    /// `true` when the request is allowed. Does not allocate.
    #[inline]
    pub fn is_allowed(&self, request: Request<'_>, scopes: &ScopeSet) -> bool {
        self.decide(request, scopes).allowed
    }

    /// Decides one request on its arguments and claims. Does not allocate.
    #[inline]
    pub fn decide_in(
        &self,
        request: Request<'_>,
        scopes: &ScopeSet,
        context: &Context<'_>,
    ) -> Decision {
        self.table
            .decide_in(request.kind(), request.name(), scopes, context)
    }

    /// `true` when the request is allowed on its arguments and claims.
    #[inline]
    pub fn is_allowed_in(
        &self,
        request: Request<'_>,
        scopes: &ScopeSet,
        context: &Context<'_>,
    ) -> bool {
        self.decide_in(request, scopes, context).allowed
    }

    /// Whether a list (`tools/list`, `prompts/list`, `resources/list`)
    /// shows the target: some arguments could be allowed with these scopes
    /// and claims (claim atoms evaluated, argument atoms assumed
    /// satisfiable; a `deny ... when` hides it only when true from the
    /// claims alone). For a policy without conditions, `is_allowed`.
    pub fn may_allow(
        &self,
        request: Request<'_>,
        scopes: &ScopeSet,
        claims: Option<&Map<String, Value>>,
    ) -> bool {
        self.table
            .may_allow(request.kind(), request.name(), scopes, claims)
    }

    /// The argument paths the decision on this request reads (see
    /// [`DecisionTable::argument_paths`]); empty for a policy without
    /// conditions.
    pub fn argument_paths(&self, request: Request<'_>, context: &Context<'_>) -> Vec<&[String]> {
        self.table
            .argument_paths(request.kind(), request.name(), context)
    }

    /// The arguments the decision log may record for this request: those
    /// at [`Evaluator::argument_paths`], nested as in the request, and no
    /// others; empty when the decision reads none.
    pub fn logged_arguments(
        &self,
        request: Request<'_>,
        context: &Context<'_>,
    ) -> Map<String, Value> {
        let mut logged = Map::new();
        let Some(arguments) = context.arguments else {
            return logged;
        };
        for path in self.argument_paths(request, context) {
            copy_path(arguments, path, &mut logged);
        }
        logged
    }

    /// Decides and explains, in the owned form that the CLI and the
    /// simulator show: `held` are the token's scopes by name, as granted
    /// (the ones the policy does not declare are listed as ignored).
    pub fn explained(&self, request: Request<'_>, held: &[&str]) -> Explained {
        self.explained_in(request, held, &Context::EMPTY)
    }

    /// [`Evaluator::explained`] on the request's arguments and claims: adds
    /// every condition atom evaluated, with the value it read.
    pub fn explained_in(
        &self,
        request: Request<'_>,
        held: &[&str],
        context: &Context<'_>,
    ) -> Explained {
        let scopes = self.scope_set(held.iter().copied());
        let catalog = self.table.scopes();
        Explained {
            ignored_scopes: held
                .iter()
                .filter(|scope| catalog.lookup(scope).is_none())
                .map(|scope| (*scope).to_owned())
                .collect(),
            ..self.explained_for(request, &scopes, context)
        }
    }

    /// [`Evaluator::explained_in`] for scopes already parsed
    /// ([`Evaluator::parse_scopes`]), as a server keeps a token's: the
    /// undeclared ones were dropped then, so `ignored_scopes` is empty. The
    /// HTTP layer writes its denials (the answer, the challenge, the log
    /// line) from this, as the CLI writes `explain` from the same shape.
    pub fn explained_for(
        &self,
        request: Request<'_>,
        scopes: &ScopeSet,
        context: &Context<'_>,
    ) -> Explained {
        let catalog = self.table.scopes();
        let explanation = self
            .table
            .explain_in(request.kind(), request.name(), scopes, context);
        let texts = |atoms: &[AtomId]| -> Vec<String> {
            atoms
                .iter()
                .map(|id| self.table.atoms().text(*id).to_owned())
                .collect()
        };
        let (failed_conditions, denied_when, missing_scopes) = match &explanation.remedy {
            Remedy::ConditionsFailed(atoms) => (texts(atoms), Vec::new(), Vec::new()),
            Remedy::DeniedWhen(atoms) => (Vec::new(), texts(atoms), Vec::new()),
            Remedy::AddScopes(ids) => (
                Vec::new(),
                Vec::new(),
                ids.iter().map(|id| catalog.name(*id).to_owned()).collect(),
            ),
            Remedy::None | Remedy::Unreachable => (Vec::new(), Vec::new(), Vec::new()),
        };
        Explained {
            failed_conditions,
            denied_when,
            conditions: explanation
                .conditions
                .iter()
                .map(|trace| EvaluatedAtom {
                    atom: self.table.atoms().text(trace.atom).to_owned(),
                    holds: trace.holds,
                    value: trace.value.clone(),
                    other: trace.other.clone(),
                    why: trace.why.map(|why| why.to_string()),
                    undecided: trace.why.is_some_and(|why| why.is_undecided()),
                })
                .collect(),
            allowed: explanation.decision.allowed,
            scopes: scopes
                .iter()
                .map(|id| catalog.name(id).to_owned())
                .collect(),
            ignored_scopes: Vec::new(),
            rule: explanation.rule.map(|rule| RuleRef {
                text: rule.text.clone(),
                line: rule.line,
            }),
            missing_scopes,
            allowable: matches!(explanation.remedy, Remedy::None | Remedy::AddScopes(_)),
        }
    }
}

/// Copies the value at `path` of `from` into `into`, making the objects on
/// the way; nothing when the path is missing.
fn copy_path(from: &Map<String, Value>, path: &[String], into: &mut Map<String, Value>) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    let Some(value) = from.get(first) else {
        return;
    };
    if rest.is_empty() {
        into.insert(first.clone(), value.clone());
        return;
    }
    let Some(inner) = value.as_object() else {
        return;
    };
    let slot = into
        .entry(first.clone())
        .or_insert_with(|| Value::Object(Map::new()));
    // When a shorter path copied the whole object, this copies a part of
    // it again, unchanged.
    if let Value::Object(target) = slot {
        copy_path(inner, rest, target);
    }
}

/// A decision with what explains it, owned and serialisable: the one shape
/// that `mcp-policy explain`, `test` and `token`, and the HTTP layer's
/// denials, are made from ([`Evaluator::explained`],
/// [`Evaluator::explained_for`]). The table's
/// [`Explanation`](mcp_policy_table::Explanation) is the same decision by
/// ids, for analyses that work on ids (the simulator's replay).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Explained {
    pub allowed: bool,
    /// The held scopes as the policy sees them: the declared ones, with what
    /// they imply.
    pub scopes: Vec<String>,
    /// The held scopes the policy does not declare (they grant nothing).
    pub ignored_scopes: Vec<String>,
    /// The deciding rule; `None` when the default decided.
    pub rule: Option<RuleRef>,
    /// For a denial that scopes can lift, the scopes to add (the smallest
    /// set, least privilege among equals); empty otherwise.
    pub missing_scopes: Vec<String>,
    /// `false` when no scope can allow the request: a deny rule or the
    /// default denies it, or its conditions failed.
    pub allowable: bool,
    /// Every condition atom evaluated, in the order checked; empty (and
    /// absent from JSON) for a policy without conditions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<EvaluatedAtom>,
    /// For a denial by failed conditions, the atoms that failed (no scope
    /// can help).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed_conditions: Vec<String>,
    /// For a denial by a `deny ... when`, the atoms that made it fire.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub denied_when: Vec<String>,
}

/// One condition atom as evaluated, owned.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct EvaluatedAtom {
    /// The atom's source text.
    pub atom: String,
    pub holds: bool,
    /// The value its (left) operand read; absent when missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// For a comparison of two operands, the right one's value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other: Option<Value>,
    /// Why it is false (`missing`, `a number, not a string`, `leaves the
    /// base`, ...); absent when it holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// `under` could not place the path (a NUL, a `\`, relative, above the
    /// root): false in an allow rule, firing in a `deny ... when`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub undecided: bool,
}

/// A rule as a person finds it: its text and its line in the policy.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RuleRef {
    pub text: String,
    /// 1-based line in the policy.
    pub line: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The GitHub example as the issue wrote it, before the example gained
    /// conditions: these tests are about scopes alone.
    const GITHUB: &str = include_str!("../../../tests/verbatim/github.mcppolicy");

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn evaluator_is_send_and_sync() {
        assert_send_sync::<Evaluator>();
        assert_send_sync::<ScopeSet>();
    }

    #[cfg(feature = "source")]
    #[test]
    fn a_source_that_does_not_compile_keeps_its_text_in_the_error() {
        let broken = "scope a level read\ntool x requires b\n";
        match Evaluator::from_bytes(broken.as_bytes(), "broken.mcppolicy") {
            Err(LoadError::Source {
                source,
                diagnostics,
            }) => {
                assert_eq!(source, broken);
                let error = diagnostics.iter().find(|d| d.is_error()).unwrap();
                let span = error.span();
                // The spans point into the text the error carries.
                assert_eq!(source.get(span.start..span.end), Some("b"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bytes_load_as_a_file_does_and_record_where_they_came_from() {
        let evaluator = Evaluator::from_bytes(GITHUB.as_bytes(), "github.mcppolicy").unwrap();
        assert_eq!(evaluator.table().source(), Some("github.mcppolicy"));
        let artifact = evaluator.table().to_artifact();
        assert!(is_artifact(&artifact));
        assert!(!is_artifact(GITHUB));
        let loaded = Evaluator::from_bytes(artifact.as_bytes(), "github.json").unwrap();
        assert_eq!(loaded.table().source(), Some("github.mcppolicy"));
        assert!(matches!(
            Evaluator::from_bytes(b"tool x requires \xff", "bad"),
            Err(LoadError::Read { path, .. }) if path == "bad"
        ));
    }

    #[test]
    fn an_owned_explanation_names_held_ignored_and_missing_scopes() {
        let evaluator = Evaluator::from_source(GITHUB).unwrap();
        let denied = evaluator.explained(Request::CallTool("close_issue"), &["mcp:read", "repo"]);
        assert!(!denied.allowed);
        assert!(denied.allowable);
        assert_eq!(denied.scopes, ["mcp:read"]);
        assert_eq!(denied.ignored_scopes, ["repo"]);
        assert_eq!(denied.missing_scopes, ["mcp:write", "github:issues"]);
        let rule = denied.rule.unwrap();
        assert_eq!(
            rule.text,
            "tool close_issue requires all_of(mcp:write, github:issues)"
        );
        assert!(
            GITHUB
                .lines()
                .nth(rule.line as usize - 1)
                .unwrap()
                .contains("close_issue")
        );

        let allowed = evaluator.explained(Request::CallTool("search_repos"), &["mcp:admin"]);
        assert!(allowed.allowed && allowed.allowable && allowed.missing_scopes.is_empty());
        // What mcp:admin implies is held too.
        assert_eq!(allowed.scopes, ["mcp:read", "mcp:write", "mcp:admin"]);

        let never = evaluator.explained(Request::CallTool("debug_dump_all"), &["mcp:admin"]);
        assert!(!never.allowed && !never.allowable && never.missing_scopes.is_empty());
    }

    #[test]
    fn artifact_round_trip_decides_the_same() {
        let from_source = Evaluator::from_source(GITHUB).unwrap();
        let from_artifact = Evaluator::from_artifact(&from_source.table().to_artifact()).unwrap();
        for scopes in [
            "",
            "mcp:read",
            "mcp:write github:issues",
            "mcp:admin",
            "github:repos",
        ] {
            let a = from_source.parse_scopes(scopes);
            let b = from_artifact.parse_scopes(scopes);
            for name in [
                "search_repos",
                "close_issue",
                "delete_repo",
                "admin_x",
                "debug_dump_1",
                "nope",
            ] {
                assert_eq!(
                    from_source.decide(Request::CallTool(name), &a),
                    from_artifact.decide(Request::CallTool(name), &b),
                    "{name} with {scopes:?}"
                );
            }
        }
    }

    #[test]
    fn a_scope_set_from_another_numbering_is_denied() {
        let a = Evaluator::from_source("scope x level read\nscope y level read\ntool t requires x")
            .unwrap();
        let b = Evaluator::from_source("scope y level read\nscope x level read\ntool t requires x")
            .unwrap();
        let from_b = b.parse_scopes("x");
        assert!(b.is_allowed(Request::CallTool("t"), &from_b));
        let decision = a.decide(Request::CallTool("t"), &from_b);
        assert!(!decision.allowed);
        assert_eq!(decision.basis, Basis::ForeignScopeSet);
    }

    #[test]
    fn methods_map_to_requests() {
        assert_eq!(
            Request::from_method("tools/call", "x"),
            Some(Request::CallTool("x"))
        );
        assert_eq!(
            Request::from_method("resources/read", "u"),
            Some(Request::ReadResource("u"))
        );
        assert_eq!(
            Request::from_method("prompts/get", "p"),
            Some(Request::GetPrompt("p"))
        );
        assert_eq!(Request::from_method("tools/list", "x"), None);
    }

    #[test]
    fn bad_artifacts_are_errors() {
        for bad in [
            "",
            "{}",
            r#"{"format":"other","version":1}"#,
            r#"{"format":"mcp-policy-table","version":99}"#,
            r#"{"format":"mcp-policy-table","version":1,"default":"deny","scopes":[],"rules":[{"kind":"tool","target":{"exact":"x"},"allow":[[7]],"text":"t","line":1}]}"#,
            r#"{"format":"mcp-policy-table","version":1,"default":"deny","scopes":[{"name":"a","level":"read","implies":[3]}],"rules":[]}"#,
        ] {
            assert!(Evaluator::from_artifact(bad).is_err(), "{bad}");
        }
    }
}
