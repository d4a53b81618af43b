//! The upstream side of the proxy for an MCP server that speaks Streamable
//! HTTP: each request the policy layer let through, forwarded to one URL,
//! and the answer streamed back as the upstream sends it.
//!
//! What crosses, in each direction, is an allow-list, never "everything but":
//! a header the proxy does not know is not forwarded. So the client's
//! `Authorization` never reaches the upstream (no token passthrough: the
//! upstream gets the proxy's own credentials, from configuration), nor do
//! cookies, hop-by-hop headers or identity headers a client made up; and the
//! upstream's own challenges and cookies never reach the client.
//!
//! An upstream that fails answers for itself only as a JSON-RPC error that
//! says which kind of failure it was and nothing more: refused or reset
//! connection (502), no answer in time (504), a 5xx (502). Its own error
//! text is logged, not shown.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, HOST, HeaderName};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use crate::respond::{failure, plain};

/// The error of the bodies the proxy answers with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// What the proxy answers: the upstream's streamed body, or its own.
pub type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

/// The MCP headers that cross in both directions (Streamable HTTP).
const MCP_HEADERS: [&str; 3] = ["mcp-session-id", "mcp-protocol-version", "last-event-id"];
/// What else a request may carry upstream.
const REQUEST_HEADERS: [HeaderName; 2] = [CONTENT_TYPE, ACCEPT];
/// What else an answer may carry back.
const RESPONSE_HEADERS: [&str; 3] = ["content-type", "cache-control", "retry-after"];

/// How the proxy reaches its upstream.
#[derive(Clone, Debug)]
pub struct UpstreamConfig {
    /// The upstream's MCP endpoint, `http://host:port/path`.
    pub url: Uri,
    /// Headers sent with every request (the upstream's own credentials),
    /// read from configuration: never the client's.
    pub headers: HeaderMap,
    /// Connecting, at most. Default: 5 s.
    pub connect_timeout: Duration,
    /// From sending a request to the upstream's status line, at most.
    /// Default: 60 s (a tool call may take a while).
    pub first_byte_timeout: Duration,
    /// An answer's body (a JSON answer, an SSE stream) from which nothing
    /// arrives for this long is ended with an error. Any bytes count, so
    /// an upstream's keep-alive comments (`:` lines) keep a quiet stream
    /// open. Default: 300 s: longer than the first-byte timeout, since a
    /// stream may rightly be quiet for minutes; short enough that an
    /// upstream gone without a word (a half-open connection) frees its
    /// client and its session.
    pub idle_timeout: Duration,
}

impl UpstreamConfig {
    pub fn new(url: Uri) -> UpstreamConfig {
        UpstreamConfig {
            url,
            headers: HeaderMap::new(),
            connect_timeout: Duration::from_secs(5),
            first_byte_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(300),
        }
    }
}

/// Why an upstream URL cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidUpstream(pub String);

impl std::fmt::Display for InvalidUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "upstream `{}` must be an absolute http:// URL with a host",
            self.0
        )
    }
}

impl std::error::Error for InvalidUpstream {}

/// The forwarding service, to be wrapped in the policy layer.
#[derive(Clone, Debug)]
pub struct HttpUpstream {
    client: Client<HttpConnector, Full<Bytes>>,
    config: std::sync::Arc<UpstreamConfig>,
}

impl HttpUpstream {
    pub fn new(config: UpstreamConfig) -> Result<HttpUpstream, InvalidUpstream> {
        let url = &config.url;
        if url.scheme_str() != Some("http") || url.authority().is_none() {
            return Err(InvalidUpstream(url.to_string()));
        }
        let client = client(config.connect_timeout);
        Ok(HttpUpstream {
            client,
            config: std::sync::Arc::new(config),
        })
    }

    /// The request as the upstream gets it: its URL, the allowed headers,
    /// the configured ones.
    fn outgoing(&self, request: Request<Full<Bytes>>) -> Request<Full<Bytes>> {
        let (parts, body) = request.into_parts();
        let mut outgoing = Request::new(body);
        *outgoing.method_mut() = parts.method;
        *outgoing.uri_mut() = self.config.url.clone();
        let headers = outgoing.headers_mut();
        for name in REQUEST_HEADERS
            .iter()
            .cloned()
            .chain(MCP_HEADERS.iter().map(|n| HeaderName::from_static(n)))
        {
            for value in parts.headers.get_all(&name) {
                headers.append(name.clone(), value.clone());
            }
        }
        if let Some(authority) = self.config.url.authority()
            && let Ok(host) = HeaderValue::from_str(authority.as_str())
        {
            headers.insert(HOST, host);
        }
        for (name, value) in &self.config.headers {
            headers.insert(name.clone(), value.clone());
        }
        // The principal, when `--forward-identity` is on: set by the proxy
        // (crate::identity), never read from the client's headers.
        if let Some(identity) = parts
            .extensions
            .get::<crate::identity::IdentityForUpstream>()
        {
            for (name, value) in &identity.0 {
                headers.insert(name.clone(), value.clone());
            }
        }
        outgoing
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl tower_service::Service<Request<Full<Bytes>>> for HttpUpstream {
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response<ProxyBody>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Full<Bytes>>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.forward(request).await) })
    }
}

impl HttpUpstream {
    async fn forward(&self, request: Request<Full<Bytes>>) -> Response<ProxyBody> {
        if ![Method::POST, Method::GET, Method::DELETE].contains(request.method()) {
            let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
            response.headers_mut().insert(
                http::header::ALLOW,
                HeaderValue::from_static("GET, POST, DELETE"),
            );
            return response;
        }
        // The body, kept (a reference count) to find the id for an error
        // answer: parsed only when one is needed, not on every call.
        let sent_body = full_bytes(request.body().clone());
        let outgoing = self.outgoing(request);
        let sent = tokio::time::timeout(
            self.config.first_byte_timeout,
            self.client.request(outgoing),
        );
        let answer = match sent.await {
            Ok(Ok(answer)) => answer,
            Ok(Err(error)) => {
                tracing::warn!(target: "mcp_policy::upstream", %error, "upstream unreachable");
                return failure(
                    StatusCode::BAD_GATEWAY,
                    "upstream unavailable",
                    request_id(&sent_body),
                );
            }
            Err(_elapsed) => {
                tracing::warn!(target: "mcp_policy::upstream", "upstream did not answer in time");
                return failure(
                    StatusCode::GATEWAY_TIMEOUT,
                    "upstream timed out",
                    request_id(&sent_body),
                );
            }
        };
        if answer.status().is_server_error() {
            tracing::warn!(
                target: "mcp_policy::upstream",
                status = answer.status().as_u16(),
                "upstream failed"
            );
            return failure(
                StatusCode::BAD_GATEWAY,
                "upstream failed",
                request_id(&sent_body),
            );
        }
        let (parts, body) = answer.into_parts();
        let body = Idle::new(
            body.map_err(BoxError::from).boxed_unsync(),
            self.config.idle_timeout,
        );
        let mut response = Response::new(body.boxed_unsync());
        *response.status_mut() = parts.status;
        let headers = response.headers_mut();
        for name in RESPONSE_HEADERS.iter().chain(MCP_HEADERS.iter()) {
            let name = HeaderName::from_static(name);
            for value in parts.headers.get_all(&name) {
                headers.append(name.clone(), value.clone());
            }
        }
        response
    }
}

/// The pooled HTTP/1 client of an upstream (Streamable HTTP, or HTTP+SSE):
/// connecting bounded, Nagle off (one small message a call), idle
/// connections kept 30 s.
pub(crate) fn client(connect_timeout: Duration) -> Client<HttpConnector, Full<Bytes>> {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(connect_timeout));
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector)
}

/// The id of a single JSON-RPC request, for the error that answers it.
fn request_id(body: &Bytes) -> Value {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|message| message.get("id").cloned())
        .unwrap_or(Value::Null)
}

/// The bytes of a `Full` body, which is ready at once (`Full` yields its
/// bytes once; read a clone to keep the body).
fn full_bytes(body: Full<Bytes>) -> Bytes {
    let mut body = std::pin::pin!(body);
    let waker = std::task::Waker::noop();
    let mut cx = Context::from_waker(waker);
    match http_body::Body::poll_frame(body.as_mut(), &mut cx) {
        Poll::Ready(Some(Ok(frame))) => frame.into_data().unwrap_or_default(),
        _ => Bytes::new(),
    }
}

/// An upstream's body, ended with an error when nothing arrives from it
/// for its idle timeout.
struct Idle {
    inner: ProxyBody,
    timeout: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
    done: bool,
}

impl Idle {
    fn new(inner: ProxyBody, timeout: Duration) -> Idle {
        Idle {
            inner,
            timeout,
            sleep: Box::pin(tokio::time::sleep(timeout)),
            done: false,
        }
    }
}

#[derive(Debug)]
struct IdleStream;

impl std::fmt::Display for IdleStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the upstream sent nothing within its idle timeout")
    }
}

impl std::error::Error for IdleStream {}

impl http_body::Body for Idle {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.done = frame.is_none();
                let deadline = tokio::time::Instant::now() + this.timeout;
                this.sleep.as_mut().reset(deadline);
                Poll::Ready(frame)
            }
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(()) => {
                    tracing::warn!(
                        target: "mcp_policy::upstream",
                        "the upstream's answer was idle too long; ended"
                    );
                    this.done = true;
                    Poll::Ready(Some(Err(Box::new(IdleStream))))
                }
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
