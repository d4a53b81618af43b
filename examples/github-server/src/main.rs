//! A GitHub-style MCP server on rmcp's streamable HTTP transport, guarded by
//! mcp-policy's `PolicyLayer` and `examples/github.mcppolicy`. See
//! `examples/github-server/README.md` for a walkthrough with curl.

mod server;
mod token;

use std::error::Error;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use mcp_policy_evaluator::Evaluator;
use mcp_policy_http::{Denial, HttpConfig, Mode, PolicyLayer, SessionLimits};
use mcp_policy_server::ServerLimits;
use mcp_policy_token::{KeySource, Validator, ValidatorConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use server::{GithubServer, Store};

/// The issuer the server and `mint-dev-token` agree on by default. Only a
/// name: nothing is served there.
const DEFAULT_ISSUER: &str = "https://auth.example.com";
const DEFAULT_BIND: &str = "127.0.0.1:8080";
/// The resource URI of a server on the default address.
const DEFAULT_AUDIENCE: &str = "http://127.0.0.1:8080/mcp";

const DEMO_KEY_WARNING: &str = "WARNING: mint-dev-token signs with the DEMO key in \
examples/github-server/dev-keys/. That key is PUBLIC (committed to the repository): \
anyone can mint any token for a server that trusts dev-keys/jwks.json. For this demo \
only; never trust it anywhere else.";

/// A demo GitHub-style MCP server (streamable HTTP at /mcp), every request
/// authorized by mcp-policy. In-memory data; nothing touches GitHub.
#[derive(Debug, Parser)]
#[command(
    name = "github-mcp-example",
    version,
    args_conflicts_with_subcommands = true,
    after_help = DEMO_KEY_WARNING
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: Serve,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print an RS256 access token signed with the PUBLIC DEMO key
    /// (dev-keys/demo-rsa.pem). For the walkthrough only.
    #[command(after_help = DEMO_KEY_WARNING)]
    MintDevToken(Mint),
}

#[derive(Debug, Args)]
struct Serve {
    /// Serve the same tools over stdio (one JSON-RPC message a line) instead
    /// of HTTP, with no policy layer: for `mcp-policy proxy -- THIS --stdio`,
    /// where the proxy enforces the policy. Then no token flags are needed.
    #[arg(long, env = "GITHUB_MCP_STDIO", conflicts_with_all = ["jwks", "audience", "dry_run"])]
    stdio: bool,
    /// Address to listen on (port 0: any free port; the address is printed).
    #[arg(long, env = "GITHUB_MCP_BIND", default_value = DEFAULT_BIND)]
    bind: SocketAddr,
    /// The accepted token issuer (`iss`).
    #[arg(long, env = "GITHUB_MCP_ISSUER", default_value = DEFAULT_ISSUER)]
    issuer: String,
    /// This server's resource URI: the tokens' `aud` and the metadata's
    /// `resource`. Default: http://<bound address>/mcp.
    #[arg(long, env = "GITHUB_MCP_AUDIENCE")]
    audience: Option<String>,
    /// The issuer's keys: a JWKS file, or an http(s) URL. For the demo:
    /// examples/github-server/dev-keys/jwks.json (the PUBLIC demo key).
    #[arg(long, env = "GITHUB_MCP_JWKS", value_name = "FILE_OR_URL")]
    jwks: Option<String>,
    /// The policy (source or compiled).
    #[arg(
        long,
        env = "GITHUB_MCP_POLICY",
        default_value = "examples/github.mcppolicy"
    )]
    policy: PathBuf,
    /// The authorization server named in the protected resource metadata.
    /// Default: the issuer.
    #[arg(long, env = "GITHUB_MCP_AUTHORIZATION_SERVER")]
    authorization_server: Option<String>,
    /// How a call that more scopes would allow is answered.
    #[arg(long, env = "GITHUB_MCP_DENIAL", value_enum, default_value_t = DenialArg::StepUp)]
    denial: DenialArg,
    /// Decide and log every request, but let everything through (lists
    /// unfiltered). Authentication stays enforced.
    #[arg(long, env = "GITHUB_MCP_DRY_RUN")]
    dry_run: bool,
    /// Clock skew allowed for a token's `exp` and `nbf`, in seconds. The
    /// default, 60, absorbs the drift of NTP-synchronised clocks while a
    /// token that expired stays refused within a minute (RFC 7519 §4.1.4
    /// allows "a small leeway, usually no more than a few minutes").
    #[arg(
        long,
        env = "GITHUB_MCP_LEEWAY",
        default_value_t = 60,
        value_name = "SECONDS"
    )]
    leeway: u64,
    /// The claims a token's scopes are read from, as their union.
    #[arg(
        long,
        env = "GITHUB_MCP_SCOPE_CLAIMS",
        value_delimiter = ',',
        default_value = "scope,scp,permissions"
    )]
    scope_claims: Vec<String>,
    #[command(flatten)]
    limits: Limits,
}

/// What the server holds for its clients, at most (docs/SECURITY.md).
#[derive(Debug, Args)]
struct Limits {
    /// Connections served at once; past it, 503 with `Retry-After`.
    #[arg(long, env = "GITHUB_MCP_MAX_CONNECTIONS", default_value_t = ServerLimits::default().max_connections)]
    max_connections: usize,
    /// Seconds from a request's first byte to the end of its headers.
    #[arg(long, env = "GITHUB_MCP_HEADER_TIMEOUT", default_value_t = ServerLimits::default().header_read_timeout.as_secs())]
    header_timeout: u64,
    /// Seconds a request body may take to arrive whole (408 after).
    #[arg(long, env = "GITHUB_MCP_BODY_TIMEOUT", default_value_t = 30)]
    body_timeout: u64,
    /// Seconds a keep-alive connection may sit idle.
    #[arg(long, env = "GITHUB_MCP_IDLE_TIMEOUT", default_value_t = ServerLimits::default().idle_timeout.as_secs())]
    idle_timeout: u64,
    /// MCP sessions held at once (503 with `Retry-After` past it).
    #[arg(long, env = "GITHUB_MCP_MAX_SESSIONS", default_value_t = SessionLimits::default().max_sessions)]
    max_sessions: usize,
    /// MCP sessions one principal (issuer, subject, client) may hold.
    #[arg(long, env = "GITHUB_MCP_MAX_SESSIONS_PER_PRINCIPAL", default_value_t = SessionLimits::default().max_sessions_per_principal)]
    max_sessions_per_principal: usize,
    /// Seconds an MCP session may sit idle before it is ended.
    #[arg(long, env = "GITHUB_MCP_SESSION_IDLE_TIMEOUT", default_value_t = SessionLimits::default().idle_timeout.as_secs())]
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

impl From<DenialArg> for Denial {
    fn from(denial: DenialArg) -> Denial {
        match denial {
            DenialArg::StepUp => Denial::StepUp,
            DenialArg::ToolError => Denial::ToolError,
            DenialArg::AsUnknown => Denial::AsUnknown,
        }
    }
}

#[derive(Debug, Args)]
struct Mint {
    /// Space-separated scopes, e.g. "mcp:read github:repos".
    #[arg(long)]
    scopes: String,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    ttl: u64,
    /// `iss`; the server's default.
    #[arg(long, env = "GITHUB_MCP_ISSUER", default_value = DEFAULT_ISSUER)]
    issuer: String,
    /// `aud`; the resource URI of a server on the default address.
    #[arg(long, env = "GITHUB_MCP_AUDIENCE", default_value = DEFAULT_AUDIENCE)]
    audience: String,
    /// `sub`: who the tools see as the caller.
    #[arg(long, default_value = "demo-user")]
    subject: String,
    /// `client_id`.
    #[arg(long, default_value = "demo-cli")]
    client_id: String,
}

fn main() -> Result<(), Box<dyn Error>> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::MintDevToken(mint)) => {
            let token = token::mint(&token::Claims {
                issuer: mint.issuer,
                audience: mint.audience,
                subject: mint.subject,
                client_id: mint.client_id,
                scopes: mint.scopes,
                ttl_seconds: mint.ttl,
            })?;
            println!("{token}");
            Ok(())
        }
        None => {
            tracing_subscriber::fmt()
                .with_writer(std::io::stderr)
                .with_target(true)
                .init();
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            if cli.serve.stdio {
                runtime.block_on(serve_stdio())
            } else {
                runtime.block_on(serve(cli.serve))
            }
        }
    }
}

/// The tools over stdin/stdout until stdin closes. No layer: whoever runs
/// this process (the proxy) has decided already; the tools see no
/// principal, so they record the caller as "anonymous".
async fn serve_stdio() -> Result<(), Box<dyn Error>> {
    use rmcp::ServiceExt;
    let store = Arc::new(Mutex::new(Store::demo()));
    let running = GithubServer::new(store)
        .serve(rmcp::transport::stdio())
        .await?;
    running.waiting().await?;
    Ok(())
}

async fn serve(args: Serve) -> Result<(), Box<dyn Error>> {
    let Some(jwks) = args.jwks else {
        return Err("--jwks FILE_OR_URL is required (for the demo: \
             --jwks examples/github-server/dev-keys/jwks.json)"
            .into());
    };
    let keys = if jwks.starts_with("http://") || jwks.starts_with("https://") {
        KeySource::Url(jwks)
    } else {
        KeySource::File(jwks.into())
    };
    let policy = Evaluator::from_path(&args.policy)
        .map_err(|e| format!("policy {}: {e}", args.policy.display()))?;

    // Bind first, so that `--bind 127.0.0.1:0` still gets the right
    // default resource URI.
    let listener = tokio::net::TcpListener::bind(args.bind).await?;
    let address = listener.local_addr()?;
    let audience = args
        .audience
        .unwrap_or_else(|| format!("http://{address}/mcp"));

    let mut token_config = ValidatorConfig::new(&args.issuer, &audience, keys);
    token_config.leeway = Duration::from_secs(args.leeway);
    token_config.scope_claims = args.scope_claims;
    let validator = Validator::new(token_config)?;
    let limits = &args.limits;
    let mut config = HttpConfig::new([args.authorization_server.unwrap_or(args.issuer)]);
    config.body_read_timeout = Duration::from_secs(limits.body_timeout);
    config.sessions = SessionLimits {
        max_sessions: limits.max_sessions,
        max_sessions_per_principal: limits.max_sessions_per_principal,
        idle_timeout: Duration::from_secs(limits.session_idle_timeout),
        ..SessionLimits::default()
    };
    config.denial = args.denial.into();
    config.mode = if args.dry_run {
        Mode::DryRun
    } else {
        Mode::Enforce
    };
    let layer = PolicyLayer::new(Arc::new(validator), policy, config)?;

    // rmcp checks `Host` too (DNS rebinding): loopback by default; add the
    // resource URI's host for a server reached under another name.
    let mut mcp_config = StreamableHttpServerConfig::default();
    // rmcp keeps a session as long as the layer does; the layer ends it
    // sooner (DELETE) when it expires first.
    let mut session_manager = LocalSessionManager::default();
    session_manager.session_config.keep_alive =
        Some(Duration::from_secs(limits.session_idle_timeout));
    if let Some(host) = host_of(&audience) {
        mcp_config.allowed_hosts.push(host);
    }
    let store = Arc::new(Mutex::new(Store::demo()));
    let mcp = StreamableHttpService::new(
        move || Ok(GithubServer::new(Arc::clone(&store))),
        Arc::new(session_manager),
        mcp_config,
    );
    let path = resource_path(&audience);
    let app = axum::Router::new()
        .route_service(&path, mcp)
        .layer(layer.clone());

    tracing::info!(
        %address, %audience, policy = %args.policy.display(),
        metadata = layer.metadata_url(), "serving"
    );
    println!("listening on http://{address}{path}");
    let server_limits = ServerLimits {
        max_connections: limits.max_connections,
        header_read_timeout: Duration::from_secs(limits.header_timeout),
        idle_timeout: Duration::from_secs(limits.idle_timeout),
        ..ServerLimits::default()
    };
    mcp_policy_server::serve(
        listener,
        app,
        server_limits,
        mcp_policy_server::shutdown_signal(),
    )
    .await;
    Ok(())
}

/// `host[:port]` of an absolute URI.
fn host_of(uri: &str) -> Option<String> {
    let rest = uri.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    Some(
        authority
            .rsplit_once('@')
            .map_or(authority, |(_, h)| h)
            .to_owned(),
    )
}

/// The path of the resource URI, where the MCP endpoint is mounted.
fn resource_path(uri: &str) -> String {
    let rest = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    match rest.find('/') {
        Some(at) => rest.get(at..).unwrap_or("/").to_owned(),
        None => "/".to_owned(),
    }
}
