//! The table's decisions on arguments and claims against a reference
//! interpreter written straightforwardly: rules scanned in source order
//! for each decision, atoms evaluated by their definitions (numbers as
//! `f64`, which is exact for the small numbers drawn here; `under` by
//! building the normal form; globs by recursion).
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use mcp_policy_table::*;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// The atoms drawn from, as the reference reads them.
#[derive(Clone, Debug)]
enum RefAtom {
    ArgLe(&'static str, f64),
    ArgEqNum(&'static str, f64),
    ArgMatches(&'static str, &'static str),
    ArgEqClaim(&'static str, &'static str),
    ArgNeStr(&'static str, &'static str),
    ClaimIn(&'static str, &'static [&'static str]),
    ArgUnder(&'static str, &'static str),
    ClaimContains(&'static str, &'static str),
}

const POOL: [RefAtom; 8] = [
    RefAtom::ArgLe("x", 5.0),
    RefAtom::ArgEqNum("x", 3.0),
    RefAtom::ArgMatches("y", "a*"),
    RefAtom::ArgEqClaim("y", "t"),
    RefAtom::ArgNeStr("y", "b"),
    RefAtom::ClaimIn("t", &["a", "b"]),
    RefAtom::ArgUnder("p", "/w"),
    RefAtom::ClaimContains("g", "s"),
];

fn build_atom(atom: &RefAtom) -> Atom {
    let s = |text: &str| Literal::String(text.into());
    let number = |value: f64| Num::float(value).unwrap();
    match atom {
        RefAtom::ArgLe(key, bound) => Atom::new(
            Operand::arg([*key]),
            Op::Compare(Comparison::Le, number(*bound)),
        ),
        RefAtom::ArgEqNum(key, value) => Atom::new(
            Operand::arg([*key]),
            Op::Eq(Literal::Number(number(*value))),
        ),
        RefAtom::ArgMatches(key, glob) => {
            Atom::new(Operand::arg([*key]), Op::Matches(Glob::new(glob)))
        }
        RefAtom::ArgEqClaim(key, name) => {
            Atom::new(Operand::arg([*key]), Op::EqOperand(Operand::claim([*name])))
        }
        RefAtom::ArgNeStr(key, value) => Atom::new(Operand::arg([*key]), Op::Ne(s(value))),
        RefAtom::ClaimIn(name, list) => Atom::new(
            Operand::claim([*name]),
            Op::In(list.iter().map(|v| s(v)).collect()),
        ),
        RefAtom::ArgUnder(key, base) => Atom::under(Operand::arg([*key]), base),
        RefAtom::ClaimContains(name, value) => {
            Atom::new(Operand::claim([*name]), Op::Contains(s(value)))
        }
    }
    .unwrap()
}

fn glob_match(pattern: &[char], name: &[char]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some(('*', rest)) => (0..=name.len()).any(|skip| glob_match(rest, &name[skip..])),
        Some((c, rest)) => name.first() == Some(c) && glob_match(rest, &name[1..]),
    }
}

fn normal_form(path: &str) -> Option<Vec<&str>> {
    if path.contains('\0') || path.contains('\\') || !path.starts_with('/') {
        return None;
    }
    let mut stack = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                stack.pop()?;
            }
            name => stack.push(name),
        }
    }
    Some(stack)
}

/// The atom's truth; `in_deny` when it stands in a `deny ... when`, where
/// a path `under` cannot place makes it true (it is false elsewhere).
fn reference_atom(
    atom: &RefAtom,
    arguments: &Map<String, Value>,
    claims: &Map<String, Value>,
    in_deny: bool,
) -> bool {
    match atom {
        RefAtom::ArgLe(key, bound) => arguments
            .get(*key)
            .and_then(Value::as_f64)
            .is_some_and(|x| x <= *bound),
        RefAtom::ArgEqNum(key, value) => arguments
            .get(*key)
            .and_then(Value::as_f64)
            .is_some_and(|x| x == *value),
        RefAtom::ArgMatches(key, glob) => {
            arguments
                .get(*key)
                .and_then(Value::as_str)
                .is_some_and(|text| {
                    let (p, n): (Vec<char>, Vec<char>) =
                        (glob.chars().collect(), text.chars().collect());
                    glob_match(&p, &n)
                })
        }
        RefAtom::ArgEqClaim(key, name) => match (arguments.get(*key), claims.get(*name)) {
            (Some(Value::String(a)), Some(Value::String(b))) => a == b,
            (Some(Value::Bool(a)), Some(Value::Bool(b))) => a == b,
            (Some(Value::Number(a)), Some(Value::Number(b))) => a.as_f64() == b.as_f64(),
            _ => false,
        },
        RefAtom::ArgNeStr(key, value) => arguments
            .get(*key)
            .and_then(Value::as_str)
            .is_some_and(|text| text != *value),
        RefAtom::ClaimIn(name, list) => claims
            .get(*name)
            .and_then(Value::as_str)
            .is_some_and(|text| list.contains(&text)),
        RefAtom::ArgUnder(key, base) => {
            let Some(path) = arguments.get(*key).and_then(Value::as_str) else {
                return false;
            };
            match (normal_form(path), normal_form(base)) {
                (Some(path), Some(base)) => {
                    path.len() >= base.len() && path[..base.len()] == base[..]
                }
                (None, _) => in_deny,
                _ => false,
            }
        }
        RefAtom::ClaimContains(name, value) => claims
            .get(*name)
            .and_then(Value::as_array)
            .is_some_and(|items| items.iter().any(|item| item.as_str() == Some(value))),
    }
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
    let (p, n): (Vec<char>, Vec<char>) = (target.chars().collect(), name.chars().collect());
    glob_match(&p, &n)
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
