//! Lints against the server's own tool list: what `tools/list` answers.

use std::fmt;

use mcp_policy_table::{Effect, Level, Target, TargetKind};
use serde::Deserialize;

use super::danger::{below_admin, strongest_token};
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
    /// MCP `inputSchema`, as the server sent it: any JSON, read by the
    /// argument lints only as far as they understand it.
    pub input_schema: Option<serde_json::Value>,
}

/// The server's tools, from a `ListToolsResult` (or the JSON-RPC response
/// carrying one).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ToolList {
    pub tools: Vec<ToolInfo>,
}

/// A `--tools` file that is not a `tools/list` result: what was wrong, and
/// where (1-based line and column, as `serde_json` counts them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolListError {
    pub message: String,
    pub line: usize,
    pub column: usize,
}

/// The shape a `--tools` file must have, for every error message.
const EXPECTED: &str = "expected a `tools/list` result, `{\"tools\": [{\"name\": \"...\", \"annotations\": {...}}]}`, or a JSON-RPC response holding one as `result`";

impl fmt::Display for ToolListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}; {EXPECTED}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for ToolListError {}

impl ToolListError {
    fn from_json(error: &serde_json::Error) -> ToolListError {
        let (line, column) = (error.line(), error.column());
        // serde_json's text ends with the position, given apart here.
        let text = error.to_string();
        let message = text
            .strip_suffix(&format!(" at line {line} column {column}"))
            .unwrap_or(&text)
            .to_owned();
        ToolListError {
            message,
            line,
            column,
        }
    }
}

/// Both shapes at once (a result, or a response around one): a struct, not
/// an untagged enum, so that an error inside a tool reads as that error, at
/// its place, rather than as "did not match any variant".
#[derive(Deserialize)]
#[serde(expecting = "a JSON object")]
struct Wire {
    #[serde(default)]
    result: Option<ListToolsResult>,
    #[serde(default)]
    tools: Option<Vec<WireTool>>,
}

#[derive(Deserialize)]
#[serde(expecting = "an object with a `tools` array")]
struct ListToolsResult {
    tools: Vec<WireTool>,
}

#[derive(Deserialize)]
#[serde(expecting = "a tool: an object with a `name`")]
struct WireTool {
    name: String,
    #[serde(default)]
    annotations: Option<WireAnnotations>,
    /// Any JSON: a schema of a shape the lints do not know is skipped by
    /// them, not refused here.
    #[serde(default, rename = "inputSchema")]
    input_schema: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", expecting = "an `annotations` object")]
struct WireAnnotations {
    read_only_hint: Option<bool>,
    destructive_hint: Option<bool>,
}

impl ToolList {
    pub fn from_json(json: &str) -> Result<ToolList, ToolListError> {
        // Where the document starts: serde would also read a struct from an
        // array, and then speak of the array's first member.
        let start = json.len() - json.trim_start().len();
        let (line, column) = crate::diagnostic::line_column(json, start);
        let Some(first) = json.trim_start().chars().next() else {
            return Err(ToolListError {
                message: "the file is empty".to_owned(),
                line,
                column,
            });
        };
        if first != '{' {
            let message = if first == '[' {
                "an array, not an object".to_owned()
            } else {
                format!("`{}`, not an object", first.escape_debug())
            };
            return Err(ToolListError {
                message,
                line,
                column,
            });
        }
        let wire: Wire =
            serde_json::from_str(json).map_err(|error| ToolListError::from_json(&error))?;
        let tools = match (wire.result, wire.tools) {
            (Some(result), None) => result.tools,
            (None, Some(tools)) => tools,
            (result, _) => {
                // The object as a whole is wrong: point at its start.
                let message = if result.is_some() {
                    "both `tools` and `result`: which is the list is unclear"
                } else {
                    "no `tools` array and no `result`"
                };
                return Err(ToolListError {
                    message: message.to_owned(),
                    line,
                    column,
                });
            }
        };
        Ok(ToolList {
            tools: tools
                .into_iter()
                .map(|tool| ToolInfo {
                    name: tool.name,
                    read_only_hint: tool.annotations.as_ref().and_then(|a| a.read_only_hint),
                    destructive_hint: tool.annotations.as_ref().and_then(|a| a.destructive_hint),
                    input_schema: tool.input_schema,
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
    let below_admin = below_admin(context);
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
