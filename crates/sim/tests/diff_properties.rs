//! The semantic diff checked against brute force: on random small policies,
//! every token (every subset of the scope names) and every name up to five
//! characters over the targets' alphabet plus one other character.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use mcp_policy_sim::diff::{ChangeKind, Rename, diff, diff_renamed, suggest_renames};
use mcp_policy_table::{DecisionTable, TargetKind};
use proptest::prelude::*;

const SCOPES: [&str; 4] = ["s0", "s1", "s2", "s3"];
/// Over `a` and `b`, and `x` and `z`: the diff's first choices of a
/// stand-in for "any other character", which it must then not use.
const TARGETS: [&str; 16] = [
    "a", "b", "ab", "ba", "aab", "a*", "*b", "*", "a*b", "*a*", "b*", "ab*", "x*", "*z", "xz",
    "z*x",
];

#[derive(Clone, Debug)]
enum Req {
    Scope(usize),
    Authenticated,
    AnyOf(Vec<Req>),
    AllOf(Vec<Req>),
}

impl Req {
    fn text(&self) -> String {
        match self {
            Req::Scope(i) => SCOPES[*i].to_owned(),
            Req::Authenticated => "authenticated".to_owned(),
            Req::AnyOf(parts) => format!(
                "any_of({})",
                parts.iter().map(Req::text).collect::<Vec<_>>().join(", ")
            ),
            Req::AllOf(parts) => format!(
                "all_of({})",
                parts.iter().map(Req::text).collect::<Vec<_>>().join(", ")
            ),
        }
    }

    fn scopes(&self, out: &mut Vec<usize>) {
        match self {
            Req::Scope(i) => out.push(*i),
            Req::Authenticated => {}
            Req::AnyOf(parts) | Req::AllOf(parts) => parts.iter().for_each(|p| p.scopes(out)),
        }
    }
}

#[derive(Clone, Debug)]
struct Policy {
    default_allow: bool,
    /// Per scope: declared, and the lower-numbered scopes it implies.
    scopes: Vec<(bool, Vec<usize>)>,
    /// (kind is tool or prompt, target, None = deny)
    rules: Vec<(bool, usize, Option<Req>)>,
}

impl Policy {
    /// The source, declarations and rules in the given orders.
    fn source(&self, scope_order: &[usize], rule_order: &[usize]) -> String {
        let mut text = String::new();
        if self.default_allow {
            text.push_str("default allow\n");
        }
        for &i in scope_order {
            let (declared, implies) = &self.scopes[i];
            if !declared {
                continue;
            }
            text.push_str(&format!("scope {} level read", SCOPES[i]));
            let implied: Vec<&str> = implies
                .iter()
                .filter(|j| self.scopes[**j].0)
                .map(|j| SCOPES[*j])
                .collect();
            if !implied.is_empty() {
                text.push_str(&format!(" implies {}", implied.join(", ")));
            }
            text.push('\n');
        }
        for &i in rule_order {
            let (tool, target, req) = &self.rules[i];
            let kind = if *tool { "tool" } else { "prompt" };
            match req {
                None => text.push_str(&format!("deny {kind} \"{}\"\n", TARGETS[*target])),
                Some(req) => text.push_str(&format!(
                    "{kind} \"{}\" requires {}\n",
                    TARGETS[*target],
                    req.text()
                )),
            }
        }
        text
    }

    fn compile(&self) -> Option<DecisionTable> {
        let scopes: Vec<usize> = (0..SCOPES.len()).collect();
        let rules: Vec<usize> = (0..self.rules.len()).collect();
        mcp_policy_lang::compile_source(&self.source(&scopes, &rules)).table
    }

    /// Every rule only names declared scopes (else the policy is rejected).
    fn well_formed(&self) -> bool {
        self.rules.iter().all(|(_, _, req)| {
            let mut used = Vec::new();
            if let Some(req) = req {
                req.scopes(&mut used);
            }
            used.iter().all(|i| self.scopes[*i].0)
        })
    }
}

fn req() -> impl Strategy<Value = Req> {
    let leaf = prop_oneof![
        6 => (0..SCOPES.len()).prop_map(Req::Scope),
        1 => Just(Req::Authenticated),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..3).prop_map(Req::AnyOf),
            prop::collection::vec(inner, 1..3).prop_map(Req::AllOf),
        ]
    })
}

fn policy() -> impl Strategy<Value = Policy> {
    (
        prop::bool::weighted(0.2),
        prop::collection::vec(
            (
                prop::bool::weighted(0.85),
                prop::collection::vec(0..SCOPES.len(), 0..2),
            ),
            SCOPES.len(),
        ),
        prop::collection::vec(
            (
                prop::bool::weighted(0.7),
                0..TARGETS.len(),
                prop::option::weighted(0.8, req()),
            ),
            0..5,
        ),
    )
        .prop_map(|(default_allow, scopes, rules)| Policy {
            default_allow,
            // Only lower-numbered implications: no cycles.
            scopes: scopes
                .into_iter()
                .enumerate()
                .map(|(i, (declared, implies))| {
                    (declared, implies.into_iter().filter(|j| *j < i).collect())
                })
                .collect(),
            rules,
        })
        .prop_filter("rules name declared scopes", Policy::well_formed)
}

/// Every name up to four characters over the targets' letters and `c`,
/// which no target uses.
fn names() -> Vec<String> {
    let mut all = vec![String::new()];
    let mut last = vec![String::new()];
    for _ in 0..4 {
        let next: Vec<String> = last
            .iter()
            .flat_map(|name| ['a', 'b', 'x', 'z', 'c'].map(|c| format!("{name}{c}")))
            .collect();
        all.extend(next.iter().cloned());
        last = next;
    }
    all
}

/// Every token: each subset of the scope names, as a `scope` string.
fn tokens() -> Vec<String> {
    (0..1u32 << SCOPES.len())
        .map(|bits| {
            SCOPES
                .iter()
                .enumerate()
                .filter(|(i, _)| bits & (1 << i) != 0)
                .map(|(_, s)| *s)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn allowed(table: &DecisionTable, kind: TargetKind, name: &str, token: &str) -> bool {
    table.is_allowed(kind, name, &table.parse_scopes(token))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn a_policy_compared_with_itself_or_reordered_has_no_changes(
        policy in policy(),
        scope_seed in any::<u64>(),
        rule_seed in any::<u64>(),
    ) {
        let Some(table) = policy.compile() else { return Ok(()) };
        prop_assert!(diff(&table, &table).unwrap().is_empty());

        // The same statements in another order: other bit positions, same access.
        let mut scope_order: Vec<usize> = (0..SCOPES.len()).collect();
        let mut rule_order: Vec<usize> = (0..policy.rules.len()).collect();
        shuffle(&mut scope_order, scope_seed);
        shuffle(&mut rule_order, rule_seed);
        let source = policy.source(&scope_order, &rule_order);
        let reordered = mcp_policy_lang::compile_source(&source).table.unwrap();
        let result = diff(&table, &reordered).unwrap();
        prop_assert!(result.is_empty(), "{source}\n{result:#?}");
    }

    #[test]
    fn a_change_is_reported_exactly_when_some_decision_changes(
        old in policy(),
        new in policy(),
    ) {
        let (Some(old_table), Some(new_table)) = (old.compile(), new.compile()) else {
            return Ok(());
        };
        let result = diff(&old_table, &new_table).unwrap();

        // Brute force: does any token decide differently on any name? Each
        // such decision must be covered by a change of the same pair of
        // rules whose gained (lost) sets include one the token carries.
        let (mut gains, mut loses) = (false, false);
        for kind in TargetKind::ALL {
            for name in names() {
                let rules = (
                    old_table.matching_rule(kind, &name),
                    new_table.matching_rule(kind, &name),
                );
                for token in tokens() {
                    let before = allowed(&old_table, kind, &name, &token);
                    let after = allowed(&new_table, kind, &name, &token);
                    if before == after {
                        continue;
                    }
                    gains |= after;
                    loses |= before;
                    let carried: Vec<&str> = token.split(' ').filter(|s| !s.is_empty()).collect();
                    let covered = result.changes.iter().any(|change| {
                        let sets = if after { &change.gained } else { &change.lost };
                        change.kind == kind
                            && (
                                old_table.matching_rule(kind, &change.example),
                                new_table.matching_rule(kind, &change.example),
                            ) == rules
                            && sets
                                .iter()
                                .any(|set| set.iter().all(|scope| carried.contains(&scope.as_str())))
                    });
                    prop_assert!(
                        covered,
                        "{kind} {name:?} with {token:?}: {before} -> {after} not reported\n{result:#?}"
                    );
                }
            }
        }
        prop_assert_eq!(result.widens(), gains, "{:#?}", result);
        prop_assert_eq!(result.narrows(), loses, "{:#?}", result);

        // Every change stands on real decisions: its example name, with each
        // gained set as the token, is denied before and allowed after; each
        // lost set the reverse.
        for change in &result.changes {
            prop_assert_eq!(change.change.widens(), !change.gained.is_empty());
            prop_assert_eq!(change.change.narrows(), !change.lost.is_empty());
            for set in &change.gained {
                let token = set.join(" ");
                prop_assert!(!allowed(&old_table, change.kind, &change.example, &token));
                prop_assert!(allowed(&new_table, change.kind, &change.example, &token));
            }
            for set in &change.lost {
                let token = set.join(" ");
                prop_assert!(allowed(&old_table, change.kind, &change.example, &token));
                prop_assert!(!allowed(&new_table, change.kind, &change.example, &token));
            }
            if change.change == ChangeKind::Added {
                prop_assert!(change.before.grants.is_nothing());
            }
        }
    }
}

proptest! {
    // Three diffs per case: fewer cases keep the suite quick.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_declared_rename_explains_a_consistently_renamed_policy(
        policy in policy(),
        renamed in prop::collection::vec(any::<bool>(), SCOPES.len()),
    ) {
        let Some(table) = policy.compile() else { return Ok(()) };
        let order: Vec<usize> = (0..SCOPES.len()).collect();
        let rule_order: Vec<usize> = (0..policy.rules.len()).collect();
        let mut source = policy.source(&order, &rule_order);
        let mut renames = Vec::new();
        for (i, scope) in SCOPES.iter().enumerate() {
            if renamed[i] && policy.scopes[i].0 {
                let new = format!("t{i}");
                source = source.replace(scope, &new);
                renames.push(Rename { old: (*scope).to_owned(), new });
            }
        }
        let other = mcp_policy_lang::compile_source(&source).table.unwrap();
        let with = diff_renamed(&table, &other, &renames).unwrap();
        prop_assert!(with.is_empty(), "{source}\n{with:#?}");
        // Undeclared, it is a change whenever a rule needs a renamed scope,
        // and the suggestion finds the renames that explain it.
        let without = diff(&table, &other).unwrap();
        if !without.is_empty() {
            let (suggested, remaining) = suggest_renames(&table, &other, &without).unwrap();
            prop_assert!(remaining.is_empty());
            prop_assert!(suggested.iter().all(|rename| renames.contains(rename)));
        }
    }
}

/// A deterministic shuffle from a seed (proptest shrinks the seed).
fn shuffle(items: &mut [usize], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let j = (seed >> 33) as usize % (i + 1);
        items.swap(i, j);
    }
}
