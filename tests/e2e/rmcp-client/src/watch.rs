//! What rmcp's transport sends to the MCP server: the bearer token of each
//! request and how the server answered.
//!
//! rmcp's Streamable HTTP transport is generic over its HTTP client (the
//! `StreamableHttpClient` trait), and its `AuthClient` wraps that client to
//! put the OAuth token on each request. `Watched` sits under `AuthClient`:
//! it hands every request to rmcp's own reqwest implementation unchanged and
//! notes the token that `AuthClient` chose. So the flow can tell a refresh
//! made before a request (the expired token never leaves) from one made
//! after a 401, and see which token a retried call carried.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use futures::stream::BoxStream;
use http::{HeaderName, HeaderValue};
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
    StreamableHttpResponseLimits,
};
use sse_stream::Sse;

type Error = StreamableHttpError<reqwest::Error>;
type Headers = HashMap<HeaderName, HeaderValue>;
type Events = BoxStream<'static, Result<Sse, SseError>>;

/// One request the transport sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `POST <method>`, `GET` (the SSE stream) or `DELETE`.
    pub what: String,
    pub token: Option<String>,
    /// `ok`, `401`, `403` or `error`.
    pub answer: &'static str,
}

#[derive(Debug, Clone, Default)]
pub struct Watched {
    inner: reqwest::Client,
    log: Arc<Mutex<Vec<Request>>>,
}

impl Watched {
    pub fn requests(&self) -> Vec<Request> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn note<T>(&self, what: String, token: Option<String>, result: &Result<T, Error>) {
        let answer = match result {
            Ok(_) => "ok",
            Err(StreamableHttpError::AuthRequired(_)) => "401",
            Err(StreamableHttpError::InsufficientScope(_)) => "403",
            Err(_) => "error",
        };
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Request {
                what,
                token,
                answer,
            });
    }
}

fn post(message: &ClientJsonRpcMessage) -> String {
    let method = serde_json::to_value(message)
        .ok()
        .and_then(|value| {
            value
                .get("method")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "(response)".to_string());
    format!("POST {method}")
}

impl StreamableHttpClient for Watched {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: Headers,
    ) -> Result<StreamableHttpPostResponse, Error> {
        let what = post(&message);
        let token = auth_header.clone();
        let result = self
            .inner
            .post_message(uri, message, session_id, auth_header, custom_headers)
            .await;
        self.note(what, token, &result);
        result
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: Headers,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, Error> {
        let what = post(&message);
        let token = auth_header.clone();
        let result = self
            .inner
            .post_message_with_max_sse_event_size(
                uri,
                message,
                session_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await;
        self.note(what, token, &result);
        result
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: Headers,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, Error> {
        let what = post(&message);
        let token = auth_header.clone();
        let result = self
            .inner
            .post_message_with_response_limits(
                uri,
                message,
                session_id,
                auth_header,
                custom_headers,
                limits,
            )
            .await;
        self.note(what, token, &result);
        result
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: Headers,
    ) -> Result<(), Error> {
        let token = auth_header.clone();
        let result = self
            .inner
            .delete_session(uri, session_id, auth_header, custom_headers)
            .await;
        self.note("DELETE".to_string(), token, &result);
        result
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: Headers,
    ) -> Result<Events, Error> {
        let token = auth_header.clone();
        let result = self
            .inner
            .get_stream(uri, session_id, last_event_id, auth_header, custom_headers)
            .await;
        self.note("GET".to_string(), token, &result);
        result
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: Headers,
        max_sse_event_size: usize,
    ) -> Result<Events, Error> {
        let token = auth_header.clone();
        let result = self
            .inner
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await;
        self.note("GET".to_string(), token, &result);
        result
    }
}
