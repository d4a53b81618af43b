//! `simulate --format json`: one JSON document on standard output, whatever
//! happens once it is begun (a trace that cannot be read on closes it with
//! an `error` member instead of the summary).
//!
//! The document is streamed: its head (`policy`, `trace`, `against`), then
//! each change as it is found, one a line in the `changes` array, then the
//! summary, whose size does not depend on the trace's. So the top-level
//! object's punctuation is written here, member by member; every value in
//! it is serialised by serde from the borrowed views below, one record at a
//! time, and JSON's escaping is serde's.
//!
//! The views' fields are in alphabetical order: the nested objects' keys
//! were sorted when this output was built from `serde_json::Value` maps,
//! and the document keeps those bytes.

use std::io;

use mcp_policy_evaluator::Rule;
use mcp_policy_sim::replay::{CallDecision, Caller, Counts, Other, Reason, Row, Target};
use mcp_policy_sim::trace::{Record, TraceError};
use serde::Serialize;

use super::{Change, Drift, End, Names, Output, decision};

pub(super) struct Writer<'n, 'a> {
    names: &'n Names<'a>,
    /// The first drifting calls, kept for the summary (at most
    /// [`super::DRIFT_SHOWN`]).
    drifted: Vec<Kept<'a>>,
    /// The first malformed lines (at most [`super::ERRORS_SHOWN`]).
    errors: Vec<TraceError>,
    /// Changes written so far: all but the first are preceded by `,`.
    changes: u64,
    /// One piece of the document at a time, reused.
    buffer: Vec<u8>,
}

/// A drifting call, kept past its record's turn.
struct Kept<'a> {
    record: Record,
    allowed: bool,
    rule: Option<&'a Rule>,
}

impl<'n, 'a> Writer<'n, 'a> {
    pub(super) fn new(names: &'n Names<'a>) -> Writer<'n, 'a> {
        Writer {
            names,
            drifted: Vec::new(),
            errors: Vec::new(),
            changes: 0,
            buffer: Vec::new(),
        }
    }

    /// Writes what [`Self::buffer`] holds, and empties it.
    fn send(&mut self, out: &mut Output<'_>) -> io::Result<()> {
        let sent = out.write(&self.buffer);
        self.buffer.clear();
        sent
    }

    /// Closes the `changes` array, if the document has one.
    fn close_changes(&mut self) {
        if self.names.against.is_some() {
            self.buffer.extend_from_slice(b"\n]");
        }
    }
}

impl<'a> super::Writer<'a> for Writer<'_, 'a> {
    fn begin(&mut self, out: &mut Output<'_>) -> io::Result<()> {
        let buffer = &mut self.buffer;
        buffer.push(b'{');
        key_value(buffer, "policy", &self.names.policy.file)?;
        member(buffer, "trace", &self.names.trace)?;
        if let Some(against) = &self.names.against {
            member(buffer, "against", &against.file)?;
            // One change a line, so that a long list still reads as lines.
            buffer.extend_from_slice(b",\"changes\":[\n");
        }
        self.send(out)
    }

    fn drift(&mut self, drift: &Drift<'_, 'a>, _out: &mut Output<'_>) -> io::Result<()> {
        self.drifted.push(Kept {
            record: drift.record.clone(),
            allowed: drift.allowed,
            rule: drift.rule,
        });
        Ok(())
    }

    fn change(&mut self, change: &Change<'_, 'a>, out: &mut Output<'_>) -> io::Result<()> {
        if self.names.against.is_none() {
            return Ok(());
        }
        self.changes += 1;
        if self.changes > 1 {
            self.buffer.extend_from_slice(b",\n");
        }
        let record = change.record;
        let view = ChangeJson {
            after: DecidedJson::of(change.after),
            before: DecidedJson::of(change.before),
            line: record.line,
            method: record.kind.method(),
            name: &record.name,
            principal: PrincipalJson::of(record),
        };
        serde_json::to_writer(&mut self.buffer, &view)?;
        self.send(out)
    }

    fn malformed(&mut self, error: TraceError) {
        self.errors.push(error);
    }

    /// The document is begun: end it, so that standard output still parses.
    fn unreadable(&mut self, error: &TraceError, out: &mut Output<'_>) -> io::Result<()> {
        self.close_changes();
        member(&mut self.buffer, "error", &ErrorJson::of(error))?;
        self.buffer.extend_from_slice(b"}\n");
        self.send(out)
    }

    fn finish(&mut self, end: &End<'a>, out: &mut Output<'_>) -> io::Result<()> {
        self.close_changes();
        let summary = &end.summary;
        let totals = &summary.totals;
        let compared = summary.compared;
        let drifted: Vec<DriftJson<'_, 'a>> = self.drifted.iter().map(DriftJson::of).collect();
        let errors: Vec<ErrorJson<'_>> = self.errors.iter().map(ErrorJson::of).collect();
        let tools: Vec<ToolJson<'_, 'a>> = summary
            .tools
            .rows
            .iter()
            .map(|row| ToolJson::of(row, compared))
            .collect();
        let principals: Vec<PrincipalRowJson<'_, 'a>> = summary
            .principals
            .rows
            .iter()
            .map(|row| PrincipalRowJson::of(row, compared))
            .collect();

        let buffer = &mut self.buffer;
        member(buffer, "calls", &totals.calls())?;
        member(buffer, "allowed", &totals.allowed)?;
        member(buffer, "denied", &totals.denied)?;
        // Only when some were: a policy without conditions replays as before.
        if totals.undecidable > 0 {
            member(buffer, "undecidable", &totals.undecidable)?;
        }
        if compared {
            member(buffer, "allow_to_deny", &totals.allow_to_deny)?;
            member(buffer, "deny_to_allow", &totals.deny_to_allow)?;
            if totals.undecidable_after > 0 {
                member(buffer, "undecidable_after", &totals.undecidable_after)?;
            }
        }
        member(buffer, "recorded", &summary.recorded)?;
        member(buffer, "drift", &totals.drift)?;
        member(buffer, "drifted", &drifted)?;
        member(buffer, "lines", &end.lines)?;
        member(buffer, "skipped", &summary.skipped)?;
        member(buffer, "malformed", &summary.malformed)?;
        member(buffer, "errors", &errors)?;
        member(buffer, "tools", &tools)?;
        member(
            buffer,
            "other_tools",
            &OtherJson::of(summary.tools.other.as_ref(), compared),
        )?;
        member(buffer, "principals", &principals)?;
        member(
            buffer,
            "other_principals",
            &OtherJson::of(summary.principals.other.as_ref(), compared),
        )?;
        buffer.extend_from_slice(b"}\n");
        self.send(out)
    }
}

/// `"name":value`.
fn key_value(buffer: &mut Vec<u8>, name: &str, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *buffer, name)?;
    buffer.push(b':');
    serde_json::to_writer(&mut *buffer, value)?;
    Ok(())
}

/// `,"name":value`: a member after the first.
fn member(buffer: &mut Vec<u8>, name: &str, value: &impl Serialize) -> io::Result<()> {
    buffer.push(b',');
    key_value(buffer, name, value)
}

#[derive(Serialize)]
struct ChangeJson<'r, 'a> {
    after: DecidedJson<'a>,
    before: DecidedJson<'a>,
    line: u64,
    method: &'static str,
    name: &'r str,
    principal: PrincipalJson<'r>,
}

#[derive(Serialize)]
struct DriftJson<'r, 'a> {
    line: u64,
    method: &'static str,
    name: &'r str,
    principal: PrincipalJson<'r>,
    recorded: RecordedJson<'r>,
    replayed: DecidedJson<'a>,
}

impl<'r, 'a> DriftJson<'r, 'a> {
    fn of(kept: &'r Kept<'a>) -> DriftJson<'r, 'a> {
        let record = &kept.record;
        DriftJson {
            line: record.line,
            method: record.kind.method(),
            name: &record.name,
            principal: PrincipalJson::of(record),
            recorded: RecordedJson {
                // A drifting call's record says the other decision.
                decision: decision(!kept.allowed),
                rule: record
                    .recorded
                    .as_ref()
                    .and_then(|recorded| recorded.rule.as_deref()),
            },
            replayed: DecidedJson::of(CallDecision {
                allowed: kept.allowed,
                rule: kept.rule,
            }),
        }
    }
}

/// The decision as recorded; its rule as logged (`default` included).
#[derive(Serialize)]
struct RecordedJson<'r> {
    decision: &'static str,
    rule: Option<&'r str>,
}

#[derive(Serialize)]
struct DecidedJson<'a> {
    decision: &'static str,
    /// `null` when the default decided.
    rule: Option<RuleJson<'a>>,
}

impl<'a> DecidedJson<'a> {
    fn of(decided: CallDecision<'a>) -> DecidedJson<'a> {
        DecidedJson {
            decision: decision(decided.allowed),
            rule: decided.rule.map(RuleJson::of),
        }
    }
}

#[derive(Serialize)]
struct RuleJson<'a> {
    line: u32,
    text: &'a str,
}

impl<'a> RuleJson<'a> {
    fn of(rule: &'a Rule) -> RuleJson<'a> {
        RuleJson {
            line: rule.line,
            text: &rule.text,
        }
    }
}

#[derive(Serialize)]
struct PrincipalJson<'r> {
    client: Option<&'r str>,
    scopes: &'r [String],
    subject: Option<&'r str>,
}

impl<'r> PrincipalJson<'r> {
    fn of(record: &'r Record) -> PrincipalJson<'r> {
        PrincipalJson {
            client: record.client.as_deref(),
            scopes: &record.scopes,
            subject: record.subject.as_deref(),
        }
    }
}

#[derive(Serialize)]
struct ErrorJson<'e> {
    line: u64,
    message: &'e str,
}

impl<'e> ErrorJson<'e> {
    fn of(error: &'e TraceError) -> ErrorJson<'e> {
        ErrorJson {
            line: error.line,
            message: &error.message,
        }
    }
}

/// A table's counts, flattened into its row: the changes' columns only
/// when a second policy was replayed.
#[derive(Serialize)]
struct CountsJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    allow_to_deny: Option<u64>,
    allowed: u64,
    denied: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    deny_to_allow: Option<u64>,
    drift: u64,
}

impl CountsJson {
    fn of(counts: &Counts, compared: bool) -> CountsJson {
        CountsJson {
            allow_to_deny: compared.then_some(counts.allow_to_deny),
            allowed: counts.allowed,
            denied: counts.denied,
            deny_to_allow: compared.then_some(counts.deny_to_allow),
            drift: counts.drift,
        }
    }
}

/// A row of the tools' table.
#[derive(Serialize)]
struct ToolJson<'s, 'a> {
    #[serde(flatten)]
    counts: CountsJson,
    method: &'static str,
    name: &'s str,
    reasons: Vec<ReasonJson<'s, 'a>>,
}

impl<'s, 'a> ToolJson<'s, 'a> {
    fn of(row: &'s Row<'a, Target>, compared: bool) -> ToolJson<'s, 'a> {
        ToolJson {
            counts: CountsJson::of(&row.counts, compared),
            method: row.key.kind.method(),
            name: &row.key.name,
            reasons: row.reasons.iter().map(ReasonJson::of).collect(),
        }
    }
}

/// A row of the principals' table; its key, `scopes` or `subject`, sorts
/// after `reasons`.
#[derive(Serialize)]
struct PrincipalRowJson<'s, 'a> {
    #[serde(flatten)]
    counts: CountsJson,
    reasons: Vec<ReasonJson<'s, 'a>>,
    #[serde(flatten)]
    caller: CallerJson<'s>,
}

impl<'s, 'a> PrincipalRowJson<'s, 'a> {
    fn of(row: &'s Row<'a, Caller>, compared: bool) -> PrincipalRowJson<'s, 'a> {
        PrincipalRowJson {
            counts: CountsJson::of(&row.counts, compared),
            reasons: row.reasons.iter().map(ReasonJson::of).collect(),
            caller: match &row.key {
                Caller::Subject(subject) => CallerJson::Subject(subject),
                Caller::Scopes(scopes) => CallerJson::Scopes(scopes),
            },
        }
    }
}

/// `"subject":…` or, for a record without one, `"scopes":…` (as one
/// space-separated string).
#[derive(Serialize)]
#[serde(rename_all = "lowercase")]
enum CallerJson<'s> {
    Subject(&'s str),
    Scopes(&'s str),
}

#[derive(Serialize)]
struct ReasonJson<'s, 'a> {
    count: u64,
    first_line: u64,
    /// Set in a principal's reasons only.
    #[serde(skip_serializing_if = "Option::is_none")]
    method: Option<&'static str>,
    /// `null` when no scope can allow.
    missing_scopes: Option<&'s [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'s str>,
    rule: Option<RuleJson<'a>>,
}

impl<'s, 'a> ReasonJson<'s, 'a> {
    fn of(reason: &'s Reason<'a>) -> ReasonJson<'s, 'a> {
        ReasonJson {
            count: reason.count,
            first_line: reason.first_line,
            method: reason.target.as_ref().map(|target| target.kind.method()),
            missing_scopes: reason.missing.as_deref(),
            name: reason.target.as_ref().map(|target| target.name.as_str()),
            rule: reason.rule.map(RuleJson::of),
        }
    }
}

/// The keys beyond the table's rows, counted together; `null` when none.
#[derive(Serialize)]
struct OtherJson {
    #[serde(flatten)]
    counts: CountsJson,
    keys: u64,
    keys_at_least: bool,
}

impl OtherJson {
    fn of(other: Option<&Other>, compared: bool) -> Option<OtherJson> {
        other.map(|other| OtherJson {
            counts: CountsJson::of(&other.counts, compared),
            keys: other.keys,
            keys_at_least: other.keys_at_least,
        })
    }
}
