//! What grants a rule: its minimal scope sets, by name.
//!
//! A rule's requirement is a monotone function of the scopes a token
//! carries (holding more never loses access), and a monotone function is
//! described exactly by its minimal true points: the smallest sets of scope
//! names that, carried by a token, are enough. Two rules decide every token
//! alike exactly when those families are equal — whatever the scopes' order
//! of declaration, bit positions, or the way the requirement was written —
//! which is what makes [`Grants`] the unit of the semantic diff and of the
//! access matrix.

use std::collections::BTreeSet;

use mcp_policy_table::{DefaultEffect, Effect, ScopeCatalog, ScopeId};
use serde::Serialize;

/// More minimal sets than this for one rule and the policy is not
/// analysed: a family that large would be unreadable anyway, and computing
/// it is exponential in the number of alternatives.
pub const MAX_SETS: usize = 1024;

/// The candidate sets one step may build before they are minimized: the
/// sets so far times the scopes that provide the next required one. Checked
/// before building, so a crafted policy (hundreds of scopes implying one
/// that many clauses need) is refused at once instead of filling memory;
/// minimizing is quadratic, so this also bounds time.
const MAX_CANDIDATES: usize = 8 * MAX_SETS;

/// The token scope sets that grant a rule: each set names scopes a token
/// carries; a token is granted when it carries every scope of at least one
/// set. No set is a superset of another. Empty family: nothing grants. A
/// family holding the empty set: any valid token.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Grants {
    /// Each set sorted by name; sets ordered by size, then by name.
    sets: Vec<Vec<String>>,
}

/// The rule has more than [`MAX_SETS`] minimal scope sets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TooManySets {
    /// The rule's text.
    pub rule: String,
}

impl Grants {
    /// Nothing grants (a deny, or a default deny).
    pub fn nothing() -> Grants {
        Grants { sets: Vec::new() }
    }

    /// Every valid token is granted (`authenticated`, or a default allow).
    pub fn any_token() -> Grants {
        Grants {
            sets: vec![Vec::new()],
        }
    }

    /// What a policy's default grants.
    pub fn of_default(default: DefaultEffect) -> Grants {
        match default {
            DefaultEffect::Allow => Grants::any_token(),
            DefaultEffect::Deny => Grants::nothing(),
        }
    }

    /// What a rule's effect grants in its policy's scope catalog.
    pub fn of_effect(
        catalog: &ScopeCatalog,
        effect: &Effect,
        rule: &str,
    ) -> Result<Grants, TooManySets> {
        let clauses = match effect {
            // A `deny ... when` grants nothing itself. Conditions are not
            // analysed yet (no policy source can hold one): an allow
            // clause's atoms are ignored here.
            Effect::Deny | Effect::DenyWhen(_) => return Ok(Grants::nothing()),
            Effect::Allow(clauses) => clauses,
        };
        let too_many = || TooManySets {
            rule: rule.to_owned(),
        };
        let mut all: Vec<Vec<ScopeId>> = Vec::new();
        for clause in clauses {
            all.extend(clause_sets(catalog, &clause.scopes).ok_or_else(too_many)?);
            minimize(&mut all);
            if all.len() > MAX_SETS {
                return Err(too_many());
            }
        }
        let mut sets: Vec<Vec<String>> = all
            .into_iter()
            .map(|set| {
                let mut names: Vec<String> = set
                    .into_iter()
                    .map(|id| catalog.name(id).to_owned())
                    .collect();
                names.sort();
                names
            })
            .collect();
        sets.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
        Ok(Grants { sets })
    }

    /// The same family with scopes renamed (`rename` maps an old name to
    /// its new one, or leaves it): what the rule grants once tokens carry
    /// the new names.
    pub fn renamed(&self, rename: impl Fn(&str) -> Option<String>) -> Grants {
        let mut sets: Vec<Vec<String>> = self
            .sets
            .iter()
            .map(|set| {
                let mut names: Vec<String> = set
                    .iter()
                    .map(|name| rename(name).unwrap_or_else(|| name.clone()))
                    .collect();
                names.sort();
                names.dedup();
                names
            })
            .collect();
        // Two old names renamed to one can make a set a superset of another.
        minimize(&mut sets);
        Grants { sets }
    }

    pub fn sets(&self) -> &[Vec<String>] {
        &self.sets
    }

    pub fn is_nothing(&self) -> bool {
        self.sets.is_empty()
    }

    pub fn is_any_token(&self) -> bool {
        self.sets.iter().any(Vec::is_empty)
    }

    /// `true` when a token carrying exactly `scopes` is granted.
    pub fn grants(&self, scopes: &[String]) -> bool {
        self.sets
            .iter()
            .any(|set| set.iter().all(|scope| scopes.contains(scope)))
    }

    /// The sets of `self` that `other` does not grant: each is a token that
    /// `self` lets in and `other` keeps out (and every such token carries one
    /// of them). Empty when `other` grants at least what `self` does.
    pub fn not_granted_by<'a>(&'a self, other: &Grants) -> Vec<&'a [String]> {
        self.sets
            .iter()
            .filter(|set| !other.grants(set))
            .map(Vec::as_slice)
            .collect()
    }

    /// The scopes that, each alone, grant: the sets of one scope.
    pub fn single_scopes(&self) -> impl Iterator<Item = &str> {
        self.sets
            .iter()
            .filter(|set| set.len() == 1)
            .filter_map(|set| set.first().map(String::as_str))
    }

    /// The sets that need two scopes or more.
    pub fn combinations(&self) -> impl Iterator<Item = &[String]> {
        self.sets
            .iter()
            .filter(|set| set.len() > 1)
            .map(Vec::as_slice)
    }
}

/// The minimal token sets satisfying one clause: for each required scope in
/// turn, a set that does not yet imply it grows by each scope that does.
/// Every minimal set is built this way (choose, for each uncovered scope, a
/// member of that set implying it), and pruning supersets along the way is
/// safe: whatever completes a superset completes its subset too.
fn clause_sets(catalog: &ScopeCatalog, required: &[ScopeId]) -> Option<Vec<Vec<ScopeId>>> {
    let mut partial: Vec<Vec<ScopeId>> = vec![Vec::new()];
    for &needed in required {
        let providers: Vec<ScopeId> = catalog
            .iter()
            .map(|(id, _)| id)
            .filter(|&id| catalog.implies(id, needed))
            .collect();
        let candidates: usize = partial
            .iter()
            .map(|set| {
                if set.iter().any(|&held| catalog.implies(held, needed)) {
                    1
                } else {
                    providers.len()
                }
            })
            .sum();
        if candidates > MAX_CANDIDATES {
            return None;
        }
        let mut next = Vec::with_capacity(candidates);
        for set in partial {
            if set.iter().any(|&held| catalog.implies(held, needed)) {
                next.push(set);
                continue;
            }
            for &provider in &providers {
                let mut grown = set.clone();
                grown.push(provider);
                grown.sort();
                next.push(grown);
            }
        }
        minimize(&mut next);
        if next.len() > MAX_SETS {
            return None;
        }
        partial = next;
    }
    Some(partial)
}

/// Keeps the minimal sets: no duplicates, no superset of another member.
/// Every set is sorted.
fn minimize<T: Ord>(sets: &mut Vec<Vec<T>>) {
    sets.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
    sets.dedup();
    let mut kept: Vec<Vec<T>> = Vec::with_capacity(sets.len());
    for set in sets.drain(..) {
        let as_set: BTreeSet<&T> = set.iter().collect();
        // Sorted by size: only an earlier (smaller or equal) set can be a subset.
        if !kept
            .iter()
            .any(|smaller| smaller.iter().all(|id| as_set.contains(id)))
        {
            kept.push(set);
        }
    }
    *sets = kept;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn grants(source: &str, target: &str) -> Grants {
        let table = mcp_policy_lang::compile_source(source).table.unwrap();
        let rule = table
            .rules()
            .iter()
            .find(|rule| rule.text.contains(target))
            .unwrap();
        Grants::of_effect(table.scopes(), &rule.effect, &rule.text).unwrap()
    }

    const SCOPES: &str = r#"
        scope r level read
        scope w level write implies r
        scope a level admin implies w
        scope x level resource
        scope y level resource
    "#;

    fn names(sets: &[&[&str]]) -> Vec<Vec<String>> {
        sets.iter()
            .map(|set| set.iter().map(|s| (*s).to_owned()).collect())
            .collect()
    }

    #[test]
    fn implications_add_the_scopes_that_imply() {
        let g = grants(&format!("{SCOPES} tool t requires r"), "tool t");
        assert_eq!(g.sets(), names(&[&["a"], &["r"], &["w"]]));
        assert_eq!(g.single_scopes().collect::<Vec<_>>(), ["a", "r", "w"]);
    }

    #[test]
    fn one_scope_implying_two_needed_ones_is_one_set() {
        let g = grants(
            &format!("{SCOPES} tool t requires all_of(r, w, x)"),
            "tool t",
        );
        // `w` implies `r`, so {w, x} suffices; {r, w, x} is not minimal.
        assert_eq!(g.sets(), names(&[&["a", "x"], &["w", "x"]]));
        assert_eq!(g.combinations().count(), 2);
        assert!(g.grants(&["w".into(), "x".into(), "y".into()]));
        assert!(!g.grants(&["w".into()]));
    }

    #[test]
    fn equivalent_requirements_have_equal_grants() {
        let dnf = grants(
            &format!("{SCOPES} tool t requires any_of(all_of(x, r), all_of(x, y), all_of(x, a))"),
            "tool t",
        );
        let factored = grants(
            &format!("{SCOPES} tool t requires all_of(x, any_of(r, y))"),
            "tool t",
        );
        assert_eq!(dnf, factored);
    }

    #[test]
    fn deny_authenticated_and_defaults() {
        let deny = grants(&format!("{SCOPES} deny tool t"), "tool t");
        assert!(deny.is_nothing());
        let any = grants(&format!("{SCOPES} tool t requires authenticated"), "tool t");
        assert!(any.is_any_token());
        assert!(any.grants(&[]));
        assert_eq!(Grants::of_default(DefaultEffect::Allow), any);
        assert_eq!(Grants::of_default(DefaultEffect::Deny), deny);
    }

    #[test]
    fn a_combinatorial_requirement_is_refused_at_once() {
        // 8 required scopes with two providers each, and a 9th that 300
        // scopes imply: 256 sets times 300 before any could be pruned.
        let mut source = String::new();
        let mut needed = Vec::new();
        for i in 0..8 {
            source.push_str(&format!(
                "scope s{i} level read\nscope p{i} level read implies s{i}\n"
            ));
            needed.push(format!("s{i}"));
        }
        source.push_str("scope t level read\n");
        for i in 0..300 {
            source.push_str(&format!("scope q{i} level read implies t\n"));
        }
        needed.push("t".into());
        source.push_str(&format!("tool x requires all_of({})\n", needed.join(", ")));
        let table = mcp_policy_lang::compile_source(&source).table.unwrap();
        let rule = table.rules().first().unwrap();
        assert_eq!(
            Grants::of_effect(table.scopes(), &rule.effect, &rule.text),
            Err(TooManySets {
                rule: rule.text.clone()
            })
        );
    }

    #[test]
    fn not_granted_by_names_the_tokens_that_lose() {
        let before = grants(&format!("{SCOPES} tool t requires any_of(r, x)"), "tool t");
        let after = grants(&format!("{SCOPES} tool t requires r"), "tool t");
        assert_eq!(before.not_granted_by(&after), [["x".to_owned()]]);
        assert!(after.not_granted_by(&before).is_empty());
    }
}
