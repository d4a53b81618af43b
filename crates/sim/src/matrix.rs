//! The access matrix: each rule of a policy (and its default) against its
//! scopes — which single scope grants it, what needs a combination, what
//! nothing grants.

use mcp_policy_table::{Clause, DecisionTable, Effect, Rule, Target, TargetKind};
use serde::Serialize;

use crate::grants::{Grants, TooManySets};

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

/// The matrix of a compiled policy.
pub fn matrix(table: &DecisionTable) -> Result<Matrix, TooManySets> {
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
    let mut rules: Vec<&Rule> = table.rules().iter().collect();
    rules.sort_by_key(|rule| (rule.kind as u8, rule.line));
    let mut rows = Vec::with_capacity(rules.len() + 1);
    for rule in rules {
        let grants = Grants::of_effect(catalog, &rule.effect, &rule.text)?;
        let (target, pattern) = match &rule.target {
            Target::Exact(name) => (name.clone(), false),
            Target::Glob(glob) => (glob.as_str().to_owned(), true),
        };
        let combinations = match &rule.effect {
            Effect::Deny => Vec::new(),
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
        let default = m.rows.last().unwrap();
        assert_eq!(default.target, None);
        assert_eq!(default.access, Access::DefaultDeny);
    }
}
