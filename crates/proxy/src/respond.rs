//! The answers the proxy writes itself: plain text for HTTP-level
//! refusals, JSON-RPC errors that name a kind of failure and nothing more.

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};

use crate::upstream::ProxyBody;

/// A JSON-RPC error answering `id` (internal error, -32603).
pub(crate) fn error(id: &Value, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32603, "message": message}})
}

pub(crate) fn error_value(id: Option<&Value>, message: &str) -> Value {
    error(id.unwrap_or(&Value::Null), message)
}

pub(crate) fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub(crate) fn empty(status: StatusCode) -> Response<ProxyBody> {
    let mut response = Response::new(full(Bytes::new()));
    *response.status_mut() = status;
    response
}

pub(crate) fn plain(status: StatusCode, text: &'static str) -> Response<ProxyBody> {
    let mut response = Response::new(full(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// An unknown session, as a server answers it.
pub(crate) fn not_found() -> Response<ProxyBody> {
    plain(StatusCode::NOT_FOUND, "session not found\n")
}

pub(crate) fn json_response(status: StatusCode, value: &Value) -> Response<ProxyBody> {
    let mut response = Response::new(full(value.to_string()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A JSON-RPC error with an HTTP status of its own.
pub(crate) fn failure(status: StatusCode, message: &str, id: Value) -> Response<ProxyBody> {
    json_response(status, &error(&id, message))
}
