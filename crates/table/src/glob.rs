//! Target patterns: `*` matches any run of characters (the empty one
//! included, `/` included); every other character matches itself.

use std::fmt;

/// A compiled glob. Matching does not allocate.
#[derive(Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: Box<str>,
    /// The literal pieces between the stars, in order.
    pieces: Box<[Box<str>]>,
    starts_with_star: bool,
    ends_with_star: bool,
}

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        Glob {
            pattern: pattern.into(),
            pieces: pattern
                .split('*')
                .filter(|piece| !piece.is_empty())
                .map(Box::from)
                .collect(),
            starts_with_star: pattern.starts_with('*'),
            ends_with_star: pattern.ends_with('*'),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// The literal text before the first `*` (all of it without a star):
    /// every name the pattern matches starts with it.
    pub fn literal_prefix(&self) -> &str {
        let end = self.pattern.find('*').unwrap_or(self.pattern.len());
        self.pattern.get(..end).unwrap_or_default()
    }

    /// The literal text after the last `*` (all of it without a star):
    /// every name the pattern matches ends with it.
    pub fn literal_suffix(&self) -> &str {
        let start = self.pattern.rfind('*').map_or(0, |star| star + 1);
        self.pattern.get(start..).unwrap_or_default()
    }

    /// `true` when the pattern has a `*`; a pattern without one names one target.
    pub fn is_wildcard(&self) -> bool {
        self.starts_with_star || self.ends_with_star || self.pieces.len() > 1
    }

    /// How many literal characters the pattern has: the more, the more
    /// specific, and the specific rule wins.
    pub fn specificity(&self) -> usize {
        self.pieces.iter().map(|piece| piece.chars().count()).sum()
    }

    /// Greedy leftmost matching is exact for patterns whose only wildcard is
    /// `*`: taking the earliest occurrence of each piece leaves the most room
    /// for the pieces after it.
    pub fn matches(&self, name: &str) -> bool {
        let mut rest = name;
        let mut pieces = &self.pieces[..];
        if !self.starts_with_star {
            match pieces.split_first() {
                Some((first, tail)) => match rest.strip_prefix(&**first) {
                    Some(after) => {
                        rest = after;
                        pieces = tail;
                    }
                    None => return false,
                },
                // No pieces and no leading star: the empty pattern.
                None => return name.is_empty(),
            }
            if pieces.is_empty() && !self.ends_with_star {
                return rest.is_empty();
            }
        }
        let last = if self.ends_with_star {
            None
        } else {
            match pieces.split_last() {
                Some((last, init)) => {
                    pieces = init;
                    Some(last)
                }
                None => None,
            }
        };
        for piece in pieces {
            match rest.find(&**piece) {
                Some(at) => rest = rest.get(at + piece.len()..).unwrap_or_default(),
                None => return false,
            }
        }
        match last {
            Some(last) => rest.ends_with(&**last),
            None => true,
        }
    }

    /// `true` when every name this pattern matches, `other` matches too.
    ///
    /// Instantiate every `*` of `self` with a character `other` does not
    /// contain: if `other` matches that name, its stars absorbed those
    /// characters, and would absorb any string in their place; if it does
    /// not, that name is a counterexample.
    pub fn is_subset_of(&self, other: &Glob) -> bool {
        let fresh = ['\u{E000}', '\u{E001}', '\u{E002}']
            .into_iter()
            .find(|c| !other.pattern.contains(*c))
            .unwrap_or('\u{E003}');
        let witness: String = self
            .pattern
            .chars()
            .map(|c| if c == '*' { fresh } else { c })
            .collect();
        other.matches(&witness)
    }

    /// `true` when some name matches both patterns. Linear in the patterns'
    /// lengths, whatever they hold.
    ///
    /// A pattern without a star names one target: the other must match it.
    /// Two patterns that both have a star share a name exactly when their
    /// literal ends fit (one prefix starts the other, one suffix ends the
    /// other): the longer prefix, then every middle piece of both, then the
    /// longer suffix is such a name, each pattern's stars absorbing the rest.
    pub fn overlaps(&self, other: &Glob) -> bool {
        match (self.is_wildcard(), other.is_wildcard()) {
            (false, _) => other.matches(&self.pattern),
            (true, false) => self.matches(&other.pattern),
            (true, true) => self.ends_fit(other),
        }
    }

    /// One literal prefix starts the other, and one literal suffix ends the
    /// other: necessary for any two patterns to share a name, and enough for
    /// two with a star each.
    fn ends_fit(&self, other: &Glob) -> bool {
        let (p, q) = (self.literal_prefix(), other.literal_prefix());
        let (s, t) = (self.literal_suffix(), other.literal_suffix());
        (p.starts_with(q) || q.starts_with(p)) && (s.ends_with(t) || t.ends_with(s))
    }

    /// A short name that matches both patterns, if there is one.
    ///
    /// [`Glob::overlaps`] decides, in linear time; only for two overlapping
    /// patterns with a star each does a search run, for a witness shorter
    /// than the one that proof builds. It runs the product of the two
    /// patterns as automata, breadth first: states are positions in each
    /// pattern, a star loops on any character (or is skipped), a literal
    /// advances on itself. Every useful step advances at least one side, so
    /// the witness is at most as long as both patterns. It takes time and
    /// one byte of memory per pair of positions, `(a + 1) × (b + 1)` for
    /// patterns of `a` and `b` characters: callers bound the patterns'
    /// lengths ([`MAX_PATTERN_CHARS`]; about a mebibyte and a few
    /// milliseconds at the bound).
    pub fn overlap_witness(&self, other: &Glob) -> Option<String> {
        if !self.overlaps(other) {
            return None;
        }
        if !self.is_wildcard() {
            return Some(self.pattern.to_string());
        }
        if !other.is_wildcard() {
            return Some(other.pattern.to_string());
        }
        let a: Vec<char> = self.pattern.chars().collect();
        let b: Vec<char> = other.pattern.chars().collect();
        let width = b.len() + 1;
        // Per state, how it was first reached (`UNSEEN` until then): the
        // step determines the state before it and the character read.
        let mut step: Vec<Step> = vec![Step::Unseen; (a.len() + 1) * width];
        let mut queue = std::collections::VecDeque::from([0usize]);
        if let Some(first) = step.first_mut() {
            *first = Step::Start;
        }
        while let Some(state) = queue.pop_front() {
            let (i, j) = (state / width, state % width);
            let (pa, pb) = (a.get(i).copied(), b.get(j).copied());
            if pa.is_none() && pb.is_none() {
                return Some(Self::read_back(&a, &b, &step, state, width));
            }
            // In the order the name is searched: skipping a star, then
            // reading a character.
            let mut next = [None; 3];
            if pa == Some('*') {
                next[0] = Some((state + width, Step::SkipA));
            }
            if pb == Some('*') {
                next[1] = Some((state + 1, Step::SkipB));
            }
            next[2] = match (pa, pb) {
                // Both stars: reading a character changes nothing; skipping does.
                (Some('*'), Some('*')) => None,
                // The star reads the literal, so the name has that character.
                (Some('*'), Some(_)) => Some((state + 1, Step::StarAReadsB)),
                (Some(_), Some('*')) => Some((state + width, Step::StarBReadsA)),
                (Some(x), Some(y)) if x == y => Some((state + width + 1, Step::Both)),
                _ => None,
            };
            for (to, how) in next.into_iter().flatten() {
                if let Some(seen) = step.get_mut(to)
                    && *seen == Step::Unseen
                {
                    *seen = how;
                    queue.push_back(to);
                }
            }
        }
        None
    }

    /// The name read on the way to `state`, from the steps that reached it.
    fn read_back(a: &[char], b: &[char], step: &[Step], mut state: usize, width: usize) -> String {
        let mut name: Vec<char> = Vec::new();
        loop {
            let (i, j) = (state / width, state % width);
            let (from, read) = match step.get(state) {
                Some(Step::SkipA) => (state - width, None),
                Some(Step::SkipB) => (state - 1, None),
                Some(Step::StarAReadsB) => (state - 1, j.checked_sub(1).and_then(|j| b.get(j))),
                Some(Step::StarBReadsA) => (state - width, i.checked_sub(1).and_then(|i| a.get(i))),
                Some(Step::Both) => (state - width - 1, i.checked_sub(1).and_then(|i| a.get(i))),
                Some(Step::Start | Step::Unseen) | None => break,
            };
            name.extend(read.copied());
            state = from;
        }
        name.reverse();
        name.into_iter().collect()
    }
}

/// The most characters a target pattern may have. MCP tool names are 1 to
/// 128 characters (the specification's advice); prompt names are as short,
/// and a resource URI pattern is a scheme, a host and a path prefix. The
/// overlap search takes time and memory in the product of two patterns'
/// lengths, so a policy (or a table) with a longer pattern is refused
/// rather than searched.
pub const MAX_PATTERN_CHARS: usize = 1024;

/// How the overlap search first reached a state (one byte per state).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    Unseen,
    Start,
    /// Skipped a star of the first pattern.
    SkipA,
    /// Skipped a star of the second pattern.
    SkipB,
    /// A star of the first pattern read the second's literal.
    StarAReadsB,
    /// A star of the second pattern read the first's literal.
    StarBReadsA,
    /// Both patterns read the same literal.
    Both,
}

/// By the pattern, which determines the rest (so equal globs hash alike).
impl std::hash::Hash for Glob {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.pattern.hash(state);
    }
}

impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Glob({:?})", self.pattern)
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pattern)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition, by recursion: obviously right and exponential.
    fn reference_match(pattern: &[char], name: &[char]) -> bool {
        match pattern.split_first() {
            None => name.is_empty(),
            Some(('*', rest)) => (0..=name.len()).any(|skip| reference_match(rest, &name[skip..])),
            Some((c, rest)) => name.first() == Some(c) && reference_match(rest, &name[1..]),
        }
    }

    #[test]
    fn examples() {
        let g = Glob::new("admin_*");
        assert!(g.matches("admin_"));
        assert!(g.matches("admin_users"));
        assert!(!g.matches("xadmin_users"));
        assert!(Glob::new("repo://*").matches("repo://a/b/c"));
        assert!(Glob::new("*_dump_*").matches("debug_dump_x"));
        assert!(!Glob::new("a*b").matches("ab_"));
        assert!(Glob::new("a*b*b").matches("abb"));
        assert!(!Glob::new("a*b*b").matches("ab"));
        assert!(Glob::new("*").matches(""));
        assert!(Glob::new("").matches(""));
        assert!(!Glob::new("").matches("x"));
        assert!(Glob::new("exact").matches("exact"));
        assert!(!Glob::new("exact").matches("exact2"));
        assert_eq!(Glob::new("debug_dump_*").specificity(), 11);
        assert!(!Glob::new("plain").is_wildcard());
    }

    #[test]
    fn overlap_examples() {
        assert!(Glob::new("a*").overlaps(&Glob::new("*b")));
        assert!(!Glob::new("a*").overlaps(&Glob::new("b*")));
        assert!(Glob::new("debug_*").overlaps(&Glob::new("*_dump")));
        assert!(!Glob::new("x*y").overlaps(&Glob::new("*z")));
        assert!(Glob::new("*").overlaps(&Glob::new("")));
        assert_eq!(
            Glob::new("admin_*")
                .overlap_witness(&Glob::new("*_debug"))
                .as_deref(),
            Some("admin_debug")
        );
    }

    fn pattern() -> impl Strategy<Value = String> {
        "[ab*]{0,6}"
    }

    proptest! {
        /// Inclusion agrees with checking every short name. Names use a
        /// letter the patterns lack (`c`), as real names have letters no
        /// pattern mentions: over {a, b} alone `b*a` would be within `*ba*`.
        #[test]
        fn subset_agrees_with_search(p in pattern(), q in pattern()) {
            let (gp, gq) = (Glob::new(&p), Glob::new(&q));
            let mut subset = true;
            // A counterexample, if any, is `p` with each star as one `c`.
            'outer: for len in 0..=p.len() {
                for mut code in 0..3u32.pow(len as u32) {
                    let name: String = (0..len)
                        .map(|_| {
                            let c = ['a', 'b', 'c'][(code % 3) as usize];
                            code /= 3;
                            c
                        })
                        .collect();
                    if gp.matches(&name) && !gq.matches(&name) {
                        subset = false;
                        break 'outer;
                    }
                }
            }
            prop_assert_eq!(gp.is_subset_of(&gq), subset, "{} ⊆ {}", p, q);
        }

        #[test]
        fn matches_agrees_with_definition(p in pattern(), name in "[ab]{0,8}") {
            let chars: Vec<char> = p.chars().collect();
            let name_chars: Vec<char> = name.chars().collect();
            prop_assert_eq!(Glob::new(&p).matches(&name), reference_match(&chars, &name_chars));
        }

        /// Two patterns over {a, b} that overlap share a witness of bounded
        /// length; search all names up to that length.
        #[test]
        fn overlaps_agrees_with_search(p in pattern(), q in pattern()) {
            let (gp, gq) = (Glob::new(&p), Glob::new(&q));
            let mut found = false;
            for len in 0..=(p.len() + q.len()) {
                for bits in 0..(1u32 << len) {
                    let name: String = (0..len).map(|i| if bits >> i & 1 == 1 { 'a' } else { 'b' }).collect();
                    if gp.matches(&name) && gq.matches(&name) {
                        found = true;
                        break;
                    }
                }
                if found { break; }
            }
            prop_assert_eq!(gp.overlaps(&gq), found);
            if let Some(witness) = gp.overlap_witness(&gq) {
                prop_assert!(gp.matches(&witness) && gq.matches(&witness), "{witness}");
            }
        }
    }
}
