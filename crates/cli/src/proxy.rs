//! `mcp-policy proxy`: the policy in front of an MCP server over
//! Streamable HTTP. The flags are the example server's, so that one
//! walkthrough serves both; every flag has an environment variable.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use mcp_policy_http::{Denial, Mode, SessionLimits};
use mcp_policy_proxy::{Proxy, ProxyConfig, StdioConfig, Upstream, UpstreamConfig};
use mcp_policy_server::ServerLimits;
use mcp_policy_token::KeySource;

use crate::Outcome;

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
    match config(args).and_then(|(bind, config)| serve(bind, config)) {
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
            let mut upstream = UpstreamConfig::new(parsed);
            upstream.connect_timeout = Duration::from_secs(args.upstream_connect_timeout);
            upstream.first_byte_timeout = Duration::from_secs(args.upstream_timeout);
            upstream.idle_timeout = Duration::from_secs(args.upstream_idle_timeout);
            if let Some(path) = &args.upstream_header_file {
                upstream.headers = header_file(path)?;
            }
            Upstream::Http(upstream)
        }
        None => {
            let mut stdio = StdioConfig::new(args.command.clone());
            stdio.request_timeout = Duration::from_secs(args.upstream_timeout);
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

fn serve(bind: SocketAddr, config: ProxyConfig) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_target(true)
            .init();
        let proxy = Proxy::bind(bind, config).await.map_err(|e| e.to_string())?;
        let address = proxy.local_addr().map_err(|e| e.to_string())?;
        outln!("listening on http://{address}{}", proxy.path());
        proxy.serve(mcp_policy_server::shutdown_signal()).await;
        Ok(())
    })
}
