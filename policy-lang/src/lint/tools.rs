//! Lints against the server's own tool list: what `tools/list` answers.

use std::fmt;

use mcp_policy_table::{Effect, Level, Target, TargetKind};
use serde::Deserialize;

use super::danger::strongest_token;
use super::{Context, Finding, Lint};
use crate::ast::{Span, Statement};
use crate::suggest::did_you_mean;

/// One tool as the server describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolInfo {
    pub name: String,
    /// MCP `annotations.readOnlyHint`.
    pub read_only_hint: Option<bool>,
    /// MCP `annotations.destructiveHint`.
    pub destructive_hint: Option<bool>,
}

/// The server's tools, from a `ListToolsResult` (or the JSON-RPC response
/// carrying one).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ToolList {
    pub tools: Vec<ToolInfo>,
}

#[derive(Debug)]
pub struct ToolListError(serde_json::Error);

impl fmt::Display for ToolListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not a `tools/list` result (`{{\"tools\": [...]}}`): {}",
            self.0
        )
    }
}

impl std::error::Error for ToolListError {}

#[derive(Deserialize)]
#[serde(untagged)]
enum Wire {
    Response { result: ListToolsResult },
    Result(ListToolsResult),
}

#[derive(Deserialize)]
struct ListToolsResult {
    tools: Vec<WireTool>,
}

#[derive(Deserialize)]
struct WireTool {
    name: String,
    #[serde(default)]
    annotations: Option<WireAnnotations>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireAnnotations {
    read_only_hint: Option<bool>,
    destructive_hint: Option<bool>,
}

impl ToolList {
    pub fn from_json(json: &str) -> Result<ToolList, ToolListError> {
        let wire: Wire = serde_json::from_str(json).map_err(ToolListError)?;
        let (Wire::Response { result } | Wire::Result(result)) = wire;
        Ok(ToolList {
            tools: result
                .tools
                .into_iter()
                .map(|tool| ToolInfo {
                    name: tool.name,
                    read_only_hint: tool.annotations.as_ref().and_then(|a| a.read_only_hint),
                    destructive_hint: tool.annotations.as_ref().and_then(|a| a.destructive_hint),
                })
                .collect(),
        })
    }
}

/// Where findings about tools without a rule stand: the `default`
/// statement that decides them, or the start of the file when there is
/// none (then the default is deny), with a label to match.
fn default_anchor(context: &Context<'_>) -> (Span, &'static str) {
    context
        .file
        .statements
        .iter()
        .find(|s| matches!(s.node, Statement::Default(_)))
        .map_or(
            (
                Span::new(0, 0),
                "no `default` statement: the default is deny",
            ),
            |statement| (statement.span, "decides it"),
        )
}

pub(crate) fn lint(context: &Context<'_>, tools: &ToolList, findings: &mut Vec<Finding>) {
    let table = context.table;
    let (anchor, anchor_label) = default_anchor(context);
    let below_admin = strongest_token(
        context,
        &[Level::Read, Level::Write, Level::Resource, Level::OAuth],
    );
    let read_only = strongest_token(context, &[Level::Read, Level::Resource]);
    for tool in &tools.tools {
        let Some(rule_id) = table.matching_rule(TargetKind::Tool, &tool.name) else {
            let fate = match table.default_effect() {
                mcp_policy_table::DefaultEffect::Deny => "the default denies it to every token",
                mcp_policy_table::DefaultEffect::Allow => "the default allows it to every token",
            };
            findings.push(
                Finding::new(
                    Lint::UncoveredTool,
                    anchor,
                    format!("tool `{}` has no rule: {fate}", tool.name),
                )
                .label(anchor, anchor_label)
                .help(format!(
                    "add `tool {} requires SCOPE`, or `deny tool {}` to say it is meant",
                    tool.name, tool.name
                )),
            );
            continue;
        };
        let (Some(rule), Some(resolved)) = (
            table.rule(rule_id),
            context.resolved.rules.get(rule_id.0 as usize),
        ) else {
            continue;
        };
        let Effect::Allow(clauses) = &rule.effect else {
            continue;
        };
        let satisfiable_with = |held: &mcp_policy_table::ScopeSet| {
            clauses
                .iter()
                .find(|clause| context.clause_within(clause, held))
        };
        if tool.destructive_hint == Some(true)
            && let Some(clause) = satisfiable_with(&below_admin)
        {
            let how = context.token_with(clause);
            findings.push(
                Finding::new(
                    Lint::DestructiveHintReachable,
                    resolved.span,
                    format!("tool `{}` is marked destructive by the server, yet {how} can call it", tool.name),
                )
                .label(resolved.span, "no admin scope needed")
                .help("require an admin-level scope for tools the server marks `destructiveHint: true`"),
            );
        }
        if tool.read_only_hint == Some(true) && satisfiable_with(&read_only).is_none() {
            findings.push(
                Finding::new(
                    Lint::ReadOnlyHintNeedsWrite,
                    resolved.span,
                    format!(
                        "tool `{}` only reads (`readOnlyHint`), yet needs a write or admin scope",
                        tool.name
                    ),
                )
                .label(resolved.span, "no read-level scope is enough")
                .help("let a read-level scope call it, so read-only clients can"),
            );
        }
    }
    // Rules for tools the server does not list.
    let names: Vec<&str> = tools.tools.iter().map(|tool| tool.name.as_str()).collect();
    let listed: std::collections::HashSet<&str> = names.iter().copied().collect();
    for (resolved, rule) in context.rules() {
        if rule.kind != TargetKind::Tool {
            continue;
        }
        match &rule.target {
            Target::Exact(name) if !listed.contains(name.as_str()) => {
                let mut finding = Finding::new(
                    Lint::UnknownTool,
                    resolved.span,
                    format!("the server lists no tool `{name}`"),
                )
                .label(resolved.span, "guards nothing");
                finding = match did_you_mean(name, names.iter().copied()) {
                    Some(suggestion) => finding.help(format!("did you mean `{suggestion}`?")),
                    None => finding.help(
                        "remove the rule, or check the tool list is the server's current one",
                    ),
                };
                findings.push(finding);
            }
            Target::Glob(glob)
                if rule.effect != Effect::Deny && !names.iter().any(|name| glob.matches(name)) =>
            {
                findings.push(
                    Finding::new(
                        Lint::UnknownTool,
                        resolved.span,
                        format!("pattern `{glob}` matches no tool the server lists"),
                    )
                    .label(resolved.span, "guards nothing today")
                    .help("remove the rule, or check the tool list is the server's current one"),
                );
            }
            _ => {}
        }
    }
}
