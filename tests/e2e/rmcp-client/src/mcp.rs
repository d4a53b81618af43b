//! rmcp's MCP client over its Streamable HTTP transport, and what a refusal
//! looks like through it.

use std::collections::BTreeSet;
use std::error::Error as StdError;
use std::future::Future;
use std::time::Duration;

use rmcp::ServiceExt as _;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{ClientInitializeError, RoleClient, RunningService, ServiceError};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::auth::AuthClient;
use rmcp::transport::streamable_http_client::{
    AuthRequiredError, InsufficientScopeError, StreamableHttpClientTransportConfig,
};

use crate::Res;
use crate::env::Call;
use crate::watch::Watched;

pub type Client = RunningService<RoleClient, ()>;

/// Every network step is bounded: a hang is a failure, not a stuck CI job.
pub const TIMEOUT: Duration = Duration::from_secs(20);

pub async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> Res<T> {
    tokio::time::timeout(TIMEOUT, future)
        .await
        .map_err(|_| format!("{what}: timed out after {TIMEOUT:?}").into())
}

/// An MCP session whose every request carries rmcp's OAuth token
/// (`AuthClient`: it asks its `AuthorizationManager` for the token, refreshing
/// it when near expiry).
pub async fn connect_authorized(
    url: &str,
    auth: AuthClient<Watched>,
) -> Res<Result<Client, ClientInitializeError>> {
    let transport = StreamableHttpClientTransport::with_client(
        auth,
        StreamableHttpClientTransportConfig::with_uri(url.to_string()),
    );
    bounded("initialize", ().serve(transport)).await
}

/// An MCP session with a fixed bearer token, or none.
pub async fn connect_with_token(
    url: &str,
    token: Option<&str>,
) -> Res<Result<Client, ClientInitializeError>> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_string());
    if let Some(token) = token {
        config = config.auth_header(token.to_string());
    }
    let transport = StreamableHttpClientTransport::with_client(reqwest::Client::new(), config);
    bounded("initialize", ().serve(transport)).await
}

/// How a request was refused, as rmcp's transport reports it. rmcp's reqwest
/// client turns a 401 with `WWW-Authenticate` into `AuthRequired` and a 403
/// with `WWW-Authenticate` into `InsufficientScope`, each with the header
/// (rmcp src/transport/common/reqwest/streamable_http_client.rs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Unauthorized(String),
    Forbidden(String),
    /// Any other failure, as text.
    Other(String),
}

impl Refusal {
    pub fn describe(&self) -> String {
        match self {
            Refusal::Unauthorized(header) => format!("401 WWW-Authenticate: {header}"),
            Refusal::Forbidden(header) => format!("403 WWW-Authenticate: {header}"),
            Refusal::Other(text) => format!("not a 401/403 challenge: {text}"),
        }
    }
}

fn challenge_in(error: &(dyn StdError + 'static)) -> Option<Refusal> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(e) = error.downcast_ref::<AuthRequiredError>() {
            return Some(Refusal::Unauthorized(e.www_authenticate_header.clone()));
        }
        if let Some(e) = error.downcast_ref::<InsufficientScopeError>() {
            return Some(Refusal::Forbidden(e.www_authenticate_header.clone()));
        }
        current = error.source();
    }
    None
}

pub fn refusal_of_init(error: &ClientInitializeError) -> Refusal {
    match error {
        ClientInitializeError::TransportError {
            error: transport, ..
        } => challenge_in(transport.error.as_ref())
            .unwrap_or_else(|| Refusal::Other(error.to_string())),
        // rmcp may try `server/discover` first and fall back to `initialize`.
        ClientInitializeError::LegacyFallbackFailed { fallback, .. } => refusal_of_init(fallback),
        other => Refusal::Other(other.to_string()),
    }
}

pub fn refusal_of_call(error: &ServiceError) -> Refusal {
    match error {
        ServiceError::TransportSend(transport) => challenge_in(transport.error.as_ref())
            .unwrap_or_else(|| Refusal::Other(error.to_string())),
        other => Refusal::Other(other.to_string()),
    }
}

pub async fn tool_names(client: &Client) -> Res<Result<BTreeSet<String>, ServiceError>> {
    Ok(bounded("tools/list", client.list_all_tools())
        .await?
        .map(|tools| {
            tools
                .into_iter()
                .map(|tool| tool.name.into_owned())
                .collect()
        }))
}

pub async fn call(client: &Client, call: &Call) -> Res<Result<CallToolResult, ServiceError>> {
    let params =
        CallToolRequestParams::new(call.name.clone()).with_arguments(call.arguments.clone());
    bounded("tools/call", client.call_tool(params)).await
}

/// A call that reached the tool and the tool did not report an error.
pub fn succeeded(result: &Result<CallToolResult, ServiceError>) -> bool {
    matches!(result, Ok(result) if result.is_error != Some(true))
}

pub fn outcome_text(result: &Result<CallToolResult, ServiceError>) -> String {
    match result {
        Ok(result) if result.is_error == Some(true) => {
            format!(
                "tool error: {}",
                serde_json::to_string(&result.content).unwrap_or_default()
            )
        }
        Ok(_) => "ok".to_string(),
        Err(error) => refusal_of_call(error).describe(),
    }
}

/// Ends the session (rmcp sends its DELETE): each proxy-stdio session is a child process.
pub async fn close(client: Client) {
    let _ = tokio::time::timeout(Duration::from_secs(5), client.cancel()).await;
}

#[cfg(test)]
mod tests {
    use std::any::TypeId;

    use rmcp::transport::DynamicTransportError;
    use rmcp::transport::streamable_http_client::StreamableHttpError;

    use super::*;

    fn sent(error: StreamableHttpError<reqwest::Error>) -> ServiceError {
        ServiceError::TransportSend(DynamicTransportError::from_parts(
            "test",
            TypeId::of::<()>(),
            Box::new(error),
        ))
    }

    #[test]
    fn a_403_challenge_is_forbidden_and_a_401_unauthorized() {
        let header = r#"Bearer error="insufficient_scope", scope="mcp:read mcp:write""#;
        let error = sent(StreamableHttpError::InsufficientScope(
            InsufficientScopeError::new(header.to_string(), None),
        ));
        assert_eq!(
            refusal_of_call(&error),
            Refusal::Forbidden(header.to_string())
        );
        let header = r#"Bearer error="invalid_token""#;
        let error = sent(StreamableHttpError::AuthRequired(AuthRequiredError::new(
            header.to_string(),
        )));
        assert_eq!(
            refusal_of_call(&error),
            Refusal::Unauthorized(header.to_string())
        );
    }

    #[test]
    fn anything_else_is_not_a_challenge() {
        let error = sent(StreamableHttpError::SessionExpired);
        assert!(matches!(refusal_of_call(&error), Refusal::Other(_)));
        assert!(matches!(
            refusal_of_call(&ServiceError::TransportClosed),
            Refusal::Other(_)
        ));
        let init = ClientInitializeError::ConnectionClosed("gone".to_string());
        assert!(matches!(refusal_of_init(&init), Refusal::Other(_)));
    }
}
