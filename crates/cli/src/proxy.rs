//! `mcp-policy proxy`: the policy in front of an MCP server over
//! Streamable HTTP. The flags are the example server's, so that one
//! walkthrough serves both; every flag has an environment variable.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use mcp_policy_http::{Denial, Mode, SessionLimits};
use mcp_policy_proxy::{
    Proxy, ProxyConfig, SseConfig, StdioConfig, StdioMode, Upstream, UpstreamConfig,
};
use mcp_policy_server::ServerLimits;
use mcp_policy_token::KeySource;

use crate::Outcome;
use crate::telemetry::{OtlpArgs, Telemetry};

#[derive(Args, Debug)]
pub struct ProxyArgs {
    /// The upstream MCP server's Streamable HTTP endpoint, e.g.
    /// http://127.0.0.1:3000/mcp. Or, after `--`, the command of a stdio
    /// server, run once per MCP session.
    #[arg(
        long,
        env = "MCP_POLICY_UPSTREAM",
        value_name = "URL",
        required_unless_present = "command"
    )]
    upstream: Option<String>,
    /// A stdio MCP server: `-- npx -y @modelcontextprotocol/server-everything`.
    #[arg(last = true, value_name = "COMMAND", conflicts_with = "upstream")]
    command: Vec<String>,
    /// For a stdio server: `per-session` runs a child for each MCP session,
    /// so users share no process and no state; `shared` runs one child for
    /// all sessions, multiplexed, only for servers that keep no per-client
    /// state (docs/proxy.md).
    /// How the `--upstream` server speaks: Streamable HTTP, or the
    /// deprecated HTTP+SSE transport (2024-11-05; the URL is then its SSE
    /// stream's, e.g. http://127.0.0.1:3000/sse), one upstream stream per
    /// session.
    #[arg(long, env = "MCP_POLICY_UPSTREAM_TRANSPORT", value_enum, default_value_t = TransportArg::StreamableHttp)]
    upstream_transport: TransportArg,
    #[arg(long, env = "MCP_POLICY_STDIO_MODE", value_enum, default_value_t = StdioModeArg::PerSession)]
    stdio_mode: StdioModeArg,
    /// Headers sent to the upstream with every request (its own
    /// credentials), one `Name: value` a line. Never on the command line,
    /// where other users of the machine can read them.
    #[arg(long, env = "MCP_POLICY_UPSTREAM_HEADER_FILE", value_name = "FILE")]
    upstream_header_file: Option<PathBuf>,
    /// Address to listen on (port 0: any free port; the address is printed).
    #[arg(long, env = "MCP_POLICY_BIND", default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// The accepted token issuer (`iss`).
    #[arg(long, env = "MCP_POLICY_ISSUER")]
    issuer: String,
    /// This proxy's resource URI: the tokens' `aud` and the metadata's
    /// `resource`. Default: http://<bound address>/mcp.
    #[arg(long, env = "MCP_POLICY_AUDIENCE")]
    audience: Option<String>,
    /// The issuer's keys: a JWKS file, or an http(s) URL.
    #[arg(long, env = "MCP_POLICY_JWKS", value_name = "FILE_OR_URL")]
    jwks: String,
    /// The policy (source or compiled); reloaded on SIGHUP.
    #[arg(long, env = "MCP_POLICY_POLICY")]
    policy: PathBuf,
    /// The authorization server named in the protected resource metadata.
    /// Default: the issuer.
    #[arg(long, env = "MCP_POLICY_AUTHORIZATION_SERVER")]
    authorization_server: Option<String>,
    /// How a call that more scopes would allow is answered.
    #[arg(long, env = "MCP_POLICY_DENIAL", value_enum, default_value_t = DenialArg::StepUp)]
    denial: DenialArg,
    /// Decide and log every request, but let everything through (lists
    /// unfiltered). Authentication stays enforced.
    #[arg(long, env = "MCP_POLICY_DRY_RUN")]
    dry_run: bool,
    /// Clock skew allowed for a token's `exp` and `nbf`, in seconds: 60
    /// absorbs NTP-synchronised drift while an expired token stays refused
    /// within a minute.
    #[arg(
        long,
        env = "MCP_POLICY_LEEWAY",
        default_value_t = 60,
        value_name = "SECONDS"
    )]
    leeway: u64,
    /// The claims whose union is the token's scopes.
    #[arg(
        long,
        env = "MCP_POLICY_SCOPE_CLAIMS",
        value_delimiter = ',',
        default_value = "scope,scp,permissions"
    )]
    scope_claims: Vec<String>,
    /// Seconds to connect to the upstream.
    #[arg(long, env = "MCP_POLICY_UPSTREAM_CONNECT_TIMEOUT", default_value_t = 5)]
    upstream_connect_timeout: u64,
    /// Seconds for the upstream to start answering.
    #[arg(long, env = "MCP_POLICY_UPSTREAM_TIMEOUT", default_value_t = 60)]
    upstream_timeout: u64,
    /// Seconds an upstream's answer (an SSE stream) may send nothing,
    /// keep-alive comments included, before it is ended.
    #[arg(long, env = "MCP_POLICY_UPSTREAM_IDLE_TIMEOUT", default_value_t = 300)]
    upstream_idle_timeout: u64,
    /// Connections served at once; past it, 503 with `Retry-After`.
    #[arg(long, env = "MCP_POLICY_MAX_CONNECTIONS", default_value_t = ServerLimits::default().max_connections)]
    max_connections: usize,
    /// Seconds from a request's first byte to the end of its headers.
    #[arg(long, env = "MCP_POLICY_HEADER_TIMEOUT", default_value_t = ServerLimits::default().header_read_timeout.as_secs())]
    header_timeout: u64,
    /// Seconds a request body may take to arrive whole (408 after).
    #[arg(long, env = "MCP_POLICY_BODY_TIMEOUT", default_value_t = 30)]
    body_timeout: u64,
    /// Seconds a keep-alive connection may sit idle.
    #[arg(long, env = "MCP_POLICY_IDLE_TIMEOUT", default_value_t = ServerLimits::default().idle_timeout.as_secs())]
    idle_timeout: u64,
    /// MCP sessions held at once (503 with `Retry-After` past it).
    #[arg(long, env = "MCP_POLICY_MAX_SESSIONS", default_value_t = SessionLimits::default().max_sessions)]
    max_sessions: usize,
    /// MCP sessions one principal (issuer, subject, client) may hold.
    #[arg(long, env = "MCP_POLICY_MAX_SESSIONS_PER_PRINCIPAL", default_value_t = SessionLimits::default().max_sessions_per_principal)]
    max_sessions_per_principal: usize,
    /// Seconds an MCP session may sit idle before it is ended.
    #[arg(long, env = "MCP_POLICY_SESSION_IDLE_TIMEOUT", default_value_t = SessionLimits::default().idle_timeout.as_secs())]
    session_idle_timeout: u64,
    #[command(flatten)]
    otlp: crate::telemetry::OtlpArgs,
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

#[derive(Debug, Clone, Copy, ValueEnum)]
enum DenialArg {
    /// 403 with a `WWW-Authenticate: Bearer error="insufficient_scope"` challenge.
    StepUp,
    /// 200 with a tool result `isError: true` naming the missing scopes.
    ToolError,
    /// The answer for a tool that does not exist.
    AsUnknown,
}

pub fn run(args: ProxyArgs) -> Outcome {
    let otlp = args.otlp.clone();
    match config(args).and_then(|(bind, config)| serve(bind, config, &otlp)) {
        Ok(()) => Outcome::Ok,
        Err(message) => {
            eprintln!("error: {message}");
            Outcome::UsageOrIo
        }
    }
}

fn config(args: ProxyArgs) -> Result<(SocketAddr, ProxyConfig), String> {
    let upstream = match &args.upstream {
        Some(url) => {
            let parsed = url
                .parse()
                .map_err(|_| format!("--upstream `{url}` is not a URL"))?;
            let headers = match &args.upstream_header_file {
                Some(path) => header_file(path)?,
                None => http::HeaderMap::new(),
            };
            match args.upstream_transport {
                TransportArg::StreamableHttp => {
                    let mut upstream = UpstreamConfig::new(parsed);
                    upstream.connect_timeout = Duration::from_secs(args.upstream_connect_timeout);
                    upstream.first_byte_timeout = Duration::from_secs(args.upstream_timeout);
                    upstream.idle_timeout = Duration::from_secs(args.upstream_idle_timeout);
                    upstream.headers = headers;
                    Upstream::Http(upstream)
                }
                TransportArg::Sse => {
                    let mut upstream = SseConfig::new(parsed);
                    upstream.connect_timeout = Duration::from_secs(args.upstream_connect_timeout);
                    upstream.request_timeout = Duration::from_secs(args.upstream_timeout);
                    upstream.headers = headers;
                    Upstream::Sse(upstream)
                }
            }
        }
        None => {
            let mut stdio = StdioConfig::new(args.command.clone());
            stdio.request_timeout = Duration::from_secs(args.upstream_timeout);
            stdio.mode = match args.stdio_mode {
                StdioModeArg::PerSession => StdioMode::PerSession,
                StdioModeArg::Shared => StdioMode::Shared,
            };
            Upstream::Stdio(stdio)
        }
    };
    let keys = if args.jwks.starts_with("http://") || args.jwks.starts_with("https://") {
        KeySource::Url(args.jwks)
    } else {
        KeySource::File(args.jwks.into())
    };
    let config = ProxyConfig {
        issuer: args.issuer,
        audience: args.audience,
        keys,
        policy: args.policy,
        authorization_server: args.authorization_server,
        denial: match args.denial {
            DenialArg::StepUp => Denial::StepUp,
            DenialArg::ToolError => Denial::ToolError,
            DenialArg::AsUnknown => Denial::AsUnknown,
        },
        mode: if args.dry_run {
            Mode::DryRun
        } else {
            Mode::Enforce
        },
        leeway: Duration::from_secs(args.leeway),
        scope_claims: args.scope_claims,
        server_limits: ServerLimits {
            max_connections: args.max_connections,
            header_read_timeout: Duration::from_secs(args.header_timeout),
            idle_timeout: Duration::from_secs(args.idle_timeout),
            ..ServerLimits::default()
        },
        sessions: SessionLimits {
            max_sessions: args.max_sessions,
            max_sessions_per_principal: args.max_sessions_per_principal,
            idle_timeout: Duration::from_secs(args.session_idle_timeout),
            ..SessionLimits::default()
        },
        body_read_timeout: Duration::from_secs(args.body_timeout),
        upstream,
        identity: mcp_policy_proxy::ForwardIdentity::default(),
    };
    Ok((args.bind, config))
}

/// `Name: value` lines; blank lines and `#` comments skipped. Read as every
/// input is: bounded, never a FIFO or a device.
fn header_file(path: &Path) -> Result<http::HeaderMap, String> {
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

fn serve(bind: SocketAddr, config: ProxyConfig, otlp: &OtlpArgs) -> Result<(), String> {
    // Outside the runtime: the exporters run on threads of their own.
    let telemetry = Telemetry::install(otlp)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let served = runtime.block_on(async move {
        let proxy = Proxy::bind(bind, config).await.map_err(|e| e.to_string())?;
        let address = proxy.local_addr().map_err(|e| e.to_string())?;
        outln!("listening on http://{address}{}", proxy.path());
        proxy.serve(mcp_policy_server::shutdown_signal()).await;
        Ok(())
    });
    drop(runtime);
    telemetry.finish();
    served
}
