//! `mcp-policy matrix POLICY`: which scopes grant which tools, resources
//! and prompts, as a table a policy's README can show.

use std::fmt::Write as _;
use std::path::PathBuf;

use mcp_policy_evaluator::TargetKind;
use mcp_policy_sim::matrix::{Access, Matrix, Row, matrix};

use crate::{Format, Outcome, load};

#[derive(clap::Args, Debug)]
pub struct MatrixArgs {
    /// A policy source or a compiled table.
    path: PathBuf,
    #[arg(long, value_enum, default_value_t = MatrixFormat::Markdown)]
    format: MatrixFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum MatrixFormat {
    Markdown,
    Json,
}

pub fn run(args: &MatrixArgs) -> Outcome {
    let evaluator = match load::policy(&args.path) {
        Ok(evaluator) => evaluator,
        Err(error) => {
            return error.report(match args.format {
                MatrixFormat::Json => Format::Json,
                MatrixFormat::Markdown => Format::Human,
            });
        }
    };
    let result = match matrix(evaluator.table()) {
        Ok(result) => result,
        Err(error) => {
            eprintln!(
                "error: {}; no matrix is made",
                crate::escape::shown(&error.to_string())
            );
            return Outcome::UsageOrIo;
        }
    };
    match args.format {
        MatrixFormat::Markdown => out!("{}", markdown(&result, &args.path.display().to_string())),
        MatrixFormat::Json => {
            if let Err(outcome) = crate::output::json(&result, "JSON") {
                return outcome;
            }
        }
    }
    Outcome::Ok
}

/// A Markdown code span: no backtick or pipe can end it early, no control
/// character reaches a terminal.
fn code(text: &str) -> String {
    format!(
        "`{}`",
        crate::escape::shown(text)
            .replace('`', "'")
            .replace('|', "\\|")
    )
}

fn markdown(result: &Matrix, file: &str) -> String {
    let title = result.policy.as_deref().unwrap_or(file);
    let mut out = format!("### Access matrix: {}\n\n", code(title));
    out.push_str("Scopes:\n\n");
    for scope in &result.scopes {
        let _ = write!(out, "- {} ({})", code(&scope.name), scope.level);
        if !scope.implies.is_empty() {
            let implied: Vec<String> = scope.implies.iter().map(|s| code(s)).collect();
            let _ = write!(out, ", implies {}", implied.join(", "));
        }
        out.push('\n');
    }
    out.push_str(
        "\n✓: a token carrying that scope alone is granted. \
         A combination needs every scope listed (or scopes implying them).\n",
    );
    if result
        .rows
        .iter()
        .any(|row| !row.conditions.is_empty() || !row.when.is_empty())
    {
        out.push_str(
            "\n`if` COND: granted only on requests where the condition holds. \
             \"nothing when\" COND: a `deny ... when` rule, checked before any allow rule.\n",
        );
    }
    for kind in TargetKind::ALL {
        let rows: Vec<&Row> = result
            .rows
            .iter()
            .filter(|row| row.kind == Some(kind))
            .collect();
        if rows.is_empty() {
            continue;
        }
        let heading = match kind {
            TargetKind::Tool => "Tool",
            TargetKind::Resource => "Resource",
            TargetKind::Prompt => "Prompt",
        };
        let _ = write!(out, "\n| {heading} |");
        for scope in &result.scopes {
            let _ = write!(out, " {} |", code(&scope.name));
        }
        out.push_str(" Needs a combination |\n|---|");
        for _ in &result.scopes {
            out.push_str(":-:|");
        }
        out.push_str("---|\n");
        for row in rows {
            let _ = write!(out, "| {} |", code(row.target.as_deref().unwrap_or("")));
            for scope in &result.scopes {
                if row.single_scopes.contains(&scope.name) {
                    out.push_str(" ✓ |");
                    continue;
                }
                let alone = std::slice::from_ref(&scope.name);
                let when: Vec<String> = row
                    .conditions
                    .iter()
                    .filter(|clause| clause.grants.grants(alone))
                    .map(|clause| all_of(&clause.when))
                    .collect();
                if when.is_empty() {
                    out.push_str("  |");
                } else {
                    let _ = write!(out, " if {} |", when.join(" or "));
                }
            }
            let _ = writeln!(out, " {} |", needs(row));
        }
    }
    let default = result.rows.iter().find(|row| row.kind.is_none());
    let _ = writeln!(
        out,
        "\nAnything no rule names: {}.",
        match default.map(|row| row.access) {
            Some(Access::AnyToken) => "any valid token (`default allow`)",
            _ => "nothing grants it (`default deny`)",
        }
    );
    out
}

/// Atoms that must all hold, as code spans.
fn all_of(atoms: &[String]) -> String {
    atoms
        .iter()
        .map(|a| code(a))
        .collect::<Vec<_>>()
        .join(" and ")
}

fn needs(row: &Row) -> String {
    let mut parts: Vec<String> = Vec::new();
    let base = base_needs(row);
    if !base.is_empty() {
        parts.push(base);
    }
    for clause in &row.conditions {
        // Single scopes show in their columns; the rest here.
        let sets: Vec<String> = clause
            .grants
            .sets()
            .iter()
            .filter(|set| set.len() != 1)
            .map(|set| {
                if set.is_empty() {
                    "any valid token".to_owned()
                } else {
                    set.iter().map(|s| code(s)).collect::<Vec<_>>().join(" + ")
                }
            })
            .collect();
        if !sets.is_empty() {
            parts.push(format!("{} if {}", sets.join(" or "), all_of(&clause.when)));
        }
    }
    let mut out = parts.join(" or ");
    for when in &row.denied_when {
        let _ = write!(
            out,
            "{}unless {} (line {}) denies",
            if out.is_empty() { "" } else { "; " },
            code(&when.rule),
            when.line
        );
    }
    out
}

fn base_needs(row: &Row) -> String {
    match row.access {
        Access::Conditional => String::new(),
        Access::DeniedWhen => format!(
            "nothing when {}",
            row.when
                .iter()
                .map(|conjunct| all_of(conjunct))
                .collect::<Vec<_>>()
                .join(" or ")
        ),
        Access::AnyToken => "any valid token".to_owned(),
        Access::Denied => "nothing: denied".to_owned(),
        Access::Shadowed => match &row.shadowed_by {
            Some(by) => format!("nothing: {} (line {}) decides it", code(&by.rule), by.line),
            None => "nothing: another rule decides it".to_owned(),
        },
        Access::DefaultDeny => "nothing".to_owned(),
        Access::Scopes => row
            .combinations
            .iter()
            .map(|set| set.iter().map(|s| code(s)).collect::<Vec<_>>().join(" + "))
            .collect::<Vec<_>>()
            .join(" or "),
    }
}
