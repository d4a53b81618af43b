//! `mcp-policy explain PATH --scopes "..." (--tool|--resource|--prompt) NAME`

use mcp_policy_evaluator::{Context, EvaluatedAtom, Request, RuleRef};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::context::{self, ClaimsInput};
use crate::escape::{backticked, shown};
use crate::token::{self, Trust};
use crate::{ExplainArgs, ExplainFormat, Format, Outcome, load};

/// The evaluator's explanation (`Explained`), with the request it is about
/// and the decision as a word; its fields as `Explained` documents them.
#[derive(Serialize)]
struct JsonExplanation<'a> {
    decision: &'static str,
    method: &'static str,
    name: &'a str,
    scopes: &'a [String],
    ignored_scopes: &'a [String],
    rule: Option<&'a RuleRef>,
    missing_scopes: &'a [String],
    allowable: bool,
    /// Every condition atom evaluated, with the value it read (absent for a
    /// policy without conditions, whose output is unchanged).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    conditions: &'a [EvaluatedAtom],
    /// The deciding rule's conditions that failed: no scope can help.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    failed_conditions: &'a [String],
    /// The atoms that made a `deny ... when` fire.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    denied_when: &'a [String],
}

/// What the decision reads besides the policy and the request.
struct Inputs {
    scopes: String,
    arguments: Option<Map<String, Value>>,
    claims: Option<Map<String, Value>>,
}

/// `--scopes`, `--arguments` and `--claims` read; a token in `--claims`
/// verified as `token verify` verifies it, its scopes then the held ones.
/// `Err` after reporting the problem (usage: exit 2).
fn inputs(args: &ExplainArgs) -> Result<Inputs, Outcome> {
    let usage = |message: String| {
        eprintln!("error: {message}");
        Outcome::UsageOrIo
    };
    let arguments = match &args.arguments {
        Some(text) => Some(context::object("--arguments", text).map_err(usage)?),
        None => None,
    };
    let claims = match &args.claims {
        Some(text) => Some(context::claims(text).map_err(usage)?),
        None => None,
    };
    let (claims, scopes) = match claims {
        None => (None, args.scopes.clone().unwrap_or_default()),
        // Claims given as JSON decide `claim.` conditions only: a `scope`
        // among them grants nothing, `--scopes` does.
        Some(ClaimsInput::Json(claims)) => (Some(claims), args.scopes.clone().unwrap_or_default()),
        Some(ClaimsInput::Token(jwt)) => {
            if args.scopes.is_some() {
                return Err(usage(
                    "--scopes and a token in --claims: the token's scopes are the ones held; give one or the other".to_owned(),
                ));
            }
            let (Some(jwks), Some(audience)) = (&args.jwks, &args.audience) else {
                return Err(usage(
                    "--claims holds a token: give --jwks, --issuer and --audience to verify it, as `mcp-policy token verify` does".to_owned(),
                ));
            };
            if args.issuers.is_empty() {
                return Err(usage(
                    "--claims holds a token: give --issuer (and --jwks, --audience) to verify it, as `mcp-policy token verify` does".to_owned(),
                ));
            }
            let trust = Trust {
                jwks,
                issuers: &args.issuers,
                audience,
            };
            let validator = token::validator(&trust, &args.checks)?;
            match token::validate(&validator, &jwt)? {
                Ok(principal) => (Some(principal.claims), principal.scopes.join(" ")),
                Err(rejection) => {
                    return Err(usage(format!(
                        "--claims: the token is rejected [{}]: {} (`mcp-policy token verify` says more)",
                        rejection.as_str(),
                        rejection.description()
                    )));
                }
            }
        }
    };
    Ok(Inputs {
        scopes,
        arguments,
        claims,
    })
}

pub fn run(args: &ExplainArgs) -> Outcome {
    let json = args.format == ExplainFormat::Json;
    let evaluator = match load::policy(&args.path) {
        Ok(evaluator) => evaluator,
        Err(error) => return error.report(if json { Format::Json } else { Format::Human }),
    };
    // Rule lines are lines of the source: of the policy itself, or of the
    // one a compiled table records (never of the table's JSON). A table
    // that records none has its lines shown without a file.
    let file = evaluator.table().source().unwrap_or_default().to_owned();
    let request = match (
        &args.target.tool,
        &args.target.resource,
        &args.target.prompt,
    ) {
        (Some(tool), _, _) => Request::CallTool(tool),
        (_, Some(uri), _) => Request::ReadResource(uri),
        (_, _, Some(prompt)) => Request::GetPrompt(prompt),
        // clap's group makes one of them required.
        (None, None, None) => return Outcome::UsageOrIo,
    };
    let inputs = match inputs(args) {
        Ok(inputs) => inputs,
        Err(outcome) => return outcome,
    };
    let held: Vec<&str> = mcp_policy_evaluator::scope_tokens(&inputs.scopes).collect();
    // resources/read has no arguments: a server decides it on claims alone.
    let arguments = match request {
        Request::ReadResource(_) => None,
        _ => inputs.arguments.as_ref(),
    };
    let explained = evaluator.explained_in(
        request,
        &held,
        &Context::new(arguments, inputs.claims.as_ref()),
    );
    let output = JsonExplanation {
        decision: if explained.allowed { "allow" } else { "deny" },
        method: request.kind().method(),
        name: request.name(),
        scopes: &explained.scopes,
        ignored_scopes: &explained.ignored_scopes,
        rule: explained.rule.as_ref(),
        missing_scopes: &explained.missing_scopes,
        allowable: explained.allowable,
        conditions: &explained.conditions,
        failed_conditions: &explained.failed_conditions,
        denied_when: &explained.denied_when,
    };
    if json {
        if let Err(outcome) = crate::output::json(&output, "JSON") {
            return outcome;
        }
    } else {
        out!(
            "{}",
            human(&output, &file, evaluator.table().default_effect())
        );
    }
    Outcome::Ok
}

fn human(
    output: &JsonExplanation<'_>,
    file: &str,
    default: mcp_policy_evaluator::DefaultEffect,
) -> String {
    let mut text = format!(
        "{}: {} `{}`\n",
        output.decision,
        output.method,
        shown(output.name)
    );
    text.push_str(&lines(&Lines {
        scopes: output.scopes,
        ignored: output.ignored_scopes,
        rule: output.rule.map(|rule| (rule.text.as_str(), rule.line)),
        file,
        default: Some(default),
        allowed: output.decision == "allow",
        allowable: output.allowable,
        missing: output.missing_scopes,
        conditions: Conditions {
            evaluated: output.conditions,
            failed: output.failed_conditions,
            fired: output.denied_when,
        },
    }));
    text
}

/// What explains one decision, for [`lines`].
pub struct Lines<'a, S> {
    pub scopes: &'a [S],
    pub ignored: &'a [S],
    /// The deciding rule's text and line; `None` for the default.
    pub rule: Option<(&'a str, u32)>,
    /// The policy's source file, for `file:line`; empty when unknown (a
    /// compiled table that does not record it).
    pub file: &'a str,
    /// The policy's default, when known, to name it.
    pub default: Option<mcp_policy_evaluator::DefaultEffect>,
    pub allowed: bool,
    pub allowable: bool,
    pub missing: &'a [S],
    pub conditions: Conditions<'a>,
}

/// The conditions a decision evaluated, and those that denied it.
#[derive(Clone, Copy, Default)]
pub struct Conditions<'a> {
    pub evaluated: &'a [EvaluatedAtom],
    pub failed: &'a [String],
    pub fired: &'a [String],
}

/// A decision explained, one fact a line, as `explain` and `test` print it.
pub fn lines<S: AsRef<str>>(decision: &Lines<'_, S>) -> String {
    let join = |items: &[S]| {
        items
            .iter()
            .map(AsRef::as_ref)
            .map(shown)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let held = if decision.scopes.is_empty() {
        "(none the policy declares)".to_owned()
    } else {
        join(decision.scopes)
    };
    let mut text = format!("  token scopes:   {held}\n");
    if !decision.ignored.is_empty() {
        text.push_str(&format!(
            "  ignored:        {} (not declared by this policy)\n",
            join(decision.ignored)
        ));
    }
    match (decision.rule, decision.default) {
        (Some((rule, line)), _) if decision.file.is_empty() => text.push_str(&format!(
            "  decided by:     {rule} (line {line} of the policy's source)\n"
        )),
        (Some((rule, line)), _) => text.push_str(&format!(
            "  decided by:     {} ({}:{line})\n",
            shown(rule),
            shown(decision.file)
        )),
        (None, Some(default)) => text.push_str(&format!(
            "  decided by:     the default (`default {}`): no rule matches\n",
            match default {
                mcp_policy_evaluator::DefaultEffect::Deny => "deny",
                mcp_policy_evaluator::DefaultEffect::Allow => "allow",
            }
        )),
        (None, None) => text.push_str("  decided by:     the default: no rule matches\n"),
    }
    text.push_str(&conditions(&decision.conditions, "  "));
    if !decision.allowed {
        if decision.allowable {
            text.push_str(&format!("  missing scopes: {}\n", join(decision.missing)));
        } else {
            text.push_str("  no scope can allow this request\n");
        }
    }
    text
}

/// The conditions evaluated, one a line with the value read, then which
/// failed or fired; empty for a decision that read none. Values are shown
/// escaped: they come from the caller.
pub fn conditions(conditions: &Conditions<'_>, indent: &str) -> String {
    let mut text = String::new();
    if conditions.evaluated.is_empty() {
        return text;
    }
    text.push_str(&format!("{indent}conditions:\n"));
    for atom in conditions.evaluated {
        let value = match (&atom.value, &atom.other) {
            (Some(value), Some(other)) => Some(format!("{value} vs {other}")),
            (Some(value), None) => Some(value.to_string()),
            // Nothing was read: `why` says it is missing.
            (None, _) => None,
        };
        let verdict = match &atom.why {
            _ if atom.holds => "holds".to_owned(),
            Some(why) if atom.undecided => {
                format!("undecided: {why}; an allow fails on it, a deny fires")
            }
            Some(why) => format!("false: {why}"),
            None => "false".to_owned(),
        };
        let read = value
            .map(|value| format!("; read {}", shown(&clipped(&value))))
            .unwrap_or_default();
        text.push_str(&format!(
            "{indent}  {}  [{verdict}{read}]\n",
            shown(&atom.atom)
        ));
    }
    if !conditions.failed.is_empty() {
        text.push_str(&format!(
            "{indent}failed:         {} (no scope can help)\n",
            backticked(conditions.failed)
        ));
    }
    if !conditions.fired.is_empty() {
        text.push_str(&format!(
            "{indent}deny-when fired: {} (no scope can help)\n",
            backticked(conditions.fired)
        ));
    }
    text
}

/// The most characters of a value shown on a line: a 1 MiB argument is
/// not a 1 MiB line (the JSON output has it whole).
const SHOWN_VALUE_CHARS: usize = 120;

fn clipped(value: &str) -> String {
    if value.chars().count() <= SHOWN_VALUE_CHARS {
        return value.to_owned();
    }
    let head: String = value.chars().take(SHOWN_VALUE_CHARS).collect();
    format!("{head}... ({} bytes)", value.len())
}
