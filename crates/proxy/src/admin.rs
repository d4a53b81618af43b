//! The admin listener (`--admin-bind`): `/healthz`, `/readyz`, `/metrics`.
//!
//! Apart from the MCP listener on purpose: nothing new is exposed on the
//! public port (which serves only the MCP endpoint and its metadata), and
//! the admin port can be bound to an address only the orchestrator and
//! the scraper reach. The admin endpoints take no credentials, so they
//! tell nothing a caller could use: counts, a policy hash, "ready".
//!
//! - `/healthz`: 200 while the process serves. A liveness probe: failing
//!   it means "restart me", which nothing but a dead process warrants.
//! - `/readyz`: 200 when the policy is loaded, the issuer's keys have been
//!   obtained at least once, and the upstream answers (HTTP: a TCP connect
//!   within [`CONNECT_TIMEOUT`]; stdio: the command resolves to an
//!   executable), else 503 naming what is not; 503 too once draining. The
//!   result is kept [`READY_TTL`], so a flood of probes is at most one
//!   connection to the upstream every few seconds.
//! - `/metrics`: the Prometheus text format (crate::metrics).

use std::convert::Infallible;
use std::fmt::Write;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use mcp_policy_http::PolicyLayer;

use crate::metrics::Scrape;
use crate::{AnyUpstream, ProxyBody};

/// How long a readiness answer is kept.
pub const READY_TTL: Duration = Duration::from_secs(5);
/// How long the readiness probe waits for the upstream's TCP connect.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// How long the readiness probe waits for keys not obtained yet.
const KEYS_TIMEOUT: Duration = Duration::from_secs(2);

/// What the admin endpoints read.
#[derive(Debug)]
pub(crate) struct Admin {
    layer: PolicyLayer,
    probe: Probe,
    scrape: Scrape,
    pub(crate) draining: AtomicBool,
    /// The last readiness answer and when it was made; the lock also
    /// makes concurrent probes wait for one check rather than each run one.
    ready: tokio::sync::Mutex<Option<(Instant, bool, String)>>,
    /// Keys once obtained are kept by the validator (a failed refresh
    /// keeps them), so this only ever turns true.
    keys_seen: AtomicBool,
}

impl Admin {
    pub(crate) fn new(layer: PolicyLayer, upstream: AnyUpstream, probe: Probe) -> Admin {
        Admin {
            scrape: Scrape::new(layer.clone(), upstream),
            layer,
            probe,
            draining: AtomicBool::new(false),
            ready: tokio::sync::Mutex::new(None),
            keys_seen: AtomicBool::new(false),
        }
    }

    async fn readiness(&self) -> (bool, String) {
        let mut cached = self.ready.lock().await;
        if let Some((at, ready, text)) = cached.as_ref()
            && at.elapsed() < READY_TTL
        {
            return (*ready, text.clone());
        }
        let mut text = String::new();
        let policy = self.layer.policy();
        let _ = writeln!(text, "policy: ok (generation {})", policy.generation());
        let keys = self.keys().await;
        let _ = writeln!(
            text,
            "keys: {}",
            if keys { "ok" } else { "not obtained yet" }
        );
        let upstream = self.upstream_reachable().await;
        let _ = writeln!(
            text,
            "upstream: {}",
            match &upstream {
                Ok(()) => "ok".to_owned(),
                Err(why) => why.clone(),
            }
        );
        let ready = keys && upstream.is_ok();
        *cached = Some((Instant::now(), ready, text.clone()));
        (ready, text)
    }

    /// Whether the validator has keys: fetched (or read) once, now or before.
    async fn keys(&self) -> bool {
        if self.keys_seen.load(Ordering::Acquire) {
            return true;
        }
        let validator = self.layer.validator();
        // Bounded like the upstream's connect: a probe must answer.
        let refreshed = tokio::time::timeout(KEYS_TIMEOUT, validator.refresh_keys()).await;
        let obtained = matches!(refreshed, Ok(Ok(count)) if count > 0);
        if obtained {
            self.keys_seen.store(true, Ordering::Release);
        }
        obtained
    }

    async fn upstream_reachable(&self) -> Result<(), String> {
        match &self.probe {
            Probe::Connect(authority) => {
                let connect = tokio::net::TcpStream::connect(authority.as_str());
                match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
                    Ok(Ok(_stream)) => Ok(()),
                    Ok(Err(error)) => Err(format!("unreachable ({})", error.kind())),
                    Err(_) => Err("unreachable (no connection within 1 s)".to_owned()),
                }
            }
            Probe::Program(program) if resolves(Path::new(program)) => Ok(()),
            Probe::Program(_) => Err("the command is not an executable file".to_owned()),
        }
    }
}

/// How readiness finds the upstream reachable.
#[derive(Clone, Debug)]
pub(crate) enum Probe {
    /// An HTTP upstream's `host:port`: a TCP connect.
    Connect(String),
    /// A stdio upstream's program: it resolves to an executable.
    Program(String),
}

impl Probe {
    pub(crate) fn of(upstream: &crate::Upstream) -> Probe {
        match upstream {
            crate::Upstream::Http(crate::UpstreamConfig { url, .. })
            | crate::Upstream::Sse(crate::SseConfig { url, .. }) => {
                let authority = url.authority().map_or("", |a| a.as_str());
                // No port in the URL: http's.
                if url.port_u16().is_some() {
                    Probe::Connect(authority.to_owned())
                } else {
                    Probe::Connect(format!("{authority}:80"))
                }
            }
            crate::Upstream::Stdio(stdio) => {
                Probe::Program(stdio.command.first().cloned().unwrap_or_default())
            }
        }
    }
}

/// Whether `program` names an executable file, as a spawn would find it:
/// a path when it has a `/`, else searched in `PATH`.
pub(crate) fn resolves(program: &Path) -> bool {
    if program.components().count() > 1 {
        return executable(program);
    }
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| executable(&dir.join(program)))
    })
}

fn executable(path: &Path) -> bool {
    let Ok(metadata) = std::fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        metadata.is_file() && metadata.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        metadata.is_file()
    }
}

/// The admin service, served by [`mcp_policy_server::serve`].
#[derive(Clone, Debug)]
pub(crate) struct AdminService(pub Arc<Admin>);

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<ProxyBody> {
    let mut response = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

const PLAIN: &str = "text/plain; charset=utf-8";

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl tower_service::Service<Request<Incoming>> for AdminService {
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response<ProxyBody>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        let admin = Arc::clone(&self.0);
        Box::pin(async move {
            if request.method() != Method::GET && request.method() != Method::HEAD {
                let mut response = text(
                    StatusCode::METHOD_NOT_ALLOWED,
                    PLAIN,
                    "method not allowed\n".into(),
                );
                response
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
                return Ok(response);
            }
            Ok(match request.uri().path() {
                "/healthz" => text(StatusCode::OK, PLAIN, "ok\n".into()),
                "/readyz" => {
                    if admin.draining.load(Ordering::Acquire) {
                        return Ok(text(StatusCode::SERVICE_UNAVAILABLE, PLAIN, "draining\n".into()));
                    }
                    let (ready, report) = admin.readiness().await;
                    let status = if ready {
                        StatusCode::OK
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    };
                    text(status, PLAIN, report)
                }
                "/metrics" => match admin.scrape.render() {
                    Some(page) => text(StatusCode::OK, "text/plain; version=0.0.4; charset=utf-8", page),
                    None => text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        PLAIN,
                        "metrics unavailable: another metrics recorder is installed in this process\n".into(),
                    ),
                },
                _ => text(StatusCode::NOT_FOUND, PLAIN, "not found\n".into()),
            })
        })
    }
}
