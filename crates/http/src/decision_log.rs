//! The decision log: one event per decision of the policy, under
//! [`DECISION_LOG_TARGET`], in the format `mcp-policy simulate` replays
//! (docs/trace-format.md).
//!
//! Every field that comes from a token or a request is recorded as a string
//! value, never with `%` (Display): the text formatter writes string values
//! quoted and escaped (`"evil\u{1b}[2J\nFAKE LINE"`), the JSON one as JSON
//! strings, so a signed `sub` or a caller's argument cannot forge a log line.
//! What is costly to write (the scope list, the arguments) is made only
//! when a subscriber records the event.

use mcp_policy_evaluator::{Context, DECISION_LOG_TARGET, Evaluator, Request};
use mcp_policy_token::Principal;

use crate::jsonrpc::Unmet;

/// The most bytes of arguments one decision event records (their compact
/// JSON, in the `arguments` field). Past it, `arguments` is left out and
/// `arguments_omitted` gives their size: a caller's 1 MiB argument does not
/// become a 1 MiB log line (a replay reads lines of at most 1 MiB), and a
/// replay tells a decision whose arguments were not kept from one that
/// read none.
pub const MAX_LOGGED_ARGUMENTS_BYTES: usize = 64 * 1024;

/// The principal's scopes as the token granted them, space-separated as in
/// a `scope` claim. Formatted only when a subscriber records the event: a
/// server without a decision log joins nothing.
///
/// An entry that is empty or contains a space (an `scp` array can hold
/// `"mcp:read mcp:admin"`) is left out. Joined as is, it would replay as
/// other scopes than the token's: two scopes, one of which some policy
/// declares. Left out, nothing is lost: no policy can declare a scope with
/// a space in it, or an empty one (RFC 6749 §3.3 scope-tokens have neither,
/// and the language rejects both), so such an entry grants nothing under
/// any policy, and the logged list is exactly as replayable as the token.
pub(crate) struct ScopeList<'p>(pub &'p [String]);

impl ScopeList<'_> {
    /// The entries written: those a policy could declare.
    fn entries(&self) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .map(String::as_str)
            .filter(|scope| !scope.is_empty() && !scope.contains(' '))
    }
}

impl std::fmt::Display for ScopeList<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (index, scope) in self.entries().enumerate() {
            if index > 0 {
                f.write_str(" ")?;
            }
            f.write_str(scope)?;
        }
        Ok(())
    }
}

/// One decision, as logged.
#[derive(Debug)]
pub(crate) struct Decided<'a> {
    pub method: &'a str,
    pub name: &'a str,
    pub decision: &'a str,
    pub rule: Option<&'a str>,
    /// The scopes a step-up would ask for, space-separated; empty when none.
    pub missing: &'a str,
    /// The conditions that denied it, when they did.
    pub unmet: Option<&'a Unmet<'a>>,
    /// How to find the arguments the decision read; `None` for a message
    /// that was not decided (an invalid one).
    pub read: Option<Read<'a>>,
}

/// The decision's inputs, to find the arguments it read: only those are
/// logged ([`Evaluator::logged_arguments`]), so that no other data a
/// caller sends reaches the log, and a replay has what it needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Read<'a> {
    pub evaluator: &'a Evaluator,
    pub request: Request<'a>,
    pub context: &'a Context<'a>,
}

/// The `arguments` of an event.
#[derive(Debug, PartialEq, Eq)]
enum Arguments {
    /// The decision read no argument (every unconditional policy).
    None,
    /// What it read, as compact JSON.
    Json(String),
    /// What it read was longer than [`MAX_LOGGED_ARGUMENTS_BYTES`]: its size.
    Omitted(u64),
}

impl Arguments {
    fn of(read: Option<Read<'_>>, limit: usize) -> Arguments {
        let Some(read) = read else {
            return Arguments::None;
        };
        let arguments = read.evaluator.logged_arguments(read.request, read.context);
        if arguments.is_empty() {
            return Arguments::None;
        }
        match serde_json::to_string(&arguments) {
            Ok(json) if json.len() <= limit => Arguments::Json(json),
            Ok(json) => Arguments::Omitted(json.len() as u64),
            // A map of JSON values always serialises; were it not to, the
            // line says that arguments were read and not kept.
            Err(_) => Arguments::Omitted(0),
        }
    }

    fn json(&self) -> Option<&str> {
        match self {
            Arguments::Json(json) => Some(json),
            Arguments::None | Arguments::Omitted(_) => None,
        }
    }

    fn omitted(&self) -> Option<u64> {
        match self {
            Arguments::Omitted(bytes) => Some(*bytes),
            Arguments::None | Arguments::Json(_) => None,
        }
    }
}

/// A list of atom texts as compact JSON (an atom's text may hold any
/// character of a quoted string).
fn atoms_json(atoms: &[&str]) -> String {
    serde_json::to_string(atoms).unwrap_or_default()
}

/// Logs one decision, and counts it when the configuration says so.
pub(crate) fn log_decision(
    config: &crate::HttpConfig,
    principal: &Principal,
    decided: &Decided<'_>,
) {
    // The arguments are found and written once, and only for a subscriber.
    let arguments = if tracing::enabled!(target: DECISION_LOG_TARGET, tracing::Level::INFO) {
        Arguments::of(decided.read, MAX_LOGGED_ARGUMENTS_BYTES)
    } else {
        Arguments::None
    };
    let (failed, fired) = match decided.unmet {
        Some(Unmet::Failed(atoms)) => (Some(atoms.as_slice()), None),
        Some(Unmet::Fired(atoms)) => (None, Some(atoms.as_slice())),
        None => (None, None),
    };
    tracing::info!(
        target: DECISION_LOG_TARGET,
        subject = principal.subject.as_str(),
        client = principal.client_id.as_deref().unwrap_or(""),
        scopes = ScopeList(&principal.scopes).to_string().as_str(),
        method = decided.method,
        name = decided.name,
        decision = decided.decision,
        rule = decided.rule.unwrap_or("default"),
        missing = decided.missing,
        failed_conditions = failed.map(atoms_json).as_deref(),
        denied_when = fired.map(atoms_json).as_deref(),
        arguments = arguments.json(),
        arguments_omitted = arguments.omitted(),
        mode = config.mode.as_str(),
        "policy decision"
    );
    // Only when counted: the labels are built (and allocated) before the
    // metrics facade knows whether a recorder listens, and the decision
    // path allocates nothing otherwise. Labels bounded: three governed
    // methods (or "" for an invalid message), three decisions, two modes,
    // and the rules of the policies loaded.
    if config.count_decisions {
        metrics::counter!("mcp_policy_decisions_total", "method" => decided.method.to_owned(), "decision" => decided.decision.to_owned(), "rule" => decided.rule.unwrap_or("default").to_owned(), "mode" => config.mode.as_str()).increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logged(scopes: &[&str]) -> String {
        let scopes: Vec<String> = scopes.iter().map(|scope| (*scope).to_owned()).collect();
        ScopeList(&scopes).to_string()
    }

    #[test]
    fn scope_list_leaves_out_entries_no_policy_can_declare() {
        assert_eq!(
            logged(&["mcp:read", "github:repos"]),
            "mcp:read github:repos"
        );
        assert_eq!(logged(&[]), "");
        // One undeclarable scope, not `mcp:read` and `mcp:admin`.
        assert_eq!(logged(&["mcp:read mcp:admin"]), "");
        assert_eq!(logged(&["a", "", "b c", " ", "d"]), "a d");
        // Only a space separates scopes: other characters are kept as given.
        assert_eq!(logged(&["a\tb", "é"]), "a\tb é");
    }
}
