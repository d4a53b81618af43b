//! Requirements that say more than they mean, and protocol scopes used as
//! grants.

use std::fmt::{self, Write};

use mcp_policy_table::{Level, ScopeCatalog};

use super::{Context, Finding, Lint};
use crate::ast::{Node, Span};
use crate::check::Req;
use crate::syntax::lexicon;

/// A requirement as a policy would write it: keywords and quoting are the
/// lexicon's, so a scope named like a keyword stays quoted.
pub(crate) fn render(catalog: &ScopeCatalog, req: &Req) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write_req(&mut out, catalog, req);
    out
}

fn write_req(out: &mut String, catalog: &ScopeCatalog, req: &Req) -> fmt::Result {
    let (keyword, members) = match req {
        Req::Authenticated => return out.write_str(lexicon::AUTHENTICATED),
        Req::Scope(id) => return lexicon::write_scope_ref(out, catalog.name(*id)),
        Req::Atom { text, .. } => return out.write_str(text),
        Req::Unresolved => return out.write_str("?"),
        Req::AnyOf(members) => (lexicon::ANY_OF, members),
        Req::AllOf(members) => (lexicon::ALL_OF, members),
    };
    lexicon::write_group(out, keyword, members, |out, member| {
        write_req(out, catalog, &member.node)
    })
}

/// The first redundancy found in a requirement: where, and why.
fn find_redundancy(catalog: &ScopeCatalog, req: &Node<Req>) -> Option<(Span, String)> {
    let (members, any) = match &req.node {
        Req::AnyOf(members) => (members, true),
        Req::AllOf(members) => (members, false),
        Req::Authenticated | Req::Scope(_) | Req::Atom { .. } | Req::Unresolved => return None,
    };
    let keyword = if any {
        lexicon::ANY_OF
    } else {
        lexicon::ALL_OF
    };
    if members.len() == 1 {
        return Some((
            req.span,
            format!("`{keyword}` with one member is just that member"),
        ));
    }
    for (i, member) in members.iter().enumerate() {
        if members
            .iter()
            .take(i)
            .any(|earlier| earlier.node == member.node)
        {
            return Some((member.span, "listed twice".to_owned()));
        }
        if matches!(
            (&member.node, any),
            (Req::AnyOf(_), true) | (Req::AllOf(_), false)
        ) {
            return Some((
                member.span,
                format!("a `{keyword}` inside `{keyword}` can be flattened"),
            ));
        }
        let Req::Scope(id) = member.node else {
            continue;
        };
        for other in members {
            let Req::Scope(other_id) = other.node else {
                continue;
            };
            if other_id == id {
                continue;
            }
            // any_of: a member that implies another is never needed (the
            // other already lets it in). all_of: a member another implies is
            // already held.
            let (redundant, because) = if any {
                (catalog.implies(id, other_id), "implies")
            } else {
                (catalog.implies(other_id, id), "is implied by")
            };
            if redundant {
                let other_name = catalog.name(other_id);
                let explanation = if any {
                    format!(
                        "`{}` {because} `{other_name}`, which already satisfies `any_of`",
                        catalog.name(id)
                    )
                } else {
                    format!(
                        "`{}` {because} `{other_name}`, which `all_of` already requires",
                        catalog.name(id)
                    )
                };
                return Some((member.span, explanation));
            }
        }
    }
    members
        .iter()
        .find_map(|member| find_redundancy(catalog, member))
}

/// The requirement with every redundancy removed.
fn simplify(catalog: &ScopeCatalog, req: &Node<Req>) -> Node<Req> {
    let (members, any) = match &req.node {
        Req::AnyOf(members) => (members, true),
        Req::AllOf(members) => (members, false),
        Req::Authenticated | Req::Scope(_) | Req::Atom { .. } | Req::Unresolved => {
            return req.clone();
        }
    };
    // Simplify members, flatten same-kind groups, drop repeats.
    let mut flat: Vec<Node<Req>> = Vec::new();
    for member in members {
        let member = simplify(catalog, member);
        let nested = match (&member.node, any) {
            (Req::AnyOf(inner), true) | (Req::AllOf(inner), false) => inner.clone(),
            _ => vec![member],
        };
        for item in nested {
            if !flat.iter().any(|kept| kept.node == item.node) {
                flat.push(item);
            }
        }
    }
    let ids: Vec<_> = flat
        .iter()
        .filter_map(|member| match member.node {
            Req::Scope(id) => Some(id),
            _ => None,
        })
        .collect();
    flat.retain(|member| {
        let Req::Scope(id) = member.node else {
            return true;
        };
        !ids.iter().any(|other| {
            *other != id
                && if any {
                    catalog.implies(id, *other) && !catalog.implies(*other, id)
                } else {
                    catalog.implies(*other, id) && !catalog.implies(id, *other)
                }
        })
    });
    if flat.len() == 1
        && let Some(only) = flat.pop()
    {
        return only;
    }
    let node = if any {
        Req::AnyOf(flat)
    } else {
        Req::AllOf(flat)
    };
    Node::new(node, req.span)
}

/// `redundant_requirement`, one finding per rule, with the simpler form.
pub(crate) fn redundant(context: &Context<'_>, findings: &mut Vec<Finding>) {
    let catalog = context.catalog();
    for rule in &context.resolved.rules {
        let Some(requirement) = &rule.requirement else {
            continue;
        };
        let Some((span, why)) = find_redundancy(catalog, requirement) else {
            continue;
        };
        let simpler = simplify(catalog, requirement);
        findings.push(
            Finding::new(
                Lint::RedundantRequirement,
                rule.span,
                "redundant requirement",
            )
            .label(span, why)
            .help(format!(
                "write `requires {}`",
                render(catalog, &simpler.node)
            )),
        );
    }
}

/// `oauth_scope_grants`.
pub(crate) fn oauth_grants(context: &Context<'_>, findings: &mut Vec<Finding>) {
    fn walk(req: &Node<Req>, out: &mut Vec<(Span, mcp_policy_table::ScopeId)>) {
        match &req.node {
            Req::Scope(id) => out.push((req.span, *id)),
            Req::AnyOf(members) | Req::AllOf(members) => members.iter().for_each(|m| walk(m, out)),
            Req::Authenticated | Req::Atom { .. } | Req::Unresolved => {}
        }
    }
    let catalog = context.catalog();
    for rule in &context.resolved.rules {
        let Some(requirement) = &rule.requirement else {
            continue;
        };
        let mut refs = Vec::new();
        walk(requirement, &mut refs);
        for (span, id) in refs {
            if catalog
                .info(id)
                .is_some_and(|info| info.level == Level::OAuth)
            {
                findings.push(
                    Finding::new(
                        Lint::OauthScopeGrants,
                        rule.span,
                        format!("protocol scope `{}` grants {} `{}`", catalog.name(id), rule.kind, rule.target.text),
                    )
                    .label(span, "an `oauth`-level scope")
                    .help("clients ask for protocol scopes to get refresh tokens, not to use tools; require a feature scope instead"),
                );
            }
        }
    }
}
