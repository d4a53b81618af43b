//! `mcp-policy simulate POLICY --trace FILE [--against NEW_POLICY] [--format json]`:
//! recorded calls (docs/trace-format.md) replayed on a policy, or on two.
//!
//! The trace is streamed: calls whose decision changes, and the first that
//! disagree with their recorded decision, are written as they are found;
//! the summary, whose size does not depend on the trace's, comes last.
//!
//! Exit codes: 0 the whole trace was replayed (and no `--fail-on` finding);
//! 1 a policy does not compile, or a `--fail-on` finding; 2 usage or I/O
//! error, or a line of the trace is malformed (the replay still goes to the
//! end and prints its summary). A malformed line's 2 wins over a finding's
//! 1; the finding is then still reported, as a note on standard error.
//!
//! Everything taken from the trace (names, URIs, subjects, scopes, recorded
//! rules, the messages about malformed lines) goes through [`shown`] in
//! human output: a client's crafted name cannot move the cursor or clear
//! the screen a reviewer reads. JSON output is escaped by serde.
//! With `--format json`, standard output is one JSON document whatever
//! happens once it is begun: a trace that cannot be read closes it with an
//! `error` member.

use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use mcp_policy_evaluator::{DefaultEffect, Evaluator, Rule};
use mcp_policy_sim::replay::{
    CallDecision, Caller, Counts, Other, Reason, Replay, Replayed, Row, Summary,
};
use mcp_policy_sim::trace::{Record, TraceError, TraceReader};
use serde_json::{Value, json};

use crate::escape::shown;
use crate::{Outcome, load};

#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// The policy to replay the calls on (source or compiled table).
    policy: PathBuf,
    /// The recorded calls, one JSON object a line (docs/trace-format.md);
    /// `-` for standard input.
    #[arg(long, value_name = "FILE")]
    trace: PathBuf,
    /// A second policy: list every call it decides otherwise.
    #[arg(long, value_name = "NEW_POLICY")]
    against: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = SimulateFormat::Human)]
    format: SimulateFormat,
    /// Exit 1 when the replay finds this (`narrowed`: a call the first policy
    /// allows, the second denies; `widened`: the reverse; `any`: either;
    /// `drift`: a recorded decision the first policy would not make).
    #[arg(long, value_enum, value_name = "FINDING")]
    fail_on: Option<FailOn>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum FailOn {
    Narrowed,
    Widened,
    Any,
    Drift,
}

/// Human: streamed lines, then tables. JSON: one document, its `changes`
/// streamed first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum SimulateFormat {
    Human,
    Json,
}

/// Malformed lines reported one by one; the rest are counted.
const ERRORS_SHOWN: usize = 10;
/// Calls that disagree with their recorded decision, shown one by one.
const DRIFT_SHOWN: usize = 20;

/// A policy and the name its file goes by in the output.
struct Policy<'a> {
    evaluator: &'a Evaluator,
    file: String,
}

pub fn run(args: &SimulateArgs) -> Outcome {
    let before = match load::policy(&args.policy) {
        Ok(evaluator) => evaluator,
        Err(outcome) => return outcome,
    };
    let after = match args.against.as_deref().map(load::policy).transpose() {
        Ok(after) => after,
        Err(outcome) => return outcome,
    };
    if args.against.is_none()
        && matches!(
            args.fail_on,
            Some(FailOn::Narrowed | FailOn::Widened | FailOn::Any)
        )
    {
        eprintln!("error: `--fail-on` compares two policies: give the second with `--against`");
        return Outcome::UsageOrIo;
    }
    let (input, length) = match open(&args.trace) {
        Ok(opened) => opened,
        Err(error) => {
            eprintln!("error: cannot read `{}`: {error}", args.trace.display());
            return Outcome::UsageOrIo;
        }
    };
    let bar = progress_bar(length);
    let reader = TraceReader::new(BufReader::with_capacity(1 << 16, bar.wrap_read(input)));
    let policy = Policy {
        evaluator: &before,
        file: args.policy.display().to_string(),
    };
    let against = after
        .as_ref()
        .zip(args.against.as_ref())
        .map(|(evaluator, path)| Policy {
            evaluator,
            file: path.display().to_string(),
        });
    let mut out = Output::new(&bar);
    let mut session = Session {
        trace: args.trace.display().to_string(),
        json: args.format == SimulateFormat::Json,
        policy,
        against,
        errors: Vec::new(),
        drift: Vec::new(),
        changes: 0,
        fail_on: args.fail_on,
    };
    let result = session.replay(reader, &mut out, &bar);
    bar.finish_and_clear();
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(Failure::Read(error)) => {
            eprintln!("error: `{}`: {}", session.trace, shown(&error.to_string()));
            Outcome::UsageOrIo
        }
        Err(Failure::Write(error)) => {
            eprintln!("error: cannot write the output: {error}");
            Outcome::UsageOrIo
        }
    };
    if let Err(error) = out.flush() {
        eprintln!("error: cannot write the output: {error}");
        return Outcome::UsageOrIo;
    }
    outcome
}

/// `1 call`, `2 calls`.
fn calls(count: u64) -> String {
    crate::words::count(count, "call")
}

/// The trace and its length in bytes (for the progress bar), if known.
fn open(path: &Path) -> io::Result<(Box<dyn Read>, Option<u64>)> {
    if path.as_os_str() == "-" {
        return Ok((Box::new(io::stdin().lock()), None));
    }
    // A regular file only: a FIFO's open would block until a writer came,
    // a device (`/dev/zero`) may never end. Streams come on standard input,
    // each line bounded by the trace reader.
    let file = mcp_policy_fs::open(path)
        .map_err(|error| io::Error::other(format!("{error} [{}]", error.code())))?;
    let length = file.metadata().ok().map(|metadata| metadata.len());
    Ok((Box::new(file), length))
}

/// A bar by bytes read, on a terminal only: piped or in CI, stderr keeps
/// only the messages.
fn progress_bar(length: Option<u64>) -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    match length {
        Some(length) => ProgressBar::new(length).with_style(
            ProgressStyle::with_template(
                "replaying {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} replaying: {bytes} read ({bytes_per_sec})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    }
}

/// Standard output, buffered; written around the progress bar when both
/// share a terminal.
struct Output<'b> {
    stdout: BufWriter<io::StdoutLock<'static>>,
    bar: Option<&'b ProgressBar>,
}

impl<'b> Output<'b> {
    fn new(bar: &'b ProgressBar) -> Output<'b> {
        let share = !bar.is_hidden() && io::stdout().is_terminal();
        Output {
            stdout: BufWriter::new(io::stdout().lock()),
            bar: share.then_some(bar),
        }
    }

    fn write(&mut self, text: &str) -> io::Result<()> {
        match self.bar {
            Some(bar) => bar.suspend(|| {
                self.stdout.write_all(text.as_bytes())?;
                self.stdout.flush()
            }),
            None => self.stdout.write_all(text.as_bytes()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stdout.flush()
    }
}

enum Failure {
    Read(TraceError),
    Write(io::Error),
}

impl From<io::Error> for Failure {
    fn from(error: io::Error) -> Failure {
        Failure::Write(error)
    }
}

struct Session<'a> {
    trace: String,
    json: bool,
    policy: Policy<'a>,
    against: Option<Policy<'a>>,
    /// The first malformed lines.
    errors: Vec<TraceError>,
    /// The first calls that disagree with their record, as output.
    drift: Vec<Value>,
    changes: u64,
    fail_on: Option<FailOn>,
}

impl<'a> Session<'a> {
    fn replay<R: BufRead>(
        &mut self,
        mut reader: TraceReader<R>,
        out: &mut Output<'_>,
        bar: &ProgressBar,
    ) -> Result<Outcome, Failure> {
        let mut replay = Replay::new(self.policy.evaluator);
        if let Some(against) = &self.against {
            replay = replay.against(against.evaluator);
        }
        if self.json {
            let mut head = String::from("{");
            push_field(&mut head, "policy", &json!(self.policy.file));
            head.push(',');
            push_field(&mut head, "trace", &json!(self.trace));
            if let Some(against) = &self.against {
                head.push(',');
                push_field(&mut head, "against", &json!(against.file));
                // One change a line, so that a long list still reads as lines.
                head.push_str(",\"changes\":[\n");
            }
            out.write(&head)?;
        }
        for item in reader.by_ref() {
            match item {
                Ok(record) => {
                    let replayed = replay.replay(&record);
                    if replayed.drift {
                        self.drifted(&record, &replayed, out)?;
                    }
                    if let Some(change) = replayed.change {
                        self.changed(&record, &replayed, change, out)?;
                    }
                }
                Err(error) if error.is_fatal() => {
                    if self.json {
                        // The document is begun: end it, so that standard
                        // output still parses.
                        out.write(&self.json_error(&error))?;
                    }
                    return Err(Failure::Read(error));
                }
                Err(error) => {
                    replay.malformed();
                    if self.errors.len() < ERRORS_SHOWN {
                        if !self.json {
                            let message =
                                format!("error: `{}`: {}", self.trace, shown(&error.to_string()));
                            bar.suspend(|| eprintln!("{message}"));
                        }
                        self.errors.push(error);
                    }
                }
            }
        }
        let summary = replay.finish(reader.skipped());
        if self.json {
            out.write(&self.json_tail(&summary, reader.lines()))?;
        } else {
            if summary.malformed > self.errors.len() as u64 {
                let more = summary.malformed - self.errors.len() as u64;
                let message = format!("error: `{}`: {more} more malformed lines", self.trace);
                bar.suspend(|| eprintln!("{message}"));
            }
            out.write(&self.human_summary(&summary, reader.lines()))?;
        }
        let totals = &summary.totals;
        let failed = match self.fail_on {
            None => None,
            Some(FailOn::Narrowed) => (totals.allow_to_deny > 0)
                .then(|| format!("{} allowed before denied now", calls(totals.allow_to_deny))),
            Some(FailOn::Widened) => (totals.deny_to_allow > 0)
                .then(|| format!("{} denied before allowed now", calls(totals.deny_to_allow))),
            Some(FailOn::Any) => (totals.changed() > 0)
                .then(|| format!("{} decided otherwise", calls(totals.changed()))),
            Some(FailOn::Drift) => (totals.drift > 0).then(|| {
                format!(
                    "{} the policy decides otherwise than recorded",
                    calls(totals.drift)
                )
            }),
        };
        Ok(if summary.malformed > 0 {
            // Exit 2 wins, but the finding is not hidden by it.
            if let Some(reason) = failed {
                bar.suspend(|| {
                    eprintln!(
                        "note: {reason} (--fail-on; exit 2 for the malformed lines takes precedence)"
                    );
                });
            }
            Outcome::UsageOrIo
        } else if let Some(reason) = failed {
            bar.suspend(|| eprintln!("error: {reason} (--fail-on)"));
            Outcome::PolicyErrors
        } else {
            Outcome::Ok
        })
    }

    fn drifted(
        &mut self,
        record: &Record,
        replayed: &Replayed<'_>,
        out: &mut Output<'_>,
    ) -> io::Result<()> {
        if self.drift.len() >= DRIFT_SHOWN {
            return Ok(());
        }
        let recorded_rule = record
            .recorded
            .as_ref()
            .and_then(|recorded| recorded.rule.as_deref());
        if !self.json {
            let mut text = format!(
                "drift: line {}: {}: recorded {}, replayed {}\n",
                record.line,
                call(record),
                verdict(!replayed.allowed),
                verdict(replayed.allowed)
            );
            let recorded = match recorded_rule {
                Some("default") => "the default".into(),
                Some(rule) => shown(rule),
                None => "(no rule recorded)".into(),
            };
            let _ = writeln!(text, "    recorded: {recorded}");
            let _ = writeln!(
                text,
                "    replayed: {}",
                rule_text(&self.policy, replayed.rule)
            );
            out.write(&text)?;
        }
        self.drift.push(json!({
            "line": record.line,
            "principal": principal_json(record),
            "method": record.kind.method(),
            "name": record.name,
            "recorded": {"decision": verdict(!replayed.allowed), "rule": recorded_rule},
            "replayed": decided_json(replayed.allowed, replayed.rule),
        }));
        Ok(())
    }

    fn changed(
        &mut self,
        record: &Record,
        replayed: &Replayed<'_>,
        change: CallDecision<'_>,
        out: &mut Output<'_>,
    ) -> io::Result<()> {
        let Some(against) = &self.against else {
            return Ok(());
        };
        self.changes += 1;
        if self.json {
            let value = json!({
                "line": record.line,
                "principal": principal_json(record),
                "method": record.kind.method(),
                "name": record.name,
                "before": decided_json(replayed.allowed, replayed.rule),
                "after": decided_json(change.allowed, change.rule),
            });
            let separator = if self.changes > 1 { ",\n" } else { "" };
            return out.write(&format!("{separator}{value}"));
        }
        let mut text = format!(
            "change: line {}: {}: {} → {}\n",
            record.line,
            call(record),
            verdict(replayed.allowed),
            verdict(change.allowed)
        );
        let _ = writeln!(
            text,
            "    before: {}",
            rule_text(&self.policy, replayed.rule)
        );
        let _ = writeln!(text, "    after:  {}", rule_text(against, change.rule));
        out.write(&text)
    }

    // ---- human ----

    fn human_summary(&self, summary: &Summary<'_>, lines: u64) -> String {
        let totals = &summary.totals;
        let mut text = String::new();
        if !self.drift.is_empty() || self.changes > 0 {
            text.push('\n');
        }
        let _ = writeln!(
            text,
            "replayed {} from `{}` on `{}`",
            crate::words::count(totals.calls(), "call"),
            self.trace,
            self.policy.file
        );
        let _ = writeln!(
            text,
            "  allowed {}, denied {}",
            totals.allowed, totals.denied
        );
        if let Some(against) = &self.against {
            let _ = writeln!(
                text,
                "  on `{}`: allowed {}, denied {}",
                against.file,
                totals.allowed - totals.allow_to_deny + totals.deny_to_allow,
                totals.denied - totals.deny_to_allow + totals.allow_to_deny
            );
            let _ = writeln!(
                text,
                "  changed: {} (allow → deny {}, deny → allow {})",
                crate::words::count(totals.changed(), "call"),
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
                if totals.drift > self.drift.len() as u64 {
                    format!(" (the first {} shown)", self.drift.len())
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
                let _ = write!(text, ", by {}", rule_text(&self.policy, None));
            }
        }
        let _ = write!(text, ", first at trace line {}", reason.first_line);
        text
    }

    // ---- JSON ----

    /// The end of a document begun when the trace could not be read on:
    /// the changes' array closed, and why, instead of a summary.
    fn json_error(&self, error: &TraceError) -> String {
        let mut tail = String::new();
        if self.against.is_some() {
            tail.push_str("\n]");
        }
        tail.push(',');
        push_field(
            &mut tail,
            "error",
            &json!({"line": error.line, "message": error.message}),
        );
        tail.push_str("}\n");
        tail
    }

    /// The rest of the document, after the streamed changes.
    fn json_tail(&self, summary: &Summary<'_>, lines: u64) -> String {
        let mut tail = String::new();
        if self.against.is_some() {
            tail.push_str("\n]");
        }
        let totals = &summary.totals;
        let mut fields = vec![
            ("calls", json!(totals.calls())),
            ("allowed", json!(totals.allowed)),
            ("denied", json!(totals.denied)),
        ];
        if summary.compared {
            fields.push(("allow_to_deny", json!(totals.allow_to_deny)));
            fields.push(("deny_to_allow", json!(totals.deny_to_allow)));
        }
        fields.extend([
            ("recorded", json!(summary.recorded)),
            ("drift", json!(totals.drift)),
            ("drifted", json!(self.drift)),
            ("lines", json!(lines)),
            ("skipped", json!(summary.skipped)),
            ("malformed", json!(summary.malformed)),
            (
                "errors",
                Value::Array(
                    self.errors
                        .iter()
                        .map(|error| json!({"line": error.line, "message": error.message}))
                        .collect(),
                ),
            ),
            (
                "tools",
                self.rows_json(
                    &summary.tools.rows,
                    summary.compared,
                    |target| json!({"method": target.kind.method(), "name": target.name}),
                ),
            ),
            (
                "other_tools",
                other_json(summary.tools.other.as_ref(), summary.compared),
            ),
            (
                "principals",
                self.rows_json(&summary.principals.rows, summary.compared, |principal| {
                    match principal {
                        Caller::Subject(subject) => json!({"subject": subject}),
                        Caller::Scopes(scopes) => json!({"scopes": scopes}),
                    }
                }),
            ),
            (
                "other_principals",
                other_json(summary.principals.other.as_ref(), summary.compared),
            ),
        ]);
        // The head always ends with a field (or the changes' array).
        for (name, value) in fields {
            tail.push(',');
            push_field(&mut tail, name, &value);
        }
        tail.push_str("}\n");
        tail
    }

    fn rows_json<K>(
        &self,
        rows: &[Row<'_, K>],
        compared: bool,
        key: impl Fn(&K) -> Value,
    ) -> Value {
        Value::Array(
            rows.iter()
                .map(|row| {
                    let mut value = key(&row.key);
                    if let Value::Object(object) = &mut value {
                        if let Value::Object(counts) = counts_json(&row.counts, compared) {
                            object.extend(counts);
                        }
                        object.insert(
                            "reasons".to_owned(),
                            row.reasons
                                .iter()
                                .map(|reason| self.reason_json(reason))
                                .collect(),
                        );
                    }
                    value
                })
                .collect(),
        )
    }

    fn reason_json(&self, reason: &Reason<'_>) -> Value {
        let mut value = json!({
            "rule": rule_json(reason.rule),
            "missing_scopes": reason.missing,
            "count": reason.count,
            "first_line": reason.first_line,
        });
        if let (Some(target), Value::Object(object)) = (&reason.target, &mut value) {
            object.insert("method".to_owned(), json!(target.kind.method()));
            object.insert("name".to_owned(), json!(target.name));
        }
        value
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

fn push_field(text: &mut String, name: &str, value: &Value) {
    let _ = write!(text, "{}:{value}", json!(name));
}

fn verdict(allowed: bool) -> &'static str {
    if allowed { "allow" } else { "deny" }
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

fn rule_json(rule: Option<&Rule>) -> Value {
    match rule {
        Some(rule) => json!({"text": rule.text, "line": rule.line}),
        None => Value::Null,
    }
}

fn decided_json(allowed: bool, rule: Option<&Rule>) -> Value {
    json!({"decision": verdict(allowed), "rule": rule_json(rule)})
}

fn principal_json(record: &Record) -> Value {
    json!({
        "subject": record.subject,
        "client": record.client,
        "scopes": record.scopes,
    })
}

fn counts_json(counts: &Counts, compared: bool) -> Value {
    let mut value = json!({
        "allowed": counts.allowed,
        "denied": counts.denied,
        "drift": counts.drift,
    });
    if let (true, Value::Object(object)) = (compared, &mut value) {
        object.insert("allow_to_deny".to_owned(), json!(counts.allow_to_deny));
        object.insert("deny_to_allow".to_owned(), json!(counts.deny_to_allow));
    }
    value
}

fn other_json(other: Option<&Other>, compared: bool) -> Value {
    let Some(other) = other else {
        return Value::Null;
    };
    let mut value = counts_json(&other.counts, compared);
    if let Value::Object(object) = &mut value {
        object.insert("keys".to_owned(), json!(other.keys));
        object.insert("keys_at_least".to_owned(), json!(other.keys_at_least));
    }
    value
}
