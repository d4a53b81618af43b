//! Prometheus metrics, served by the admin listener at `/metrics`.
//!
//! Counters are recorded where things happen, through the `metrics`
//! facade (free without a recorder): decisions, token rejections and
//! failed reloads in the policy layer (crates/http), upstream latency
//! here. Gauges of state the proxy can read (sessions, children, the
//! policy in force) are set when scraped, so that no code path can forget
//! to update them. The recorder is the process's global one, installed
//! once, when the first proxy with an admin listener starts.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use mcp_policy_http::PolicyLayer;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::{AnyUpstream, ProxyBody};

pub const DECISIONS: &str = "mcp_policy_decisions_total";
pub const TOKEN_REJECTIONS: &str = "mcp_policy_token_rejections_total";
pub const RELOAD_FAILURES: &str = "mcp_policy_reload_failures_total";
pub const UPSTREAM_LATENCY: &str = "mcp_policy_upstream_latency_seconds";
pub const SESSIONS: &str = "mcp_policy_sessions";
pub const CHILDREN: &str = "mcp_policy_child_processes";
pub const POLICY_INFO: &str = "mcp_policy_policy_info";
pub const POLICY_GENERATION: &str = "mcp_policy_policy_generation";

/// Seconds to the upstream's response head: from a loopback answer in
/// well under a millisecond to a tool call that takes a minute.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0,
];

/// The process's Prometheus handle, installing the recorder on first use;
/// `None` when another recorder was installed first (then `/metrics`
/// answers 503 rather than an empty page that looks healthy).
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(UPSTREAM_LATENCY.to_owned()),
                    &LATENCY_BUCKETS,
                )
                .ok()?;
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    metrics::describe_counter!(
        DECISIONS,
        "Policy decisions, by method, decision (allow, deny, invalid), rule and mode"
    );
    metrics::describe_counter!(
        TOKEN_REJECTIONS,
        "Requests refused before any decision, by reason (missing, malformed_header, or the validator's rejection code)"
    );
    metrics::describe_counter!(
        RELOAD_FAILURES,
        "Policy reloads that failed (the policy in force stayed)"
    );
    metrics::describe_histogram!(
        UPSTREAM_LATENCY,
        metrics::Unit::Seconds,
        "From forwarding a request to the upstream's response head"
    );
    metrics::describe_gauge!(SESSIONS, "MCP sessions bound to a principal");
    metrics::describe_gauge!(CHILDREN, "Child processes of a stdio upstream");
    metrics::describe_gauge!(
        POLICY_INFO,
        "1 for the policy in force, by the SHA-256 (first 16 hex digits) of its compiled table"
    );
    metrics::describe_gauge!(
        POLICY_GENERATION,
        "Policies loaded since start (0: the first)"
    );
}

/// The scrape-time gauges, then the page.
#[derive(Debug)]
pub(crate) struct Scrape {
    layer: PolicyLayer,
    upstream: AnyUpstream,
    /// The policy generation last hashed, and its hash.
    hashed: Mutex<Option<(u64, String)>>,
}

impl Scrape {
    pub(crate) fn new(layer: PolicyLayer, upstream: AnyUpstream) -> Scrape {
        Scrape {
            layer,
            upstream,
            hashed: Mutex::new(None),
        }
    }

    /// The page, or `None` without a recorder.
    pub(crate) fn render(&self) -> Option<String> {
        let handle = handle()?;
        self.set_gauges();
        handle.run_upkeep();
        Some(handle.render())
    }

    fn set_gauges(&self) {
        // Gauges cast counts to f64: exact up to 2^53, far past any limit.
        #[allow(clippy::cast_precision_loss)]
        {
            metrics::gauge!(SESSIONS).set(self.layer.session_count() as f64);
            let children = match &self.upstream {
                AnyUpstream::Stdio(stdio) => stdio.children(),
                AnyUpstream::Shared(shared) => shared.children(),
                AnyUpstream::Http(_) | AnyUpstream::Sse(_) => 0,
            };
            metrics::gauge!(CHILDREN).set(children as f64);
        }
        let policy = self.layer.policy();
        let generation = policy.generation();
        let mut hashed = self.hashed.lock().unwrap_or_else(PoisonError::into_inner);
        if hashed.as_ref().is_some_and(|(at, _)| *at == generation) {
            return;
        }
        // Hashing a large table costs: once per policy, not per scrape.
        let hash = policy_hash(&policy.evaluator().table().to_artifact());
        if let Some((_, previous)) = hashed.take() {
            metrics::gauge!(POLICY_INFO, "hash" => previous).set(0.0);
        }
        metrics::gauge!(POLICY_INFO, "hash" => hash.clone()).set(1.0);
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!(POLICY_GENERATION).set(generation as f64);
        *hashed = Some((generation, hash));
    }
}

/// The first 16 hex digits of the SHA-256 of `artifact`.
pub fn policy_hash(artifact: &str) -> String {
    use std::fmt::Write;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, artifact.as_bytes());
    let mut out = String::with_capacity(16);
    for byte in digest.as_ref().iter().take(8) {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// The upstream, timed to its response head.
#[derive(Clone, Debug)]
pub(crate) struct Timed<S> {
    pub inner: S,
    /// `http` or `stdio`.
    pub kind: &'static str,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> tower_service::Service<Request<Full<Bytes>>> for Timed<S>
where
    S: tower_service::Service<
            Request<Full<Bytes>>,
            Response = Response<ProxyBody>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response<ProxyBody>, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Full<Bytes>>) -> Self::Future {
        let clone = self.inner.clone();
        let mut ready = std::mem::replace(&mut self.inner, clone);
        let kind = self.kind;
        Box::pin(async move {
            let started = Instant::now();
            let response = ready.call(request).await;
            metrics::histogram!(UPSTREAM_LATENCY, "upstream" => kind)
                .record(started.elapsed().as_secs_f64());
            response
        })
    }
}
