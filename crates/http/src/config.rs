//! What the layer is told: who issues tokens, how denials are answered,
//! what it accepts.

use std::fmt;
use std::time::Duration;

use crate::SessionLimits;

/// Whether decisions are enforced or only logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// Denials are answered; list responses are filtered.
    #[default]
    Enforce,
    /// Every decision is made and logged, and every request is let through
    /// unchanged (lists unfiltered). Authentication, the `Origin`/`Host`
    /// checks and the body limit stay enforced: a dry run is about the
    /// policy, not about turning authentication off.
    DryRun,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::DryRun => "dry_run",
        }
    }
}

/// How a denial is answered.
///
/// A request that more scopes would allow is answered as the variant says.
/// A request no scope can allow never gets a step-up challenge (it would be
/// a lie):
///
/// - denied by a deny rule or the default: answered as [`Denial::AsUnknown`]
///   in every mode;
/// - denied by conditions on arguments or claims (the deciding rule's
///   conditions do not hold, or a `deny ... when` fired): HTTP 200 with a
///   JSON-RPC error [`crate::INSUFFICIENT_SCOPE_CODE`] (`-32001`) whose
///   message names the atoms by their policy text (``denied: condition
///   `arg.path under "/workspace"` does not hold``, ``denied by a deny rule:
///   condition `...` holds``) and whose `data` lists them
///   (`failed_conditions` or `denied_when`); in [`Denial::ToolError`] mode a
///   `tools/call` gets a result with `isError: true` and that text instead;
///   in [`Denial::AsUnknown`] mode, the unknown-target answer. Neither the
///   arguments' nor the claims' values are echoed: they may be secrets, and
///   the caller knows its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Denial {
    /// HTTP 403 with `WWW-Authenticate: Bearer error="insufficient_scope"`
    /// naming the scopes to ask for (MCP step-up authorization), and a
    /// JSON-RPC error [`crate::INSUFFICIENT_SCOPE_CODE`] with the missing
    /// scopes in `data`.
    #[default]
    StepUp,
    /// HTTP 200 with the JSON-RPC answer: for `tools/call` a result with
    /// `isError: true` and a text naming the missing scopes; for
    /// `resources/read` and `prompts/get` (whose results have no error
    /// flag) a JSON-RPC error [`crate::INSUFFICIENT_SCOPE_CODE`] with the
    /// missing scopes in `data`.
    ToolError,
    /// The answer for a tool, resource or prompt that does not exist:
    /// reveals nothing, whatever denied the request.
    AsUnknown,
}

/// The layer's configuration. [`HttpConfig::new`] sets the defaults.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// The authorization servers' issuer URLs, for the protected resource
    /// metadata (RFC 9728 `authorization_servers`).
    pub authorization_servers: Vec<String>,
    /// `resource_name` in the metadata. Default: the policy's name, if any.
    pub resource_name: Option<String>,
    /// The scopes a client is asked for first (the 401 challenge's `scope`,
    /// and the head of `scopes_supported`). Default (`None`): the policy's
    /// `read`-level scopes.
    pub baseline_scopes: Option<Vec<String>>,
    pub denial: Denial,
    pub mode: Mode,
    /// Request bodies beyond this are answered 413 unread. Default: 1 MiB.
    pub max_body_bytes: usize,
    /// A JSON list response (or one SSE event) beyond this is not filtered
    /// but refused (502). Default: 16 MiB.
    pub max_response_bytes: usize,
    /// Accepted `Origin` values (`scheme://host[:port]`, compared without
    /// case). Default (`None`): the resource's own origin and loopback
    /// origins (`localhost`, `127.0.0.1`, `[::1]`, any port). Requests
    /// without `Origin` (not from a browser) pass.
    pub allowed_origins: Option<Vec<String>>,
    /// Accepted `Host` values (`host` for any port, or `host:port`).
    /// Default (`None`): the resource's host and loopback hosts. A request
    /// without a host is refused.
    pub allowed_hosts: Option<Vec<String>>,
    /// How many verified tokens the cache keeps. Default: 10 000.
    pub token_cache_capacity: usize,
    /// A request body not received whole within this time is answered 408
    /// (a client sending a byte at a time holds nothing for long).
    /// Default: 30 s.
    pub body_read_timeout: Duration,
    /// Count every decision in the `mcp_policy_decisions_total` metric
    /// (the `metrics` facade). Off by default: building the counter's
    /// labels allocates, and the decision path otherwise does not. The
    /// proxy turns it on with its admin listener, which serves the count.
    pub count_decisions: bool,
    /// How many MCP sessions are held, per principal and in all, and for
    /// how long an idle one lives. Sessions are always bound to the
    /// principal that opened them.
    pub sessions: SessionLimits,
}

impl HttpConfig {
    pub fn new<S: Into<String>>(authorization_servers: impl IntoIterator<Item = S>) -> HttpConfig {
        HttpConfig {
            authorization_servers: authorization_servers.into_iter().map(Into::into).collect(),
            resource_name: None,
            baseline_scopes: None,
            denial: Denial::default(),
            mode: Mode::default(),
            max_body_bytes: 1024 * 1024,
            max_response_bytes: 16 * 1024 * 1024,
            allowed_origins: None,
            allowed_hosts: None,
            token_cache_capacity: 10_000,
            body_read_timeout: Duration::from_secs(30),
            count_decisions: false,
            sessions: SessionLimits::default(),
        }
    }
}

/// Why a layer could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupError {
    /// The validator's audience (this server's resource URI) is not an
    /// absolute URI without query and fragment.
    InvalidResource(String),
    NoAuthorizationServer,
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::InvalidResource(uri) => write!(
                f,
                "resource URI `{uri}` must be absolute (scheme and host) without query or fragment"
            ),
            SetupError::NoAuthorizationServer => {
                f.write_str("no authorization server is configured")
            }
        }
    }
}

impl std::error::Error for SetupError {}
