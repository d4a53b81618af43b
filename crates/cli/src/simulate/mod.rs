//! `mcp-policy simulate POLICY --trace FILE [--against NEW_POLICY] [--format json]`:
//! recorded calls (docs/trace-format.md) replayed on a policy, or on two.
//!
//! The trace is streamed: calls whose decision changes, and the first that
//! disagree with their recorded decision, are written as they are found;
//! the summary, whose size does not depend on the trace's, comes last.
//! This module reads the trace and drives the replay; what is written is
//! [`human`]'s or [`json`]'s.
//!
//! Exit codes: 0 the whole trace was replayed (and no `--fail-on` finding);
//! 1 a policy does not compile, or a `--fail-on` finding; 2 usage or I/O
//! error, or a line of the trace is malformed (the replay still goes to the
//! end and prints its summary). A malformed line's 2 wins over a finding's
//! 1; the finding is then still reported, as a note on standard error.

mod human;
mod json;

use std::io::{self, BufRead, BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use mcp_policy_evaluator::{Evaluator, Rule};
use mcp_policy_sim::replay::{CallDecision, Replay, Replayed, Summary};
use mcp_policy_sim::trace::{Record, TraceError, TraceReader};

use crate::escape::shown;
use crate::{Format, Outcome, load};

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

/// What both writers name: the trace and the policies.
struct Names<'a> {
    trace: String,
    policy: Policy<'a>,
    against: Option<Policy<'a>>,
}

/// A call that disagrees with its recorded decision.
struct Drift<'r, 'a> {
    record: &'r Record,
    /// The (first) policy's decision, the one the record disagrees with.
    allowed: bool,
    rule: Option<&'a Rule>,
}

/// A call the second policy decides otherwise than the first.
struct Change<'r, 'a> {
    record: &'r Record,
    before: CallDecision<'a>,
    after: CallDecision<'a>,
}

/// How many of each streamed kind were reported one by one.
struct Streamed {
    drift: usize,
    errors: usize,
    changes: u64,
}

/// The two output formats: each is told what the replay finds as it is
/// found, and ends the output with the summary.
trait Writer<'a> {
    fn begin(&mut self, out: &mut Output<'_>) -> io::Result<()>;
    /// Called for the first [`DRIFT_SHOWN`] only.
    fn drift(&mut self, drift: &Drift<'_, 'a>, out: &mut Output<'_>) -> io::Result<()>;
    fn change(&mut self, change: &Change<'_, 'a>, out: &mut Output<'_>) -> io::Result<()>;
    /// A malformed line; called for the first [`ERRORS_SHOWN`] only.
    fn malformed(&mut self, error: TraceError);
    /// The trace could not be read on: no summary follows.
    fn unreadable(&mut self, error: &TraceError, out: &mut Output<'_>) -> io::Result<()>;
    fn finish(&mut self, end: &End<'a>, out: &mut Output<'_>) -> io::Result<()>;
}

/// A replay that read the whole trace.
struct End<'a> {
    summary: Summary<'a>,
    /// Lines read.
    lines: u64,
    streamed: Streamed,
}

pub fn run(args: &SimulateArgs) -> Outcome {
    // Both are loaded, and both reported, before either ends the command.
    let (before, after) = match (
        load::policy(&args.policy),
        args.against.as_deref().map(load::policy).transpose(),
    ) {
        (Ok(before), Ok(after)) => (before, after),
        (before, after) => {
            let format = match args.format {
                SimulateFormat::Json => Format::Json,
                SimulateFormat::Human => Format::Human,
            };
            return load::report_all(
                [before.err(), after.err()].into_iter().flatten().collect(),
                format,
            );
        }
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
    let names = Names {
        trace: args.trace.display().to_string(),
        policy: Policy {
            evaluator: &before,
            file: args.policy.display().to_string(),
        },
        against: after
            .as_ref()
            .zip(args.against.as_ref())
            .map(|(evaluator, path)| Policy {
                evaluator,
                file: path.display().to_string(),
            }),
    };
    let mut out = Output::new(&bar);
    let mut writer: Box<dyn Writer<'_> + '_> = match args.format {
        SimulateFormat::Human => Box::new(human::Writer::new(&names, &bar)),
        SimulateFormat::Json => Box::new(json::Writer::new(&names)),
    };
    let result = replay(&names, reader, writer.as_mut(), &mut out);
    bar.finish_and_clear();
    let outcome = match result {
        Ok(end) => verdict(args.fail_on, &end.summary, &bar),
        Err(Failure::Read(error)) => {
            eprintln!("error: `{}`: {}", names.trace, shown(&error.to_string()));
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

/// The whole trace replayed, each finding handed to `writer` as it comes:
/// nothing grows with the trace but the counts.
fn replay<'a, R: BufRead>(
    names: &Names<'a>,
    mut reader: TraceReader<R>,
    writer: &mut dyn Writer<'a>,
    out: &mut Output<'_>,
) -> Result<End<'a>, Failure> {
    let mut replay = Replay::new(names.policy.evaluator);
    if let Some(against) = &names.against {
        replay = replay.against(against.evaluator);
    }
    let mut streamed = Streamed {
        drift: 0,
        errors: 0,
        changes: 0,
    };
    writer.begin(out)?;
    for item in reader.by_ref() {
        match item {
            Ok(record) => {
                let replayed = replay.replay(&record);
                let before = CallDecision {
                    allowed: replayed.allowed,
                    rule: replayed.rule,
                };
                if replayed.drift && streamed.drift < DRIFT_SHOWN {
                    streamed.drift += 1;
                    let drift = Drift {
                        record: &record,
                        allowed: before.allowed,
                        rule: before.rule,
                    };
                    writer.drift(&drift, out)?;
                }
                if let Some(after) = changed(&names.against, &replayed) {
                    streamed.changes += 1;
                    let change = Change {
                        record: &record,
                        before,
                        after,
                    };
                    writer.change(&change, out)?;
                }
            }
            Err(error) if error.is_fatal() => {
                writer.unreadable(&error, out)?;
                return Err(Failure::Read(error));
            }
            Err(error) => {
                replay.malformed();
                if streamed.errors < ERRORS_SHOWN {
                    streamed.errors += 1;
                    writer.malformed(error);
                }
            }
        }
    }
    let end = End {
        summary: replay.finish(reader.skipped()),
        lines: reader.lines(),
        streamed,
    };
    writer.finish(&end, out)?;
    Ok(end)
}

/// The second policy's decision, when there is one and it differs.
fn changed<'a>(against: &Option<Policy<'a>>, replayed: &Replayed<'a>) -> Option<CallDecision<'a>> {
    against.as_ref().and(replayed.change)
}

/// The exit code of a finished replay: malformed lines, then the
/// `--fail-on` finding.
fn verdict(fail_on: Option<FailOn>, summary: &Summary<'_>, bar: &ProgressBar) -> Outcome {
    let totals = &summary.totals;
    let failed = match fail_on {
        None => None,
        Some(FailOn::Narrowed) => (totals.allow_to_deny > 0)
            .then(|| format!("{} allowed before denied now", calls(totals.allow_to_deny))),
        Some(FailOn::Widened) => (totals.deny_to_allow > 0)
            .then(|| format!("{} denied before allowed now", calls(totals.deny_to_allow))),
        Some(FailOn::Any) => {
            (totals.changed() > 0).then(|| format!("{} decided otherwise", calls(totals.changed())))
        }
        Some(FailOn::Drift) => (totals.drift > 0).then(|| {
            format!(
                "{} the policy decides otherwise than recorded",
                calls(totals.drift)
            )
        }),
    };
    if summary.malformed > 0 {
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
    }
}

/// `1 call`, `2 calls`.
fn calls(count: u64) -> String {
    crate::words::count(count, "call")
}

/// `allow` or `deny`, as both formats spell a decision.
fn decision(allowed: bool) -> &'static str {
    if allowed { "allow" } else { "deny" }
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

    /// One piece of output, whole: the bar is suspended once for it.
    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self.bar {
            Some(bar) => bar.suspend(|| {
                self.stdout.write_all(bytes)?;
                self.stdout.flush()
            }),
            None => self.stdout.write_all(bytes),
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
