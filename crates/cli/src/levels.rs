//! `--deny`, `--warn`, `--allow`: lint levels from the command line.

use clap::ArgMatches;
use mcp_policy_lang::did_you_mean;
use mcp_policy_lang::lint::{Lint, LintConfig, LintLevel};

/// What every lint's code starts with (`mcp_policy::lint::unused_scope`).
const CODE_PREFIX: &str = "mcp_policy::lint::";

/// The lint configuration the flags ask for, applied in the order given
/// (the last setting of a lint wins); `warnings` is accepted with `--deny`.
/// A lint is named by its short name or by its full code.
/// An unknown lint name is a usage error, with a suggestion.
pub fn config(matches: Option<&ArgMatches>) -> Result<LintConfig, String> {
    let mut settings: Vec<(usize, LintLevel, String)> = Vec::new();
    if let Some(matches) = matches {
        for (id, level) in [
            ("deny", LintLevel::Deny),
            ("warn", LintLevel::Warn),
            ("allow", LintLevel::Allow),
        ] {
            let values = matches.get_many::<String>(id).into_iter().flatten();
            let indices = matches.indices_of(id).into_iter().flatten();
            settings.extend(
                indices
                    .zip(values)
                    .map(|(index, name)| (index, level, name.clone())),
            );
        }
    }
    settings.sort_by_key(|(index, _, _)| *index);
    let mut config = LintConfig::default();
    for (_, level, name) in settings {
        if name == "warnings" {
            if level != LintLevel::Deny {
                return Err("`warnings` goes with `--deny` only".to_owned());
            }
            config.deny_warnings(true);
            continue;
        }
        // The code as diagnostics print it (`mcp_policy::lint::unused_scope`)
        // names the same lint as its short name: copied from the output, it
        // must work on the command line.
        let lint = Lint::from_name(&name).or_else(|| Lint::from_code(&name));
        match lint {
            Some(lint) => {
                config.set(lint, level);
            }
            None => {
                // A misspelt code gets a code back, a misspelt name a name.
                let (prefix, short) = match name.strip_prefix(CODE_PREFIX) {
                    Some(short) => (CODE_PREFIX, short),
                    None => ("", name.as_str()),
                };
                let names = Lint::ALL.map(Lint::name);
                let extra = if prefix.is_empty() {
                    &["warnings"][..]
                } else {
                    &[]
                };
                let hint = match did_you_mean(short, names.iter().chain(extra).copied()) {
                    Some(suggestion) => format!("; did you mean `{prefix}{suggestion}`?"),
                    None => "; the lints are listed in docs/lints.md".to_owned(),
                };
                return Err(format!("unknown lint `{name}`{hint}"));
            }
        }
    }
    Ok(config)
}
