//! Only the MCP endpoint and the metadata reach the stack: the upstream
//! side forwards every request to the one upstream URL, so any other path
//! must be refused here, not forwarded as if it were the endpoint.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tracing::Instrument;

use crate::ProxyBody;

/// Where the protected resource metadata lives (RFC 9728), under which the
/// layer answers both the plain and the path-inserted form.
const METADATA_PREFIX: &str = "/.well-known/oauth-protected-resource";

#[derive(Clone, Debug)]
pub(crate) struct Routed<S> {
    pub path: String,
    pub service: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> tower_service::Service<Request<Incoming>> for Routed<S>
where
    S: tower_service::Service<
            Request<Incoming>,
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
        self.service.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        let path = request.uri().path();
        if path == self.path || path.starts_with(METADATA_PREFIX) {
            let clone = self.service.clone();
            let mut ready = std::mem::replace(&mut self.service, clone);
            // The request's span, for an OpenTelemetry export (the CLI's
            // `--otlp-endpoint`): the decision events happen inside it.
            // Without an exporter no subscriber wants it, and it costs a
            // callsite check.
            let span = tracing::info_span!(
                target: "mcp_policy::request",
                "mcp.request",
                otel.kind = "server",
                http.request.method = %request.method(),
                url.path = path,
                http.response.status_code = tracing::field::Empty,
            );
            return Box::pin(
                async move {
                    let response = ready.call(request).await;
                    if let Ok(response) = &response {
                        tracing::Span::current()
                            .record("http.response.status_code", response.status().as_u16());
                    }
                    response
                }
                .instrument(span),
            );
        }
        Box::pin(async {
            let mut response = Response::new(
                Full::new(Bytes::from_static(b"not found\n"))
                    .map_err(|never| match never {})
                    .boxed_unsync(),
            );
            *response.status_mut() = StatusCode::NOT_FOUND;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            Ok(response)
        })
    }
}
