//! `mcp-policy proxy`: the policy in front of an MCP server that is not
//! written in Rust, or that enforces nothing itself.
//!
//! The stack, outermost first, is the one a Rust server mounts itself:
//!
//! 1. [`mcp_policy_server::serve`]: connections, headers, idle time,
//!    drain, each bounded;
//! 2. [`mcp_policy_http::PolicyLayer`]: Host/Origin, metadata, the token,
//!    the session's owner, the body, every decision, filtered lists;
//! 3. the upstream: [`HttpUpstream`] forwards to a Streamable HTTP server
//!    with an allow-list of headers (never the client's token) and streams
//!    the answer back; [`StdioUpstream`] runs a stdio server, one child
//!    process per MCP session; [`SharedUpstream`] runs one child for all
//!    sessions, multiplexed (`--stdio-mode shared`).
//!
//! [`Proxy::serve`] assembles it from a [`ProxyConfig`].

mod child;
pub mod identity;
mod legacy;
mod respond;
mod shared;
mod stdio;
mod upstream;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mcp_policy_evaluator::Evaluator;
use mcp_policy_http::{Denial, HttpConfig, Mode, PolicyLayer, SessionLimits};
use mcp_policy_server::ServerLimits;
use mcp_policy_token::{KeySource, Validator, ValidatorConfig};
use tokio::net::TcpListener;

pub use identity::{ForwardIdentity, IdentityHeaders, InvalidIdentityHeaders};
pub use legacy::{SseConfig, SseUpstream};
pub use shared::SharedUpstream;
pub use stdio::{NoCommand, StdioConfig, StdioMode, StdioUpstream};
pub use upstream::{BoxError, HttpUpstream, InvalidUpstream, ProxyBody, UpstreamConfig};

/// Where allowed requests go.
#[derive(Clone, Debug)]
pub enum Upstream {
    /// A server that speaks Streamable HTTP.
    Http(UpstreamConfig),
    /// A server that speaks stdio: one child per session, or one shared
    /// ([`StdioConfig::mode`]).
    Stdio(StdioConfig),
    /// A server that speaks the deprecated HTTP+SSE transport (2024-11-05):
    /// one upstream stream per session.
    Sse(SseConfig),
}

/// Either upstream, as one service behind the layer.
#[derive(Clone, Debug)]
pub enum AnyUpstream {
    Http(HttpUpstream),
    Stdio(StdioUpstream),
    Shared(SharedUpstream),
    Sse(SseUpstream),
}

impl tower_service::Service<http::Request<http_body_util::Full<bytes::Bytes>>> for AnyUpstream {
    type Response = http::Response<ProxyBody>;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<http::Response<ProxyBody>, Self::Error>> + Send,
        >,
    >;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<http_body_util::Full<bytes::Bytes>>) -> Self::Future {
        match self {
            AnyUpstream::Http(upstream) => upstream.call(request),
            AnyUpstream::Stdio(upstream) => upstream.call(request),
            AnyUpstream::Shared(upstream) => upstream.call(request),
            AnyUpstream::Sse(upstream) => upstream.call(request),
        }
    }
}

/// Everything the proxy is told.
#[derive(Debug)]
pub struct ProxyConfig {
    /// The accepted token issuer (`iss`).
    pub issuer: String,
    /// This proxy's resource URI (the tokens' `aud`). `None`: the bound
    /// address's `http://ADDRESS/mcp`.
    pub audience: Option<String>,
    /// The issuer's keys.
    pub keys: KeySource,
    /// The policy file (source or compiled).
    pub policy: PathBuf,
    /// Named in the protected resource metadata. `None`: the issuer.
    pub authorization_server: Option<String>,
    pub denial: Denial,
    pub mode: Mode,
    /// Clock skew allowed on `exp` and `nbf`.
    pub leeway: Duration,
    /// The claims whose union is the token's scopes.
    pub scope_claims: Vec<String>,
    pub server_limits: ServerLimits,
    pub sessions: SessionLimits,
    pub body_read_timeout: Duration,
    pub upstream: Upstream,
    /// Identity headers: always stripped from the client's request; sent
    /// with the principal's values when enabled (HTTP upstreams only).
    pub identity: ForwardIdentity,
}

impl ProxyConfig {
    /// A configuration with every default: the audience from the bound
    /// address, step-up denials, enforcing, 60 s of leeway, the default
    /// limits, identity not forwarded.
    pub fn new(
        issuer: String,
        keys: KeySource,
        policy: PathBuf,
        upstream: Upstream,
    ) -> ProxyConfig {
        ProxyConfig {
            issuer,
            audience: None,
            keys,
            policy,
            authorization_server: None,
            denial: Denial::StepUp,
            mode: Mode::Enforce,
            leeway: Duration::from_secs(60),
            scope_claims: vec!["scope".into(), "scp".into(), "permissions".into()],
            server_limits: ServerLimits::default(),
            sessions: SessionLimits::default(),
            body_read_timeout: Duration::from_secs(30),
            upstream,
            identity: ForwardIdentity::default(),
        }
    }
}

/// Why the proxy could not start.
#[derive(Debug)]
pub enum StartError {
    Policy(String),
    Token(String),
    Layer(String),
    Upstream(String),
    Io(std::io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Policy(message) => write!(f, "policy: {message}"),
            StartError::Token(message) => write!(f, "token validation: {message}"),
            StartError::Layer(message) => write!(f, "{message}"),
            StartError::Upstream(error) => f.write_str(error),
            StartError::Io(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for StartError {}

/// A proxy bound to its address, ready to serve.
#[derive(Debug)]
pub struct Proxy {
    listener: TcpListener,
    layer: PolicyLayer,
    upstream: AnyUpstream,
    path: String,
    limits: ServerLimits,
    policy: PathBuf,
    identity: Arc<ForwardIdentity>,
}

impl Proxy {
    /// Loads the policy, binds `bind`, and builds the stack. Nothing is
    /// served until [`Proxy::serve`].
    pub async fn bind(bind: SocketAddr, config: ProxyConfig) -> Result<Proxy, StartError> {
        if config.identity.enabled && matches!(config.upstream, Upstream::Stdio(_)) {
            return Err(StartError::Upstream(
                "--forward-identity needs an HTTP upstream: a stdio server has no headers to carry it"
                    .to_owned(),
            ));
        }
        let policy = Evaluator::from_path(&config.policy)
            .map_err(|error| StartError::Policy(format!("{}: {error}", config.policy.display())))?;
        let upstream = match config.upstream {
            Upstream::Http(http) => HttpUpstream::new(http)
                .map(AnyUpstream::Http)
                .map_err(|e| StartError::Upstream(e.to_string()))?,
            Upstream::Stdio(stdio) => match stdio.mode {
                StdioMode::PerSession => StdioUpstream::new(stdio).map(AnyUpstream::Stdio),
                StdioMode::Shared => SharedUpstream::new(stdio).map(AnyUpstream::Shared),
            }
            .map_err(|e| StartError::Upstream(e.to_string()))?,
            Upstream::Sse(sse) => SseUpstream::new(sse)
                .map(AnyUpstream::Sse)
                .map_err(|e| StartError::Upstream(e.to_string()))?,
        };
        let listener = TcpListener::bind(bind).await.map_err(StartError::Io)?;
        let address = listener.local_addr().map_err(StartError::Io)?;
        let audience = config
            .audience
            .unwrap_or_else(|| format!("http://{address}/mcp"));
        let mut token = ValidatorConfig::new(&config.issuer, &audience, config.keys);
        token.leeway = config.leeway;
        token.scope_claims = config.scope_claims;
        let validator =
            Validator::new(token).map_err(|error| StartError::Token(error.to_string()))?;
        let mut http = HttpConfig::new([config.authorization_server.unwrap_or(config.issuer)]);
        http.denial = config.denial;
        http.mode = config.mode;
        http.sessions = config.sessions;
        http.body_read_timeout = config.body_read_timeout;
        let layer = PolicyLayer::new(Arc::new(validator), policy, http)
            .map_err(|error| StartError::Layer(error.to_string()))?;
        Ok(Proxy {
            listener,
            layer,
            upstream,
            path: resource_path(&audience),
            limits: config.server_limits,
            policy: config.policy,
            identity: Arc::new(config.identity),
        })
    }

    /// The address the proxy listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The MCP endpoint's path (the resource URI's).
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn layer(&self) -> &PolicyLayer {
        &self.layer
    }

    /// The upstream service (for a stdio upstream, its children).
    pub fn upstream(&self) -> &AnyUpstream {
        &self.upstream
    }

    /// Serves until `shutdown` completes, then drains. The policy file is
    /// reloaded on `SIGHUP` (a failed reload keeps the policy in force).
    pub async fn serve(self, shutdown: impl std::future::Future<Output = ()>) {
        #[cfg(unix)]
        if let Err(error) =
            mcp_policy_http::reload::reload_on_sighup(self.layer.clone(), &self.policy)
        {
            tracing::warn!(target: "mcp_policy::proxy", %error, "no SIGHUP reloads");
        }
        let upstream = identity::Identified {
            forward: self.identity,
            inner: self.upstream,
        };
        let service = tower_layer::Layer::layer(&self.layer, upstream);
        let path = self.path;
        let routed = Routed { path, service };
        mcp_policy_server::serve(self.listener, routed, self.limits, shutdown).await;
    }
}

/// The path of an absolute URI.
fn resource_path(uri: &str) -> String {
    let rest = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    match rest.find('/') {
        Some(at) => rest.get(at..).unwrap_or("/").to_owned(),
        None => "/".to_owned(),
    }
}

mod routed;
use routed::Routed;
