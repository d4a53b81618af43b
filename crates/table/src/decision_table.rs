//! The decision table and its hot path.
//!
//! A decision is one hash lookup (exact names), or on a miss a scan of the
//! kind's globs in precedence order, then for an allow rule a check of its
//! clauses: `clause & !held == 0` word by word. Nothing on this path
//! allocates.
//!
//! A table with conditions (atoms in a clause, or a `deny ... when`) takes
//! another path, in `conditional.rs`; a table without any keeps this one,
//! behind one test of a flag.

use std::fmt;
use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::condition::{AtomCatalog, AtomId, Context};
use crate::glob::Glob;
use crate::glob_index::GlobIndex;
use crate::method::TargetKind;
use crate::names::{self, NameKey, NameMap};
use crate::scope::{ScopeCatalog, ScopeId, ScopeSet, mask_subset};

/// What applies when no rule matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DefaultEffect {
    #[default]
    Deny,
    Allow,
}

/// The index of a rule in its table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RuleId(pub u32);

/// A rule's target: one name, or a pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Exact(String),
    Glob(Glob),
}

impl Target {
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Target::Exact(exact) => exact == name,
            Target::Glob(glob) => glob.matches(name),
        }
    }
}

/// One conjunct of a rule's requirement in disjunctive normal form: the
/// scopes that must all be held, and the condition atoms that must all be
/// true.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Clause {
    /// Sorted, without repeats, none implied by another member.
    pub scopes: Vec<ScopeId>,
    /// Atoms of the table's [`AtomCatalog`]; empty for a clause of scopes
    /// only. The table sorts them cheapest first ([`crate::Atom::cost`],
    /// then id) and drops repeats.
    pub atoms: Vec<AtomId>,
}

impl Clause {
    /// A clause of scopes only.
    pub fn of_scopes(scopes: Vec<ScopeId>) -> Clause {
        Clause {
            scopes,
            atoms: Vec::new(),
        }
    }
}

/// What a rule does when it matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Allow when any clause is satisfied. A clause with no scopes is
    /// satisfied by every valid token (`authenticated`).
    Allow(Vec<Clause>),
    /// Deny, unconditionally.
    Deny,
    /// `deny ... when COND`: deny when the condition, in disjunctive normal
    /// form (any conjunct whose atoms all hold), is true. Otherwise the
    /// rule does not apply, and the decision falls through to the rule that
    /// would decide without it. An atom whose operand is missing is false
    /// here too, so the deny does not fire on a missing value. Neither the
    /// condition nor a conjunct is empty (an always-true condition is
    /// [`Effect::Deny`]).
    DenyWhen(Vec<Vec<AtomId>>),
}

/// A rule of the table, with what explains it to a person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub kind: TargetKind,
    pub target: Target,
    pub effect: Effect,
    /// The rule as written, on one line (for messages and `explain`).
    pub text: String,
    /// 1-based line in the policy source.
    pub line: u32,
}

/// Why a decision came out as it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Basis {
    /// This rule matched the name.
    Rule(RuleId),
    /// No rule matched; the policy's default applied.
    Default,
    /// The scope set was made by a table with another scope numbering: the
    /// table cannot read it, and denies (fail closed).
    ForeignScopeSet,
}

/// The answer to one request. `Copy`, so the hot path hands it back by value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub basis: Basis,
}

/// What the hot path needs of a rule, stored where it is found (in the map
/// or the glob list) so a decision reads no other table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) rule: RuleId,
    /// The rule's clauses in `masks`, counted in clauses; empty for a deny.
    pub(crate) clauses_start: u32,
    pub(crate) clauses_end: u32,
}

/// A glob in the precedence list, with its first literal byte: most names
/// fail that one comparison, without reaching the pattern.
#[derive(Clone, Debug)]
struct GlobEntry {
    first_byte: Option<u8>,
    glob: Glob,
    entry: Entry,
}

impl GlobEntry {
    #[inline]
    fn accepts(&self, name: &str) -> bool {
        match self.first_byte {
            Some(byte) if name.as_bytes().first() != Some(&byte) => false,
            _ => self.glob.matches(name),
        }
    }
}

/// Per kind of target: exact names in a hash map, globs in precedence order.
#[derive(Clone, Debug, Default)]
pub(crate) struct KindIndex {
    /// Name → the rule that decides it, with unconditional denies already
    /// applied (`deny ... when` rules are not in it).
    exact: NameMap<Entry>,
    /// Deny globs first, then allow globs from most to least specific.
    globs: Vec<GlobEntry>,
    /// The `deny ... when` rules with an exact target, by name, in source
    /// order; empty for a policy without them.
    pub(crate) deny_when_exact: NameMap<Vec<RuleId>>,
    /// The `deny ... when` rules with a glob target, in source order.
    pub(crate) deny_when_globs: Vec<(Glob, RuleId)>,
}

impl KindIndex {
    #[inline]
    pub(crate) fn find(&self, name: &str) -> Option<Entry> {
        if let Some(entry) = names::get(&self.exact, name) {
            return Some(*entry);
        }
        self.globs
            .iter()
            .find(|glob| glob.accepts(name))
            .map(|glob| glob.entry)
    }
}

/// A compiled policy. Plain data: `Send + Sync`, cheap to share in an `Arc`.
#[derive(Clone, Debug)]
pub struct DecisionTable {
    name: Option<String>,
    /// The source file the table was compiled from, as `compile` was given
    /// it: rule lines are lines of that file.
    source: Option<String>,
    default: DefaultEffect,
    scopes: ScopeCatalog,
    atoms: AtomCatalog,
    rules: Vec<Rule>,
    /// `true` when a clause has atoms or a rule is a `deny ... when`: then
    /// decisions take the conditional path.
    conditional: bool,
    /// Per clause (numbered as in `masks`), its atoms, cheapest first.
    clause_atoms: Vec<Box<[AtomId]>>,
    /// Clause masks, `scopes.words()` words each.
    masks: Vec<u64>,
    /// Per rule, the range of its clauses in `masks` (counted in clauses).
    clause_ranges: Vec<Range<u32>>,
    kinds: [KindIndex; 3],
}

impl DecisionTable {
    pub(crate) fn kind_index(&self, kind: TargetKind) -> Option<&KindIndex> {
        self.kinds.get(kind.slot())
    }

    /// The atoms of a clause, numbered as in `masks`.
    pub(crate) fn clause_atoms(&self, clause: u32) -> &[AtomId] {
        self.clause_atoms
            .get(clause as usize)
            .map_or(&[], |atoms| atoms)
    }

    /// The mask of a clause, numbered as in `masks`.
    pub(crate) fn clause_mask(&self, clause: u32) -> &[u64] {
        let words = self.scopes.words();
        let start = clause as usize * words;
        self.masks.get(start..start + words).unwrap_or_default()
    }
}

/// Why a table could not be built from its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildError {
    UnknownScope {
        rule: String,
        index: u32,
    },
    UnknownAtom {
        rule: String,
        index: u32,
    },
    EmptyAllow {
        rule: String,
    },
    /// A `deny ... when` with no conjunct, or an empty one.
    EmptyCondition {
        rule: String,
    },
    Catalog(crate::scope::CatalogError),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::UnknownScope { rule, index } => {
                write!(
                    f,
                    "rule `{rule}` names scope #{index}, which does not exist"
                )
            }
            BuildError::UnknownAtom { rule, index } => {
                write!(f, "rule `{rule}` names atom #{index}, which does not exist")
            }
            BuildError::EmptyAllow { rule } => write!(f, "rule `{rule}` allows on no clause"),
            BuildError::EmptyCondition { rule } => {
                write!(f, "rule `{rule}` has an empty deny condition")
            }
            BuildError::Catalog(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for BuildError {}

impl DecisionTable {
    /// Builds the table and its indexes. Both the compiler and the artifact
    /// loader come through here, so a table is always checked the same way.
    pub fn new(
        name: Option<String>,
        default: DefaultEffect,
        scopes: ScopeCatalog,
        rules: Vec<Rule>,
    ) -> Result<DecisionTable, BuildError> {
        DecisionTable::with_atoms(name, default, scopes, AtomCatalog::new(), rules)
    }

    /// Builds a table whose rules name condition atoms of `atoms`. Sorts
    /// each clause's and each conjunct's atoms cheapest first.
    pub fn with_atoms(
        name: Option<String>,
        default: DefaultEffect,
        scopes: ScopeCatalog,
        atoms: AtomCatalog,
        mut rules: Vec<Rule>,
    ) -> Result<DecisionTable, BuildError> {
        let words = scopes.words();
        let mut masks = Vec::new();
        let mut clause_ranges = Vec::with_capacity(rules.len());
        let mut clause_atoms = Vec::new();
        let mut conditional = false;
        for rule in &mut rules {
            let start = (masks.len() / words) as u32;
            let text = &rule.text;
            let order = |ids: &mut Vec<AtomId>| -> Result<(), BuildError> {
                if let Some(bad) = ids.iter().find(|id| id.index() >= atoms.len()) {
                    return Err(BuildError::UnknownAtom {
                        rule: text.clone(),
                        index: bad.0,
                    });
                }
                ids.sort_by_key(|id| (atoms.atom(*id).map_or(u8::MAX, |a| a.cost()), *id));
                ids.dedup();
                Ok(())
            };
            if let Effect::DenyWhen(condition) = &mut rule.effect {
                if condition.is_empty() || condition.iter().any(Vec::is_empty) {
                    return Err(BuildError::EmptyCondition { rule: text.clone() });
                }
                for conjunct in condition.iter_mut() {
                    order(conjunct)?;
                }
                conditional = true;
            }
            if let Effect::Allow(clauses) = &mut rule.effect {
                if clauses.is_empty() {
                    return Err(BuildError::EmptyAllow { rule: text.clone() });
                }
                for clause in clauses.iter_mut() {
                    order(&mut clause.atoms)?;
                    conditional |= !clause.atoms.is_empty();
                    clause_atoms.push(clause.atoms.clone().into_boxed_slice());
                }
                for clause in clauses.iter() {
                    let mut mask = vec![0u64; words];
                    for scope in &clause.scopes {
                        let word = mask
                            .get_mut(scope.index() / 64)
                            .filter(|_| scope.index() < scopes.len());
                        match word {
                            Some(word) => *word |= 1u64 << (scope.0 % 64),
                            None => {
                                return Err(BuildError::UnknownScope {
                                    rule: text.clone(),
                                    index: scope.0,
                                });
                            }
                        }
                    }
                    masks.extend(mask);
                }
            }
            clause_ranges.push(start..(masks.len() / words) as u32);
        }
        let kinds = TargetKind::ALL.map(|kind| index_kind(&rules, &clause_ranges, kind));
        Ok(DecisionTable {
            name,
            source: None,
            default,
            scopes,
            atoms,
            rules,
            conditional,
            clause_atoms,
            masks,
            clause_ranges,
            kinds,
        })
    }

    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Records the source file the table was compiled from (kept in its
    /// artifact), so a rule's line can be named `file:line`.
    pub fn with_source(mut self, path: impl Into<String>) -> DecisionTable {
        self.source = Some(path.into());
        self
    }

    /// The source file the table was compiled from, when recorded.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    pub fn default_effect(&self) -> DefaultEffect {
        self.default
    }

    pub fn scopes(&self) -> &ScopeCatalog {
        &self.scopes
    }

    /// The condition atoms the rules name.
    pub fn atoms(&self) -> &AtomCatalog {
        &self.atoms
    }

    /// `true` when some rule has a condition (an atom in a clause, or a
    /// `deny ... when`).
    pub fn has_conditions(&self) -> bool {
        self.conditional
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn rule(&self, id: RuleId) -> Option<&Rule> {
        self.rules.get(id.0 as usize)
    }

    /// Parses a token's `scope` string into the set this table reads.
    pub fn parse_scopes(&self, scope: &str) -> ScopeSet {
        self.scopes.parse_scope_string(scope)
    }

    /// The rule that decides `name`, if any, before conditions: denies win,
    /// then exact names, then the most specific glob. A `deny ... when` is
    /// not counted here (whether it applies depends on the request: see
    /// [`DecisionTable::decide_in`]).
    #[inline]
    pub fn matching_rule(&self, kind: TargetKind, name: &str) -> Option<RuleId> {
        self.kinds
            .get(kind.slot())?
            .find(name)
            .map(|entry| entry.rule)
    }

    /// Decides one request with no arguments and no claims (every
    /// condition atom is false). Does not allocate.
    #[inline]
    pub fn decide(&self, kind: TargetKind, name: &str, held: &ScopeSet) -> Decision {
        self.decide_in(kind, name, held, &Context::EMPTY)
    }

    /// Decides one request on its arguments and claims. Does not allocate.
    ///
    /// Precedence: an unconditional deny wins; then a `deny ... when` whose
    /// condition holds (exact targets before globs, each in source order);
    /// then the exact allow rule, then the most specific allow glob, then
    /// the default. An allow rule allows when one clause has its scopes
    /// held and its atoms true.
    #[inline]
    pub fn decide_in(
        &self,
        kind: TargetKind,
        name: &str,
        held: &ScopeSet,
        context: &Context<'_>,
    ) -> Decision {
        if held.fingerprint != self.scopes.fingerprint() {
            return Decision {
                allowed: false,
                basis: Basis::ForeignScopeSet,
            };
        }
        if self.conditional {
            return self.decide_conditional(kind, name, held, context);
        }
        match self
            .kinds
            .get(kind.slot())
            .and_then(|index| index.find(name))
        {
            Some(entry) => Decision {
                allowed: self.clauses_allow(entry, held),
                basis: Basis::Rule(entry.rule),
            },
            None => Decision {
                allowed: self.default == DefaultEffect::Allow,
                basis: Basis::Default,
            },
        }
    }

    /// `true` when the request is allowed. Does not allocate.
    #[inline]
    pub fn is_allowed(&self, kind: TargetKind, name: &str, held: &ScopeSet) -> bool {
        self.decide(kind, name, held).allowed
    }

    /// `true` when `held` satisfies one of the entry's clauses (a deny has
    /// none). Policies of up to 64 scopes, nearly all of them, take the
    /// one-word path: one AND and one compare per clause.
    #[inline]
    pub(crate) fn clauses_allow(&self, entry: Entry, held: &ScopeSet) -> bool {
        let words = self.scopes.words();
        let range = entry.clauses_start as usize * words..entry.clauses_end as usize * words;
        let Some(masks) = self.masks.get(range) else {
            return false;
        };
        match held.words() {
            [held] if words == 1 => masks.iter().any(|mask| mask & !held == 0),
            held => masks
                .chunks_exact(words)
                .any(|mask| mask_subset(mask, held)),
        }
    }

    /// The numbers of one rule's clauses (as in `masks`).
    pub(crate) fn clause_numbers(&self, rule: RuleId) -> Range<u32> {
        self.clause_ranges
            .get(rule.0 as usize)
            .cloned()
            .unwrap_or(0..0)
    }

    /// The masks of one rule's clauses.
    pub(crate) fn clause_masks(&self, rule: RuleId) -> impl Iterator<Item = &[u64]> {
        let words = self.scopes.words();
        let range = self
            .clause_ranges
            .get(rule.0 as usize)
            .cloned()
            .unwrap_or(0..0);
        let masks = self
            .masks
            .get(range.start as usize * words..range.end as usize * words)
            .unwrap_or_default();
        masks.chunks_exact(words)
    }
}

fn index_kind(rules: &[Rule], clause_ranges: &[Range<u32>], kind: TargetKind) -> KindIndex {
    let entry = |id: RuleId| {
        let range = clause_ranges.get(id.0 as usize).cloned().unwrap_or(0..0);
        Entry {
            rule: id,
            clauses_start: range.start,
            clauses_end: range.end,
        }
    };
    let mut index = KindIndex::default();
    let of_kind = || {
        rules
            .iter()
            .enumerate()
            .filter(move |(_, rule)| rule.kind == kind)
            .map(|(i, rule)| (RuleId(i as u32), rule))
    };
    let deny_globs: Vec<(&Glob, RuleId)> = of_kind()
        .filter_map(|(id, rule)| match (&rule.target, &rule.effect) {
            (Target::Glob(glob), Effect::Deny) => Some((glob, id)),
            _ => None,
        })
        .collect();
    // Exact names: a deny glob that matches the name takes it over, so the
    // lookup alone answers. An exact deny beats an exact allow of the same
    // name (the language rejects that pair; an artifact is not trusted to).
    // The first matching deny in source order is found among the few whose
    // literal ends fit the name (`GlobIndex`), not by trying every deny.
    let deny_index = GlobIndex::new(deny_globs.iter().map(|(glob, id)| (id.0, *glob)));
    for (id, rule) in of_kind() {
        if let (Target::Exact(name), Effect::DenyWhen(_)) = (&rule.target, &rule.effect) {
            index
                .deny_when_exact
                .entry(NameKey::new(name))
                .or_default()
                .push(id);
            continue;
        }
        if let Target::Exact(name) = &rule.target {
            let mut first_deny: Option<RuleId> = None;
            deny_index.within(name, name, |deny| {
                let deny = RuleId(deny);
                let matches = rules
                    .get(deny.0 as usize)
                    .is_some_and(|rule| rule.target.matches(name));
                if matches && first_deny.is_none_or(|first| deny < first) {
                    first_deny = Some(deny);
                }
            });
            let deciding = first_deny.unwrap_or(id);
            let slot = index
                .exact
                .entry(NameKey::new(name))
                .or_insert(entry(deciding));
            if rule.effect == Effect::Deny {
                *slot = entry(id);
            }
        }
    }
    let mut allow_globs: Vec<(&Glob, RuleId)> = of_kind()
        .filter_map(|(id, rule)| match (&rule.target, &rule.effect) {
            (Target::Glob(glob), Effect::Allow(_)) => Some((glob, id)),
            _ => None,
        })
        .collect();
    // Stable: equal specificity keeps source order (the language rejects
    // overlapping ties, so the order between them never shows).
    allow_globs.sort_by_key(|(glob, _)| std::cmp::Reverse(glob.specificity()));
    index.deny_when_globs = of_kind()
        .filter_map(|(id, rule)| match (&rule.target, &rule.effect) {
            (Target::Glob(glob), Effect::DenyWhen(_)) => Some((glob.clone(), id)),
            _ => None,
        })
        .collect();
    index.globs = deny_globs
        .into_iter()
        .chain(allow_globs)
        .map(|(glob, id)| GlobEntry {
            first_byte: glob.as_str().bytes().next().filter(|byte| *byte != b'*'),
            glob: glob.clone(),
            entry: entry(id),
        })
        .collect();
    index
}
