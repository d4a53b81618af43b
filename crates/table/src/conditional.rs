//! Decisions of a table with conditions: the same lookup as the
//! unconditional path (which `deny ... when` rules are not part of), then
//! the conditional denies that match the name, then the deciding allow
//! rule's clauses with their atoms. Nothing here allocates but
//! [`DecisionTable::argument_paths`].
//!
//! Also the visibility question of lists ([`DecisionTable::may_allow`]),
//! answered in three values: claims known, arguments not.

use serde_json::{Map, Value};

use crate::condition::{Atom, AtomId, Context, Reading, Source};
use crate::decision_table::{
    Basis, Decision, DecisionTable, DefaultEffect, Effect, Entry, KindIndex, RuleId,
};
use crate::method::TargetKind;
use crate::names;
use crate::scope::{ScopeSet, mask_subset};

impl DecisionTable {
    /// [`DecisionTable::decide_in`] for a table with conditions, the
    /// scope set already checked.
    pub(crate) fn decide_conditional(
        &self,
        kind: TargetKind,
        name: &str,
        held: &ScopeSet,
        context: &Context<'_>,
    ) -> Decision {
        let Some(index) = self.kind_index(kind) else {
            return self.default_decision();
        };
        let fallback = index.find(name);
        if let Some(entry) = fallback
            && is_deny(entry)
        {
            return Decision {
                allowed: false,
                basis: Basis::Rule(entry.rule),
            };
        }
        if let Some(deny) = self.firing_deny(index, name, context) {
            return Decision {
                allowed: false,
                basis: Basis::Rule(deny),
            };
        }
        match fallback {
            Some(entry) => Decision {
                allowed: self.clauses_allow_in(entry, held, context),
                basis: Basis::Rule(entry.rule),
            },
            None => self.default_decision(),
        }
    }

    fn default_decision(&self) -> Decision {
        Decision {
            allowed: self.default_effect() == DefaultEffect::Allow,
            basis: Basis::Default,
        }
    }

    /// The first `deny ... when` matching `name` whose condition holds.
    fn firing_deny(&self, index: &KindIndex, name: &str, context: &Context<'_>) -> Option<RuleId> {
        self.deny_when_candidates(index, name)
            .find(|id| self.deny_fires(*id, context))
    }

    /// The `deny ... when` rules matching `name`, in the order they are
    /// checked: exact targets, then globs, each in source order.
    pub(crate) fn deny_when_candidates<'s>(
        &'s self,
        index: &'s KindIndex,
        name: &'s str,
    ) -> impl Iterator<Item = RuleId> + 's {
        let exact = names::get(&index.deny_when_exact, name)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .copied();
        let globs = index
            .deny_when_globs
            .iter()
            .filter(move |(glob, _)| glob.matches(name))
            .map(|(_, id)| *id);
        exact.chain(globs)
    }

    /// The condition of a `deny ... when` rule; empty for another rule.
    pub(crate) fn deny_condition(&self, rule: RuleId) -> &[Vec<AtomId>] {
        match self.rule(rule).map(|rule| &rule.effect) {
            Some(Effect::DenyWhen(condition)) => condition,
            _ => &[],
        }
    }

    /// `true` when one conjunct of the rule's condition fires (each of its
    /// atoms holds or is undecided: [`crate::Atom::fires`]).
    pub(crate) fn deny_fires(&self, rule: RuleId, context: &Context<'_>) -> bool {
        self.deny_condition(rule)
            .iter()
            .any(|conjunct| self.all_fire(conjunct, context))
    }

    #[inline]
    pub(crate) fn all_fire(&self, atoms: &[AtomId], context: &Context<'_>) -> bool {
        self.every(atoms, |atom| atom.fires(context))
    }

    #[inline]
    pub(crate) fn all_hold(&self, atoms: &[AtomId], context: &Context<'_>) -> bool {
        self.every(atoms, |atom| atom.holds(context))
    }

    /// `true` when `test` passes every atom. (Every id is the table's:
    /// it refuses an unknown one when built.)
    #[inline]
    fn every(&self, atoms: &[AtomId], test: impl Fn(&Atom) -> bool) -> bool {
        atoms
            .iter()
            .all(|id| self.atoms().atom(*id).is_some_and(&test))
    }

    /// `true` when one clause has its scopes held and its atoms true.
    fn clauses_allow_in(&self, entry: Entry, held: &ScopeSet, context: &Context<'_>) -> bool {
        (entry.clauses_start..entry.clauses_end).any(|clause| {
            mask_subset(self.clause_mask(clause), held.words())
                && self.all_hold(self.clause_atoms(clause), context)
        })
    }

    /// Whether a list (`tools/list`, ...) should show `name` to a caller:
    /// `true` when some arguments could be allowed with these scopes and
    /// claims. Claim atoms are evaluated; argument atoms are assumed
    /// satisfiable (an atom comparing an argument with a claim that is
    /// missing, or not a string, number or boolean, is false whatever the
    /// arguments). A `deny ... when` hides the name only when its condition
    /// is true from the claims alone.
    pub fn may_allow(
        &self,
        kind: TargetKind,
        name: &str,
        held: &ScopeSet,
        claims: Option<&Map<String, Value>>,
    ) -> bool {
        if held.fingerprint != self.scopes().fingerprint() {
            return false;
        }
        if !self.has_conditions() {
            return self.decide(kind, name, held).allowed;
        }
        let Some(index) = self.kind_index(kind) else {
            return self.default_effect() == DefaultEffect::Allow;
        };
        let fallback = index.find(name);
        if fallback.is_some_and(is_deny) {
            return false;
        }
        // `Some(true)` only when every atom fires from the claims.
        let surely = |atoms: &[AtomId]| {
            atoms.iter().all(|id| {
                self.atoms()
                    .atom(*id)
                    .is_some_and(|atom| atom.from_claims(claims, Reading::Deny) == Some(true))
            })
        };
        let hidden = self
            .deny_when_candidates(index, name)
            .any(|deny| self.deny_condition(deny).iter().any(|c| surely(c)));
        if hidden {
            return false;
        }
        let possible = |atoms: &[AtomId]| {
            atoms.iter().all(|id| {
                self.atoms()
                    .atom(*id)
                    .is_some_and(|atom| atom.from_claims(claims, Reading::Allow) != Some(false))
            })
        };
        match fallback {
            Some(entry) => (entry.clauses_start..entry.clauses_end).any(|clause| {
                mask_subset(self.clause_mask(clause), held.words())
                    && possible(self.clause_atoms(clause))
            }),
            None => self.default_effect() == DefaultEffect::Allow,
        }
    }

    /// The argument paths a decision on `name` reads: those of the
    /// `deny ... when` rules checked (up to the one that fires) and, when
    /// none fires, of the deciding allow rule's clauses. Sorted, without
    /// repeats. The decision log records these arguments and no others, so
    /// a replay on the same policy decides the same.
    pub fn argument_paths(
        &self,
        kind: TargetKind,
        name: &str,
        context: &Context<'_>,
    ) -> Vec<&[String]> {
        let mut paths: Vec<&[String]> = Vec::new();
        let Some(index) = self.kind_index(kind).filter(|_| self.has_conditions()) else {
            return paths;
        };
        let fallback = index.find(name);
        if fallback.is_some_and(is_deny) {
            return paths;
        }
        let mut read = |atoms: &[AtomId]| {
            for id in atoms {
                let Some(atom) = self.atoms().atom(*id) else {
                    continue;
                };
                paths.extend(
                    atom.operands()
                        .filter(|operand| operand.source == Source::Arg)
                        .map(|operand| operand.path.as_slice()),
                );
            }
        };
        let mut fired = false;
        for deny in self.deny_when_candidates(index, name) {
            for conjunct in self.deny_condition(deny) {
                read(conjunct);
            }
            if self.deny_fires(deny, context) {
                fired = true;
                break;
            }
        }
        if let (false, Some(entry)) = (fired, fallback) {
            for clause in entry.clauses_start..entry.clauses_end {
                read(self.clause_atoms(clause));
            }
        }
        paths.sort();
        paths.dedup();
        paths
    }
}

/// An entry of an unconditional deny: it has no clauses (an allow has at
/// least one).
fn is_deny(entry: Entry) -> bool {
    entry.clauses_start == entry.clauses_end
}
