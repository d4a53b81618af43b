#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Differential test of the compiler and the decision table on policies
//! with conditions, from source text, against a reference interpreter.
//!
//! Random policies are generated as a source-level model: scopes with
//! `implies`; tool rules on exact and glob targets whose requirements nest
//! `any_of`/`all_of` of scopes, `authenticated` and condition atoms drawn
//! from a pool that covers every operator (`==`/`!=` against string,
//! number and boolean literals and against another operand, `in`,
//! `matches`, the orderings, `contains`, `under`), both `arg.` and
//! `claim.`, nested and quoted keys, numbers near the exact bounds, and
//! spellings the compiler must equate (`x in ["a"]` and `x == "a"`,
//! `claim.t != arg.y` and its mirror); `deny tool X when COND`, plain
//! `deny`, and `default allow|deny` or none. The model is rendered to
//! `.mcppolicy` text and compiled with [`compile_source`]: so the parser,
//! the checker and the compiler's normal form (clauses, absorption,
//! cheapest-atom order, deny conditions, `in` lists) are all under test.
//!
//! The reference reads the model directly, per SPEC.md, "Deciding a
//! request" and "Conditions", with the atom semantics of
//! `crates/table/tests/reference/atoms.rs` (shared with the table's own
//! differential test, so there is one reference of atoms):
//!
//! - an unconditional deny matching the name denies;
//! - then each `deny ... when` matching it, exact targets first, then
//!   globs, in source order, denies when its condition holds, an `under`
//!   it cannot decide counting as true there;
//! - then the exact allow rule, else the most specific allow glob, decides
//!   by evaluating its requirement tree recursively (an atom on a missing
//!   value or of the wrong type is false, `!=` included; an undecided
//!   `under` is false);
//! - else the default.
//!
//! For random arguments and claims (every JSON type, missing keys, paths
//! with `..`, NUL, backslashes, relative paths, numbers near the bounds)
//! and random held scopes, the table's decision and the rule it names must
//! be the reference's; the reference also predicts whether the policy
//! compiles (duplicate rules and ambiguous globs are errors). The run
//! counts each kind of outcome and fails if one is too rare, so it cannot
//! pass vacuously. `PROPTEST_CASES=5000` runs longer.

#[path = "../../crates/table/tests/reference/atoms.rs"]
#[allow(dead_code)]
mod reference_atoms;

use std::cell::Cell;
use std::collections::BTreeSet;
use std::sync::LazyLock;

use mcp_policy_lang::{Code, DecisionTable, TargetKind, compile_source};
use mcp_policy_table::{Basis, Context, Effect as TableEffect};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reference_atoms::{
    Order, RefAtom, RefLit, RefOp, RefOperand, RefValue, Truth, atom_truth, glob_matches_str,
    reference_atom,
};
use serde_json::{Map, Value};

// ---------------------------------------------------------------------------
// The atoms drawn from.

static POOL: LazyLock<Vec<RefAtom>> = LazyLock::new(|| {
    let arg = |key: &str| RefOperand::arg(&[key]);
    let claim = |key: &str| RefOperand::claim(&[key]);
    let lit = |literal: RefLit| RefValue::Lit(literal);
    let order = |operand: RefOperand, order: Order, bound: &str| {
        RefAtom::new(operand, RefOp::Order(order, bound.into()))
    };
    vec![
        order(arg("x"), Order::Le, "5"),
        order(arg("x"), Order::Lt, "5"),
        order(arg("x"), Order::Gt, "3"),
        order(arg("x"), Order::Ge, "9007199254740993"),
        RefAtom::new(arg("x"), RefOp::Eq(lit(RefLit::num("3")))),
        RefAtom::new(arg("x"), RefOp::Ne(lit(RefLit::num("5")))),
        RefAtom::new(arg("x"), RefOp::Eq(lit(RefLit::num("5.0")))),
        order(arg("x"), Order::Ge, "0.5"),
        order(arg("x"), Order::Le, "18446744073709551615"),
        order(arg("x"), Order::Gt, "-9223372036854775807"),
        RefAtom::new(arg("y"), RefOp::Eq(lit(RefLit::str("a")))),
        RefAtom::new(arg("y"), RefOp::Ne(lit(RefLit::str("b")))),
        RefAtom::new(arg("y"), RefOp::Matches("a*".into())),
        RefAtom::new(arg("y"), RefOp::Eq(RefValue::Operand(claim("t")))),
        RefAtom::new(claim("t"), RefOp::Ne(RefValue::Operand(arg("y")))),
        RefAtom::new(
            arg("y"),
            RefOp::In(vec![
                RefLit::str("b"),
                RefLit::str("a"),
                RefLit::str("a"),
                RefLit::num("1"),
                RefLit::Bool(true),
            ]),
        ),
        RefAtom::new(claim("t"), RefOp::In(vec![RefLit::str("a")])),
        RefAtom::new(claim("t"), RefOp::Eq(lit(RefLit::str("a")))),
        RefAtom::new(claim("t"), RefOp::Matches("*b".into())),
        RefAtom::new(claim("g"), RefOp::Contains(RefLit::str("s"))),
        RefAtom::new(claim("g"), RefOp::Contains(RefLit::num("2"))),
        RefAtom::new(arg("p"), RefOp::Under("/w".into())),
        RefAtom::new(arg("p"), RefOp::Under("/w/./a/".into())),
        RefAtom::new(arg("p"), RefOp::Under("/".into())),
        RefAtom::new(arg("a-b"), RefOp::Eq(lit(RefLit::Bool(true)))),
        RefAtom::new(arg("a-b"), RefOp::Ne(lit(RefLit::Bool(false)))),
        RefAtom::new(
            RefOperand::arg(&["f", "o"]),
            RefOp::Eq(lit(RefLit::str("a"))),
        ),
        RefAtom::new(claim("n"), RefOp::Eq(RefValue::Operand(arg("x")))),
        order(claim("n"), Order::Lt, "1e2"),
        RefAtom::new(claim("b"), RefOp::Eq(lit(RefLit::Bool(false)))),
        RefAtom::new(
            claim("x-y"),
            RefOp::In(vec![RefLit::num("1"), RefLit::num("2.5")]),
        ),
    ]
});

/// JSON texts a key may hold (parsed as serde_json reads arguments).
fn values_of(key: &str) -> &'static [&'static str] {
    match key {
        "x" => &[
            "3",
            "3",
            "3.0",
            "5",
            "5",
            "5.0",
            "4.999999999999999",
            "5.000000000000001",
            "-1",
            "0",
            "-0.0",
            "0.5",
            "0.49999999999999994",
            "9007199254740992",
            "9007199254740993",
            "9007199254740992.0",
            "9007199254740994.0",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775807",
            "-9223372036854775808",
            "-9223372036854775809",
            "1e300",
            "\"3\"",
            "true",
            "null",
            "[3]",
            "{\"x\": 3}",
        ],
        "y" => &[
            "\"a\"",
            "\"a\"",
            "\"ab\"",
            "\"b\"",
            "\"\"",
            "\"c\"",
            "1",
            "true",
            "null",
            "[\"a\"]",
            "{\"a\": 1}",
        ],
        "p" => &[
            "\"/w\"",
            "\"/w/a\"",
            "\"/w/a/b\"",
            "\"/w/../e\"",
            "\"/w/a/../../w/b\"",
            "\"/w/a/..\"",
            "\"//w//./a/\"",
            "\"/e\"",
            "\"/w2\"",
            "\"w\"",
            "\"w/a\"",
            "\"\"",
            "\"/w/a\\u0000\"",
            "\"/../w/a\"",
            "\"/w/..\\\\..\"",
            "\"\\\\w\"",
            "5",
            "null",
            "[\"/w\"]",
        ],
        "a-b" => &["true", "false", "\"true\"", "1", "null"],
        "f" => &[
            "{\"o\": \"a\"}",
            "{\"o\": \"a\"}",
            "{\"o\": \"b\"}",
            "{\"o\": [\"a\"]}",
            "\"a\"",
            "{\"p\": \"a\"}",
            "{}",
            "null",
        ],
        "t" => &[
            "\"a\"", "\"a\"", "\"ab\"", "\"b\"", "\"c\"", "1", "null", "[\"a\"]",
        ],
        "g" => &[
            "[\"s\"]",
            "[\"s\"]",
            "[\"t\", 2]",
            "[2.0]",
            "\"s\"",
            "[]",
            "[[\"s\"]]",
            "[2]",
            "{\"s\": 1}",
        ],
        "n" => &[
            "3",
            "3",
            "3.0",
            "5",
            "5",
            "100",
            "99.5",
            "1e2",
            "100.0",
            "101",
            "9007199254740993",
            "18446744073709551615",
            "\"3\"",
            "null",
        ],
        "b" => &["false", "false", "true", "\"false\"", "0", "null"],
        "x-y" => &["1", "1.0", "2.5", "2.50", "\"1\"", "[1]"],
        other => panic!("no values for {other}"),
    }
}

const ARG_KEYS: [&str; 5] = ["x", "y", "p", "a-b", "f"];
const CLAIM_KEYS: [&str; 5] = ["t", "g", "n", "b", "x-y"];

// ---------------------------------------------------------------------------
// The source-level model.

#[derive(Clone, Debug)]
enum Req {
    Authenticated,
    Scope(usize),
    /// A position in `POOL`.
    Atom(usize),
    AnyOf(Vec<Req>),
    AllOf(Vec<Req>),
}

#[derive(Clone, Debug)]
enum Effect {
    Allow(Req),
    Deny,
    /// A condition: atoms under `any_of`/`all_of` only.
    DenyWhen(Req),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    Allow,
    Deny,
    DenyWhen,
}

impl Effect {
    fn shape(&self) -> Shape {
        match self {
            Effect::Allow(_) => Shape::Allow,
            Effect::Deny => Shape::Deny,
            Effect::DenyWhen(_) => Shape::DenyWhen,
        }
    }
}

#[derive(Clone, Debug)]
enum Target {
    Exact { name: String, quoted: bool },
    Glob(String),
}

impl Target {
    fn text(&self) -> &str {
        match self {
            Target::Exact { name, .. } => name,
            Target::Glob(pattern) => pattern,
        }
    }

    fn is_glob(&self) -> bool {
        matches!(self, Target::Glob(_))
    }

    fn matches(&self, name: &str) -> bool {
        match self {
            Target::Exact { name: exact, .. } => exact == name,
            Target::Glob(pattern) => glob_matches_str(pattern, name),
        }
    }
}

#[derive(Clone, Debug)]
struct RuleDef {
    target: Target,
    effect: Effect,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DefaultDecl {
    Omitted,
    Deny,
    Allow,
}

#[derive(Clone, Debug)]
struct Policy {
    default: DefaultDecl,
    /// Each scope's direct implications (lower indices only: acyclic).
    scopes: Vec<Vec<usize>>,
    rules: Vec<RuleDef>,
    quote_scope_names: bool,
    multiline: bool,
    trailing_commas: bool,
}

fn scope_name(index: usize) -> String {
    format!("s{index}")
}

// ---------------------------------------------------------------------------
// Rendering.

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
                    out.push_str(if self.multiline { ",\n    " } else { ", " });
                }
                self.render_req(member, out);
            }
            if self.trailing_commas {
                out.push(',');
            }
            out.push(')');
        };
        match req {
            Req::Authenticated => out.push_str("authenticated"),
            Req::Scope(index) => out.push_str(&self.scope_ref(*index)),
            Req::Atom(position) => out.push_str(&POOL[*position].render()),
            Req::AnyOf(members) => group(out, "any_of", members),
            Req::AllOf(members) => group(out, "all_of", members),
        }
    }

    /// The source text, and the 1-based line each rule starts on.
    fn render(&self) -> (String, Vec<u32>) {
        let mut out = String::from("# generated by tests/condition_differential.rs\n");
        match self.default {
            DefaultDecl::Omitted => {}
            DefaultDecl::Deny => out.push_str("default deny\n"),
            DefaultDecl::Allow => out.push_str("default allow\n"),
        }
        for (index, implies) in self.scopes.iter().enumerate() {
            out.push_str(&format!("scope {} level read", self.scope_ref(index)));
            if !implies.is_empty() {
                let implied: Vec<String> = implies.iter().map(|i| self.scope_ref(*i)).collect();
                out.push_str(&format!(" implies {}", implied.join(", ")));
            }
            out.push('\n');
        }
        let mut lines = Vec::new();
        for rule in &self.rules {
            lines.push(out.matches('\n').count() as u32 + 1);
            let target = match &rule.target {
                Target::Exact { name, quoted: true } => format!("\"{name}\""),
                Target::Exact {
                    name,
                    quoted: false,
                } => name.clone(),
                Target::Glob(pattern) => format!("\"{pattern}\""),
            };
            match &rule.effect {
                Effect::Allow(req) => {
                    out.push_str(&format!("tool {target} requires "));
                    self.render_req(req, &mut out);
                }
                Effect::Deny => out.push_str(&format!("deny tool {target}")),
                Effect::DenyWhen(condition) => {
                    out.push_str(&format!("deny tool {target} when "));
                    self.render_req(condition, &mut out);
                }
            }
            out.push('\n');
        }
        (out, lines)
    }
}

// ---------------------------------------------------------------------------
// The reference interpreter.

/// `true` when some name matches both patterns (as in differential.rs).
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

fn specificity(pattern: &str) -> usize {
    pattern.chars().filter(|c| *c != '*').count()
}

/// A requirement's truth, scopes read from `held` (closed under
/// `implies`), each atom's truth from `atom`.
fn satisfies(req: &Req, held: u32, atom: &dyn Fn(usize) -> bool) -> bool {
    match req {
        Req::Authenticated => true,
        Req::Scope(index) => held & (1 << index) != 0,
        Req::Atom(position) => atom(*position),
        Req::AnyOf(members) => members.iter().any(|m| satisfies(m, held, atom)),
        Req::AllOf(members) => members.iter().all(|m| satisfies(m, held, atom)),
    }
}

/// What decided, by the reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// An unconditional deny matches.
    Denied,
    /// This `deny ... when` fired.
    DeniedWhen(usize),
    /// This allow rule decided.
    Rule(usize),
    Default,
}

impl Policy {
    fn closure(&self, held: u32) -> u32 {
        let mut set = held;
        loop {
            let mut next = set;
            for (i, implies) in self.scopes.iter().enumerate() {
                if set & (1 << i) != 0 {
                    for implied in implies {
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

    /// Whether the compiler should accept the policy: two rules on one
    /// target are a duplicate unless one allows and the other is a
    /// conditional deny; two allow globs equally specific that can match a
    /// common name are ambiguous.
    fn is_valid(&self) -> bool {
        self.rules.iter().enumerate().all(|(i, first)| {
            self.rules[i + 1..]
                .iter()
                .all(|second| !conflict(first, second))
        })
    }

    /// The decision: (allowed, what decided).
    fn decide(
        &self,
        name: &str,
        held: u32,
        arguments: &Map<String, Value>,
        claims: &Map<String, Value>,
    ) -> (bool, Outcome) {
        let matching: Vec<usize> = (0..self.rules.len())
            .filter(|i| self.rules[*i].target.matches(name))
            .collect();
        if matching
            .iter()
            .any(|i| matches!(self.rules[*i].effect, Effect::Deny))
        {
            return (false, Outcome::Denied);
        }
        let exact_then_globs = matching
            .iter()
            .filter(|i| !self.rules[**i].target.is_glob())
            .chain(matching.iter().filter(|i| self.rules[**i].target.is_glob()));
        for i in exact_then_globs {
            if let Effect::DenyWhen(condition) = &self.rules[*i].effect {
                let fires = |a: usize| reference_atom(&POOL[a], arguments, claims, true);
                if satisfies(condition, 0, &fires) {
                    return (false, Outcome::DeniedWhen(*i));
                }
            }
        }
        let allows: Vec<usize> = matching
            .into_iter()
            .filter(|i| matches!(self.rules[*i].effect, Effect::Allow(_)))
            .collect();
        let deciding = allows
            .iter()
            .copied()
            .find(|i| !self.rules[*i].target.is_glob())
            .or_else(|| {
                allows
                    .iter()
                    .copied()
                    .max_by_key(|i| specificity(self.rules[*i].target.text()))
            });
        match deciding {
            Some(i) => {
                let Effect::Allow(req) = &self.rules[i].effect else {
                    unreachable!()
                };
                let holds = |a: usize| reference_atom(&POOL[a], arguments, claims, false);
                (satisfies(req, self.closure(held), &holds), Outcome::Rule(i))
            }
            None => (self.default == DefaultDecl::Allow, Outcome::Default),
        }
    }
}

fn conflict(first: &RuleDef, second: &RuleDef) -> bool {
    let shapes = (first.effect.shape(), second.effect.shape());
    if first.target.text() == second.target.text() {
        return !matches!(
            shapes,
            (Shape::Allow, Shape::DenyWhen) | (Shape::DenyWhen, Shape::Allow)
        );
    }
    match (&first.target, &second.target, shapes) {
        (Target::Glob(a), Target::Glob(b), (Shape::Allow, Shape::Allow)) => {
            specificity(a) == specificity(b) && globs_overlap(a.as_bytes(), b.as_bytes())
        }
        _ => false,
    }
}

// ---------------------------------------------------------------------------
// Generators.

fn req_strategy() -> impl Strategy<Value = Req> {
    let leaf = prop_oneof![
        1 => Just(Req::Authenticated),
        4 => (0usize..7).prop_map(Req::Scope),
        5 => (0..POOL.len()).prop_map(Req::Atom),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..=3).prop_map(Req::AnyOf),
            prop::collection::vec(inner, 1..=3).prop_map(Req::AllOf),
        ]
    })
}

fn condition_strategy() -> impl Strategy<Value = Req> {
    let leaf = (0..POOL.len()).prop_map(Req::Atom);
    leaf.prop_recursive(2, 6, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..=3).prop_map(Req::AnyOf),
            prop::collection::vec(inner, 1..=3).prop_map(Req::AllOf),
        ]
    })
}

fn target_strategy() -> impl Strategy<Value = Target> {
    prop_oneof![
        ("[ab]{1,3}", any::<bool>()).prop_map(|(name, quoted)| Target::Exact { name, quoted }),
        "[ab]{0,2}\\*[ab]{0,2}".prop_map(Target::Glob),
        "[ab*]{1,4}"
            .prop_filter("a glob has a star", |p| p.contains('*'))
            .prop_map(Target::Glob),
    ]
}

fn effect_strategy() -> impl Strategy<Value = Effect> {
    prop_oneof![
        5 => req_strategy().prop_map(Effect::Allow),
        1 => Just(Effect::Deny),
        3 => condition_strategy().prop_map(Effect::DenyWhen),
    ]
}

fn reduce_req(req: Req, scopes: usize) -> Req {
    match req {
        Req::Scope(index) => Req::Scope(index % scopes),
        Req::AnyOf(members) => {
            Req::AnyOf(members.into_iter().map(|m| reduce_req(m, scopes)).collect())
        }
        Req::AllOf(members) => {
            Req::AllOf(members.into_iter().map(|m| reduce_req(m, scopes)).collect())
        }
        other => other,
    }
}

fn policy_strategy() -> impl Strategy<Value = Policy> {
    (2usize..=4).prop_flat_map(|n| {
        (
            prop::collection::vec(prop::collection::vec(0usize..4, 0..=2), n),
            prop::collection::vec((target_strategy(), effect_strategy()), 1..=6),
            prop_oneof![
                Just(DefaultDecl::Omitted),
                Just(DefaultDecl::Deny),
                Just(DefaultDecl::Allow)
            ],
            any::<[bool; 3]>(),
            prop::bool::weighted(0.1),
        )
            .prop_map(move |(implies, drawn, default, flags, keep_conflicts)| {
                let scopes = implies
                    .into_iter()
                    .enumerate()
                    .map(|(i, implied)| {
                        let implied: BTreeSet<usize> = if i == 0 {
                            BTreeSet::new()
                        } else {
                            implied.into_iter().map(|j| j % i).collect()
                        };
                        implied.into_iter().collect()
                    })
                    .collect();
                let mut rules: Vec<RuleDef> = Vec::new();
                for (target, effect) in drawn {
                    let effect = match effect {
                        Effect::Allow(req) => Effect::Allow(reduce_req(req, n)),
                        other => other,
                    };
                    let rule = RuleDef { target, effect };
                    if keep_conflicts || !rules.iter().any(|earlier| conflict(earlier, &rule)) {
                        rules.push(rule);
                    }
                }
                let [quote_scope_names, multiline, trailing_commas] = flags;
                Policy {
                    default,
                    scopes,
                    rules,
                    quote_scope_names,
                    multiline,
                    trailing_commas,
                }
            })
    })
}

/// One object: each key missing (a quarter of the time) or one of its
/// values.
fn object_strategy(keys: &'static [&'static str]) -> impl Strategy<Value = Map<String, Value>> {
    let choices: Vec<_> = keys
        .iter()
        .map(|key| prop::option::weighted(0.75, prop::sample::select(values_of(key))))
        .collect();
    choices.prop_map(move |drawn| {
        keys.iter()
            .zip(drawn)
            .filter_map(|(key, text)| {
                text.map(|text| ((*key).to_owned(), serde_json::from_str(text).unwrap()))
            })
            .collect()
    })
}

#[derive(Clone, Debug)]
struct Case {
    policy: Policy,
    /// Held scopes as bit sets (reduced to the declared scopes).
    tokens: Vec<u8>,
    names: Vec<String>,
    contexts: Vec<(Map<String, Value>, Map<String, Value>)>,
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (
        policy_strategy(),
        prop::collection::vec(any::<u8>(), 3),
        prop::collection::vec("[ab]{0,4}", 4),
        prop::collection::vec(
            (object_strategy(&ARG_KEYS), object_strategy(&CLAIM_KEYS)),
            4,
        ),
    )
        .prop_map(|(policy, tokens, names, contexts)| Case {
            policy,
            tokens,
            names,
            contexts,
        })
}

// ---------------------------------------------------------------------------
// The comparison.

/// How often each kind of outcome was compared.
#[derive(Debug, Default)]
struct Tally {
    decisions: Cell<usize>,
    /// Allowed by a rule whose requirement would fail were its atoms false.
    allowed_by_condition: Cell<usize>,
    /// Denied by a rule whose requirement would hold were its atoms true.
    denied_by_condition: Cell<usize>,
    deny_when_fired: Cell<usize>,
    /// Fired only because an undecided `under` counts as true there.
    deny_when_fired_undecided: Cell<usize>,
    /// A `deny ... when` matched, did not fire, and another rule decided.
    deny_when_passed: Cell<usize>,
    denied_unconditionally: Cell<usize>,
    default: Cell<usize>,
    decided_by_glob: Cell<usize>,
    /// Per pool atom, how many drawn contexts made it true and false.
    atom_true: Vec<Cell<usize>>,
    atom_false: Vec<Cell<usize>>,
}

fn bump(counter: &Cell<usize>) {
    counter.set(counter.get() + 1);
}

fn token_string(held: u32, scopes: usize) -> String {
    (0..scopes)
        .filter(|i| held & (1 << i) != 0)
        .map(scope_name)
        .collect::<Vec<_>>()
        .join(" ")
}

#[allow(clippy::too_many_arguments)]
fn check(
    policy: &Policy,
    source: &str,
    lines: &[u32],
    table: &DecisionTable,
    name: &str,
    held: u32,
    (arguments, claims): &(Map<String, Value>, Map<String, Value>),
    tally: &Tally,
) -> Result<(), TestCaseError> {
    let what = || {
        format!(
            "name {name:?}, token {:?}\narguments {}\nclaims {}\n--- policy ---\n{source}",
            token_string(held, policy.scopes.len()),
            Value::Object(arguments.clone()),
            Value::Object(claims.clone()),
        )
    };
    let token = table.parse_scopes(&token_string(held, policy.scopes.len()));
    let context = Context::new(Some(arguments), Some(claims));
    let decision = table.decide_in(TargetKind::Tool, name, &token, &context);
    let (expected, outcome) = policy.decide(name, held, arguments, claims);
    prop_assert_eq!(
        decision.allowed,
        expected,
        "allowed? reference decided by {:?}; {}",
        outcome,
        what()
    );

    // The rule the table names is the reference's.
    match (outcome, decision.basis) {
        (Outcome::Denied, Basis::Rule(id)) => {
            let rule = table.rule(id).unwrap();
            prop_assert_eq!(&rule.effect, &TableEffect::Deny, "{}", what());
            prop_assert!(
                policy.rules.iter().zip(lines).any(|(def, line)| {
                    *line == rule.line
                        && matches!(def.effect, Effect::Deny)
                        && def.target.matches(name)
                }),
                "denied by line {}, not a matching deny; {}",
                rule.line,
                what()
            );
        }
        (Outcome::DeniedWhen(i) | Outcome::Rule(i), Basis::Rule(id)) => {
            prop_assert_eq!(
                table.rule(id).unwrap().line,
                lines[i],
                "decided by another rule than the reference's {:?}; {}",
                outcome,
                what()
            );
        }
        (Outcome::Default, Basis::Default) => {}
        (outcome, basis) => {
            return Err(TestCaseError::fail(format!(
                "reference {outcome:?}, table basis {basis:?}; {}",
                what()
            )));
        }
    }
    let explanation = table.explain_in(TargetKind::Tool, name, &token, &context);
    prop_assert_eq!(explanation.decision, decision, "explain_in; {}", what());

    // Tally.
    bump(&tally.decisions);
    let closed = policy.closure(held);
    let deny_when_matched = policy
        .rules
        .iter()
        .any(|rule| matches!(rule.effect, Effect::DenyWhen(_)) && rule.target.matches(name));
    match outcome {
        Outcome::Denied => bump(&tally.denied_unconditionally),
        Outcome::DeniedWhen(i) => {
            bump(&tally.deny_when_fired);
            let Effect::DenyWhen(condition) = &policy.rules[i].effect else {
                unreachable!()
            };
            let decided = |a: usize| atom_truth(&POOL[a], arguments, claims) == Truth::True;
            if !satisfies(condition, 0, &decided) {
                bump(&tally.deny_when_fired_undecided);
            }
        }
        Outcome::Rule(i) => {
            if deny_when_matched {
                bump(&tally.deny_when_passed);
            }
            if policy.rules[i].target.is_glob() {
                bump(&tally.decided_by_glob);
            }
            let Effect::Allow(req) = &policy.rules[i].effect else {
                unreachable!()
            };
            if expected && !satisfies(req, closed, &|_| false) {
                bump(&tally.allowed_by_condition);
            }
            if !expected && satisfies(req, closed, &|_| true) {
                bump(&tally.denied_by_condition);
            }
        }
        Outcome::Default => {
            if deny_when_matched {
                bump(&tally.deny_when_passed);
            }
            bump(&tally.default);
        }
    }
    Ok(())
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

    let mut names: BTreeSet<String> = case.names.iter().cloned().collect();
    for rule in &policy.rules {
        let text = rule.target.text();
        names.insert(text.to_owned());
        names.insert(text.replace('*', ""));
        names.insert(text.replace('*', "ab"));
    }
    names.insert("zzz".to_owned());

    for (arguments, claims) in &case.contexts {
        for (position, atom) in POOL.iter().enumerate() {
            match atom_truth(atom, arguments, claims) {
                Truth::True => bump(&tally.atom_true[position]),
                Truth::False | Truth::Undecided => bump(&tally.atom_false[position]),
            }
        }
    }

    let all = (1u32 << policy.scopes.len()) - 1;
    let mut tokens: BTreeSet<u32> = case.tokens.iter().map(|t| u32::from(*t) & all).collect();
    tokens.insert(all);

    for name in &names {
        for context in &case.contexts {
            for held in &tokens {
                check(policy, &source, &lines, table, name, *held, context, tally)?;
            }
        }
    }
    Ok(true)
}

#[test]
fn conditional_policies_decide_as_the_reference() {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(1024);
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let compiled = Cell::new(0usize);
    let rejected = Cell::new(0usize);
    let tally = Tally {
        atom_true: POOL.iter().map(|_| Cell::new(0)).collect(),
        atom_false: POOL.iter().map(|_| Cell::new(0)).collect(),
        ..Tally::default()
    };
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
    let decisions = tally.decisions.get();
    eprintln!(
        "{compiled} policies compiled, {rejected} rejected; {decisions} decisions: {} allowed by a condition, {} denied by a failing condition, {} by a deny ... when ({} on an undecided `under`), {} passed a deny ... when, {} denied unconditionally, {} by the default, {} decided by a glob",
        tally.allowed_by_condition.get(),
        tally.denied_by_condition.get(),
        tally.deny_when_fired.get(),
        tally.deny_when_fired_undecided.get(),
        tally.deny_when_passed.get(),
        tally.denied_unconditionally.get(),
        tally.default.get(),
        tally.decided_by_glob.get(),
    );
    assert!(
        compiled * 10 >= (compiled + rejected) * 8,
        "only {compiled} of {} generated policies compiled",
        compiled + rejected
    );
    for (what, count) in [
        ("allowed by a condition", &tally.allowed_by_condition),
        ("denied by a failing condition", &tally.denied_by_condition),
        ("denied by a deny ... when", &tally.deny_when_fired),
        (
            "a deny ... when fired on an undecided `under`",
            &tally.deny_when_fired_undecided,
        ),
        ("a deny ... when that did not fire", &tally.deny_when_passed),
        ("denied unconditionally", &tally.denied_unconditionally),
        ("decided by the default", &tally.default),
        ("decided by a glob", &tally.decided_by_glob),
    ] {
        // At least 0.5% of the decisions compared.
        assert!(
            count.get() * 200 >= decisions,
            "too few comparisons: {what}: {} of {decisions}",
            count.get()
        );
    }
    // Every atom of the pool is both true and false on a fair share of the
    // drawn arguments and claims (1% of the contexts drawn: the rarest
    // atoms expect about 2%, and a bound there failed one run in many).
    let contexts = (compiled + rejected) * 4;
    let rare: Vec<String> = POOL
        .iter()
        .enumerate()
        .filter_map(|(position, atom)| {
            let (yes, no) = (
                tally.atom_true[position].get(),
                tally.atom_false[position].get(),
            );
            (yes * 100 < contexts || no * 100 < contexts).then(|| {
                format!(
                    "`{}` is true {yes} and false {no} times of {contexts}",
                    atom.render()
                )
            })
        })
        .collect();
    assert!(rare.is_empty(), "{rare:#?}");
}

// ---------------------------------------------------------------------------
// The reference's own pieces.

#[test]
fn every_pool_atom_compiles_alone() {
    for atom in POOL.iter() {
        let source = format!("tool t requires {}\n", atom.render());
        let compilation = compile_source(&source);
        assert!(
            compilation.table.is_some(),
            "{source}: {:#?}",
            compilation.diagnostics
        );
    }
}
