//! Resolved policy to decision table: each requirement becomes a minimal
//! disjunction of clauses, each clause a set of scopes that must all be held.
//!
//! Minimal means, with `implies` taken into account:
//! - within a clause, no scope implied by another member (`all_of(mcp:admin,
//!   mcp:read)` is `{mcp:admin}`);
//! - no clause that another clause makes redundant (`any_of(mcp:read,
//!   mcp:admin)` is `{mcp:read}`: every token holding admin holds read).

use mcp_policy_table::{
    Clause, DecisionTable, Effect, Glob, Rule, ScopeCatalog, ScopeId, ScopeSet, Target,
};

use crate::ast::Node;
use crate::check::{Req, Resolved};
use crate::diagnostic::{Code, Diagnostic};

/// A requirement whose normal form would have more clauses than this is
/// rejected: a decision scans a rule's clauses, and `all_of` over many
/// `any_of`s multiplies them. (Defined beside the table, whose artifact
/// loader refuses the same.)
pub use mcp_policy_table::MAX_CLAUSES;

/// Compiles a checked policy. Fails only on requirements too complex to
/// normalise (or, defensively, if the table rejects its parts).
pub fn compile(resolved: &Resolved) -> Result<DecisionTable, Vec<Diagnostic>> {
    let catalog = ScopeCatalog::new(resolved.scopes.clone()).map_err(|err| vec![internal(err)])?;
    let mut diagnostics = Vec::new();
    let mut rules = Vec::with_capacity(resolved.rules.len());
    for rule in &resolved.rules {
        let effect = match &rule.requirement {
            None => Effect::Deny,
            Some(requirement) => match normal_form(&catalog, requirement) {
                Ok(clauses) => Effect::Allow(clauses),
                Err(span) => {
                    diagnostics.push(
                        Diagnostic::error(
                            Code::RequirementTooComplex,
                            format!("requirement has more than {MAX_CLAUSES} alternatives once expanded"),
                        )
                        .with_label(span, "expands too far")
                        .with_help("`all_of` over several `any_of`s multiplies their members; declare a scope that implies the combination instead"),
                    );
                    continue;
                }
            },
        };
        let target = if rule.target.is_glob() {
            Target::Glob(Glob::new(&rule.target.text))
        } else {
            Target::Exact(rule.target.text.clone())
        };
        rules.push(Rule {
            kind: rule.kind,
            target,
            effect,
            text: rule.text.clone(),
            line: rule.line,
        });
    }
    if !diagnostics.is_empty() {
        return Err(diagnostics);
    }
    DecisionTable::new(resolved.name.clone(), resolved.default, catalog, rules)
        .map_err(|err| vec![internal(err)])
}

/// The checker has already refused what the table's own checks refuse
/// (duplicate or unknown scopes): one of these failing is a bug here.
fn internal(error: impl std::fmt::Display) -> Diagnostic {
    Diagnostic::error(Code::Internal, format!("internal compiler error: {error}"))
        .with_help(crate::parse::INTERNAL_HELP)
}

/// A clause while normalising: its members, and the closure of its members
/// (what a token satisfying it certainly holds).
#[derive(Clone)]
struct Term {
    members: Vec<ScopeId>,
    closure: ScopeSet,
}

/// Disjunctive normal form, minimised after every step so intermediate
/// results stay small. `Err` carries the span that expanded too far.
fn normal_form(
    catalog: &ScopeCatalog,
    requirement: &Node<Req>,
) -> Result<Vec<Clause>, crate::ast::Span> {
    let terms = dnf(catalog, requirement)?;
    let mut clauses: Vec<Clause> = terms
        .into_iter()
        .map(|term| Clause {
            scopes: term.members,
            atoms: Vec::new(),
        })
        .collect();
    clauses.sort_by(|a, b| (a.scopes.len(), &a.scopes).cmp(&(b.scopes.len(), &b.scopes)));
    Ok(clauses)
}

fn dnf(catalog: &ScopeCatalog, requirement: &Node<Req>) -> Result<Vec<Term>, crate::ast::Span> {
    let terms = match &requirement.node {
        Req::Authenticated => vec![term(catalog, Vec::new())],
        Req::Scope(id) => vec![term(catalog, vec![*id])],
        // Never compiled: `check` reported the unresolved name. An empty
        // disjunction denies, which is the safe reading anyway.
        Req::Unresolved => Vec::new(),
        Req::AnyOf(members) => {
            let mut terms = Vec::new();
            for member in members {
                terms.extend(dnf(catalog, member)?);
                if terms.len() > MAX_CLAUSES * 4 {
                    terms = minimise(terms);
                }
            }
            terms
        }
        Req::AllOf(members) => {
            let mut terms = vec![term(catalog, Vec::new())];
            for member in members {
                let right = dnf(catalog, member)?;
                if terms.len().saturating_mul(right.len()) > MAX_CLAUSES * MAX_CLAUSES {
                    return Err(requirement.span);
                }
                let mut product = Vec::with_capacity(terms.len() * right.len());
                for left in &terms {
                    for right in &right {
                        let mut members = left.members.clone();
                        members.extend(&right.members);
                        product.push(term(catalog, members));
                    }
                }
                terms = minimise(product);
                if terms.len() > MAX_CLAUSES {
                    return Err(requirement.span);
                }
            }
            terms
        }
    };
    let terms = minimise(terms);
    if terms.len() > MAX_CLAUSES {
        return Err(requirement.span);
    }
    Ok(terms)
}

/// A clause from its members, dropping members another member implies.
fn term(catalog: &ScopeCatalog, mut members: Vec<ScopeId>) -> Term {
    members.sort();
    members.dedup();
    let mut kept: Vec<ScopeId> = Vec::with_capacity(members.len());
    for (i, scope) in members.iter().enumerate() {
        // Implied by a member kept so far, or by a later member that is not
        // itself implied back (in a cycle, the first one stays).
        let implied = kept.iter().any(|other| catalog.implies(*other, *scope))
            || members
                .iter()
                .skip(i + 1)
                .any(|other| catalog.implies(*other, *scope) && !catalog.implies(*scope, *other));
        if !implied {
            kept.push(*scope);
        }
    }
    let closure = catalog.set_of(kept.iter().copied());
    Term {
        members: kept,
        closure,
    }
}

/// Drops every clause that another clause makes redundant: `b` is redundant
/// when a token satisfying `b` always satisfies `a`, that is when `a`'s
/// closure is within `b`'s. Of two equivalent clauses, the first stays.
fn minimise(terms: Vec<Term>) -> Vec<Term> {
    let mut kept: Vec<Term> = Vec::with_capacity(terms.len());
    for term in terms {
        if kept
            .iter()
            .any(|other| other.closure.is_subset(&term.closure))
        {
            continue;
        }
        kept.retain(|other| !term.closure.is_subset(&other.closure));
        kept.push(term);
    }
    kept
}
