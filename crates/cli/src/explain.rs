//! `mcp-policy explain PATH --scopes "..." (--tool|--resource|--prompt) NAME`

use mcp_policy_evaluator::{Request, RuleRef};
use serde::Serialize;

use crate::escape::shown;
use crate::{ExplainArgs, ExplainFormat, Outcome, load};

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
}

pub fn run(args: &ExplainArgs) -> Outcome {
    let json = args.format == ExplainFormat::Json;
    let evaluator = match load::policy(&args.path) {
        Ok(evaluator) => evaluator,
        Err(outcome) => return outcome,
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
    let held: Vec<&str> = mcp_policy_evaluator::scope_tokens(&args.scopes).collect();
    let explained = evaluator.explained(request, &held);
    let output = JsonExplanation {
        decision: if explained.allowed { "allow" } else { "deny" },
        method: request.kind().method(),
        name: request.name(),
        scopes: &explained.scopes,
        ignored_scopes: &explained.ignored_scopes,
        rule: explained.rule.as_ref(),
        missing_scopes: &explained.missing_scopes,
        allowable: explained.allowable,
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
    if !decision.allowed {
        if decision.allowable {
            text.push_str(&format!("  missing scopes: {}\n", join(decision.missing)));
        } else {
            text.push_str("  no scope can allow this request\n");
        }
    }
    text
}
