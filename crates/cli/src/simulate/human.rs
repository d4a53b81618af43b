//! `simulate`'s output for people: a line and its rules for each drift and
//! change as found, then the totals and the tables by tool and principal.
//!
//! Everything taken from the trace (names, URIs, subjects, scopes, recorded
//! rules, the messages about malformed lines) goes through [`shown`]: a
//! client's crafted name cannot move the cursor or clear the screen a
//! reviewer reads.

use std::fmt::Write as _;
use std::io;

use indicatif::ProgressBar;
use mcp_policy_evaluator::{DefaultEffect, Rule};
use mcp_policy_sim::replay::{Caller, Counts, Other, Reason, Row, Summary};
use mcp_policy_sim::trace::{Record, TraceError};

use super::{Change, Drift, End, Names, Output, Policy, Streamed, decision};
use crate::escape::shown;

pub(super) struct Writer<'n, 'a> {
    names: &'n Names<'a>,
    /// Messages on standard error are written around it.
    bar: &'n ProgressBar,
}

impl<'n, 'a> Writer<'n, 'a> {
    pub(super) fn new(names: &'n Names<'a>, bar: &'n ProgressBar) -> Writer<'n, 'a> {
        Writer { names, bar }
    }

    fn error(&self, message: &str) {
        let message = format!("error: `{}`: {message}", self.names.trace);
        self.bar.suspend(|| eprintln!("{message}"));
    }
}

impl<'a> super::Writer<'a> for Writer<'_, 'a> {
    fn begin(&mut self, _out: &mut Output<'_>) -> io::Result<()> {
        Ok(())
    }

    fn drift(&mut self, drift: &Drift<'_, 'a>, out: &mut Output<'_>) -> io::Result<()> {
        let record = drift.record;
        let mut text = format!(
            "drift: line {}: {}: recorded {}, replayed {}\n",
            record.line,
            call(record),
            decision(!drift.allowed),
            decision(drift.allowed)
        );
        let recorded = match record
            .recorded
            .as_ref()
            .and_then(|recorded| recorded.rule.as_deref())
        {
            Some("default") => "the default".into(),
            Some(rule) => shown(rule),
            None => "(no rule recorded)".into(),
        };
        let _ = writeln!(text, "    recorded: {recorded}");
        let _ = writeln!(
            text,
            "    replayed: {}",
            rule_text(&self.names.policy, drift.rule)
        );
        out.write(text.as_bytes())
    }

    fn change(&mut self, change: &Change<'_, 'a>, out: &mut Output<'_>) -> io::Result<()> {
        let Some(against) = &self.names.against else {
            return Ok(());
        };
        let mut text = format!(
            "change: line {}: {}: {} → {}\n",
            change.record.line,
            call(change.record),
            decision(change.before.allowed),
            decision(change.after.allowed)
        );
        let _ = writeln!(
            text,
            "    before: {}",
            rule_text(&self.names.policy, change.before.rule)
        );
        let _ = writeln!(
            text,
            "    after:  {}",
            rule_text(against, change.after.rule)
        );
        out.write(text.as_bytes())
    }

    fn malformed(&mut self, error: TraceError) {
        self.error(&shown(&error.to_string()));
    }

    /// Nothing on standard output: the error is the caller's to report.
    fn unreadable(&mut self, _error: &TraceError, _out: &mut Output<'_>) -> io::Result<()> {
        Ok(())
    }

    fn finish(&mut self, end: &End<'a>, out: &mut Output<'_>) -> io::Result<()> {
        let End {
            summary,
            lines,
            streamed,
        } = end;
        if summary.malformed > streamed.errors as u64 {
            let more = summary.malformed - streamed.errors as u64;
            self.error(&format!("{more} more malformed lines"));
        }
        out.write(self.summary(summary, *lines, streamed).as_bytes())
    }
}

/// `, undecidable from the log N` when some calls were; nothing otherwise.
fn undecidable(count: u64) -> String {
    if count == 0 {
        return String::new();
    }
    format!(
        ", undecidable from the log {count} (their conditions read claims or arguments the log does not carry)"
    )
}

impl Writer<'_, '_> {
    fn summary(&self, summary: &Summary<'_>, lines: u64, streamed: &Streamed) -> String {
        let totals = &summary.totals;
        let mut text = String::new();
        if streamed.drift > 0 || streamed.changes > 0 {
            text.push('\n');
        }
        let _ = writeln!(
            text,
            "replayed {} from `{}` on `{}`",
            super::calls(totals.calls()),
            self.names.trace,
            self.names.policy.file
        );
        let _ = writeln!(
            text,
            "  allowed {}, denied {}{}",
            totals.allowed,
            totals.denied,
            undecidable(totals.undecidable)
        );
        if let Some(against) = &self.names.against {
            let _ = writeln!(
                text,
                "  on `{}`: allowed {}, denied {}{}",
                against.file,
                totals.after_allowed,
                totals.after_denied,
                undecidable(totals.undecidable_after)
            );
            let _ = writeln!(
                text,
                "  changed: {} (allow → deny {}, deny → allow {})",
                super::calls(totals.changed()),
                totals.allow_to_deny,
                totals.deny_to_allow
            );
        }
        if summary.recorded > 0 {
            let _ = writeln!(
                text,
                "  recorded decisions: {}; {} with this replay{}",
                summary.recorded,
                match totals.drift {
                    1 => "1 disagrees".to_owned(),
                    drift => format!("{drift} disagree"),
                },
                if totals.drift > streamed.drift as u64 {
                    format!(" (the first {} shown)", streamed.drift)
                } else {
                    String::new()
                }
            );
        }
        let _ = writeln!(
            text,
            "  lines: {} read, {} without a call, {} malformed",
            lines, summary.skipped, summary.malformed
        );
        let columns = Columns::of(summary);
        if !summary.tools.rows.is_empty() || summary.tools.other.is_some() {
            text.push('\n');
            self.table(
                &mut text,
                "tools",
                &columns,
                &summary.tools.rows,
                summary.tools.other.as_ref(),
                |target| format!("{} {}", target.kind.method(), shown(&target.name)),
            );
        }
        if !summary.principals.rows.is_empty() || summary.principals.other.is_some() {
            text.push('\n');
            self.table(
                &mut text,
                "principals",
                &columns,
                &summary.principals.rows,
                summary.principals.other.as_ref(),
                |principal| match principal {
                    Caller::Subject(subject) => shown(subject).into_owned(),
                    Caller::Scopes(scopes) if scopes.is_empty() => {
                        "(no subject, no scopes)".to_owned()
                    }
                    Caller::Scopes(scopes) => {
                        format!("(no subject) scopes [{}]", shown(scopes))
                    }
                },
            );
        }
        text
    }

    fn table<K>(
        &self,
        text: &mut String,
        title: &str,
        columns: &Columns,
        rows: &[Row<'_, K>],
        other: Option<&Other>,
        label: impl Fn(&K) -> String,
    ) {
        let labels: Vec<String> = rows.iter().map(|row| label(&row.key)).collect();
        let other_label = other.map(|other| {
            format!(
                "(other: {}{} more)",
                if other.keys_at_least { "at least " } else { "" },
                other.keys
            )
        });
        let width = labels
            .iter()
            .chain(other_label.iter())
            .map(|label| label.chars().count())
            .chain([title.len()])
            .max()
            .unwrap_or(0);
        let _ = writeln!(text, "{title:<width$}{}", columns.header());
        for (row, label) in rows.iter().zip(&labels) {
            let _ = writeln!(text, "  {label:<width$}{}", columns.cells(&row.counts));
            for reason in &row.reasons {
                let _ = writeln!(text, "      {}", self.reason(reason));
            }
        }
        if let (Some(other), Some(label)) = (other, other_label) {
            let _ = writeln!(text, "  {label:<width$}{}", columns.cells(&other.counts));
        }
    }

    /// `2× tools/call `close_issue`: missing mcp:write, by tool close_issue
    /// requires mcp:write (policy line 20), first at trace line 4`: what
    /// would allow first, the rule after.
    fn reason(&self, reason: &Reason<'_>) -> String {
        let mut text = format!("{}×", reason.count);
        if let Some(target) = &reason.target {
            let _ = write!(text, " {} `{}`:", target.kind.method(), shown(&target.name));
        }
        match &reason.missing {
            Some(missing) => {
                let _ = write!(text, " missing {}", shown(&missing.join(" ")));
            }
            None => text.push_str(" no scope can allow"),
        }
        match reason.rule {
            Some(rule) => {
                let _ = write!(
                    text,
                    ", by {} (policy line {})",
                    shown(&rule.text),
                    rule.line
                );
            }
            None => {
                let _ = write!(text, ", by {}", rule_text(&self.names.policy, None));
            }
        }
        let _ = write!(text, ", first at trace line {}", reason.first_line);
        text
    }
}

/// The table's count columns: changes with a second policy, drift when
/// some call disagreed with its record.
struct Columns {
    compared: bool,
    drift: bool,
}

impl Columns {
    fn of(summary: &Summary<'_>) -> Columns {
        Columns {
            compared: summary.compared,
            drift: summary.totals.drift > 0,
        }
    }

    fn header(&self) -> String {
        let mut header = format!("  {:>8}  {:>8}", "allowed", "denied");
        if self.compared {
            let _ = write!(header, "  {:>10}  {:>10}", "allow→deny", "deny→allow");
        }
        if self.drift {
            let _ = write!(header, "  {:>6}", "drift");
        }
        header
    }

    fn cells(&self, counts: &Counts) -> String {
        let mut cells = format!("  {:>8}  {:>8}", counts.allowed, counts.denied);
        if self.compared {
            let _ = write!(
                cells,
                "  {:>10}  {:>10}",
                counts.allow_to_deny, counts.deny_to_allow
            );
        }
        if self.drift {
            let _ = write!(cells, "  {:>6}", counts.drift);
        }
        cells
    }
}

/// `alice [mcp:read github:issues] tools/call `close_issue``, control
/// characters escaped.
fn call(record: &Record) -> String {
    let who = record
        .subject
        .as_deref()
        .map_or("(no subject)".into(), shown);
    format!(
        "{who} [{}] {} `{}`",
        shown(&record.scope_string()),
        record.kind.method(),
        shown(&record.name)
    )
}

fn rule_text(policy: &Policy<'_>, rule: Option<&Rule>) -> String {
    match rule {
        Some(rule) => format!("{} ({}:{})", shown(&rule.text), policy.file, rule.line),
        None => format!(
            "the default (`default {}`)",
            match policy.evaluator.table().default_effect() {
                DefaultEffect::Deny => "deny",
                DefaultEffect::Allow => "allow",
            }
        ),
    }
}
