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
//! The enumeration is bounded by [`MAX_ATOMS`] variables per region
//! (2^12 assignments). Past it, two sides that are not the same formula
//! are reported as a change, undecided, which `--fail-on widened` fails on.

use std::collections::BTreeSet;

use mcp_policy_table::{
    Atom, AtomId, Clause, DecisionTable, DefaultEffect, Effect, Operand, RuleId, Source,
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
    /// `None` for an id the table does not hold (a table refuses one when
    /// built): a variable of its own, related to nothing.
    atoms: Vec<Option<Atom>>,
    texts: Vec<String>,
}

impl Vars {
    fn number(&mut self, table: &DecisionTable, id: AtomId) -> usize {
        let Some(info) = table.atoms().get(id) else {
            self.atoms.push(None);
            self.texts.push(format!("unknown atom {}", id.0));
            return self.atoms.len() - 1;
        };
        match self
            .atoms
            .iter()
            .position(|atom| atom.as_ref() == Some(&info.atom))
        {
            Some(at) => at,
            None => {
                self.atoms.push(Some(info.atom.clone()));
                self.texts.push(info.text.clone());
                self.atoms.len() - 1
            }
        }
    }

    pub fn len(&self) -> usize {
        self.atoms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.atoms.is_empty()
    }

    pub fn atom(&self, var: usize) -> Option<&Atom> {
        self.atoms.get(var).and_then(Option::as_ref)
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
                denies.extend(
                    condition
                        .iter()
                        .map(|conjunct| numbered(table, conjunct, vars)),
                );
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

/// `arg.repo`, `claim."https://example.com/roles"`: an operand as the
/// language spells it.
pub fn operand_text(operand: &Operand) -> String {
    let mut out = match operand.source {
        Source::Arg => "arg".to_owned(),
        Source::Claim => "claim".to_owned(),
    };
    for key in &operand.path {
        let identifier = key
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if identifier {
            out.push('.');
            out.push_str(key);
        } else {
            out.push_str(&format!(".{key:?}"));
        }
    }
    out
}
