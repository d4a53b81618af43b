//! The table's decisions on arguments and claims against a reference
//! interpreter written straightforwardly: rules scanned in source order
//! for each decision, atoms evaluated by their definitions (the reference
//! atoms of `reference/atoms.rs`, shared with the compiler's source-level
//! differential test: numbers by exact value, `under` by building the
//! normal form, globs by recursion).
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::sync::LazyLock;

use mcp_policy_table::*;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

#[path = "reference/atoms.rs"]
#[allow(dead_code)]
mod reference_atoms;

use reference_atoms::{
    Order, RefAtom, RefLit, RefOp, RefOperand, RefValue, Side, glob_matches_str, reference_atom,
};

/// The atoms drawn from, as the reference reads them.
static POOL: LazyLock<Vec<RefAtom>> = LazyLock::new(|| {
    let arg = |key: &str| RefOperand::arg(&[key]);
    let claim = |key: &str| RefOperand::claim(&[key]);
    vec![
        RefAtom::new(arg("x"), RefOp::Order(Order::Le, "5".into())),
        RefAtom::new(arg("x"), RefOp::Eq(RefValue::Lit(RefLit::num("3")))),
        RefAtom::new(arg("y"), RefOp::Matches("a*".into())),
        RefAtom::new(arg("y"), RefOp::Eq(RefValue::Operand(claim("t")))),
        RefAtom::new(arg("y"), RefOp::Ne(RefValue::Lit(RefLit::str("b")))),
        RefAtom::new(
            claim("t"),
            RefOp::In(vec![RefLit::str("a"), RefLit::str("b")]),
        ),
        RefAtom::new(arg("p"), RefOp::Under("/w".into())),
        RefAtom::new(claim("g"), RefOp::Contains(RefLit::str("s"))),
    ]
});

/// The table's atom for a reference atom.
fn build_atom(atom: &RefAtom) -> Atom {
    let operand = |operand: &RefOperand| match operand.side {
        Side::Arg => Operand::arg(operand.path.iter().cloned()),
        Side::Claim => Operand::claim(operand.path.iter().cloned()),
    };
    let literal = |literal: &RefLit| match literal {
        RefLit::Str(text) => Literal::String(text.clone()),
        RefLit::Num(text) => Literal::Number(Num::literal(text).unwrap()),
        RefLit::Bool(flag) => Literal::Bool(*flag),
    };
    let left = operand(&atom.operand);
    let op = match &atom.op {
        RefOp::Eq(RefValue::Lit(value)) => Op::Eq(literal(value)),
        RefOp::Ne(RefValue::Lit(value)) => Op::Ne(literal(value)),
        RefOp::Eq(RefValue::Operand(other)) => Op::EqOperand(operand(other)),
        RefOp::Ne(RefValue::Operand(other)) => Op::NeOperand(operand(other)),
        RefOp::In(list) => Op::In(list.iter().map(literal).collect()),
        RefOp::Order(order, bound) => Op::Compare(
            match order {
                Order::Lt => Comparison::Lt,
                Order::Le => Comparison::Le,
                Order::Gt => Comparison::Gt,
                Order::Ge => Comparison::Ge,
            },
            Num::literal(bound).unwrap(),
        ),
        RefOp::Contains(value) => Op::Contains(literal(value)),
        RefOp::Matches(glob) => Op::Matches(Glob::new(glob)),
        RefOp::Under(base) => return Atom::under(left, base).unwrap(),
    };
    Atom::new(left, op).unwrap()
}

/// A drawn rule: its target, and its effect over atom positions in `POOL`.
#[derive(Clone, Debug)]
enum RefEffect {
    /// Clauses of (scope bits, atoms).
    Allow(Vec<(u8, Vec<usize>)>),
    Deny,
    DenyWhen(Vec<Vec<usize>>),
}

#[derive(Clone, Debug)]
struct RefRule {
    target: &'static str,
    effect: RefEffect,
}

const SCOPES: usize = 3;
const EXACT: [&str; 3] = ["t0", "t1", "t2"];
const GLOBS: [&str; 4] = ["t*", "*", "t1*", "*2"];
const NAMES: [&str; 5] = ["t0", "t1", "t2", "t12", "u"];

fn is_glob(target: &str) -> bool {
    target.contains('*')
}

fn matches_target(target: &str, name: &str) -> bool {
    glob_matches_str(target, name)
}

fn specificity(target: &str) -> usize {
    target.chars().filter(|c| *c != '*').count()
}

/// The decision by definition: unconditional denies (exact, then globs, in
/// source order), then deny-when rules whose condition holds (the same
/// order), then the exact allow, then the most specific allow glob (ties
/// in source order), then the default.
fn reference(
    rules: &[RefRule],
    default_allow: bool,
    name: &str,
    held: u8,
    arguments: &Map<String, Value>,
    claims: &Map<String, Value>,
) -> (bool, Option<usize>) {
    let holds_as = |atoms: &[usize], in_deny: bool| {
        atoms
            .iter()
            .all(|a| reference_atom(&POOL[*a], arguments, claims, in_deny))
    };
    let holds = |atoms: &[usize]| holds_as(atoms, false);
    let matching: Vec<(usize, &RefRule)> = rules
        .iter()
        .enumerate()
        .filter(|(_, rule)| matches_target(rule.target, name))
        .collect();
    let exact_first = |pick: &dyn Fn(&RefRule) -> bool| -> Option<usize> {
        matching
            .iter()
            .filter(|(_, rule)| !is_glob(rule.target) && pick(rule))
            .chain(
                matching
                    .iter()
                    .filter(|(_, rule)| is_glob(rule.target) && pick(rule)),
            )
            .map(|(i, _)| *i)
            .next()
    };
    if let Some(deny) = exact_first(&|rule| matches!(rule.effect, RefEffect::Deny)) {
        return (false, Some(deny));
    }
    let fires = |rule: &RefRule| match &rule.effect {
        RefEffect::DenyWhen(condition) => condition.iter().any(|c| holds_as(c, true)),
        _ => false,
    };
    if let Some(deny) = exact_first(&fires) {
        return (false, Some(deny));
    }
    let allows = matching
        .iter()
        .filter(|(_, rule)| matches!(rule.effect, RefEffect::Allow(_)));
    let deciding = allows
        .clone()
        .find(|(_, rule)| !is_glob(rule.target))
        .or_else(|| {
            let best = allows
                .clone()
                .map(|(_, rule)| specificity(rule.target))
                .max()?;
            allows
                .clone()
                .find(|(_, rule)| specificity(rule.target) == best)
        });
    match deciding {
        Some((
            i,
            RefRule {
                effect: RefEffect::Allow(clauses),
                ..
            },
        )) => (
            clauses
                .iter()
                .any(|(scopes, atoms)| scopes & !held == 0 && holds(atoms)),
            Some(*i),
        ),
        _ => (default_allow, None),
    }
}

fn effect() -> impl Strategy<Value = RefEffect> {
    let atoms = proptest::collection::vec(0..POOL.len(), 0..3);
    let clause = (0u8..8, atoms.clone());
    prop_oneof![
        3 => proptest::collection::vec(clause, 1..3).prop_map(RefEffect::Allow),
        1 => Just(RefEffect::Deny),
        2 => proptest::collection::vec(proptest::collection::vec(0..POOL.len(), 1..3), 1..3)
            .prop_map(RefEffect::DenyWhen),
    ]
}

/// Rules on distinct targets per class (allow or deny, deny-when), as the
/// compiler would accept them; unequal glob specificities among allows
/// are not required (the tie goes to source order in both).
fn rules() -> impl Strategy<Value = Vec<RefRule>> {
    let targets: Vec<&'static str> = EXACT.iter().chain(GLOBS.iter()).copied().collect();
    proptest::collection::vec((proptest::sample::select(targets), effect()), 0..7).prop_map(
        |drawn| {
            let mut seen: Vec<(&str, bool)> = Vec::new();
            drawn
                .into_iter()
                .filter_map(|(target, effect)| {
                    let key = (target, matches!(effect, RefEffect::DenyWhen(_)));
                    if seen.contains(&key) {
                        return None;
                    }
                    seen.push(key);
                    Some(RefRule { target, effect })
                })
                .collect()
        },
    )
}

fn value_of(choice: u8, options: &[Value]) -> Option<Value> {
    options.get(usize::from(choice)).cloned()
}

fn context() -> impl Strategy<Value = (Map<String, Value>, Map<String, Value>)> {
    (0u8..6, 0u8..6, 0u8..10, 0u8..5, 0u8..5).prop_map(|(x, y, p, t, g)| {
        let mut arguments = Map::new();
        let mut claims = Map::new();
        let put = |map: &mut Map<String, Value>, key: &str, value: Option<Value>| {
            if let Some(value) = value {
                map.insert(key.into(), value);
            }
        };
        put(
            &mut arguments,
            "x",
            value_of(x, &[json!(3), json!(5), json!(7), json!("3"), json!(3.5)]),
        );
        put(
            &mut arguments,
            "y",
            value_of(
                y,
                &[json!("a"), json!("ab"), json!("b"), json!(1), json!(null)],
            ),
        );
        put(
            &mut arguments,
            "p",
            value_of(
                p,
                &[
                    json!("/w/a"),
                    json!("/w/../e"),
                    json!("/e"),
                    json!("w"),
                    json!("/w"),
                    json!("/w2"),
                    // Paths `under` cannot place: false in allow clauses,
                    // firing in denies.
                    json!("/w/a\u{0}"),
                    json!("/../w/a"),
                    json!("\\w\\a"),
                ],
            ),
        );
        put(
            &mut claims,
            "t",
            value_of(t, &[json!("a"), json!("ab"), json!("c"), json!(1)]),
        );
        put(
            &mut claims,
            "g",
            value_of(g, &[json!(["s"]), json!(["t"]), json!("s"), json!([])]),
        );
        (arguments, claims)
    })
}

fn build(rules: &[RefRule], default_allow: bool) -> DecisionTable {
    let scopes = ScopeCatalog::new(
        (0..SCOPES)
            .map(|i| ScopeInfo {
                name: format!("s{i}"),
                level: Level::Read,
                description: None,
                implies: Vec::new(),
            })
            .collect(),
    )
    .unwrap();
    let mut catalog = AtomCatalog::new();
    let ids: Vec<AtomId> = POOL
        .iter()
        .enumerate()
        .map(|(i, atom)| catalog.intern(build_atom(atom), format!("atom{i}")))
        .collect();
    let atoms = |positions: &[usize]| positions.iter().map(|p| ids[*p]).collect::<Vec<_>>();
    let table_rules = rules
        .iter()
        .enumerate()
        .map(|(line, rule)| Rule {
            kind: TargetKind::Tool,
            target: if is_glob(rule.target) {
                Target::Glob(Glob::new(rule.target))
            } else {
                Target::Exact(rule.target.into())
            },
            effect: match &rule.effect {
                RefEffect::Allow(clauses) => Effect::Allow(
                    clauses
                        .iter()
                        .map(|(bits, positions)| Clause {
                            scopes: (0..SCOPES as u32)
                                .filter(|i| bits >> i & 1 == 1)
                                .map(ScopeId)
                                .collect(),
                            atoms: atoms(positions),
                        })
                        .collect(),
                ),
                RefEffect::Deny => Effect::Deny,
                RefEffect::DenyWhen(condition) => {
                    Effect::DenyWhen(condition.iter().map(|c| atoms(c)).collect())
                }
            },
            text: format!("rule {line}"),
            line: line as u32 + 1,
        })
        .collect();
    let default = if default_allow {
        DefaultEffect::Allow
    } else {
        DefaultEffect::Deny
    };
    DecisionTable::with_atoms(None, default, scopes, catalog, table_rules).unwrap()
}

fn scope_set(table: &DecisionTable, bits: u8) -> ScopeSet {
    table.scopes().set_of(
        (0..SCOPES as u32)
            .filter(|i| bits >> i & 1 == 1)
            .map(ScopeId),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decisions_agree_with_the_reference(
        rules in rules(),
        default_allow in any::<bool>(),
        held in 0u8..8,
        (arguments, claims) in context(),
    ) {
        let table = build(&rules, default_allow);
        let set = scope_set(&table, held);
        let context = Context::new(Some(&arguments), Some(&claims));
        for name in NAMES {
            let decision = table.decide_in(TargetKind::Tool, name, &set, &context);
            let (allowed, rule) = reference(&rules, default_allow, name, held, &arguments, &claims);
            prop_assert_eq!(decision.allowed, allowed, "{} {:?}", name, rules);
            let basis = rule.map_or(Basis::Default, |i| Basis::Rule(RuleId(i as u32)));
            prop_assert_eq!(decision.basis, basis, "{} {:?}", name, rules);

            // Explanations agree with the decision, and their remedies hold.
            let explanation = table.explain_in(TargetKind::Tool, name, &set, &context);
            prop_assert_eq!(explanation.decision, decision);
            let all = scope_set(&table, 0b111);
            match &explanation.remedy {
                Remedy::None => prop_assert!(decision.allowed),
                Remedy::AddScopes(add) => {
                    let mut bits = held;
                    for id in add {
                        bits |= 1 << id.0;
                    }
                    let (more, _) = reference(&rules, default_allow, name, bits, &arguments, &claims);
                    prop_assert!(more, "adding {:?} to {} allows {}", add, held, name);
                }
                Remedy::ConditionsFailed(atoms) => {
                    prop_assert!(!atoms.is_empty());
                    prop_assert!(!table.decide_in(TargetKind::Tool, name, &all, &context).allowed);
                }
                Remedy::DeniedWhen(atoms) => {
                    prop_assert!(!atoms.is_empty());
                    prop_assert!(atoms.iter().all(|id| table.atoms().atom(*id).unwrap().fires(&context)));
                }
                Remedy::Unreachable => {
                    prop_assert!(!table.decide_in(TargetKind::Tool, name, &all, &context).allowed);
                }
            }

            // A list never hides what these arguments would allow.
            if decision.allowed {
                prop_assert!(table.may_allow(TargetKind::Tool, name, &set, Some(&claims)), "{}", name);
            }

            // The arguments the decision read suffice to decide it again.
            let mut kept = Map::new();
            for path in table.argument_paths(TargetKind::Tool, name, &context) {
                if let Some(value) = arguments.get(&path[0]) {
                    kept.insert(path[0].clone(), value.clone());
                }
            }
            let again = table.decide_in(TargetKind::Tool, name, &set, &Context::new(Some(&kept), Some(&claims)));
            prop_assert_eq!(again, decision, "{} read {:?}", name, kept);
        }
    }
}
