//! What one policy decides for a region of names, as a function of the
//! token's scopes and of the truth of the condition atoms it reads; and two
//! such functions compared exhaustively.
//!
//! Atoms are propositional variables, matched across two tables by their
//! normal form ([`Atom`]), not by their ids, so `x == "a"` and
//! `x in ["a"]` are one variable. For each truth assignment of the
//! variables the two sides read, each side grants a family of minimal
//! scope sets ([`Grants`]): the union of its allow clauses whose atoms all
//! hold, or nothing when one conjunct of a `deny ... when` in force holds.
//! Assignments that no request can produce are skipped: two atoms on one
//! operand constrain each other by the values they accept
//! ([`crate::values`]: `x <= 50` true forces `x <= 100` true).
//!
//! One more kind of variable keeps this exact with `under` in a
//! `deny ... when`: "`arg.path` is a string `under` cannot place" (a NUL,
//! a backslash, a relative path, a `..` above the root). Such a value makes
//! every `under` on that operand false in an allow clause and firing in a
//! deny ([`Atom::fires`]), so a deny conjunct reading `under` on an operand
//! also fires when that variable holds, and the variable excludes every
//! `under` atom on the operand.
//!
//! The enumeration is bounded by [`MAX_ATOMS`] variables per region
//! (2^12 assignments). Past it, two sides that are not the same formula
//! are reported as a change, undecided, which `--fail-on widened` fails on.

use std::collections::BTreeSet;

use mcp_policy_table::{
    Atom, AtomId, Clause, DecisionTable, DefaultEffect, Effect, Op, Operand, RuleId,
};
use serde::Serialize;

use crate::grants::{Grants, TooManySets};
use crate::values::{Relation, relation};

/// The variables one region's comparison enumerates, at most.
pub const MAX_ATOMS: usize = 12;

/// The witnesses kept per direction of a change (the scope sets that gain
/// or lose are all kept).
pub const MAX_WITNESSES: usize = 8;

/// The atoms both sides of a region read, numbered.
#[derive(Debug, Default)]
pub struct Vars {
    vars: Vec<Var>,
    texts: Vec<String>,
}

/// What a variable stands for.
#[derive(Debug, PartialEq)]
enum Var {
    Atom(Atom),
    /// An id the table does not hold (a table refuses one when built): a
    /// variable of its own, related to nothing.
    Unknown,
    /// The operand is a string that `under` cannot place.
    Unplaceable(Operand),
}

impl Vars {
    fn number(&mut self, table: &DecisionTable, id: AtomId) -> usize {
        match table.atoms().get(id) {
            Some(info) => self.find_or_push(Var::Atom(info.atom.clone()), || info.text.clone()),
            None => {
                self.vars.push(Var::Unknown);
                self.texts.push(format!("unknown atom {}", id.0));
                self.vars.len() - 1
            }
        }
    }

    /// The variable "`operand` is a string `under` cannot place".
    fn unplaceable(&mut self, operand: &Operand) -> usize {
        self.find_or_push(Var::Unplaceable(operand.clone()), || {
            format!("{} is a path `under` cannot place", operand)
        })
    }

    fn find_or_push(&mut self, var: Var, text: impl FnOnce() -> String) -> usize {
        match self.vars.iter().position(|known| *known == var) {
            Some(at) => at,
            None => {
                self.vars.push(var);
                self.texts.push(text());
                self.vars.len() - 1
            }
        }
    }

    pub fn len(&self) -> usize {
        self.vars.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }

    /// The atom a variable stands for; `None` for the other variables.
    pub fn atom(&self, var: usize) -> Option<&Atom> {
        match self.vars.get(var) {
            Some(Var::Atom(atom)) => Some(atom),
            _ => None,
        }
    }

    /// The constraint between two variables that is not a relation of two
    /// atoms' values: an unplaceable operand excludes `under` on it.
    fn excludes(&self, a: usize, b: usize) -> bool {
        let unplaceable_under = |x: usize, y: usize| match (self.vars.get(x), self.atom(y)) {
            (Some(Var::Unplaceable(operand)), Some(atom)) => {
                matches!(atom.op(), Op::Under(_)) && atom.operand() == operand
            }
            _ => false,
        };
        unplaceable_under(a, b) || unplaceable_under(b, a)
    }

    pub fn text(&self, var: usize) -> &str {
        self.texts.get(var).map_or("", String::as_str)
    }
}

/// One side's decision of a region: allow clauses (their minimal scope
/// sets and the variables they need), and the conjuncts of the conditional
/// denies in force. Sorted and deduplicated, so that two sides deciding by
/// the same formula compare equal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    clauses: Vec<(Grants, Vec<usize>)>,
    denies: Vec<Vec<usize>>,
}

impl Access {
    /// The access of `rule` (or the default) under the conditional denies
    /// `when`, its atoms numbered in `vars`.
    pub fn of(
        table: &DecisionTable,
        rule: Option<RuleId>,
        when: &[RuleId],
        vars: &mut Vars,
    ) -> Result<Access, TooManySets> {
        let mut clauses = Vec::new();
        match rule.and_then(|id| table.rule(id)) {
            None => {
                if table.default_effect() == DefaultEffect::Allow {
                    clauses.push((Grants::any_token(), Vec::new()));
                }
            }
            Some(rule) => {
                if let Effect::Allow(list) = &rule.effect {
                    for clause in list {
                        let grants = Grants::of_clauses(
                            table.scopes(),
                            std::iter::once(&Clause::of_scopes(clause.scopes.clone())),
                            &rule.text,
                        )?;
                        clauses.push((grants, numbered(table, &clause.atoms, vars)));
                    }
                }
            }
        }
        let mut denies = Vec::new();
        for id in when {
            if let Some(Effect::DenyWhen(condition)) = table.rule(*id).map(|rule| &rule.effect) {
                for conjunct in condition {
                    firing_readings(table, conjunct, vars, &mut denies);
                }
            }
        }
        clauses.sort();
        clauses.dedup();
        denies.sort();
        denies.dedup();
        Ok(Access { clauses, denies })
    }

    /// The same access with every clause's scopes renamed.
    pub fn renamed(mut self, rename: impl Fn(&str) -> Option<String>) -> Access {
        for (grants, _) in &mut self.clauses {
            *grants = grants.renamed(&rename);
        }
        self.clauses.sort();
        self.clauses.dedup();
        self
    }

    /// `true` when no condition atom is read.
    pub fn is_unconditional(&self) -> bool {
        self.denies.is_empty() && self.clauses.iter().all(|(_, vars)| vars.is_empty())
    }

    /// The variables read.
    pub fn vars(&self) -> BTreeSet<usize> {
        self.clauses
            .iter()
            .map(|(_, vars)| vars)
            .chain(&self.denies)
            .flatten()
            .copied()
            .collect()
    }

    /// What it grants when exactly the variables set in `truth` hold.
    fn grants(&self, truth: u64) -> Grants {
        let holds = |vars: &[usize]| vars.iter().all(|var| truth >> var & 1 == 1);
        if self.denies.iter().any(|conjunct| holds(conjunct)) {
            return Grants::nothing();
        }
        Grants::union(
            self.clauses
                .iter()
                .filter(|(_, vars)| holds(vars))
                .map(|(grants, _)| grants),
        )
    }
}

/// The ways a deny conjunct fires, each a conjunction of variables: its
/// atoms all true, and, for each set of operands it reads with `under`,
/// those operands unplaceable in place of their `under` atoms (an
/// unplaceable path fires every `under` on it at once).
fn firing_readings(
    table: &DecisionTable,
    conjunct: &[AtomId],
    vars: &mut Vars,
    out: &mut Vec<Vec<usize>>,
) {
    let mut placed: Vec<&Operand> = conjunct
        .iter()
        .filter_map(|id| table.atoms().atom(*id))
        .filter(|atom| matches!(atom.op(), Op::Under(_)))
        .map(Atom::operand)
        .collect();
    placed.sort();
    placed.dedup();
    // A conjunct reads few operands; past 64 the subsets could not be
    // counted in a word, and the enumeration's bound refuses far fewer.
    let subsets = 1u64.checked_shl(placed.len() as u32).unwrap_or(1);
    for subset in 0..subsets {
        let unplaceable: Vec<&Operand> = placed
            .iter()
            .enumerate()
            .filter(|(bit, _)| subset >> bit & 1 == 1)
            .map(|(_, operand)| *operand)
            .collect();
        let mut reading: Vec<usize> = conjunct
            .iter()
            .filter(|id| {
                table.atoms().atom(**id).is_none_or(|atom| {
                    !(matches!(atom.op(), Op::Under(_)) && unplaceable.contains(&atom.operand()))
                })
            })
            .map(|id| vars.number(table, *id))
            .collect();
        for operand in &unplaceable {
            reading.push(vars.unplaceable(operand));
        }
        reading.sort_unstable();
        reading.dedup();
        out.push(reading);
    }
}

fn numbered(table: &DecisionTable, atoms: &[AtomId], vars: &mut Vars) -> Vec<usize> {
    let mut out: Vec<usize> = atoms.iter().map(|id| vars.number(table, *id)).collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// A request on which the two sides differ: a token carrying `scopes`,
/// with the atoms `holds` true and `fails` false.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Witness {
    pub scopes: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub holds: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fails: Vec<String>,
}

/// Two accesses compared over every feasible truth assignment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Compared {
    /// Requests allowed now and not before (at most [`MAX_WITNESSES`]).
    pub gained: Vec<Witness>,
    pub lost: Vec<Witness>,
    /// The minimal scope sets of all gaining (losing) requests.
    pub gained_sets: Grants,
    pub lost_sets: Grants,
    /// Whether each side grants anything on some feasible request.
    pub old_grants_some: bool,
    pub new_grants_some: bool,
}

/// `None` when the variables are more than [`MAX_ATOMS`].
pub fn compare(old: &Access, new: &Access, vars: &Vars) -> Option<Compared> {
    let read: Vec<usize> = old.vars().union(&new.vars()).copied().collect();
    // Variables are numbered per region, so every one is read and fits a
    // 64-bit truth assignment once the bound holds.
    if read.len() > MAX_ATOMS || read.iter().any(|var| *var >= 64) {
        return None;
    }
    // Pairs of variables that constrain each other.
    let mut constraints = Vec::new();
    for (i, &a) in read.iter().enumerate() {
        for &b in read.iter().skip(i + 1) {
            if let (Some(x), Some(y)) = (vars.atom(a), vars.atom(b)) {
                let relation = relation(x, y);
                if relation != Relation::Overlap && relation != Relation::Unknown {
                    constraints.push((a, b, relation));
                }
            } else if vars.excludes(a, b) {
                constraints.push((a, b, Relation::Disjoint));
            }
        }
    }
    let feasible = |truth: u64| {
        constraints.iter().all(|&(a, b, relation)| {
            let (x, y) = (truth >> a & 1 == 1, truth >> b & 1 == 1);
            match relation {
                Relation::Equal => x == y,
                Relation::Subset => !x || y,
                Relation::Superset => !y || x,
                Relation::Disjoint => !(x && y),
                Relation::Overlap | Relation::Unknown => true,
            }
        })
    };
    let mut result = Compared::default();
    let (mut gained_sets, mut lost_sets) = (Vec::new(), Vec::new());
    for pattern in 0u64..(1u64 << read.len()) {
        let truth = read
            .iter()
            .enumerate()
            .filter(|(bit, _)| pattern >> bit & 1 == 1)
            .fold(0u64, |truth, (_, var)| truth | 1 << var);
        if !feasible(truth) {
            continue;
        }
        let (before, after) = (old.grants(truth), new.grants(truth));
        result.old_grants_some |= !before.is_nothing();
        result.new_grants_some |= !after.is_nothing();
        if before == after {
            continue;
        }
        let witness = |scopes: &[String]| Witness {
            scopes: scopes.to_vec(),
            holds: read
                .iter()
                .filter(|var| truth >> **var & 1 == 1)
                .map(|var| vars.text(*var).to_owned())
                .collect(),
            fails: read
                .iter()
                .filter(|var| truth >> **var & 1 == 0)
                .map(|var| vars.text(*var).to_owned())
                .collect(),
        };
        for set in after.not_granted_by(&before) {
            gained_sets.push(Grants::from_set(set));
            if result.gained.len() < MAX_WITNESSES {
                result.gained.push(witness(set));
            }
        }
        for set in before.not_granted_by(&after) {
            lost_sets.push(Grants::from_set(set));
            if result.lost.len() < MAX_WITNESSES {
                result.lost.push(witness(set));
            }
        }
    }
    result.gained_sets = Grants::union(&gained_sets);
    result.lost_sets = Grants::union(&lost_sets);
    Some(result)
}
