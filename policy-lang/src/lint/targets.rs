//! How rules' targets interact: denies that swallow rules, patterns broader
//! than they look, and exceptions weaker than the family they sit in.

use std::collections::HashMap;

use mcp_policy_table::{Clause, Effect, Glob, GlobIndex, Rule, Target, TargetKind};

use super::{Context, Finding, Lint};
use crate::check::ResolvedRule;

/// Does `deny` take every name `rule` matches?
fn covers(deny: &Rule, rule: &Rule) -> bool {
    if deny.kind != rule.kind || deny.effect != Effect::Deny {
        return false;
    }
    match (&deny.target, &rule.target) {
        (Target::Glob(deny), Target::Exact(name)) => deny.matches(name),
        (Target::Glob(deny), Target::Glob(glob)) => glob.is_subset_of(deny),
        // An exact deny of the same name as an exact rule is a duplicate,
        // which `check` rejects; it covers nothing else.
        (Target::Exact(_), _) => false,
    }
}

/// The deny patterns of each kind, indexed by their literal ends: a deny
/// covers a rule only if its prefix starts the rule's target and its
/// suffix ends it, so each rule tries the few denies that fit.
fn deny_index(rules: &[(&ResolvedRule, &Rule)], kind: TargetKind) -> GlobIndex {
    GlobIndex::new(rules.iter().enumerate().filter_map(|(i, (_, rule))| {
        match (&rule.target, &rule.effect) {
            (Target::Glob(glob), Effect::Deny) if rule.kind == kind => Some((i as u32, glob)),
            _ => None,
        }
    }))
}

/// The literal ends a rule's target forces on every name it matches.
fn target_ends(target: &Target) -> (&str, &str) {
    match target {
        Target::Exact(name) => (name, name),
        Target::Glob(glob) => (glob.literal_prefix(), glob.literal_suffix()),
    }
}

/// `shadowed_rule`.
pub(crate) fn shadowed(context: &Context<'_>, findings: &mut Vec<Finding>) {
    let rules: Vec<(&ResolvedRule, &Rule)> = context.rules().collect();
    let denies = TargetKind::ALL.map(|kind| deny_index(&rules, kind));
    for (i, (resolved, rule)) in rules.iter().enumerate() {
        // The first covering deny in source order, as a scan would find it.
        let (prefix, suffix) = target_ends(&rule.target);
        let mut first: Option<usize> = None;
        let index = TargetKind::ALL
            .iter()
            .position(|kind| *kind == rule.kind)
            .and_then(|slot| denies.get(slot));
        if let Some(index) = index {
            index.within(prefix, suffix, |j| {
                let j = j as usize;
                let covering = j != i
                    && first.is_none_or(|first| j < first)
                    && rules.get(j).is_some_and(|(_, other)| covers(other, rule));
                if covering {
                    first = Some(j);
                }
            });
        }
        let Some((deny_resolved, _)) = first.and_then(|j| rules.get(j)) else {
            continue;
        };
        let what = if rule.effect == Effect::Deny {
            "denies nothing new"
        } else {
            "never decides"
        };
        findings.push(
            Finding::new(
                Lint::ShadowedRule,
                resolved.span,
                format!(
                    "rule `{}` {what}: `{}` takes every name it matches",
                    rule.text, deny_resolved.text
                ),
            )
            .label(resolved.span, "shadowed")
            .label(deny_resolved.span, "by this deny")
            .help("remove the rule, or narrow the deny so it leaves these names alone"),
        );
    }
}

/// `broad_glob`: an allow pattern with no literal prefix.
pub(crate) fn broad_globs(context: &Context<'_>, findings: &mut Vec<Finding>) {
    let names = ExactNames::new(context);
    for (resolved, rule) in context.rules() {
        let (Target::Glob(glob), Effect::Allow(_)) = (&rule.target, &rule.effect) else {
            continue;
        };
        if !glob.as_str().starts_with('*') {
            continue;
        }
        let example = names.first_match(rule.kind, glob).map(str::to_owned);
        let message = if glob.specificity() == 0 {
            format!(
                "pattern `{glob}` matches every {}, including ones added later",
                rule.kind
            )
        } else {
            format!(
                "pattern `{glob}` has no literal prefix: it matches {} names of every family",
                rule.kind
            )
        };
        let label = match example {
            Some(name) => format!("also matches `{name}`"),
            None => "no literal prefix".to_owned(),
        };
        findings.push(
            Finding::new(Lint::BroadGlob, resolved.span, message)
                .label(resolved.span, label)
                .help(
                    "start the pattern with the family's prefix (`\"repo_*\"`), or list the names",
                ),
        );
    }
}

/// `true` when the weakest token satisfying `clause` satisfies one of `clauses`.
fn clause_satisfies(context: &Context<'_>, clause: &Clause, clauses: &[Clause]) -> bool {
    let held = context.catalog().set_of(clause.scopes.iter().copied());
    clauses
        .iter()
        .any(|other| context.clause_within(other, &held))
}

/// `weaker_override`: a rule that wins over an allow pattern for some
/// names, and lets in a token the pattern would not.
pub(crate) fn weaker_overrides(context: &Context<'_>, findings: &mut Vec<Finding>) {
    let rules: Vec<(&ResolvedRule, &Rule)> = context.rules().collect();
    let allows = AllowPatterns::new(&rules);
    for (i, (resolved, rule)) in rules.iter().enumerate() {
        let Effect::Allow(clauses) = &rule.effect else {
            continue;
        };
        // The pattern that would decide these names without this rule: the
        // most specific allow glob it overrides.
        let Some((glob_resolved, glob_rule)) =
            allows.overridden(&rules, i).and_then(|j| rules.get(j))
        else {
            continue;
        };
        let Effect::Allow(glob_clauses) = &glob_rule.effect else {
            continue;
        };
        let Some(weaker) = clauses
            .iter()
            .find(|clause| !clause_satisfies(context, clause, glob_clauses))
        else {
            continue;
        };
        let token = context.token_with(weaker);
        findings.push(
            Finding::new(
                Lint::WeakerOverride,
                resolved.span,
                format!("`{}` asks less than the pattern it overrides", rule.text),
            )
            .label(resolved.span, format!("{token} gets in here"))
            .label(glob_resolved.span, format!("but not through `{}`", glob_rule.text))
            .help("require at least what the pattern requires; if the exception is meant, say why in a suppression comment"),
        );
    }
}

/// The allow patterns of each kind, for `weaker_override`, by their literal
/// ends: an exact name looks only at the patterns that may match it, a
/// pattern only at those whose ends fit its own (the only ones it can
/// overlap), most specific first.
struct AllowPatterns {
    indexes: [GlobIndex; 3],
    /// Per rule index: the specificity of an allow pattern (0 otherwise),
    /// counted once.
    specificity: Vec<usize>,
}

impl AllowPatterns {
    fn new(rules: &[(&ResolvedRule, &Rule)]) -> AllowPatterns {
        let specificity: Vec<usize> = rules
            .iter()
            .map(|(_, rule)| match (&rule.target, &rule.effect) {
                (Target::Glob(glob), Effect::Allow(_)) => glob.specificity(),
                _ => 0,
            })
            .collect();
        let indexes = TargetKind::ALL.map(|kind| {
            GlobIndex::new(rules.iter().enumerate().filter_map(|(i, (_, rule))| {
                match (&rule.target, &rule.effect) {
                    (Target::Glob(glob), Effect::Allow(_)) if rule.kind == kind => {
                        Some((i as u32, glob))
                    }
                    _ => None,
                }
            }))
        });
        AllowPatterns {
            indexes,
            specificity,
        }
    }

    fn specificity(&self, i: usize) -> usize {
        self.specificity.get(i).copied().unwrap_or_default()
    }

    /// The most specific allow pattern that rule `i` overrides (the last
    /// in source order among equals, as `Iterator::max_by_key` picks). A
    /// rule overrides a pattern when it takes some of its names and wins:
    /// an exact name the pattern matches, or a more specific pattern that
    /// overlaps it.
    fn overridden(&self, rules: &[(&ResolvedRule, &Rule)], i: usize) -> Option<usize> {
        let (_, rule) = rules.get(i)?;
        let glob_of = |j: usize| match rules.get(j) {
            Some((_, other)) if other.kind == rule.kind && j != i => match &other.target {
                Target::Glob(glob) => Some(glob),
                Target::Exact(_) => None,
            },
            _ => None,
        };
        match &rule.target {
            Target::Exact(name) => {
                let slot = TargetKind::ALL.iter().position(|kind| *kind == rule.kind)?;
                let mut best: Option<usize> = None;
                self.indexes.get(slot)?.within(name, name, |j| {
                    let j = j as usize;
                    let better = best.is_none_or(|best| {
                        (self.specificity(j), j) > (self.specificity(best), best)
                    });
                    if better && glob_of(j).is_some_and(|glob| glob.matches(name)) {
                        best = Some(j);
                    }
                });
                best
            }
            Target::Glob(own) => {
                // Only less specific patterns can be overridden: skip to them.
                let own_specificity = self.specificity(i);
                let slot = TargetKind::ALL.iter().position(|kind| *kind == rule.kind)?;
                let mut candidates: Vec<(usize, usize)> = Vec::new();
                self.indexes.get(slot)?.compatible(own, |j| {
                    let specificity = self.specificity(j as usize);
                    if specificity < own_specificity {
                        candidates.push((specificity, j as usize));
                    }
                });
                candidates.sort_unstable_by(|a, b| b.cmp(a));
                candidates
                    .into_iter()
                    .map(|(_, j)| j)
                    .find(|j| glob_of(*j).is_some_and(|glob| own.overlaps(glob)))
            }
        }
    }
}

/// The exact names of each kind, for `broad_glob`'s example: a pattern
/// with a literal suffix looks only at the names that end with it.
struct ExactNames<'a> {
    /// Per kind, the exact names in source order.
    names: [Vec<&'a str>; 3],
    /// Per kind and suffix length, the names (as positions in `names`) by
    /// their suffix of that length; filled for the suffix lengths of the
    /// policy's patterns that start with `*`.
    by_suffix: HashMap<(TargetKind, usize), HashMap<&'a str, Vec<usize>>>,
}

impl<'a> ExactNames<'a> {
    fn new(context: &Context<'a>) -> ExactNames<'a> {
        let names = TargetKind::ALL.map(|kind| {
            context
                .table
                .rules()
                .iter()
                .filter(|rule| rule.kind == kind)
                .filter_map(|rule| match &rule.target {
                    Target::Exact(name) => Some(name.as_str()),
                    Target::Glob(_) => None,
                })
                .collect::<Vec<_>>()
        });
        let mut by_suffix: HashMap<(TargetKind, usize), HashMap<&'a str, Vec<usize>>> =
            HashMap::new();
        for rule in context.table.rules() {
            let Target::Glob(glob) = &rule.target else {
                continue;
            };
            let length = glob.literal_suffix().len();
            if !glob.as_str().starts_with('*') || length == 0 {
                continue;
            }
            let Some(slot) = TargetKind::ALL.iter().position(|kind| *kind == rule.kind) else {
                continue;
            };
            by_suffix.entry((rule.kind, length)).or_insert_with(|| {
                let mut map: HashMap<&str, Vec<usize>> = HashMap::new();
                for (at, name) in names.get(slot).into_iter().flatten().enumerate() {
                    if let Some(end) = name.len().checked_sub(length).and_then(|at| name.get(at..))
                    {
                        map.entry(end).or_default().push(at);
                    }
                }
                map
            });
        }
        ExactNames { names, by_suffix }
    }

    /// The first exact name of `kind` in source order that `glob` matches.
    fn first_match(&self, kind: TargetKind, glob: &Glob) -> Option<&'a str> {
        let slot = TargetKind::ALL.iter().position(|k| *k == kind)?;
        let names = self.names.get(slot)?;
        let suffix = glob.literal_suffix();
        match self.by_suffix.get(&(kind, suffix.len())) {
            Some(by_suffix) if !suffix.is_empty() => by_suffix
                .get(suffix)?
                .iter()
                .filter_map(|at| names.get(*at).copied())
                .find(|name| glob.matches(name)),
            // No literal suffix: every name is a candidate, in order.
            _ => names.iter().copied().find(|name| glob.matches(name)),
        }
    }
}
