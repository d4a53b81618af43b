//! The service: each request through the checks, in the order the crate
//! documentation gives.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::RETRY_AFTER;
use http::header::{
    ALLOW, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HOST, ORIGIN, WWW_AUTHENTICATE,
};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use mcp_policy_evaluator::{Basis, Context as Conditions, DECISION_LOG_TARGET, Decision, ScopeSet};
use mcp_policy_token::Principal;
use serde_json::{Value, json};

use crate::decision_log::{Decided, Read, log_decision};
use crate::filter::{ListFilter, SseFilter};
use crate::jsonrpc::{self, Message, Unmet};
use crate::session::{self, Active, Full as SessionsFull, Owner, Route, SESSION_HEADER};
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
enum Addressing {
    Allowed,
    Refused,
    /// More than one `Host` header: RFC 9112 §3.2 requires a 400.
    Malformed,
}

fn addressing<B>(shared: &Shared, request: &Request<B>) -> Addressing {
    let mut hosts = request.headers().get_all(HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (_, Some(_)) => return Addressing::Malformed,
        (Some(host), None) => host.to_str().ok(),
        (None, None) => request.uri().authority().map(|a| a.as_str()),
    };
    if !host.is_some_and(|host| shared.addressing.host_allowed(host)) {
        return Addressing::Refused;
    }
    // An absolute-form target names a host of its own (RFC 9112 §3.2.2):
    // it must be allowed as well, whatever the `Host` header says.
    if let Some(authority) = request.uri().authority()
        && !shared.addressing.host_allowed(authority.as_str())
    {
        return Addressing::Refused;
    }
    let mut origins = request.headers().get_all(ORIGIN).iter();
    let allowed = match (origins.next(), origins.next()) {
        (None, _) => true,
        (Some(origin), None) => origin
            .to_str()
            .is_ok_and(|origin| shared.addressing.origin_allowed(origin)),
        (Some(_), Some(_)) => false,
    };
    if allowed {
        Addressing::Allowed
    } else {
        Addressing::Refused
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

/// A 403 that more scopes would turn into an allow: what the challenge
/// names and the JSON-RPC answer it carries.
struct StepUp {
    /// The scopes that would allow the call, added to the challenge's.
    missing: Vec<String>,
    /// The challenge's `error_description`: the call and what it needs.
    description: String,
    /// The JSON-RPC error answering the call.
    answer: Value,
}

/// What the policy said about the messages of one body.
struct Verdicts {
    /// The first step-up challenge of the body.
    step_up: Option<StepUp>,
    /// Per message: `Some(answer)` when refused (`Value::Null` for a
    /// refused notification, which gets no answer), `None` when allowed.
    refused: Vec<Option<Value>>,
    any_refused: bool,
    lists: Vec<(Value, mcp_policy_evaluator::TargetKind)>,
}

fn decide_all(
    shared: &Shared,
    policy: &LoadedPolicy,
    scopes: &ScopeSet,
    principal: &Principal,
    messages: &[Value],
) -> Verdicts {
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
                let decided = Decided {
                    method: "",
                    name: "",
                    decision: "invalid",
                    rule: None,
                    missing: "",
                    unmet: None,
                    read: None,
                };
                log_decision(&shared.config, principal, &decided);
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
                arguments,
            } => {
                // What conditions read: this message's arguments and the
                // token's claims, never another request's.
                let context = Conditions::new(arguments, Some(&principal.claims));
                let read = Some(Read {
                    evaluator,
                    request,
                    context: &context,
                });
                let decision: Decision = evaluator.decide_in(request, scopes, &context);
                if decision.allowed {
                    let rule = match decision.basis {
                        Basis::Rule(id) => evaluator.table().rule(id).map(|r| r.text.as_str()),
                        Basis::Default | Basis::ForeignScopeSet => None,
                    };
                    let decided = Decided {
                        method,
                        name: request.name(),
                        decision: "allow",
                        rule,
                        missing: "",
                        unmet: None,
                        read,
                    };
                    log_decision(&shared.config, principal, &decided);
                    None
                } else {
                    let why = evaluator.explained_for(request, scopes, &context);
                    // Scopes to add only when scopes can lift the denial.
                    let missing =
                        (!why.missing_scopes.is_empty()).then(|| texts(&why.missing_scopes));
                    let missing_text = why.missing_scopes.join(" ");
                    let unmet = if !why.failed_conditions.is_empty() {
                        Some(Unmet::Failed(texts(&why.failed_conditions)))
                    } else if !why.denied_when.is_empty() {
                        Some(Unmet::Fired(texts(&why.denied_when)))
                    } else {
                        None
                    };
                    let decided = Decided {
                        method,
                        name: request.name(),
                        decision: "deny",
                        rule: why.rule.as_ref().map(|r| r.text.as_str()),
                        missing: &missing_text,
                        unmet: unmet.as_ref(),
                        read,
                    };
                    log_decision(&shared.config, principal, &decided);
                    let answer = match (missing, &unmet, shared.config.denial) {
                        // Reveals nothing, whatever the reason.
                        (_, _, Denial::AsUnknown) => jsonrpc::unknown(id, request),
                        // Conditions failed or a `deny ... when` fired: no
                        // scope can allow it, so never a challenge; the
                        // answer names the atoms.
                        (None, Some(unmet), denial) => {
                            jsonrpc::unmet(id, request, unmet, denial == Denial::ToolError)
                        }
                        // A deny rule or the default: as for no such target.
                        (None, None, _) => jsonrpc::unknown(id, request),
                        (Some(missing), _, Denial::ToolError) => {
                            jsonrpc::insufficient(id, request, &missing)
                        }
                        (Some(missing), _, Denial::StepUp) => {
                            let answer = jsonrpc::error(
                                id,
                                jsonrpc::INSUFFICIENT_SCOPE_CODE,
                                "insufficient scope",
                                Some(json!({"missing_scopes": missing})),
                            );
                            // A notification gets no answer, so no challenge.
                            if verdicts.step_up.is_none() && id.is_some() {
                                verdicts.step_up = Some(StepUp {
                                    missing: missing.iter().map(|s| (*s).to_owned()).collect(),
                                    description: format!("{request} needs {missing_text}"),
                                    answer: answer.clone(),
                                });
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

/// Borrowed texts of an explanation's list, as the answers take them.
fn texts(list: &[String]) -> Vec<&str> {
    list.iter().map(String::as_str).collect()
}

/// The answer to a body with a refused message (enforce mode). Nothing of
/// it reaches the server.
fn refusal(
    shared: &Shared,
    principal: &Principal,
    body: &jsonrpc::Body,
    verdicts: Verdicts,
) -> Response<ResponseBody> {
    if let Some(StepUp {
        missing,
        description,
        answer,
    }) = verdicts.step_up
    {
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
        // Only notifications were refused, and a notification gets no
        // JSON-RPC answer: the input is not accepted, 403 without a body
        // (a 202 would say it was).
        (_, []) => respond(StatusCode::FORBIDDEN, full(Bytes::new())),
        (jsonrpc::Body::Single(_), [answer, ..]) => json_response(StatusCode::OK, answer),
        (jsonrpc::Body::Batch(_), _) => json_response(StatusCode::OK, &Value::Array(answers)),
    }
}

async fn handle<S, B, ResBody>(
    shared: &Shared,
    request: Request<B>,
    inner: S,
) -> Result<Response<ResponseBody>, S::Error>
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
    // 1. DNS rebinding: before any other work.
    match addressing(shared, &request) {
        Addressing::Allowed => {}
        Addressing::Refused => {
            tracing::warn!(target: "mcp_policy::http", "request refused: Host or Origin not allowed");
            return Ok(plain(
                StatusCode::FORBIDDEN,
                "forbidden: Host or Origin not allowed\n",
            ));
        }
        Addressing::Malformed => {
            return Ok(plain(
                StatusCode::BAD_REQUEST,
                "bad request: more than one Host header\n",
            ));
        }
    }

    // Sessions idle past their time are forgotten here and ended at the
    // server, in the background: those opened at this request's path,
    // the one its `inner` serves.
    for expired in shared.sessions.sweep(request.uri().path()) {
        end_at_server(inner.clone(), expired);
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
        Credentials::None => {
            metrics::counter!("mcp_policy_token_rejections_total", "reason" => "missing")
                .increment(1);
            return Ok(unauthorized(shared, &policy, None));
        }
        Credentials::Malformed => {
            metrics::counter!("mcp_policy_token_rejections_total", "reason" => "malformed_header")
                .increment(1);
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
                target: DECISION_LOG_TARGET,
                decision = "unauthenticated",
                rejection = rejection.as_str(),
                "token rejected"
            );
            metrics::counter!("mcp_policy_token_rejections_total", "reason" => rejection.as_str())
                .increment(1);
            return Ok(unauthorized(shared, &policy, Some(rejection.as_str())));
        }
    };
    let principal = Arc::clone(&verified.principal);
    let scopes = verified.extension.scopes_for(&policy, &principal);
    let owner = Owner::of(&principal);

    // 4. The session, when the request names one: its owner's alone. Under
    // another principal it is as unknown as an id never issued.
    let active = match session_of(&request) {
        SessionHeader::None => None,
        SessionHeader::Malformed => {
            return Ok(plain(
                StatusCode::BAD_REQUEST,
                "bad request: more than one Mcp-Session-Id header\n",
            ));
        }
        SessionHeader::Id(id) => match shared.sessions.admit(id, &owner) {
            Some(active) => Some(active),
            None => {
                tracing::info!(
                    target: "mcp_policy::http",
                    subject = principal.subject.as_str(),
                    "request refused: the session is unknown or another principal's"
                );
                return Ok(session_not_found());
            }
        },
    };
    let route = Route {
        uri: request.uri().clone(),
        host: request.headers().get(HOST).cloned(),
    };
    let deleting = request.method() == Method::DELETE;
    // The server's stream: what it sends there is filtered too (a resumed
    // stream replays answers to list requests made on earlier POSTs).
    let streaming = request.method() == Method::GET;

    // 5. The body, whole, bounded in size and in time, before anything
    // reaches the server.
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
    let read = tokio::time::timeout(shared.config.body_read_timeout, read_limited(body, limit));
    let bytes = match read.await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(ReadError::TooLarge)) => {
            return Ok(plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large\n",
            ));
        }
        Ok(Err(ReadError::Failed)) => {
            return Ok(plain(
                StatusCode::BAD_REQUEST,
                "cannot read the request body\n",
            ));
        }
        Err(_elapsed) => {
            tracing::info!(
                target: "mcp_policy::http",
                subject = principal.subject.as_str(),
                "request refused: the body was not received in time"
            );
            return Ok(plain(
                StatusCode::REQUEST_TIMEOUT,
                "request body not received in time\n",
            ));
        }
    };

    let mut lists = Vec::new();
    let mut reservation = None;
    if !bytes.is_empty() {
        let body = match jsonrpc::Body::parse(&bytes) {
            Ok(body) => body,
            Err(error) => {
                let (why, message) = match error {
                    jsonrpc::ParseError::Syntax => ("request body is not JSON-RPC", "Parse error"),
                    jsonrpc::ParseError::DuplicateKey => (
                        "request body has an object with a duplicate key",
                        jsonrpc::DUPLICATE_KEY_MESSAGE,
                    ),
                };
                tracing::info!(
                    target: DECISION_LOG_TARGET,
                    subject = principal.subject.as_str(),
                    decision = "invalid",
                    "{why}"
                );
                return Ok(json_response(
                    StatusCode::BAD_REQUEST,
                    &jsonrpc::error(None, jsonrpc::PARSE_ERROR_CODE, message, None),
                ));
            }
        };
        let verdicts = decide_all(shared, &policy, &scopes, &principal, body.messages());
        if verdicts.any_refused && shared.config.mode == Mode::Enforce {
            return Ok(refusal(shared, &principal, &body, verdicts));
        }
        lists = verdicts.lists;
        // 6. A new session: room for it is taken before the server makes it.
        if active.is_none()
            && let Some(id) = jsonrpc::initialize_id(body.messages())
        {
            match shared.sessions.reserve(owner.clone()) {
                Ok(room) => reservation = Some(room),
                Err(full) => return Ok(sessions_full(shared, &principal, full, Some(id))),
            }
        }
    }

    // 7. The server, with the principal beside the request.
    // Also as the task-local `current_principal()`, for the inner future.
    parts.extensions.insert(Arc::clone(&principal));
    let forwarded = Request::from_parts(parts, Full::new(bytes));
    // `inner` is the instance `poll_ready` readied; a clone is kept for a
    // session that has to be ended at once.
    let spare = inner.clone();

    // 8. The session: bound to the principal when the server issued one,
    // forgotten when the server ended it.
    let response = match (active, reservation) {
        (Some(active), _) => {
            let response = forward(&principal, inner, forwarded).await?;
            let status = response.status();
            // The server's answer speaks for the session only at the
            // session's own endpoint: elsewhere a 404 is the router's "no
            // such path", and a DELETE accepted there ended nothing.
            if active.served_at(route.uri.path()) {
                if deleting && status.is_success() {
                    active.end();
                } else if status == StatusCode::NOT_FOUND
                    && let Some(ended) = active.end()
                {
                    // Unknown to the server, it says; ended there all the
                    // same, so that the layer never counts fewer sessions
                    // than the server holds.
                    end_at_server(spare, ended);
                }
            }
            held_by(response, active)
        }
        (None, Some(room)) => {
            match opened(shared, &principal, inner, forwarded, spare, room, route).await {
                Opened::Answer(response) => response,
                Opened::Failed(error) => return Err(error),
                Opened::Lost => {
                    return Ok(plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n"));
                }
            }
        }
        (None, None) => {
            let response = forward(&principal, inner, forwarded).await?;
            match issued_session(&response) {
                Some(id) => match shared.sessions.reserve(owner) {
                    Ok(room) => {
                        room.bind(&id, route);
                        response
                    }
                    Err(full) => {
                        // The server made a session the limits have no room
                        // for: ended at once, never handed out.
                        end_at_server(spare, session::Expired { id, route });
                        return Ok(sessions_full(shared, &principal, full, None));
                    }
                },
                None => response,
            }
        }
    };

    if (lists.is_empty() && !streaming) || !response.status().is_success() {
        return Ok(response);
    }
    let filter = ListFilter {
        policy,
        scopes,
        dry_run: shared.config.mode == Mode::DryRun,
        principal: Arc::clone(&principal),
    };
    // The id of the error when the answer cannot be filtered: the list
    // request's, when the body held one request.
    let id = match lists.as_slice() {
        [(id, _)] => Some(id.clone()),
        _ => None,
    };
    let lists_asked = !lists.is_empty();
    Ok(filter_response(shared, response, filter, id.as_ref(), lists_asked).await)
}

// ---- sessions ----

/// The request to the server, with the principal as the task-local
/// `current_principal()` for the inner future.
async fn forward<S, ResBody>(
    principal: &Arc<Principal>,
    mut inner: S,
    forwarded: Request<Full<Bytes>>,
) -> Result<Response<ResponseBody>, S::Error>
where
    S: tower_service::Service<Request<Full<Bytes>>, Response = Response<ResBody>>,
    ResBody: Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    let response = crate::principal::scope(Arc::clone(principal), inner.call(forwarded)).await?;
    Ok(response.map(|body| body.map_err(Into::into).boxed_unsync()))
}

/// What came of a request that opens a session.
enum Opened<E> {
    Answer(Response<ResponseBody>),
    Failed(E),
    /// The detached task did not answer (it panicked).
    Lost,
}

/// A request that opens a session (`initialize`), served apart from the
/// client's connection. The server makes the session before it answers;
/// a client that leaves in between drops this request's future, and with
/// it the only place the new id would be learnt: a session at the server
/// that no limit counts, one per round. So the call and the binding run in
/// a task of their own, which finishes whatever the client does, and ends
/// the session at the server at once when nobody is left to receive it.
async fn opened<S, ResBody>(
    shared: &Shared,
    principal: &Arc<Principal>,
    inner: S,
    forwarded: Request<Full<Bytes>>,
    spare: S,
    room: session::Reservation,
    route: Route,
) -> Opened<S::Error>
where
    S: tower_service::Service<Request<Full<Bytes>>, Response = Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let sessions = Arc::clone(&shared.sessions);
    let principal = Arc::clone(principal);
    tokio::spawn(async move {
        let mut bound = None;
        let outcome = match forward(&principal, inner, forwarded).await {
            Err(error) => Opened::Failed(error),
            // An id already bound keeps its first owner (`bind` says so);
            // only a session bound here may be ended below.
            Ok(response) => match issued_session(&response) {
                Some(id) if room.bind(&id, route) => {
                    bound = Some(id);
                    Opened::Answer(response)
                }
                _ => Opened::Answer(response),
            },
        };
        if sender.send(outcome).is_err()
            && let Some(id) = bound
            && let Some(ended) = sessions.end(&id)
        {
            // The client left before the answer: the session is of no use
            // to anyone, and ended now rather than at its idle timeout.
            end_at_server(spare, ended);
        }
    });
    receiver.await.unwrap_or(Opened::Lost)
}

enum SessionHeader<'r> {
    None,
    Id(&'r str),
    /// More than one `Mcp-Session-Id` header.
    Malformed,
}

fn session_of<B>(request: &Request<B>) -> SessionHeader<'_> {
    let mut values = request.headers().get_all(SESSION_HEADER).iter();
    match (values.next(), values.next()) {
        (None, _) => SessionHeader::None,
        (Some(_), Some(_)) => SessionHeader::Malformed,
        // An id that is not visible ASCII was never issued: unknown, as
        // any other id never issued.
        (Some(value), None) => SessionHeader::Id(value.to_str().unwrap_or("")),
    }
}

/// The session id a server's answer issues.
fn issued_session(response: &Response<ResponseBody>) -> Option<String> {
    let value = response.headers().get(SESSION_HEADER)?;
    value.to_str().ok().map(str::to_owned)
}

/// What a server answers for a session it does not know (MCP Streamable
/// HTTP: 404, upon which the client starts a new session). The same for an
/// id never issued and for another principal's.
fn session_not_found() -> Response<ResponseBody> {
    plain(StatusCode::NOT_FOUND, "session not found\n")
}

/// 503 with `Retry-After`: no room for another session.
fn sessions_full(
    shared: &Shared,
    principal: &Principal,
    full: SessionsFull,
    id: Option<&Value>,
) -> Response<ResponseBody> {
    let (why, message) = match full {
        SessionsFull::Total => ("total", "too many sessions; retry later"),
        SessionsFull::Principal => (
            "principal",
            "too many sessions for this principal; end one (DELETE) or retry later",
        ),
    };
    tracing::warn!(
        target: "mcp_policy::http",
        subject = principal.subject.as_str(),
        limit = why,
        "new session refused: the session limit is reached"
    );
    let mut response = json_response(
        StatusCode::SERVICE_UNAVAILABLE,
        &jsonrpc::error(id, -32000, message, None),
    );
    let seconds = shared.sessions.limits().retry_after.as_secs().max(1);
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// Ends a session at the server, in the background: a `DELETE` with its id
/// to where its requests went. The server's answer does not matter; the
/// layer has forgotten the session already.
fn end_at_server<S, ResBody>(mut inner: S, expired: session::Expired)
where
    S: tower_service::Service<Request<Full<Bytes>>, Response = Response<ResBody>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Send + 'static,
{
    let mut request = Request::new(Full::new(Bytes::new()));
    *request.method_mut() = Method::DELETE;
    *request.uri_mut() = expired.route.uri;
    if let Some(host) = expired.route.host {
        request.headers_mut().insert(HOST, host);
    }
    let Ok(id) = HeaderValue::from_str(&expired.id) else {
        return;
    };
    request.headers_mut().insert(SESSION_HEADER, id);
    tokio::spawn(async move {
        if std::future::poll_fn(|cx| inner.poll_ready(cx))
            .await
            .is_ok()
        {
            let _ = inner.call(request).await;
        }
    });
}

/// The response, its body holding the session in flight until it is
/// dropped (a stream, however long, keeps its session alive).
fn held_by(response: Response<ResponseBody>, active: Active) -> Response<ResponseBody> {
    response.map(|body| {
        Held {
            body,
            _active: active,
        }
        .boxed_unsync()
    })
}

struct Held {
    body: ResponseBody,
    _active: Active,
}

impl Body for Held {
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

/// The server's answer to a body with list requests, filtered.
async fn filter_response(
    shared: &Shared,
    response: Response<ResponseBody>,
    filter: ListFilter,
    id: Option<&Value>,
    lists_asked: bool,
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
                None => bad_gateway(id),
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
        // A GET that no list request made, answered with something else
        // than JSON or SSE (a page of the application the layer is
        // mounted over): no MCP client reads a list from it.
        _ if !lists_asked => Response::from_parts(parts, body),
        // An answer the layer cannot read cannot be filtered: refused.
        _ => bad_gateway(id),
    }
}

/// A list answer that could not be read (not JSON, a duplicate key, past
/// `max_response_bytes`, or not `application/json` nor SSE): a JSON-RPC
/// error that says so and nothing of the server's words.
fn bad_gateway(id: Option<&Value>) -> Response<ResponseBody> {
    tracing::error!(target: "mcp_policy::http", "a list answer could not be filtered; refused");
    json_response(
        StatusCode::BAD_GATEWAY,
        &jsonrpc::error(
            id,
            jsonrpc::UNCHECKED_ANSWER_CODE,
            "the server's answer could not be checked",
            None,
        ),
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
