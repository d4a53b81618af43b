//! Explaining a decision: which rule decided, and for a denial the smallest
//! set of scopes whose addition would allow, or the conditions that failed
//! (no scope can help those). Off the hot path: this allocates.

use crate::condition::{AtomId, AtomTrace, Context};
use crate::decision_table::{Basis, Decision, DecisionTable, DefaultEffect, Effect, Rule, RuleId};
use crate::method::TargetKind;
use crate::scope::{ScopeId, ScopeSet, mask_iter, mask_subset};

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
    /// The deciding allow rule's conditions failed: no clause whose atoms
    /// all hold exists, so no scope can allow this request (a server must
    /// not send a step-up challenge). The failing atoms, by id: those of
    /// the clauses whose scopes are held, or of every clause when none is.
    ConditionsFailed(Vec<AtomId>),
    /// A `deny ... when` fired: the atoms of its first true conjunct.
    DeniedWhen(Vec<AtomId>),
}

/// A decision with what explains it to a person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation<'t> {
    pub decision: Decision,
    /// The deciding rule, `None` when the default decided.
    pub rule: Option<&'t Rule>,
    pub remedy: Remedy,
    /// Every atom evaluated, each once, in the order checked: those of the
    /// `deny ... when` rules checked, then those of the deciding allow
    /// rule's clauses. Empty for a table without conditions.
    pub conditions: Vec<AtomTrace>,
}

impl DecisionTable {
    /// Decides and explains one request with no arguments and no claims.
    pub fn explain(&self, kind: TargetKind, name: &str, held: &ScopeSet) -> Explanation<'_> {
        self.explain_in(kind, name, held, &Context::EMPTY)
    }

    /// Decides and explains one request on its arguments and claims.
    pub fn explain_in(
        &self,
        kind: TargetKind,
        name: &str,
        held: &ScopeSet,
        context: &Context<'_>,
    ) -> Explanation<'_> {
        let decision = self.decide_in(kind, name, held, context);
        let rule = match decision.basis {
            Basis::Rule(id) => self.rule(id),
            Basis::Default | Basis::ForeignScopeSet => None,
        };
        let mut trace = Trace {
            table: self,
            context,
            traces: Vec::new(),
            done: Vec::new(),
        };
        if self.has_conditions() && decision.basis != Basis::ForeignScopeSet {
            self.trace_denies(kind, name, decision, &mut trace);
        }
        let remedy = match (decision.basis, rule) {
            (Basis::Rule(id), Some(rule)) => match &rule.effect {
                Effect::Allow(_) => self.allow_remedy(id, held, decision.allowed, &mut trace),
                Effect::DenyWhen(condition) => Remedy::DeniedWhen(
                    condition
                        .iter()
                        .find(|conjunct| self.all_fire(conjunct, context))
                        .cloned()
                        .unwrap_or_default(),
                ),
                Effect::Deny => Remedy::Unreachable,
            },
            _ if decision.allowed => Remedy::None,
            (Basis::Default, _) if self.default_effect() == DefaultEffect::Allow => Remedy::None,
            _ => Remedy::Unreachable,
        };
        Explanation {
            decision,
            rule,
            remedy,
            conditions: trace.traces,
        }
    }

    /// Traces the `deny ... when` rules that the decision checked: none
    /// after an unconditional deny, else those matching up to the one that
    /// fired.
    fn trace_denies(
        &self,
        kind: TargetKind,
        name: &str,
        decision: Decision,
        trace: &mut Trace<'_, '_>,
    ) {
        let Some(index) = self.kind_index(kind) else {
            return;
        };
        if let Basis::Rule(id) = decision.basis
            && self
                .rule(id)
                .is_some_and(|rule| rule.effect == Effect::Deny)
        {
            return;
        }
        for deny in self.deny_when_candidates(index, name) {
            for conjunct in self.deny_condition(deny) {
                trace.all(conjunct);
            }
            if decision.basis == Basis::Rule(deny) {
                return;
            }
        }
    }

    /// The remedy of an allow rule's decision, its clauses' atoms traced.
    fn allow_remedy(
        &self,
        rule: RuleId,
        held: &ScopeSet,
        allowed: bool,
        trace: &mut Trace<'_, '_>,
    ) -> Remedy {
        let clauses = self.clause_numbers(rule);
        let holding: Vec<bool> = clauses
            .clone()
            .map(|clause| trace.all(self.clause_atoms(clause)))
            .collect();
        if allowed {
            return Remedy::None;
        }
        if holding.iter().any(|holds| *holds) {
            return self
                .cheapest_addition(rule, held, |at| holding.get(at).copied().unwrap_or(false));
        }
        let scoped: Vec<u32> = clauses
            .clone()
            .filter(|clause| mask_subset(self.clause_mask(*clause), held.words()))
            .collect();
        let blamed: Vec<u32> = if scoped.is_empty() {
            clauses.collect()
        } else {
            scoped
        };
        let mut failing: Vec<AtomId> = blamed
            .into_iter()
            .flat_map(|clause| self.clause_atoms(clause).iter().copied())
            .filter(|id| !trace.holds(*id))
            .collect();
        failing.sort();
        failing.dedup();
        Remedy::ConditionsFailed(failing)
    }

    /// The smallest set of scopes that, added to `held`, satisfies one of
    /// the rule's clauses that `usable` admits (by position in the rule).
    /// Ties go to the set that grants the fewest scopes the token did not
    /// need (least privilege), then to declaration order.
    fn cheapest_addition(
        &self,
        rule: RuleId,
        held: &ScopeSet,
        usable: impl Fn(usize) -> bool,
    ) -> Remedy {
        let mut best: Option<Cover> = None;
        for (at, mask) in self.clause_masks(rule).enumerate() {
            if !usable(at) {
                continue;
            }
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

/// The atoms traced so far, each once.
struct Trace<'t, 'c> {
    table: &'t DecisionTable,
    context: &'c Context<'c>,
    traces: Vec<AtomTrace>,
    /// Per atom id, its outcome once traced (a rule of hundreds of clauses
    /// must not make the explanation quadratic).
    done: Vec<Option<bool>>,
}

impl Trace<'_, '_> {
    /// Traces `id` unless done already; `true` when it holds.
    fn holds(&mut self, id: AtomId) -> bool {
        if self.done.is_empty() {
            self.done = vec![None; self.table.atoms().len()];
        }
        if let Some(Some(holds)) = self.done.get(id.index()) {
            return *holds;
        }
        match self.table.atoms().atom(id) {
            Some(atom) => {
                let trace = atom.trace(id, self.context);
                let holds = trace.holds;
                self.traces.push(trace);
                if let Some(slot) = self.done.get_mut(id.index()) {
                    *slot = Some(holds);
                }
                holds
            }
            None => false,
        }
    }

    /// Traces every atom (no short cut: an explanation shows them all);
    /// `true` when all hold.
    fn all(&mut self, atoms: &[AtomId]) -> bool {
        let mut all = true;
        for id in atoms {
            all &= self.holds(*id);
        }
        all
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
