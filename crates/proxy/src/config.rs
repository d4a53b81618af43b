//! The proxy's configuration file (`--config proxy.yaml`): every key is a
//! flag's name without its `--`, so one table documents both, and the
//! command line merges them (flag > environment > file > default).
//!
//! A key the proxy does not know is an error, not a warning: a misspelt
//! `forward-identiy: true` that is silently ignored leaves a deployment
//! believing it has a protection it lacks. Every error is a diagnostic with
//! the stable code [`CODE`], a span into the file and a help line (for an
//! unknown key, the nearest known one when there is one close enough).

use std::path::{Path, PathBuf};

use mcp_policy_diagnostic::{Diagnostic, DiagnosticCode, Span};
use serde::Deserialize;

/// The stable code of every configuration file diagnostic.
pub const CODE: &str = "mcp_policy::proxy::config";

/// The configuration file as written; `None` is "not in the file".
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileConfig {
    pub upstream: Option<String>,
    pub command: Option<Vec<String>>,
    pub upstream_header_file: Option<PathBuf>,
    pub bind: Option<String>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub jwks: Option<String>,
    pub policy: Option<PathBuf>,
    pub authorization_server: Option<String>,
    pub denial: Option<String>,
    pub dry_run: Option<bool>,
    pub leeway: Option<u64>,
    pub scope_claims: Option<Vec<String>>,
    pub upstream_connect_timeout: Option<u64>,
    pub upstream_timeout: Option<u64>,
    pub max_connections: Option<usize>,
    pub header_timeout: Option<u64>,
    pub body_timeout: Option<u64>,
    pub idle_timeout: Option<u64>,
    pub max_sessions: Option<usize>,
    pub max_sessions_per_principal: Option<usize>,
    pub session_idle_timeout: Option<u64>,
    pub forward_identity: Option<bool>,
    pub subject_header: Option<String>,
    pub client_id_header: Option<String>,
    pub scopes_header: Option<String>,
    pub issuer_header: Option<String>,
    pub admin_bind: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub upstream_idle_timeout: Option<u64>,
    pub upstream_transport: Option<String>,
    pub stdio_mode: Option<String>,
    pub otlp_endpoint: Option<String>,
    pub otlp_protocol: Option<String>,
}

/// Every key [`FileConfig`] accepts, for "did you mean" (a test keeps the
/// two in step).
pub const KEYS: [&str; 35] = [
    "upstream",
    "command",
    "upstream-header-file",
    "bind",
    "issuer",
    "audience",
    "jwks",
    "policy",
    "authorization-server",
    "denial",
    "dry-run",
    "leeway",
    "scope-claims",
    "upstream-connect-timeout",
    "upstream-timeout",
    "max-connections",
    "header-timeout",
    "body-timeout",
    "idle-timeout",
    "max-sessions",
    "max-sessions-per-principal",
    "session-idle-timeout",
    "forward-identity",
    "subject-header",
    "client-id-header",
    "scopes-header",
    "issuer-header",
    "admin-bind",
    "tls-cert",
    "tls-key",
    "upstream-idle-timeout",
    "upstream-transport",
    "stdio-mode",
    "otlp-endpoint",
    "otlp-protocol",
];

/// The code of a configuration file's problems: the proxy's one code in
/// the diagnostic model that policies and test files share, so the CLI
/// renders it as it renders theirs (escaped, with the line shown).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigCode;

impl DiagnosticCode for ConfigCode {
    fn as_str(self) -> &'static str {
        CODE
    }
}

/// A configuration file that cannot be used: one diagnostic, against the
/// file's text.
#[derive(Debug)]
pub struct ConfigError {
    pub diagnostic: Diagnostic<ConfigCode>,
    /// The file as it is named in diagnostics.
    pub file: String,
    pub text: String,
}

impl ConfigError {
    fn new(shown: &str, text: &str, message: String, span: Span, help: String) -> ConfigError {
        ConfigError {
            diagnostic: Diagnostic::error(ConfigCode, message)
                .with_label(span, "here")
                .with_help(help),
            file: shown.to_owned(),
            text: text.to_owned(),
        }
    }

    pub fn message(&self) -> &str {
        &self.diagnostic.message
    }

    pub fn help(&self) -> &str {
        self.diagnostic.help.as_deref().unwrap_or_default()
    }

    /// Where the problem is in the text.
    pub fn span(&self) -> Span {
        self.diagnostic.span()
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl std::error::Error for ConfigError {}

/// Parses `text`, the file `shown` (as it is named in diagnostics). An
/// empty file (or one of comments only) is a configuration with nothing
/// in it.
pub fn parse(shown: &str, text: &str) -> Result<FileConfig, Box<ConfigError>> {
    if let Some(offset) = too_deep(text) {
        return Err(Box::new(ConfigError::new(
            shown,
            text,
            format!("`[` and `{{` nested more than {MAX_FLOW_DEPTH} deep"),
            Span::new(offset, offset + 1),
            "a configuration nests one level (`command: [...]`); this is not one".to_owned(),
        )));
    }
    match serde_yaml::from_str::<Option<FileConfig>>(text) {
        Ok(config) => Ok(config.unwrap_or_default()),
        Err(error) => Err(Box::new(diagnose(shown, text, &error))),
    }
}

fn diagnose(shown: &str, text: &str, error: &serde_yaml::Error) -> ConfigError {
    let full = error.to_string();
    // serde_yaml appends " at line L column C"; the span says it better.
    let message = match full.find(" at line ") {
        Some(at) => full.get(..at).unwrap_or(&full).to_owned(),
        None => full.clone(),
    };
    let offset = error
        .location()
        .map_or(0, |location| location.index())
        .min(text.len());
    let unknown = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(key, _)| key.to_owned());
    let (message, help, length) = match unknown {
        Some(key) => {
            let help = match nearest(&key) {
                Some(known) => format!("did you mean `{known}`?"),
                None => "the keys are the flags' names without `--`; see docs/proxy.md".to_owned(),
            };
            let length = if text
                .get(offset..)
                .is_some_and(|rest| rest.starts_with(&key))
            {
                key.len()
            } else {
                1
            };
            (
                format!("unknown key `{}`", key.escape_debug()),
                help,
                length,
            )
        }
        None => (
            message,
            "each key takes the value its flag takes (docs/proxy.md lists them)".to_owned(),
            // The rest of the line: the value that could not be read.
            text.get(offset..)
                .map_or(0, |rest| rest.find('\n').unwrap_or(rest.len()))
                .max(usize::from(offset < text.len())),
        ),
    };
    ConfigError::new(
        shown,
        text,
        message,
        Span::new(offset, offset + length),
        help,
    )
}

/// How deep `[` and `{` may nest. The YAML scanner underneath takes time
/// quadratic in the depth (a 200 KB file of `[[[[...` took 70 s), and it
/// scans the whole file before any limit of the deserializer applies; a
/// configuration needs one level.
const MAX_FLOW_DEPTH: usize = 32;

/// The offset of the first `[` or `{` nested past [`MAX_FLOW_DEPTH`],
/// outside quotes and comments; a quote counts only where a scalar can
/// start (so the `'` of `it's` opens nothing).
fn too_deep(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut comment = false;
    let mut escaped = false;
    let mut previous = '\n';
    for (offset, c) in text.char_indices() {
        let before = std::mem::replace(&mut previous, c);
        if comment {
            comment = c != '\n';
            continue;
        }
        match quote {
            Some('"') if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => {
                let starts = before.is_whitespace() || matches!(before, '[' | '{' | ',' | ':');
                match c {
                    '#' if before.is_whitespace() => comment = true,
                    '"' | '\'' if starts => quote = Some(c),
                    '[' | '{' => {
                        depth += 1;
                        if depth > MAX_FLOW_DEPTH {
                            return Some(offset);
                        }
                    }
                    ']' | '}' => depth = depth.saturating_sub(1),
                    _ => {}
                }
            }
        }
    }
    None
}

/// The known key closest to `key`, if it is close enough to be a typo.
fn nearest(key: &str) -> Option<&'static str> {
    KEYS.iter()
        .map(|known| (strsim::damerau_levenshtein(key, known), *known))
        .filter(|(distance, known)| *distance <= 2.max(known.len() / 4))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, known)| known)
}

/// Reads and parses the file at `path`, bounded as every input is.
pub fn read(path: &Path) -> Result<FileConfig, ReadConfigError> {
    let shown = path.display().to_string();
    let bytes = mcp_policy_fs::read(path, mcp_policy_fs::limit::CONFIG).map_err(|error| {
        ReadConfigError::Io(format!("cannot read `{shown}`: {error} [{}]", error.code()))
    })?;
    let text = mcp_policy_fs::decode(&bytes).map_err(|error| {
        ReadConfigError::Io(format!("cannot read `{shown}`: {error} [{}]", error.code()))
    })?;
    parse(&shown, text).map_err(ReadConfigError::Invalid)
}

/// Why the configuration file could not be used.
#[derive(Debug)]
pub enum ReadConfigError {
    /// Not read (missing, too large, a FIFO, not UTF-8).
    Io(String),
    /// Read, but not a valid configuration.
    Invalid(Box<ConfigError>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_accepted_and_keys_lists_them_all() {
        for key in KEYS {
            let value = match key {
                "command" | "scope-claims" => "[a]",
                "dry-run" | "forward-identity" => "true",
                k if k.ends_with("timeout") || k.starts_with("max-") || k == "leeway" => "1",
                _ => "x",
            };
            let parsed = parse("t.yaml", &format!("{key}: {value}\n"));
            assert!(parsed.is_ok(), "{key}: {parsed:?}");
            assert_ne!(parsed.ok(), Some(FileConfig::default()), "{key} is ignored");
        }
    }

    #[test]
    fn empty_and_comment_only_files_are_empty_configurations() {
        for text in ["", "\n", "# nothing\n", "---\n"] {
            assert_eq!(
                parse("t", text).ok(),
                Some(FileConfig::default()),
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_misspelt_key_is_pointed_at_with_the_key_it_meant() {
        let text = "issuer: https://a\nforward-identiy: true\n";
        let error = parse("t.yaml", text).unwrap_err();
        assert_eq!(error.message(), "unknown key `forward-identiy`");
        assert_eq!(error.help(), "did you mean `forward-identity`?");
        assert_eq!(error.span().start, 18);
        assert_eq!(error.span().len(), "forward-identiy".len());
        let far = parse("t.yaml", "colour: blue\n").unwrap_err();
        assert!(far.help().contains("docs/proxy.md"), "{}", far.help());
    }

    #[test]
    fn an_alias_bomb_is_refused_quickly() {
        // Nine levels of nine aliases: 9^9 strings if expanded.
        let mut items = vec!["&a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]".to_owned()];
        for level in 1..10 {
            let previous = format!("*a{}", level - 1);
            items.push(format!("&a{level} [{}]", [previous.as_str(); 9].join(", ")));
        }
        let started = std::time::Instant::now();
        for key in ["command", "scope-claims"] {
            let bomb = format!("{key}: [{}]\n", items.join(", "));
            assert!(parse("t.yaml", &bomb).is_err(), "{key}");
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn a_value_of_the_wrong_type_is_an_error_too() {
        let error = parse("t.yaml", "leeway: soon\n").unwrap_err();
        assert!(
            error.message().contains("invalid type"),
            "{}",
            error.message()
        );
        assert!(parse("t.yaml", "- a list\n").is_err());
        assert!(parse("t.yaml", "bind: [\n").is_err());
        assert!(parse("t.yaml", "bind: a\nbind: b\n").is_err());
    }

    #[test]
    fn a_key_twice_however_spelt_is_an_error_never_last_wins() {
        for twice in [
            "forward-identity: true\nforward-identity: false\n",
            "forward-identity: true\n\"forward-identity\": false\n",
            "forward-identity: true\n? forward-identity\n: false\n",
            "dry-run: false\n'dry-run': true\n",
            "base: &b {dry-run: false}\n<<: *b\ndry-run: true\n",
            "{dry-run: false, dry-run: true}\n",
        ] {
            let error = parse("t.yaml", twice).unwrap_err();
            assert!(error.span().start <= twice.len(), "{twice}");
        }
    }

    #[test]
    fn a_directory_a_fifo_or_bytes_that_are_not_utf8_are_refused_at_once() {
        let dir =
            std::env::temp_dir().join(format!("mcp-policy-config-attack-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let started = std::time::Instant::now();
        assert!(matches!(read(&dir), Err(ReadConfigError::Io(_))));
        let fifo = dir.join("fifo.yaml");
        let _ = std::fs::remove_file(&fifo);
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        // Nobody writes to it: a read would wait for ever.
        assert!(matches!(read(&fifo), Err(ReadConfigError::Io(_))));
        let binary = dir.join("binary.yaml");
        std::fs::write(&binary, b"bind: \xff\xfe\n").unwrap();
        assert!(matches!(read(&binary), Err(ReadConfigError::Io(_))));
        let big = dir.join("big.yaml");
        std::fs::write(&big, format!("issuer: {}\n", "x".repeat(2 * 1024 * 1024))).unwrap();
        assert!(matches!(read(&big), Err(ReadConfigError::Io(_))));
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn deep_nesting_huge_strings_and_tags_are_errors_or_plain_values() {
        let started = std::time::Instant::now();
        // Within the 1 MiB a file may have: refused at once, pointed at.
        let deep = format!("command: {}{}\n", "[".repeat(500_000), "]".repeat(500_000));
        let error = parse("t.yaml", &deep).unwrap_err();
        assert_eq!(error.span().start, "command: ".len() + MAX_FLOW_DEPTH);
        assert!(error.message().contains("nested"), "{}", error.message());
        // Brackets in quotes, comments and plain scalars are not nesting.
        let quoted = format!(
            "command: [node, \"{}\", '{}', it's{}] # {}\nupstream: http://[::1]:3000/mcp\n",
            "[".repeat(100),
            "{".repeat(100),
            "",
            "[".repeat(100)
        );
        assert!(parse("t.yaml", &quoted).is_ok(), "{quoted}");
        let nested = format!(
            "command: {}a{}\n",
            "[".repeat(MAX_FLOW_DEPTH),
            "]".repeat(MAX_FLOW_DEPTH)
        );
        assert!(
            !parse("t.yaml", &nested)
                .unwrap_err()
                .message()
                .contains("nested")
        );
        let deep_map = format!(
            "command: {}x{}\n",
            "{a: ".repeat(10_000),
            "}".repeat(10_000)
        );
        assert!(parse("t.yaml", &deep_map).is_err());
        let huge = format!("issuer: {}\n", "x".repeat(4 * 1024 * 1024));
        assert_eq!(
            parse("t.yaml", &huge).unwrap().issuer.map(|i| i.len()),
            Some(4 * 1024 * 1024)
        );
        assert!(parse("t.yaml", "dry-run: !!binary dHJ1ZQ==\n").is_err());
        assert!(parse("t.yaml", "\u{feff}dry-run: true\n").is_ok_and(|c| c.dry_run == Some(true)));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
