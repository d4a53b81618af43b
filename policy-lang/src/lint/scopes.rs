//! Scopes that grant nothing.

use std::collections::BTreeSet;

use mcp_policy_table::{Level, ScopeId};

use super::{Context, Finding, Lint};
use crate::check::Req;

/// The scopes rules name directly.
pub(crate) fn required_scopes(context: &Context<'_>) -> BTreeSet<ScopeId> {
    fn walk(req: &Req, out: &mut BTreeSet<ScopeId>) {
        match req {
            Req::Scope(id) => {
                out.insert(*id);
            }
            Req::AnyOf(members) | Req::AllOf(members) => {
                members.iter().for_each(|member| walk(&member.node, out));
            }
            Req::Authenticated | Req::Atom { .. } | Req::Unresolved => {}
        }
    }
    let mut out = BTreeSet::new();
    for rule in &context.resolved.rules {
        if let Some(requirement) = &rule.requirement {
            walk(&requirement.node, &mut out);
        }
    }
    out
}

/// `unused_scope` and `implied_only_scope`: a scope is useful when it, or
/// something it implies, is required by a rule. `oauth` scopes are exempt:
/// they govern the protocol, not rules.
pub(crate) fn unused(context: &Context<'_>, findings: &mut Vec<Finding>) {
    let required = required_scopes(context);
    let catalog = context.catalog();
    for (id, info) in catalog.iter() {
        if info.level == Level::OAuth {
            continue;
        }
        let grants = catalog.closure(id);
        if required.iter().any(|needed| grants.contains(*needed)) {
            continue;
        }
        let implied_by: Vec<&str> = catalog
            .iter()
            .filter(|(other, _)| *other != id && catalog.implies(*other, id))
            .map(|(_, other)| other.name.as_str())
            .collect();
        let (statement, span) = context.scope_declaration(id);
        let finding = if implied_by.is_empty() {
            Finding::new(
                Lint::UnusedScope,
                statement,
                format!("scope `{}` is declared but no rule requires it", info.name),
            )
            .label(span, "grants nothing")
            .help("require it in the rule it was meant for, or remove the declaration")
        } else {
            Finding::new(
                Lint::ImpliedOnlyScope,
                statement,
                format!(
                    "scope `{}` is only implied (by `{}`) and no rule requires it",
                    info.name,
                    implied_by.join("`, `")
                ),
            )
            .label(span, "holding it changes no decision")
            .help("require it where it was meant to matter, or remove it and the implications that name it")
        };
        findings.push(finding);
    }
}
