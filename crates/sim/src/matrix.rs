//! The access matrix: each rule of a policy (and its default) against its
//! scopes — which single scope grants it, what needs a combination, what
//! nothing grants.

use mcp_policy_table::{Clause, DecisionTable, Effect, Rule, RuleId, Target, TargetKind};
use serde::Serialize;

use crate::grants::{Grants, TooManySets};
use crate::regions::{self, TooComplex};

/// A declared scope, a column of the matrix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Column {
    pub name: String,
    pub level: &'static str,
    /// The scopes it implies, directly or not.
    pub implies: Vec<String>,
}

/// One rule, or the default, and what grants it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Row {
    /// `None` for the default row.
    pub kind: Option<TargetKind>,
    /// The rule's target (a name or a pattern); `None` for the default.
    pub target: Option<String>,
    /// `true` when the target is a pattern.
    pub pattern: bool,
    /// The rule as written and its line; `None` for the default.
    pub rule: Option<String>,
    pub line: Option<u32>,
    pub access: Access,
    /// The scopes that grant it on their own, implications included (a
    /// token carrying only that scope is let in), in declaration order.
    pub single_scopes: Vec<String>,
    /// The requirement's alternatives that need two scopes or more, as the
    /// compiler reduced them (a scope implying a member counts for it).
    pub combinations: Vec<Vec<String>>,
    /// Every minimal scope set that grants it, implications expanded.
    pub minimal_sets: Grants,
    /// For a rule that decides no name at all: the rule that decides in its
    /// place (a deny, or a more specific rule).
    pub shadowed_by: Option<RuleRef>,
}

/// A rule as written, and its line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleRef {
    pub rule: String,
    pub line: u32,
}

/// What grants a row, in one word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Some scopes grant it.
    Scopes,
    /// Every valid token (`authenticated`, or `default allow`).
    AnyToken,
    /// A deny rule: no scope can grant it.
    Denied,
    /// The rule decides no name: another rule takes every one (see
    /// `shadowed_by`), so whatever it requires grants nothing.
    Shadowed,
    /// The default denies what no rule names.
    DefaultDeny,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Matrix {
    pub policy: Option<String>,
    pub scopes: Vec<Column>,
    /// Tools, then resources, then prompts, each in source order; the
    /// default last.
    pub rows: Vec<Row>,
}

/// Why a matrix could not be made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MatrixError {
    /// A rule has more than [`crate::grants::MAX_SETS`] minimal sets.
    TooManySets(TooManySets),
    /// The targets of one kind are too entangled to tell which rules decide.
    TooComplex(TargetKind),
}

impl std::fmt::Display for MatrixError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MatrixError::TooManySets(error) => write!(
                f,
                "`{}` has more than {} minimal scope sets",
                error.rule,
                crate::grants::MAX_SETS
            ),
            MatrixError::TooComplex(kind) => write!(
                f,
                "the {kind} targets are too entangled to tell which rules decide"
            ),
        }
    }
}

impl std::error::Error for MatrixError {}

/// The matrix of a compiled policy: each rule as the table decides it (a
/// rule another takes every name from grants nothing, whatever it says).
pub fn matrix(table: &DecisionTable) -> Result<Matrix, MatrixError> {
    let catalog = table.scopes();
    let scopes: Vec<Column> = catalog
        .iter()
        .map(|(id, info)| Column {
            name: info.name.clone(),
            level: info.level.as_str(),
            implies: catalog
                .iter()
                .filter(|(other, _)| *other != id && catalog.implies(id, *other))
                .map(|(_, implied)| implied.name.clone())
                .collect(),
        })
        .collect();
    let mut deciding = std::collections::BTreeSet::new();
    for kind in TargetKind::ALL {
        deciding.extend(
            regions::deciding_rules(table, kind)
                .map_err(|TooComplex| MatrixError::TooComplex(kind))?,
        );
    }
    let mut rules: Vec<(RuleId, &Rule)> = table
        .rules()
        .iter()
        .enumerate()
        .map(|(i, rule)| (RuleId(i as u32), rule))
        .collect();
    rules.sort_by_key(|(_, rule)| (rule.kind as u8, rule.line));
    let mut rows = Vec::with_capacity(rules.len() + 1);
    for (id, rule) in rules {
        if !deciding.contains(&id) {
            rows.push(shadowed(table, rule));
            continue;
        }
        let grants = Grants::of_effect(catalog, &rule.effect, &rule.text)
            .map_err(MatrixError::TooManySets)?;
        let (target, pattern) = match &rule.target {
            Target::Exact(name) => (name.clone(), false),
            Target::Glob(glob) => (glob.as_str().to_owned(), true),
        };
        let combinations = match &rule.effect {
            // Conditions are not shown yet (no policy source can hold one).
            Effect::Deny | Effect::DenyWhen(_) => Vec::new(),
            Effect::Allow(clauses) => combinations(table, clauses),
        };
        rows.push(row(
            &scopes,
            Some(rule.kind),
            Some(target),
            pattern,
            Some(rule),
            grants,
            combinations,
        ));
    }
    rows.push(row(
        &scopes,
        None,
        None,
        false,
        None,
        Grants::of_default(table.default_effect()),
        Vec::new(),
    ));
    Ok(Matrix {
        policy: table.name().map(str::to_owned),
        scopes,
        rows,
    })
}

/// The row of a rule that decides nothing, naming the rule that decides
/// its target (its plainest name: the stars left empty) in its place.
fn shadowed(table: &DecisionTable, rule: &Rule) -> Row {
    let (target, pattern) = match &rule.target {
        Target::Exact(name) => (name.clone(), false),
        Target::Glob(glob) => (glob.as_str().to_owned(), true),
    };
    let name = target.replace('*', "");
    let shadowed_by = table
        .matching_rule(rule.kind, &name)
        .and_then(|id| table.rule(id))
        .map(|by| RuleRef {
            rule: by.text.clone(),
            line: by.line,
        });
    Row {
        kind: Some(rule.kind),
        target: Some(target),
        pattern,
        rule: Some(rule.text.clone()),
        line: Some(rule.line),
        access: Access::Shadowed,
        single_scopes: Vec::new(),
        combinations: Vec::new(),
        minimal_sets: Grants::nothing(),
        shadowed_by,
    }
}

fn combinations(table: &DecisionTable, clauses: &[Clause]) -> Vec<Vec<String>> {
    clauses
        .iter()
        .filter(|clause| clause.scopes.len() > 1)
        .map(|clause| {
            clause
                .scopes
                .iter()
                .map(|id| table.scopes().name(*id).to_owned())
                .collect()
        })
        .collect()
}

fn row(
    scopes: &[Column],
    kind: Option<TargetKind>,
    target: Option<String>,
    pattern: bool,
    rule: Option<&Rule>,
    grants: Grants,
    combinations: Vec<Vec<String>>,
) -> Row {
    let access = if grants.is_any_token() {
        Access::AnyToken
    } else if !grants.is_nothing() {
        Access::Scopes
    } else if rule.is_some() {
        Access::Denied
    } else {
        Access::DefaultDeny
    };
    let single_scopes = scopes
        .iter()
        .filter(|column| grants.grants(std::slice::from_ref(&column.name)))
        .map(|column| column.name.clone())
        .collect();
    Row {
        kind,
        target,
        pattern,
        rule: rule.map(|rule| rule.text.clone()),
        line: rule.map(|rule| rule.line),
        access,
        single_scopes,
        combinations,
        minimal_sets: grants,
        shadowed_by: None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn singles_combinations_and_nothing() {
        let source = r#"
            scope r level read
            scope a level admin implies r
            scope x level resource
            tool t requires r
            tool both requires all_of(r, x)
            tool "debug_*" requires authenticated
            deny tool "debug_dump_*"
            tool debug_dump_shadowed_one requires authenticated
        "#;
        let table = mcp_policy_lang::compile_source(source).table.unwrap();
        let m = matrix(&table).unwrap();
        assert_eq!(m.scopes[1].implies, ["r"]);
        let row = |target: &str| {
            m.rows
                .iter()
                .find(|row| row.target.as_deref() == Some(target))
                .unwrap()
        };
        assert_eq!(row("t").single_scopes, ["r", "a"]);
        assert!(row("t").combinations.is_empty());
        assert!(row("both").single_scopes.is_empty());
        assert_eq!(row("both").combinations, [["r", "x"]]);
        assert_eq!(row("debug_*").access, Access::AnyToken);
        assert!(row("debug_*").pattern);
        assert_eq!(row("debug_dump_*").access, Access::Denied);
        // A rule a deny takes every name from grants nothing.
        assert_eq!(row("debug_dump_shadowed_one").access, Access::Shadowed);
        assert!(row("debug_dump_shadowed_one").single_scopes.is_empty());
        assert_eq!(
            row("debug_dump_shadowed_one")
                .shadowed_by
                .as_ref()
                .unwrap()
                .rule,
            r#"deny tool "debug_dump_*""#
        );
        let default = m.rows.last().unwrap();
        assert_eq!(default.target, None);
        assert_eq!(default.access, Access::DefaultDeny);
    }

    /// 1,000 exact names of 219 characters: one automaton per name made
    /// 219,000 product states, over the cap, and the matrix was refused as
    /// "too entangled". Exact names are a trie now, outside the cap.
    fn long_names(globs: &str) -> String {
        let mut source = String::from("scope s level read\nscope t level write implies s\n");
        for i in 0..1000 {
            let scope = if i % 2 == 0 { "t" } else { "s" };
            source.push_str(&format!(
                "tool xx{i:04}_{}end requires {scope}\n",
                "segment_".repeat(25)
            ));
        }
        source.push_str(globs);
        source
    }

    #[test]
    fn a_thousand_exact_names_are_not_entangled() {
        let table = mcp_policy_lang::compile_source(&long_names(""))
            .table
            .unwrap();
        let m = matrix(&table).unwrap();
        assert_eq!(m.rows.len(), 1001);
        assert!(
            m.rows
                .iter()
                .take(1000)
                .all(|row| row.access == Access::Scopes)
        );
        assert_eq!(m.rows[1].single_scopes, ["s", "t"]);
        assert_eq!(m.rows[0].single_scopes, ["t"]);
    }

    #[test]
    fn a_thousand_exact_names_with_a_few_globs() {
        let globs =
            "tool \"xx00*\" requires t\ntool \"*segment_end\" requires s\ndeny tool \"xx0999_*\"\n";
        let table = mcp_policy_lang::compile_source(&long_names(globs))
            .table
            .unwrap();
        let m = matrix(&table).unwrap();
        assert_eq!(m.rows.len(), 1004);
        let row = |target: &str| {
            m.rows
                .iter()
                .find(|row| row.target.as_deref() == Some(target))
                .unwrap()
        };
        // Every exact name ends in `segment_end`, but exact names win: the
        // suffix pattern still decides the other names that end so.
        assert_eq!(row("*segment_end").access, Access::Scopes);
        assert_eq!(row("xx00*").access, Access::Scopes);
        let last = format!("xx0999_{}end", "segment_".repeat(25));
        assert_eq!(row(&last).access, Access::Shadowed);
        assert_eq!(
            row(&last).shadowed_by.as_ref().unwrap().rule,
            "deny tool \"xx0999_*\""
        );
    }

    #[test]
    fn two_policies_of_a_thousand_exact_names_diff() {
        let old = mcp_policy_lang::compile_source(&long_names(""))
            .table
            .unwrap();
        let new_source = long_names("").replace("tool xx0001_", "tool yy0001_");
        let new = mcp_policy_lang::compile_source(&new_source).table.unwrap();
        let regions = crate::regions::regions(&old, &new, TargetKind::Tool).unwrap();
        // 999 names alike, `xx0001_…` removed, `yy0001_…` added, and the
        // names neither policy has.
        assert_eq!(regions.len(), 1002);
        assert_eq!(
            regions
                .iter()
                .filter(|region| region.old != region.new)
                .count(),
            2
        );
    }
}
