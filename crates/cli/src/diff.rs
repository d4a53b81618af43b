//! `mcp-policy diff OLD NEW`: who gains and who loses access.

use std::fmt::Write as _;
use std::path::PathBuf;

use mcp_policy_sim::atom_changes::AtomChange;
use mcp_policy_sim::conditions::Witness;
use mcp_policy_sim::diff::{Change, Diff, Rename, diff_renamed, suggest_renames};
use mcp_policy_sim::grants::Grants;
use serde::Serialize;

use crate::{Format, Outcome, load};

#[derive(clap::Args, Debug)]
pub struct DiffArgs {
    /// The policy as it is (source or compiled table).
    old: PathBuf,
    /// The policy as proposed.
    new: PathBuf,
    #[arg(long, value_enum, default_value_t = DiffFormat::Human)]
    format: DiffFormat,
    /// Exit 1 when access changes this way (`widened`: some token gains
    /// access, rules added included; `narrowed`: some token loses access;
    /// `any`: either).
    #[arg(long, value_enum, value_name = "CHANGE")]
    fail_on: Option<FailOn>,
    /// A scope the old policy calls OLD and the new one NEW, renamed at the
    /// authorization server too: compare as if the old policy used NEW.
    #[arg(long, value_name = "OLD=NEW", value_parser = parse_rename)]
    rename: Vec<Rename>,
}

fn parse_rename(text: &str) -> Result<Rename, String> {
    match text.split_once('=') {
        Some((old, new)) if !old.is_empty() && !new.is_empty() => Ok(Rename {
            old: old.to_owned(),
            new: new.to_owned(),
        }),
        _ => Err(format!("expected OLD=NEW, got `{text}`")),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum DiffFormat {
    Human,
    Json,
    /// A Markdown table, for a pull-request comment.
    Markdown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum FailOn {
    Widened,
    Narrowed,
    Any,
}

#[derive(Serialize)]
struct JsonDiff<'a> {
    old: String,
    new: String,
    #[serde(flatten)]
    diff: &'a Diff,
    /// Renames that would explain some changes (see `--rename`), and how
    /// many changes would remain with them.
    #[serde(skip_serializing_if = "Option::is_none")]
    suggested_renames: Option<Suggestion<'a>>,
}

#[derive(Serialize)]
struct Suggestion<'a> {
    renames: &'a [Rename],
    remaining_changes: usize,
}

pub fn run(args: &DiffArgs) -> Outcome {
    // Both are loaded, and both reported, in this order, before either
    // ends the command.
    let (old, new) = match (load::policy(&args.old), load::policy(&args.new)) {
        (Ok(old), Ok(new)) => (old, new),
        (old, new) => {
            let format = match args.format {
                DiffFormat::Json => Format::Json,
                DiffFormat::Human | DiffFormat::Markdown => Format::Human,
            };
            return load::report_all(
                [old.err(), new.err()].into_iter().flatten().collect(),
                format,
            );
        }
    };
    let result = match diff_renamed(old.table(), new.table(), &args.rename) {
        Ok(result) => result,
        Err(error) => {
            // The error names the rules it is about.
            eprintln!("error: {}", plain(&error.to_string()));
            return Outcome::UsageOrIo;
        }
    };
    let suggestion = suggest_renames(old.table(), new.table(), &result);
    let suggestion = suggestion.as_ref().map(|(renames, remaining)| Suggestion {
        renames,
        remaining_changes: remaining.changes.len(),
    });
    let (old_name, new_name) = (
        args.old.display().to_string(),
        args.new.display().to_string(),
    );
    match args.format {
        DiffFormat::Human => {
            out!("{}", human(&result, &old_name, &new_name));
            out!("{}", hint(suggestion.as_ref(), plain));
        }
        DiffFormat::Markdown => {
            out!("{}", markdown(&result, &old_name, &new_name));
            out!("{}", hint(suggestion.as_ref(), ticked));
        }
        DiffFormat::Json => {
            let json = JsonDiff {
                old: old_name,
                new: new_name,
                diff: &result,
                suggested_renames: suggestion,
            };
            if let Err(outcome) = crate::output::json(&json, "JSON") {
                return outcome;
            }
        }
    }
    let failed = match args.fail_on {
        None => false,
        Some(FailOn::Widened) => result.widens(),
        Some(FailOn::Narrowed) => result.narrows(),
        Some(FailOn::Any) => !result.is_empty(),
    };
    if failed {
        eprintln!(
            "error: access {} (--fail-on {})",
            match args.fail_on {
                Some(FailOn::Narrowed) => "narrows",
                Some(FailOn::Any) => "changes",
                _ => "widens",
            },
            match args.fail_on {
                Some(FailOn::Narrowed) => "narrowed",
                Some(FailOn::Any) => "any",
                _ => "widened",
            }
        );
        return Outcome::PolicyErrors;
    }
    Outcome::Ok
}

/// `tool close_issue`, `tools matching `admin_*``, `tools no rule names`.
fn subject(change: &Change, code: fn(&str) -> String) -> String {
    let kind = change.kind.keyword();
    match &change.target {
        Some(target) if target.contains('*') => {
            format!(
                "{kind}s matching {} (e.g. {})",
                code(target),
                code(&change.example)
            )
        }
        Some(target) => format!("{kind} {}", code(target)),
        None => format!("{kind}s no rule names (e.g. {})", code(&change.example)),
    }
}

fn sets(sets: &[Vec<String>], code: fn(&str) -> String) -> String {
    sets.iter()
        .map(|set| {
            if set.is_empty() {
                // The empty set: a token needs no scope at all.
                return "any valid token".to_owned();
            }
            set.iter()
                .map(|scope| code(scope))
                .collect::<Vec<_>>()
                .join(" + ")
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

fn grants(grants: &Grants, code: fn(&str) -> String) -> String {
    if grants.is_nothing() {
        "nothing".to_owned()
    } else if grants.is_any_token() {
        "any valid token".to_owned()
    } else {
        sets(grants.sets(), code)
    }
}

fn atoms(atoms: &[String], code: fn(&str) -> String) -> String {
    atoms
        .iter()
        .map(|atom| code(atom))
        .collect::<Vec<_>>()
        .join(" and ")
}

/// `mcp:read + arg.limit <= 100, not arg.repo matches "a*"`: one request
/// decided differently.
fn request(witness: &Witness, code: fn(&str) -> String) -> String {
    let mut out = if witness.scopes.is_empty() {
        "any valid token".to_owned()
    } else {
        sets(std::slice::from_ref(&witness.scopes), code)
    };
    if !witness.holds.is_empty() {
        let _ = write!(out, " where {}", atoms(&witness.holds, code));
    }
    if !witness.fails.is_empty() {
        let _ = write!(
            out,
            "{} not {}",
            if witness.holds.is_empty() {
                " where"
            } else {
                " and"
            },
            witness
                .fails
                .iter()
                .map(|atom| code(atom))
                .collect::<Vec<_>>()
                .join(" and not ")
        );
    }
    out
}

/// ` (e.g. 51 only before; 7 only after)`.
fn examples(atom: &AtomChange, code: fn(&str) -> String) -> String {
    let shown: Vec<String> = [("before", &atom.only_before), ("after", &atom.only_after)]
        .into_iter()
        .filter_map(|(side, value)| {
            value
                .as_ref()
                .map(|value| format!("{} only {side}", code(&value.to_string())))
        })
        .collect();
    if shown.is_empty() {
        String::new()
    } else {
        format!(" (accepted: {})", shown.join("; "))
    }
}

/// Names and rules come from a policy under review: no control character
/// of theirs reaches the reviewer's terminal.
fn plain(text: &str) -> String {
    crate::escape::shown(text).into_owned()
}

fn ticked(text: &str) -> String {
    // Markdown code spans cannot hold a backtick or a table's pipe as is.
    format!("`{}`", plain(text).replace('`', "'").replace('|', "\\|"))
}

fn summary_line(result: &Diff) -> String {
    let s = &result.summary;
    let count = result.changes.len();
    format!(
        "{count} change{}: {} added, {} removed, {} widened, {} narrowed, {} changed",
        crate::words::plural_s(count as u64),
        s.added,
        s.removed,
        s.widened,
        s.narrowed,
        s.changed
    )
}

fn renames(renames: &[Rename], code: fn(&str) -> String) -> String {
    renames
        .iter()
        .map(|rename| format!("{} → {}", code(&rename.old), code(&rename.new)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn hint(suggestion: Option<&Suggestion<'_>>, code: fn(&str) -> String) -> String {
    let Some(suggestion) = suggestion else {
        return String::new();
    };
    let flags: Vec<String> = suggestion
        .renames
        .iter()
        .map(|rename| format!("--rename {}={}", rename.old, rename.new))
        .collect();
    format!(
        "\nhint: renaming {} explains {}; if the authorization server renames {} too, compare with `{}`\n",
        renames(suggestion.renames, code),
        match suggestion.remaining_changes {
            0 => "every change".to_owned(),
            n => format!("all but {}", crate::words::count(n as u64, "change")),
        },
        if suggestion.renames.len() == 1 {
            "it"
        } else {
            "them"
        },
        flags.join(" ")
    )
}

fn human(result: &Diff, old: &str, new: &str) -> String {
    let mut out = format!("policy diff: {old} → {new}\n");
    if !result.renames.is_empty() {
        let _ = writeln!(out, "scopes renamed: {}", renames(&result.renames, plain));
    }
    if result.is_empty() {
        out.push_str(
            "no access changes: both policies decide every request of every token alike\n",
        );
        return out;
    }
    let _ = writeln!(out, "{}", summary_line(result));
    for change in &result.changes {
        let _ = writeln!(
            out,
            "\n{}: {}",
            change.change.as_str(),
            subject(change, plain)
        );
        for (label, side) in [("before", &change.before), ("after", &change.after)] {
            let rule = match (&side.rule, side.line) {
                (Some(rule), Some(line)) => format!("line {line}: {}", plain(rule)),
                _ => "the default".to_owned(),
            };
            let _ = writeln!(out, "  {label:<6}  {rule}");
            // A rule whose every clause has a condition grants nothing
            // unconditionally: its conditional lines say it all.
            if !side.grants.is_nothing() || side.conditions.is_empty() {
                let _ = writeln!(out, "          granted to: {}", grants(&side.grants, plain));
            }
            for clause in &side.conditions {
                let _ = writeln!(
                    out,
                    "          granted to: {} if {}",
                    grants(&clause.grants, plain),
                    atoms(&clause.when, plain)
                );
            }
            for when in &side.denied_when {
                let _ = writeln!(
                    out,
                    "          unless line {}: {}",
                    when.line,
                    plain(&when.rule)
                );
            }
        }
        if !change.gained.is_empty() {
            let _ = writeln!(out, "  gains   {}", sets(&change.gained, plain));
        }
        if !change.lost.is_empty() {
            let _ = writeln!(out, "  loses   {}", sets(&change.lost, plain));
        }
        for (label, witnesses) in [("gains", &change.gained_when), ("loses", &change.lost_when)] {
            for witness in witnesses {
                let _ = writeln!(out, "  {label} on {}", request(witness, plain));
            }
        }
        for atom in &change.conditions {
            let _ = writeln!(
                out,
                "  condition {}: {} → {}{}",
                atom.change.as_str(),
                plain(&atom.before),
                plain(&atom.after),
                examples(atom, plain)
            );
        }
        if let Some(why) = &change.undecided {
            let _ = writeln!(out, "  undecided: {}", plain(why));
        }
    }
    out
}

fn markdown(result: &Diff, old: &str, new: &str) -> String {
    let mut out = format!("### Policy diff: {} → {}\n\n", ticked(old), ticked(new));
    if !result.renames.is_empty() {
        let _ = writeln!(
            out,
            "Scopes renamed: {}\n",
            renames(&result.renames, ticked)
        );
    }
    if result.is_empty() {
        out.push_str(
            "No access changes: both policies decide every request of every token alike.\n",
        );
        return out;
    }
    let _ = writeln!(out, "**{}**\n", summary_line(result));
    out.push_str("| Change | Target | Before | After | Gains access | Loses access |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    for change in &result.changes {
        let side = |side: &mcp_policy_sim::diff::Decider| {
            let rule = match side.line {
                Some(line) => format!("line {line}"),
                None => "default".to_owned(),
            };
            let mut text = if !side.grants.is_nothing() || side.conditions.is_empty() {
                grants(&side.grants, ticked)
            } else {
                String::new()
            };
            for clause in &side.conditions {
                let _ = write!(
                    text,
                    "{}{} if {}",
                    if text.is_empty() { "" } else { "; " },
                    grants(&clause.grants, ticked),
                    atoms(&clause.when, ticked)
                );
            }
            for when in &side.denied_when {
                let _ = write!(text, "; unless line {} denies", when.line);
            }
            format!("{text} ({rule})")
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            change.change.as_str(),
            subject(change, ticked),
            side(&change.before),
            side(&change.after),
            sets(&change.gained, ticked),
            sets(&change.lost, ticked),
        );
    }
    out.push_str("\nA token gains (loses) access when it carries every scope of one listed set; scopes that imply a listed scope count for it.\n");
    let mut notes = String::new();
    for change in &result.changes {
        for atom in &change.conditions {
            let _ = writeln!(
                notes,
                "- {}: condition {}: {} → {}{}",
                subject(change, ticked),
                atom.change.as_str(),
                ticked(&atom.before),
                ticked(&atom.after),
                examples(atom, ticked)
            );
        }
        for (label, witnesses) in [("gains", &change.gained_when), ("loses", &change.lost_when)] {
            for witness in witnesses {
                let _ = writeln!(
                    notes,
                    "- {}: {label} on {}",
                    subject(change, ticked),
                    request(witness, ticked)
                );
            }
        }
        if let Some(why) = &change.undecided {
            let _ = writeln!(
                notes,
                "- {}: undecided: {}",
                subject(change, ticked),
                plain(why)
            );
        }
    }
    if !notes.is_empty() {
        out.push_str("\nConditions:\n\n");
        out.push_str(&notes);
    }
    out
}
