//! Scopes as bit positions.
//!
//! Every declared scope gets an index; a set of scopes is a bitmask of
//! `words` 64-bit words, so a policy may declare any number of scopes. The
//! `implies` relation is closed transitively when the table is built: a token
//! that holds `mcp:admin` holds, as a bitmask, everything `mcp:admin` implies.

use std::fmt;
use std::hash::{BuildHasher, Hasher};

use serde::{Deserialize, Serialize};

use crate::names::{self, NameKey, NameMap};

/// The index of a declared scope in its table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ScopeId(pub u32);

impl ScopeId {
    pub(crate) fn index(self) -> usize {
        self.0 as usize
    }
    fn word(self) -> usize {
        self.index() / 64
    }
    fn bit(self) -> u64 {
        1u64 << (self.0 % 64)
    }
}

/// What kind of access a scope stands for. Lints and the HTTP layer use it
/// (the `read` scopes are the baseline a client asks for first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Read,
    Write,
    Admin,
    Resource,
    #[serde(rename = "oauth")]
    OAuth,
}

impl Level {
    pub const ALL: [Level; 5] = [
        Level::Read,
        Level::Write,
        Level::Admin,
        Level::Resource,
        Level::OAuth,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Read => "read",
            Level::Write => "write",
            Level::Admin => "admin",
            Level::Resource => "resource",
            Level::OAuth => "oauth",
        }
    }

    pub fn from_keyword(word: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|level| level.as_str() == word)
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One declared scope, as the table keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeInfo {
    pub name: String,
    pub level: Level,
    pub description: Option<String>,
    /// The scopes this one implies directly, as written.
    pub implies: Vec<ScopeId>,
}

/// A set of scopes as a bitmask, tied to the catalog that made it.
///
/// Parse a token's scopes into a `ScopeSet` once (see
/// [`ScopeCatalog::parse_scope_string`]) and reuse it for every decision on
/// that token. The set is already closed under `implies`. Policies of up to
/// 128 scopes keep the set inline: making one does not allocate.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ScopeSet {
    /// Identifies the catalog's scope numbering; a set made for another
    /// numbering must not be read against this one (see `DecisionTable::decide`).
    pub(crate) fingerprint: u64,
    words: Words,
}

/// How many words a set keeps inline.
const INLINE_WORDS: usize = 2;

/// The bits: inline for small catalogs, on the heap beyond.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Words {
    Inline { words: [u64; INLINE_WORDS], len: u8 },
    Heap(Box<[u64]>),
}

impl ScopeSet {
    pub(crate) fn empty(fingerprint: u64, words: usize) -> ScopeSet {
        let words = if words <= INLINE_WORDS {
            Words::Inline {
                words: [0; INLINE_WORDS],
                len: words as u8,
            }
        } else {
            Words::Heap(vec![0; words].into_boxed_slice())
        };
        ScopeSet { fingerprint, words }
    }

    pub fn contains(&self, scope: ScopeId) -> bool {
        self.words()
            .get(scope.word())
            .is_some_and(|word| word & scope.bit() != 0)
    }

    pub fn is_empty(&self) -> bool {
        self.words().iter().all(|word| *word == 0)
    }

    /// `true` when every scope of `self` is in `other`.
    pub fn is_subset(&self, other: &ScopeSet) -> bool {
        mask_subset(self.words(), other.words())
    }

    /// How many scopes the set holds.
    pub fn len(&self) -> usize {
        self.words()
            .iter()
            .map(|word| word.count_ones() as usize)
            .sum()
    }

    /// The scopes in the set, in index order.
    pub fn iter(&self) -> impl Iterator<Item = ScopeId> + '_ {
        mask_iter(self.words())
    }

    #[inline]
    pub(crate) fn words(&self) -> &[u64] {
        match &self.words {
            Words::Inline { words, len } => words.get(..usize::from(*len)).unwrap_or(words),
            Words::Heap(words) => words,
        }
    }

    fn words_mut(&mut self) -> &mut [u64] {
        match &mut self.words {
            Words::Inline { words, len } => {
                let len = usize::from(*len).min(INLINE_WORDS);
                words.get_mut(..len).unwrap_or_default()
            }
            Words::Heap(words) => words,
        }
    }

    pub(crate) fn union_mask(&mut self, mask: &[u64]) {
        for (word, add) in self.words_mut().iter_mut().zip(mask) {
            *word |= add;
        }
    }
}

impl fmt::Debug for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter().map(|s| s.0)).finish()
    }
}

/// The scope indices set in a mask.
pub(crate) fn mask_iter(words: &[u64]) -> impl Iterator<Item = ScopeId> + '_ {
    words.iter().enumerate().flat_map(|(w, word)| {
        let mut rest = *word;
        std::iter::from_fn(move || {
            if rest == 0 {
                return None;
            }
            let bit = rest.trailing_zeros();
            rest &= rest - 1;
            Some(ScopeId(w as u32 * 64 + bit))
        })
    })
}

/// `true` when every bit of `required` is set in `held`.
#[inline]
pub(crate) fn mask_subset(required: &[u64], held: &[u64]) -> bool {
    required
        .iter()
        .zip(held)
        .all(|(need, have)| need & !have == 0)
}

/// The declared scopes of a policy, their names, and the `implies` closure.
#[derive(Clone, Debug)]
pub struct ScopeCatalog {
    infos: Vec<ScopeInfo>,
    by_name: NameMap<ScopeId>,
    /// Flattened: the closure of scope `i` is `closures[i*words..(i+1)*words]`,
    /// the scope itself included.
    closures: Vec<u64>,
    words: usize,
    fingerprint: u64,
}

/// Why a catalog could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CatalogError {
    DuplicateScope(String),
    ImpliesOutOfRange { scope: String, index: u32 },
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CatalogError::DuplicateScope(name) => write!(f, "scope `{name}` is declared twice"),
            CatalogError::ImpliesOutOfRange { scope, index } => {
                write!(
                    f,
                    "scope `{scope}` implies scope #{index}, which does not exist"
                )
            }
        }
    }
}

impl ScopeCatalog {
    /// Interns the scopes in order (scope `i` gets bit `i`) and closes
    /// `implies` transitively. Cycles are tolerated here (every member of a
    /// cycle implies every other); the language reports them as errors.
    pub fn new(infos: Vec<ScopeInfo>) -> Result<ScopeCatalog, CatalogError> {
        let words = infos.len().div_ceil(64).max(1);
        let mut by_name = NameMap::default();
        for (index, info) in infos.iter().enumerate() {
            let id = ScopeId(index as u32);
            if by_name.insert(NameKey::new(&info.name), id).is_some() {
                return Err(CatalogError::DuplicateScope(info.name.clone()));
            }
            if let Some(bad) = info.implies.iter().find(|s| s.index() >= infos.len()) {
                return Err(CatalogError::ImpliesOutOfRange {
                    scope: info.name.clone(),
                    index: bad.0,
                });
            }
        }
        let closures = transitive_closure(&infos, words);
        let fingerprint = fingerprint(&infos, &closures);
        Ok(ScopeCatalog {
            infos,
            by_name,
            closures,
            words,
            fingerprint,
        })
    }

    pub fn len(&self) -> usize {
        self.infos.len()
    }

    pub fn is_empty(&self) -> bool {
        self.infos.is_empty()
    }

    /// How many 64-bit words one scope set takes.
    pub fn words(&self) -> usize {
        self.words
    }

    /// Identifies this numbering of scopes and their closure: two catalogs
    /// with the same fingerprint give the same meaning to a [`ScopeSet`].
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    #[inline]
    pub fn lookup(&self, name: &str) -> Option<ScopeId> {
        names::get(&self.by_name, name).copied()
    }

    pub fn info(&self, id: ScopeId) -> Option<&ScopeInfo> {
        self.infos.get(id.index())
    }

    pub fn name(&self, id: ScopeId) -> &str {
        self.info(id).map_or("", |info| info.name.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (ScopeId, &ScopeInfo)> {
        self.infos
            .iter()
            .enumerate()
            .map(|(i, info)| (ScopeId(i as u32), info))
    }

    /// The closure of one scope (itself and all it implies) as a mask.
    pub(crate) fn closure_mask(&self, id: ScopeId) -> &[u64] {
        let start = id.index() * self.words;
        self.closures
            .get(start..start + self.words)
            .unwrap_or_default()
    }

    /// The closure of one scope as a set.
    pub fn closure(&self, id: ScopeId) -> ScopeSet {
        self.set_of([id])
    }

    /// `true` when holding `a` means holding `b` (every scope implies itself).
    pub fn implies(&self, a: ScopeId, b: ScopeId) -> bool {
        self.closure_mask(a)
            .get(b.word())
            .is_some_and(|word| word & b.bit() != 0)
    }

    pub fn empty_set(&self) -> ScopeSet {
        ScopeSet::empty(self.fingerprint, self.words)
    }

    /// The set a token holds, from its scope names; closed under `implies`.
    /// Names this policy does not declare are ignored: they grant nothing here.
    pub fn scope_set<'a, I>(&self, names: I) -> ScopeSet
    where
        I: IntoIterator<Item = &'a str>,
    {
        let ids = names.into_iter().filter_map(|name| self.lookup(name));
        if self.words == 1 {
            // Nearly every policy: OR single-word closures, no slicing.
            let bits = ids
                .filter_map(|id| self.closures.get(id.index()))
                .fold(0, |bits, closure| bits | closure);
            let mut set = self.empty_set();
            set.union_mask(&[bits]);
            return set;
        }
        self.set_of(ids)
    }

    /// Parses an OAuth `scope` value (RFC 6749 §3.3: scope tokens separated
    /// by spaces). Runs of spaces are tolerated, as some servers send them;
    /// any other character, a tab included, belongs to a token (no scope
    /// token may hold one, so such a token matches nothing).
    pub fn parse_scope_string(&self, scope: &str) -> ScopeSet {
        self.scope_set(scope_tokens(scope))
    }

    /// The set holding exactly `ids` and what they imply.
    pub fn set_of(&self, ids: impl IntoIterator<Item = ScopeId>) -> ScopeSet {
        let mut set = self.empty_set();
        for id in ids {
            set.union_mask(self.closure_mask(id));
        }
        set
    }
}

/// The space-separated tokens of a `scope` value, empty ones skipped. A
/// byte scan: `str::split(' ')` confirms each match with a `memcmp` call,
/// which costs more than these short tokens.
pub fn scope_tokens(scope: &str) -> impl Iterator<Item = &str> {
    let mut rest = scope;
    std::iter::from_fn(move || {
        loop {
            if rest.is_empty() {
                return None;
            }
            let end = rest.bytes().position(|b| b == b' ').unwrap_or(rest.len());
            // A space is one byte, so both cuts fall on character boundaries.
            let token = rest.get(..end).unwrap_or_default();
            rest = rest.get(end + 1..).unwrap_or_default();
            if !token.is_empty() {
                return Some(token);
            }
        }
    })
}

/// Closes `implies` by iterating to a fixpoint: simple, and policies have at
/// most a few hundred scopes, so the quadratic worst case does not matter.
fn transitive_closure(infos: &[ScopeInfo], words: usize) -> Vec<u64> {
    let mut closures = vec![0u64; infos.len() * words];
    for (index, _) in infos.iter().enumerate() {
        let id = ScopeId(index as u32);
        if let Some(word) = closures.get_mut(index * words + id.word()) {
            *word |= id.bit();
        }
    }
    let mut changed = true;
    while changed {
        changed = false;
        for (index, info) in infos.iter().enumerate() {
            for implied in &info.implies {
                for w in 0..words {
                    let add = closures.get(implied.index() * words + w).copied();
                    if let (Some(add), Some(word)) = (add, closures.get_mut(index * words + w))
                        && *word | add != *word
                    {
                        *word |= add;
                        changed = true;
                    }
                }
            }
        }
    }
    closures
}

/// A stable (not randomised) hash of the names and closures: a scope set
/// from a reloaded policy with the same scopes stays valid.
fn fingerprint(infos: &[ScopeInfo], closures: &[u64]) -> u64 {
    let mut hasher = foldhash::fast::FixedState::with_seed(0x6d63_702d_706f_6c69).build_hasher();
    hasher.write_usize(infos.len());
    for info in infos {
        hasher.write(info.name.as_bytes());
        hasher.write_u8(0xff);
    }
    for word in closures {
        hasher.write_u64(*word);
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, implies: &[u32]) -> ScopeInfo {
        ScopeInfo {
            name: name.into(),
            level: Level::Read,
            description: None,
            implies: implies.iter().map(|i| ScopeId(*i)).collect(),
        }
    }

    #[test]
    fn closure_is_transitive() {
        // admin -> write -> read
        let catalog = ScopeCatalog::new(vec![
            info("read", &[]),
            info("write", &[0]),
            info("admin", &[1]),
        ])
        .unwrap();
        let set = catalog.parse_scope_string("admin");
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            [ScopeId(0), ScopeId(1), ScopeId(2)]
        );
        assert!(catalog.implies(ScopeId(2), ScopeId(0)));
        assert!(!catalog.implies(ScopeId(0), ScopeId(2)));
    }

    #[test]
    fn unknown_scopes_are_ignored_and_runs_of_spaces_tolerated() {
        let catalog = ScopeCatalog::new(vec![info("a", &[]), info("b", &[])]).unwrap();
        let set = catalog.parse_scope_string("  zzz b  nope ");
        assert_eq!(set.iter().collect::<Vec<_>>(), [ScopeId(1)]);
        // Only spaces separate (RFC 6749 §3.3): `a\tb` is one token, and no
        // declared scope.
        assert!(catalog.parse_scope_string("a\tb").is_empty());
    }

    #[test]
    fn scope_tokens_split_on_spaces_only() {
        fn tokens(s: &str) -> Vec<&str> {
            scope_tokens(s).collect()
        }
        assert_eq!(tokens("a b"), ["a", "b"]);
        assert_eq!(tokens("  a   b  "), ["a", "b"]);
        assert_eq!(tokens("a\tb é"), ["a\tb", "é"]);
        assert!(tokens("").is_empty() && tokens("   ").is_empty());
    }

    #[test]
    fn more_than_64_scopes_use_more_words() {
        let infos: Vec<_> = (0..130)
            .map(|i| info(&format!("s{i}"), if i == 129 { &[0, 70] } else { &[] }))
            .collect();
        let catalog = ScopeCatalog::new(infos).unwrap();
        assert_eq!(catalog.words(), 3);
        let set = catalog.parse_scope_string("s129");
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            [ScopeId(0), ScopeId(70), ScopeId(129)]
        );
    }

    #[test]
    fn duplicate_and_dangling_scopes_are_rejected() {
        assert_eq!(
            ScopeCatalog::new(vec![info("a", &[]), info("a", &[])]).unwrap_err(),
            CatalogError::DuplicateScope("a".into())
        );
        assert!(matches!(
            ScopeCatalog::new(vec![info("a", &[5])]).unwrap_err(),
            CatalogError::ImpliesOutOfRange { .. }
        ));
    }

    #[test]
    fn fingerprint_follows_numbering_not_identity() {
        let a = ScopeCatalog::new(vec![info("x", &[]), info("y", &[0])]).unwrap();
        let b = ScopeCatalog::new(vec![info("x", &[]), info("y", &[0])]).unwrap();
        let c = ScopeCatalog::new(vec![info("y", &[]), info("x", &[0])]).unwrap();
        let d = ScopeCatalog::new(vec![info("x", &[]), info("y", &[])]).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), c.fingerprint());
        assert_ne!(a.fingerprint(), d.fingerprint());
    }
}
