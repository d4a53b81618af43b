//! `mcp-policy proxy`: the policy in front of an MCP server over
//! Streamable HTTP. The flags are the example server's, so that one
//! walkthrough serves both.
//!
//! Every setting comes from, first to last: its flag, its environment
//! variable (clap reads both), the `--config` file (its key is the flag's
//! name without `--`), its default. So every flag here is an `Option` with
//! no clap default, and [`settings`] applies the file and the defaults: a
//! clap default would hide the file's value. To add a setting: a field
//! here, a key in `mcp_policy_proxy::config`, a line in [`settings`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use mcp_policy_http::{Denial, Mode, SessionLimits};
use mcp_policy_proxy::config::{FileConfig, ReadConfigError};
use mcp_policy_proxy::{
    ForwardIdentity, IdentityHeaders, Proxy, ProxyConfig, SseConfig, StdioConfig, StdioMode,
    TlsFiles, Upstream, UpstreamConfig, identity,
};
use mcp_policy_server::ServerLimits;
use mcp_policy_token::KeySource;

use crate::Outcome;
use crate::telemetry::{OtlpArgs, OtlpProtocol, Telemetry};

const DEFAULT_BIND: &str = "127.0.0.1:8080";
const DEFAULT_LEEWAY: u64 = 60;
const DEFAULT_SCOPE_CLAIMS: [&str; 3] = ["scope", "scp", "permissions"];
const DEFAULT_UPSTREAM_CONNECT_TIMEOUT: u64 = 5;
const DEFAULT_UPSTREAM_TIMEOUT: u64 = 60;
const DEFAULT_BODY_TIMEOUT: u64 = 30;
const DEFAULT_UPSTREAM_IDLE_TIMEOUT: u64 = 300;

#[derive(Args, Debug)]
pub struct ProxyArgs {
    /// A YAML file of settings: each key is a flag's name without `--`
    /// (`issuer: https://...`). A flag or environment variable overrides
    /// the file; unknown keys are an error.
    #[arg(long, env = "MCP_POLICY_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Check the configuration (the file, the policy, the keys' source,
    /// the upstream, the header and TLS files) and exit: 0 when it would
    /// start, 1 when not. Binds nothing, starts nothing.
    #[arg(long)]
    check_config: bool,
    /// The upstream MCP server's Streamable HTTP endpoint, e.g.
    /// http://127.0.0.1:3000/mcp. Or, after `--`, the command of a stdio
    /// server, run once per MCP session.
    #[arg(long, env = "MCP_POLICY_UPSTREAM", value_name = "URL")]
    upstream: Option<String>,
    /// A stdio MCP server: `-- npx -y @modelcontextprotocol/server-everything`.
    #[arg(last = true, value_name = "COMMAND", conflicts_with = "upstream")]
    command: Vec<String>,
    /// Headers sent to the upstream with every request (its own
    /// credentials), one `Name: value` a line. Never on the command line,
    /// where other users of the machine can read them.
    #[arg(long, env = "MCP_POLICY_UPSTREAM_HEADER_FILE", value_name = "FILE")]
    upstream_header_file: Option<PathBuf>,
    /// Address to listen on (port 0: any free port; the address is
    /// printed). Default: 127.0.0.1:8080.
    #[arg(long, env = "MCP_POLICY_BIND", value_name = "ADDR")]
    bind: Option<SocketAddr>,
    /// The accepted token issuer (`iss`). Required.
    #[arg(long, env = "MCP_POLICY_ISSUER")]
    issuer: Option<String>,
    /// This proxy's resource URI: the tokens' `aud` and the metadata's
    /// `resource`. Default: http://<bound address>/mcp (https:// with TLS).
    #[arg(long, env = "MCP_POLICY_AUDIENCE")]
    audience: Option<String>,
    /// The issuer's keys: a JWKS file, or an http(s) URL. Default: the
    /// `jwks_uri` of the issuer's metadata.
    #[arg(long, env = "MCP_POLICY_JWKS", value_name = "FILE_OR_URL")]
    jwks: Option<String>,
    /// The policy (source or compiled); reloaded on SIGHUP. Required.
    #[arg(long, env = "MCP_POLICY_POLICY", value_name = "FILE")]
    policy: Option<PathBuf>,
    /// The authorization server named in the protected resource metadata.
    /// Default: the issuer.
    #[arg(long, env = "MCP_POLICY_AUTHORIZATION_SERVER", value_name = "URL")]
    authorization_server: Option<String>,
    /// How a call that more scopes would allow is answered. Default: step-up.
    #[arg(long, env = "MCP_POLICY_DENIAL", value_enum)]
    denial: Option<DenialArg>,
    /// Decide and log every request, but let everything through (lists
    /// unfiltered). Authentication stays enforced. Default: false.
    #[arg(long, env = "MCP_POLICY_DRY_RUN", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL", value_parser = clap::builder::BoolishValueParser::new())]
    dry_run: Option<bool>,
    /// Clock skew allowed for a token's `exp` and `nbf`, in seconds: 60
    /// absorbs NTP-synchronised drift while an expired token stays refused
    /// within a minute. Default: 60.
    #[arg(long, env = "MCP_POLICY_LEEWAY", value_name = "SECONDS")]
    leeway: Option<u64>,
    /// The claims whose union is the token's scopes. Default:
    /// scope,scp,permissions.
    #[arg(long, env = "MCP_POLICY_SCOPE_CLAIMS", value_delimiter = ',')]
    scope_claims: Option<Vec<String>>,
    /// Seconds to connect to the upstream. Default: 5.
    #[arg(
        long,
        env = "MCP_POLICY_UPSTREAM_CONNECT_TIMEOUT",
        value_name = "SECONDS"
    )]
    upstream_connect_timeout: Option<u64>,
    /// Seconds for the upstream to start answering. Default: 60.
    #[arg(long, env = "MCP_POLICY_UPSTREAM_TIMEOUT", value_name = "SECONDS")]
    upstream_timeout: Option<u64>,
    /// Seconds an upstream's answer (an SSE stream) may send nothing,
    /// keep-alive comments included, before it is ended. Default: 300.
    #[arg(long, env = "MCP_POLICY_UPSTREAM_IDLE_TIMEOUT", value_name = "SECONDS")]
    upstream_idle_timeout: Option<u64>,
    /// How the --upstream server speaks: streamable-http, or sse, the
    /// deprecated HTTP+SSE transport (2024-11-05; the URL is then its SSE
    /// stream's, e.g. http://127.0.0.1:3000/sse), one upstream stream per
    /// session. Default: streamable-http.
    #[arg(long, env = "MCP_POLICY_UPSTREAM_TRANSPORT", value_enum)]
    upstream_transport: Option<TransportArg>,
    /// A stdio server's children: per-session (one per MCP session, so no
    /// two users share a process or its state) or shared (one for every
    /// session, multiplexed; only for servers that keep no per-client
    /// state). Default: per-session.
    #[arg(long, env = "MCP_POLICY_STDIO_MODE", value_enum)]
    stdio_mode: Option<StdioModeArg>,
    /// Connections served at once; past it, 503 with `Retry-After`.
    /// Default: 512.
    #[arg(long, env = "MCP_POLICY_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Seconds from a request's first byte (or a TLS connection's) to the
    /// end of its headers. Default: 10.
    #[arg(long, env = "MCP_POLICY_HEADER_TIMEOUT", value_name = "SECONDS")]
    header_timeout: Option<u64>,
    /// Seconds a request body may take to arrive whole (408 after).
    /// Default: 30.
    #[arg(long, env = "MCP_POLICY_BODY_TIMEOUT", value_name = "SECONDS")]
    body_timeout: Option<u64>,
    /// Seconds a keep-alive connection may sit idle. Default: 60.
    #[arg(long, env = "MCP_POLICY_IDLE_TIMEOUT", value_name = "SECONDS")]
    idle_timeout: Option<u64>,
    /// MCP sessions held at once (503 with `Retry-After` past it).
    /// Default: 10000.
    #[arg(long, env = "MCP_POLICY_MAX_SESSIONS")]
    max_sessions: Option<usize>,
    /// MCP sessions one principal (issuer, subject, client) may hold.
    /// Default: 64.
    #[arg(long, env = "MCP_POLICY_MAX_SESSIONS_PER_PRINCIPAL")]
    max_sessions_per_principal: Option<usize>,
    /// Seconds an MCP session may sit idle before it is ended. Default: 300.
    #[arg(long, env = "MCP_POLICY_SESSION_IDLE_TIMEOUT", value_name = "SECONDS")]
    session_idle_timeout: Option<u64>,
    /// Send the verified principal to the upstream in headers (HTTP
    /// upstreams only), percent-encoded. Whether on or not, a client's
    /// headers of these names are removed. Default: false.
    #[arg(long, env = "MCP_POLICY_FORWARD_IDENTITY", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL", value_parser = clap::builder::BoolishValueParser::new())]
    forward_identity: Option<bool>,
    /// The header that carries `sub`. Default: X-MCP-Subject.
    #[arg(long, env = "MCP_POLICY_SUBJECT_HEADER", value_name = "NAME")]
    subject_header: Option<String>,
    /// The header that carries the client id. Default: X-MCP-Client-Id.
    #[arg(long, env = "MCP_POLICY_CLIENT_ID_HEADER", value_name = "NAME")]
    client_id_header: Option<String>,
    /// The header that carries the scopes, space-separated. Default:
    /// X-MCP-Scopes.
    #[arg(long, env = "MCP_POLICY_SCOPES_HEADER", value_name = "NAME")]
    scopes_header: Option<String>,
    /// The header that carries `iss`. Default: X-MCP-Issuer.
    #[arg(long, env = "MCP_POLICY_ISSUER_HEADER", value_name = "NAME")]
    issuer_header: Option<String>,
    /// Serve /healthz, /readyz and /metrics on this address (keep it
    /// private). Default: none, no admin listener.
    #[arg(long, env = "MCP_POLICY_ADMIN_BIND", value_name = "ADDR")]
    admin_bind: Option<SocketAddr>,
    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, env = "MCP_POLICY_TLS_CERT", value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "MCP_POLICY_TLS_KEY", value_name = "FILE")]
    tls_key: Option<PathBuf>,
    #[command(flatten)]
    otlp: OtlpArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DenialArg {
    /// 403 with a `WWW-Authenticate: Bearer error="insufficient_scope"` challenge.
    StepUp,
    /// 200 with a tool result `isError: true` naming the missing scopes.
    ToolError,
    /// The answer for a tool that does not exist.
    AsUnknown,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TransportArg {
    /// Streamable HTTP (2025-03-26 and later).
    StreamableHttp,
    /// HTTP+SSE (2024-11-05).
    Sse,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum StdioModeArg {
    /// One child process per MCP session (isolation between users).
    PerSession,
    /// One child process for every session, multiplexed.
    Shared,
}

/// Why the proxy does not start.
enum Failure {
    /// The configuration file, as a diagnostic.
    File(Box<mcp_policy_proxy::config::ConfigError>),
    /// Anything else, one line.
    Message(String),
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure::Message(message)
    }
}

pub fn run(args: ProxyArgs) -> Outcome {
    let check = args.check_config;
    // `--check-config` exits 0/1 whatever went wrong; a start that cannot
    // happen is a usage error (2), as for every command.
    let failed = if check {
        Outcome::PolicyErrors
    } else {
        Outcome::UsageOrIo
    };
    let result = settings(args).and_then(|(bind, config, otlp)| {
        if check {
            mcp_policy_proxy::check(&config).map_err(|errors| {
                Failure::Message(
                    errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("\nerror: "),
                )
            })?;
            outln!("configuration ok");
            Ok(())
        } else {
            serve(bind, config, &otlp).map_err(Failure::Message)
        }
    });
    match result {
        Ok(()) => Outcome::Ok,
        Err(Failure::File(error)) => {
            eprint!(
                "{}",
                crate::render::human(
                    std::slice::from_ref(&error.diagnostic),
                    &error.file,
                    &error.text
                )
            );
            failed
        }
        Err(Failure::Message(message)) => {
            eprintln!("error: {message}");
            failed
        }
    }
}

/// `what` from the flag or environment, else the file, else missing.
fn required<T>(what: &str, given: Option<T>, file: Option<T>) -> Result<T, String> {
    given.or(file).ok_or_else(|| {
        format!(
            "missing `{what}`: give --{what}, MCP_POLICY_{} or `{what}:` in the --config file",
            what.to_uppercase().replace('-', "_")
        )
    })
}

/// The largest count a limit takes: far past any real deployment (file
/// descriptors run out first), and well inside what the semaphores that
/// enforce the limits hold (a larger one would make them panic).
const MAX_COUNT: usize = 10_000_000;
/// The longest timeout: a day. Longer is a mistake, and far-future
/// deadlines are where time arithmetic overflows.
const MAX_SECONDS: u64 = 86_400;

/// A count between 1 (0 would refuse every connection or session) and
/// [`MAX_COUNT`].
fn positive(what: &str, value: usize) -> Result<usize, String> {
    if value == 0 || value > MAX_COUNT {
        return Err(format!("`{what}` must be between 1 and {MAX_COUNT}"));
    }
    Ok(value)
}

/// Seconds, between 1 (a timeout of 0 fails everything at once) and a day.
fn seconds(what: &str, value: u64) -> Result<Duration, String> {
    if value == 0 || value > MAX_SECONDS {
        return Err(format!(
            "`{what}` must be between 1 and {MAX_SECONDS} seconds"
        ));
    }
    Ok(Duration::from_secs(value))
}

/// Where the proxy listens, what it serves, where it exports telemetry.
type Settings = (SocketAddr, ProxyConfig, Otlp);

/// The OpenTelemetry export, resolved: an endpoint or none.
#[derive(Debug)]
struct Otlp {
    endpoint: Option<String>,
    protocol: OtlpProtocol,
}

fn settings(args: ProxyArgs) -> Result<Settings, Failure> {
    let file = match &args.config {
        Some(path) => mcp_policy_proxy::config::read(path).map_err(|error| match error {
            ReadConfigError::Io(message) => Failure::Message(message),
            ReadConfigError::Invalid(diagnostic) => Failure::File(diagnostic),
        })?,
        None => FileConfig::default(),
    };
    Ok(merge(args, file)?)
}

fn merge(args: ProxyArgs, file: FileConfig) -> Result<Settings, String> {
    let bind = match (args.bind, &file.bind) {
        (Some(bind), _) => bind,
        (None, Some(text)) => text
            .parse()
            .map_err(|_| format!("`bind: {text}` is not an address (IP:PORT)"))?,
        (None, None) => DEFAULT_BIND
            .parse()
            .map_err(|_| "the default bind address".to_owned())?,
    };
    let admin = match (args.admin_bind, &file.admin_bind) {
        (Some(admin), _) => Some(admin),
        (None, Some(text)) => Some(
            text.parse()
                .map_err(|_| format!("`admin-bind: {text}` is not an address (IP:PORT)"))?,
        ),
        (None, None) => None,
    };
    let upstream_timeout = seconds(
        "upstream-timeout",
        args.upstream_timeout
            .or(file.upstream_timeout)
            .unwrap_or(DEFAULT_UPSTREAM_TIMEOUT),
    )?;
    let header_file = args.upstream_header_file.or(file.upstream_header_file);
    let headers = match &header_file {
        Some(path) => header_file_headers(path)?,
        None => http::HeaderMap::new(),
    };
    if file.upstream.is_some() && file.command.is_some() {
        return Err("the --config file gives both `upstream` and `command`: one upstream".into());
    }
    // The command line's upstream (flag, env or `--`) wins over the file's.
    let url = args.upstream.or(if args.command.is_empty() {
        file.upstream.clone()
    } else {
        None
    });
    let command = if args.command.is_empty() {
        file.command.clone().unwrap_or_default()
    } else {
        args.command
    };
    let upstream = match url {
        Some(url) => {
            let parsed = url
                .parse()
                .map_err(|_| format!("--upstream `{url}` is not a URL"))?;
            let connect_timeout = seconds(
                "upstream-connect-timeout",
                args.upstream_connect_timeout
                    .or(file.upstream_connect_timeout)
                    .unwrap_or(DEFAULT_UPSTREAM_CONNECT_TIMEOUT),
            )?;
            let transport = match (args.upstream_transport, &file.upstream_transport) {
                (Some(transport), _) => transport,
                (None, Some(text)) => TransportArg::from_str(text, false).map_err(|_| {
                    format!("`upstream-transport: {text}` is not one of streamable-http, sse")
                })?,
                (None, None) => TransportArg::StreamableHttp,
            };
            match transport {
                TransportArg::StreamableHttp => {
                    let mut upstream = UpstreamConfig::new(parsed);
                    upstream.connect_timeout = connect_timeout;
                    upstream.first_byte_timeout = upstream_timeout;
                    upstream.idle_timeout = seconds(
                        "upstream-idle-timeout",
                        args.upstream_idle_timeout
                            .or(file.upstream_idle_timeout)
                            .unwrap_or(DEFAULT_UPSTREAM_IDLE_TIMEOUT),
                    )?;
                    upstream.headers = headers.clone();
                    Upstream::Http(upstream)
                }
                TransportArg::Sse => {
                    let mut upstream = SseConfig::new(parsed);
                    upstream.connect_timeout = connect_timeout;
                    upstream.request_timeout = upstream_timeout;
                    upstream.headers = headers.clone();
                    Upstream::Sse(upstream)
                }
            }
        }
        None if !command.is_empty() => {
            let mut stdio = StdioConfig::new(command);
            stdio.request_timeout = upstream_timeout;
            stdio.mode = match (args.stdio_mode, &file.stdio_mode) {
                (Some(mode), _) => mode,
                (None, Some(text)) => StdioModeArg::from_str(text, false).map_err(|_| {
                    format!("`stdio-mode: {text}` is not one of per-session, shared")
                })?,
                (None, None) => StdioModeArg::PerSession,
            }
            .into();
            Upstream::Stdio(stdio)
        }
        None => {
            return Err(
                "no upstream: give --upstream URL, `-- COMMAND ARGS...`, or `upstream:` or `command:` in the --config file"
                    .into(),
            );
        }
    };
    let issuer = required("issuer", args.issuer, file.issuer)?;
    let keys = match args.jwks.or(file.jwks) {
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
            KeySource::Url(url)
        }
        Some(path) => KeySource::File(path.into()),
        // Found from the issuer's metadata (RFC 8414, then OpenID discovery).
        None => KeySource::Issuer(issuer.clone()),
    };
    let denial = match (args.denial, &file.denial) {
        (Some(denial), _) => denial,
        (None, Some(text)) => DenialArg::from_str(text, false).map_err(|_| {
            format!("`denial: {text}` is not one of step-up, tool-error, as-unknown")
        })?,
        (None, None) => DenialArg::StepUp,
    };
    let identity_name = |given: Option<String>, file: Option<String>, default: &str| {
        given.or(file).unwrap_or_else(|| default.to_owned())
    };
    let identity_headers = IdentityHeaders::new(
        &identity_name(
            args.subject_header,
            file.subject_header,
            identity::DEFAULT_SUBJECT,
        ),
        &identity_name(
            args.client_id_header,
            file.client_id_header,
            identity::DEFAULT_CLIENT_ID,
        ),
        &identity_name(
            args.scopes_header,
            file.scopes_header,
            identity::DEFAULT_SCOPES,
        ),
        &identity_name(
            args.issuer_header,
            file.issuer_header,
            identity::DEFAULT_ISSUER,
        ),
        &headers,
    )
    .map_err(|error| error.to_string())?;
    let tls = match (
        args.tls_cert.or(file.tls_cert),
        args.tls_key.or(file.tls_key),
    ) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        (None, None) => None,
        _ => return Err("TLS needs both --tls-cert and --tls-key".into()),
    };
    let defaults = (ServerLimits::default(), SessionLimits::default());
    let config = ProxyConfig {
        issuer,
        audience: args.audience.or(file.audience),
        keys,
        policy: required("policy", args.policy, file.policy)?,
        authorization_server: args.authorization_server.or(file.authorization_server),
        denial: match denial {
            DenialArg::StepUp => Denial::StepUp,
            DenialArg::ToolError => Denial::ToolError,
            DenialArg::AsUnknown => Denial::AsUnknown,
        },
        mode: if args.dry_run.or(file.dry_run).unwrap_or(false) {
            Mode::DryRun
        } else {
            Mode::Enforce
        },
        leeway: match args.leeway.or(file.leeway).unwrap_or(DEFAULT_LEEWAY) {
            // 0 is a valid leeway (no skew allowed); a day is already absurd.
            leeway if leeway <= MAX_SECONDS => Duration::from_secs(leeway),
            _ => return Err(format!("`leeway` must be at most {MAX_SECONDS} seconds")),
        },
        scope_claims: args.scope_claims.or(file.scope_claims).unwrap_or_else(|| {
            DEFAULT_SCOPE_CLAIMS
                .iter()
                .map(|c| (*c).to_owned())
                .collect()
        }),
        server_limits: ServerLimits {
            max_connections: positive(
                "max-connections",
                args.max_connections
                    .or(file.max_connections)
                    .unwrap_or(defaults.0.max_connections),
            )?,
            header_read_timeout: seconds(
                "header-timeout",
                args.header_timeout
                    .or(file.header_timeout)
                    .unwrap_or(defaults.0.header_read_timeout.as_secs()),
            )?,
            idle_timeout: seconds(
                "idle-timeout",
                args.idle_timeout
                    .or(file.idle_timeout)
                    .unwrap_or(defaults.0.idle_timeout.as_secs()),
            )?,
            ..defaults.0
        },
        sessions: SessionLimits {
            max_sessions: positive(
                "max-sessions",
                args.max_sessions
                    .or(file.max_sessions)
                    .unwrap_or(defaults.1.max_sessions),
            )?,
            max_sessions_per_principal: positive(
                "max-sessions-per-principal",
                args.max_sessions_per_principal
                    .or(file.max_sessions_per_principal)
                    .unwrap_or(defaults.1.max_sessions_per_principal),
            )?,
            idle_timeout: seconds(
                "session-idle-timeout",
                args.session_idle_timeout
                    .or(file.session_idle_timeout)
                    .unwrap_or(defaults.1.idle_timeout.as_secs()),
            )?,
            ..defaults.1
        },
        body_read_timeout: seconds(
            "body-timeout",
            args.body_timeout
                .or(file.body_timeout)
                .unwrap_or(DEFAULT_BODY_TIMEOUT),
        )?,
        upstream,
        identity: ForwardIdentity {
            enabled: args
                .forward_identity
                .or(file.forward_identity)
                .unwrap_or(false),
            headers: identity_headers,
        },
        admin,
        tls,
    };
    let otlp = Otlp {
        endpoint: args.otlp.otlp_endpoint.or(file.otlp_endpoint),
        protocol: match (args.otlp.otlp_protocol, &file.otlp_protocol) {
            (Some(protocol), _) => protocol,
            (None, Some(text)) => OtlpProtocol::from_str(text, false).map_err(|_| {
                format!("`otlp-protocol: {text}` is not one of http/protobuf, http/json")
            })?,
            (None, None) => OtlpProtocol::HttpProtobuf,
        },
    };
    Ok((bind, config, otlp))
}

impl From<StdioModeArg> for StdioMode {
    fn from(mode: StdioModeArg) -> StdioMode {
        match mode {
            StdioModeArg::PerSession => StdioMode::PerSession,
            StdioModeArg::Shared => StdioMode::Shared,
        }
    }
}

/// `Name: value` lines; blank lines and `#` comments skipped. Read as every
/// input is: bounded, never a FIFO or a device.
fn header_file_headers(path: &Path) -> Result<http::HeaderMap, String> {
    let shown = crate::load::shown(path);
    let bytes = mcp_policy_fs::read(path, mcp_policy_fs::limit::UPSTREAM_HEADERS)
        .map_err(|error| format!("cannot read `{shown}`: {error} [{}]", error.code()))?;
    let text = mcp_policy_fs::decode(&bytes)
        .map_err(|error| format!("cannot read `{shown}`: {error} [{}]", error.code()))?;
    let mut headers = http::HeaderMap::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = || format!("{shown}:{}: expected `Name: value`", index + 1);
        let (name, value) = line.split_once(':').ok_or_else(bad)?;
        let name = http::HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| bad())?;
        let value = http::HeaderValue::from_str(value.trim()).map_err(|_| bad())?;
        headers.append(name, value);
    }
    Ok(headers)
}

fn serve(bind: SocketAddr, config: ProxyConfig, otlp: &Otlp) -> Result<(), String> {
    // Outside the runtime: the exporters run on threads of their own.
    let telemetry = Telemetry::install(otlp.endpoint.as_deref(), otlp.protocol)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let served = runtime.block_on(async move {
        let proxy = Proxy::bind(bind, config).await.map_err(|e| e.to_string())?;
        let address = proxy.local_addr().map_err(|e| e.to_string())?;
        outln!(
            "listening on {}://{address}{}",
            proxy.scheme(),
            proxy.path()
        );
        if let Some(admin) = proxy.admin_addr() {
            outln!("admin on http://{admin}");
        }
        proxy.serve(mcp_policy_server::shutdown_signal()).await;
        Ok(())
    });
    drop(runtime);
    telemetry.finish();
    served
}
