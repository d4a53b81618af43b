#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Differential test of the compiler and the decision table against a
//! reference interpreter.
//!
//! Random policies are generated as a plain source-level model (scopes with
//! their `implies`, rules with their targets and requirements), rendered to
//! `.mcppolicy` text and compiled with [`compile_source`]. The reference
//! interpreter reads the model directly, with the semantics of the spec and
//! nothing of the compiler's (no clauses, no masks, no indexes):
//!
//! - a token holds its scopes and, transitively, all they imply;
//! - for a (kind, name): a matching deny rule denies and no scope can lift
//!   it; else an exact-name rule decides; else the matching glob with the
//!   most literal characters; else the default (`deny` when omitted);
//! - a requirement is a scope, `authenticated`, `any_of` or `all_of`.
//!
//! For every kind, a set of names and a set of tokens, the table must decide
//! as the reference does, name the rule the reference picks, and explain a
//! denial exactly: `Remedy::AddScopes` added to the token allows and is of
//! smallest size (checked by brute force over every set of declared scopes),
//! and among sets of that size it is the documented least-privilege choice;
//! `Remedy::Unreachable` when a deny rule or the default denies, and
//! `Remedy::None` when allowed. The reference also predicts whether the
//! policy compiles at all (duplicate rules and ambiguous globs are errors).
//! The run counts each kind of outcome and fails if one is (nearly) never
//! reached, so it cannot pass vacuously. `PROPTEST_CASES=20000` runs longer.

use std::cell::Cell;
use std::collections::BTreeSet;

use mcp_policy_lang::{Code, DecisionTable, TargetKind, compile_source};
use mcp_policy_table::{Basis, Effect, Remedy, ScopeId};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

// ---------------------------------------------------------------------------
// The source-level model.

const LEVELS: [&str; 5] = ["read", "write", "admin", "resource", "oauth"];

#[derive(Clone, Debug)]
struct ScopeDef {
    level: &'static str,
    description: Option<String>,
    /// Indices of the scopes this one implies directly (always lower than
    /// its own index, so the relation is acyclic).
    implies: Vec<usize>,
}

#[derive(Clone, Debug)]
enum Req {
    Authenticated,
    Scope(usize),
    AnyOf(Vec<Req>),
    AllOf(Vec<Req>),
}

#[derive(Clone, Debug)]
enum Target {
    /// One name; written bare or in quotes (without `*` either way).
    Exact { name: String, quoted: bool },
    /// A quoted pattern holding at least one `*`.
    Glob(String),
}

impl Target {
    fn text(&self) -> &str {
        match self {
            Target::Exact { name, .. } => name,
            Target::Glob(pattern) => pattern,
        }
    }

    fn matches(&self, name: &str) -> bool {
        match self {
            Target::Exact { name: exact, .. } => exact == name,
            Target::Glob(pattern) => glob_matches(pattern.as_bytes(), name.as_bytes()),
        }
    }
}

#[derive(Clone, Debug)]
struct RuleDef {
    kind: TargetKind,
    target: Target,
    /// `None`: a deny rule.
    requires: Option<Req>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DefaultDecl {
    Omitted,
    Deny,
    Allow,
}

#[derive(Clone, Debug)]
struct Policy {
    name: Option<String>,
    default: DefaultDecl,
    scopes: Vec<ScopeDef>,
    rules: Vec<RuleDef>,
    /// Rendering choices that must not change the meaning.
    rules_first: bool,
    scopes_reversed: bool,
    quote_scope_names: bool,
    multiline_requirements: bool,
}

fn scope_name(index: usize) -> String {
    format!("s{index}")
}

// ---------------------------------------------------------------------------
// Rendering the model to source text.

impl Policy {
    fn scope_ref(&self, index: usize) -> String {
        if self.quote_scope_names {
            format!("\"{}\"", scope_name(index))
        } else {
            scope_name(index)
        }
    }

    fn render_req(&self, req: &Req, out: &mut String) {
        let group = |out: &mut String, keyword: &str, members: &[Req]| {
            out.push_str(keyword);
            out.push('(');
            for (i, member) in members.iter().enumerate() {
                if i > 0 {
                    out.push_str(if self.multiline_requirements {
                        ",\n    "
                    } else {
                        ", "
                    });
                }
                self.render_req(member, out);
            }
            out.push(')');
        };
        match req {
            Req::Authenticated => out.push_str("authenticated"),
            Req::Scope(index) => out.push_str(&self.scope_ref(*index)),
            Req::AnyOf(members) => group(out, "any_of", members),
            Req::AllOf(members) => group(out, "all_of", members),
        }
    }

    fn render_scope(&self, index: usize, out: &mut String) {
        let scope = &self.scopes[index];
        out.push_str(&format!(
            "scope {} level {}",
            self.scope_ref(index),
            scope.level
        ));
        if let Some(description) = &scope.description {
            out.push_str(&format!(" \"{description}\""));
        }
        if !scope.implies.is_empty() {
            let implied: Vec<String> = scope.implies.iter().map(|i| self.scope_ref(*i)).collect();
            out.push_str(&format!(" implies {}", implied.join(", ")));
        }
        out.push('\n');
    }

    fn render_rule(&self, rule: &RuleDef, out: &mut String) {
        let target = match &rule.target {
            Target::Exact { name, quoted: true } => format!("\"{name}\""),
            Target::Exact {
                name,
                quoted: false,
            } => name.clone(),
            Target::Glob(pattern) => format!("\"{pattern}\""),
        };
        match &rule.requires {
            None => out.push_str(&format!("deny {} {target}", rule.kind)),
            Some(req) => {
                out.push_str(&format!("{} {target} requires ", rule.kind));
                self.render_req(req, out);
            }
        }
        out.push('\n');
    }

    /// The source text, and the 1-based line each rule starts on.
    fn render(&self) -> (String, Vec<u32>) {
        let mut out = String::from("# generated by tests/differential.rs\n");
        if let Some(name) = &self.name {
            out.push_str(&format!("policy \"{name}\"\n"));
        }
        match self.default {
            DefaultDecl::Omitted => {}
            DefaultDecl::Deny => out.push_str("default deny\n"),
            DefaultDecl::Allow => out.push_str("default allow\n"),
        }
        let mut lines = vec![0; self.rules.len()];
        let render_rules = |out: &mut String, lines: &mut Vec<u32>| {
            for (i, rule) in self.rules.iter().enumerate() {
                lines[i] = out.matches('\n').count() as u32 + 1;
                self.render_rule(rule, out);
            }
        };
        let render_scopes = |out: &mut String| {
            let mut order: Vec<usize> = (0..self.scopes.len()).collect();
            if self.scopes_reversed {
                order.reverse();
            }
            for index in order {
                self.render_scope(index, out);
            }
        };
        if self.rules_first {
            render_rules(&mut out, &mut lines);
            render_scopes(&mut out);
        } else {
            render_scopes(&mut out);
            render_rules(&mut out, &mut lines);
        }
        (out, lines)
    }
}

// ---------------------------------------------------------------------------
// The reference interpreter.

/// `*` matches any run of characters, the empty one included; every other
/// character matches itself. By recursion, straight from the definition.
fn glob_matches(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|skip| glob_matches(rest, &name[skip..])),
        Some((c, rest)) => name.first() == Some(c) && glob_matches(rest, &name[1..]),
    }
}

/// `true` when some name matches both patterns. Each step consumes a
/// pattern character: a star matches the empty run, or swallows the next
/// character the other pattern produces (a literal, or a character of its
/// star, which is the same as that star matching the empty run here).
fn globs_overlap(p: &[u8], q: &[u8]) -> bool {
    match (p.split_first(), q.split_first()) {
        (None, None) => true,
        (Some((b'*', p_rest)), _) => {
            globs_overlap(p_rest, q) || (!q.is_empty() && globs_overlap(p, &q[1..]))
        }
        (_, Some((b'*', q_rest))) => {
            globs_overlap(p, q_rest) || (!p.is_empty() && globs_overlap(&p[1..], q))
        }
        (Some((a, p_rest)), Some((b, q_rest))) => a == b && globs_overlap(p_rest, q_rest),
        _ => false,
    }
}

/// The literal (non-`*`) characters of a pattern.
fn specificity(pattern: &str) -> usize {
    pattern.chars().filter(|c| *c != '*').count()
}

/// Which rule, if any, decides a (kind, name).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Verdict {
    /// These deny rules match: denied, and no scope can lift it.
    Deny(Vec<usize>),
    /// This allow rule decides.
    Rule(usize),
    /// No rule matches.
    Default,
    /// Equally specific globs match: the policy should have been rejected.
    Ambiguous(Vec<usize>),
}

impl Policy {
    /// Every scope the token holds: what it names, and what those imply,
    /// to a fixpoint. Bit `i` stands for scope `i`.
    fn closure(&self, held: u32) -> u32 {
        let mut set = held;
        loop {
            let mut next = set;
            for (i, scope) in self.scopes.iter().enumerate() {
                if set & (1 << i) != 0 {
                    for implied in &scope.implies {
                        next |= 1 << implied;
                    }
                }
            }
            if next == set {
                return set;
            }
            set = next;
        }
    }

    fn satisfies(req: &Req, held: u32) -> bool {
        match req {
            Req::Authenticated => true,
            Req::Scope(index) => held & (1 << index) != 0,
            Req::AnyOf(members) => members.iter().any(|m| Policy::satisfies(m, held)),
            Req::AllOf(members) => members.iter().all(|m| Policy::satisfies(m, held)),
        }
    }

    fn verdict(&self, kind: TargetKind, name: &str) -> Verdict {
        let matching: Vec<usize> = (0..self.rules.len())
            .filter(|i| self.rules[*i].kind == kind && self.rules[*i].target.matches(name))
            .collect();
        let denies: Vec<usize> = matching
            .iter()
            .copied()
            .filter(|i| self.rules[*i].requires.is_none())
            .collect();
        if !denies.is_empty() {
            return Verdict::Deny(denies);
        }
        if let Some(exact) = matching
            .iter()
            .copied()
            .find(|i| matches!(self.rules[*i].target, Target::Exact { .. }))
        {
            return Verdict::Rule(exact);
        }
        let Some(best) = matching
            .iter()
            .map(|i| specificity(self.rules[*i].target.text()))
            .max()
        else {
            return Verdict::Default;
        };
        let winners: Vec<usize> = matching
            .into_iter()
            .filter(|i| specificity(self.rules[*i].target.text()) == best)
            .collect();
        match winners.as_slice() {
            [one] => Verdict::Rule(*one),
            _ => Verdict::Ambiguous(winners),
        }
    }

    /// Whether the compiler should accept the policy: no two rules of a
    /// kind with the same target text, no two allow globs of a kind that are
    /// equally specific and can match a common name.
    fn is_valid(&self) -> bool {
        for (i, first) in self.rules.iter().enumerate() {
            for second in &self.rules[i + 1..] {
                if first.kind != second.kind {
                    continue;
                }
                if first.target.text() == second.target.text() {
                    return false;
                }
                if let (Target::Glob(a), Target::Glob(b), Some(_), Some(_)) = (
                    &first.target,
                    &second.target,
                    &first.requires,
                    &second.requires,
                ) && specificity(a) == specificity(b)
                    && globs_overlap(a.as_bytes(), b.as_bytes())
                {
                    return false;
                }
            }
        }
        true
    }
}

// ---------------------------------------------------------------------------
// Generators.

fn kind_strategy() -> impl Strategy<Value = TargetKind> {
    prop_oneof![
        3 => Just(TargetKind::Tool),
        1 => Just(TargetKind::Resource),
        1 => Just(TargetKind::Prompt),
    ]
}

/// Scope indices are drawn from 0..7 and reduced modulo the scope count.
fn req_strategy() -> impl Strategy<Value = Req> {
    let leaf = prop_oneof![
        1 => Just(Req::Authenticated),
        8 => (0usize..7).prop_map(Req::Scope),
    ];
    leaf.prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..=3).prop_map(Req::AnyOf),
            prop::collection::vec(inner, 1..=3).prop_map(Req::AllOf),
        ]
    })
}

fn target_strategy() -> impl Strategy<Value = Target> {
    prop_oneof![
        ("[ab_]{1,4}", any::<bool>()).prop_map(|(name, quoted)| Target::Exact { name, quoted }),
        "[ab_]{0,3}\\*[ab_]{0,3}".prop_map(Target::Glob),
        "[ab_*]{1,5}"
            .prop_filter("a glob has a star", |p| p.contains('*'))
            .prop_map(Target::Glob),
    ]
}

fn rule_strategy() -> impl Strategy<Value = RuleDef> {
    (
        kind_strategy(),
        target_strategy(),
        prop::option::weighted(0.75, req_strategy()),
    )
        .prop_map(|(kind, target, requires)| RuleDef {
            kind,
            target,
            requires,
        })
}

fn scope_strategy() -> impl Strategy<Value = ScopeDef> {
    (
        prop::sample::select(LEVELS.to_vec()),
        prop::option::of("[a-z ]{0,12}"),
        prop::collection::vec(0usize..7, 0..=2),
    )
        .prop_map(|(level, description, implies)| ScopeDef {
            level,
            description,
            implies,
        })
}

fn reduce_req(req: Req, scopes: usize) -> Req {
    match req {
        Req::Authenticated => Req::Authenticated,
        Req::Scope(index) => Req::Scope(index % scopes),
        Req::AnyOf(members) => {
            Req::AnyOf(members.into_iter().map(|m| reduce_req(m, scopes)).collect())
        }
        Req::AllOf(members) => {
            Req::AllOf(members.into_iter().map(|m| reduce_req(m, scopes)).collect())
        }
    }
}

fn policy_strategy() -> impl Strategy<Value = Policy> {
    (2usize..=7).prop_flat_map(|n| {
        (
            prop::collection::vec(scope_strategy(), n),
            prop::collection::vec(rule_strategy(), 0..=8),
            prop_oneof![
                Just(DefaultDecl::Omitted),
                Just(DefaultDecl::Deny),
                Just(DefaultDecl::Allow)
            ],
            prop::option::of("[a-z-]{1,8}"),
            any::<[bool; 4]>(),
            prop::bool::weighted(0.1),
        )
            .prop_map(
                move |(mut scopes, mut rules, default, name, flags, keep_duplicates)| {
                    // Acyclic: scope `i` implies only scopes below `i`.
                    for (i, scope) in scopes.iter_mut().enumerate() {
                        let implied: BTreeSet<usize> = if i == 0 {
                            BTreeSet::new()
                        } else {
                            scope.implies.iter().map(|j| j % i).collect()
                        };
                        scope.implies = implied.into_iter().collect();
                    }
                    for rule in &mut rules {
                        if let Some(req) = rule.requires.take() {
                            rule.requires = Some(reduce_req(req, n));
                        }
                    }
                    if !keep_duplicates {
                        let mut seen = BTreeSet::new();
                        rules.retain(|rule| {
                            seen.insert((rule.kind.keyword(), rule.target.text().to_owned()))
                        });
                    }
                    let [
                        rules_first,
                        scopes_reversed,
                        quote_scope_names,
                        multiline_requirements,
                    ] = flags;
                    Policy {
                        name,
                        default,
                        scopes,
                        rules,
                        rules_first,
                        scopes_reversed,
                        quote_scope_names,
                        multiline_requirements,
                    }
                },
            )
    })
}

#[derive(Clone, Debug)]
struct Case {
    policy: Policy,
    /// Tokens as bit sets of scope indices (reduced to the declared scopes).
    tokens: Vec<u8>,
    names: Vec<String>,
    /// Pad token strings with undeclared scopes and extra whitespace.
    noisy_tokens: bool,
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (
        policy_strategy(),
        prop::collection::vec(any::<u8>(), 6),
        prop::collection::vec("[ab_]{0,5}", 8),
        any::<bool>(),
    )
        .prop_map(|(policy, tokens, names, noisy_tokens)| Case {
            policy,
            tokens,
            names,
            noisy_tokens,
        })
}

// ---------------------------------------------------------------------------
// The comparison.

fn token_string(held: u32, scopes: usize, noisy: bool) -> String {
    let names: Vec<String> = (0..scopes)
        .filter(|i| held & (1 << i) != 0)
        .map(scope_name)
        .collect();
    if noisy {
        // Runs of spaces, unknown scopes, and a token with a tab in it (one
        // token, as RFC 6749 separates by spaces only: it matches nothing).
        format!("  other:scope\ts0 {}  s99 ", names.join("   "))
    } else {
        names.join(" ")
    }
}

/// How often each kind of outcome was compared, so the test cannot pass
/// by never reaching one.
#[derive(Debug, Default)]
struct Tally {
    allowed: Cell<usize>,
    denied_by_deny_rule: Cell<usize>,
    denied_by_default: Cell<usize>,
    decided_by_exact: Cell<usize>,
    decided_by_glob: Cell<usize>,
    remedies: Cell<usize>,
    remedies_of_two_or_more: Cell<usize>,
    /// Remedies where several sets of the smallest size allow.
    remedies_with_ties: Cell<usize>,
}

fn bump(counter: &Cell<usize>) {
    counter.set(counter.get() + 1);
}

/// Everything a case checks, for one compiled policy.
struct Harness<'a> {
    policy: &'a Policy,
    source: &'a str,
    lines: &'a [u32],
    table: &'a DecisionTable,
    /// The table's id of each scope of the model.
    ids: Vec<ScopeId>,
    noisy: bool,
    tally: &'a Tally,
}

/// The smallest sets of scopes that, added to a token, allow: brute force
/// over every subset of the declared scopes.
struct Cheapest {
    size: u32,
    /// How many sets of that size allow.
    count: usize,
    /// Among those of that size, the least (extra scopes granted, table ids).
    best: (u32, Vec<ScopeId>),
}

impl Harness<'_> {
    fn context(&self, kind: TargetKind, name: &str, held: u32) -> String {
        format!(
            "kind {kind}, name {name:?}, token {:?}\n--- policy ---\n{}",
            token_string(held, self.policy.scopes.len(), false),
            self.source
        )
    }

    fn mask_of(&self, ids: &[ScopeId]) -> u32 {
        ids.iter()
            .map(|id| {
                let index = self.ids.iter().position(|known| known == id).unwrap();
                1u32 << index
            })
            .fold(0, |a, b| a | b)
    }

    fn ids_of(&self, mask: u32) -> Vec<ScopeId> {
        let mut ids: Vec<ScopeId> = (0..self.ids.len())
            .filter(|i| mask & (1 << i) != 0)
            .map(|i| self.ids[i])
            .collect();
        ids.sort();
        ids
    }

    fn cheapest(&self, req: &Req, held: u32) -> Option<Cheapest> {
        let closed = self.policy.closure(held);
        let mut found: Option<(u32, u32, Vec<ScopeId>)> = None;
        let mut count_by_size = [0usize; 33];
        for added in 0..(1u32 << self.policy.scopes.len()) {
            let granted = self.policy.closure(held | added);
            if !Policy::satisfies(req, granted) {
                continue;
            }
            let size = added.count_ones();
            count_by_size[size as usize] += 1;
            let extra = (granted & !closed).count_ones().saturating_sub(size);
            let candidate = (size, extra, self.ids_of(added));
            if found.as_ref().is_none_or(|best| candidate < *best) {
                found = Some(candidate);
            }
        }
        found.map(|(size, extra, ids)| Cheapest {
            size,
            count: count_by_size[size as usize],
            best: (extra, ids),
        })
    }

    fn check(&self, kind: TargetKind, name: &str, held: u32) -> Result<(), TestCaseError> {
        let policy = self.policy;
        let table = self.table;
        let context = || self.context(kind, name, held);
        let token = table.parse_scopes(&token_string(held, policy.scopes.len(), self.noisy));
        let closed = policy.closure(held);
        prop_assert_eq!(
            self.mask_of(&token.iter().collect::<Vec<_>>()),
            closed,
            "the token's scope set is not the closure of its scopes; {}",
            context()
        );

        let verdict = policy.verdict(kind, name);
        let expected = match &verdict {
            Verdict::Deny(_) => false,
            Verdict::Rule(i) => {
                Policy::satisfies(policy.rules[*i].requires.as_ref().unwrap(), closed)
            }
            Verdict::Default => policy.default == DefaultDecl::Allow,
            Verdict::Ambiguous(rules) => {
                return Err(TestCaseError::fail(format!(
                    "equally specific globs {rules:?} match, yet the policy compiled; {}",
                    context()
                )));
            }
        };

        match &verdict {
            Verdict::Deny(_) => bump(&self.tally.denied_by_deny_rule),
            Verdict::Rule(i) => match policy.rules[*i].target {
                Target::Exact { .. } => bump(&self.tally.decided_by_exact),
                Target::Glob(_) => bump(&self.tally.decided_by_glob),
            },
            Verdict::Default if !expected => bump(&self.tally.denied_by_default),
            Verdict::Default | Verdict::Ambiguous(_) => {}
        }
        if expected {
            bump(&self.tally.allowed);
        }

        let decision = table.decide(kind, name, &token);
        prop_assert_eq!(decision.allowed, expected, "decide; {}", context());
        prop_assert_eq!(
            table.is_allowed(kind, name, &token),
            expected,
            "is_allowed; {}",
            context()
        );

        // The deciding rule is the one the reference picks.
        match (&verdict, decision.basis) {
            (Verdict::Deny(denies), Basis::Rule(id)) => {
                let rule = table.rule(id).unwrap();
                prop_assert_eq!(&rule.effect, &Effect::Deny, "{}", context());
                prop_assert!(
                    denies.iter().any(|i| self.lines[*i] == rule.line),
                    "denied by line {}, not a matching deny rule {:?}; {}",
                    rule.line,
                    denies,
                    context()
                );
            }
            (Verdict::Rule(i), Basis::Rule(id)) => {
                prop_assert_eq!(
                    table.rule(id).unwrap().line,
                    self.lines[*i],
                    "decided by another rule; {}",
                    context()
                );
            }
            (Verdict::Default, Basis::Default) => {}
            (verdict, basis) => {
                return Err(TestCaseError::fail(format!(
                    "reference {verdict:?}, table basis {basis:?}; {}",
                    context()
                )));
            }
        }

        let explanation = table.explain(kind, name, &token);
        prop_assert_eq!(explanation.decision, decision, "explain; {}", context());
        match (&verdict, expected) {
            (_, true) => prop_assert_eq!(&explanation.remedy, &Remedy::None, "{}", context()),
            (Verdict::Deny(_) | Verdict::Default, false) => {
                prop_assert_eq!(&explanation.remedy, &Remedy::Unreachable, "{}", context());
            }
            (Verdict::Rule(i), false) => {
                let req = policy.rules[*i].requires.as_ref().unwrap();
                // Adding every declared scope satisfies any requirement.
                let cheapest = self.cheapest(req, held).unwrap();
                let Remedy::AddScopes(ids) = &explanation.remedy else {
                    return Err(TestCaseError::fail(format!(
                        "remedy {:?}, expected scopes to add; {}",
                        explanation.remedy,
                        context()
                    )));
                };
                bump(&self.tally.remedies);
                if ids.len() >= 2 {
                    bump(&self.tally.remedies_of_two_or_more);
                }
                if cheapest.count >= 2 {
                    bump(&self.tally.remedies_with_ties);
                }
                let added = self.mask_of(ids);
                prop_assert_eq!(
                    added.count_ones() as usize,
                    ids.len(),
                    "repeated scopes in {:?}; {}",
                    ids,
                    context()
                );
                // Added to the token, the remedy allows: by the reference...
                prop_assert!(
                    Policy::satisfies(req, policy.closure(held | added)),
                    "adding {:?} does not allow; {}",
                    ids,
                    context()
                );
                // ...and by the table, from a token string that names them.
                let fixed = table.parse_scopes(&token_string(
                    held | added,
                    policy.scopes.len(),
                    self.noisy,
                ));
                prop_assert!(
                    table.is_allowed(kind, name, &fixed),
                    "the table denies after adding {:?}; {}",
                    ids,
                    context()
                );
                // No smaller set allows.
                prop_assert_eq!(
                    ids.len(),
                    cheapest.size as usize,
                    "remedy {:?} is not of the smallest size; {}",
                    ids,
                    context()
                );
                // Among sets of that size: the fewest extra scopes granted,
                // then the first in declaration order (as documented).
                let extra = (policy.closure(held | added) & !closed)
                    .count_ones()
                    .saturating_sub(added.count_ones());
                let mut sorted = ids.clone();
                sorted.sort();
                prop_assert_eq!(
                    (extra, sorted),
                    cheapest.best.clone(),
                    "remedy {:?} is not the least-privilege choice; {}",
                    ids,
                    context()
                );
            }
            (Verdict::Ambiguous(_), false) => unreachable!("returned above"),
        }
        Ok(())
    }
}

/// Runs one case; `Ok(true)` when the policy compiled.
fn run_case(case: &Case, tally: &Tally) -> Result<bool, TestCaseError> {
    let policy = &case.policy;
    let (source, lines) = policy.render();
    let compilation = compile_source(&source);
    let valid = policy.is_valid();
    prop_assert_eq!(
        compilation.table.is_some(),
        valid,
        "the reference says valid = {}; diagnostics {:#?}\n--- policy ---\n{}",
        valid,
        compilation.diagnostics,
        source
    );
    let Some(table) = &compilation.table else {
        for diagnostic in compilation.diagnostics.iter().filter(|d| d.is_error()) {
            prop_assert!(
                matches!(diagnostic.code, Code::DuplicateRule | Code::AmbiguousRules),
                "unexpected error {:?}\n--- policy ---\n{}",
                diagnostic,
                source
            );
        }
        return Ok(false);
    };
    prop_assert_eq!(table.scopes().len(), policy.scopes.len());
    let ids: Vec<ScopeId> = (0..policy.scopes.len())
        .map(|i| table.scopes().lookup(&scope_name(i)).unwrap())
        .collect();
    let harness = Harness {
        policy,
        source: &source,
        lines: &lines,
        table,
        ids,
        noisy: case.noisy_tokens,
        tally,
    };

    // Random names, every exact target, names made from every glob, and a
    // name no rule but a bare `*` can match.
    let mut names: BTreeSet<String> = case.names.iter().cloned().collect();
    for rule in &policy.rules {
        names.insert(rule.target.text().to_owned());
        names.insert(rule.target.text().replace('*', ""));
        names.insert(rule.target.text().replace('*', "ab"));
    }
    names.insert("zzz".to_owned());

    let all = (1u32 << policy.scopes.len()) - 1;
    let mut tokens: BTreeSet<u32> = case.tokens.iter().map(|t| u32::from(*t) & all).collect();
    tokens.insert(0);

    for kind in TargetKind::ALL {
        for name in &names {
            for held in &tokens {
                harness.check(kind, name, *held)?;
            }
        }
    }
    Ok(true)
}

#[test]
fn table_decides_and_explains_as_the_reference() {
    // `PROPTEST_CASES=20000` for a longer hunt.
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(256);
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let compiled = Cell::new(0usize);
    let rejected = Cell::new(0usize);
    let tally = Tally::default();
    let result = runner.run(&case_strategy(), |case| {
        if run_case(&case, &tally)? {
            compiled.set(compiled.get() + 1);
        } else {
            rejected.set(rejected.get() + 1);
        }
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
    let (compiled, rejected) = (compiled.get(), rejected.get());
    eprintln!(
        "{compiled} policies compiled, {rejected} rejected; compared: {} allowed, {} denied by a deny rule, {} by the default; {} decided by an exact rule, {} by a glob; {} remedies ({} of two or more scopes, {} with a tie to break)",
        tally.allowed.get(),
        tally.denied_by_deny_rule.get(),
        tally.denied_by_default.get(),
        tally.decided_by_exact.get(),
        tally.decided_by_glob.get(),
        tally.remedies.get(),
        tally.remedies_of_two_or_more.get(),
        tally.remedies_with_ties.get(),
    );
    // Not vacuous: most generated policies compile and are compared.
    assert!(
        compiled * 10 >= (compiled + rejected) * 7,
        "only {compiled} of {} generated policies compiled",
        compiled + rejected
    );
    for (what, count) in [
        ("allowed", &tally.allowed),
        ("denied by a deny rule", &tally.denied_by_deny_rule),
        ("denied by the default", &tally.denied_by_default),
        ("decided by an exact rule", &tally.decided_by_exact),
        ("decided by a glob", &tally.decided_by_glob),
        ("remedy", &tally.remedies),
        (
            "remedy of two or more scopes",
            &tally.remedies_of_two_or_more,
        ),
    ] {
        assert!(
            count.get() >= 20,
            "too few comparisons: {what}: {}",
            count.get()
        );
    }
}

// ---------------------------------------------------------------------------
// The reference's own pieces, checked against brute force.

#[test]
fn reference_overlap_agrees_with_brute_force() {
    fn strings(alphabet: &[u8], max: usize) -> Vec<Vec<u8>> {
        let mut all = vec![Vec::new()];
        let mut layer = vec![Vec::new()];
        for _ in 0..max {
            layer = layer
                .iter()
                .flat_map(|s: &Vec<u8>| {
                    alphabet.iter().map(move |c| {
                        let mut next = s.clone();
                        next.push(*c);
                        next
                    })
                })
                .collect();
            all.extend(layer.iter().cloned());
        }
        all
    }
    let patterns = strings(b"ab*", 3);
    // A common name, if any, needs at most one character per pattern
    // character, and `a` can stand for anything a star swallows.
    let names = strings(b"ab", 6);
    for p in &patterns {
        for q in &patterns {
            let brute = names
                .iter()
                .any(|name| glob_matches(p, name) && glob_matches(q, name));
            assert_eq!(
                globs_overlap(p, q),
                brute,
                "{:?} {:?}",
                String::from_utf8_lossy(p),
                String::from_utf8_lossy(q)
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Hand-computed cases.

fn compile(source: &str) -> DecisionTable {
    let compilation = compile_source(source);
    match compilation.table {
        Some(table) => table,
        None => panic!("does not compile: {:#?}", compilation.diagnostics),
    }
}

fn missing(table: &DecisionTable, kind: TargetKind, name: &str, token: &str) -> Remedy {
    table.explain(kind, name, &table.parse_scopes(token)).remedy
}

fn add(table: &DecisionTable, names: &[&str]) -> Remedy {
    Remedy::AddScopes(
        names
            .iter()
            .map(|name| table.scopes().lookup(name).unwrap())
            .collect(),
    )
}

fn allowed(table: &DecisionTable, kind: TargetKind, name: &str, token: &str) -> bool {
    table.is_allowed(kind, name, &table.parse_scopes(token))
}

#[test]
fn implied_scopes_satisfy_any_of() {
    let table = compile(
        "scope mcp:read  level read
         scope mcp:write level write implies mcp:read
         scope mcp:admin level admin implies mcp:write
         tool t requires any_of(mcp:read, mcp:admin)",
    );
    for token in ["mcp:admin", "mcp:write", "mcp:read"] {
        assert!(allowed(&table, TargetKind::Tool, "t", token), "{token}");
        assert_eq!(
            missing(&table, TargetKind::Tool, "t", token),
            Remedy::None,
            "{token}"
        );
    }
    assert!(!allowed(&table, TargetKind::Tool, "t", ""));
    assert_eq!(
        missing(&table, TargetKind::Tool, "t", ""),
        add(&table, &["mcp:read"])
    );
}

#[test]
fn one_implying_scope_beats_two_implied_ones() {
    let table = compile(
        "scope a level read
         scope b level read
         scope super level admin implies a, b
         tool t requires all_of(a, b)",
    );
    assert_eq!(
        missing(&table, TargetKind::Tool, "t", ""),
        add(&table, &["super"])
    );
    // Holding one of the two, the other is the cheapest (and grants less).
    assert_eq!(
        missing(&table, TargetKind::Tool, "t", "a"),
        add(&table, &["b"])
    );
    assert!(allowed(&table, TargetKind::Tool, "t", "super"));
}

#[test]
fn least_privilege_breaks_ties() {
    // Both `wide` and `narrow` imply `r`; `narrow` grants less besides.
    let table = compile(
        "scope r level read
         scope x level read
         scope y level read
         scope wide level admin implies r, x, y
         scope narrow level write implies r
         tool t requires all_of(r, any_of(wide, narrow))",
    );
    assert_eq!(
        missing(&table, TargetKind::Tool, "t", ""),
        add(&table, &["narrow"])
    );
}

#[test]
fn a_deny_glob_overrides_an_exact_allow() {
    let table = compile(
        "scope s level read
         tool admin_x requires s
         tool \"admin_*\" requires s
         deny tool \"admin_*x\"",
    );
    let token = table.parse_scopes("s");
    let explanation = table.explain(TargetKind::Tool, "admin_x", &token);
    assert!(!explanation.decision.allowed);
    assert_eq!(explanation.remedy, Remedy::Unreachable);
    assert_eq!(explanation.rule.unwrap().effect, Effect::Deny);
    // The deny glob does not match `admin_y`: the allow glob decides.
    assert!(allowed(&table, TargetKind::Tool, "admin_y", "s"));
    // Denies are per kind.
    assert!(!allowed(&table, TargetKind::Prompt, "admin_x", "s"));
    assert_eq!(
        missing(&table, TargetKind::Prompt, "admin_x", "s"),
        Remedy::Unreachable
    );
}

#[test]
fn exact_beats_glob_and_the_longer_glob_wins() {
    let table = compile(
        "scope lo level read
         scope hi level admin
         tool \"a*\" requires lo
         tool \"ab*\" requires hi
         tool \"*\" requires authenticated
         tool abc requires lo",
    );
    assert!(allowed(&table, TargetKind::Tool, "abc", "lo"));
    assert!(!allowed(&table, TargetKind::Tool, "abd", "lo"));
    assert_eq!(
        missing(&table, TargetKind::Tool, "abd", "lo"),
        add(&table, &["hi"])
    );
    assert!(allowed(&table, TargetKind::Tool, "a", "lo"));
    assert!(!allowed(&table, TargetKind::Tool, "a", ""));
    // `authenticated`: any valid token, even one without scopes.
    assert!(allowed(&table, TargetKind::Tool, "zzz", ""));
    assert_eq!(missing(&table, TargetKind::Tool, "zzz", ""), Remedy::None);
}

#[test]
fn the_default_applies_when_no_rule_matches() {
    let denying = compile("scope s level read\ntool t requires s");
    assert!(!allowed(&denying, TargetKind::Tool, "u", "s"));
    assert_eq!(
        missing(&denying, TargetKind::Tool, "u", "s"),
        Remedy::Unreachable
    );
    let allowing = compile("default allow\nscope s level read\ntool t requires s");
    assert!(allowed(&allowing, TargetKind::Tool, "u", ""));
    assert_eq!(missing(&allowing, TargetKind::Tool, "u", ""), Remedy::None);
    assert_eq!(
        missing(&allowing, TargetKind::Tool, "t", ""),
        add(&allowing, &["s"])
    );
}

#[test]
fn conflicting_rules_are_rejected() {
    let codes = |source: &str| -> Vec<Code> {
        let compilation = compile_source(source);
        assert!(compilation.table.is_none(), "{source}");
        compilation
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.code)
            .collect()
    };
    let scopes = "scope s level read\n";
    assert_eq!(
        codes(&format!(
            "{scopes}tool \"a*\" requires s\ntool \"*b\" requires s"
        )),
        [Code::AmbiguousRules]
    );
    assert_eq!(
        codes(&format!("{scopes}tool t requires s\ndeny tool t")),
        [Code::DuplicateRule]
    );
    assert_eq!(
        codes(&format!("{scopes}tool t requires s\ntool \"t\" requires s")),
        [Code::DuplicateRule]
    );
    // Equally specific but disjoint, or of different kinds: accepted.
    compile(&format!(
        "{scopes}tool \"a*\" requires s\ntool \"b*\" requires s"
    ));
    compile(&format!(
        "{scopes}tool \"a*\" requires s\nprompt \"*b\" requires s"
    ));
    // A deny glob may overlap allow globs.
    compile(&format!("{scopes}tool \"a*\" requires s\ndeny tool \"*b\""));
}

/// A crafted catalog: a long `all_of` whose every member two scopes
/// provide, and one that 300 scopes imply. Every cover has the same size,
/// so branch and bound cannot prune and would visit millions of nodes on
/// each denied request; the search budget stops it with a cover in hand,
/// which must still allow, and here is still of the least size.
#[test]
fn a_crafted_catalog_still_gets_a_remedy_that_allows() {
    let mut source = String::new();
    let mut needed = Vec::new();
    for i in 0..12 {
        source.push_str(&format!(
            "scope s{i} level read\nscope p{i} level read implies s{i}\n"
        ));
        needed.push(format!("s{i}"));
    }
    source.push_str("scope t level read\n");
    for i in 0..300 {
        source.push_str(&format!("scope q{i} level read implies t\n"));
    }
    needed.push("t".to_owned());
    source.push_str(&format!("tool x requires all_of({})\n", needed.join(", ")));
    let table = mcp_policy_lang::compile_source(&source).table.unwrap();
    let held = table.parse_scopes("s0 s5");
    let explanation = table.explain(TargetKind::Tool, "x", &held);
    let Remedy::AddScopes(added) = &explanation.remedy else {
        panic!("{:?}", explanation.remedy)
    };
    assert_eq!(added.len(), 11);
    let names: Vec<&str> = added.iter().map(|id| table.scopes().name(*id)).collect();
    let token = format!("s0 s5 {}", names.join(" "));
    assert!(table.is_allowed(TargetKind::Tool, "x", &table.parse_scopes(&token)));
}
