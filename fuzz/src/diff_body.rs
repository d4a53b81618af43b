//! The properties the `diff` fuzz target checks on every input, shared with
//! `crates/sim/tests/fuzz_corpus.rs`, which runs them over the seed corpus
//! in CI.
//!
//! An input is two policies: the text before the first `\n----\n` is the old
//! one, the text after it the new one (without the separator, the whole
//! input is the old policy and the new one is empty: everything it allowed
//! is removed). Each is compiled with `compile_source`; a policy with errors
//! is compiled again without the lines its errors start on (up to three
//! times), so that most mutations still reach the diff; then
//!
//! - `matrix` on each table never panics, and when it succeeds, for every
//!   rule's row and every declared scope: a token holding only that scope is
//!   allowed on a name the row's rule decides exactly when the scope is in
//!   the row's `single_scopes`. The name is the target itself for an exact
//!   rule, the pattern with its `*`s made `a` (then `x`) for a glob, and a
//!   name no rule matches for the default row; a name is only used when
//!   `matching_rule` confirms the row's rule (or the default) decides it.
//! - when both compile, `diff(old, new)` never panics; a table compared
//!   with itself has no change; and when the diff succeeds, every change
//!   stands on real decisions: its `example` is decided by the rules it
//!   names (`before`/`after`), each `gained` set as a token is denied by the
//!   old policy and allowed by the new one on the example, each `lost` set
//!   the reverse, the kind of change agrees with which of the two are
//!   empty, and the summary counts the changes. `diff(new, old)` is the
//!   mirror image: added and removed swap, as do widened and narrowed.

use mcp_policy_lang::DecisionTable;
use mcp_policy_sim::diff::{ChangeKind, Decider, Diff, diff};
use mcp_policy_sim::matrix::{Row, matrix};
use mcp_policy_table::{Target, TargetKind};

/// Between the old policy and the new one.
pub const SEPARATOR: &str = "\n----\n";

/// What one input did, for the corpus test to show it is not vacuous.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// How many of the two policies compiled.
    pub compiled: usize,
    /// `diff(old, new)` ran and succeeded.
    pub diffed: bool,
    pub changes: usize,
    /// Gained and lost scope sets checked against real decisions.
    pub sets_checked: usize,
    /// Matrix rows whose single scopes were checked against real decisions.
    pub rows_checked: usize,
}

/// The fuzz entry point: bytes that are not UTF-8 are not policies.
pub fn check_bytes(data: &[u8]) -> Option<Outcome> {
    let input = std::str::from_utf8(data).ok()?;
    Some(check_input(input))
}

/// Splits `input` into the two policies and checks them.
pub fn check_input(input: &str) -> Outcome {
    let (old, new) = input.split_once(SEPARATOR).unwrap_or((input, ""));
    check_pair(old, new)
}

/// Compiles both policies and checks every property. Panics on the first
/// that does not hold.
pub fn check_pair(old_source: &str, new_source: &str) -> Outcome {
    let mut outcome = Outcome::default();
    let (old_source, old) = compile_repaired(old_source);
    let (new_source, new) = compile_repaired(new_source);
    let (old_source, new_source) = (old_source.as_str(), new_source.as_str());
    for table in old.iter().chain(&new) {
        outcome.compiled += 1;
        outcome.rows_checked += check_matrix(table);
    }
    let (Some(old), Some(new)) = (old, new) else {
        return outcome;
    };

    for table in [&old, &new] {
        if let Ok(same) = diff(table, table) {
            assert!(
                same.is_empty(),
                "a policy differs from itself: {same:#?}\n{old_source}\n----\n{new_source}"
            );
        }
    }
    let Ok(forward) = diff(&old, &new) else {
        // Too many scope sets or overlaps: refused, not a wrong answer. The
        // reverse must refuse too, or answer; either way it must not panic.
        let _ = diff(&new, &old);
        return outcome;
    };
    let context = format!("{old_source}\n----\n{new_source}");
    outcome.diffed = true;
    outcome.changes = forward.changes.len();
    outcome.sets_checked = check_diff(&old, &new, &forward, &context);
    match diff(&new, &old) {
        Ok(backward) => check_mirror(&forward, &backward, &context),
        Err(error) => panic!("diff(old, new) succeeds, diff(new, old) fails: {error}\n{context}"),
    }
    outcome
}

/// How many times a policy with errors is retried without the lines the
/// errors are on.
const REPAIRS: usize = 3;

/// Compiles `source`; when it has errors, drops the lines they start on and
/// tries again (a few times), so that most mutations of a valid pair still
/// reach the diff instead of stopping at the compiler. Returns the source
/// that was compiled last.
fn compile_repaired(source: &str) -> (String, Option<DecisionTable>) {
    let mut source = source.to_owned();
    for _ in 0..REPAIRS {
        let compilation = mcp_policy_lang::compile_source(&source);
        if let Some(table) = compilation.table {
            return (source, Some(table));
        }
        let bad: std::collections::BTreeSet<usize> = compilation
            .diagnostics
            .iter()
            .filter(|diagnostic| diagnostic.is_error())
            .map(|diagnostic| mcp_policy_lang::line_column(&source, diagnostic.span().start).0)
            .collect();
        let kept: Vec<&str> = source
            .split_inclusive('\n')
            .enumerate()
            .filter(|(index, _)| !bad.contains(&(index + 1)))
            .map(|(_, line)| line)
            .collect();
        let repaired = kept.concat();
        if repaired == source {
            break;
        }
        source = repaired;
    }
    let table = mcp_policy_lang::compile_source(&source).table;
    (source, table)
}

fn allowed(table: &DecisionTable, kind: TargetKind, name: &str, token: &str) -> bool {
    table.is_allowed(kind, name, &table.parse_scopes(token))
}

/// Checks every change of `diff(old, new)`; returns how many scope sets it
/// checked.
fn check_diff(old: &DecisionTable, new: &DecisionTable, result: &Diff, context: &str) -> usize {
    let mut checked = 0;
    let mut counts = [0usize; 5];
    for change in &result.changes {
        let what = format!("{change:#?}\n{context}");
        // With conditions, a change may keep the unconditional grants and
        // differ in the conditional clauses only: its witnesses say so.
        assert!(
            change.before.grants != change.after.grants
                || !change.gained_when.is_empty()
                || !change.lost_when.is_empty()
                || change.undecided.is_some(),
            "a change that changes nothing: {what}"
        );
        check_decider(old, change.kind, &change.example, &change.before, &what);
        check_decider(new, change.kind, &change.example, &change.after, &what);
        // Over the atom limit a change is `changed` without witnesses.
        if change.undecided.is_none() {
            assert_eq!(
                change.change.widens(),
                !change.gained.is_empty() || !change.gained_when.is_empty(),
                "widens or not: {what}"
            );
            assert_eq!(
                change.change.narrows(),
                !change.lost.is_empty() || !change.lost_when.is_empty(),
                "narrows or not: {what}"
            );
        }
        if change.change == ChangeKind::Added {
            assert!(change.before.grants.is_nothing(), "added: {what}");
        }
        if change.change == ChangeKind::Removed {
            assert!(change.after.grants.is_nothing(), "removed: {what}");
        }
        // A rule with conditions grants a set on some requests only, and
        // `allowed` decides without arguments: such changes are checked by
        // their kind and witnesses above, not set by set.
        let conditional = [&change.before, &change.after]
            .iter()
            .any(|decider| !decider.conditions.is_empty() || !decider.denied_when.is_empty());
        if conditional {
            counts[change.change as usize] += 1;
            continue;
        }
        for set in &change.gained {
            let token = set.join(" ");
            assert!(
                !allowed(old, change.kind, &change.example, &token),
                "gained {token:?} was already allowed: {what}"
            );
            assert!(
                allowed(new, change.kind, &change.example, &token),
                "gained {token:?} is not allowed: {what}"
            );
            checked += 1;
        }
        for set in &change.lost {
            let token = set.join(" ");
            assert!(
                allowed(old, change.kind, &change.example, &token),
                "lost {token:?} was not allowed: {what}"
            );
            assert!(
                !allowed(new, change.kind, &change.example, &token),
                "lost {token:?} is still allowed: {what}"
            );
            checked += 1;
        }
        counts[change.change as usize] += 1;
    }
    let summary = result.summary;
    assert_eq!(
        [
            summary.added,
            summary.removed,
            summary.widened,
            summary.narrowed,
            summary.changed
        ],
        counts,
        "the summary does not count the changes: {summary:?}\n{context}"
    );
    checked
}

/// The rule `decider` names is the one `table` decides `example` with.
fn check_decider(
    table: &DecisionTable,
    kind: TargetKind,
    example: &str,
    decider: &Decider,
    what: &str,
) {
    let rule = table
        .matching_rule(kind, example)
        .and_then(|id| table.rule(id));
    assert_eq!(
        (
            rule.map(|rule| rule.text.as_str()),
            rule.map(|rule| rule.line)
        ),
        (decider.rule.as_deref(), decider.line),
        "the example {example:?} is decided by another rule than the change says: {what}"
    );
}

/// `diff(new, old)` reports the same regions the other way round.
fn check_mirror(forward: &Diff, backward: &Diff, context: &str) {
    let (f, b) = (forward.summary, backward.summary);
    assert_eq!(
        (f.added, f.removed, f.widened, f.narrowed, f.changed),
        (b.removed, b.added, b.narrowed, b.widened, b.changed),
        "diff(new, old) is not the mirror of diff(old, new): {f:?} / {b:?}\n{context}"
    );
    let gained: usize = forward.changes.iter().map(|c| c.gained.len()).sum();
    let lost: usize = forward.changes.iter().map(|c| c.lost.len()).sum();
    let back_gained: usize = backward.changes.iter().map(|c| c.gained.len()).sum();
    let back_lost: usize = backward.changes.iter().map(|c| c.lost.len()).sum();
    assert_eq!(
        (gained, lost),
        (back_lost, back_gained),
        "gained and lost sets do not swap: {forward:#?}\n{backward:#?}\n{context}"
    );
}

/// Checks the matrix of `table` against its decisions; returns how many
/// rows were checked.
fn check_matrix(table: &DecisionTable) -> usize {
    let Ok(matrix) = matrix(table) else {
        return 0;
    };
    assert_eq!(
        matrix.rows.len(),
        table.rules().len() + 1,
        "one row per rule and the default"
    );
    let scopes: Vec<&str> = matrix
        .scopes
        .iter()
        .map(|column| column.name.as_str())
        .collect();
    let mut checked = 0;
    for row in &matrix.rows {
        for (kind, name) in decided_names(table, row) {
            for scope in &scopes {
                let single = row.single_scopes.iter().any(|s| s == scope);
                assert_eq!(
                    allowed(table, kind, &name, scope),
                    single,
                    "`{scope}` alone on {kind} {name:?}, decided by {:?}: single_scopes {:?}",
                    row.rule,
                    row.single_scopes
                );
            }
            checked += 1;
        }
    }
    checked
}

/// Names the row's rule (or, for the default row, the default) decides:
/// at most one per kind.
fn decided_names(table: &DecisionTable, row: &Row) -> Vec<(TargetKind, String)> {
    let Some(kind) = row.kind else {
        // The default row: a name no rule of some kind matches.
        return TargetKind::ALL
            .into_iter()
            .filter_map(|kind| {
                ["", "\u{1}", "\u{1}zz\u{7f}", "zz\u{1}"]
                    .into_iter()
                    .find(|name| table.matching_rule(kind, name).is_none())
                    .map(|name| (kind, name.to_owned()))
            })
            .collect();
    };
    let Some(rule) = table.rules().iter().find(|rule| {
        rule.kind == kind && Some(&rule.text) == row.rule.as_ref() && Some(rule.line) == row.line
    }) else {
        panic!("row {row:?} has no rule")
    };
    let candidates = match &rule.target {
        Target::Exact(name) => vec![name.clone()],
        Target::Glob(glob) => vec![
            glob.as_str().replace('*', "a"),
            glob.as_str().replace('*', "x"),
            glob.as_str().replace('*', ""),
        ],
    };
    candidates
        .into_iter()
        .find(|name| {
            table
                .matching_rule(kind, name)
                .and_then(|id| table.rule(id))
                .is_some_and(|decider| {
                    decider.text == rule.text && decider.line == rule.line && decider.kind == kind
                })
        })
        .map(|name| vec![(kind, name)])
        .unwrap_or_default()
}
