//! What rmcp's OAuth client sends, seen through rmcp's own extension point.
//!
//! rmcp routes every OAuth HTTP request (discovery, registration, token,
//! refresh, client_credentials) through an `OAuthHttpClient`
//! (`AuthorizationManager::new_with_oauth_http_client`). The recorder wraps
//! rmcp's default client and keeps each request's method, URL and parsed body,
//! so the steps assert what rmcp actually sent rather than what its source
//! says it sends. The MCP requests go through the transport's HTTP client
//! instead; src/watch.rs notes those.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use rmcp::transport::auth::{
    OAuthHttpClient, OAuthHttpClientFuture, OAuthHttpRequest, default_oauth_http_client,
};
use serde_json::Value;

use crate::Res;

/// One request rmcp's OAuth client sent, and the status it got.
#[derive(Debug, Clone)]
pub struct Sent {
    pub method: String,
    pub url: String,
    /// The pairs of a form body (token requests).
    pub form: Vec<(String, String)>,
    /// A JSON body (registration).
    pub json: Option<Value>,
    /// Whether it carried an `Authorization` header (client_secret_basic).
    pub authorization_header: bool,
    pub status: Option<u16>,
}

impl Sent {
    pub fn form_value(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    pub fn is_grant(&self, grant_type: &str) -> bool {
        self.method == "POST" && self.form_value("grant_type") == Some(grant_type)
    }
}

/// The requests of one rmcp OAuth client, in order.
#[derive(Debug, Clone, Default)]
pub struct Log(Arc<Mutex<Vec<Sent>>>);

impl Log {
    pub fn all(&self) -> Vec<Sent> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn grants(&self, grant_type: &str) -> Vec<Sent> {
        self.all()
            .into_iter()
            .filter(|sent| sent.is_grant(grant_type))
            .collect()
    }

    pub fn registrations(&self) -> Vec<Sent> {
        self.all()
            .into_iter()
            .filter(|sent| sent.method == "POST" && sent.json.is_some())
            .collect()
    }

    fn push(&self, sent: Sent) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(sent);
    }
}

pub struct Recorder {
    inner: Box<dyn OAuthHttpClient>,
    log: Log,
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder")
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// rmcp's default OAuth HTTP client, recorded into `log`.
    pub fn new(log: Log) -> Res<Arc<Self>> {
        Ok(Arc::new(Self {
            inner: Box::new(default_oauth_http_client()?),
            log,
        }))
    }
}

fn describe(request: &OAuthHttpRequest) -> Sent {
    let http = &request.request;
    let body = http.body();
    let content_type = http
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let form = if content_type.starts_with("application/x-www-form-urlencoded") {
        url::form_urlencoded::parse(body).into_owned().collect()
    } else {
        Vec::new()
    };
    let json = if content_type.starts_with("application/json") {
        serde_json::from_slice(body).ok()
    } else {
        None
    };
    Sent {
        method: http.method().as_str().to_string(),
        url: http.uri().to_string(),
        form,
        json,
        authorization_header: http.headers().contains_key("authorization"),
        status: None,
    }
}

impl OAuthHttpClient for Recorder {
    fn execute(&self, request: OAuthHttpRequest) -> OAuthHttpClientFuture<'_> {
        let mut sent = describe(&request);
        let response = self.inner.execute(request);
        Box::pin(async move {
            let response = response.await;
            sent.status = response.as_ref().ok().map(|r| r.status().as_u16());
            self.log.push(sent);
            response
        })
    }
}
