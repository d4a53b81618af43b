//! `mcp-policy token verify TOKEN|- --jwks FILE_OR_URL --issuer ISS --audience AUD`
//!
//! Runs the validation a server runs (mcp-policy-token, the same
//! configuration), and says why the token is accepted or rejected, with the
//! stable reason code, its claims and the scopes a policy would see; with
//! `--policy` and `--tool`, the decision too.
//!
//! Exit codes: 0 the token is valid (whatever the policy decides); 1 it is
//! rejected; 2 usage or I/O (an unreadable token, JWKS or policy, a JWKS URL
//! that cannot be fetched, a configuration the validator refuses).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use mcp_policy_evaluator::{Context, EvaluatedAtom, Evaluator, Request, RuleRef};
use mcp_policy_token::{
    Algorithm, KeySource, ManualClock, Principal, Rejection, Validator, ValidatorConfig,
};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::escape::shown;
use crate::{Format, Outcome, context, load};

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Validate one access token as a server would, and say why it is accepted or rejected.
    Verify(VerifyArgs),
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The token (a compact JWT, without `Bearer `), or `-` to read it from standard input.
    token: String,
    /// The JWKS: a file, or a URL (`https`; `http` only to a loopback address).
    #[arg(long, value_name = "FILE_OR_URL")]
    jwks: String,
    /// An accepted issuer (`iss`); repeat for several.
    #[arg(long = "issuer", value_name = "ISS", required = true)]
    issuers: Vec<String>,
    /// This server's resource URI: the token's `aud` must name it (RFC 8707).
    #[arg(long, value_name = "AUD")]
    audience: String,
    #[command(flatten)]
    checks: Checks,
    /// A policy (source or compiled table): decide `--tool` with the token's scopes.
    #[arg(long, value_name = "FILE", requires = "tool")]
    policy: Option<PathBuf>,
    /// The tool whose `tools/call` the policy decides.
    #[arg(long, value_name = "NAME", requires = "policy")]
    tool: Option<String>,
    /// The call's arguments (a JSON object), for the policy's `arg.`
    /// conditions; the token's verified claims decide `claim.` ones.
    #[arg(long, value_name = "JSON", requires = "tool")]
    arguments: Option<String>,
    #[arg(long, value_enum, default_value_t = TokenFormat::Human)]
    format: TokenFormat,
}

/// How a token is checked besides its keys, issuer and audience: the
/// options `token verify` and `explain --claims TOKEN` share.
#[derive(Args, Debug)]
pub struct Checks {
    /// The algorithm allow-list [default: RS256,RS384,RS512,PS256,PS384,PS512,ES256,ES384,EdDSA].
    #[arg(long, value_delimiter = ',', value_name = "ALG,...")]
    algorithms: Vec<Algorithm>,
    /// The HMAC secret for `HS*` algorithms (which `--algorithms` must also
    /// list), read from this file as bytes, as the server is configured; a
    /// secret is never taken on the command line, where `ps` would show it.
    #[arg(long, value_name = "FILE")]
    secret_file: Option<PathBuf>,
    /// Allowed clock skew for `exp` and `nbf`.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    leeway: u64,
    /// Evaluate `exp` and `nbf` as of this time (seconds since the Unix epoch).
    #[arg(long, value_name = "UNIX_TIME", allow_negative_numbers = true)]
    now: Option<i64>,
    /// Require the header's `typ` to be `at+jwt` (RFC 9068).
    #[arg(long)]
    require_at_jwt: bool,
    /// The claims the scopes are read from, all of them, as one set
    /// (comma-separated or repeated) [default: scope,scp,permissions].
    #[arg(
        long = "scope-claims",
        alias = "scope-claim",
        value_delimiter = ',',
        value_name = "CLAIM,..."
    )]
    scope_claims: Vec<String>,
    /// Tokens longer than this are rejected unread.
    #[arg(long, value_name = "BYTES", default_value_t = 8 * 1024)]
    max_token_bytes: usize,
}

/// Whom a token must come from and be for.
pub struct Trust<'a> {
    /// A JWKS file, or a URL.
    pub jwks: &'a str,
    pub issuers: &'a [String],
    pub audience: &'a str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum TokenFormat {
    Human,
    Json,
}

/// What `--format json` prints.
#[derive(Serialize)]
struct Report {
    valid: bool,
    /// The stable rejection code; `null` when valid.
    reason: Option<&'static str>,
    message: String,
    subject: Option<String>,
    client_id: Option<String>,
    /// The scopes granted, as the token states them; empty when rejected.
    scopes: Vec<String>,
    /// The header, when it decodes.
    header: Option<Map<String, Value>>,
    /// The claims: verified when valid, as the token states them when
    /// rejected (untrusted); `null` when they do not decode.
    claims: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    decision: Option<JsonDecision>,
}

#[derive(Serialize)]
struct JsonDecision {
    /// `allow` or `deny`.
    effect: &'static str,
    method: &'static str,
    name: String,
    /// `rule`, `default`, or `token_rejected` (the policy was not consulted).
    basis: &'static str,
    rule: Option<RuleRef>,
    /// The token's scopes as the policy sees them: declared ones, with
    /// what they imply.
    policy_scopes: Vec<String>,
    /// Scopes whose addition would allow.
    missing_scopes: Vec<String>,
    /// Every condition atom evaluated, with the value it read; absent for
    /// a policy without conditions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    conditions: Vec<EvaluatedAtom>,
    /// The deciding rule's conditions that failed (no scope can help).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    failed_conditions: Vec<String>,
    /// The atoms that made a `deny ... when` fire.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    denied_when: Vec<String>,
}

pub fn run(command: &TokenCommand) -> Outcome {
    match command {
        TokenCommand::Verify(args) => verify(args),
    }
}

fn verify(args: &VerifyArgs) -> Outcome {
    let Some(token) = read_token(&args.token) else {
        return Outcome::UsageOrIo;
    };
    let trust = Trust {
        jwks: &args.jwks,
        issuers: &args.issuers,
        audience: &args.audience,
    };
    let validator = match validator(&trust, &args.checks) {
        Ok(validator) => validator,
        Err(outcome) => return outcome,
    };
    let policy = match &args.policy {
        // Loaded and reported as every command that decides loads a
        // policy: its diagnostics rendered, a broken policy exiting 1.
        Some(path) => match load::policy(path) {
            // Rule lines are lines of the policy's source (a compiled
            // table's recorded one; none recorded: shown without a file).
            Ok(policy) => {
                let file = policy.table().source().unwrap_or_default().to_owned();
                Some((policy, file))
            }
            Err(error) => {
                return error.report(match args.format {
                    TokenFormat::Json => Format::Json,
                    TokenFormat::Human => Format::Human,
                });
            }
        },
        None => None,
    };
    let arguments = match args
        .arguments
        .as_deref()
        .map(|text| context::object("--arguments", text))
    {
        Some(Ok(arguments)) => Some(arguments),
        Some(Err(message)) => {
            eprintln!("error: {message}");
            return Outcome::UsageOrIo;
        }
        None => None,
    };
    let result = match validate(&validator, &token) {
        Ok(result) => result,
        Err(outcome) => return outcome,
    };

    let mut report = report(&token, &result);
    if let (Some((policy, _)), Some(tool)) = (&policy, &args.tool) {
        report.decision = Some(decide(
            policy,
            tool,
            result.as_ref().ok(),
            arguments.as_ref(),
        ));
    }
    let file = policy.as_ref().map(|(_, file)| file.as_str());
    match args.format {
        TokenFormat::Json => {
            if let Err(outcome) = crate::output::json(&report, "JSON") {
                return outcome;
            }
        }
        TokenFormat::Human => out!("{}", human(&report, &result, validator.now(), file)),
    }
    if result.is_ok() {
        Outcome::Ok
    } else {
        // Exit 1, the code `check` uses for a policy with errors.
        Outcome::PolicyErrors
    }
}

/// The validator a server configured so would run; an unreadable secret or
/// a configuration it refuses is a usage error (reported here).
pub fn validator(trust: &Trust<'_>, checks: &Checks) -> Result<Validator, Outcome> {
    let mut config = config(trust, checks);
    if let Some(path) = &checks.secret_file {
        match load::bytes(path, mcp_policy_fs::limit::SECRET) {
            Ok(secret) => config.shared_secret = Some(secret),
            Err(error) => {
                load::cannot_read(path, &error);
                return Err(Outcome::UsageOrIo);
            }
        }
    }
    Validator::new(config).map_err(|error| {
        eprintln!("error: {error}");
        Outcome::UsageOrIo
    })
}

/// Validates `token` as a server would: its keys fetched first when they
/// come from a URL. `Err` only when that is impossible (reported here);
/// a rejected token is `Ok(Err(rejection))`.
pub fn validate(
    validator: &Validator,
    token: &str,
) -> Result<Result<Principal, Rejection>, Outcome> {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return Err(Outcome::UsageOrIo);
        }
    };
    // A JWKS URL that cannot be fetched is an I/O error here, not a verdict
    // on the token.
    if matches!(
        validator.config().keys,
        KeySource::Url(_) | KeySource::Issuer(_)
    ) && let Err(error) = runtime.block_on(validator.refresh_keys())
    {
        eprintln!("error: {error}");
        return Err(Outcome::UsageOrIo);
    }
    Ok(runtime.block_on(validator.validate(token)))
}

/// The token from the argument, or standard input for `-` (surrounding
/// whitespace dropped: `echo` adds a newline).
fn read_token(argument: &str) -> Option<String> {
    if argument != "-" {
        return Some(argument.to_owned());
    }
    load::text(Path::new("-"), mcp_policy_fs::limit::TOKEN).map(|text| text.trim().to_owned())
}

fn config(trust: &Trust<'_>, checks: &Checks) -> ValidatorConfig {
    let keys = if trust.jwks.starts_with("https://") || trust.jwks.starts_with("http://") {
        KeySource::Url(trust.jwks.to_owned())
    } else {
        KeySource::File(PathBuf::from(trust.jwks))
    };
    let mut config = ValidatorConfig::new(String::new(), trust.audience.to_owned(), keys);
    config.issuers = trust.issuers.to_vec();
    if !checks.algorithms.is_empty() {
        config.algorithms.clone_from(&checks.algorithms);
    }
    config.leeway = Duration::from_secs(checks.leeway);
    config.require_at_jwt = checks.require_at_jwt;
    if !checks.scope_claims.is_empty() {
        config.scope_claims.clone_from(&checks.scope_claims);
    }
    config.max_token_bytes = checks.max_token_bytes;
    if let Some(now) = checks.now {
        config.clock = Arc::new(ManualClock::new(now));
    }
    config
}

fn report(token: &str, result: &Result<Principal, Rejection>) -> Report {
    // Display only: a rejected token's claims are what it states, untrusted.
    let decoded = mcp_policy_token::jws::decode_unverified(token);
    let header = decoded.as_ref().map(|(header, _)| header.clone());
    match result {
        Ok(principal) => Report {
            valid: true,
            reason: None,
            message: "the token is valid".to_owned(),
            subject: Some(principal.subject.clone()),
            client_id: principal.client_id.clone(),
            scopes: principal.scopes.clone(),
            header,
            claims: Some(principal.claims.clone()),
            decision: None,
        },
        Err(rejection) => Report {
            valid: false,
            reason: Some(rejection.as_str()),
            message: rejection.description().to_owned(),
            subject: None,
            client_id: None,
            scopes: Vec::new(),
            header,
            claims: decoded.map(|(_, claims)| claims),
            decision: None,
        },
    }
}

fn decide(
    policy: &Evaluator,
    tool: &str,
    principal: Option<&Principal>,
    arguments: Option<&Map<String, Value>>,
) -> JsonDecision {
    let request = Request::CallTool(tool);
    let Some(principal) = principal else {
        return JsonDecision {
            effect: "deny",
            method: request.kind().method(),
            name: tool.to_owned(),
            basis: "token_rejected",
            rule: None,
            policy_scopes: Vec::new(),
            missing_scopes: Vec::new(),
            conditions: Vec::new(),
            failed_conditions: Vec::new(),
            denied_when: Vec::new(),
        };
    };
    let held: Vec<&str> = principal.scopes.iter().map(String::as_str).collect();
    // As a server decides: the call's arguments and the verified claims.
    let context = Context::new(arguments, Some(&principal.claims));
    let explained = policy.explained_in(request, &held, &context);
    JsonDecision {
        effect: if explained.allowed { "allow" } else { "deny" },
        method: request.kind().method(),
        name: tool.to_owned(),
        basis: if explained.rule.is_some() {
            "rule"
        } else {
            "default"
        },
        rule: explained.rule,
        policy_scopes: explained.scopes,
        missing_scopes: explained.missing_scopes,
        conditions: explained.conditions,
        failed_conditions: explained.failed_conditions,
        denied_when: explained.denied_when,
    }
}

fn human(
    report: &Report,
    result: &Result<Principal, Rejection>,
    now: i64,
    policy_file: Option<&str>,
) -> String {
    let mut text = String::new();
    match result {
        Ok(principal) => {
            let key = principal
                .key_id
                .as_deref()
                .map(|kid| format!(", key `{}`", shown(kid)))
                .unwrap_or_default();
            text.push_str(&format!(
                "valid: the token verifies ({}{key})\n",
                principal.algorithm
            ));
            text.push_str(&format!("  subject:   {}\n", shown(&principal.subject)));
            if let Some(client) = &principal.client_id {
                text.push_str(&format!("  client id: {}\n", shown(client)));
            }
            text.push_str(&format!("  issuer:    {}\n", shown(&principal.issuer)));
            text.push_str(&format!(
                "  expires:   {} (in {} s)\n",
                principal.expires_at,
                principal.expires_at.saturating_sub(now)
            ));
            let scopes = if principal.scopes.is_empty() {
                "(none)".to_owned()
            } else {
                shown(&principal.scopes.join(" ")).into_owned()
            };
            text.push_str(&format!("  scopes:    {scopes}\n"));
        }
        Err(rejection) => {
            text.push_str(&format!(
                "rejected[{}]: {}\n",
                rejection.as_str(),
                rejection.description()
            ));
            if let Some(detail) = time_detail(*rejection, report.claims.as_ref(), now) {
                text.push_str(&format!("  {detail}\n"));
            }
            text.push_str("  scopes:    (none: a rejected token grants nothing)\n");
        }
    }
    if let Some(header) = &report.header {
        text.push_str(&format!(
            "  header:    {}\n",
            shown(&Value::Object(sorted(header)).to_string())
        ));
    }
    if let Some(claims) = &report.claims {
        text.push_str(if result.is_ok() {
            "  claims:\n"
        } else {
            "  claims (as the token states them, not verified):\n"
        });
        for (name, value) in sorted(claims) {
            text.push_str(&format!(
                "    {}: {}\n",
                shown(&name),
                shown(&value.to_string())
            ));
        }
    }
    if let Some(decision) = &report.decision {
        text.push_str(&format!(
            "  decision:  {} {} `{}`\n",
            decision.effect,
            decision.method,
            shown(&decision.name)
        ));
        match (&decision.rule, decision.basis) {
            (_, "token_rejected") => {
                text.push_str("    the token is rejected: the policy is not consulted\n");
            }
            (Some(rule), _) => match policy_file.filter(|file| !file.is_empty()) {
                Some(file) => text.push_str(&format!(
                    "    decided by:     {} ({}:{})\n",
                    shown(&rule.text),
                    shown(file),
                    rule.line
                )),
                None => text.push_str(&format!(
                    "    decided by:     {} (line {} of the policy's source)\n",
                    shown(&rule.text),
                    rule.line
                )),
            },
            (None, _) => text.push_str("    decided by:     the default: no rule matches\n"),
        }
        if decision.basis != "token_rejected" {
            let seen = if decision.policy_scopes.is_empty() {
                "(none the policy declares)".to_owned()
            } else {
                shown(&decision.policy_scopes.join(" ")).into_owned()
            };
            text.push_str(&format!("    policy scopes:  {seen}\n"));
        }
        text.push_str(&crate::explain::conditions(
            &crate::explain::Conditions {
                evaluated: &decision.conditions,
                failed: &decision.failed_conditions,
                fired: &decision.denied_when,
            },
            "    ",
        ));
        if !decision.missing_scopes.is_empty() {
            text.push_str(&format!(
                "    missing scopes: {}\n",
                shown(&decision.missing_scopes.join(" "))
            ));
        }
    }
    text
}

/// How far outside its time window an expired or early token is.
fn time_detail(
    rejection: Rejection,
    claims: Option<&Map<String, Value>>,
    now: i64,
) -> Option<String> {
    let claim = |name: &str| claims?.get(name)?.as_i64();
    match rejection {
        Rejection::Expired => {
            let exp = claim("exp")?;
            Some(format!(
                "exp {exp} is {} s before now ({now})",
                now.saturating_sub(exp)
            ))
        }
        Rejection::NotYetValid => {
            let nbf = claim("nbf")?;
            Some(format!(
                "nbf {nbf} is {} s after now ({now})",
                nbf.saturating_sub(now)
            ))
        }
        _ => None,
    }
}

/// A map with its keys in order, whatever serde_json's features.
fn sorted(map: &Map<String, Value>) -> Map<String, Value> {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
        .into_iter()
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}
