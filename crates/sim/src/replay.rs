//! Recorded calls replayed on a policy, or on two: a summary per tool and
//! per principal, where the replay disagrees with the recorded decision,
//! and which calls a second policy decides otherwise.
//!
//! Memory is bounded whatever the trace's length: at most
//! [`Limits::keys`] tools and as many principals are tallied one by one
//! (the rest in one "other" bucket), each keeps at most [`Limits::reasons`]
//! denial reasons, and a key's text is cut at [`MAX_KEY_BYTES`]. Changes and
//! drift are handed back call by call, never kept.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use mcp_policy_evaluator::condition::Source;
use mcp_policy_evaluator::{
    AtomTrace, Basis, Context, Evaluator, Remedy, Rule, ScopeId, TargetKind,
};
use serde_json::{Map, Value};

use crate::trace::Record;

/// The longest key text kept, in bytes; longer names and subjects are cut
/// (on a character boundary) and end with `…`.
pub const MAX_KEY_BYTES: usize = 256;

/// How many distinct keys folded into "other" are counted one by one; past
/// that, the count is a lower bound.
const MAX_FOLDED_COUNTED: usize = 1 << 16;

/// How much a summary keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Distinct tools, and distinct principals, tallied one by one.
    pub keys: usize,
    /// Distinct denial reasons kept per tool or principal (the first seen).
    pub reasons: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            keys: 1_000,
            reasons: 3,
        }
    }
}

/// Calls counted by how they were decided.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Allowed by the (first) policy.
    pub allowed: u64,
    /// Denied by the (first) policy.
    pub denied: u64,
    /// Calls whose recorded decision differs from the (first) policy's.
    pub drift: u64,
    /// With a second policy: allowed by the first, denied by the second.
    pub allow_to_deny: u64,
    /// With a second policy: denied by the first, allowed by the second.
    pub deny_to_allow: u64,
    /// Calls the (first) policy cannot decide from the log: its conditions
    /// read claims or arguments the line does not carry. Neither allowed
    /// nor denied: never guessed.
    pub undecidable: u64,
    /// With a second policy: calls the first decides and the second cannot
    /// decide from the log (not counted as changed or unchanged).
    pub undecidable_after: u64,
    /// With a second policy: calls it allows, and calls it denies.
    pub after_allowed: u64,
    pub after_denied: u64,
}

impl Counts {
    pub fn calls(&self) -> u64 {
        self.allowed + self.denied + self.undecidable
    }

    /// Calls the second policy decides otherwise.
    pub fn changed(&self) -> u64 {
        self.allow_to_deny + self.deny_to_allow
    }

    fn add(&mut self, call: &Call) {
        if call.undecidable {
            self.undecidable += 1;
            return;
        }
        if call.after_undecidable {
            self.undecidable_after += 1;
        }
        match call.after {
            Some(true) => self.after_allowed += 1,
            Some(false) => self.after_denied += 1,
            None => {}
        }
        if call.allowed {
            self.allowed += 1;
        } else {
            self.denied += 1;
        }
        self.drift += u64::from(call.drift);
        match call.after {
            Some(after) if call.allowed && !after => self.allow_to_deny += 1,
            Some(after) if !call.allowed && after => self.deny_to_allow += 1,
            _ => {}
        }
    }
}

/// What one replayed call came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replayed<'p> {
    pub allowed: bool,
    /// The deciding rule; `None` when the default decided.
    pub rule: Option<&'p Rule>,
    /// The record carries a decision, and it is not this one.
    pub drift: bool,
    /// With a second policy that decides the call otherwise: its decision.
    pub change: Option<CallDecision<'p>>,
    /// The policy cannot decide the call from the log (then `allowed` is
    /// `false`, `drift` too, and nothing is compared).
    pub undecidable: bool,
    /// The second policy cannot decide the call from the log.
    pub undecidable_after: bool,
}

/// One policy's decision on a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallDecision<'p> {
    pub allowed: bool,
    /// The deciding rule; `None` when the default decided.
    pub rule: Option<&'p Rule>,
}

/// A tool, resource or prompt: the method and the name or URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub kind: TargetKind,
    pub name: String,
}

/// Who made calls.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Caller {
    /// By the token's subject.
    Subject(String),
    /// A record without a subject, by its scopes (space-separated).
    Scopes(String),
}

/// Why calls were denied: the deciding rule and what would allow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reason<'p> {
    /// The call denied; set in a principal's reasons (a tool's are all
    /// about the tool itself).
    pub target: Option<Target>,
    /// The deciding rule; `None` when the default decided.
    pub rule: Option<&'p Rule>,
    /// The scopes whose addition would allow; `None` when none can (a deny
    /// rule or the default decided).
    pub missing: Option<Vec<String>>,
    /// Denials with this reason (counted from the first).
    pub count: u64,
    /// The line of the first.
    pub first_line: u64,
}

/// One tool's or principal's calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row<'p, K> {
    pub key: K,
    pub counts: Counts,
    /// Up to [`Limits::reasons`], in the order first seen.
    pub reasons: Vec<Reason<'p>>,
}

/// The calls of keys beyond [`Limits::keys`], together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Other {
    pub counts: Counts,
    /// Distinct keys folded in.
    pub keys: u64,
    /// `true` when there were more than could be counted (`keys` is a lower bound).
    pub keys_at_least: bool,
}

/// Calls by key: sorted rows, and what did not fit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tally<'p, K> {
    pub rows: Vec<Row<'p, K>>,
    pub other: Option<Other>,
}

/// A whole replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary<'p> {
    /// Every call replayed.
    pub totals: Counts,
    /// Calls whose record carried a decision.
    pub recorded: u64,
    /// `true` when a second policy was replayed too.
    pub compared: bool,
    /// Lines that could not be read as records.
    pub malformed: u64,
    /// Lines that hold no call (blank, other events).
    pub skipped: u64,
    /// By method and name; tools, then resources, then prompts, each by name.
    pub tools: Tally<'p, Target>,
    /// By subject, then principals known only by their scopes.
    pub principals: Tally<'p, Caller>,
}

/// A replay in progress: feed it records, then [`Replay::finish`].
#[derive(Debug)]
pub struct Replay<'p> {
    policy: &'p Evaluator,
    against: Option<&'p Evaluator>,
    limits: Limits,
    totals: Counts,
    recorded: u64,
    malformed: u64,
    tools: Keys,
    principals: Keys,
}

/// One call as the tallies see it.
struct Call {
    allowed: bool,
    drift: bool,
    after: Option<bool>,
    undecidable: bool,
    after_undecidable: bool,
}

impl<'p> Replay<'p> {
    pub fn new(policy: &'p Evaluator) -> Replay<'p> {
        Replay::with_limits(policy, Limits::default())
    }

    pub fn with_limits(policy: &'p Evaluator, limits: Limits) -> Replay<'p> {
        Replay {
            policy,
            against: None,
            limits,
            totals: Counts::default(),
            recorded: 0,
            malformed: 0,
            tools: Keys::default(),
            principals: Keys::default(),
        }
    }

    /// Replays every call on `after` too, to find those it decides otherwise.
    pub fn against(mut self, after: &'p Evaluator) -> Replay<'p> {
        self.against = Some(after);
        self
    }

    /// Decides one recorded call and counts it.
    ///
    /// Conditions read the logged arguments and claims. A call is
    /// undecidable when its decision reads what the line does not carry:
    /// a claim (the runtime logs none), arguments too large to have been
    /// logged, or, for the second policy, an argument the line lacks that
    /// the first policy does not read (the log keeps the arguments the
    /// deciding policy read: one the first policy reads and the line lacks
    /// was absent from the call; the first policy is taken to be the one
    /// that wrote the log, which `drift` checks).
    pub fn replay(&mut self, record: &Record) -> Replayed<'p> {
        let request = record.request();
        let scopes = || record.scopes.iter().map(String::as_str);
        let held = self.policy.scope_set(scopes());
        let arguments = match record.kind {
            TargetKind::Resource => None,
            TargetKind::Tool | TargetKind::Prompt => record.arguments.as_ref(),
        };
        let context = Context::new(arguments, record.claims.as_ref());
        // One pass: the decision, and for a denial the cheapest remedy
        // (explaining an allowed call searches nothing).
        let explanation =
            self.policy
                .table()
                .explain_in(request.kind(), request.name(), &held, &context);
        let decision = explanation.decision;
        let rule = explanation.rule;
        let undecidable = reads_unknown(self.policy, &explanation.conditions, record, None);
        let drift = !undecidable
            && record
                .recorded
                .as_ref()
                .is_some_and(|recorded| recorded.allowed != decision.allowed);
        let after = self.against.map(|after| {
            let held = after.scope_set(scopes());
            let (decision, unknown) = if after.table().has_conditions() {
                let explanation =
                    after
                        .table()
                        .explain_in(request.kind(), request.name(), &held, &context);
                let read_by_first = self.policy.argument_paths(request, &context);
                let unknown =
                    reads_unknown(after, &explanation.conditions, record, Some(&read_by_first));
                (explanation.decision, unknown)
            } else {
                (after.decide(request, &held), false)
            };
            (
                CallDecision {
                    allowed: decision.allowed,
                    rule: rule_of(after, decision.basis),
                },
                unknown,
            )
        });
        let after_undecidable = !undecidable && after.is_some_and(|(_, unknown)| unknown);
        let after = after
            .filter(|(_, unknown)| !unknown && !undecidable)
            .map(|(after, _)| after);
        let call = Call {
            allowed: decision.allowed && !undecidable,
            drift,
            after: after.map(|after| after.allowed),
            undecidable,
            after_undecidable,
        };
        let denial = (!decision.allowed && !undecidable).then_some(Denial {
            basis: decision.basis,
            remedy: explanation.remedy,
        });

        self.totals.add(&call);
        self.recorded += u64::from(record.recorded.is_some());
        let limits = self.limits;
        let kind = record.kind;
        self.tools.count(
            class_of(kind),
            &record.name,
            limits,
            &call,
            denial.as_ref().map(|denial| Denied {
                denial,
                target: None,
                line: record.line,
            }),
        );
        let joined;
        let (class, key) = match &record.subject {
            Some(subject) => (SUBJECT, subject.as_str()),
            None => {
                joined = record.scope_string();
                (SCOPES, joined.as_str())
            }
        };
        self.principals.count(
            class,
            key,
            limits,
            &call,
            denial.as_ref().map(|denial| Denied {
                denial,
                target: Some((kind, record.name.as_str())),
                line: record.line,
            }),
        );

        Replayed {
            allowed: decision.allowed && !undecidable,
            rule,
            drift,
            change: after.filter(|after| after.allowed != decision.allowed),
            undecidable,
            undecidable_after: after_undecidable,
        }
    }

    /// Counts a line that could not be read as a record.
    pub fn malformed(&mut self) {
        self.malformed += 1;
    }

    /// The summary, with the reader's count of lines that held no call.
    pub fn finish(self, skipped: u64) -> Summary<'p> {
        let policy = self.policy;
        let tools = self.tools.finish(policy, |class, name| {
            KIND_CLASSES
                .iter()
                .find(|(_, c)| *c == class)
                .map(|(kind, _)| Target { kind: *kind, name })
        });
        let principals = self.principals.finish(policy, |class, key| match class {
            SUBJECT => Some(Caller::Subject(key)),
            SCOPES => Some(Caller::Scopes(key)),
            _ => None,
        });
        Summary {
            totals: self.totals,
            recorded: self.recorded,
            compared: self.against.is_some(),
            malformed: self.malformed,
            skipped,
            tools,
            principals,
        }
    }
}

/// Whether a decision of `policy` read what the record does not carry: a
/// claim without claims, an argument when they were too large to log, or
/// (`read_by_first` given: the second policy) an argument path the line
/// lacks and the first policy's decision does not read.
fn reads_unknown(
    policy: &Evaluator,
    evaluated: &[AtomTrace],
    record: &Record,
    read_by_first: Option<&[&[String]]>,
) -> bool {
    let atoms = policy.table().atoms();
    evaluated
        .iter()
        .filter_map(|trace| atoms.atom(trace.atom))
        .flat_map(|atom| atom.operands())
        .any(|operand| match operand.source {
            Source::Claim => record.claims.is_none(),
            Source::Arg => {
                record.arguments_omitted
                    || read_by_first.is_some_and(|first| {
                        !logged(record.arguments.as_ref(), &operand.path)
                            && !first.contains(&operand.path.as_slice())
                    })
            }
        })
}

/// The logged arguments hold a value at `path`.
fn logged(arguments: Option<&Map<String, Value>>, path: &[String]) -> bool {
    let mut object = arguments;
    let mut found = None;
    for segment in path {
        found = object.and_then(|object| object.get(segment));
        object = found.and_then(Value::as_object);
    }
    found.is_some()
}

fn rule_of(policy: &Evaluator, basis: Basis) -> Option<&Rule> {
    match basis {
        Basis::Rule(id) => policy.table().rule(id),
        Basis::Default | Basis::ForeignScopeSet => None,
    }
}

// ---- the tallies ----

/// Keys live in classes: a tool name and a resource URI may be spelled
/// alike, and so may a subject and a scope string.
const CLASSES: usize = 3;
const KIND_CLASSES: [(TargetKind, usize); 3] = [
    (TargetKind::Tool, 0),
    (TargetKind::Resource, 1),
    (TargetKind::Prompt, 2),
];
const SUBJECT: usize = 0;
const SCOPES: usize = 1;

fn class_of(kind: TargetKind) -> usize {
    match kind {
        TargetKind::Tool => 0,
        TargetKind::Resource => 1,
        TargetKind::Prompt => 2,
    }
}

/// A denial as the policy explained it.
struct Denial {
    basis: Basis,
    remedy: Remedy,
}

/// A denial as one key counts it: for a principal, with the call denied.
struct Denied<'d> {
    denial: &'d Denial,
    target: Option<(TargetKind, &'d str)>,
    line: u64,
}

/// A reason kept for a key, in the policy's own terms (rule ids, scope ids)
/// until the summary names them.
#[derive(Debug)]
struct KeptReason {
    target: Option<(TargetKind, Box<str>)>,
    basis: Basis,
    remedy: Remedy,
    count: u64,
    first_line: u64,
}

#[derive(Debug, Default)]
struct Entry {
    counts: Counts,
    reasons: Vec<KeptReason>,
    truncated: bool,
}

#[derive(Debug, Default)]
struct Keys {
    classes: [HashMap<Box<str>, Entry>; CLASSES],
    len: usize,
    other: Counts,
    folded: HashSet<u64>,
    folded_overflow: bool,
}

impl Keys {
    fn count(
        &mut self,
        class: usize,
        key: &str,
        limits: Limits,
        call: &Call,
        denied: Option<Denied<'_>>,
    ) {
        let (key, truncated) = cut(key);
        let Some(map) = self.classes.get_mut(class) else {
            return;
        };
        let entry = match map.get_mut(key) {
            Some(entry) => entry,
            None if self.len < limits.keys => {
                self.len += 1;
                map.entry(Box::from(key)).or_default()
            }
            None => {
                self.other.add(call);
                if self.folded.len() < MAX_FOLDED_COUNTED {
                    let mut hasher = DefaultHasher::new();
                    (class, key).hash(&mut hasher);
                    self.folded.insert(hasher.finish());
                } else {
                    self.folded_overflow = true;
                }
                return;
            }
        };
        entry.counts.add(call);
        entry.truncated |= truncated;
        let Some(Denied {
            denial,
            target,
            line,
        }) = denied
        else {
            return;
        };
        // A kept target is cut as keys are: compared cut, so that the
        // denials of one long name count as one reason.
        let target = target.map(|(kind, name)| (kind, cut(name).0));
        let same = |kept: &&mut KeptReason| {
            kept.basis == denial.basis
                && kept.remedy == denial.remedy
                && match (&kept.target, target) {
                    (Some((kind, name)), Some((k, n))) => *kind == k && **name == *n,
                    (None, None) => true,
                    _ => false,
                }
        };
        if let Some(kept) = entry.reasons.iter_mut().find(same) {
            kept.count += 1;
        } else if entry.reasons.len() < limits.reasons {
            entry.reasons.push(KeptReason {
                target: target.map(|(kind, name)| (kind, Box::from(name))),
                basis: denial.basis,
                remedy: denial.remedy.clone(),
                count: 1,
                first_line: line,
            });
        }
    }

    fn finish<'p, K>(
        self,
        policy: &'p Evaluator,
        key: impl Fn(usize, String) -> Option<K>,
    ) -> Tally<'p, K> {
        let mut rows = Vec::with_capacity(self.len);
        for (class, map) in self.classes.into_iter().enumerate() {
            let mut entries: Vec<(Box<str>, Entry)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            for (name, entry) in entries {
                let mut name = String::from(name);
                if entry.truncated {
                    name.push('…');
                }
                let Some(key) = key(class, name) else {
                    continue;
                };
                rows.push(Row {
                    key,
                    counts: entry.counts,
                    reasons: entry
                        .reasons
                        .into_iter()
                        .map(|kept| reason(policy, kept))
                        .collect(),
                });
            }
        }
        let other = (self.other.calls() > 0).then_some(Other {
            counts: self.other,
            keys: self.folded.len() as u64,
            keys_at_least: self.folded_overflow,
        });
        Tally { rows, other }
    }
}

fn reason(policy: &Evaluator, kept: KeptReason) -> Reason<'_> {
    let catalog = policy.table().scopes();
    let names = |ids: &[ScopeId]| ids.iter().map(|id| catalog.name(*id).to_owned()).collect();
    Reason {
        target: kept.target.map(|(kind, name)| Target {
            kind,
            name: name.into(),
        }),
        rule: rule_of(policy, kept.basis),
        missing: match &kept.remedy {
            Remedy::AddScopes(ids) => Some(names(ids)),
            Remedy::None
            | Remedy::Unreachable
            | Remedy::ConditionsFailed(_)
            | Remedy::DeniedWhen(_) => None,
        },
        count: kept.count,
        first_line: kept.first_line,
    }
}

/// `key` cut to [`MAX_KEY_BYTES`] on a character boundary, and whether it was.
fn cut(key: &str) -> (&str, bool) {
    if key.len() <= MAX_KEY_BYTES {
        return (key, false);
    }
    let mut end = MAX_KEY_BYTES;
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    (key.get(..end).unwrap_or_default(), true)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::trace::{Recorded, TraceReader};

    const POLICY: &str = r#"
        scope r level read
        scope w level write implies r
        scope a level admin implies w
        tool read_it   requires r
        tool write_it  requires w
        tool delete_it requires a
        deny tool "danger_*"
        resource "repo://*" requires r
    "#;

    fn policy(source: &str) -> Evaluator {
        Evaluator::from_source(source).unwrap()
    }

    fn record(
        line: u64,
        subject: Option<&str>,
        scopes: &str,
        kind: TargetKind,
        name: &str,
    ) -> Record {
        Record {
            line,
            subject: subject.map(str::to_owned),
            client: None,
            scopes: mcp_policy_evaluator::scope_tokens(scopes)
                .map(str::to_owned)
                .collect(),
            kind,
            name: name.to_owned(),
            recorded: None,
            arguments: None,
            arguments_omitted: false,
            claims: None,
        }
    }

    fn tool(line: u64, subject: &str, scopes: &str, name: &str) -> Record {
        record(line, Some(subject), scopes, TargetKind::Tool, name)
    }

    #[test]
    fn counts_per_tool_and_principal_with_the_first_reasons() {
        let policy = policy(POLICY);
        let mut replay = Replay::new(&policy);
        let calls = [
            tool(1, "bob", "r", "write_it"),
            tool(2, "alice", "w", "write_it"),
            tool(3, "bob", "r", "read_it"),
            tool(4, "bob", "r", "write_it"),
            tool(5, "bob", "a", "danger_zone"),
            tool(6, "bob", "", "unknown"),
            record(7, None, "r  w", TargetKind::Resource, "repo://x"),
            record(8, None, "", TargetKind::Resource, "write_it"),
        ];
        let allowed: Vec<bool> = calls.iter().map(|c| replay.replay(c).allowed).collect();
        assert_eq!(
            allowed,
            [false, true, true, false, false, false, true, false]
        );
        replay.malformed();
        let summary = replay.finish(4);
        assert_eq!(summary.totals.allowed, 3);
        assert_eq!(summary.totals.denied, 5);
        assert_eq!((summary.malformed, summary.skipped), (1, 4));
        assert!(!summary.compared);
        assert_eq!(summary.tools.other, None);

        let tools: Vec<(TargetKind, &str, u64, u64)> = summary
            .tools
            .rows
            .iter()
            .map(|row| {
                (
                    row.key.kind,
                    row.key.name.as_str(),
                    row.counts.allowed,
                    row.counts.denied,
                )
            })
            .collect();
        assert_eq!(
            tools,
            [
                (TargetKind::Tool, "danger_zone", 0, 1),
                (TargetKind::Tool, "read_it", 1, 0),
                (TargetKind::Tool, "unknown", 0, 1),
                (TargetKind::Tool, "write_it", 1, 2),
                (TargetKind::Resource, "repo://x", 1, 0),
                (TargetKind::Resource, "write_it", 0, 1),
            ]
        );
        let write_it = &summary.tools.rows[3];
        assert_eq!(write_it.reasons.len(), 1);
        let reason = &write_it.reasons[0];
        assert_eq!(reason.target, None);
        assert_eq!(reason.rule.unwrap().text, "tool write_it requires w");
        assert_eq!(reason.missing, Some(vec!["w".to_owned()]));
        assert_eq!((reason.count, reason.first_line), (2, 1));
        let danger = &summary.tools.rows[0].reasons[0];
        assert_eq!(danger.rule.unwrap().text, "deny tool \"danger_*\"");
        assert_eq!(danger.missing, None);
        let unknown = &summary.tools.rows[2].reasons[0];
        assert_eq!((unknown.rule, &unknown.missing), (None, &None));

        let principals: Vec<(&Caller, u64, u64)> = summary
            .principals
            .rows
            .iter()
            .map(|row| (&row.key, row.counts.allowed, row.counts.denied))
            .collect();
        assert_eq!(
            principals,
            [
                (&Caller::Subject("alice".into()), 1, 0),
                (&Caller::Subject("bob".into()), 1, 4),
                (&Caller::Scopes("".into()), 0, 1),
                (&Caller::Scopes("r w".into()), 1, 0),
            ]
        );
        // Bob's reasons name the call; the third distinct one is the last kept.
        let bob = &summary.principals.rows[1];
        let targets: Vec<(&str, u64)> = bob
            .reasons
            .iter()
            .map(|r| (r.target.as_ref().unwrap().name.as_str(), r.count))
            .collect();
        assert_eq!(
            targets,
            [("write_it", 2), ("danger_zone", 1), ("unknown", 1)]
        );
    }

    #[test]
    fn reasons_are_capped_per_key() {
        let policy = policy(POLICY);
        let mut replay = Replay::with_limits(
            &policy,
            Limits {
                keys: 10,
                reasons: 2,
            },
        );
        for (line, name) in ["write_it", "delete_it", "danger_x", "write_it"]
            .iter()
            .enumerate()
        {
            replay.replay(&tool(line as u64 + 1, "bob", "", name));
        }
        let summary = replay.finish(0);
        let bob = &summary.principals.rows[0];
        assert_eq!(bob.counts.denied, 4);
        let kept: Vec<(&str, u64)> = bob
            .reasons
            .iter()
            .map(|r| (r.target.as_ref().unwrap().name.as_str(), r.count))
            .collect();
        assert_eq!(kept, [("write_it", 2), ("delete_it", 1)]);
        // The same rule with another remedy is another reason.
        let mut replay = Replay::new(&policy);
        replay.replay(&tool(1, "x", "", "delete_it"));
        replay.replay(&tool(2, "y", "r", "delete_it"));
        let summary = replay.finish(0);
        assert_eq!(summary.tools.rows[0].reasons.len(), 1, "both miss `a`");
    }

    #[test]
    fn keys_beyond_the_limit_fold_into_other() {
        let policy = policy(POLICY);
        let mut replay = Replay::with_limits(
            &policy,
            Limits {
                keys: 2,
                reasons: 3,
            },
        );
        for (line, subject) in ["c", "a", "d", "b", "d", "a", "e"].iter().enumerate() {
            replay.replay(&tool(line as u64, subject, "r", "read_it"));
        }
        let summary = replay.finish(0);
        let kept: Vec<&Caller> = summary.principals.rows.iter().map(|r| &r.key).collect();
        assert_eq!(
            kept,
            [&Caller::Subject("a".into()), &Caller::Subject("c".into())]
        );
        assert_eq!(summary.principals.rows[0].counts.allowed, 2);
        let other = summary.principals.other.unwrap();
        assert_eq!(other.counts.allowed, 4);
        assert_eq!((other.keys, other.keys_at_least), (3, false));
        assert_eq!(summary.totals.allowed, 7);
    }

    #[test]
    fn drift_is_a_recorded_decision_the_policy_does_not_make() {
        let policy = policy(POLICY);
        let mut replay = Replay::new(&policy);
        let mut call = tool(1, "bob", "r", "write_it");
        call.recorded = Some(Recorded {
            allowed: true,
            rule: None,
        });
        assert!(replay.replay(&call).drift);
        call.recorded = Some(Recorded {
            allowed: false,
            rule: None,
        });
        assert!(!replay.replay(&call).drift);
        call.recorded = None;
        assert!(!replay.replay(&call).drift);
        let summary = replay.finish(0);
        assert_eq!(summary.recorded, 2);
        assert_eq!(summary.totals.drift, 1);
        assert_eq!(summary.tools.rows[0].counts.drift, 1);
    }

    #[test]
    fn a_second_policy_reports_each_change() {
        let before = policy(POLICY);
        // `w` no longer writes; `x` is new and reads.
        let after = policy(
            r#"
            scope r level read
            scope w level write implies r
            scope a level admin implies w
            scope x level read
            tool read_it   requires any_of(r, x)
            tool write_it  requires a
            tool delete_it requires a
            deny tool "danger_*"
            resource "repo://*" requires r
        "#,
        );
        let mut replay = Replay::new(&before).against(&after);
        let same = replay.replay(&tool(1, "a", "r", "read_it"));
        assert_eq!(same.change, None);
        let narrowed = replay.replay(&tool(2, "a", "w", "write_it"));
        let change = narrowed.change.unwrap();
        assert!(narrowed.allowed && !change.allowed);
        assert_eq!(narrowed.rule.unwrap().text, "tool write_it requires w");
        assert_eq!(change.rule.unwrap().text, "tool write_it requires a");
        // An undeclared scope in the first policy is declared in the second.
        let widened = replay.replay(&tool(3, "b", "x", "read_it"));
        assert!(!widened.allowed && widened.change.unwrap().allowed);
        let summary = replay.finish(0);
        assert!(summary.compared);
        assert_eq!(
            (summary.totals.allow_to_deny, summary.totals.deny_to_allow),
            (1, 1)
        );
        assert_eq!(summary.totals.changed(), 2);
        let read_it = &summary.tools.rows[0];
        assert_eq!(
            (read_it.counts.deny_to_allow, read_it.counts.allow_to_deny),
            (1, 0)
        );
    }

    #[test]
    fn long_keys_are_cut_on_a_character_boundary() {
        let policy = policy(POLICY);
        let mut replay = Replay::new(&policy);
        let long = format!("{}é{}", "x".repeat(MAX_KEY_BYTES - 1), "y");
        replay.replay(&tool(1, &long, "", &long));
        replay.replay(&tool(2, &format!("{long}z"), "", "short"));
        let summary = replay.finish(0);
        let Caller::Subject(subject) = &summary.principals.rows[0].key else {
            panic!("a subject");
        };
        assert_eq!(subject, &format!("{}…", "x".repeat(MAX_KEY_BYTES - 1)));
        assert_eq!(summary.principals.rows.len(), 1, "same first 255 bytes");
        assert_eq!(summary.principals.rows[0].counts.denied, 2);
        assert_eq!(
            summary.principals.rows[0].reasons[0]
                .target
                .as_ref()
                .unwrap()
                .name,
            "x".repeat(MAX_KEY_BYTES - 1)
        );
        assert!(summary.tools.rows[1].key.name.ends_with('…'));
    }

    #[test]
    fn denials_of_one_long_name_are_one_reason() {
        let policy = policy(POLICY);
        let mut replay = Replay::new(&policy);
        let long = "n".repeat(300);
        for line in 1..=5 {
            replay.replay(&tool(line, "bob", "", &long));
        }
        let summary = replay.finish(0);
        let bob = &summary.principals.rows[0];
        assert_eq!(bob.counts.denied, 5);
        let reasons: Vec<(&str, u64, u64)> = bob
            .reasons
            .iter()
            .map(|r| {
                (
                    r.target.as_ref().unwrap().name.as_str(),
                    r.count,
                    r.first_line,
                )
            })
            .collect();
        assert_eq!(reasons, [("n".repeat(MAX_KEY_BYTES).as_str(), 5, 1)]);
        let tool = &summary.tools.rows[0];
        assert_eq!((tool.reasons.len(), tool.reasons[0].count), (1, 5));
    }

    #[test]
    fn replays_a_trace_read_by_the_reader() {
        let policy = policy(POLICY);
        let trace = concat!(
            r#"{"subject":"bob","scopes":"r","method":"tools/call","name":"read_it","decision":"allow"}"#,
            "\n\n",
            r#"{"subject":"bob","scopes":"r","method":"tools/call","name":"write_it","decision":"allow"}"#,
            "\nnope\n",
        );
        let mut reader = TraceReader::new(trace.as_bytes());
        let mut replay = Replay::new(&policy);
        let mut drift_lines = Vec::new();
        for item in reader.by_ref() {
            match item {
                Ok(record) => {
                    if replay.replay(&record).drift {
                        drift_lines.push(record.line);
                    }
                }
                Err(_) => replay.malformed(),
            }
        }
        let summary = replay.finish(reader.skipped());
        assert_eq!(drift_lines, [3]);
        assert_eq!(
            (summary.totals.calls(), summary.malformed, summary.skipped),
            (2, 1, 1)
        );
    }

    #[test]
    fn calls_reading_what_the_log_lacks_are_undecidable_not_guessed() {
        let before = policy(
            "default deny\nscope r level read \"r\"\ntool w requires all_of(r, arg.path under \"/workspace\")\ntool p requires r\ntool c requires all_of(r, claim.sub == \"u\")\n",
        );
        let after = policy(
            "default deny\nscope r level read \"r\"\ntool w requires all_of(r, arg.path under \"/workspace\", arg.mode == \"t\")\ntool p requires all_of(r, arg.n <= 10)\ntool c requires all_of(r, claim.sub == \"u\")\n",
        );
        let with = |mut record: Record, arguments: serde_json::Value| {
            record.arguments = arguments.as_object().cloned();
            record
        };
        let mut replay = Replay::new(&before).against(&after);
        // Logged arguments decide on the first policy.
        let inside = replay.replay(&with(
            tool(1, "a", "r", "w"),
            serde_json::json!({"path": "/workspace/a"}),
        ));
        assert!(inside.allowed && !inside.undecidable);
        // ... but the second also reads `mode`, which the line lacks.
        assert!(inside.undecidable_after);
        assert_eq!(inside.change, None);
        let outside = replay.replay(&with(
            tool(2, "a", "r", "w"),
            serde_json::json!({"path": "/workspace/../x"}),
        ));
        assert!(!outside.allowed && !outside.undecidable);
        // A claim, with no claims logged: undecidable on both.
        let claim = replay.replay(&tool(3, "a", "r", "c"));
        assert!(claim.undecidable && !claim.allowed && !claim.drift);
        // With claims carried, decided.
        let mut carried = tool(4, "a", "r", "c");
        carried.claims = serde_json::json!({"sub": "u"}).as_object().cloned();
        let carried = replay.replay(&carried);
        assert!(carried.allowed && !carried.undecidable && !carried.undecidable_after);
        // Arguments too large to log: any decision reading one is undecidable.
        let mut omitted = tool(5, "a", "r", "w");
        omitted.arguments_omitted = true;
        assert!(replay.replay(&omitted).undecidable);
        // An unconditional rule of the first, a conditional one of the second.
        let plain = replay.replay(&tool(6, "a", "r", "p"));
        assert!(plain.allowed && plain.undecidable_after);
        let summary = replay.finish(0);
        assert_eq!(summary.totals.calls(), 6);
        assert_eq!(summary.totals.allowed, 3);
        assert_eq!(summary.totals.denied, 1);
        assert_eq!(summary.totals.undecidable, 2);
        // Line 2 too: the second reads `mode` first (string equality is
        // cheaper than `under`), which the line lacks.
        assert_eq!(summary.totals.undecidable_after, 3);
        assert_eq!(summary.totals.after_allowed, 1);
        assert_eq!(summary.totals.after_denied, 0);
        assert_eq!(summary.totals.changed(), 0);
    }

    #[test]
    fn logged_paths_are_found_nested() {
        let arguments = serde_json::json!({"a": {"b": 1}, "c": "x"});
        let arguments = arguments.as_object();
        let path = |p: &[&str]| p.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(logged(arguments, &path(&["a", "b"])));
        assert!(logged(arguments, &path(&["c"])));
        assert!(!logged(arguments, &path(&["a", "z"])));
        assert!(!logged(arguments, &path(&["c", "d"])));
        assert!(!logged(None, &path(&["c"])));
    }
}
