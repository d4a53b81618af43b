//! How rules' targets interact: denies that swallow rules, patterns broader
//! than they look, and exceptions weaker than the family they sit in.

use mcp_policy_table::{Clause, Effect, Glob, Rule, Target};

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

/// `shadowed_rule`.
pub(crate) fn shadowed(context: &Context<'_>, findings: &mut Vec<Finding>) {
    let rules: Vec<(&ResolvedRule, &Rule)> = context.rules().collect();
    for (i, (resolved, rule)) in rules.iter().enumerate() {
        let Some((deny_resolved, _)) = rules
            .iter()
            .enumerate()
            .find(|(j, (_, other))| *j != i && covers(other, rule))
            .map(|(_, pair)| *pair)
        else {
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
    for (resolved, rule) in context.rules() {
        let (Target::Glob(glob), Effect::Allow(_)) = (&rule.target, &rule.effect) else {
            continue;
        };
        if !glob.as_str().starts_with('*') {
            continue;
        }
        let example = context
            .rules()
            .filter(|(_, other)| other.kind == rule.kind)
            .find_map(|(_, other)| match &other.target {
                Target::Exact(name) if glob.matches(name) => Some(name.clone()),
                _ => None,
            });
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
    for (resolved, rule) in context.rules() {
        let Effect::Allow(clauses) = &rule.effect else {
            continue;
        };
        // The pattern that would decide these names without this rule: the
        // most specific allow glob it overrides.
        let overridden = context
            .rules()
            .filter(|(_, other)| other.kind == rule.kind && !std::ptr::eq(*other, rule))
            .filter_map(
                |(other_resolved, other)| match (&other.target, &other.effect) {
                    (Target::Glob(glob), Effect::Allow(other_clauses)) if overrides(rule, glob) => {
                        Some((other_resolved, other, glob, other_clauses))
                    }
                    _ => None,
                },
            )
            .max_by_key(|(_, _, glob, _)| glob.specificity());
        let Some((glob_resolved, glob_rule, _, glob_clauses)) = overridden else {
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

/// Does `rule` take names from `glob` (match some of its names, and win)?
fn overrides(rule: &Rule, glob: &Glob) -> bool {
    match &rule.target {
        Target::Exact(name) => glob.matches(name),
        Target::Glob(own) => own.specificity() > glob.specificity() && own.overlaps(glob),
    }
}
