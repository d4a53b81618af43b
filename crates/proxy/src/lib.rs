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
//! Between the layer and the upstream, [`identity::Identified`] removes
//! any identity header a client sent and, with `--forward-identity`, states
//! the verified principal's; `metrics::Timed` records the upstream's latency.
//!
//! Operations, beside the stack: [`config`] (the YAML file), [`check`]
//! (`--check-config`), the admin listener (`/healthz`, `/readyz`,
//! `/metrics`, module `admin`), [`metrics`], TLS (`tls`, served through
//! [`mcp_policy_server::serve_with`]).
//!
//! [`Proxy::serve`] assembles it from a [`ProxyConfig`].

mod admin;
mod check;
mod child;
pub mod config;
pub mod identity;
mod legacy;
pub mod metrics;
mod respond;
mod shared;
mod stdio;
mod tls;
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

pub use admin::{CONNECT_TIMEOUT as READY_CONNECT_TIMEOUT, READY_TTL};
pub use check::check;
use check::forwarding_fits;
pub use identity::{ForwardIdentity, IdentityHeaders, InvalidIdentityHeaders};
pub use legacy::{SseConfig, SseUpstream};
pub use shared::SharedUpstream;
pub use stdio::{NoCommand, StdioConfig, StdioMode, StdioUpstream};
pub use tls::{TlsFiles, server_config as tls_server_config};
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
    /// Where `/healthz`, `/readyz` and `/metrics` are served; `None`: not.
    pub admin: Option<SocketAddr>,
    /// HTTPS from these files; `None`: plain HTTP.
    pub tls: Option<TlsFiles>,
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
            admin: None,
            tls: None,
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
    Tls(String),
    Io(std::io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Policy(message) => write!(f, "policy: {message}"),
            StartError::Token(message) => write!(f, "token validation: {message}"),
            StartError::Layer(message) => write!(f, "{message}"),
            StartError::Upstream(error) => f.write_str(error),
            StartError::Tls(message) => write!(f, "TLS: {message}"),
            StartError::Io(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for StartError {}

/// A proxy bound to its address, ready to serve.
#[derive(Debug)]
pub struct Proxy {
    listener: TcpListener,
    admin_listener: Option<TcpListener>,
    layer: PolicyLayer,
    upstream: AnyUpstream,
    probe: admin::Probe,
    path: String,
    limits: ServerLimits,
    policy: PathBuf,
    identity: Arc<ForwardIdentity>,
    tls: Option<Arc<mcp_policy_server::rustls::ServerConfig>>,
}

impl Proxy {
    /// Loads the policy, binds `bind` (and the admin address), and builds
    /// the stack. Nothing is served until [`Proxy::serve`].
    pub async fn bind(bind: SocketAddr, config: ProxyConfig) -> Result<Proxy, StartError> {
        forwarding_fits(&config)?;
        let policy = Evaluator::from_path(&config.policy)
            .map_err(|error| StartError::Policy(format!("{}: {error}", config.policy.display())))?;
        let tls = config
            .tls
            .as_ref()
            .map(tls::server_config)
            .transpose()
            .map_err(StartError::Tls)?;
        let probe = admin::Probe::of(&config.upstream);
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
        let listener = TcpListener::bind(bind).await.map_err(|error| {
            StartError::Io(std::io::Error::new(
                error.kind(),
                format!("the MCP listener on {bind}: {error}"),
            ))
        })?;
        let admin_listener = match config.admin {
            Some(admin) => Some(TcpListener::bind(admin).await.map_err(|error| {
                StartError::Io(std::io::Error::new(
                    error.kind(),
                    format!("the admin listener on {admin}: {error}"),
                ))
            })?),
            None => None,
        };
        let address = listener.local_addr().map_err(StartError::Io)?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let audience = config
            .audience
            .unwrap_or_else(|| format!("{scheme}://{address}/mcp"));
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
        http.count_decisions = admin_listener.is_some();
        let layer = PolicyLayer::new(Arc::new(validator), policy, http)
            .map_err(|error| StartError::Layer(error.to_string()))?;
        if admin_listener.is_some() {
            // Installed before the first request, so that no count is lost.
            let _ = metrics::handle();
        }
        // The layer's own reading of the resource URI: the proxy serves the
        // path the layer guards, by construction.
        let path = layer.resource_path().to_owned();
        Ok(Proxy {
            listener,
            admin_listener,
            layer,
            upstream,
            probe,
            path,
            limits: config.server_limits,
            policy: config.policy,
            identity: Arc::new(config.identity),
            tls,
        })
    }

    /// The address the proxy listens on.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The admin listener's address, when there is one.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
    }

    /// `https` with TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
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
    /// The admin listener, if any, answers `/readyz` 503 from the moment
    /// `shutdown` completes, and stops once the drain is over.
    pub async fn serve(self, shutdown: impl std::future::Future<Output = ()>) {
        #[cfg(unix)]
        if let Err(error) =
            mcp_policy_http::reload::reload_on_sighup(self.layer.clone(), &self.policy)
        {
            tracing::warn!(target: "mcp_policy::proxy", %error, "no SIGHUP reloads");
        }
        let (stopped, admin_stop) = tokio::sync::watch::channel(false);
        let admin = self.admin_listener.map(|listener| {
            let admin = Arc::new(admin::Admin::new(
                self.layer.clone(),
                self.upstream.clone(),
                self.probe,
            ));
            let mut stop = admin_stop.clone();
            let served = Arc::clone(&admin);
            let limits = ServerLimits {
                max_connections: 64,
                ..ServerLimits::default()
            };
            tokio::spawn(mcp_policy_server::serve(
                listener,
                admin::AdminService(served),
                limits,
                async move {
                    let _ = stop.wait_for(|stopped| *stopped).await;
                },
            ));
            admin
        });
        let kind = match &self.upstream {
            AnyUpstream::Http(_) => "http",
            AnyUpstream::Stdio(_) | AnyUpstream::Shared(_) => "stdio",
            AnyUpstream::Sse(_) => "sse",
        };
        let upstream = identity::Identified {
            forward: self.identity,
            inner: metrics::Timed {
                inner: self.upstream,
                kind,
            },
        };
        let service = tower_layer::Layer::layer(&self.layer, upstream);
        let path = self.path;
        let routed = Routed { path, service };
        let shutdown = async {
            shutdown.await;
            if let Some(admin) = &admin {
                admin
                    .draining
                    .store(true, std::sync::atomic::Ordering::Release);
            }
        };
        match self.tls {
            Some(config) => {
                let acceptor = mcp_policy_server::TlsAcceptor::new(config);
                mcp_policy_server::serve_with(
                    self.listener,
                    acceptor,
                    routed,
                    self.limits,
                    shutdown,
                )
                .await;
            }
            None => mcp_policy_server::serve(self.listener, routed, self.limits, shutdown).await,
        }
        let _ = stopped.send(true);
    }
}

mod routed;
use routed::Routed;
