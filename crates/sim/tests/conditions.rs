//! The diff, the matrix and the regions on policies with conditions.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::time::{Duration, Instant};

use mcp_policy_sim::diff::{ChangeKind, Diff, diff};
use mcp_policy_sim::matrix::{Access, matrix};
use mcp_policy_table::DecisionTable;
use serde_json::json;

const SCOPES: &str = "scope r level read\nscope w level write implies r\n";

fn table(rules: &str) -> DecisionTable {
    let source = format!("{SCOPES}{rules}");
    let compiled = mcp_policy_lang::compile_source(&source);
    match compiled.table {
        Some(table) => table,
        None => panic!("{source}: {:?}", compiled.diagnostics),
    }
}

fn compare(old: &str, new: &str) -> Diff {
    diff(&table(old), &table(new)).unwrap()
}

fn only(diff: &Diff) -> &mcp_policy_sim::diff::Change {
    assert_eq!(diff.changes.len(), 1, "{diff:#?}");
    &diff.changes[0]
}

#[test]
fn one_atom_in_two_spellings_is_no_change() {
    let d = compare(
        "tool t requires all_of(r, arg.x == \"a\")\n",
        "tool t requires all_of(r, arg.x in [\"a\"])\n",
    );
    assert!(d.is_empty(), "{d:#?}");
}

#[test]
fn removing_an_atom_widens() {
    let d = compare(
        "tool t requires all_of(r, arg.repo matches \"acme/*\", claim.tenant == \"acme\")\n",
        "tool t requires all_of(r, arg.repo matches \"acme/*\")\n",
    );
    let change = only(&d);
    assert_eq!(change.change, ChangeKind::Widened);
    assert_eq!(change.gained, [["r"], ["w"]]);
    assert!(change.lost.is_empty());
    // The witness: the repo matches and the tenant does not.
    assert_eq!(
        change.gained_when[0].fails,
        ["claim.tenant == \"acme\"".to_owned()]
    );
    assert!(d.widens());
}

#[test]
fn adding_an_atom_narrows() {
    let d = compare(
        "tool t requires r\n",
        "tool t requires all_of(r, arg.limit <= 100)\n",
    );
    assert_eq!(only(&d).change, ChangeKind::Narrowed);
    assert!(!d.widens());
}

#[test]
fn a_tighter_bound_narrows_with_an_example() {
    let d = compare(
        "tool search requires all_of(r, arg.limit <= 100)\n",
        "tool search requires all_of(r, arg.limit <= 50)\n",
    );
    let change = only(&d);
    // As propositional variables alone this would read "changed"; by
    // accepted values, `<= 50` is within `<= 100`.
    assert_eq!(change.change, ChangeKind::Narrowed, "{change:#?}");
    assert!(!d.widens());
    let atom = &change.conditions[0];
    assert_eq!(atom.operand, "arg.limit");
    assert_eq!(atom.before, "arg.limit <= 100");
    assert_eq!(atom.after, "arg.limit <= 50");
    assert_eq!(atom.change, ChangeKind::Narrowed);
    assert_eq!(atom.only_before, Some(json!(100)));
    assert_eq!(atom.only_after, None);
    // And back: a widening.
    let back = compare(
        "tool search requires all_of(r, arg.limit <= 50)\n",
        "tool search requires all_of(r, arg.limit <= 100)\n",
    );
    assert_eq!(only(&back).change, ChangeKind::Widened);
}

#[test]
fn globs_lists_and_bases_by_inclusion() {
    let glob = |g: &str| format!("tool t requires all_of(r, arg.repo matches \"{g}\")\n");
    let widened = compare(&glob("acme/*"), &glob("*"));
    assert_eq!(only(&widened).change, ChangeKind::Widened);
    let changed = compare(&glob("acme/*"), &glob("beta/*"));
    let change = only(&changed);
    assert_eq!(change.change, ChangeKind::Changed);
    assert_eq!(change.conditions[0].change, ChangeKind::Changed);
    assert_eq!(change.conditions[0].only_before, Some(json!("acme/")));
    assert_eq!(change.conditions[0].only_after, Some(json!("beta/")));
    assert!(changed.widens(), "a change fails --fail-on widened");

    let list = |l: &str| format!("tool t requires all_of(r, arg.org in [{l}])\n");
    let narrowed = compare(&list("\"a\", \"b\", \"c\""), &list("\"a\", \"b\""));
    assert_eq!(only(&narrowed).change, ChangeKind::Narrowed);
    assert_eq!(only(&narrowed).conditions[0].only_before, Some(json!("c")));

    let under = |b: &str| format!("tool t requires all_of(r, arg.path under \"{b}\")\n");
    let narrowed = compare(&under("/workspace"), &under("/workspace/src"));
    assert_eq!(only(&narrowed).change, ChangeKind::Narrowed);
    // `/workspace2` is not under `/workspace`: the two are disjoint.
    let moved = compare(&under("/workspace"), &under("/workspace2"));
    assert_eq!(only(&moved).change, ChangeKind::Changed);
}

#[test]
fn a_conditional_deny_narrows_and_its_removal_widens() {
    let allow = "tool \"*\" requires r\n";
    let deny = format!("{allow}deny tool read_file when arg.path matches \"*.env\"\n");
    let d = compare(allow, &deny);
    let change = only(&d);
    assert_eq!(change.change, ChangeKind::Narrowed, "{change:#?}");
    assert_eq!(change.example, "read_file");
    assert_eq!(change.after.denied_when.len(), 1);
    assert_eq!(
        change.lost_when[0].holds,
        ["arg.path matches \"*.env\"".to_owned()]
    );
    let back = compare(&deny, allow);
    assert_eq!(only(&back).change, ChangeKind::Widened);
    // The policy with itself: nothing.
    assert!(compare(&deny, &deny).is_empty());
}

/// A deny whose `under` atoms can never all hold on a path `under` can
/// place still fires on one it cannot place (`/a/x\0`, `a/x`): the diff
/// must see that, not call the two policies the same because `/a` and `/b`
/// are disjoint.
#[test]
fn a_deny_firing_only_on_unplaceable_paths_is_a_narrowing() {
    let allow = "tool read_file requires r\n";
    let odd = format!(
        "{allow}deny tool read_file when all_of(arg.path under \"/a\", arg.path under \"/b\")\n"
    );
    let d = compare(allow, &odd);
    let change = only(&d);
    assert_eq!(change.change, ChangeKind::Narrowed, "{change:#?}");
    assert_eq!(
        change.lost_when[0].holds,
        ["arg.path is a path `under` cannot place".to_owned()]
    );
    // The table agrees: placeable paths pass, an unplaceable one does not.
    let t = table(&odd);
    let decide = |path: &str| {
        let arguments = json!({ "path": path });
        let arguments = arguments.as_object().unwrap();
        let held = t.scopes().scope_set(["r"]);
        t.decide_in(
            mcp_policy_table::TargetKind::Tool,
            "read_file",
            &held,
            &mcp_policy_table::Context::new(Some(arguments), None),
        )
        .allowed
    };
    assert!(decide("/a/x") && decide("/b/x"));
    assert!(!decide("/a/x\u{0}") && !decide("a/x"));
    // Two denies on the same operand that differ in base still differ
    // only where one places the path and the other does not contain it.
    let etc = format!("{allow}deny tool read_file when arg.path under \"/etc\"\n");
    let usr = format!("{allow}deny tool read_file when arg.path under \"/usr\"\n");
    let moved = compare(&etc, &usr);
    let change = only(&moved);
    assert_eq!(change.change, ChangeKind::Changed, "{change:#?}");
    let unplaceable = "arg.path is a path `under` cannot place".to_owned();
    assert!(
        change
            .lost_when
            .iter()
            .chain(&change.gained_when)
            .all(|witness| !witness.holds.contains(&unplaceable)),
        "both fire on an unplaceable path: {change:#?}"
    );
}

#[test]
fn a_deny_on_claims_alone_still_leaves_the_rule_reachable() {
    let t = table("tool t requires r\ndeny tool \"*\" when claim.groups contains \"suspended\"\n");
    let m = matrix(&t).unwrap();
    let row = |target: &str| {
        m.rows
            .iter()
            .find(|row| row.target.as_deref() == Some(target))
            .unwrap()
    };
    assert_eq!(row("t").access, Access::Scopes);
    assert_eq!(row("t").single_scopes, ["r", "w"]);
    assert_eq!(row("t").denied_when.len(), 1);
    assert_eq!(row("*").access, Access::DeniedWhen);
    assert_eq!(
        row("*").when,
        [["claim.groups contains \"suspended\"".to_owned()]]
    );
}

#[test]
fn matrix_cells_name_their_conditions() {
    let t = table(
        "tool close_issue requires all_of(w, arg.repo matches \"acme/*\")\n\
         tool read requires any_of(w, all_of(r, arg.path under \"/workspace\"))\n\
         tool \"*\" requires claim.tenant == \"acme\"\n",
    );
    let m = matrix(&t).unwrap();
    let row = |target: &str| {
        m.rows
            .iter()
            .find(|row| row.target.as_deref() == Some(target))
            .unwrap()
    };
    let close = row("close_issue");
    assert_eq!(close.access, Access::Conditional);
    assert!(close.single_scopes.is_empty());
    assert_eq!(
        close.conditions[0].when,
        ["arg.repo matches \"acme/*\"".to_owned()]
    );
    assert!(close.conditions[0].grants.grants(&["w".to_owned()]));
    let read = row("read");
    assert_eq!(read.access, Access::Scopes);
    assert_eq!(read.single_scopes, ["w"]);
    assert_eq!(read.conditions.len(), 1);
    let any = row("*");
    assert_eq!(any.access, Access::Conditional);
    assert!(any.conditions[0].grants.is_any_token());
}

fn many_atoms(bound: u32) -> String {
    let atoms: Vec<String> = (0..20)
        .map(|i| {
            if i == 7 {
                format!("arg.a{i} <= {bound}")
            } else {
                format!("arg.a{i} == \"v{i}\"")
            }
        })
        .collect();
    format!("tool t requires all_of(r, {})\n", atoms.join(", "))
}

/// 21 atoms across the two rules, over the bound: not enumerated. The same
/// rule is no change; one bound changed is reported, counted as a change
/// (so `--fail-on widened` fails), with the rewritten condition named.
#[test]
fn twenty_atoms_on_one_rule_are_bounded() {
    let start = Instant::now();
    assert!(compare(&many_atoms(100), &many_atoms(100)).is_empty());
    let d = compare(&many_atoms(100), &many_atoms(50));
    let change = only(&d);
    assert_eq!(change.change, ChangeKind::Changed);
    assert!(change.undecided.as_ref().unwrap().contains("21 conditions"));
    assert_eq!(change.conditions.len(), 1);
    assert_eq!(change.conditions[0].change, ChangeKind::Narrowed);
    assert!(d.widens());
    assert!(start.elapsed() < Duration::from_secs(5));
}

/// 12 atoms, at the bound: enumerated (4,096 assignments), exactly.
#[test]
fn twelve_atoms_are_enumerated() {
    let rule = |bound: u32| {
        let atoms: Vec<String> = (0..11)
            .map(|i| format!("arg.a{i} == \"v{i}\""))
            .chain([format!("arg.n <= {bound}")])
            .collect();
        format!("tool t requires all_of(r, {})\n", atoms.join(", "))
    };
    // 11 shared atoms and two bounds: 13 variables, over the bound.
    let d = compare(&rule(100), &rule(50));
    assert!(only(&d).undecided.is_some());
    let rule = |bound: u32| {
        let atoms: Vec<String> = (0..10)
            .map(|i| format!("arg.a{i} == \"v{i}\""))
            .chain([format!("arg.n <= {bound}")])
            .collect();
        format!("tool t requires all_of(r, {})\n", atoms.join(", "))
    };
    let d = compare(&rule(100), &rule(50));
    assert_eq!(only(&d).change, ChangeKind::Narrowed);
    assert!(only(&d).undecided.is_none());
}

fn thousand_tools(changed_bound: u32) -> String {
    let mut source = String::new();
    for i in 0..1000 {
        let bound = if i == 500 { changed_bound } else { 100 };
        source.push_str(&format!(
            "tool tool_{i:04} requires any_of(w, all_of(r, arg.repo matches \"org{i}/*\", arg.limit <= {bound}))\n"
        ));
    }
    source.push_str("deny tool \"tool_09*\" when claim.tenant != \"acme\"\n");
    source
}

#[test]
fn a_thousand_conditional_tools_with_one_bound_changed() {
    let (old, new) = (table(&thousand_tools(100)), table(&thousand_tools(200)));
    let start = Instant::now();
    assert!(diff(&old, &old).unwrap().is_empty());
    let d = diff(&old, &new).unwrap();
    let change = only(&d);
    assert_eq!(change.target.as_deref(), Some("tool_0500"));
    assert_eq!(change.change, ChangeKind::Widened);
    assert_eq!(change.conditions[0].before, "arg.limit <= 100");
    assert_eq!(change.conditions[0].after, "arg.limit <= 200");
    assert_eq!(change.conditions[0].only_after, Some(json!(200)));
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(matrix(&new).unwrap().rows.len(), 1002);
}

const ISSUE_EXAMPLE: &str = "scope a level admin implies w\n\
    scope gi level resource\n\
    tool close_issue requires all_of(gi, arg.repo matches \"acme/*\")\n\
    tool update_record requires any_of(a, all_of(w, arg.owner == claim.sub))\n\
    tool read_file requires all_of(r, arg.path under \"/workspace\")\n\
    tool \"*\" requires all_of(r, claim.tenant == \"acme\")\n\
    deny tool read_file when arg.path matches \"**/.env\"\n\
    deny tool \"*\" when claim.groups contains \"suspended\"\n";

/// The issue's example: itself, no change; without the claim-only deny,
/// every region (the four rules' names) widens, and nothing else.
#[test]
fn the_issues_example_without_its_suspension_deny_widens_everywhere() {
    assert!(compare(ISSUE_EXAMPLE, ISSUE_EXAMPLE).is_empty());
    let lifted = ISSUE_EXAMPLE.replace(
        "deny tool \"*\" when claim.groups contains \"suspended\"\n",
        "",
    );
    let d = compare(ISSUE_EXAMPLE, &lifted);
    assert_eq!(d.changes.len(), 4, "{d:#?}");
    assert!(d.changes.iter().all(|c| c.change == ChangeKind::Widened));
    assert!(d.changes.iter().all(|c| {
        c.gained_when[0]
            .holds
            .contains(&"claim.groups contains \"suspended\"".to_owned())
    }));
}
