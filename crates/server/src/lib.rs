//! The accept loop of an MCP server or proxy over HTTP/1, with every
//! resource a client can hold bounded.
//!
//! A server that accepts whatever connects can be exhausted without a single
//! valid request: thousands of connections left half-open, headers or
//! bodies sent a byte at a time, keep-alive connections never closed. Each
//! holds a file descriptor and memory until the process runs out of one and
//! legitimate clients time out. [`serve`] bounds them all
//! ([`ServerLimits`], defaults in docs/SECURITY.md):
//!
//! - at most [`ServerLimits::max_connections`] connections are served;
//!   past that a connection is answered `503 Service Unavailable` with
//!   `Retry-After` and closed (never left waiting), and past a second,
//!   small cap on those answers it is closed at once;
//! - a request's headers must arrive within
//!   [`ServerLimits::header_read_timeout`] of its first byte, and fit in
//!   [`ServerLimits::max_header_bytes`];
//! - a connection with no request in flight and nothing received for
//!   [`ServerLimits::idle_timeout`] is closed (keep-alive), and one whose
//!   client has taken none of what it was sent for as long is dropped,
//!   response in flight or not (a client that pipelines requests and never
//!   reads the answers would otherwise hold its place for good);
//! - on shutdown, accepting stops, connections are asked to close after
//!   their current request, and those still busy after
//!   [`ServerLimits::drain_timeout`] are dropped (closed by [`serve`]
//!   itself before it returns, even when the runtime goes on).
//!
//! The request body's pace is the service's to bound: the policy layer
//! reads it whole within its own timeout (`HttpConfig::body_read_timeout`).
//! A response still streaming keeps its connection: an MCP server's SSE
//! stream is a response in flight, not an idle connection.

mod accept;
mod connection;
mod limits;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

pub use accept::{Acceptor, PlainTcp, TlsAcceptor, rustls};
pub use limits::ServerLimits;

/// What the accept loop tells its connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Serving,
    /// Close after the request in flight.
    Draining,
    /// The drain timeout passed: close now, whatever is in flight.
    Dropping,
}

/// How long connections told to drop are given to do so: a task that is
/// not scheduled at once is still one that ends.
const DROP_GRACE: Duration = Duration::from_secs(1);

/// The most connections [`serve`] counts (larger limits are taken as this):
/// what its drain can wait for at once (`u32`), far past any file
/// descriptor limit.
pub const MAX_CONNECTIONS: usize = if (u32::MAX as usize) < Semaphore::MAX_PERMITS {
    u32::MAX as usize
} else {
    Semaphore::MAX_PERMITS
};

/// The error of the bodies a served service may answer with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Serves `service` on `listener` until `shutdown` completes, then drains.
/// Returns once every connection has closed or the drain timeout passed.
pub async fn serve<S, B>(
    listener: TcpListener,
    service: S,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()>,
) where
    S: tower_service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    serve_with(listener, PlainTcp, service, limits, shutdown).await;
}

/// [`serve`], each accepted connection first through `acceptor` (a TLS
/// handshake, say), which must complete within the header timeout.
pub async fn serve_with<A, S, B>(
    listener: TcpListener,
    acceptor: A,
    service: S,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()>,
) where
    A: Acceptor,
    S: tower_service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    // A semaphore panics past its maximum; no limit means more than that.
    let mut limits = limits;
    limits.max_connections = limits.max_connections.min(MAX_CONNECTIONS);
    limits.max_turned_away = limits.max_turned_away.min(MAX_CONNECTIONS);
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let turned_away = Arc::new(Semaphore::new(limits.max_turned_away));
    let (phase, phase_signal) = watch::channel(Phase::Serving);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(error) => {
                // Out of file descriptors (or another transient failure):
                // wait a little rather than spin on the same error.
                tracing::warn!(target: "mcp_policy::server", %error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        match Arc::clone(&connections).try_acquire_owned() {
            Ok(permit) => {
                let service = service.clone();
                let phase = phase_signal.clone();
                let handshake = acceptor.accept(stream);
                tokio::spawn(async move {
                    if let Some(stream) = handshaken(handshake, limits).await {
                        connection::serve(stream, service, limits, phase).await;
                    }
                    drop(permit);
                });
            }
            Err(_) => match Arc::clone(&turned_away).try_acquire_owned() {
                Ok(permit) => {
                    tracing::warn!(
                        target: "mcp_policy::server",
                        max_connections = limits.max_connections,
                        "connection limit reached: answered 503"
                    );
                    let handshake = acceptor.accept(stream);
                    tokio::spawn(async move {
                        if let Some(stream) = handshaken(handshake, limits).await {
                            connection::turn_away(stream, limits).await;
                        }
                        drop(permit);
                    });
                }
                // Even the refusals are at their cap: closed unanswered.
                Err(_) => drop(stream),
            },
        }
    }
    drop(listener);
    let _ = phase.send(Phase::Draining);
    // Every permit back means every connection closed.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let drained = tokio::time::timeout(limits.drain_timeout, connections.acquire_many(all)).await;
    if drained.is_err() {
        tracing::warn!(
            target: "mcp_policy::server",
            "drain timeout: connections still busy are dropped"
        );
        // Dropped by their own tasks: returning alone would leave them
        // running on a runtime that outlives this call.
        let _ = phase.send(Phase::Dropping);
        let _ = tokio::time::timeout(DROP_GRACE, connections.acquire_many(all)).await;
    }
}

/// The stream of a handshake finished within the header timeout, or
/// `None` (logged) when it failed or took too long.
async fn handshaken<F, T>(handshake: F, limits: ServerLimits) -> Option<T>
where
    F: Future<Output = std::io::Result<T>>,
{
    match tokio::time::timeout(limits.header_read_timeout, handshake).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(error)) => {
            tracing::info!(target: "mcp_policy::server", %error, "connection closed: handshake failed");
            None
        }
        Err(_elapsed) => {
            tracing::info!(
                target: "mcp_policy::server",
                "connection closed: handshake not completed in time"
            );
            None
        }
    }
}

/// Completes on Ctrl-C, or on SIGTERM as a container runtime sends it: the
/// `shutdown` of [`serve`] for a server run as a process.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
