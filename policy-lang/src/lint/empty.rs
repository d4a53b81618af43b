//! `empty_policy`: a policy that grants nothing.

use mcp_policy_table::{DefaultEffect, Effect};

use super::{Context, Finding, Lint};
use crate::ast::{Span, Statement};

/// Under `default deny`, no rule that allows: every call is denied. (Under
/// `default allow`, `default_allow` already speaks.)
pub(crate) fn allows_nothing(context: &Context<'_>, findings: &mut Vec<Finding>) {
    if context.table.default_effect() != DefaultEffect::Deny
        || context
            .table
            .rules()
            .iter()
            .any(|rule| matches!(rule.effect, Effect::Allow(_)))
    {
        return;
    }
    let rules = context
        .file
        .statements
        .iter()
        .filter(|s| matches!(s.node, Statement::Rule(_)))
        .count();
    // The finding stands on the `default` statement when there is one (it
    // is what decides every call), else at the start of the file.
    let (statement, label) = context
        .file
        .statements
        .iter()
        .find(|s| matches!(s.node, Statement::Default(_)))
        .map_or((Span::new(0, 0), "no rule allows anything"), |s| {
            (s.span, "decides every call")
        });
    let message = if rules == 0 {
        "the policy has no rules: it denies every call to every token".to_owned()
    } else {
        // The verb agrees with the count (`1 rule only denies`). The CLI's
        // `words` helper is out of reach here: this crate is below it.
        let (noun, verb) = if rules == 1 {
            ("rule", "denies")
        } else {
            ("rules", "deny")
        };
        format!("the policy's {rules} {noun} only {verb}: it denies every call to every token")
    };
    findings.push(
        Finding::new(Lint::EmptyPolicy, statement, message)
            .label(statement, label)
            .help("add the rules that grant the server's tools (`tool NAME requires SCOPE`); a policy that is meant to close a server can say so with a suppression comment"),
    );
}
