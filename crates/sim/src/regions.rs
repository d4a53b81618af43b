//! The name space of one kind of target, cut into the regions two policies
//! decide alike.
//!
//! Which rule decides a name depends only on which of the policy's targets
//! match it (an exact name, or a glob). Take every target of both policies
//! as an automaton and run them together, breadth first, over their
//! characters plus one character none of them uses (it stands for every
//! other character: only a `*` can read it). Each state of that product is
//! a set of names matching the same targets, so one name per state — the
//! shortest, found first — decides for all of them, and asking the real
//! tables which rule decides that name cannot disagree with them. The
//! regions are the distinct (old rule, new rule) pairs met; every name of
//! every kind falls in one of them, so comparing regions is exhaustive.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use mcp_policy_table::{DecisionTable, Effect, RuleId, Target, TargetKind};

/// More product states than this and the comparison gives up rather than
/// run for minutes. Policies of realistic size stay far below it: exact
/// names die after their last character, and prefix globs do not branch.
pub const MAX_STATES: usize = 200_000;

/// The pattern positions all states hold together, at most: many
/// unanchored globs (`*a*`, `*b*`, ...) make few states of many positions
/// each, and it is their size, not their number, that fills memory.
pub const MAX_POSITIONS: usize = 4_000_000;

/// A set of names that both policies decide by the same pair of rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    /// A name of the region: shortest, non-empty when the region has one.
    pub example: String,
    /// The rule that decides the region's names in each policy before
    /// conditional denies; `None` for the default.
    pub old: Option<RuleId>,
    pub new: Option<RuleId>,
    /// The `deny ... when` rules that may deny the region's names in each
    /// policy, in the order they are checked: empty for a policy without
    /// them, and under an unconditional deny (which wins first).
    pub old_when: Vec<RuleId>,
    pub new_when: Vec<RuleId>,
}

/// What decides a name in one table: the rule found before conditions,
/// and the conditional denies checked before it. A `deny ... when` does not
/// make a name unreachable: it makes its rule conditional.
pub struct DecidedBy<'t> {
    table: &'t DecisionTable,
    kind: TargetKind,
    /// The `deny ... when` rules of the kind as the table checks them:
    /// exact targets, then globs, each in source order.
    whens: Vec<(RuleId, &'t Target)>,
}

impl<'t> DecidedBy<'t> {
    pub fn new(table: &'t DecisionTable, kind: TargetKind) -> DecidedBy<'t> {
        let mut whens: Vec<(RuleId, &Target)> = table
            .rules()
            .iter()
            .enumerate()
            .filter(|(_, rule)| rule.kind == kind && matches!(rule.effect, Effect::DenyWhen(_)))
            .map(|(i, rule)| (RuleId(i as u32), &rule.target))
            .collect();
        whens.sort_by_key(|(id, target)| (matches!(target, Target::Glob(_)), *id));
        DecidedBy { table, kind, whens }
    }

    pub fn name(&self, name: &str) -> (Option<RuleId>, Vec<RuleId>) {
        let rule = self.table.matching_rule(self.kind, name);
        let under_deny = rule
            .and_then(|id| self.table.rule(id))
            .is_some_and(|rule| rule.effect == Effect::Deny);
        if under_deny {
            // An unconditional deny wins before any condition is read.
            return (rule, Vec::new());
        }
        let when = self
            .whens
            .iter()
            .filter(|(_, target)| target.matches(name))
            .map(|(id, _)| *id)
            .collect();
        (rule, when)
    }
}

/// The targets of the two policies are too many or too entangled to
/// compare exhaustively within [`MAX_STATES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooComplex;

/// One piece of a target: a literal character, or a `*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Piece {
    Char(char),
    Star,
}

fn pieces(target: &Target) -> Vec<Piece> {
    match target {
        Target::Exact(name) => name.chars().map(Piece::Char).collect(),
        Target::Glob(glob) => glob
            .as_str()
            .chars()
            .map(|c| {
                if c == '*' {
                    Piece::Star
                } else {
                    Piece::Char(c)
                }
            })
            .collect(),
    }
}

/// Every region of `kind` in the two tables, in a stable order (by the
/// rules deciding them).
///
/// Exact names ride along as a trie, not as automata of their own: a
/// product state is the globs' positions and the trie node of the name read
/// so far (or none, once no exact name starts with it). It is the same
/// product, visited in the same order, as with one automaton per name, but
/// each step costs the globs' positions only, and the globs' steps are
/// computed once per glob state and character. Only the glob states count
/// against [`MAX_STATES`] and [`MAX_POSITIONS`]: trie states are one per
/// character of the names, so exact names alone are never refused.
pub fn regions(
    old: &DecisionTable,
    new: &DecisionTable,
    kind: TargetKind,
) -> Result<Vec<Region>, TooComplex> {
    let targets: Vec<&Target> = [old, new]
        .iter()
        .flat_map(|table| table.rules().iter())
        .filter(|rule| rule.kind == kind)
        .map(|rule| &rule.target)
        .collect();
    let patterns: Vec<Vec<Piece>> = targets
        .iter()
        .filter(|target| matches!(target, Target::Glob(_)))
        .map(|target| pieces(target))
        .collect();
    let names: Vec<&str> = targets
        .iter()
        .filter_map(|target| match target {
            Target::Exact(name) => Some(name.as_str()),
            Target::Glob(_) => None,
        })
        .collect();
    let mut alphabet: Vec<char> = patterns
        .iter()
        .flatten()
        .filter_map(|piece| match piece {
            Piece::Char(c) => Some(*c),
            Piece::Star => None,
        })
        .chain(names.iter().flat_map(|name| name.chars()))
        .collect();
    alphabet.sort_unstable();
    alphabet.dedup();
    // The stand-in for "any other character" must be one no target uses,
    // or names made of other characters go unexamined: a readable one
    // where it is free, else the first free one of the private-use areas
    // (finitely many targets cannot use them all).
    let other = ['x', 'z', 'q', '_', '0', '-']
        .into_iter()
        .chain('\u{E000}'..='\u{F8FF}')
        .chain('\u{F0000}'..='\u{FFFFD}')
        .find(|c| alphabet.binary_search(c).is_err())
        .ok_or(TooComplex)?;
    // First, so that an example reads `admin_x` rather than `admin_a`.
    alphabet.insert(0, other);

    let trie = Trie::new(&names);
    let mut globs = GlobStates::new(&patterns);
    // A product state: a glob state, and the trie node of the name read so
    // far while some exact name starts with it. Trie states are reached by
    // one name each, so only the states off the trie need a `seen` mark.
    let root = (!names.is_empty()).then_some(0u32);
    let mut seen_off_trie: HashSet<u32> = HashSet::new();
    if root.is_none() {
        seen_off_trie.insert(0);
    }
    let mut queue: VecDeque<(u32, Option<u32>, String)> = VecDeque::new();
    queue.push_back((0, root, String::new()));
    type Key = ((Option<RuleId>, Vec<RuleId>), (Option<RuleId>, Vec<RuleId>));
    let (old_by, new_by) = (DecidedBy::new(old, kind), DecidedBy::new(new, kind));
    let mut best: BTreeMap<Key, String> = BTreeMap::new();
    while let Some((state, node, name)) = queue.pop_front() {
        let pair = (old_by.name(&name), new_by.name(&name));
        let better = |current: &String| {
            // Non-empty first (a tool named "" explains little), then shortest.
            (current.is_empty() && !name.is_empty())
                || (current.is_empty() == name.is_empty() && name.len() < current.len())
        };
        match best.get_mut(&pair) {
            Some(current) if better(current) => *current = name.clone(),
            Some(_) => {}
            None => {
                best.insert(pair, name.clone());
            }
        }
        for &c in &alphabet {
            let next = globs.step(state, c)?;
            let next_node = node.and_then(|node| trie.child(node, c));
            if next_node.is_none() && !seen_off_trie.insert(next) {
                continue;
            }
            let mut longer = name.clone();
            longer.push(c);
            queue.push_back((next, next_node, longer));
        }
    }
    Ok(best
        .into_iter()
        .map(|(((old_rule, old_when), (new_rule, new_when)), example)| {
            // `admin_x` shows what `admin_*` stands for better than `admin_`.
            let ends_open = [(old, old_rule), (new, new_rule)].iter().any(|(table, id)| {
                id.and_then(|id| table.rule(id)).is_some_and(
                    |rule| matches!(&rule.target, Target::Glob(glob) if glob.as_str().ends_with('*')),
                )
            });
            let longer = format!("{example}{other}");
            // `""` explains little either; so does `admin_xx`.
            let example = if (ends_open || example.is_empty())
                && !example.ends_with(other)
                && old_by.name(&longer) == (old_rule, old_when.clone())
                && new_by.name(&longer) == (new_rule, new_when.clone())
            {
                longer
            } else {
                example
            };
            Region {
                example,
                old: old_rule,
                new: new_rule,
                old_when,
                new_when,
            }
        })
        .collect())
}

/// The rules of `kind` that decide at least one name: a rule missing here
/// is shadowed everywhere (by denies, or by more specific rules). A
/// `deny ... when` counts when it may deny some name.
#[cfg(test)]
pub fn deciding_rules(
    table: &DecisionTable,
    kind: TargetKind,
) -> Result<std::collections::BTreeSet<RuleId>, TooComplex> {
    Ok(regions(table, table, kind)?
        .into_iter()
        .flat_map(|region| region.old.into_iter().chain(region.old_when))
        .collect())
}

/// The exact names as a trie: node 0 is the empty name; each node's
/// children by character, sorted.
struct Trie {
    children: Vec<Vec<(char, u32)>>,
}

impl Trie {
    fn new(names: &[&str]) -> Trie {
        let mut children: Vec<Vec<(char, u32)>> = vec![Vec::new()];
        for name in names {
            let mut node = 0usize;
            for c in name.chars() {
                let count = children.len() as u32;
                let Some(list) = children.get_mut(node) else {
                    break;
                };
                node = match list.binary_search_by_key(&c, |(k, _)| *k) {
                    Ok(at) => list.get(at).map_or(0, |(_, child)| *child as usize),
                    Err(at) => {
                        list.insert(at, (c, count));
                        children.push(Vec::new());
                        count as usize
                    }
                };
            }
        }
        Trie { children }
    }

    fn child(&self, node: u32, c: char) -> Option<u32> {
        let list = self.children.get(node as usize)?;
        let at = list.binary_search_by_key(&c, |(k, _)| *k).ok()?;
        list.get(at).map(|(_, child)| *child)
    }
}

/// The globs' part of the product: each distinct set of positions gets an
/// id, and each step from an id by a character is computed once.
struct GlobStates<'p> {
    patterns: &'p [Vec<Piece>],
    /// A state: for each glob, the positions reached (a sorted list of
    /// (glob, position) pairs); a position equal to the length accepts.
    states: Vec<Vec<(u32, u32)>>,
    ids: HashMap<Vec<(u32, u32)>, u32>,
    steps: HashMap<(u32, char), u32>,
    positions: usize,
}

impl<'p> GlobStates<'p> {
    /// The states, with the start (every glob at its first position) as 0.
    fn new(patterns: &'p [Vec<Piece>]) -> GlobStates<'p> {
        let mut globs = GlobStates {
            patterns,
            states: Vec::new(),
            ids: HashMap::new(),
            steps: HashMap::new(),
            positions: 0,
        };
        let mut start: Vec<(u32, u32)> = (0..patterns.len() as u32).map(|p| (p, 0)).collect();
        globs.close(&mut start);
        globs.ids.insert(start.clone(), 0);
        globs.states.push(start);
        globs
    }

    /// Adds the positions after every star reached (a star may match
    /// nothing).
    fn close(&self, state: &mut Vec<(u32, u32)>) {
        let mut i = 0;
        while let Some(&(p, at)) = state.get(i) {
            if let Some(Piece::Star) = self
                .patterns
                .get(p as usize)
                .and_then(|pat| pat.get(at as usize))
            {
                state.push((p, at + 1));
            }
            i += 1;
        }
        state.sort_unstable();
        state.dedup();
    }

    fn step(&mut self, from: u32, c: char) -> Result<u32, TooComplex> {
        if let Some(to) = self.steps.get(&(from, c)) {
            return Ok(*to);
        }
        let mut next: Vec<(u32, u32)> = Vec::new();
        for &(p, at) in self.states.get(from as usize).into_iter().flatten() {
            match self
                .patterns
                .get(p as usize)
                .and_then(|pat| pat.get(at as usize))
            {
                Some(Piece::Star) => next.push((p, at)),
                Some(Piece::Char(want)) if *want == c => next.push((p, at + 1)),
                _ => {}
            }
        }
        self.close(&mut next);
        let to = match self.ids.get(&next) {
            Some(id) => *id,
            None => {
                self.positions += next.len();
                if self.states.len() >= MAX_STATES || self.positions > MAX_POSITIONS {
                    return Err(TooComplex);
                }
                let id = self.states.len() as u32;
                self.ids.insert(next.clone(), id);
                self.states.push(next);
                id
            }
        };
        self.steps.insert((from, c), to);
        Ok(to)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn table(rules: &str) -> DecisionTable {
        let source = format!("scope s level read\n{rules}");
        mcp_policy_lang::compile_source(&source).table.unwrap()
    }

    fn target(table: &DecisionTable, id: Option<RuleId>) -> String {
        id.map_or("default".into(), |id| table.rule(id).unwrap().text.clone())
    }

    fn described(old: &DecisionTable, new: &DecisionTable) -> Vec<(String, String, String)> {
        regions(old, new, TargetKind::Tool)
            .unwrap()
            .into_iter()
            .map(|r| (r.example, target(old, r.old), target(new, r.new)))
            .collect()
    }

    #[test]
    fn one_policy_with_itself_has_one_region_per_rule_and_the_default() {
        let t = table("tool a requires s\ntool \"a*\" requires s\n");
        let regions = described(&t, &t);
        assert_eq!(regions.len(), 3);
        assert!(regions.iter().all(|(_, old, new)| old == new));
        let examples: Vec<&str> = regions.iter().map(|(e, _, _)| e.as_str()).collect();
        assert!(examples.contains(&"a"));
        assert!(examples.contains(&"ax"));
    }

    #[test]
    fn crossing_globs_get_the_names_in_both() {
        let old = table("tool \"a*\" requires s\n");
        let new = table("tool \"*b\" requires s\n");
        let regions = described(&old, &new);
        // a…b: old by a*, new by *b; a…: old a*, new default; …b: the
        // reverse; neither: both default.
        assert_eq!(regions.len(), 4);
        let both = regions
            .iter()
            .find(|(_, old, new)| old != "default" && new != "default")
            .unwrap();
        assert_eq!(both.0, "ab");
    }

    #[test]
    fn the_stand_in_for_other_characters_is_never_a_target_character() {
        // Targets using every readable stand-in and the first private-use
        // characters: `ay` (old: `*` needs `s`; new: `*y` needs nothing)
        // must still be found.
        let mut denies = String::new();
        for c in [
            'x', 'z', 'q', '_', '0', '-', '\u{E000}', '\u{E001}', '\u{E002}', 'y',
        ] {
            denies.push_str(&format!("deny tool \"{c}*\"\n"));
        }
        let old = table("tool \"*\" requires s\n");
        let new = table(&format!(
            "tool \"*\" requires s\ntool \"*y\" requires authenticated\n{denies}"
        ));
        let regions = described(&old, &new);
        assert!(
            regions
                .iter()
                .any(|(_, _, new)| new == "tool \"*y\" requires authenticated"),
            "{regions:?}"
        );
    }

    #[test]
    fn many_unanchored_globs_give_up_rather_than_fill_memory() {
        let mut rules = String::from("tool \"*\" requires s\n");
        for c in ('a'..='z').chain('A'..='Z').chain('0'..='9').take(60) {
            rules.push_str(&format!("deny tool \"*{c}*\"\n"));
        }
        let t = table(&rules);
        assert_eq!(regions(&t, &t, TargetKind::Tool), Err(TooComplex));
    }

    #[test]
    fn a_rule_under_a_deny_decides_nothing() {
        let t = table(
            "tool debug_dump_all requires authenticated\ntool \"debug_*\" requires s\ndeny tool \"debug_dump_*\"\n",
        );
        let deciding = deciding_rules(&t, TargetKind::Tool).unwrap();
        assert_eq!(deciding.len(), 2);
        assert!(!deciding.contains(&RuleId(0)));
    }

    #[test]
    fn a_catch_all_leaves_no_default_region() {
        let t = table("tool \"*\" requires s\n");
        let regions = described(&t, &t);
        assert_eq!(regions.len(), 1);
        assert_eq!(regions[0].1, "tool \"*\" requires s");
    }
}
