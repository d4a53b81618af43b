//! `mcp-policy`: check, compile, explain, test and compare MCP policies.
//!
//! Exit codes: 0 success; 1 a policy has errors, or what the command checks
//! fails (`fmt --check`, a policy test, a token, a `--fail-on` finding of
//! `diff` or `simulate`); 2 usage or I/O error.

#[macro_use]
mod output;

mod check;
mod compile;
mod context;
mod diff;
mod escape;
mod explain;
mod fmt;
mod github;
mod levels;
mod load;
mod matrix;
mod proxy;
mod render;
mod sarif;
mod simulate;
mod telemetry;
mod test;
mod token;
mod words;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "mcp-policy",
    version,
    about = "Check, compile and explain MCP server policies (.mcppolicy)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Parse, check and compile policies, then lint them; report every problem found.
    Check(CheckArgs),
    /// Lint policies (they must compile first; errors are reported as by `check`).
    Lint(CheckArgs),
    /// Compile a policy to a decision table that servers load without the parser.
    Compile {
        path: PathBuf,
        /// Where to write the table (`-` for standard output).
        #[arg(short, long)]
        output: PathBuf,
        /// How the policy's diagnostics are reported, as by `check`: `human`
        /// on standard error, the others on standard output (so not with
        /// `-o -`, which writes the table there).
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Rewrite policies in the canonical layout.
    Fmt {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Print a unified diff of what would change, and exit 1 if anything would; rewrite nothing.
        #[arg(long)]
        check: bool,
        /// How syntax errors are reported, as by `check`: `human` on
        /// standard error, the others on standard output. In those, `--check`
        /// prints no diff: it names each file that would change on standard
        /// error.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Decide one request as a server would, and say why.
    Explain(ExplainArgs),
    /// Validate access tokens as a server would.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Run policy tests: principals, calls and the decisions expected of them (YAML).
    Test(test::TestArgs),
    /// Replay recorded calls (JSON lines, the server's decision log) on a policy, or on two.
    Simulate(simulate::SimulateArgs),
    /// Compare two policies by what they allow, not by their text.
    Diff(diff::DiffArgs),
    /// Which scopes grant which tools, resources and prompts.
    Matrix(matrix::MatrixArgs),
    /// Enforce a policy in front of an MCP server over Streamable HTTP.
    Proxy(Box<proxy::ProxyArgs>),
}

#[derive(Args, Debug)]
struct CheckArgs {
    /// Policy files.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// The server's `tools/list` answer (a ListToolsResult JSON), for the
    /// lints that compare the policy with the tools the server offers.
    #[arg(long, value_name = "FILE")]
    tools: Option<PathBuf>,
    /// Make a lint an error (`warnings`: every warning).
    #[arg(long = "deny", short = 'D', value_name = "LINT")]
    deny: Vec<String>,
    /// Make a lint a warning.
    #[arg(long = "warn", short = 'W', value_name = "LINT")]
    warn: Vec<String>,
    /// Turn a lint off.
    #[arg(long = "allow", short = 'A', value_name = "LINT")]
    allow: Vec<String>,
}

#[derive(Args, Debug)]
struct ExplainArgs {
    /// A policy source or a compiled table.
    path: PathBuf,
    /// The token's scopes, space-separated as in its `scope` claim [default: none].
    #[arg(long)]
    scopes: Option<String>,
    #[command(flatten)]
    target: ExplainTarget,
    /// The call's arguments, a JSON object (`params.arguments`), for the
    /// policy's `arg.` conditions.
    #[arg(long, value_name = "JSON")]
    arguments: Option<String>,
    /// The token's claims, for `claim.` conditions: a JSON object (its
    /// `scope` grants nothing: `--scopes` does), or a signed token, verified
    /// as `token verify` does (with --jwks, --issuer, --audience), whose
    /// scopes are then the ones held.
    #[arg(long, value_name = "JSON_OR_JWT")]
    claims: Option<String>,
    /// For a token in --claims: its JWKS (a file, or a URL).
    #[arg(long, value_name = "FILE_OR_URL", requires = "claims")]
    jwks: Option<String>,
    /// For a token in --claims: an accepted issuer; repeat for several.
    #[arg(long = "issuer", value_name = "ISS", requires = "claims")]
    issuers: Vec<String>,
    /// For a token in --claims: this server's resource URI (`aud`).
    #[arg(long, value_name = "AUD", requires = "claims")]
    audience: Option<String>,
    #[command(flatten, next_help_heading = "Token checks (a token in --claims)")]
    checks: token::Checks,
    #[arg(long, value_enum, default_value_t = ExplainFormat::Human)]
    format: ExplainFormat,
}

#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
struct ExplainTarget {
    /// A `tools/call` of this tool.
    #[arg(long)]
    tool: Option<String>,
    /// A `resources/read` of this URI.
    #[arg(long)]
    resource: Option<String>,
    /// A `prompts/get` of this prompt.
    #[arg(long)]
    prompt: Option<String>,
}

/// `explain` answers one request: for people or for tools.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ExplainFormat {
    Human,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Human,
    Json,
    /// SARIF 2.1.0, for code-scanning services.
    Sarif,
    /// GitHub Actions workflow commands (annotations).
    Github,
}

impl Format {
    /// The name `--format` takes.
    fn name(self) -> &'static str {
        match self {
            Format::Human => "human",
            Format::Json => "json",
            Format::Sarif => "sarif",
            Format::Github => "github",
        }
    }
}

/// What a command ended with; ordered from best to worst, so that a
/// command reporting several things exits with the worst.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Ok,
    PolicyErrors,
    UsageOrIo,
}

impl From<Outcome> for ExitCode {
    fn from(outcome: Outcome) -> ExitCode {
        ExitCode::from(match outcome {
            Outcome::Ok => 0,
            Outcome::PolicyErrors => 1,
            Outcome::UsageOrIo => 2,
        })
    }
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    // Lint levels apply in command-line order, the last word winning, as
    // rustc's do; only the matches know that order.
    let sub = matches.subcommand().map(|(_, sub)| sub);
    let outcome = match cli.command {
        Command::Check(args) => check::run(&args, sub, check::Mode::Check),
        Command::Lint(args) => check::run(&args, sub, check::Mode::Lint),
        Command::Fmt {
            paths,
            check,
            format,
        } => fmt::run(&paths, check, format),
        Command::Compile {
            path,
            output,
            format,
        } => compile::run(&path, &output, format),
        Command::Explain(args) => explain::run(&args),
        Command::Token(command) => token::run(&command),
        Command::Test(args) => test::run(&args),
        Command::Simulate(args) => simulate::run(&args),
        Command::Diff(args) => diff::run(&args),
        Command::Matrix(args) => matrix::run(&args),
        Command::Proxy(args) => proxy::run(*args),
    };
    outcome.into()
}
