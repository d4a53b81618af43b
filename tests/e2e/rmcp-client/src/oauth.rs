//! rmcp's OAuth client, driven as an application drives it: discovery from a
//! 401 challenge, registration, authorization code with PKCE, step-up, and
//! client_credentials. Every OAuth decision is rmcp's (`AuthorizationManager`,
//! `AuthorizationSession`, `OAuthState`); this module only carries the
//! authorization URL to the user agent and the redirect back.

use std::sync::Arc;

use reqwest::Url;
use rmcp::transport::auth::{
    AuthClient, AuthorizationCallback, AuthorizationManager, AuthorizationMetadata,
    AuthorizationMetadataSource, AuthorizationRequest, AuthorizationSession,
    ClientCredentialsConfig, OAuthState,
};
use serde_json::Value;

use crate::Res;
use crate::agent::{UserAgent, query_param};
use crate::recorder::{Log, Recorder};
use crate::watch::Watched;

/// The client's redirect URI. Nothing listens there: the user agent stops at
/// the redirect to it (a loopback URI, as for a native client).
pub const REDIRECT_URI: &str = "http://127.0.0.1:9/rmcp-e2e/callback";

const CLIENT_NAME: &str = "mcp-policy e2e (rmcp)";

/// What the first authorization showed, for steps 1 and 2.
#[derive(Debug)]
pub struct FirstLogin {
    pub source: AuthorizationMetadataSource,
    pub metadata: AuthorizationMetadata,
    /// What rmcp's default scope selection would have asked for.
    pub default_selection: Vec<String>,
    pub authorization_url: Url,
    pub callback: Url,
    /// rmcp's answer to the right code with a state it never issued.
    pub forged_state: Result<(), String>,
    pub token: Value,
}

/// An authorized rmcp OAuth client for one user and one server.
#[derive(Debug)]
pub struct UserSession {
    pub auth: AuthClient<Watched>,
    /// What rmcp's transport sent to the MCP server with this client's tokens.
    pub wire: Watched,
    pub log: Log,
    pub agent: UserAgent,
    pub client_id: String,
    /// Whether the application adds `prompt=consent` to rmcp's URLs.
    consent_prompt: bool,
}

/// The application's one addition to rmcp's authorization URL, when asked:
/// `prompt=consent` with `offline_access`. rmcp asks for `offline_access`
/// (SEP-2207) but never sends `prompt`, and OIDC Core §11 lets an AS honour
/// `offline_access` only with `prompt=consent`, as oidc-provider does (step
/// 2.3 shows it on every run). rmcp keeps its PKCE verifier and state by the
/// `state` value, so an added parameter changes nothing on its side.
fn opened_url(url: &str, consent_prompt: bool) -> Res<Url> {
    let mut url = Url::parse(url)?;
    let offline = query_param(&url, "scope")
        .is_some_and(|scope| scope.split_whitespace().any(|s| s == "offline_access"));
    if consent_prompt && offline && query_param(&url, "prompt").is_none() {
        url.query_pairs_mut().append_pair("prompt", "consent");
    }
    Ok(url)
}

/// One step-up: the authorization URL rmcp built and what it was granted.
#[derive(Debug)]
pub struct StepUp {
    pub authorization_url: Url,
    pub granted: Vec<String>,
}

fn redirect_error(callback: &Url) -> Option<String> {
    query_param(callback, "error").map(|error| {
        let description = query_param(callback, "error_description").unwrap_or_default();
        format!("the AS answered {error}: {description}")
    })
}

/// Steps 1 and 2 with rmcp: discovery seeded by the 401 challenge, DCR, and
/// the authorization code flow (the user agent in the middle).
pub async fn first_login(
    server_url: &str,
    challenge: &str,
    agent: UserAgent,
    consent_prompt: bool,
) -> Res<(UserSession, FirstLogin)> {
    let log = Log::default();
    let mut manager =
        AuthorizationManager::new_with_oauth_http_client(server_url, Recorder::new(log.clone())?)
            .await?;
    let resolution = manager
        .resolve_metadata_from_challenge(Some(challenge))
        .await?;
    manager.set_metadata(resolution.metadata.clone());
    // Observed, not used: what an application that leaves the scopes empty
    // and does not opt into initial-scope selection would ask for.
    let default_selection = manager.select_scopes(None, &[]);
    // rmcp registers the client itself (DCR: no client_id given), with
    // `scope` = the scopes it selects for this first request.
    let request = AuthorizationRequest::new(REDIRECT_URI)
        .with_client_name(CLIENT_NAME)
        // The MCP spec's choice for a first authorization: the challenge's
        // `scope`, else the PRM's scopes_supported (rmcp auth.rs:2243
        // `select_initial_scopes`; step 2.4 shows rmcp's default).
        .with_initial_scope_selection();
    let session = AuthorizationSession::new(manager, request)
        .await
        .map_err(|(_, error)| error)?;
    let authorization_url = Url::parse(session.get_authorization_url())?;
    let opened = opened_url(authorization_url.as_str(), consent_prompt)?;
    let callback = agent.authorize(opened.as_str()).await?;
    if let Some(error) = redirect_error(&callback) {
        return Err(error.into());
    }
    let code = query_param(&callback, "code").ok_or("the redirect carries no code")?;
    let forged_state = session
        .handle_callback(&code, "a-state-the-client-never-issued")
        .await
        .map(|_| ())
        .map_err(|error| error.to_string());
    let token = serde_json::to_value(session.handle_callback_url(callback.as_str()).await?)?;
    let client_id = query_param(&authorization_url, "client_id")
        .ok_or("the authorization URL has no client_id")?;
    let wire = Watched::default();
    let auth = AuthClient::new(wire.clone(), session.auth_manager);
    Ok((
        UserSession {
            auth,
            wire,
            log,
            agent,
            client_id,
            consent_prompt,
        },
        FirstLogin {
            source: resolution.source,
            metadata: resolution.metadata,
            default_selection,
            authorization_url,
            callback,
            forged_state,
            token,
        },
    ))
}

impl UserSession {
    /// Step-up after a 403 `insufficient_scope`: rmcp builds the authorization
    /// URL (`request_scope_upgrade`), the user agent runs it, and rmcp
    /// exchanges the code. The MCP session goes on with the new token: the
    /// transport asks the same manager for its token on every request.
    pub async fn step_up(&self, required_scope: &str) -> Res<StepUp> {
        let url = self
            .auth
            .auth_manager
            .lock()
            .await
            .request_scope_upgrade(required_scope)
            .await?;
        let authorization_url = Url::parse(&url)?;
        let opened = opened_url(&url, self.consent_prompt)?;
        let callback = self.agent.authorize(opened.as_str()).await?;
        if let Some(error) = redirect_error(&callback) {
            return Err(error.into());
        }
        let callback = AuthorizationCallback::from_redirect_url(callback.as_str())?;
        let manager = self.auth.auth_manager.lock().await;
        manager
            .exchange_code_for_token_with_issuer(
                &callback.code,
                &callback.csrf_token,
                callback.issuer.as_deref(),
            )
            .await?;
        let granted = manager.get_current_scopes().await;
        Ok(StepUp {
            authorization_url,
            granted,
        })
    }

    /// rmcp's stored token response (access token, refresh token, scope).
    pub async fn token(&self) -> Res<Value> {
        let (_, token) = self
            .auth
            .auth_manager
            .lock()
            .await
            .get_credentials()
            .await?;
        Ok(serde_json::to_value(token.ok_or("rmcp holds no token")?)?)
    }

    /// rmcp's own guard against step-up loops: whether it would try again,
    /// and its attempt counter.
    pub async fn upgrade_guard(&self) -> (bool, u32) {
        let manager = self.auth.auth_manager.lock().await;
        (
            manager.can_attempt_scope_upgrade().await,
            manager.get_scope_upgrade_attempts().await,
        )
    }
}

/// The access token of a token response.
pub fn access_token(token: &Value) -> Res<String> {
    Ok(token
        .get("access_token")
        .and_then(Value::as_str)
        .ok_or("no access_token")?
        .to_string())
}

pub fn refresh_token(token: &Value) -> Option<String> {
    token
        .get("refresh_token")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// A machine's token (`client_credentials`, client_secret) with rmcp's
/// `OAuthState::authenticate_client_credentials` (SEP-1046): discovery from
/// `server_url`, then the token request for `resource`.
pub async fn machine(
    server_url: &str,
    resource: &str,
    log: Log,
) -> Res<(AuthClient<Watched>, Value)> {
    let mut state =
        OAuthState::new_with_oauth_http_client(server_url, Recorder::new(log)? as Arc<_>).await?;
    state
        .authenticate_client_credentials(ClientCredentialsConfig::ClientSecret {
            client_id: "machine".to_string(),
            client_secret: "machine-secret".to_string(),
            scopes: vec!["mcp:read".to_string()],
            resource: Some(resource.to_string()),
        })
        .await?;
    let manager = state
        .into_authorization_manager()
        .ok_or("rmcp is not in the authorized state")?;
    let (_, token) = manager.get_credentials().await?;
    let token = serde_json::to_value(token.ok_or("rmcp holds no token")?)?;
    Ok((AuthClient::new(Watched::default(), manager), token))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RMCP_URL: &str = "http://127.0.0.1:1/auth?response_type=code&client_id=c&state=s&code_challenge=x&code_challenge_method=S256&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&scope=mcp%3Aread+offline_access&resource=http%3A%2F%2F127.0.0.1%3A2%2Fmcp";

    fn pairs(url: &Url) -> Vec<(String, String)> {
        url.query_pairs().into_owned().collect()
    }

    #[test]
    fn consent_is_added_to_an_offline_access_request_and_nothing_else_changes() -> Res<()> {
        let opened = opened_url(RMCP_URL, true)?;
        let mut expected = pairs(&Url::parse(RMCP_URL)?);
        expected.push(("prompt".to_string(), "consent".to_string()));
        assert_eq!(pairs(&opened), expected);
        Ok(())
    }

    #[test]
    fn rmcp_url_is_opened_as_built_when_not_asked_or_not_needed() -> Res<()> {
        assert_eq!(opened_url(RMCP_URL, false)?.as_str(), RMCP_URL);
        let no_offline = RMCP_URL.replace("+offline_access", "");
        assert_eq!(opened_url(&no_offline, true)?.as_str(), no_offline);
        // A scope that only contains the word is not offline_access.
        let lookalike = RMCP_URL.replace("offline_access", "offline_accessX");
        assert_eq!(opened_url(&lookalike, true)?.as_str(), lookalike);
        let prompted = format!("{RMCP_URL}&prompt=login");
        assert_eq!(opened_url(&prompted, true)?.as_str(), prompted);
        Ok(())
    }

    #[test]
    fn token_fields_are_read_from_rmcp_s_serialized_response() -> Res<()> {
        let token =
            serde_json::json!({"access_token": "a", "token_type": "bearer", "refresh_token": "r"});
        assert_eq!(access_token(&token)?, "a");
        assert_eq!(refresh_token(&token).as_deref(), Some("r"));
        assert!(access_token(&serde_json::json!({})).is_err());
        assert_eq!(
            refresh_token(&serde_json::json!({"access_token": "a"})),
            None
        );
        Ok(())
    }
}
