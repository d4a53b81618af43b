//! The deprecated HTTP+SSE transport (MCP 2024-11-05) as an upstream: many
//! deployed servers speak only that.
//!
//! A client of that transport opens a GET stream (SSE) first; the server's
//! first event, `endpoint`, names the URL to POST messages to, and every
//! message of the server (its answers too) comes back on the stream. The
//! stream is the session: one per MCP session the proxy serves, as a stdio
//! child is one per session, so that the server's per-connection state
//! stays one client's (crates/proxy/src/stdio.rs routes the messages).
//!
//! What this module owns is the link itself: opening the stream, finding
//! the endpoint, posting, reading events. The endpoint must be on the
//! stream's own origin: a server does not get to send the proxy's POSTs,
//! with the upstream's credentials, anywhere else. An event is bounded
//! (bytes since the last blank line), so a server that never ends one
//! cannot fill the proxy's memory.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http::header::{ACCEPT, CONTENT_TYPE, HOST};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyDataStream, BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::Value;
use sse_stream::SseStream;

/// How the proxy reaches a server of the HTTP+SSE transport.
#[derive(Clone, Debug)]
pub struct SseConfig {
    /// The server's SSE URL, `http://host:port/sse`.
    pub url: Uri,
    /// Headers sent with the GET and with every POST (the upstream's own
    /// credentials), from configuration: never the client's.
    pub headers: HeaderMap,
    /// Connecting, at most. Default: 5 s.
    pub connect_timeout: Duration,
    /// From opening the stream to its `endpoint` event, at most. Default:
    /// 10 s.
    pub endpoint_timeout: Duration,
    /// A POST's answer (normally 202), at most. Default: 30 s.
    pub post_timeout: Duration,
    /// One event (the bytes between two blank lines), at most. Default:
    /// 16 MiB, the bound on a stdio child's line.
    pub max_event_bytes: usize,
    /// A request the server does not answer within this time gets a
    /// JSON-RPC error (the session goes on). Default: 60 s.
    pub request_timeout: Duration,
    /// Messages the server starts while no GET stream is open, kept for
    /// the next one; past this, the oldest are dropped. Default: 256.
    pub max_buffered_messages: usize,
}

impl SseConfig {
    pub fn new(url: Uri) -> SseConfig {
        SseConfig {
            url,
            headers: HeaderMap::new(),
            connect_timeout: Duration::from_secs(5),
            endpoint_timeout: Duration::from_secs(10),
            post_timeout: Duration::from_secs(30),
            max_event_bytes: 16 * 1024 * 1024,
            request_timeout: Duration::from_secs(60),
            max_buffered_messages: 256,
        }
    }
}

/// The HTTP+SSE upstream: a `Service` like the others, behind the same
/// layer. Each MCP session is one stream of the server (routed as a stdio
/// child's messages are, by [`crate::StdioUpstream`]); the session id is
/// the proxy's, random, bound to the principal by the layer.
#[derive(Clone, Debug)]
pub struct SseUpstream(crate::StdioUpstream);

impl SseUpstream {
    pub fn new(config: SseConfig) -> Result<SseUpstream, crate::InvalidUpstream> {
        let url = &config.url;
        if url.scheme_str() != Some("http") || url.authority().is_none() {
            return Err(crate::InvalidUpstream(url.to_string()));
        }
        Ok(SseUpstream(crate::StdioUpstream::streams(config)))
    }

    /// How many sessions (upstream streams) are open now.
    pub fn sessions(&self) -> usize {
        self.0.children()
    }
}

impl tower_service::Service<Request<Full<Bytes>>> for SseUpstream {
    type Response = http::Response<crate::ProxyBody>;
    type Error = std::convert::Infallible;
    type Future = <crate::StdioUpstream as tower_service::Service<Request<Full<Bytes>>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Full<Bytes>>) -> Self::Future {
        self.0.call(request)
    }
}

/// Why a link could not be opened or used. The text says the kind of
/// failure, never the upstream's words (those are logged by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LinkError {
    /// Refused, reset, or not connected in time.
    Unavailable,
    /// No answer, or no `endpoint` event, in time.
    TimedOut,
    /// An answer other than an event stream (or a POST not accepted).
    Refused(u16),
    /// The stream ended, or broke, before its `endpoint` event.
    NoEndpoint,
    /// An `endpoint` that is not on the stream's origin.
    ForeignEndpoint,
    /// An event past `max_event_bytes`, or a stream that is not SSE.
    Malformed,
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkError::Unavailable => f.write_str("upstream unavailable"),
            LinkError::TimedOut => f.write_str("upstream timed out"),
            LinkError::Refused(status) => write!(f, "upstream refused (HTTP {status})"),
            LinkError::NoEndpoint => f.write_str("upstream sent no endpoint"),
            LinkError::ForeignEndpoint => {
                f.write_str("upstream endpoint is not on the upstream's origin")
            }
            LinkError::Malformed => f.write_str("upstream sent a malformed event stream"),
        }
    }
}

impl std::error::Error for LinkError {}

/// Where one session's messages go.
#[derive(Debug, Clone)]
pub(crate) struct Link {
    client: Client<HttpConnector, Full<Bytes>>,
    endpoint: Uri,
    config: Arc<SseConfig>,
}

/// The messages of one session's stream, in order. It ends when the
/// stream does; an `Err` is its last item.
pub(crate) type Messages = Pin<Box<dyn Stream<Item = Result<Value, LinkError>> + Send>>;

/// A request to the upstream with its headers: the configured ones, the
/// principal's (`--forward-identity`), and the upstream's `Host`.
fn request(
    config: &SseConfig,
    method: Method,
    uri: Uri,
    body: Bytes,
    identity: &[(HeaderName, HeaderValue)],
) -> Request<Full<Bytes>> {
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = method;
    let headers = request.headers_mut();
    if let Some(authority) = uri.authority()
        && let Ok(host) = HeaderValue::from_str(authority.as_str())
    {
        headers.insert(HOST, host);
    }
    for (name, value) in &config.headers {
        headers.insert(name.clone(), value.clone());
    }
    for (name, value) in identity {
        headers.insert(name.clone(), value.clone());
    }
    *request.uri_mut() = uri;
    request
}

/// Opens a session's stream and waits for its `endpoint`.
pub(crate) async fn open(
    client: Client<HttpConnector, Full<Bytes>>,
    config: Arc<SseConfig>,
    identity: &[(HeaderName, HeaderValue)],
) -> Result<(Link, Messages), LinkError> {
    let deadline = tokio::time::Instant::now() + config.endpoint_timeout;
    let mut get = request(
        &config,
        Method::GET,
        config.url.clone(),
        Bytes::new(),
        identity,
    );
    get.headers_mut()
        .insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
    let response = match tokio::time::timeout_at(deadline, client.request(get)).await {
        Err(_) => return Err(LinkError::TimedOut),
        Ok(Err(error)) => {
            tracing::warn!(target: "mcp_policy::upstream", %error, "the SSE stream could not be opened");
            return Err(LinkError::Unavailable);
        }
        Ok(Ok(response)) => response,
    };
    let is_sse = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
    if !response.status().is_success() || !is_sse {
        return Err(LinkError::Refused(response.status().as_u16()));
    }
    let bytes = Bounded::new(
        BodyDataStream::new(response.into_body()),
        config.max_event_bytes,
    );
    let mut events = SseStream::from_bytes_stream(bytes);
    let endpoint = loop {
        let event = match tokio::time::timeout_at(deadline, events.next()).await {
            Err(_) => return Err(LinkError::TimedOut),
            Ok(None) => return Err(LinkError::NoEndpoint),
            Ok(Some(Err(error))) => {
                tracing::warn!(target: "mcp_policy::upstream", %error, "the SSE stream broke before its endpoint");
                return Err(LinkError::NoEndpoint);
            }
            Ok(Some(Ok(event))) => event,
        };
        if event.event.as_deref() == Some("endpoint") {
            let data = event.data.unwrap_or_default();
            break resolve(&config.url, data.trim()).ok_or(LinkError::ForeignEndpoint)?;
        }
    };
    let messages = events.filter_map(|event| async move {
        match event {
            Err(error) => {
                tracing::warn!(target: "mcp_policy::upstream", %error, "the SSE stream broke");
                Some(Err(LinkError::Malformed))
            }
            // A message event (named, or unnamed: the default name).
            Ok(event) if matches!(event.event.as_deref(), None | Some("message")) => {
                let data = event.data?;
                match serde_json::from_str::<Value>(&data) {
                    Ok(message) => Some(Ok(message)),
                    Err(error) => {
                        tracing::warn!(target: "mcp_policy::upstream", %error, "an SSE message that is not JSON is dropped");
                        None
                    }
                }
            }
            Ok(_) => None,
        }
    });
    // A broken stream ends the session: nothing after its error.
    let mut ended = false;
    let messages = messages.take_while(move |item| {
        let go = !ended;
        ended = item.is_err();
        async move { go }
    });
    let link = Link {
        client,
        endpoint,
        config,
    };
    Ok((link, Box::pin(messages)))
}

impl Link {
    /// Posts one message. The answer comes on the stream; the POST's own
    /// answer says only whether it was accepted.
    pub(crate) async fn send(
        &self,
        message: Bytes,
        identity: &[(HeaderName, HeaderValue)],
    ) -> Result<(), LinkError> {
        let mut post = request(
            &self.config,
            Method::POST,
            self.endpoint.clone(),
            message,
            identity,
        );
        post.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let response = match tokio::time::timeout(
            self.config.post_timeout,
            self.client.request(post),
        )
        .await
        {
            Err(_) => return Err(LinkError::TimedOut),
            Ok(Err(error)) => {
                tracing::warn!(target: "mcp_policy::upstream", %error, "a message could not be posted");
                return Err(LinkError::Unavailable);
            }
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        // Read what little the answer says ("Accepted"), so the connection
        // goes back to the pool; a long answer is not waited for.
        let _ = tokio::time::timeout(Duration::from_secs(1), response.into_body().collect()).await;
        if status.is_success() {
            Ok(())
        } else {
            Err(LinkError::Refused(status.as_u16()))
        }
    }
}

/// The `endpoint` event's URI, resolved against the stream's URL; `None`
/// unless it is on the same origin (scheme, host and port).
fn resolve(base: &Uri, reference: &str) -> Option<Uri> {
    let scheme = base.scheme_str()?;
    let authority = base.authority()?;
    // An absolute URI: a scheme (RFC 3986: a letter, then letters, digits,
    // `+`, `-`, `.`) right before `://`. A `://` further on, in a query
    // (`/messages?next=http://...`), does not make the reference absolute.
    let absolute = reference.split_once("://").is_some_and(|(scheme, _)| {
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    });
    if absolute {
        let uri: Uri = reference.parse().ok()?;
        let same = uri.scheme_str() == Some(scheme) && uri.authority() == Some(authority);
        return same.then_some(uri);
    }
    // A network-path reference (`//host/...`) names another origin.
    if reference.starts_with("//") {
        return None;
    }
    let path_and_query = if reference.starts_with('/') {
        reference.to_owned()
    } else {
        // Relative to the stream's directory, as a browser resolves it.
        let directory = base
            .path()
            .rsplit_once('/')
            .map_or("", |(directory, _)| directory);
        format!("{directory}/{reference}")
    };
    Uri::builder()
        .scheme(scheme)
        .authority(authority.clone())
        .path_and_query(path_and_query)
        .build()
        .ok()
}

/// A byte stream that fails once an SSE event (the bytes since the last
/// blank line) passes `limit`: the parser underneath would otherwise
/// gather an endless event whole.
struct Bounded<S> {
    inner: S,
    limit: usize,
    /// Bytes since the last blank line.
    event: usize,
    /// Bytes of the current line, line ends excluded.
    line: usize,
    /// The previous byte was a `\r`, so a `\n` now ends nothing new.
    after_cr: bool,
    failed: bool,
}

impl<S> Bounded<S> {
    fn new(inner: S, limit: usize) -> Bounded<S> {
        Bounded {
            inner,
            limit,
            event: 0,
            line: 0,
            after_cr: false,
            failed: false,
        }
    }

    /// Counts `chunk`; `false` once an event is past the limit.
    fn counts(&mut self, chunk: &[u8]) -> bool {
        for &byte in chunk {
            match byte {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\r' | b'\n' => {
                    self.after_cr = byte == b'\r';
                    if self.line == 0 {
                        self.event = 0;
                        continue;
                    }
                    self.line = 0;
                }
                _ => {
                    self.after_cr = false;
                    self.line += 1;
                }
            }
            self.event += 1;
            if self.event > self.limit {
                return false;
            }
        }
        true
    }
}

/// An event past the limit.
#[derive(Debug)]
struct EventTooLarge;

impl std::fmt::Display for EventTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an SSE event is larger than the limit")
    }
}

impl std::error::Error for EventTooLarge {}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<S, E> Stream for Bounded<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Into<BoxError>,
{
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.failed {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                if self.counts(&chunk) {
                    Poll::Ready(Some(Ok(chunk)))
                } else {
                    self.failed = true;
                    Poll::Ready(Some(Err(std::io::Error::other(EventTooLarge))))
                }
            }
            Poll::Ready(Some(Err(error))) => {
                self.failed = true;
                Poll::Ready(Some(Err(std::io::Error::other(error.into()))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn base() -> Uri {
        "http://127.0.0.1:3001/mcp/sse".parse().unwrap()
    }

    #[test]
    fn an_endpoint_resolves_on_the_streams_origin_only() {
        let resolved = |reference: &str| resolve(&base(), reference).map(|u| u.to_string());
        assert_eq!(
            resolved("/messages?sessionId=abc").as_deref(),
            Some("http://127.0.0.1:3001/messages?sessionId=abc")
        );
        assert_eq!(
            resolved("messages?sessionId=abc").as_deref(),
            Some("http://127.0.0.1:3001/mcp/messages?sessionId=abc")
        );
        // A URL in the query is not the endpoint's origin.
        assert_eq!(
            resolved("/messages?sessionId=abc&next=http://evil.example/").as_deref(),
            Some("http://127.0.0.1:3001/messages?sessionId=abc&next=http://evil.example/")
        );
        assert_eq!(
            resolved("http://127.0.0.1:3001/m?s=1").as_deref(),
            Some("http://127.0.0.1:3001/m?s=1")
        );
        for foreign in [
            "http://127.0.0.1:3002/m",
            "https://127.0.0.1:3001/m",
            "http://evil.example/m",
            "//evil.example/m",
            "http://127.0.0.1:3001@evil.example/m",
        ] {
            assert_eq!(resolved(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn tricky_endpoints_stay_on_the_streams_origin() {
        let resolved = |reference: &str| resolve(&base(), reference).map(|u| u.to_string());
        // Another origin however it is spelled: refused.
        for foreign in [
            "HTTP://evil.example/m",
            "http://user:pw@127.0.0.1:3001/m",
            "http://127.0.0.1%3A3001@evil.example/m",
            "http://127.0.0.1:3001\\@evil.example/m",
            "http://[::1]:3001/m",
            "http://127.0.0.1:80/m",
            "http://127.0.0.1/m",
            "  //evil.example/m",
            "\t//evil.example/m",
        ] {
            assert_eq!(resolved(foreign.trim()), None, "{foreign}");
        }
        // Forms a URL parser might read as another host are paths here,
        // on the stream's own host and port, or refused; never elsewhere.
        for path in [
            "http:/evil.example/m",
            "http:evil.example/m",
            "/\\evil.example/m",
            "\\\\evil.example/m",
            "/%2F%2Fevil.example/m",
            "../../../m",
        ] {
            if let Some(uri) = resolve(&base(), path) {
                assert_eq!(
                    uri.authority().unwrap().as_str(),
                    "127.0.0.1:3001",
                    "{path}"
                );
                assert_eq!(uri.scheme_str(), Some("http"), "{path}");
            }
        }
    }

    #[test]
    fn an_event_is_bounded_between_blank_lines_whatever_the_line_ends() {
        for end in ["\n", "\r\n", "\r"] {
            let mut bounded =
                Bounded::new(futures_util::stream::empty::<Result<Bytes, BoxError>>(), 32);
            // Many short events: each under the limit, all together over it.
            for _ in 0..100 {
                let event = format!("data: 0123456789{end}{end}");
                assert!(bounded.counts(event.as_bytes()), "{end:?}");
            }
            // One event of many short lines: over the limit.
            let mut bounded =
                Bounded::new(futures_util::stream::empty::<Result<Bytes, BoxError>>(), 32);
            let line = format!("data: 0123{end}");
            let fits = (0..10).all(|_| bounded.counts(line.as_bytes()));
            assert!(!fits, "{end:?}");
        }
        // Split anywhere, even between `\r` and `\n`.
        let mut bounded =
            Bounded::new(futures_util::stream::empty::<Result<Bytes, BoxError>>(), 16);
        for _ in 0..100 {
            assert!(bounded.counts(b"data: 01234\r"));
            assert!(bounded.counts(b"\n\r"));
            assert!(bounded.counts(b"\n"));
        }
    }
}
