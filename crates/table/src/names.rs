//! Names as hash-map keys: tool names, URIs, prompt names and scope names,
//! looked up on every decision and for every scope of every token.
//!
//! The map is hashbrown (std's own implementation) with foldhash, several
//! times faster than std's SipHash on short names (docs/PERFORMANCE.md),
//! and randomly seeded per map. Keys come from the policy, not from
//! clients, so clients cannot grow its chains. What std's map cannot do is
//! compare keys without calling libc's `memcmp`, which a profile showed
//! taking a third of the time of parsing a token's scopes: names are short,
//! and the call costs more than the comparison. hashbrown's `Equivalent`
//! lets the lookup compare inline, eight bytes at a time.

use std::hash::{Hash, Hasher};

use hashbrown::Equivalent;

/// A map keyed by names.
pub(crate) type NameMap<V> = hashbrown::HashMap<NameKey, V, foldhash::fast::RandomState>;

/// An owned name in a [`NameMap`].
#[derive(Clone, Debug)]
pub(crate) struct NameKey(Box<str>);

impl NameKey {
    pub(crate) fn new(name: &str) -> NameKey {
        NameKey(name.into())
    }
}

impl Hash for NameKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_name(&self.0, state);
    }
}

impl PartialEq for NameKey {
    fn eq(&self, other: &NameKey) -> bool {
        same_bytes(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl Eq for NameKey {}

/// A borrowed name to look up; hashes exactly as [`NameKey`] does.
struct NameQuery<'a>(&'a str);

impl Hash for NameQuery<'_> {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_name(self.0, state);
    }
}

impl Equivalent<NameKey> for NameQuery<'_> {
    #[inline]
    fn equivalent(&self, key: &NameKey) -> bool {
        same_bytes(self.0.as_bytes(), key.0.as_bytes())
    }
}

#[inline]
fn hash_name<H: Hasher>(name: &str, state: &mut H) {
    name.hash(state);
}

/// Looks a name up.
#[inline]
pub(crate) fn get<'m, V>(map: &'m NameMap<V>, name: &str) -> Option<&'m V> {
    map.get(&NameQuery(name))
}

/// Byte equality in 8-byte words, inline: no call for the short names this
/// map holds. A tail of fewer than eight bytes is compared with two
/// overlapping loads (or three single bytes), which cover all of it.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut wa, mut wb) = (a.chunks_exact(8), b.chunks_exact(8));
    for (x, y) in (&mut wa).zip(&mut wb) {
        if u64::from_ne_bytes(load(x, 0)) != u64::from_ne_bytes(load(y, 0)) {
            return false;
        }
    }
    let (ta, tb) = (wa.remainder(), wb.remainder());
    let len = ta.len();
    match len {
        0 => true,
        1..=3 => [0, len / 2, len - 1]
            .into_iter()
            .all(|i| ta.get(i) == tb.get(i)),
        _ => {
            let word = |bytes: &[u8], at: usize| u32::from_ne_bytes(load(bytes, at));
            word(ta, 0) == word(tb, 0) && word(ta, len - 4) == word(tb, len - 4)
        }
    }
}

/// `N` bytes from `at` as an array (zeros past the end, which the callers'
/// bounds never reach).
#[inline]
fn load<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    bytes
        .get(at..at + N)
        .and_then(|slice| <[u8; N]>::try_from(slice).ok())
        .unwrap_or([0; N])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn same_bytes_is_equality(a in "[ab\u{e9}]{0,20}", b in "[ab\u{e9}]{0,20}") {
            prop_assert_eq!(same_bytes(a.as_bytes(), b.as_bytes()), a == b);
        }

        #[test]
        fn a_map_finds_exactly_its_keys(keys in proptest::collection::vec("[a-z:_]{0,12}", 0..20), probe in "[a-z:_]{0,12}") {
            let mut map: NameMap<usize> = NameMap::default();
            for (i, key) in keys.iter().enumerate() {
                map.entry(NameKey::new(key)).or_insert(i);
            }
            let expected = keys.iter().position(|key| *key == probe);
            prop_assert_eq!(get(&map, &probe).copied(), expected);
        }
    }

    #[test]
    fn lengths_matter_even_when_padding_agrees() {
        assert!(!same_bytes(b"ab", b"ab\0"));
        assert!(!same_bytes(b"", b"\0"));
        assert!(same_bytes(b"exactly8", b"exactly8"));
        assert!(!same_bytes(b"exactly8x", b"exactly8y"));
    }
}
