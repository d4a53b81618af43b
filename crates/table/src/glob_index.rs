//! Patterns indexed by their literal ends, so that questions over many
//! patterns ("which could match this name?", "which pairs could overlap?")
//! look only at the candidates whose ends fit, not at every pattern.
//!
//! A name matches a pattern only if the pattern's literal prefix (the text
//! before its first `*`) starts the name and its literal suffix (after the
//! last `*`) ends it. Two patterns can share a name only if one's prefix
//! starts the other's, and one's suffix ends the other's. The index finds
//! the patterns that pass these tests; callers still run the exact test
//! ([`Glob::matches`], [`Glob::overlap_witness`], [`Glob::is_subset_of`]):
//! the index prunes, it never decides.
//!
//! Lookups go by length: a policy's prefixes come in a few lengths, so
//! "every indexed prefix that starts this text" is one hash lookup per
//! distinct length, not a scan. What still costs is the answer itself:
//! patterns that share their literal ends (`a*x*b` and `a*y*b`) are all
//! candidates of each other.

use crate::glob::Glob;

/// foldhash, as for the table's name maps: these keys are short.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Patterns by literal prefix, then by literal suffix, each under a caller's
/// id (typically the pattern's rule index).
#[derive(Clone, Debug, Default)]
pub struct GlobIndex {
    /// The buckets, sorted by prefix: the prefixes that start with a given
    /// text are one range here.
    buckets: Vec<(Box<str>, Bucket)>,
    /// Prefix → its place in `buckets`.
    by_prefix: HashMap<Box<str>, usize>,
    /// The distinct byte lengths of the prefixes held, ascending.
    prefix_lengths: Vec<usize>,
    /// Every entry as inserted: id, prefix, suffix.
    entries: Vec<(u32, Box<str>, Box<str>)>,
}

/// The patterns of one literal prefix.
#[derive(Clone, Debug, Default)]
struct Bucket {
    by_suffix: HashMap<Box<str>, Vec<u32>>,
    /// The distinct byte lengths of the suffixes held, ascending.
    suffix_lengths: Vec<usize>,
    /// Each suffix reversed, with its id, sorted: the suffixes that end
    /// with a given text are one range here.
    reversed: Vec<(Box<[u8]>, u32)>,
}

impl GlobIndex {
    pub fn new<'g>(globs: impl IntoIterator<Item = (u32, &'g Glob)>) -> GlobIndex {
        let mut buckets: HashMap<Box<str>, Bucket> = HashMap::default();
        let mut index = GlobIndex::default();
        for (id, glob) in globs {
            let (prefix, suffix) = (glob.literal_prefix(), glob.literal_suffix());
            let bucket = buckets.entry(prefix.into()).or_default();
            bucket.by_suffix.entry(suffix.into()).or_default().push(id);
            bucket.suffix_lengths.push(suffix.len());
            bucket.reversed.push((reversed(suffix), id));
            index.prefix_lengths.push(prefix.len());
            index.entries.push((id, prefix.into(), suffix.into()));
        }
        index.prefix_lengths.sort_unstable();
        index.prefix_lengths.dedup();
        index.buckets = buckets.into_iter().collect();
        index.buckets.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (at, (prefix, bucket)) in index.buckets.iter_mut().enumerate() {
            bucket.suffix_lengths.sort_unstable();
            bucket.suffix_lengths.dedup();
            bucket.reversed.sort_unstable();
            index.by_prefix.insert(prefix.clone(), at);
        }
        index
    }

    fn bucket(&self, prefix: &str) -> Option<&Bucket> {
        let at = *self.by_prefix.get(prefix)?;
        self.buckets.get(at).map(|(_, bucket)| bucket)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Calls `found` with every id whose literal prefix starts `prefix`
    /// and whose literal suffix ends `suffix`, in no particular order.
    ///
    /// For a name, `within(name, name, ..)` gives the patterns that may
    /// match it. For a pattern `g`, `within(g.literal_prefix(),
    /// g.literal_suffix(), ..)` gives the patterns that may hold all of
    /// `g`'s names.
    pub fn within(&self, prefix: &str, suffix: &str, mut found: impl FnMut(u32)) {
        for &length in &self.prefix_lengths {
            let Some(start) = prefix.get(..length) else {
                if length > prefix.len() {
                    break;
                }
                continue;
            };
            let Some(bucket) = self.bucket(start) else {
                continue;
            };
            for &suffix_length in &bucket.suffix_lengths {
                let Some(end) = suffix
                    .len()
                    .checked_sub(suffix_length)
                    .and_then(|at| suffix.get(at..))
                else {
                    if suffix_length > suffix.len() {
                        break;
                    }
                    continue;
                };
                if let Some(ids) = bucket.by_suffix.get(end) {
                    ids.iter().copied().for_each(&mut found);
                }
            }
        }
    }

    /// Calls `found` once with every id whose pattern has literal ends
    /// compatible with `glob`'s (one prefix starts the other, one suffix
    /// ends the other): every pattern that can overlap `glob`, and more.
    pub fn compatible(&self, glob: &Glob, mut found: impl FnMut(u32)) {
        let (prefix, suffix) = (glob.literal_prefix(), glob.literal_suffix());
        let key = reversed(suffix);
        // Prefixes that start `prefix` (by length), then prefixes longer
        // than `prefix` that it starts (one range of the sorted buckets).
        let shorter = self
            .prefix_lengths
            .iter()
            .take_while(|length| **length <= prefix.len())
            .filter_map(|length| prefix.get(..*length))
            .filter_map(|start| self.bucket(start));
        let from = self
            .buckets
            .partition_point(|(other, _)| other.as_ref() < prefix);
        let longer = self
            .buckets
            .get(from..)
            .unwrap_or_default()
            .iter()
            .take_while(|(other, _)| other.starts_with(prefix))
            .filter(|(other, _)| other.len() > prefix.len())
            .map(|(_, bucket)| bucket);
        for bucket in shorter.chain(longer) {
            bucket.compatible(suffix, &key, &mut found);
        }
    }

    /// Every pair of ids whose patterns have compatible literal ends (one
    /// prefix starts the other, one suffix ends the other): the pairs that
    /// can overlap, and more. Each pair once, as `(smaller id, larger id)`,
    /// sorted; an id is never paired with itself.
    ///
    /// Each pair is found from the side with the longer prefix: its
    /// prefix's starts are looked up by length, and in each bucket found,
    /// the suffixes that end its suffix (by length) and the suffixes it
    /// ends (one range of the reversed suffixes).
    pub fn compatible_pairs(&self) -> Vec<(u32, u32)> {
        let mut pairs = Vec::new();
        for (id, prefix, suffix) in &self.entries {
            let mut add = |other: u32| {
                if other != *id {
                    pairs.push((other.min(*id), other.max(*id)));
                }
            };
            for &length in &self.prefix_lengths {
                if length > prefix.len() {
                    break;
                }
                let Some(bucket) = prefix.get(..length).and_then(|start| self.bucket(start)) else {
                    continue;
                };
                for &suffix_length in &bucket.suffix_lengths {
                    if suffix_length > suffix.len() {
                        break;
                    }
                    let end = suffix
                        .len()
                        .checked_sub(suffix_length)
                        .and_then(|at| suffix.get(at..));
                    if let Some(ids) = end.and_then(|end| bucket.by_suffix.get(end)) {
                        ids.iter().copied().for_each(&mut add);
                    }
                }
                let key = reversed(suffix);
                let from = bucket
                    .reversed
                    .partition_point(|(other, _)| other.as_ref() < key.as_ref());
                bucket
                    .reversed
                    .get(from..)
                    .unwrap_or_default()
                    .iter()
                    .take_while(|(other, _)| other.starts_with(&key))
                    .for_each(|(_, other)| add(*other));
            }
        }
        pairs.sort_unstable();
        pairs.dedup();
        pairs
    }
}

impl Bucket {
    /// Calls `found` once with every id whose suffix ends `suffix` or is
    /// ended by it.
    /// `key` is `suffix` reversed.
    fn compatible(&self, suffix: &str, key: &[u8], found: &mut impl FnMut(u32)) {
        for &length in &self.suffix_lengths {
            if length > suffix.len() {
                break;
            }
            let end = suffix
                .len()
                .checked_sub(length)
                .and_then(|at| suffix.get(at..));
            if let Some(ids) = end.and_then(|end| self.by_suffix.get(end)) {
                ids.iter().copied().for_each(&mut *found);
            }
        }
        // Suffixes longer than `suffix` that end with it.
        let from = self
            .reversed
            .partition_point(|(other, _)| other.as_ref() < key);
        self.reversed
            .get(from..)
            .unwrap_or_default()
            .iter()
            .take_while(|(other, _)| other.starts_with(key))
            .filter(|(other, _)| other.len() > key.len())
            .for_each(|(_, id)| found(*id));
    }
}

fn reversed(text: &str) -> Box<[u8]> {
    text.bytes().rev().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn index(patterns: &[String]) -> (Vec<Glob>, GlobIndex) {
        let globs: Vec<Glob> = patterns.iter().map(|p| Glob::new(p)).collect();
        let index = GlobIndex::new(globs.iter().enumerate().map(|(i, g)| (i as u32, g)));
        (globs, index)
    }

    #[test]
    fn ends_of_patterns() {
        let glob = Glob::new("ab*c*de");
        assert_eq!((glob.literal_prefix(), glob.literal_suffix()), ("ab", "de"));
        let glob = Glob::new("plain");
        assert_eq!(
            (glob.literal_prefix(), glob.literal_suffix()),
            ("plain", "plain")
        );
        let glob = Glob::new("*");
        assert_eq!((glob.literal_prefix(), glob.literal_suffix()), ("", ""));
    }

    #[test]
    fn distinct_prefixes_pair_nothing() {
        let patterns: Vec<String> = (0..1000).map(|i| format!("fam{i:04}_*")).collect();
        let (_, index) = index(&patterns);
        assert!(index.compatible_pairs().is_empty());
        let mut found = Vec::new();
        index.within("fam0042_list", "fam0042_list", |id| found.push(id));
        assert_eq!(found, vec![42]);
    }

    proptest! {
        /// The index never loses a pair that overlaps, nor a pattern that
        /// matches or contains another.
        #[test]
        fn pruning_keeps_every_real_answer(
            patterns in proptest::collection::vec("[ab*]{0,5}", 0..12),
            name in "[ab]{0,6}",
        ) {
            let (globs, index) = index(&patterns);
            let pairs = index.compatible_pairs();
            for (i, a) in globs.iter().enumerate() {
                for (j, b) in globs.iter().enumerate().skip(i + 1) {
                    if a.overlaps(b) {
                        prop_assert!(pairs.contains(&(i as u32, j as u32)), "{a} {b}");
                    }
                }
            }
            for (i, glob) in globs.iter().enumerate() {
                let mut found = Vec::new();
                index.compatible(glob, |id| found.push(id));
                let mut unique = found.clone();
                unique.sort_unstable();
                unique.dedup();
                prop_assert_eq!(unique.len(), found.len(), "each id once");
                let i = i as u32;
                let expected: Vec<u32> = pairs
                    .iter()
                    .filter_map(|(a, b)| if *a == i { Some(*b) } else if *b == i { Some(*a) } else { None })
                    .collect();
                unique.retain(|id| *id != i);
                prop_assert_eq!(unique, expected);
            }
            let mut candidates = Vec::new();
            index.within(&name, &name, |id| candidates.push(id));
            for (i, glob) in globs.iter().enumerate() {
                if glob.matches(&name) {
                    prop_assert!(candidates.contains(&(i as u32)), "{glob} {name}");
                }
            }
            for inner in &globs {
                let mut holders = Vec::new();
                index.within(inner.literal_prefix(), inner.literal_suffix(), |id| holders.push(id));
                for (j, outer) in globs.iter().enumerate() {
                    if inner.is_wildcard() && inner.is_subset_of(outer) {
                        prop_assert!(holders.contains(&(j as u32)), "{inner} ⊆ {outer}");
                    }
                }
            }
        }
    }
}
