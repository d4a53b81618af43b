//! Destructive tools within easy reach, and `default allow`.

use mcp_policy_table::{DefaultEffect, Effect, Level, ScopeSet, Target, TargetKind};

use super::{Context, Finding, Lint};
use crate::ast::Statement;

/// Words that name destructive operations: data or access lost, or
/// arbitrary effects (`execute`).
const DESTRUCTIVE_WORDS: [&str; 15] = [
    "delete", "drop", "purge", "destroy", "remove", "rotate", "reset", "revoke", "wipe",
    "truncate", "erase", "execute", "archive", "kick", "ban",
];

/// The destructive word in a tool name, if any: names are split into words
/// at `_ - . /`, `:` and lower-to-upper case changes (`deleteRepo`).
pub(crate) fn destructive_word(name: &str) -> Option<&'static str> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            words.push(std::mem::take(&mut word));
            previous_lower = false;
            continue;
        }
        if c.is_uppercase() && previous_lower {
            words.push(std::mem::take(&mut word));
        }
        previous_lower = c.is_lowercase();
        word.extend(c.to_lowercase());
    }
    words.push(word);
    DESTRUCTIVE_WORDS
        .into_iter()
        .find(|destructive| words.iter().any(|word| word == destructive))
}

/// A name with each non-ASCII character replaced by its confusable
/// prototype (UTS #39): `dеlete_repo` with a Cyrillic `е` reads as, and is
/// judged as, `delete_repo`. ASCII characters stay (the skeleton of `m` is
/// `rn`, which would hide `remove`).
fn as_latin(name: &str) -> String {
    if name.is_ascii() {
        return name.to_owned();
    }
    let mut buffer = [0u8; 4];
    name.chars()
        .flat_map(|c| {
            let prototype: Vec<char> = if c.is_ascii() {
                vec![c]
            } else {
                unicode_security::skeleton(c.encode_utf8(&mut buffer)).collect()
            };
            prototype
        })
        .collect()
}

/// Every scope of the given levels, closed under `implies`: what a token
/// limited to those levels can hold at most.
pub(crate) fn strongest_token(context: &Context<'_>, levels: &[Level]) -> ScopeSet {
    let catalog = context.catalog();
    catalog.set_of(
        catalog
            .iter()
            .filter(|(_, info)| levels.contains(&info.level))
            .map(|(id, _)| id),
    )
}

/// The strongest token without an admin-level scope. Both destructive
/// lints, by name (`destructive_reachable`) and by the server's annotation
/// (`destructive_hint_reachable`), flag a destructive tool this token can
/// call: destructive means admin, whichever way it is known.
pub(crate) fn below_admin(context: &Context<'_>) -> ScopeSet {
    strongest_token(
        context,
        &[Level::Read, Level::Write, Level::Resource, Level::OAuth],
    )
}

/// `destructive_reachable`.
pub(crate) fn destructive(context: &Context<'_>, findings: &mut Vec<Finding>) {
    let weak = below_admin(context);
    for (resolved, rule) in context.rules() {
        if rule.kind != TargetKind::Tool {
            continue;
        }
        let Effect::Allow(clauses) = &rule.effect else {
            continue;
        };
        let name = match &rule.target {
            Target::Exact(name) => name.as_str(),
            Target::Glob(glob) => glob.as_str(),
        };
        let Some(word) = destructive_word(name).or_else(|| destructive_word(&as_latin(name)))
        else {
            continue;
        };
        let Some(clause) = clauses
            .iter()
            .find(|clause| context.clause_within(clause, &weak))
        else {
            continue;
        };
        let how = context.token_with(clause);
        let span = resolved
            .requirement
            .as_ref()
            .map_or(resolved.span, |requirement| requirement.span);
        findings.push(
            Finding::new(
                Lint::DestructiveReachable,
                resolved.span,
                format!("destructive-looking tool `{name}` can be called by {how}"),
            )
            .label(span, format!("`{word}` needs an admin scope"))
            .help("require an admin-level scope (`requires mcp:admin`); if the tool is harmless, rename it or suppress this lint with a reason"),
        );
    }
}

/// `default_allow`.
pub(crate) fn default_allow(context: &Context<'_>, findings: &mut Vec<Finding>) {
    if context.table.default_effect() != DefaultEffect::Allow {
        return;
    }
    for statement in &context.file.statements {
        if let Statement::Default(value) = &statement.node {
            findings.push(
                Finding::new(
                    Lint::DefaultAllow,
                    statement.span,
                    "`default allow` opens every tool without a rule to every token",
                )
                .label(value.span, "tools added later are open too")
                .help("use `default deny` and give each tool a rule; `tool \"*\" requires authenticated` says the same openly, if it is really meant"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::destructive_word;

    #[test]
    fn words_are_found_in_every_naming_style() {
        assert_eq!(destructive_word("delete_repo"), Some("delete"));
        assert_eq!(destructive_word("deleteRepo"), Some("delete"));
        assert_eq!(destructive_word("repo-purge"), Some("purge"));
        assert_eq!(destructive_word("admin_*"), None);
        assert_eq!(destructive_word("db.drop.table"), Some("drop"));
        assert_eq!(destructive_word("RotateSecrets"), Some("rotate"));
        // Whole words only: `dropdown` and `preset` are not destructive.
        assert_eq!(destructive_word("render_dropdown"), None);
        assert_eq!(destructive_word("apply_preset"), None);
        assert_eq!(destructive_word("execute_query"), Some("execute"));
        assert_eq!(destructive_word("archiveProject"), Some("archive"));
        assert_eq!(destructive_word("kick_member"), Some("kick"));
        assert_eq!(destructive_word("ban-user"), Some("ban"));
        assert_eq!(destructive_word("banner_text"), None);
    }

    #[test]
    fn look_alike_letters_do_not_hide_a_destructive_word() {
        use super::as_latin;
        assert_eq!(as_latin("d\u{0435}lete_repo"), "delete_repo");
        assert_eq!(
            destructive_word(&as_latin("r\u{0435}move_member")),
            Some("remove")
        );
        assert_eq!(destructive_word(&as_latin("wi\u{200B}pe")), Some("wipe"));
    }
}
