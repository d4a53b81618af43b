//! The service: each request through the checks, in the order the crate
//! documentation gives.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{
    ALLOW, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HOST, ORIGIN, WWW_AUTHENTICATE,
};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use mcp_policy_evaluator::{Basis, Decision, ScopeSet};
use mcp_policy_token::Principal;
use serde_json::{Value, json};

use crate::filter::{ListFilter, SseFilter};
use crate::jsonrpc::{self, Message};
use crate::{BoxError, Denial, LoadedPolicy, Mode, ResponseBody, Shared, challenge};

/// The service the [`PolicyLayer`](crate::PolicyLayer) wraps around `S`.
/// `S` receives the request with its body read (`Full<Bytes>`) and the
/// principal in its extensions.
#[derive(Clone, Debug)]
pub struct PolicyService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> PolicyService<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> PolicyService<S> {
        PolicyService { inner, shared }
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, ResBody> tower_service::Service<Request<B>> for PolicyService<S>
where
    S: tower_service::Service<Request<Full<Bytes>>, Response = Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    ResBody: Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<ResponseBody>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The clone is not ready; the instance `poll_ready` readied is.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let shared = Arc::clone(&self.shared);
        Box::pin(async move { handle(&shared, request, inner).await })
    }
}

// ---- responses the layer writes ----

fn full(bytes: impl Into<Bytes>) -> ResponseBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn respond(status: StatusCode, body: ResponseBody) -> Response<ResponseBody> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<ResponseBody> {
    let mut response = respond(status, full(text));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn json_response(status: StatusCode, value: &Value) -> Response<ResponseBody> {
    match serde_json::to_vec(value) {
        Ok(bytes) => {
            let mut response = respond(status, full(bytes));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Err(_) => plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
    }
}

/// Adds a challenge. A value that cannot be a header (it cannot: the
/// challenge module writes only printable ASCII) leaves the refusal without
/// it: still a refusal.
fn with_challenge(
    mut response: Response<ResponseBody>,
    challenge: String,
) -> Response<ResponseBody> {
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(WWW_AUTHENTICATE, value);
    }
    response
}

fn unauthorized(
    shared: &Shared,
    policy: &LoadedPolicy,
    rejection: Option<&str>,
) -> Response<ResponseBody> {
    with_challenge(
        respond(StatusCode::UNAUTHORIZED, full(Bytes::new())),
        challenge::unauthorized(
            &shared.resource.metadata_url,
            policy.baseline_scopes(),
            rejection,
        ),
    )
}

// ---- the steps ----

/// Where the request says it is going, and where from.
fn addressing_allowed<B>(shared: &Shared, request: &Request<B>) -> bool {
    let host = match request.headers().get(HOST) {
        Some(host) => host.to_str().ok(),
        None => request.uri().authority().map(|a| a.as_str()),
    };
    if !host.is_some_and(|host| shared.addressing.host_allowed(host)) {
        return false;
    }
    let mut origins = request.headers().get_all(ORIGIN).iter();
    match (origins.next(), origins.next()) {
        (None, _) => true,
        (Some(origin), None) => origin
            .to_str()
            .is_ok_and(|origin| shared.addressing.origin_allowed(origin)),
        (Some(_), Some(_)) => false,
    }
}

enum Credentials<'r> {
    None,
    Bearer(&'r str),
    /// More than one `Authorization` header, or one that is not text.
    Malformed,
}

/// The bearer token, from the `Authorization` header only (RFC 6750 §2.1;
/// never the query string or a form body).
fn credentials<B>(request: &Request<B>) -> Credentials<'_> {
    let mut values = request.headers().get_all(AUTHORIZATION).iter();
    let value = match (values.next(), values.next()) {
        (None, _) => return Credentials::None,
        (Some(value), None) => value,
        (Some(_), Some(_)) => return Credentials::Malformed,
    };
    let Ok(value) = value.to_str() else {
        return Credentials::Malformed;
    };
    match value.trim().split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
            Credentials::Bearer(token.trim())
        }
        // Another scheme, or a bare `Bearer`: no bearer token was sent.
        _ if value.trim().eq_ignore_ascii_case("bearer") => Credentials::Bearer(""),
        _ => Credentials::None,
    }
}

/// What the policy said about the messages of one body.
struct Verdicts {
    /// The first step-up challenge's missing scopes and description.
    step_up: Option<(Vec<String>, String, Value)>,
    /// Per message: `Some(answer)` when refused (`Value::Null` for a
    /// refused notification, which gets no answer), `None` when allowed.
    refused: Vec<Option<Value>>,
    any_refused: bool,
    lists: Vec<(Value, mcp_policy_evaluator::TargetKind)>,
}

/// The principal's scopes as the token granted them, space-separated as in
/// a `scope` claim. Formatted only when a subscriber records the event: a
/// server without a decision log joins nothing.
///
/// An entry that is empty or contains a space (an `scp` array can hold
/// `"mcp:read mcp:admin"`) is left out. Joined as is, it would replay as
/// other scopes than the token's: two scopes, one of which some policy
/// declares. Left out, nothing is lost: no policy can declare a scope with
/// a space in it, or an empty one (RFC 6749 §3.3 scope-tokens have neither,
/// and the language rejects both), so such an entry grants nothing under
/// any policy, and the logged list is exactly as replayable as the token.
struct ScopeList<'p>(&'p [String]);

impl ScopeList<'_> {
    /// The entries written: those a policy could declare.
    fn entries(&self) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .map(String::as_str)
            .filter(|scope| !scope.is_empty() && !scope.contains(' '))
    }
}

impl std::fmt::Display for ScopeList<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (index, scope) in self.entries().enumerate() {
            if index > 0 {
                f.write_str(" ")?;
            }
            f.write_str(scope)?;
        }
        Ok(())
    }
}

/// One decision, in the format `mcp-policy simulate` replays
/// (docs/trace-format.md): the scopes are what makes the call replayable.
fn log_decision(
    mode: Mode,
    principal: &Principal,
    method: &str,
    name: &str,
    decision: &str,
    rule: Option<&str>,
    missing: &str,
) {
    tracing::info!(
        target: "mcp_policy::decision",
        subject = %principal.subject,
        client = principal.client_id.as_deref().unwrap_or(""),
        scopes = %ScopeList(&principal.scopes),
        method,
        name,
        decision,
        rule = rule.unwrap_or("default"),
        missing,
        mode = mode.as_str(),
        "policy decision"
    );
}

fn decide_all(
    shared: &Shared,
    policy: &LoadedPolicy,
    scopes: &ScopeSet,
    principal: &Principal,
    messages: &[Value],
) -> Verdicts {
    let mode = shared.config.mode;
    let evaluator = policy.evaluator();
    let mut verdicts = Verdicts {
        step_up: None,
        refused: Vec::with_capacity(messages.len()),
        any_refused: false,
        lists: Vec::new(),
    };
    for message in messages {
        let refusal = match jsonrpc::classify(message) {
            Message::Other => None,
            Message::List { id, kind } => {
                verdicts.lists.push((id.clone(), kind));
                None
            }
            Message::Invalid { id } => {
                log_decision(mode, principal, "", "", "invalid", None, "");
                Some(match id {
                    Some(id) => jsonrpc::error(Some(id), -32600, "Invalid Request", None),
                    None if message.is_object() => Value::Null,
                    None => jsonrpc::error(None, -32600, "Invalid Request", None),
                })
            }
            Message::Governed {
                id,
                method,
                request,
            } => {
                let decision: Decision = evaluator.decide(request, scopes);
                if decision.allowed {
                    let rule = match decision.basis {
                        Basis::Rule(id) => evaluator.table().rule(id).map(|r| r.text.as_str()),
                        Basis::Default | Basis::ForeignScopeSet => None,
                    };
                    log_decision(mode, principal, method, request.name(), "allow", rule, "");
                    None
                } else {
                    let why = evaluator.explain(request, scopes);
                    let missing = why.missing_scopes();
                    let missing_text = missing.as_ref().map(|m| m.join(" ")).unwrap_or_default();
                    log_decision(
                        mode,
                        principal,
                        method,
                        request.name(),
                        "deny",
                        why.rule.map(|r| r.text.as_str()),
                        &missing_text,
                    );
                    let answer = match (missing, shared.config.denial) {
                        // No scope can allow it: never a challenge.
                        (None, _) | (Some(_), Denial::AsUnknown) => jsonrpc::unknown(id, request),
                        (Some(missing), Denial::ToolError) => {
                            jsonrpc::insufficient(id, request, &missing)
                        }
                        (Some(missing), Denial::StepUp) => {
                            let answer = jsonrpc::error(
                                id,
                                jsonrpc::INSUFFICIENT_SCOPE_CODE,
                                "insufficient scope",
                                Some(json!({"missing_scopes": missing})),
                            );
                            if verdicts.step_up.is_none() {
                                verdicts.step_up = Some((
                                    missing.iter().map(|s| (*s).to_owned()).collect(),
                                    format!("{request} needs {missing_text}"),
                                    answer.clone(),
                                ));
                            }
                            answer
                        }
                    };
                    Some(if id.is_some() { answer } else { Value::Null })
                }
            }
        };
        verdicts.any_refused |= refusal.is_some();
        verdicts.refused.push(refusal);
    }
    verdicts
}

/// The answer to a body with a refused message (enforce mode). Nothing of
/// it reaches the server.
fn refusal(
    shared: &Shared,
    principal: &Principal,
    body: &jsonrpc::Body,
    verdicts: Verdicts,
) -> Response<ResponseBody> {
    if let Some((missing, description, answer)) = verdicts.step_up {
        let held = principal.scopes.iter().map(String::as_str);
        let scope = challenge::scope_list(held.chain(missing.iter().map(String::as_str)));
        return with_challenge(
            json_response(StatusCode::FORBIDDEN, &answer),
            challenge::insufficient_scope(&shared.resource.metadata_url, &scope, &description),
        );
    }
    let answers: Vec<Value> = body
        .messages()
        .iter()
        .zip(verdicts.refused)
        .filter_map(|(message, refused)| match refused {
            Some(Value::Null) => None,
            Some(answer) => Some(answer),
            // Allowed, but refused with its batch; a notification gets no answer.
            None => message.get("method").and(message.get("id")).map(|id| {
                jsonrpc::error(
                    Some(id),
                    jsonrpc::BATCH_REFUSED_CODE,
                    "not processed: another request of the batch was denied",
                    None,
                )
            }),
        })
        .collect();
    match (body, answers.as_slice()) {
        (_, []) => respond(StatusCode::ACCEPTED, full(Bytes::new())),
        (jsonrpc::Body::Single(_), [answer, ..]) => json_response(StatusCode::OK, answer),
        (jsonrpc::Body::Batch(_), _) => json_response(StatusCode::OK, &Value::Array(answers)),
    }
}

async fn handle<S, B, ResBody>(
    shared: &Shared,
    request: Request<B>,
    mut inner: S,
) -> Result<Response<ResponseBody>, S::Error>
where
    S: tower_service::Service<Request<Full<Bytes>>, Response = Response<ResBody>>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    ResBody: Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    // 1. DNS rebinding: before any other work.
    if !addressing_allowed(shared, &request) {
        tracing::warn!(target: "mcp_policy::http", "request refused: Host or Origin not allowed");
        return Ok(plain(
            StatusCode::FORBIDDEN,
            "forbidden: Host or Origin not allowed\n",
        ));
    }

    // 2. The protected resource metadata, without a token.
    if shared.resource.is_metadata_path(request.uri().path()) {
        if request.method() == Method::GET || request.method() == Method::HEAD {
            return Ok(json_response(StatusCode::OK, &shared.metadata()));
        }
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Ok(response);
    }

    // 3. The token. The policy is read once: the whole request is decided
    // by the one in force when it arrived.
    let policy = shared.policy.load_full();
    let token = match credentials(&request) {
        Credentials::None => return Ok(unauthorized(shared, &policy, None)),
        Credentials::Malformed => {
            return Ok(with_challenge(
                respond(StatusCode::BAD_REQUEST, full(Bytes::new())),
                challenge::invalid_request(
                    &shared.resource.metadata_url,
                    "one Authorization header with a Bearer token is expected",
                ),
            ));
        }
        Credentials::Bearer(token) => token,
    };
    let verified = match shared
        .cache
        .validate(token, |principal| {
            crate::CachedToken::new(principal, &policy)
        })
        .await
    {
        Ok(verified) => verified,
        Err(rejection) => {
            tracing::info!(
                target: "mcp_policy::decision",
                decision = "unauthenticated",
                rejection = rejection.as_str(),
                "token rejected"
            );
            return Ok(unauthorized(shared, &policy, Some(rejection.as_str())));
        }
    };
    let principal = Arc::clone(verified.extension.principal());
    let scopes = verified.extension.scopes_for(&policy);

    // 4. The body, whole and bounded, before anything reaches the server.
    let (mut parts, body) = request.into_parts();
    let limit = shared.config.max_body_bytes;
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Ok(plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large\n",
        ));
    }
    let bytes = match read_limited(body, limit).await {
        Ok(bytes) => bytes,
        Err(ReadError::TooLarge) => {
            return Ok(plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large\n",
            ));
        }
        Err(ReadError::Failed) => {
            return Ok(plain(
                StatusCode::BAD_REQUEST,
                "cannot read the request body\n",
            ));
        }
    };

    let mut lists = Vec::new();
    if !bytes.is_empty() {
        let Some(body) = jsonrpc::Body::parse(&bytes) else {
            tracing::info!(
                target: "mcp_policy::decision",
                subject = %principal.subject,
                decision = "invalid",
                "request body is not JSON-RPC"
            );
            return Ok(json_response(
                StatusCode::BAD_REQUEST,
                &jsonrpc::error(None, -32700, "Parse error", None),
            ));
        };
        let verdicts = decide_all(shared, &policy, &scopes, &principal, body.messages());
        if verdicts.any_refused && shared.config.mode == Mode::Enforce {
            return Ok(refusal(shared, &principal, &body, verdicts));
        }
        lists = verdicts.lists;
    }

    // 5. The server, with the principal beside the request.
    // Also as the task-local `current_principal()`, for the inner future.
    parts.extensions.insert(Arc::clone(&principal));
    let forwarded = Request::from_parts(parts, Full::new(bytes));
    let response = crate::principal::scope(Arc::clone(&principal), inner.call(forwarded)).await?;
    let response = response.map(|body| body.map_err(Into::into).boxed_unsync());
    if lists.is_empty() || !response.status().is_success() {
        return Ok(response);
    }
    let filter = ListFilter {
        policy,
        scopes,
        lists,
        dry_run: shared.config.mode == Mode::DryRun,
        subject: principal.subject.clone(),
    };
    Ok(filter_response(shared, response, filter).await)
}

/// The server's answer to a body with list requests, filtered.
async fn filter_response(
    shared: &Shared,
    response: Response<ResponseBody>,
    filter: ListFilter,
) -> Response<ResponseBody> {
    let limit = shared.config.max_response_bytes;
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let (mut parts, body) = response.into_parts();
    match content_type.as_str() {
        "application/json" => {
            let filtered = match read_limited(body, limit).await {
                Ok(bytes) => filter.filter_json(&bytes),
                Err(_) => None,
            };
            match filtered {
                Some(bytes) => {
                    parts.headers.remove(CONTENT_LENGTH);
                    Response::from_parts(parts, full(bytes))
                }
                None => bad_gateway(),
            }
        }
        "text/event-stream" => {
            parts.headers.remove(CONTENT_LENGTH);
            Response::from_parts(parts, SseFilter::new(body, filter, limit).boxed_unsync())
        }
        // A 202 or 204 carries no answer to filter.
        _ if parts.status == StatusCode::ACCEPTED || parts.status == StatusCode::NO_CONTENT => {
            Response::from_parts(parts, body)
        }
        // An answer the layer cannot read cannot be filtered: refused.
        _ => bad_gateway(),
    }
}

fn bad_gateway() -> Response<ResponseBody> {
    tracing::error!(target: "mcp_policy::http", "a list answer could not be filtered; refused");
    plain(
        StatusCode::BAD_GATEWAY,
        "the server's answer could not be checked\n",
    )
}

enum ReadError {
    TooLarge,
    Failed,
}

/// A whole body, refused beyond `limit` bytes.
async fn read_limited<B: Body<Data = Bytes>>(body: B, limit: usize) -> Result<Bytes, ReadError> {
    let mut body = std::pin::pin!(body);
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| ReadError::Failed)?;
        if let Ok(data) = frame.into_data() {
            if bytes.len().saturating_add(data.len()) > limit {
                return Err(ReadError::TooLarge);
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::ScopeList;

    fn logged(scopes: &[&str]) -> String {
        let scopes: Vec<String> = scopes.iter().map(|scope| (*scope).to_owned()).collect();
        ScopeList(&scopes).to_string()
    }

    #[test]
    fn scope_list_leaves_out_entries_no_policy_can_declare() {
        assert_eq!(
            logged(&["mcp:read", "github:repos"]),
            "mcp:read github:repos"
        );
        assert_eq!(logged(&[]), "");
        // One undeclarable scope, not `mcp:read` and `mcp:admin`.
        assert_eq!(logged(&["mcp:read mcp:admin"]), "");
        assert_eq!(logged(&["a", "", "b c", " ", "d"]), "a d");
        // Only a space separates scopes: other characters are kept as given.
        assert_eq!(logged(&["a\tb", "é"]), "a\tb é");
    }
}
