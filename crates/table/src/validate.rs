//! The compiler's semantic checks, run on a table's own data, for tables
//! that did not come from the compiler: an artifact is refused when its
//! source would have been.
//!
//! The compiler (`mcp-policy-lang`, `check.rs`) checks the syntax tree, with
//! spans for its diagnostics; this crate cannot see that tree (servers
//! load artifacts without the parser), so the same rules are stated here on
//! scopes and rules. Each [`Defect`] names the compiler's code for the same
//! mistake. What the table's own constructor already refuses (a scope
//! declared twice, an index out of range, an allow with no clause) is not
//! repeated.

use std::collections::HashMap;
use std::fmt;

use crate::decision_table::{Effect, Rule, Target};
use crate::glob::{Glob, MAX_PATTERN_CHARS};
use crate::glob_index::GlobIndex;
use crate::method::TargetKind;
use crate::scope::{ScopeCatalog, ScopeId};

/// Words of requirements that a scope may not be named.
pub const RESERVED_SCOPE_NAMES: [&str; 3] = crate::spelling::REQUIREMENT_KEYWORDS;

/// The most clauses a rule may have: the compiler's `MAX_CLAUSES`.
pub const MAX_CLAUSES: usize = 256;

/// What the compiler would have rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Defect {
    InvalidScopeName {
        name: String,
        problem: &'static str,
    },
    ReservedScopeName {
        name: String,
    },
    /// The scopes of one cycle, in declaration order.
    ImpliesCycle {
        scopes: Vec<String>,
    },
    EmptyTarget {
        rule: RuleRef,
    },
    /// A glob target longer than [`MAX_PATTERN_CHARS`] characters.
    TargetTooLong {
        rule: RuleRef,
        chars: usize,
    },
    DuplicateRule {
        first: RuleRef,
        second: RuleRef,
    },
    AmbiguousRules {
        first: RuleRef,
        second: RuleRef,
        witness: String,
    },
    TooManyClauses {
        rule: RuleRef,
        clauses: usize,
    },
    /// A condition atom the compiler would not have made: a literal that
    /// is not a string, finite number or boolean, an `under` base that is
    /// not absolute and normalised, an operand with no key.
    InvalidAtom {
        atom: String,
        problem: String,
    },
    /// Two atoms that are one after normalisation (`x == "a"` and
    /// `x in ["a"]`): the compiler stores each atom once.
    DuplicateAtom {
        first: String,
        second: String,
    },
    /// A rule whose condition lists do not fit its clauses (per-clause
    /// atoms of another count than the clauses, or both an allow and a
    /// deny condition).
    MisshapenCondition {
        rule: RuleRef,
    },
}

/// A rule as a message names it: its text and source line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleRef {
    pub text: String,
    pub line: u32,
}

impl RuleRef {
    fn of(rule: &Rule) -> RuleRef {
        RuleRef {
            text: rule.text.clone(),
            line: rule.line,
        }
    }
}

impl fmt::Display for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` (line {})", self.text, self.line)
    }
}

impl Defect {
    /// The compiler's code for the same mistake.
    pub fn code(&self) -> &'static str {
        match self {
            Defect::InvalidScopeName { .. } => "mcp_policy::invalid_scope_name",
            Defect::ReservedScopeName { .. } => "mcp_policy::reserved_scope_name",
            Defect::ImpliesCycle { .. } => "mcp_policy::implies_cycle",
            Defect::EmptyTarget { .. } => "mcp_policy::empty_target",
            Defect::TargetTooLong { .. } => "mcp_policy::target_too_long",
            Defect::DuplicateRule { .. } => "mcp_policy::duplicate_rule",
            Defect::AmbiguousRules { .. } => "mcp_policy::ambiguous_rules",
            Defect::TooManyClauses { .. } => "mcp_policy::requirement_too_complex",
            Defect::InvalidAtom { .. } | Defect::MisshapenCondition { .. } => {
                "mcp_policy::invalid_condition"
            }
            Defect::DuplicateAtom { .. } => "mcp_policy::duplicate_atom",
        }
    }
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Defect::InvalidScopeName { name, problem } => write!(
                f,
                "`{}` is not a valid scope name ({problem})",
                name.escape_debug()
            ),
            Defect::ReservedScopeName { name } => write!(f, "a scope cannot be named `{name}`"),
            Defect::ImpliesCycle { scopes } => match scopes.as_slice() {
                [one] => write!(f, "scope `{one}` implies itself"),
                _ => write!(
                    f,
                    "scopes imply each other in a cycle: {}",
                    scopes.join(", ")
                ),
            },
            Defect::EmptyTarget { rule } => write!(f, "rule {rule} has an empty target"),
            Defect::TargetTooLong { rule, chars } => write!(
                f,
                "rule {rule} has a pattern of {chars} characters, more than the compiler's {MAX_PATTERN_CHARS}"
            ),
            Defect::DuplicateRule { first, second } => {
                write!(f, "rules {first} and {second} have the same target")
            }
            Defect::AmbiguousRules {
                first,
                second,
                witness,
            } => write!(
                f,
                "rules {first} and {second} are equally specific and both match `{witness}`"
            ),
            Defect::TooManyClauses { rule, clauses } => write!(
                f,
                "rule {rule} has {clauses} clauses, more than the compiler's {MAX_CLAUSES}"
            ),
            Defect::InvalidAtom { atom, problem } => {
                write!(
                    f,
                    "condition `{}` is invalid: {problem}",
                    atom.escape_debug()
                )
            }
            Defect::DuplicateAtom { first, second } => write!(
                f,
                "conditions `{}` and `{}` are the same atom",
                first.escape_debug(),
                second.escape_debug()
            ),
            Defect::MisshapenCondition { rule } => {
                write!(f, "rule {rule} has conditions that do not fit its clauses")
            }
        }?;
        write!(f, " [{}]", self.code())
    }
}

/// Every defect of a table's scopes and rules, in a stable order (scopes,
/// then rules); empty when the compiler would have accepted them.
pub fn defects(scopes: &ScopeCatalog, rules: &[Rule]) -> Vec<Defect> {
    let mut found = Vec::new();
    for (_, info) in scopes.iter() {
        if let Some(problem) = scope_token_problem(&info.name) {
            found.push(Defect::InvalidScopeName {
                name: info.name.clone(),
                problem,
            });
        }
        if RESERVED_SCOPE_NAMES.contains(&info.name.as_str()) {
            found.push(Defect::ReservedScopeName {
                name: info.name.clone(),
            });
        }
    }
    cycles(scopes, &mut found);
    for rule in rules {
        if target_text(rule).is_empty() {
            found.push(Defect::EmptyTarget {
                rule: RuleRef::of(rule),
            });
        }
        if let Target::Glob(glob) = &rule.target
            && let Some(chars) = too_long(glob)
        {
            found.push(Defect::TargetTooLong {
                rule: RuleRef::of(rule),
                chars,
            });
        }
        let clauses = match &rule.effect {
            Effect::Allow(clauses) => clauses.len(),
            Effect::DenyWhen(condition) => condition.len(),
            Effect::Deny => 0,
        };
        if clauses > MAX_CLAUSES {
            found.push(Defect::TooManyClauses {
                rule: RuleRef::of(rule),
                clauses,
            });
        }
    }
    duplicates(rules, &mut found);
    ambiguities(rules, &mut found);
    found
}

/// What is wrong with a name as an OAuth scope token, if anything: the
/// compiler's `invalid_scope_name` rule.
pub fn scope_token_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("empty");
    }
    // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
    if name
        .bytes()
        .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
    {
        None
    } else if name.contains(' ') {
        Some("contains a space")
    } else {
        Some("contains a character not allowed in scope tokens")
    }
}

/// Each cycle once: scope `a` is on one when a scope it implies directly
/// implies it back (through the closure, which the catalog computed).
fn cycles(scopes: &ScopeCatalog, found: &mut Vec<Defect>) {
    let mut reported: Vec<Vec<ScopeId>> = Vec::new();
    for (id, info) in scopes.iter() {
        if !info.implies.iter().any(|next| scopes.implies(*next, id)) {
            continue;
        }
        let members: Vec<ScopeId> = scopes
            .iter()
            .map(|(other, _)| other)
            .filter(|other| scopes.implies(id, *other) && scopes.implies(*other, id))
            .collect();
        if reported.contains(&members) {
            continue;
        }
        found.push(Defect::ImpliesCycle {
            scopes: members
                .iter()
                .map(|member| scopes.name(*member).to_owned())
                .collect(),
        });
        reported.push(members);
    }
}

fn target_text(rule: &Rule) -> &str {
    match &rule.target {
        Target::Exact(name) => name,
        Target::Glob(glob) => glob.as_str(),
    }
}

/// Two rules of one kind and target text: the compiler's `duplicate_rule`.
/// In a table the first would silently win. A `deny ... when` stands beside
/// the rule of its target (that is its use), so it counts apart; two of one
/// target are duplicates (the compiler joins their conditions).
fn duplicates(rules: &[Rule], found: &mut Vec<Defect>) {
    let mut seen: HashMap<(TargetKind, &str, bool), &Rule> = HashMap::new();
    for rule in rules {
        let key = (
            rule.kind,
            target_text(rule),
            matches!(rule.effect, Effect::DenyWhen(_)),
        );
        match seen.get(&key) {
            Some(first) => found.push(Defect::DuplicateRule {
                first: RuleRef::of(first),
                second: RuleRef::of(rule),
            }),
            None => {
                seen.insert(key, rule);
            }
        }
    }
}

/// How many characters a glob target has, when that is more than
/// [`MAX_PATTERN_CHARS`]: the compiler's `target_too_long`.
pub fn too_long(glob: &Glob) -> Option<usize> {
    // Bytes bound characters from above: most patterns stop here.
    if glob.as_str().len() <= MAX_PATTERN_CHARS {
        return None;
    }
    let chars = glob.as_str().chars().count();
    (chars > MAX_PATTERN_CHARS).then_some(chars)
}

/// What [`ambiguous_globs`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ambiguities {
    /// Each ambiguous pair once, as indices into the globs given (smaller
    /// first), with a name both match; sorted, as a scan of every pair
    /// would find them.
    pub pairs: Vec<(u32, u32, String)>,
    /// How many pairs ran the overlap test: the pairs the index could not
    /// rule out. Tests bound it; it is the cost that grows with the policy.
    pub overlap_tests: usize,
}

/// The most ambiguous pairs reported. Equally specific patterns whose
/// literal ends fit all share names, so `n` of them are `n²/2` pairs: a
/// policy (or table) of such patterns is refused either way, and the search
/// stops here rather than report (and search) millions.
pub const MAX_AMBIGUITIES: usize = 1_000;

/// Two allow globs of one kind, equally specific, that can match the same
/// name: the compiler's `ambiguous_rules`, for the compiler and the loader
/// alike. `globs` are the allow rules' glob targets with their kinds.
///
/// Globs can only tie within one kind and one specificity, and only pairs
/// whose literal ends fit ([`GlobIndex::compatible`]) can share a name, so
/// only those run the overlap test. Pairs are taken in order (by first
/// index, then second), the candidates of one glob at a time, and the
/// search stops after [`MAX_AMBIGUITIES`] pairs: time and memory stay
/// bounded however many patterns tie. A glob longer than
/// [`MAX_PATTERN_CHARS`] is left out: it is a defect of its own, and its
/// overlap search would cost the square of its length.
pub fn ambiguous_globs(globs: &[(TargetKind, &Glob)]) -> Ambiguities {
    let mut groups: HashMap<(TargetKind, usize), Vec<u32>> = HashMap::new();
    for (i, (kind, glob)) in globs.iter().enumerate() {
        if too_long(glob).is_none() {
            groups
                .entry((*kind, glob.specificity()))
                .or_default()
                .push(i as u32);
        }
    }
    let indexes: HashMap<(TargetKind, usize), GlobIndex> = groups
        .into_iter()
        .filter(|(_, members)| members.len() > 1)
        .map(|(key, members)| {
            let index = GlobIndex::new(
                members
                    .iter()
                    .filter_map(|i| globs.get(*i as usize).map(|(_, glob)| (*i, *glob))),
            );
            (key, index)
        })
        .collect();
    let mut found = Ambiguities::default();
    let mut candidates: Vec<u32> = Vec::new();
    for (i, (kind, first)) in globs.iter().enumerate() {
        let Some(index) = indexes.get(&(*kind, first.specificity())) else {
            continue;
        };
        if too_long(first).is_some() {
            continue;
        }
        let i = i as u32;
        candidates.clear();
        index.compatible(first, |j| {
            if j > i {
                candidates.push(j);
            }
        });
        candidates.sort_unstable();
        for &j in &candidates {
            let Some((_, second)) = globs.get(j as usize) else {
                continue;
            };
            if first.as_str() == second.as_str() {
                continue;
            }
            found.overlap_tests += 1;
            if let Some(witness) = first.overlap_witness(second) {
                found.pairs.push((i, j, witness));
                if found.pairs.len() == MAX_AMBIGUITIES {
                    return found;
                }
            }
        }
    }
    found
}

/// The allow globs of `rules` that [`ambiguous_globs`] reports.
fn ambiguities(rules: &[Rule], found: &mut Vec<Defect>) {
    let globs: Vec<(&Rule, &Glob)> = rules
        .iter()
        .filter_map(|rule| match (&rule.target, &rule.effect) {
            (Target::Glob(glob), Effect::Allow(_)) => Some((rule, glob)),
            _ => None,
        })
        .collect();
    let kinds: Vec<(TargetKind, &Glob)> = globs
        .iter()
        .map(|(rule, glob)| (rule.kind, *glob))
        .collect();
    for (i, j, witness) in ambiguous_globs(&kinds).pairs {
        if let (Some((first, _)), Some((second, _))) =
            (globs.get(i as usize), globs.get(j as usize))
        {
            found.push(Defect::AmbiguousRules {
                first: RuleRef::of(first),
                second: RuleRef::of(second),
                witness,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::decision_table::Clause;
    use crate::scope::{Level, ScopeInfo};

    fn catalog(scopes: &[(&str, &[u32])]) -> ScopeCatalog {
        ScopeCatalog::new(
            scopes
                .iter()
                .map(|(name, implies)| ScopeInfo {
                    name: (*name).into(),
                    level: Level::Read,
                    description: None,
                    implies: implies.iter().map(|i| ScopeId(*i)).collect(),
                })
                .collect(),
        )
        .unwrap()
    }

    fn rule(target: Target, clauses: usize, line: u32) -> Rule {
        Rule {
            kind: TargetKind::Tool,
            target,
            effect: Effect::Allow(vec![Clause::of_scopes(vec![]); clauses]),
            text: format!("rule {line}"),
            line,
        }
    }

    fn codes(scopes: &ScopeCatalog, rules: &[Rule]) -> Vec<&'static str> {
        defects(scopes, rules).iter().map(Defect::code).collect()
    }

    #[test]
    fn a_clean_table_has_no_defect() {
        let scopes = catalog(&[("read", &[]), ("admin", &[0])]);
        let rules = [
            rule(Target::Exact("a".into()), 1, 1),
            rule(Target::Glob(Glob::new("x_*")), 1, 2),
            // Overlaps `x_*`, but is more specific: it wins, no ambiguity.
            rule(Target::Glob(Glob::new("x_*_y")), 1, 3),
        ];
        assert_eq!(codes(&scopes, &rules), Vec::<&str>::new());
    }

    #[test]
    fn every_cycle_is_found_once() {
        let scopes = catalog(&[("a", &[1]), ("b", &[0]), ("c", &[2]), ("d", &[0])]);
        let found = defects(&scopes, &[]);
        assert_eq!(
            found,
            [
                Defect::ImpliesCycle {
                    scopes: vec!["a".into(), "b".into()]
                },
                Defect::ImpliesCycle {
                    scopes: vec!["c".into()]
                },
            ]
        );
        assert_eq!(
            found[1].to_string(),
            "scope `c` implies itself [mcp_policy::implies_cycle]"
        );
    }

    #[test]
    fn names_targets_and_clauses_are_checked() {
        let scopes = catalog(&[("a b", &[]), ("all_of", &[]), ("", &[]), ("é", &[])]);
        let rules = [
            rule(Target::Glob(Glob::new("")), 1, 1),
            rule(Target::Exact(String::new()), 1, 2),
            rule(Target::Exact("t".into()), MAX_CLAUSES + 1, 3),
            rule(Target::Exact("t".into()), 1, 4),
            rule(Target::Glob(Glob::new("a*")), 1, 5),
            rule(Target::Glob(Glob::new("*b")), 1, 6),
        ];
        assert_eq!(
            codes(&scopes, &rules),
            [
                "mcp_policy::invalid_scope_name",
                "mcp_policy::reserved_scope_name",
                "mcp_policy::invalid_scope_name",
                "mcp_policy::invalid_scope_name",
                "mcp_policy::empty_target",
                "mcp_policy::empty_target",
                "mcp_policy::requirement_too_complex",
                // `""` twice (a glob and an exact name of one text, keyed
                // as the compiler keys them), then `t` twice.
                "mcp_policy::duplicate_rule",
                "mcp_policy::duplicate_rule",
                "mcp_policy::ambiguous_rules",
            ]
        );
    }

    #[test]
    fn a_deny_glob_is_never_ambiguous() {
        let scopes = catalog(&[]);
        let mut deny = rule(Target::Glob(Glob::new("*b")), 1, 2);
        deny.effect = Effect::Deny;
        let rules = [rule(Target::Glob(Glob::new("a*")), 1, 1), deny];
        assert!(defects(&scopes, &rules).is_empty());
    }

    fn glob_rules(patterns: &[String]) -> Vec<Rule> {
        patterns
            .iter()
            .enumerate()
            .map(|(i, pattern)| {
                let mut rule = rule(Target::Glob(Glob::new(pattern)), 1, i as u32 + 1);
                rule.text = pattern.clone();
                rule
            })
            .collect()
    }

    #[test]
    fn a_pattern_longer_than_the_bound_is_a_defect() {
        let at_bound = format!("{}*", "é".repeat(MAX_PATTERN_CHARS - 1));
        let beyond = format!("{}*", "a".repeat(MAX_PATTERN_CHARS));
        let rules = glob_rules(&[at_bound, beyond]);
        let found = defects(&catalog(&[]), &rules);
        assert_eq!(
            found,
            [Defect::TargetTooLong {
                rule: RuleRef::of(&rules[1]),
                chars: MAX_PATTERN_CHARS + 1
            }]
        );
        assert!(
            found[0]
                .to_string()
                .ends_with("has a pattern of 1025 characters, more than the compiler's 1024 [mcp_policy::target_too_long]"),
            "{}",
            found[0]
        );
        // An exact name is not searched against others: no bound.
        let exact = [rule(Target::Exact("a".repeat(5000)), 1, 1)];
        assert!(defects(&catalog(&[]), &exact).is_empty());
    }

    /// The attack: `a…a*` and `*a…a`, 30,000 characters each. Their
    /// product search has 900 million states (it allocated 14 GB and
    /// aborted before); each is refused instead, and never searched.
    #[test]
    fn two_huge_patterns_are_refused_not_searched() {
        let long = "a".repeat(29_999);
        let rules = glob_rules(&[format!("{long}*"), format!("*{long}")]);
        let found = defects(&catalog(&[]), &rules);
        assert_eq!(
            found.iter().map(Defect::code).collect::<Vec<_>>(),
            ["mcp_policy::target_too_long"; 2]
        );
        let globs: Vec<(TargetKind, &Glob)> = rules
            .iter()
            .filter_map(|rule| match &rule.target {
                Target::Glob(glob) => Some((rule.kind, glob)),
                Target::Exact(_) => None,
            })
            .collect();
        assert_eq!(ambiguous_globs(&globs), Ambiguities::default());
    }

    /// 10,000 prefix patterns (the loader took 94 s on them, comparing
    /// every pair of equal specificity): the index leaves no pair of them
    /// to test. The ambiguous pairs added (`x*NN` and `xNN*`, each of the
    /// one with each of the other) are found, each with one overlap test.
    #[test]
    fn ten_thousand_globs_test_only_the_pairs_that_fit() {
        let mut patterns: Vec<String> = (0..10_000).map(|i| format!("t{i}*")).collect();
        patterns.extend((0..30).map(|i| format!("x*{i:02}")));
        patterns.extend((0..30).map(|i| format!("x{i:02}*")));
        let globs: Vec<Glob> = patterns.iter().map(|p| Glob::new(p)).collect();
        let kinds: Vec<(TargetKind, &Glob)> =
            globs.iter().map(|glob| (TargetKind::Tool, glob)).collect();
        let found = ambiguous_globs(&kinds);
        assert_eq!(found.pairs.len(), 30 * 30);
        assert_eq!(found.overlap_tests, 30 * 30);
        let (i, j, witness) = &found.pairs[0];
        assert_eq!(
            (
                patterns[*i as usize].as_str(),
                patterns[*j as usize].as_str(),
                witness.as_str()
            ),
            ("x*00", "x00*", "x00")
        );
        let found = defects(&catalog(&[]), &glob_rules(&patterns));
        assert_eq!(found.len(), 30 * 30);
    }

    /// Every pair, as the loader compared them before the index.
    fn naive_ambiguities(globs: &[(TargetKind, &Glob)]) -> Vec<(u32, u32, String)> {
        let mut pairs = Vec::new();
        for (i, (kind, a)) in globs.iter().enumerate() {
            for (j, (other, b)) in globs.iter().enumerate().skip(i + 1) {
                if kind != other || a.as_str() == b.as_str() || a.specificity() != b.specificity() {
                    continue;
                }
                if let Some(witness) = a.overlap_witness(b) {
                    pairs.push((i as u32, j as u32, witness));
                }
            }
        }
        pairs
    }

    proptest::proptest! {
        /// The index finds exactly the ambiguities a comparison of every
        /// pair finds, with the same witnesses, in the same order.
        #[test]
        fn narrowed_pairs_are_every_pair(
            patterns in proptest::collection::vec(("[ab*]{0,5}", proptest::bool::ANY), 0..16),
        ) {
            let globs: Vec<(TargetKind, Glob)> = patterns
                .iter()
                .map(|(p, tool)| (if *tool { TargetKind::Tool } else { TargetKind::Prompt }, Glob::new(p)))
                .collect();
            let kinds: Vec<(TargetKind, &Glob)> = globs.iter().map(|(k, g)| (*k, g)).collect();
            proptest::prop_assert_eq!(ambiguous_globs(&kinds).pairs, naive_ambiguities(&kinds));
        }
    }
}
