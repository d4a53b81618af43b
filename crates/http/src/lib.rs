//! Enforce an MCP policy over HTTP: a tower [`Layer`](tower_layer::Layer)
//! in front of an MCP server's streamable HTTP endpoint (an axum router,
//! rmcp's `StreamableHttpService`, any `Service<http::Request<_>>`).
//!
//! ```no_run
//! # use std::sync::Arc;
//! use mcp_policy_evaluator::Evaluator;
//! use mcp_policy_http::{HttpConfig, PolicyLayer};
//! use mcp_policy_token::{KeySource, Validator, ValidatorConfig};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let validator = Validator::new(ValidatorConfig::new(
//!     "https://auth.example.com",
//!     "https://mcp.example.com/mcp", // the resource URI: token audience and metadata `resource`
//!     KeySource::Url("https://auth.example.com/.well-known/jwks.json".into()),
//! ))?;
//! let layer = PolicyLayer::new(
//!     Arc::new(validator),
//!     Evaluator::from_path("server.mcppolicy")?,
//!     HttpConfig::new(["https://auth.example.com"]),
//! )?;
//! // axum: Router::new().route("/mcp", ...).layer(layer.clone());
//! // later, on SIGHUP: layer.reload_from_path("server.mcppolicy");
//! # Ok(()) }
//! ```
//!
//! Each request, in order:
//!
//! 1. `Host` and `Origin` against the allow-lists (DNS rebinding): 403;
//!    two `Host` headers: 400 (RFC 9112 §3.2).
//! 2. The protected resource metadata (RFC 9728) at
//!    `/.well-known/oauth-protected-resource` and its path-inserted form,
//!    without a token.
//! 3. The bearer token, from the `Authorization` header only, through the
//!    [`TokenCache`]: none or rejected, 401 with a challenge naming the
//!    metadata and the baseline scopes.
//! 4. The `Mcp-Session-Id`, if any: a session belongs to the principal that
//!    opened it (issuer, subject, client); under any other, 404 as for an
//!    unknown session ([`SessionLimits`] bounds the table).
//! 5. The body, whole and bounded in size (413) and in time (408), parsed
//!    as JSON-RPC (400 when it is not, or when an object names a key twice,
//!    at any depth); every `tools/call`, `resources/read` and `prompts/get`
//!    decided by the policy and logged: `tools/call` and `prompts/get` on
//!    their `params.arguments` (when an object) and the token's claims,
//!    `resources/read` on the claims. A denial is answered as [`Denial`]
//!    says; the log records the arguments the decision read, and only
//!    those (at most [`MAX_LOGGED_ARGUMENTS_BYTES`]). An `initialize` takes room
//!    for a new session first (503 with `Retry-After` when there is none).
//! 6. The inner service, with the [`Principal`] in the request extensions
//!    (`Arc<Principal>`) and, for code without the request, from
//!    [`current_principal`] (a task-local set while the inner service's
//!    future runs; spawned tasks do not inherit it); its `tools/list`, `resources/list` and
//!    `prompts/list` answers filtered, in JSON and SSE bodies (an entry is
//!    shown when some arguments could be allowed with the caller's scopes
//!    and claims); the session
//!    id it issues bound to the principal.
//!
//! Anything that goes wrong on the way denies (fail closed).
//!
//! The layer runs on a tokio runtime with its time driver enabled (as
//! `#[tokio::main]` and `Builder::enable_all` give): it times request
//! bodies, and ends expired sessions at the server from a spawned task.
//!
//! Batches (JSON-RPC arrays, which MCP 2025-06-18 dropped but older
//! clients send) are forwarded only when every message in them is allowed.
//! Otherwise nothing of the batch reaches the server: with a step-up
//! denial in [`Denial::StepUp`] mode the whole batch gets the first such
//! challenge; else each denied request gets its answer and every other
//! request the error [`BATCH_REFUSED_CODE`].

mod challenge;
mod config;
mod decision_log;
mod filter;
mod jsonrpc;
mod policy;
mod principal;
pub mod reload;
mod resource;
mod service;
mod session;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;
use bytes::Bytes;
use mcp_policy_evaluator::{Evaluator, LoadError};
use mcp_policy_token::{TokenCache, Validator};
use serde_json::{Value, json};

pub use config::{Denial, HttpConfig, Mode, SetupError};
pub use decision_log::MAX_LOGGED_ARGUMENTS_BYTES;
pub use jsonrpc::{
    BATCH_REFUSED_CODE, DUPLICATE_KEY_MESSAGE, INSUFFICIENT_SCOPE_CODE, PARSE_ERROR_CODE,
    ParseError, parse_strict,
};
/// What [`PolicyLayer::token_cache_stats`] counts.
pub use mcp_policy_token::CacheStats;
/// The verified caller, as the layer puts it in a request's extensions: a
/// server reads it through this crate alone.
pub use mcp_policy_token::Principal;
use policy::CachedToken;
pub use policy::LoadedPolicy;
pub use principal::current_principal;
pub use service::PolicyService;
pub use session::SessionLimits;

use resource::{Addressing, Resource};

/// The error type of the bodies this layer writes.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The response body: the inner service's, or one the layer wrote.
pub type ResponseBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// The layer. Cheap to clone; clones share the policy, the token cache and
/// the configuration, so a clone kept by the application reloads the
/// policy of every service it made.
#[derive(Clone, Debug)]
pub struct PolicyLayer {
    shared: Arc<Shared>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub config: HttpConfig,
    pub resource: Resource,
    pub addressing: Addressing,
    pub cache: TokenCache<CachedToken>,
    pub policy: ArcSwap<LoadedPolicy>,
    pub generation: AtomicU64,
    /// Held from reading a policy to putting it in force, so that of two
    /// reloads at once (a file poll and a SIGHUP) the file read last wins.
    pub reloading: std::sync::Mutex<()>,
    /// Every MCP session id the server issued through this layer, and whose.
    pub sessions: Arc<session::Sessions>,
}

impl PolicyLayer {
    /// The resource URI is the validator's audience (RFC 8707): the token's
    /// `aud`, the metadata's `resource`, and where the metadata lives.
    pub fn new(
        validator: Arc<Validator>,
        policy: Evaluator,
        config: HttpConfig,
    ) -> Result<PolicyLayer, SetupError> {
        if config.authorization_servers.is_empty() {
            return Err(SetupError::NoAuthorizationServer);
        }
        let resource = Resource::parse(&validator.config().audience)?;
        let addressing = Addressing::new(
            &resource,
            config.allowed_origins.as_deref(),
            config.allowed_hosts.as_deref(),
        );
        let loaded = LoadedPolicy::new(policy, 0, config.baseline_scopes.as_deref());
        Ok(PolicyLayer {
            shared: Arc::new(Shared {
                cache: TokenCache::new(validator, config.token_cache_capacity),
                policy: ArcSwap::from_pointee(loaded),
                generation: AtomicU64::new(0),
                reloading: std::sync::Mutex::new(()),
                sessions: session::Sessions::new(config.sessions),
                resource,
                addressing,
                config,
            }),
        })
    }

    /// The policy in force now.
    pub fn policy(&self) -> Arc<LoadedPolicy> {
        self.shared.policy.load_full()
    }

    /// Puts `policy` in force for every request that starts from now on
    /// (requests under way finish with the one they started with). Returns
    /// the new generation.
    pub fn replace_policy(&self, policy: Evaluator) -> u64 {
        let _reloading = self.reload_guard();
        self.put_in_force(policy)
    }

    fn put_in_force(&self, policy: Evaluator) -> u64 {
        let generation = self.shared.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let loaded = LoadedPolicy::new(
            policy,
            generation,
            self.shared.config.baseline_scopes.as_deref(),
        );
        self.shared.policy.store(Arc::new(loaded));
        tracing::info!(target: "mcp_policy::reload", generation, "policy replaced");
        generation
    }

    /// Serialises reloads. A poisoned lock guards nothing but ordering, so
    /// it is taken over rather than propagated.
    fn reload_guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.shared
            .reloading
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Loads a policy file (source or compiled artifact) and puts it in
    /// force. On error the policy in force stays, and the error is logged
    /// and returned. Reloads run one at a time, from reading the file to
    /// putting it in force.
    pub fn reload_from_path(&self, path: impl AsRef<Path>) -> Result<u64, LoadError> {
        let path = path.as_ref();
        let _reloading = self.reload_guard();
        match Evaluator::from_path(path) {
            Ok(policy) => Ok(self.put_in_force(policy)),
            Err(error) => {
                tracing::error!(
                    target: "mcp_policy::reload",
                    path = %path.display(),
                    %error,
                    generation = self.policy().generation(),
                    "policy reload failed; the policy in force stays"
                );
                metrics::counter!("mcp_policy_reload_failures_total").increment(1);
                Err(error)
            }
        }
    }

    /// How many MCP sessions are bound to a principal now.
    pub fn session_count(&self) -> usize {
        self.shared.sessions.len()
    }

    /// Hits, misses and evictions of the token cache.
    pub fn token_cache_stats(&self) -> CacheStats {
        self.shared.cache.stats()
    }

    /// The validator the layer's token cache checks tokens with.
    pub fn validator(&self) -> &Arc<Validator> {
        self.shared.cache.validator()
    }

    /// The path of the resource URI: the MCP endpoint this layer guards
    /// (`/mcp` for `https://host/mcp`; `/` when the URI has no path).
    pub fn resource_path(&self) -> &str {
        &self.shared.resource.path
    }

    /// The URL of the protected resource metadata, as challenges name it.
    pub fn metadata_url(&self) -> &str {
        &self.shared.resource.metadata_url
    }

    /// The protected resource metadata document (RFC 9728 §2).
    pub fn metadata(&self) -> Value {
        self.shared.metadata()
    }
}

impl Shared {
    pub fn metadata(&self) -> Value {
        let policy = self.policy.load();
        let mut document = json!({
            "resource": self.resource.uri,
            "authorization_servers": self.config.authorization_servers,
            "scopes_supported": policy.scopes_supported(),
            "bearer_methods_supported": ["header"],
        });
        let name = self
            .config
            .resource_name
            .as_deref()
            .or_else(|| policy.evaluator().table().name());
        if let (Some(name), Some(object)) = (name, document.as_object_mut()) {
            object.insert("resource_name".to_owned(), json!(name));
        }
        document
    }
}

impl<S> tower_layer::Layer<S> for PolicyLayer {
    type Service = PolicyService<S>;

    fn layer(&self, inner: S) -> PolicyService<S> {
        PolicyService::new(inner, Arc::clone(&self.shared))
    }
}

/// The principal handlers find in the request extensions.
pub type PrincipalExtension = Arc<Principal>;
