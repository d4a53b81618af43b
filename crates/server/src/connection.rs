//! One connection: served by hyper, watched for what hyper does not bound.
//!
//! hyper's own header timeout starts when a connection waits for a request,
//! so it is the idle keep-alive timeout as well, and a long one lets idle
//! connections pile up while a short one cuts slow but honest clients. The
//! watch here tells the two apart: a connection is *arriving* from the
//! first byte of a request until its headers are read (bounded by the
//! header timeout), *idle* when nothing is in flight and nothing has
//! arrived (bounded by the idle timeout), and *busy* while a request or its
//! streamed response is in flight (bounded by the service).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body::Body;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;

use crate::{BoxError, Phase, ServerLimits};

const NONE: u64 = u64::MAX;

/// What a connection is doing, as the watch reads it.
#[derive(Debug)]
struct Activity {
    base: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds from `base` to when the connection last became idle.
    idle_since: AtomicU64,
    /// Milliseconds from `base` to the first byte received while idle, or
    /// [`NONE`].
    arriving_since: AtomicU64,
    /// Milliseconds from `base` to when a write last found the socket full
    /// (the client not reading), or [`NONE`] once a write goes through.
    write_blocked_since: AtomicU64,
}

#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Keep,
    /// Idle past the idle timeout: closed gracefully.
    Idle,
    /// Headers not complete within the header timeout: dropped.
    SlowHeaders,
    /// The client has read nothing of what it was sent for the idle
    /// timeout: dropped (a graceful close would wait for that write).
    Stalled,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            base: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            arriving_since: AtomicU64::new(NONE),
            write_blocked_since: AtomicU64::new(NONE),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    fn received(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0 {
            let now = self.now();
            let _ = self.arriving_since.compare_exchange(
                NONE,
                now,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
    }

    /// A write went through (`true`) or found the socket full.
    fn wrote(&self, through: bool) {
        if through {
            self.write_blocked_since.store(NONE, Ordering::Release);
        } else {
            let now = self.now();
            let _ = self.write_blocked_since.compare_exchange(
                NONE,
                now,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
    }

    fn started(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.arriving_since.store(NONE, Ordering::Release);
    }

    fn finished(&self) {
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle_since.store(self.now(), Ordering::Release);
        }
    }

    fn verdict(&self, limits: &ServerLimits) -> Verdict {
        let now = self.now();
        let since = |at: u64| Duration::from_millis(now.saturating_sub(at));
        // First: a response in flight is no excuse for a client that does
        // not take it (an SSE client reads its stream; one that has not
        // read for this long is gone or hostile).
        match self.write_blocked_since.load(Ordering::Acquire) {
            NONE => {}
            at if since(at) >= limits.idle_timeout => return Verdict::Stalled,
            _ => {}
        }
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return Verdict::Keep;
        }
        match self.arriving_since.load(Ordering::Acquire) {
            NONE if since(self.idle_since.load(Ordering::Acquire)) >= limits.idle_timeout => {
                Verdict::Idle
            }
            NONE => Verdict::Keep,
            at if since(at) >= limits.header_read_timeout => Verdict::SlowHeaders,
            _ => Verdict::Keep,
        }
    }
}

/// The socket, telling the watch when bytes arrive.
struct Watched<IO> {
    stream: IO,
    activity: Arc<Activity>,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.received();
        }
        polled
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.activity.wrote(polled.is_ready());
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.activity.wrote(polled.is_ready());
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// A request in flight, until its response body is done or dropped.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.finished();
    }
}

/// The response body, holding its request in flight.
struct Tracked {
    body: UnsyncBoxBody<Bytes, BoxError>,
    _in_flight: InFlight,
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The tower service as hyper calls it, counting requests in flight.
struct Counted<S> {
    inner: S,
    activity: Arc<Activity>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> hyper::service::Service<Request<Incoming>> for Counted<S>
where
    S: tower_service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<Tracked>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response<Tracked>, Infallible>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        self.activity.started();
        // Dropped with the future if the client leaves before the answer.
        let in_flight = InFlight(Arc::clone(&self.activity));
        let mut inner = self.inner.clone();
        Box::pin(async move {
            std::future::poll_fn(|cx| inner.poll_ready(cx)).await?;
            let response = inner.call(request).await?;
            Ok(response.map(|body| Tracked {
                body: body.map_err(Into::into).boxed_unsync(),
                _in_flight: in_flight,
            }))
        })
    }
}

/// Serves one accepted connection until it closes, is found idle or slow,
/// or the server drains.
pub(crate) async fn serve<IO, S, B>(
    stream: IO,
    service: S,
    limits: ServerLimits,
    mut phase: watch::Receiver<Phase>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: tower_service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        stream,
        activity: Arc::clone(&activity),
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // The watch below times headers and idleness apart.
        .header_read_timeout(None)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .keep_alive(true);
    let service = Counted {
        inner: service,
        activity: Arc::clone(&activity),
    };
    let connection = builder.serve_connection(io, service);
    let mut connection = std::pin::pin!(connection);
    let tick =
        (limits.header_read_timeout.min(limits.idle_timeout) / 4).max(Duration::from_millis(10));
    let mut closing = false;
    let mut listening = true;
    loop {
        tokio::select! {
            _ = connection.as_mut() => return,
            changed = phase.changed(), if listening => {
                // The accept loop gone (its future dropped) is a drain too.
                let now = if changed.is_ok() { *phase.borrow_and_update() } else { Phase::Draining };
                listening = changed.is_ok();
                match now {
                    Phase::Serving => {}
                    Phase::Draining => {
                        if !closing {
                            closing = true;
                            connection.as_mut().graceful_shutdown();
                        }
                    }
                    Phase::Dropping => return,
                }
            }
            () = tokio::time::sleep(tick) => match activity.verdict(&limits) {
                Verdict::Keep => {}
                Verdict::Idle => {
                    if !closing {
                        closing = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
                Verdict::SlowHeaders => {
                    tracing::info!(
                        target: "mcp_policy::server",
                        "connection closed: request headers not received in time"
                    );
                    return;
                }
                Verdict::Stalled => {
                    tracing::info!(
                        target: "mcp_policy::server",
                        "connection closed: the client reads nothing of its answers"
                    );
                    return;
                }
            },
        }
    }
}

/// A connection past the cap: answered 503 with `Retry-After` and closed,
/// within a few seconds whatever the client does.
pub(crate) async fn turn_away<IO>(stream: IO, limits: ServerLimits)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout.min(Duration::from_secs(2)))
        .max_buf_size(limits.max_header_bytes.max(8192))
        .keep_alive(false);
    let service = hyper::service::service_fn(|_request: Request<Incoming>| async {
        let mut response = Response::new(Full::new(Bytes::from_static(
            b"server busy: too many connections\n",
        )));
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        let headers = response.headers_mut();
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        Ok::<_, Infallible>(response)
    });
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    let _ = tokio::time::timeout(Duration::from_secs(5), connection).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(header_ms: u64, idle_ms: u64) -> ServerLimits {
        ServerLimits {
            header_read_timeout: Duration::from_millis(header_ms),
            idle_timeout: Duration::from_millis(idle_ms),
            ..ServerLimits::default()
        }
    }

    #[test]
    fn a_connection_is_idle_arriving_or_busy() {
        let activity = Activity::new();
        let limits = limits(20, 40);
        assert_eq!(activity.verdict(&limits), Verdict::Keep);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(activity.verdict(&limits), Verdict::Idle);
        // A byte arrives: now the header timeout counts, from here.
        activity.received();
        assert_eq!(activity.verdict(&limits), Verdict::Keep);
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(activity.verdict(&limits), Verdict::SlowHeaders);
        // The headers were read: busy, whatever the time.
        activity.started();
        activity.received();
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(activity.verdict(&limits), Verdict::Keep);
        activity.finished();
        assert_eq!(activity.verdict(&limits), Verdict::Keep);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(activity.verdict(&limits), Verdict::Idle);
    }

    #[test]
    fn a_client_that_takes_nothing_is_stalled_even_mid_response() {
        let activity = Activity::new();
        let limits = limits(20, 40);
        activity.started();
        activity.wrote(false);
        std::thread::sleep(Duration::from_millis(20));
        // Blocked, then a write goes through: the clock starts again.
        activity.wrote(true);
        activity.wrote(false);
        assert_eq!(activity.verdict(&limits), Verdict::Keep);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(activity.verdict(&limits), Verdict::Stalled);
    }
}
