//! `mcp-policy test PATH... [--format human|json|sarif|github]`: policy
//! tests in YAML (`POLICY.test.yaml`, see docs/policy-tests.md), run like
//! `cargo test`.
//!
//! A PATH is a test file, a policy (its `POLICY.test.yaml` beside it), or a
//! directory (every `*.mcppolicy.test.yaml` in it). Results go to standard
//! output; a malformed test file's diagnostics, and those of a policy that
//! does not compile, rendered as `check` renders a policy's, to standard
//! error. `--format json`, `sarif` and `github` carry both on standard
//! output too, each against its own file (the test file, or the policy
//! with its source), as `check` prints a policy's in those formats.
//!
//! Exit codes: 0 every test passed; 1 a test failed, a test file is
//! malformed, or a policy does not compile; 2 usage or I/O (a file that
//! cannot be read).

use std::path::{Path, PathBuf};

use mcp_policy_diagnostic::DiagnosticCode;
use mcp_policy_sim::suite::{
    self, CaseResult, Code, Diagnostic, Expect, Explained, Failure, Got, Report, TestFile,
};
use serde::Serialize;

use crate::escape::{backticked, shown};
use crate::load::PolicyError;
use crate::render::{JsonDiagnostic, Reported};
use crate::sarif::{self, Rules};
use crate::{Format, Outcome, explain, load, render};

#[derive(clap::Args, Debug)]
pub struct TestArgs {
    /// Test files (`*.test.yaml`), policies (their `POLICY.test.yaml` beside
    /// them), or directories (every `*.mcppolicy.test.yaml` in them).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// `human`: as `cargo test`; `json`: one document; `sarif` and
    /// `github`: the diagnostics of malformed test files and of policies
    /// that do not compile, as `check` prints a policy's (the results'
    /// summary on standard error).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Only the tests whose name contains this text (as `cargo test NAME`
    /// and `opa test --run` pick tests); the others are counted as
    /// filtered out.
    #[arg(long = "run", value_name = "TEXT")]
    only: Option<String>,
}

/// Where a test file ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Status {
    /// Every test passed.
    Passed,
    /// A test failed.
    Failed,
    /// The test file has errors: no test ran.
    Malformed,
    /// The policy does not compile: no test ran.
    PolicyErrors,
    /// A file could not be read.
    Unreadable,
}

impl Status {
    fn outcome(self) -> Outcome {
        match self {
            Status::Passed => Outcome::Ok,
            Status::Failed | Status::Malformed | Status::PolicyErrors => Outcome::PolicyErrors,
            Status::Unreadable => Outcome::UsageOrIo,
        }
    }
}

/// What `--format json` prints.
#[derive(Serialize)]
struct JsonRun<'a> {
    files: Vec<JsonFile<'a>>,
    passed: usize,
    failed: usize,
    /// Test files that ran no test: malformed, a policy with errors, unreadable.
    not_run: usize,
}

#[derive(Serialize)]
struct JsonFile<'a> {
    file: String,
    policy: Option<String>,
    status: Status,
    passed: usize,
    failed: usize,
    /// Tests left out by `--run`.
    #[serde(skip_serializing_if = "is_zero")]
    filtered_out: usize,
    cases: Vec<JsonCase>,
    /// The test file's problems, then those of its policy when it does not
    /// compile (against the policy's file), as `check --format json`
    /// reports a policy's.
    diagnostics: Vec<JsonDiagnostic<'a>>,
}

#[derive(Serialize)]
struct JsonCase {
    name: String,
    passed: bool,
    principal: String,
    method: &'static str,
    target: String,
    /// `allow`, `deny` or `unauthenticated`.
    expect: &'static str,
    /// The expected missing scopes, when the test states them.
    #[serde(skip_serializing_if = "Option::is_none")]
    expect_missing: Option<Vec<String>>,
    /// The conditions expected to deny, when the test states them.
    #[serde(skip_serializing_if = "Option::is_none")]
    expect_failing: Option<Vec<String>>,
    /// The expected rejection code, when the test states it.
    #[serde(skip_serializing_if = "Option::is_none")]
    expect_rejection: Option<&'static str>,
    /// `allow`, `deny`, or `unauthenticated` (the token was rejected).
    got: &'static str,
    /// The validator's code, when the token was rejected.
    rejection: Option<&'static str>,
    /// The deciding rule; `null` when the default decided or the token was rejected.
    rule: Option<JsonRule>,
    /// Scopes whose addition would allow (empty when allowed, or when none can).
    missing_scopes: Vec<String>,
    /// `false` when no scope can allow: a deny rule or the default denies;
    /// `null` when the token was rejected (the policy was not asked).
    allowable: Option<bool>,
    /// The deciding rule's conditions that failed (absent when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    failed_conditions: Vec<String>,
    /// The atoms that made a `deny ... when` fire (absent when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    denied_when: Vec<String>,
    /// Why the test failed; `null` when it passed.
    reason: Option<String>,
    /// Where the test is in the test file.
    line: usize,
    column: usize,
}

#[derive(Serialize)]
struct JsonRule {
    text: String,
    line: u32,
}

/// One test file's run.
struct FileRun {
    file: String,
    /// Tests left out by `--run`.
    filtered_out: usize,
    policy: Option<String>,
    status: Status,
    /// The test file, when it was read and checked.
    test_file: Option<TestFile>,
    /// The source file rule lines are lines of (a compiled table's recorded
    /// one); empty when unknown.
    rules_source: String,
    report: Option<Report>,
    diagnostics: Vec<Diagnostic>,
    source: String,
    /// The policy, when it does not compile.
    broken_policy: Option<BrokenPolicy>,
}

/// A policy with errors that a test file names: its diagnostics against
/// its text.
struct BrokenPolicy {
    file: String,
    text: String,
    diagnostics: Vec<mcp_policy_lang::Diagnostic>,
}

/// What `test` reports in one SARIF log or one run of annotations: a test
/// file's problems and a policy's, each with its own code.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Reportable {
    Test(Code),
    Policy(mcp_policy_lang::Code),
}

impl DiagnosticCode for Reportable {
    fn as_str(self) -> &'static str {
        match self {
            Reportable::Test(code) => code.as_str(),
            Reportable::Policy(code) => code.as_str(),
        }
    }
}

impl Rules for Reportable {
    /// The test files' codes, then `check`'s.
    fn rules() -> Vec<sarif::Rule> {
        let mut rules = Code::rules();
        rules.extend(mcp_policy_lang::Code::rules());
        rules
    }
}

pub fn run(args: &TestArgs) -> Outcome {
    let files = match test_files(&args.paths) {
        Ok(files) => files,
        Err(outcome) => {
            // Nothing was run: a machine format still gets its document
            // (empty; SARIF's says the run did not succeed), as `check`'s
            // does for a file it cannot read.
            let printed = match args.format {
                Format::Human | Format::Github => Ok(()),
                Format::Sarif => render::report::<Reportable>(args.format, &[], false),
                Format::Json => crate::output::json(
                    &JsonRun {
                        files: Vec::new(),
                        passed: 0,
                        failed: 0,
                        not_run: 0,
                    },
                    "JSON",
                ),
            };
            return printed.err().unwrap_or(outcome);
        }
    };
    // Only `human` shows the results as `cargo test` does.
    let json = args.format != Format::Human;
    let mut runs: Vec<FileRun> = Vec::new();
    for path in &files {
        let run = run_file(path, args.only.as_deref());
        if !json && run.report.is_some() {
            if runs.iter().any(|run| run.report.is_some()) {
                outln!();
            }
            out!("{}", human(&run));
        }
        runs.push(run);
    }
    let passed: usize = runs
        .iter()
        .filter_map(|run| run.report.as_ref())
        .map(Report::passed)
        .sum();
    let failed: usize = runs
        .iter()
        .filter_map(|run| run.report.as_ref())
        .map(Report::failed)
        .sum();
    let not_run = runs.iter().filter(|run| run.report.is_none()).count();
    if matches!(args.format, Format::Sarif | Format::Github) {
        // Each file's diagnostics under one code type: the test file's,
        // then its policy's.
        let recoded: Vec<(&str, &str, Vec<render::Diagnostic<Reportable>>)> = runs
            .iter()
            .flat_map(|run| {
                let test = (
                    run.file.as_str(),
                    run.source.as_str(),
                    render::recoded(&run.diagnostics, Reportable::Test),
                );
                let policy = run.broken_policy.as_ref().map(|policy| {
                    (
                        policy.file.as_str(),
                        policy.text.as_str(),
                        render::recoded(&policy.diagnostics, Reportable::Policy),
                    )
                });
                std::iter::once(test).chain(policy)
            })
            .collect();
        let reported: Vec<Reported<'_, Reportable>> = recoded
            .iter()
            .map(|(file, source, diagnostics)| Reported {
                file,
                source,
                diagnostics,
            })
            .collect();
        // A file that could not be read is on standard error, as for `check`.
        let readable = runs.iter().all(|run| run.status != Status::Unreadable);
        if let Err(outcome) = render::report(args.format, &reported, readable) {
            return outcome;
        }
        if args.format == Format::Github {
            eprintln!("{}", summary(passed, failed, not_run, runs.len()));
        }
    } else if args.format == Format::Json {
        let output = JsonRun {
            files: runs.iter().map(json_file).collect(),
            passed,
            failed,
            not_run,
        };
        if let Err(outcome) = crate::output::json(&output, "JSON") {
            return outcome;
        }
    } else if runs.len() > 1 {
        outln!("\n{}", summary(passed, failed, not_run, runs.len()));
    }
    runs.iter()
        .map(|run| run.status.outcome())
        .max_by_key(|outcome| match outcome {
            Outcome::Ok => 0,
            Outcome::PolicyErrors => 1,
            Outcome::UsageOrIo => 2,
        })
        .unwrap_or(Outcome::Ok)
}

/// The test files the paths name, or the outcome to exit with once the
/// reason is on standard error.
fn test_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Outcome> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|error| {
                eprintln!("error: cannot read `{}`: {error}", load::shown(path));
                Outcome::UsageOrIo
            })?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|file| {
                    file.is_file()
                        && file
                            .file_name()
                            .and_then(|name| name.to_str())
                            .is_some_and(|name| {
                                name.ends_with(&format!(".mcppolicy{}", suite::SUFFIX))
                            })
                })
                .collect();
            if found.is_empty() {
                eprintln!(
                    "error: no `*.mcppolicy{}` test file in `{}`",
                    suite::SUFFIX,
                    load::shown(path)
                );
                return Err(Outcome::UsageOrIo);
            }
            found.sort();
            files.extend(found);
        } else if path
            .extension()
            .is_some_and(|extension| extension == "yaml" || extension == "yml")
        {
            files.push(path.clone());
        } else {
            // A policy: its tests beside it.
            let mut name = path.as_os_str().to_owned();
            name.push(suite::SUFFIX);
            let tests = PathBuf::from(name);
            if !tests.is_file() {
                eprintln!(
                    "error: no tests for `{}`: `{}` does not exist",
                    load::shown(path),
                    load::shown(&tests)
                );
                return Err(Outcome::UsageOrIo);
            }
            files.push(tests);
        }
    }
    Ok(files)
}

fn run_file(path: &Path, only: Option<&str>) -> FileRun {
    let file = path.display().to_string();
    let mut run = FileRun {
        file: file.clone(),
        filtered_out: 0,
        policy: None,
        status: Status::Unreadable,
        test_file: None,
        rules_source: String::new(),
        report: None,
        diagnostics: Vec::new(),
        source: String::new(),
        broken_policy: None,
    };
    let Some(source) = load::text(path, mcp_policy_fs::limit::TEST_FILE) else {
        return run;
    };
    run.source = source;
    let test_file = match TestFile::parse(&run.source) {
        Ok(test_file) => test_file,
        Err(diagnostics) => return malformed(run, diagnostics),
    };
    let policy_path = match test_file.policy_path(path) {
        Ok(policy_path) => policy_path,
        Err(diagnostic) => return malformed(run, vec![*diagnostic]),
    };
    // A `.json` policy is a compiled table, never source: a JSON file of
    // another kind would be shown, as source that does not compile.
    if policy_path
        .extension()
        .is_some_and(|extension| extension == "json")
        && !matches!(
            load::policy_file(&policy_path),
            None | Some(load::PolicyFile::Artifact(_))
        )
    {
        let diagnostic = Diagnostic::error(
            Code::PolicyPath,
            format!(
                "`{}` is not a compiled table",
                shown(&policy_path.display().to_string())
            ),
        )
        .with_help("a `.json` policy is a table written by `mcp-policy compile`");
        return malformed(run, vec![diagnostic]);
    }
    run.policy = Some(policy_path.display().to_string());
    let evaluator = match load::policy(&policy_path) {
        Ok(evaluator) => evaluator,
        Err(PolicyError::Reported(Outcome::UsageOrIo)) => {
            run.status = Status::Unreadable;
            return run;
        }
        Err(error) => {
            // Rendered on standard error in every format, as a malformed
            // test file's are; kept for the machine formats' report.
            if let PolicyError::NotLoaded {
                file: policy_file,
                text,
                diagnostics,
            } = error
            {
                eprint!("{}", render::human(&diagnostics, &policy_file, &text));
                run.broken_policy = Some(BrokenPolicy {
                    file: policy_file,
                    text,
                    diagnostics,
                });
            }
            eprintln!(
                "error: could not run `{}`: the policy `{}` has errors",
                shown(&file),
                shown(&policy_path.display().to_string())
            );
            run.status = Status::PolicyErrors;
            return run;
        }
    };
    run.rules_source = evaluator.table().source().unwrap_or_default().to_owned();
    let base = path.parent().unwrap_or_else(|| Path::new(""));
    match suite::run(&test_file, base, &evaluator) {
        Ok(mut report) => {
            // Every test is decided (decisions are pure); the filter only
            // chooses which are reported and counted.
            if let Some(only) = only {
                let before = report.cases.len();
                report.cases.retain(|case| case.name.contains(only));
                run.filtered_out = before - report.cases.len();
            }
            run.status = if report.failed() == 0 {
                Status::Passed
            } else {
                Status::Failed
            };
            run.report = Some(report);
            run.test_file = Some(test_file);
            run
        }
        Err(diagnostics) => malformed(run, diagnostics),
    }
}

/// A test file with errors: they go to standard error now, rendered as
/// `check` renders a policy's.
fn malformed(mut run: FileRun, diagnostics: Vec<Diagnostic>) -> FileRun {
    let mut out = render::human(&diagnostics, &run.file, &run.source);
    let count = crate::words::count(diagnostics.len() as u64, "error");
    out.push_str(&format!(
        "error: could not run `{}`: {count} in the test file\n",
        shown(&run.file)
    ));
    eprint!("{out}");
    run.status = Status::Malformed;
    run.diagnostics = diagnostics;
    run
}

/// The line that ends a run of more than one file (and `--format github`'s
/// on standard error).
fn summary(passed: usize, failed: usize, not_run: usize, files: usize) -> String {
    let verdict = if failed == 0 && not_run == 0 {
        "ok"
    } else {
        "FAILED"
    };
    let not_run = match not_run {
        0 => String::new(),
        n => format!("; {} not run", crate::words::count(n as u64, "test file")),
    };
    let files = crate::words::count(files as u64, "file");
    format!("all test files: {verdict}. {passed} passed; {failed} failed{not_run} ({files})")
}

/// One test file's results, as `cargo test` shows them.
fn human(run: &FileRun) -> String {
    // A file that ran no test has said why on standard error.
    let (Some(report), Some(test_file)) = (&run.report, &run.test_file) else {
        return String::new();
    };
    let policy = run.policy.as_deref().unwrap_or("policy");
    let plural = crate::words::plural_s(report.cases.len() as u64);
    let mut text = format!(
        "running {} test{plural} from {} (policy {})\n",
        report.cases.len(),
        shown(&run.file),
        shown(policy)
    );
    for case in &report.cases {
        let verdict = if case.passed() { "ok" } else { "FAILED" };
        text.push_str(&format!("test {} ... {verdict}\n", shown(&case.name)));
    }
    let failures: Vec<&CaseResult> = report.cases.iter().filter(|case| !case.passed()).collect();
    if !failures.is_empty() {
        text.push_str("\nfailures:\n");
        for case in &failures {
            let (line, column) = case_line_column(test_file, case);
            text.push_str(&format!("\n---- {} ----\n", shown(&case.name)));
            text.push_str(&format!("  --> {}:{line}:{column}\n", shown(&run.file)));
            text.push_str(&format!("  {}\n", reason(case)));
            text.push_str(&details(case, &run.rules_source));
        }
        text.push_str("\nfailures:\n");
        for case in &failures {
            text.push_str(&format!("    {}\n", shown(&case.name)));
        }
    }
    let verdict = if failures.is_empty() { "ok" } else { "FAILED" };
    let filtered = if run.filtered_out > 0 {
        format!("; {} filtered out", run.filtered_out)
    } else {
        String::new()
    };
    text.push_str(&format!(
        "\ntest result: {verdict}. {} passed; {} failed{filtered}\n",
        report.passed(),
        report.failed()
    ));
    text
}

/// Why a case failed, in one line.
fn reason(case: &CaseResult) -> String {
    let call = shown(&case.call.request().to_string()).into_owned();
    let got = got(&case.got);
    match (&case.failure, &case.got) {
        (None, _) => "passed".to_owned(),
        (Some(Failure::Decision), _) => {
            format!("expected {}, got {got}: {call}", case.expect.as_str())
        }
        (Some(Failure::MissingScopes), _) => {
            let expected = match &case.expect {
                Expect::Deny {
                    missing: Some(missing),
                    ..
                } => shown(&scope_list(missing)).into_owned(),
                _ => String::new(),
            };
            format!("denied as expected, but the missing scopes differ: expected {expected}")
        }
        (Some(Failure::Conditions), Got::Decision(decided)) => {
            let expected = match &case.expect {
                Expect::Deny {
                    failing: Some(failing),
                    ..
                } => backticked(failing),
                _ => String::new(),
            };
            let by = if !decided.failed_conditions.is_empty() {
                format!("failing {}", backticked(&decided.failed_conditions))
            } else if !decided.denied_when.is_empty() {
                format!("a deny-when on {}", backticked(&decided.denied_when))
            } else if decided.allowable {
                "missing scopes, not conditions".to_owned()
            } else {
                "a rule or the default, not conditions".to_owned()
            };
            format!("denied as expected, but not by {expected}: by {by}")
        }
        (Some(Failure::TokenRejected), Got::Rejected(rejection)) => format!(
            "expected {}, but the token is rejected: {} [{}]",
            case.expect.as_str(),
            rejection.description(),
            rejection.as_str()
        ),
        (Some(Failure::TokenAccepted), _) => {
            format!("expected the token to be rejected, but it is valid: {got} {call}")
        }
        (Some(Failure::Rejection), Got::Rejected(rejection)) => {
            let expected = match &case.expect {
                Expect::Unauthenticated {
                    rejection: Some(expected),
                } => expected.as_str(),
                _ => "",
            };
            format!(
                "expected rejection `{expected}`, got `{}`: {}",
                rejection.as_str(),
                rejection.description()
            )
        }
        (Some(_), _) => format!("expected {}, got {got}", case.expect.as_str()),
    }
}

/// `mcp:read mcp:write`, or what an empty list means here.
fn scope_list(scopes: &[String]) -> String {
    if scopes.is_empty() {
        "none (no scope can allow)".to_owned()
    } else {
        scopes.join(" ")
    }
}

/// The decision explained, in `mcp-policy explain`'s words.
fn details(case: &CaseResult, policy: &str) -> String {
    let mut text = format!("  principal:      {}\n", shown(&case.principal.to_string()));
    let decided = match &case.got {
        Got::Rejected(_) => {
            text.push_str("  a rejected token never reaches the policy\n");
            return text;
        }
        Got::Decision(decided) => decided,
    };
    text.push_str(&explain::lines(&explain::Lines {
        scopes: &decided.scopes,
        ignored: &decided.ignored_scopes,
        rule: decided
            .rule
            .as_ref()
            .map(|rule| (rule.text.as_str(), rule.line)),
        file: policy,
        default: None,
        allowed: decided.allowed,
        allowable: decided.allowable,
        missing: &decided.missing_scopes,
        conditions: explain::Conditions {
            evaluated: &decided.conditions,
            failed: &decided.failed_conditions,
            fired: &decided.denied_when,
        },
    }));
    text
}

fn got(got: &Got) -> &'static str {
    match got {
        Got::Decision(Explained { allowed: true, .. }) => "allow",
        Got::Decision(_) => "deny",
        Got::Rejected(_) => "unauthenticated",
    }
}

fn json_file(run: &FileRun) -> JsonFile<'_> {
    let cases = match (&run.report, &run.test_file) {
        (Some(report), Some(test_file)) => report
            .cases
            .iter()
            .map(|case| json_case(case, test_file))
            .collect(),
        _ => Vec::new(),
    };
    JsonFile {
        file: run.file.clone(),
        policy: run.policy.clone(),
        status: run.status,
        passed: run.report.as_ref().map_or(0, Report::passed),
        failed: run.report.as_ref().map_or(0, Report::failed),
        filtered_out: run.filtered_out,
        cases,
        diagnostics: {
            let mut diagnostics = render::json_all(&[Reported {
                file: &run.file,
                source: &run.source,
                diagnostics: &run.diagnostics,
            }]);
            if let Some(policy) = &run.broken_policy {
                diagnostics.extend(render::json_all(&[Reported {
                    file: &policy.file,
                    source: &policy.text,
                    diagnostics: &policy.diagnostics,
                }]));
            }
            diagnostics
        },
    }
}

fn json_case(case: &CaseResult, test_file: &TestFile) -> JsonCase {
    let (line, column) = case_line_column(test_file, case);
    let call = case.call.request();
    let (rule, missing_scopes, allowable, rejection) = match &case.got {
        Got::Decision(decided) => (
            decided.rule.as_ref().map(|rule| JsonRule {
                text: rule.text.clone(),
                line: rule.line,
            }),
            decided.missing_scopes.clone(),
            Some(decided.allowable),
            None,
        ),
        Got::Rejected(rejection) => (None, Vec::new(), None, Some(rejection.as_str())),
    };
    JsonCase {
        name: case.name.clone(),
        passed: case.passed(),
        principal: case.principal.clone(),
        method: call.kind().method(),
        target: case.call.name.clone(),
        expect: case.expect.as_str(),
        expect_missing: match &case.expect {
            Expect::Deny { missing, .. } => missing.clone(),
            _ => None,
        },
        expect_failing: match &case.expect {
            Expect::Deny { failing, .. } => failing.clone(),
            _ => None,
        },
        expect_rejection: match &case.expect {
            Expect::Unauthenticated { rejection } => rejection.map(|rejection| rejection.as_str()),
            _ => None,
        },
        got: got(&case.got),
        rejection,
        rule,
        missing_scopes,
        allowable,
        failed_conditions: match &case.got {
            Got::Decision(decided) => decided.failed_conditions.clone(),
            Got::Rejected(_) => Vec::new(),
        },
        denied_when: match &case.got {
            Got::Decision(decided) => decided.denied_when.clone(),
            Got::Rejected(_) => Vec::new(),
        },
        reason: (!case.passed()).then(|| reason(case)),
        line,
        column,
    }
}

/// Where a test is in its file: 1-based line, column in characters.
fn case_line_column(test_file: &TestFile, case: &CaseResult) -> (usize, usize) {
    let at = test_file.case_location(case.index);
    mcp_policy_diagnostic::line_column(test_file.source(), at.start)
}

fn is_zero(count: &usize) -> bool {
    *count == 0
}
