//! Resolved policy to decision table: each requirement becomes a minimal
//! disjunction of clauses, each clause a set of scopes that must all be
//! held and a set of condition atoms that must all hold.
//!
//! Minimal means, with `implies` taken into account and atoms treated as
//! independent propositional variables:
//! - within a clause, no scope implied by another member (`all_of(mcp:admin,
//!   mcp:read)` is `{mcp:admin}`), and no atom twice;
//! - no clause that another clause makes redundant (`any_of(mcp:read,
//!   mcp:admin)` is `{mcp:read}`: every token holding admin holds read; a
//!   clause whose scopes and atoms both include another's is dropped).
//!
//! A deny's `when` becomes the same normal form over atoms alone
//! ([`Effect::DenyWhen`]).

use mcp_policy_table::{
    AtomCatalog, AtomId, Clause, DecisionTable, Effect, Glob, Rule, ScopeCatalog, ScopeId,
    ScopeSet, Target,
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
    let mut atoms = AtomCatalog::new();
    let mut diagnostics = Vec::new();
    let mut rules = Vec::with_capacity(resolved.rules.len());
    for rule in &resolved.rules {
        let effect = match (&rule.requirement, &rule.when) {
            (None, None) => Effect::Deny,
            (None, Some(condition)) => match normal_form(&catalog, &mut atoms, condition) {
                Ok(clauses) => match deny_when(clauses) {
                    Some(effect) => effect,
                    None => {
                        diagnostics.push(internal("a deny condition with no alternative"));
                        continue;
                    }
                },
                Err(span) => {
                    diagnostics.push(too_complex(span, "condition"));
                    continue;
                }
            },
            (Some(requirement), _) => match normal_form(&catalog, &mut atoms, requirement) {
                Ok(clauses) => Effect::Allow(clauses),
                Err(span) => {
                    diagnostics.push(too_complex(span, "requirement"));
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
    let table = if atoms.is_empty() {
        // Unconditional policies take the path (and the artifact) they
        // always did.
        DecisionTable::new(resolved.name.clone(), resolved.default, catalog, rules)
    } else {
        DecisionTable::with_atoms(
            resolved.name.clone(),
            resolved.default,
            catalog,
            atoms,
            rules,
        )
    };
    table.map_err(|err| vec![internal(err)])
}

fn too_complex(span: crate::ast::Span, what: &str) -> Diagnostic {
    Diagnostic::error(
        Code::RequirementTooComplex,
        format!("{what} has more than {MAX_CLAUSES} alternatives once expanded"),
    )
    .with_label(span, "expands too far")
    .with_help("`all_of` over several `any_of`s multiplies their members; declare a scope that implies the combination instead")
}

/// A deny's condition in normal form as its effect: a conjunct with no
/// atom would always hold, which is an unconditional deny. `None` for a
/// condition with no conjunct (never true; `check` reported it).
fn deny_when(clauses: Vec<Clause>) -> Option<Effect> {
    if clauses.is_empty() {
        return None;
    }
    if clauses.iter().any(|clause| clause.atoms.is_empty()) {
        return Some(Effect::Deny);
    }
    Some(Effect::DenyWhen(
        clauses.into_iter().map(|clause| clause.atoms).collect(),
    ))
}

/// The checker has already refused what the table's own checks refuse
/// (duplicate or unknown scopes): one of these failing is a bug here.
fn internal(error: impl std::fmt::Display) -> Diagnostic {
    Diagnostic::error(Code::Internal, format!("internal compiler error: {error}"))
        .with_help(crate::parse::INTERNAL_HELP)
}

/// A clause while normalising: its members, the closure of its members
/// (what a token satisfying it certainly holds), and its atoms (sorted,
/// without repeats).
#[derive(Clone)]
struct Term {
    members: Vec<ScopeId>,
    closure: ScopeSet,
    atoms: Vec<AtomId>,
}

/// Disjunctive normal form, minimised after every step so intermediate
/// results stay small. `Err` carries the span that expanded too far.
fn normal_form(
    catalog: &ScopeCatalog,
    atoms: &mut AtomCatalog,
    requirement: &Node<Req>,
) -> Result<Vec<Clause>, crate::ast::Span> {
    let terms = dnf(catalog, atoms, requirement)?;
    let mut clauses: Vec<Clause> = terms
        .into_iter()
        .map(|term| Clause {
            scopes: term.members,
            atoms: term.atoms,
        })
        .collect();
    clauses.sort_by(|a, b| {
        (a.scopes.len(), &a.scopes, a.atoms.len(), &a.atoms).cmp(&(
            b.scopes.len(),
            &b.scopes,
            b.atoms.len(),
            &b.atoms,
        ))
    });
    Ok(clauses)
}

fn dnf(
    catalog: &ScopeCatalog,
    atoms: &mut AtomCatalog,
    requirement: &Node<Req>,
) -> Result<Vec<Term>, crate::ast::Span> {
    let terms = match &requirement.node {
        Req::Authenticated => vec![term(catalog, Vec::new(), Vec::new())],
        Req::Scope(id) => vec![term(catalog, vec![*id], Vec::new())],
        Req::Atom { atom, text } => {
            let id = atoms.intern(atom.as_ref().clone(), text.as_str());
            vec![term(catalog, Vec::new(), vec![id])]
        }
        // Never compiled: `check` reported the unresolved name. An empty
        // disjunction denies, which is the safe reading anyway.
        Req::Unresolved => Vec::new(),
        Req::AnyOf(members) => {
            let mut terms = Vec::new();
            for member in members {
                terms.extend(dnf(catalog, atoms, member)?);
                if terms.len() > MAX_CLAUSES * 4 {
                    terms = minimise(terms);
                }
            }
            terms
        }
        Req::AllOf(members) => {
            let mut terms = vec![term(catalog, Vec::new(), Vec::new())];
            for member in members {
                let right = dnf(catalog, atoms, member)?;
                if terms.len().saturating_mul(right.len()) > MAX_CLAUSES * MAX_CLAUSES {
                    return Err(requirement.span);
                }
                let mut product = Vec::with_capacity(terms.len() * right.len());
                for left in &terms {
                    for right in &right {
                        let mut members = left.members.clone();
                        members.extend(&right.members);
                        let mut conjunction = left.atoms.clone();
                        conjunction.extend(&right.atoms);
                        product.push(term(catalog, members, conjunction));
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

/// A clause from its members, dropping members another member implies,
/// and its atoms.
fn term(catalog: &ScopeCatalog, mut members: Vec<ScopeId>, mut atoms: Vec<AtomId>) -> Term {
    members.sort();
    members.dedup();
    atoms.sort();
    atoms.dedup();
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
        atoms,
    }
}

/// Drops every clause that another clause makes redundant: `b` is redundant
/// when a request satisfying `b` always satisfies `a`, that is when `a`'s
/// closure is within `b`'s and `a`'s atoms are among `b`'s (atoms are
/// independent variables: no atom is taken to imply another). Of two
/// equivalent clauses, the first stays.
fn minimise(terms: Vec<Term>) -> Vec<Term> {
    let mut kept: Vec<Term> = Vec::with_capacity(terms.len());
    for term in terms {
        if kept.iter().any(|other| covers(other, &term)) {
            continue;
        }
        kept.retain(|other| !covers(&term, other));
        kept.push(term);
    }
    kept
}

/// Whether every request satisfying `b` satisfies `a`.
fn covers(a: &Term, b: &Term) -> bool {
    a.closure.is_subset(&b.closure) && is_sorted_subset(&a.atoms, &b.atoms)
}

/// `small ⊆ large`, both sorted without repeats.
fn is_sorted_subset(small: &[AtomId], large: &[AtomId]) -> bool {
    let mut large = large.iter();
    small
        .iter()
        .all(|atom| large.by_ref().any(|other| other == atom))
}
