//! `mcp-policy`: check, compile and explain MCP policies.
//!
//! Exit codes: 0 success; 1 a policy has errors; 2 usage or I/O error.

mod check;
mod compile;
mod explain;
mod render;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    /// Parse, check and compile policies; report every error found.
    Check {
        /// Policy files to check.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Compile a policy to a decision table that servers load without the parser.
    Compile {
        path: PathBuf,
        /// Where to write the table (`-` for standard output).
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Decide one request as a server would, and say why.
    Explain(ExplainArgs),
}

#[derive(Args, Debug)]
struct ExplainArgs {
    /// A policy source or a compiled table.
    path: PathBuf,
    /// The token's scopes, space-separated as in its `scope` claim.
    #[arg(long, default_value = "")]
    scopes: String,
    #[command(flatten)]
    target: ExplainTarget,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Human,
    Json,
}

/// What a command ended with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Check { paths, format } => check::run(&paths, format),
        Command::Compile { path, output } => compile::run(&path, &output),
        Command::Explain(args) => explain::run(&args),
    };
    outcome.into()
}
