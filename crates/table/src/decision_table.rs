//! The decision table and its hot path.
//!
//! A decision is one hash lookup (exact names), or on a miss a scan of the
//! kind's globs in precedence order, then for an allow rule a check of its
//! clauses: `clause & !held == 0` word by word. Nothing on this path
//! allocates.

use std::fmt;
use std::ops::Range;

use serde::{Deserialize, Serialize};

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
/// scopes that must all be held.
///
/// Conditions on token claims and on tool arguments will sit beside the mask
/// as an optional predicate; the artifact format is versioned for that day.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Clause {
    /// Sorted, without repeats, none implied by another member.
    pub scopes: Vec<ScopeId>,
}

/// What a rule does when it matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Allow when any clause is satisfied. A clause with no scopes is
    /// satisfied by every valid token (`authenticated`).
    Allow(Vec<Clause>),
    Deny,
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
struct Entry {
    rule: RuleId,
    /// The rule's clauses in `masks`, counted in clauses; empty for a deny.
    clauses_start: u32,
    clauses_end: u32,
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
struct KindIndex {
    /// Name → the rule that decides it, with denies already applied.
    exact: NameMap<Entry>,
    /// Deny globs first, then allow globs from most to least specific.
    globs: Vec<GlobEntry>,
}

impl KindIndex {
    #[inline]
    fn find(&self, name: &str) -> Option<Entry> {
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
    rules: Vec<Rule>,
    /// Clause masks, `scopes.words()` words each.
    masks: Vec<u64>,
    /// Per rule, the range of its clauses in `masks` (counted in clauses).
    clause_ranges: Vec<Range<u32>>,
    kinds: [KindIndex; 3],
}

/// Why a table could not be built from its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildError {
    UnknownScope { rule: String, index: u32 },
    EmptyAllow { rule: String },
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
            BuildError::EmptyAllow { rule } => write!(f, "rule `{rule}` allows on no clause"),
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
        let words = scopes.words();
        let mut masks = Vec::new();
        let mut clause_ranges = Vec::with_capacity(rules.len());
        for rule in &rules {
            let start = (masks.len() / words) as u32;
            if let Effect::Allow(clauses) = &rule.effect {
                if clauses.is_empty() {
                    return Err(BuildError::EmptyAllow {
                        rule: rule.text.clone(),
                    });
                }
                for clause in clauses {
                    let mut mask = vec![0u64; words];
                    for scope in &clause.scopes {
                        let word = mask
                            .get_mut(scope.index() / 64)
                            .filter(|_| scope.index() < scopes.len());
                        match word {
                            Some(word) => *word |= 1u64 << (scope.0 % 64),
                            None => {
                                return Err(BuildError::UnknownScope {
                                    rule: rule.text.clone(),
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
            rules,
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

    /// The rule that decides `name`, if any. Denies win, then exact names,
    /// then the most specific glob.
    #[inline]
    pub fn matching_rule(&self, kind: TargetKind, name: &str) -> Option<RuleId> {
        self.kinds
            .get(kind.slot())?
            .find(name)
            .map(|entry| entry.rule)
    }

    /// Decides one request. Does not allocate.
    #[inline]
    pub fn decide(&self, kind: TargetKind, name: &str, held: &ScopeSet) -> Decision {
        if held.fingerprint != self.scopes.fingerprint() {
            return Decision {
                allowed: false,
                basis: Basis::ForeignScopeSet,
            };
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
    fn clauses_allow(&self, entry: Entry, held: &ScopeSet) -> bool {
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
