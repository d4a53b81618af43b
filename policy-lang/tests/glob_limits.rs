//! Glob targets at their limits: a pattern too long to search is refused
//! by the compiler and by the table loader alike, and the loader reports the
//! same ambiguities as the compiler, by the same narrowed search.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use mcp_policy_lang::compile_source;
use mcp_policy_table::{
    ArtifactError, Clause, DecisionTable, Defect, Effect, Glob, MAX_AMBIGUITIES, MAX_PATTERN_CHARS,
    Rule, ScopeCatalog, Target, TargetKind, table_defects,
};
use proptest::prelude::*;

fn codes(source: &str) -> Vec<&'static str> {
    compile_source(source)
        .diagnostics
        .iter()
        .map(|diagnostic| diagnostic.code.as_str())
        .collect()
}

/// The attack: `a…a*` and `*a…a`, 30,000 characters each (a 60 KB policy).
/// Checking them for a shared name allocated 14 GB and aborted; now each is
/// refused at once.
#[test]
fn the_thirty_thousand_character_pair_is_refused() {
    let long = "a".repeat(29_999);
    let source = format!(
        "policy \"t\"\ndefault deny\nscope s level read\ntool \"{long}*\" requires s\ntool \"*{long}\" requires s\n"
    );
    assert_eq!(
        codes(&source),
        ["mcp_policy::target_too_long", "mcp_policy::target_too_long"]
    );
    let message = compile_source(&source).diagnostics[0].message.clone();
    assert_eq!(
        message,
        "tool pattern is 30000 characters long, more than the 1024 a pattern may have"
    );
}

/// The same pair in a compiled table (written by hand, or by an older
/// compiler): the loader, a server's startup, refuses it as a defect.
#[test]
fn the_loader_refuses_the_thirty_thousand_character_pair() {
    let source = "policy \"t\"\ndefault deny\nscope s level read\ntool \"LEFT*\" requires s\ntool \"*RIGHT\" requires s\n";
    let table = compile_source(source).table.expect("compiles");
    let long = "a".repeat(29_999);
    let artifact = table
        .to_artifact()
        .replace("LEFT*", &format!("{long}*"))
        .replace("*RIGHT", &format!("*{long}"));
    match DecisionTable::from_artifact(&artifact) {
        Err(ArtifactError::Rejected(defects)) => assert_eq!(
            defects.iter().map(Defect::code).collect::<Vec<_>>(),
            ["mcp_policy::target_too_long"; 2]
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_pattern_at_the_bound_is_accepted() {
    let at_bound = format!("{}*", "x".repeat(MAX_PATTERN_CHARS - 1));
    let beyond = format!("{}*", "x".repeat(MAX_PATTERN_CHARS));
    let policy = |pattern: &str| {
        format!("policy \"t\"\ndefault deny\nscope s level read\ntool \"{pattern}\" requires s\n")
    };
    assert!(codes(&policy(&at_bound)).is_empty());
    assert_eq!(codes(&policy(&beyond)), ["mcp_policy::target_too_long"]);
    // An exact name (no `*`) is never searched: no bound.
    assert!(codes(&policy(&"x".repeat(5_000))).is_empty());
}

/// The compiler's `ambiguous_rules` findings, as (pattern, pattern,
/// witness), sorted (the compiler reports in source order, the loader in
/// pair order).
fn compiler_findings(patterns: &[(TargetKind, String)]) -> Vec<(String, String, String)> {
    let mut source = String::from("policy \"t\"\ndefault deny\nscope s level read\n");
    for (kind, pattern) in patterns {
        source.push_str(&format!("{kind} \"{pattern}\" requires s\n"));
    }
    compile_source(&source)
        .diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.code.as_str() == "mcp_policy::ambiguous_rules")
        .map(|diagnostic| {
            // "<kind> patterns `A` and `B` are equally specific and both match `W`"
            let quoted: Vec<&str> = diagnostic.message.split('`').skip(1).step_by(2).collect();
            (quoted[0].into(), quoted[1].into(), quoted[2].into())
        })
        .collect::<Vec<_>>()
        .sorted()
}

trait Sorted {
    fn sorted(self) -> Self;
}

impl<T: Ord> Sorted for Vec<T> {
    fn sorted(mut self) -> Self {
        self.sort();
        self
    }
}

/// The loader's `ambiguous_rules` defects for the same rules.
fn loader_findings(patterns: &[(TargetKind, String)]) -> Vec<(String, String, String)> {
    let rules: Vec<Rule> = patterns
        .iter()
        .enumerate()
        .map(|(i, (kind, pattern))| Rule {
            kind: *kind,
            target: if pattern.contains('*') {
                Target::Glob(Glob::new(pattern))
            } else {
                Target::Exact(pattern.clone())
            },
            effect: Effect::Allow(vec![Clause::of_scopes(vec![])]),
            text: pattern.clone(),
            line: i as u32 + 4,
        })
        .collect();
    table_defects(&ScopeCatalog::new(vec![]).unwrap(), &rules)
        .into_iter()
        .filter_map(|defect| match defect {
            Defect::AmbiguousRules {
                first,
                second,
                witness,
            } => Some((first.text, second.text, witness)),
            _ => None,
        })
        .collect::<Vec<_>>()
        .sorted()
}

fn kind_and_pattern() -> impl Strategy<Value = (TargetKind, String)> {
    (
        prop_oneof![Just(TargetKind::Tool), Just(TargetKind::Prompt)],
        "[ab_*]{1,6}",
    )
}

proptest! {
    /// Generated policies: the loader finds the ambiguities the compiler
    /// reports, pair for pair, witness for witness.
    #[test]
    fn loader_and_compiler_agree(
        patterns in proptest::collection::vec(kind_and_pattern(), 0..20)
            .prop_map(|mut patterns| {
                // One rule per target: duplicates are another error.
                let mut seen = std::collections::HashSet::new();
                patterns.retain(|entry| seen.insert(entry.clone()));
                patterns
            })
    ) {
        prop_assert_eq!(loader_findings(&patterns), compiler_findings(&patterns));
    }
}

/// A larger generated policy, with ambiguities among many candidates.
#[test]
fn loader_and_compiler_agree_at_scale() {
    let mut patterns: Vec<(TargetKind, String)> = Vec::new();
    for i in 0..2_000 {
        patterns.push((TargetKind::Tool, format!("fam{i}_*")));
        patterns.push((TargetKind::Tool, format!("fam{i}_*_v*")));
    }
    for i in 0..20 {
        patterns.push((TargetKind::Prompt, format!("p*{i:02}")));
        patterns.push((TargetKind::Prompt, format!("p{i:02}*")));
    }
    let compiler = compiler_findings(&patterns);
    assert!(
        (20 * 20..MAX_AMBIGUITIES).contains(&compiler.len()),
        "{}",
        compiler.len()
    );
    let loader = loader_findings(&patterns);
    assert!(
        loader == compiler,
        "{} vs {} findings",
        loader.len(),
        compiler.len()
    );
}

/// Equally specific patterns whose ends fit are all ambiguous pairs: 3,000
/// of them are 4.5 million. The search stops at `MAX_AMBIGUITIES`, the
/// first pairs in order, in the compiler and the loader alike.
#[test]
fn ambiguities_stop_at_the_cap() {
    let patterns: Vec<(TargetKind, String)> = (0..3_000)
        .map(|i| (TargetKind::Tool, format!("*{i:04}*")))
        .collect();
    let compiler = compiler_findings(&patterns);
    assert_eq!(compiler.len(), MAX_AMBIGUITIES);
    // The first pairs in order: `*0000*` with each of the next 1,000.
    assert!(
        compiler
            .iter()
            .any(|(first, second, _)| first == "*0000*" && second == "*1000*")
    );
    assert!(loader_findings(&patterns) == compiler);
}
