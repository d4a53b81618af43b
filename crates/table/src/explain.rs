//! Explaining a decision: which rule decided, and for a denial the smallest
//! set of scopes whose addition would allow. Off the hot path: this allocates.

use crate::decision_table::{Basis, Decision, DecisionTable, DefaultEffect, Effect, Rule};
use crate::method::TargetKind;
use crate::scope::{ScopeId, ScopeSet, mask_iter};

/// What it would take to turn a denial into an allow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Remedy {
    /// The request is allowed; nothing is missing.
    None,
    /// Adding these scopes to the token allows the request. No smaller set
    /// does; among sets of that size, this one grants the least besides.
    AddScopes(Vec<ScopeId>),
    /// No scope can allow it: a deny rule or the default denies it.
    Unreachable,
}

/// A decision with what explains it to a person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation<'t> {
    pub decision: Decision,
    /// The deciding rule, `None` when the default decided.
    pub rule: Option<&'t Rule>,
    pub remedy: Remedy,
}

impl DecisionTable {
    /// Decides and explains one request.
    pub fn explain(&self, kind: TargetKind, name: &str, held: &ScopeSet) -> Explanation<'_> {
        let decision = self.decide(kind, name, held);
        let rule = match decision.basis {
            Basis::Rule(id) => self.rule(id),
            Basis::Default | Basis::ForeignScopeSet => None,
        };
        let remedy = if decision.allowed {
            Remedy::None
        } else {
            match (decision.basis, rule) {
                (Basis::Rule(id), Some(rule)) if matches!(rule.effect, Effect::Allow(_)) => {
                    self.cheapest_addition(id, held)
                }
                (Basis::Default, _) if self.default_effect() == DefaultEffect::Allow => {
                    Remedy::None
                }
                _ => Remedy::Unreachable,
            }
        };
        Explanation {
            decision,
            rule,
            remedy,
        }
    }

    /// The smallest set of scopes that, added to `held`, satisfies one of
    /// the rule's clauses. Ties go to the set that grants the fewest scopes
    /// the token did not need (least privilege), then to declaration order.
    fn cheapest_addition(&self, rule: crate::decision_table::RuleId, held: &ScopeSet) -> Remedy {
        let mut best: Option<Cover> = None;
        for mask in self.clause_masks(rule) {
            let needed: Vec<u64> = mask
                .iter()
                .zip(held.words())
                .map(|(need, have)| need & !have)
                .collect();
            let mut search = CoverSearch {
                table: self,
                held: held.words(),
                best: best.take(),
                budget: SEARCH_BUDGET,
            };
            search.run(&needed, &mut Vec::new());
            best = search.best;
        }
        match best {
            Some(cover) => Remedy::AddScopes(cover.scopes),
            None => Remedy::Unreachable,
        }
    }
}

#[derive(Clone, Debug)]
struct Cover {
    scopes: Vec<ScopeId>,
    /// Scopes granted beyond the token and the clause: the tie-breaker.
    extra: u32,
}

impl Cover {
    fn better_than(&self, other: &Cover) -> bool {
        (self.scopes.len(), self.extra, &self.scopes)
            < (other.scopes.len(), other.extra, &other.scopes)
    }
}

/// How many nodes one clause's cover search may visit. Realistic policies
/// need a few dozen; a crafted catalog (hundreds of scopes implying one
/// that a long `all_of` needs) would make millions, on every denied
/// request a server explains. Past the budget the best cover found so far
/// stands: still a set that allows, perhaps not the smallest.
const SEARCH_BUDGET: u32 = 20_000;

/// An exact set cover by branch and bound. The first uncovered scope must be
/// covered by a scope that implies it; branch over those (few: a scope is
/// implied by itself and its ancestors), and prune branches that cannot
/// beat the best cover so far. Depth is at most the clause's size.
struct CoverSearch<'a> {
    table: &'a DecisionTable,
    held: &'a [u64],
    best: Option<Cover>,
    /// Nodes left to visit (see [`SEARCH_BUDGET`]).
    budget: u32,
}

impl CoverSearch<'_> {
    fn run(&mut self, uncovered: &[u64], chosen: &mut Vec<ScopeId>) {
        // Out of budget with a cover in hand: keep it. Without one, go on
        // depth first: the first leaf reached is a cover, within the
        // clause's size of steps.
        if self.budget == 0 && self.best.is_some() {
            return;
        }
        self.budget = self.budget.saturating_sub(1);
        let Some(first) = mask_iter(uncovered).next() else {
            let mut scopes = chosen.clone();
            scopes.sort();
            let candidate = Cover {
                extra: self.extra(&scopes),
                scopes,
            };
            if self
                .best
                .as_ref()
                .is_none_or(|best| candidate.better_than(best))
            {
                self.best = Some(candidate);
            }
            return;
        };
        if let Some(best) = &self.best
            && chosen.len() + 1 > best.scopes.len()
        {
            return;
        }
        let catalog = self.table.scopes();
        for (candidate, _) in catalog.iter() {
            if !catalog.implies(candidate, first) || chosen.contains(&candidate) {
                continue;
            }
            let closure = catalog.closure_mask(candidate);
            let rest: Vec<u64> = uncovered
                .iter()
                .zip(closure)
                .map(|(need, got)| need & !got)
                .collect();
            chosen.push(candidate);
            self.run(&rest, chosen);
            chosen.pop();
        }
    }

    /// How many scopes the chosen ones grant that the token lacked, beyond
    /// the chosen ones themselves.
    fn extra(&self, chosen: &[ScopeId]) -> u32 {
        let catalog = self.table.scopes();
        let granted = catalog.set_of(chosen.iter().copied());
        let fresh: u32 = granted
            .words()
            .iter()
            .zip(self.held)
            .map(|(got, have)| (got & !have).count_ones())
            .sum();
        fresh.saturating_sub(chosen.len() as u32)
    }
}
