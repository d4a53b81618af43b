//! The upstream side for an MCP server that speaks stdio (`npx ...`,
//! `uvx ...`): served over Streamable HTTP, one child process per MCP
//! session.
//!
//! A stdio server keeps per-connection state (its `initialize`, its
//! subscriptions, whatever its tools remember), so sharing one child among
//! clients would share that state among users. Each `initialize` starts a
//! child of its own; the session id the proxy issues names it, and the
//! policy layer binds that id to the principal, so a child belongs to one
//! session and so to one principal. The child ends on `DELETE`, when the
//! layer expires the session (it sends the `DELETE`), when the proxy stops
//! (children are killed with it), or on its own (a crash): then the
//! requests waiting on it get a JSON-RPC error, the session is gone (404,
//! upon which a client starts a new one), and other sessions go on.
//!
//! Messages from the child that answer a request go back on that request's
//! HTTP answer. So does the progress of a request that asks for it (a
//! `progressToken`, one request in the POST, a client that accepts SSE): the
//! answer is then an SSE stream, its progress notifications as they come,
//! then its answer, in the child's order (on the GET stream, the last
//! progress could reach the client after the answer, which ends it: lost).
//! Requests and other notifications the child starts (sampling,
//! elicitation, logging, `list_changed`; stdio says nothing of which request
//! they belong to) go to the session's GET stream (SSE), and the client's
//! answers to them, POSTed back, to the child. What the child writes to
//! stderr is logged, prefixed with its session.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use mcp_policy_evaluator::method;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin};
use tokio::sync::{mpsc, oneshot};

use crate::child::{
    Outbox, PROGRESS_CAPACITY, accepts_sse, progress_response, progress_token, read_line,
    session_id, spawn, token_key,
};
use crate::identity::IdentityForUpstream;
use crate::legacy::{Link, LinkError, SseConfig};
use crate::respond::{empty, error, error_value, json_response, not_found, plain};
use crate::upstream::ProxyBody;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;

const SESSION_HEADER: &str = "mcp-session-id";

/// Why a session's peer could not be started.
#[derive(Debug)]
enum Refused {
    Child(std::io::Error),
    Stream(LinkError),
}

/// How children are started and bounded.
#[derive(Clone, Debug)]
pub struct StdioConfig {
    /// The program and its arguments.
    pub command: Vec<String>,
    /// One line (one JSON-RPC message) from a child, at most. Default:
    /// 16 MiB, the layer's bound on a list answer.
    pub max_line_bytes: usize,
    /// A request the child does not answer within this time gets a JSON-RPC
    /// error (the child goes on). Default: 60 s.
    pub request_timeout: Duration,
    /// Messages the child starts while no GET stream is open, kept for
    /// the next one; past this, the oldest are dropped. Default: 256.
    pub max_buffered_messages: usize,
    /// One child per session (the default), or one for all sessions.
    pub mode: StdioMode,
}

/// How sessions map to children.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StdioMode {
    /// A child of its own for each session: sessions, and so users, share
    /// no process and no state. The default, as a security product's must be.
    #[default]
    PerSession,
    /// One child for every session, its messages multiplexed
    /// ([`crate::SharedUpstream`]). Only for servers that keep no
    /// per-client state: the child holds every user's.
    Shared,
}

impl StdioConfig {
    pub fn new(command: Vec<String>) -> StdioConfig {
        StdioConfig {
            command,
            max_line_bytes: 16 * 1024 * 1024,
            request_timeout: Duration::from_secs(60),
            max_buffered_messages: 256,
            mode: StdioMode::default(),
        }
    }
}

/// Why a child could not be started.
#[derive(Debug)]
pub struct NoCommand;

impl std::fmt::Display for NoCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a stdio upstream needs a command: `-- PROGRAM ARGS...`")
    }
}

impl std::error::Error for NoCommand {}

/// One session's peer (a child, or an HTTP+SSE stream) and what waits on it.
#[derive(Debug)]
struct Session {
    id: String,
    peer: Peer,
    state: Mutex<SessionState>,
}

/// Where a session's messages go, and what ending it stops.
#[derive(Debug)]
enum Peer {
    /// A child process: messages are lines on its stdin.
    Child {
        stdin: tokio::sync::Mutex<ChildStdin>,
        child: Mutex<Option<Child>>,
    },
    /// A stream of an HTTP+SSE server: messages are POSTs to its endpoint;
    /// the task reading the stream holds it open.
    Stream {
        link: Link,
        reader: Mutex<Option<tokio::task::AbortHandle>>,
    },
}

impl Peer {
    /// Sends `messages` in order; `false` if the peer is gone.
    /// `identity`: the principal's headers (`--forward-identity`), for a
    /// stream's POSTs; a child has no headers.
    async fn send(&self, messages: &[Value], identity: &IdentityForUpstream) -> bool {
        match self {
            Peer::Child { stdin, .. } => {
                let mut stdin = stdin.lock().await;
                for message in messages {
                    let mut line = message.to_string();
                    line.push('\n');
                    if stdin.write_all(line.as_bytes()).await.is_err() {
                        return false;
                    }
                }
                stdin.flush().await.is_ok()
            }
            Peer::Stream { link, .. } => {
                for message in messages {
                    if let Err(error) = link
                        .send(Bytes::from(message.to_string()), &identity.0)
                        .await
                    {
                        tracing::warn!(target: "mcp_policy::upstream", %error, "a message could not be posted");
                        return false;
                    }
                }
                true
            }
        }
    }

    /// What the requests waiting on a peer that is gone are told.
    fn gone(&self) -> &'static str {
        match self {
            Peer::Child { .. } => "the upstream process exited",
            Peer::Stream { .. } => "the upstream stream ended",
        }
    }

    fn stop(&self) {
        match self {
            Peer::Child { child, .. } => {
                if let Some(mut child) = lock(child).take() {
                    let _ = child.start_kill();
                }
            }
            Peer::Stream { reader, .. } => {
                if let Some(reader) = lock(reader).take() {
                    reader.abort();
                }
            }
        }
    }
}

/// Where one request's progress goes: its answer stream, until its answer
/// (by its id's JSON text) comes.
#[derive(Debug)]
struct ProgressStream {
    id: String,
    send: mpsc::Sender<Value>,
}

#[derive(Debug, Default)]
struct SessionState {
    /// Requests sent to the child, by their id's JSON text.
    pending: HashMap<String, oneshot::Sender<Value>>,
    /// The GET stream, or what is kept for it.
    outbox: Outbox,
    /// The answer streams of requests in flight that asked for progress, by
    /// their progress token's key ([`token_key`]).
    progress: HashMap<String, ProgressStream>,
    ended: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Session {
    fn end(&self, why: &str) {
        let pending = {
            let mut state = lock(&self.state);
            state.ended = true;
            state.outbox.close();
            std::mem::take(&mut state.pending)
        };
        for (id, waiting) in pending {
            let id: Value = serde_json::from_str(&id).unwrap_or(Value::Null);
            let _ = waiting.send(error(&id, why));
        }
        self.peer.stop();
    }

    /// A message the child started: to the GET stream, or kept for it.
    fn deliver(&self, message: Value, limit: usize) {
        lock(&self.state).outbox.deliver(message, limit, &self.id);
    }
}

/// The stdio upstream: a `Service` like the HTTP one, behind the same layer.
/// It also serves an HTTP+SSE server ([`crate::SseUpstream`]), whose
/// streams are sessions as children are.
#[derive(Clone, Debug)]
pub struct StdioUpstream {
    config: Arc<StdioConfig>,
    /// Where sessions come from: `None`, the command's children.
    streams: Option<Streams>,
    sessions: Arc<Mutex<HashMap<String, Arc<Session>>>>,
}

/// The HTTP+SSE server that sessions are streams of.
#[derive(Clone, Debug)]
struct Streams {
    config: Arc<SseConfig>,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl StdioUpstream {
    pub fn new(config: StdioConfig) -> Result<StdioUpstream, NoCommand> {
        if config.command.is_empty() {
            return Err(NoCommand);
        }
        Ok(StdioUpstream {
            config: Arc::new(config),
            streams: None,
            sessions: Arc::default(),
        })
    }

    /// Sessions as streams of an HTTP+SSE server.
    pub(crate) fn streams(config: SseConfig) -> StdioUpstream {
        let client = crate::upstream::client(config.connect_timeout);
        let mut sessions = StdioConfig::new(Vec::new());
        sessions.request_timeout = config.request_timeout;
        sessions.max_buffered_messages = config.max_buffered_messages;
        StdioUpstream {
            config: Arc::new(sessions),
            streams: Some(Streams {
                config: Arc::new(config),
                client,
            }),
            sessions: Arc::default(),
        }
    }

    /// How many children run now.
    pub fn children(&self) -> usize {
        lock(&self.sessions).len()
    }

    fn session(&self, id: &str) -> Option<Arc<Session>> {
        lock(&self.sessions).get(id).cloned()
    }

    /// A new session's peer: a child, or a stream.
    async fn start(&self, identity: &IdentityForUpstream) -> Result<Arc<Session>, Refused> {
        match &self.streams {
            None => self.start_child().map_err(Refused::Child),
            Some(streams) => self
                .start_stream(streams, identity)
                .await
                .map_err(Refused::Stream),
        }
    }

    async fn start_stream(
        &self,
        streams: &Streams,
        identity: &IdentityForUpstream,
    ) -> Result<Arc<Session>, LinkError> {
        let id = session_id().map_err(|_| LinkError::Unavailable)?;
        let (link, mut messages) = crate::legacy::open(
            streams.client.clone(),
            Arc::clone(&streams.config),
            &identity.0,
        )
        .await?;
        let session = Arc::new(Session {
            id: id.clone(),
            peer: Peer::Stream {
                link,
                reader: Mutex::new(None),
            },
            state: Mutex::default(),
        });
        lock(&self.sessions).insert(id.clone(), Arc::clone(&session));
        tracing::info!(target: "mcp_policy::upstream", session = id.as_str(), "upstream stream opened");

        // The stream: answers to their requests, the rest to the session's
        // GET stream. Its end is the session's end.
        let reader = Arc::clone(&session);
        let sessions = Arc::clone(&self.sessions);
        let limit = self.config.max_buffered_messages;
        let task = tokio::spawn(async move {
            let why = loop {
                match futures_util::StreamExt::next(&mut messages).await {
                    Some(Ok(message)) => route_message(&reader, message, limit),
                    Some(Err(_)) => break "the upstream stream broke",
                    None => break "the upstream stream ended",
                }
            };
            forget(&sessions, &reader, why);
        });
        if let Peer::Stream { reader, .. } = &session.peer {
            *lock(reader) = Some(task.abort_handle());
        }
        Ok(session)
    }

    fn start_child(&self) -> std::io::Result<Arc<Session>> {
        let id = session_id()?;
        let spawned = spawn(&self.config.command, id.clone())?;
        let (child, stdin, stdout) = (spawned.child, spawned.stdin, spawned.stdout);
        let session = Arc::new(Session {
            id: id.clone(),
            peer: Peer::Child {
                stdin: tokio::sync::Mutex::new(stdin),
                child: Mutex::new(Some(child)),
            },
            state: Mutex::default(),
        });
        lock(&self.sessions).insert(id.clone(), Arc::clone(&session));
        tracing::info!(target: "mcp_policy::upstream", session = id.as_str(), "child started");

        // The child's stdout: answers to their requests, the rest to the
        // session's stream. Its end is the session's end.
        let reader = Arc::clone(&session);
        let sessions = Arc::clone(&self.sessions);
        let config = Arc::clone(&self.config);
        tokio::spawn(async move {
            let mut stdout = tokio::io::BufReader::new(stdout);
            let why = loop {
                match read_line(&mut stdout, config.max_line_bytes).await {
                    Ok(Some(line)) => route(&reader, &line, config.max_buffered_messages),
                    Ok(None) => break "the upstream process exited",
                    Err(error) => break error.why(),
                }
            };
            forget(&sessions, &reader, why);
        });
        Ok(session)
    }

    async fn handle(&self, request: Request<Full<Bytes>>) -> Response<ProxyBody> {
        let session_id = request
            .headers()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let method = request.method().clone();
        let streams_ok = accepts_sse(request.headers());
        // Set by the proxy when `--forward-identity` is on, never by the
        // client; a stream's requests carry it (a child has no headers).
        let identity = request
            .extensions()
            .get::<IdentityForUpstream>()
            .cloned()
            .unwrap_or_default();
        let body = match request.into_body().collect().await {
            Ok(body) => body.to_bytes(),
            Err(never) => match never {},
        };
        match (method, session_id) {
            (Method::POST, None) => self.initialize(&body, &identity).await,
            (Method::POST, Some(id)) => match self.session(&id) {
                Some(session) => self.post(session, &body, &identity, streams_ok).await,
                None => not_found(),
            },
            (Method::GET, Some(id)) => match self.session(&id) {
                Some(session) => stream(&session),
                None => not_found(),
            },
            (Method::DELETE, Some(id)) => {
                let session = lock(&self.sessions).remove(&id);
                match session {
                    Some(session) => {
                        session.end("the session ended");
                        tracing::info!(target: "mcp_policy::upstream", session = id.as_str(), "child ended by DELETE");
                        empty(StatusCode::ACCEPTED)
                    }
                    None => not_found(),
                }
            }
            (Method::GET | Method::DELETE, None) => plain(
                StatusCode::BAD_REQUEST,
                "bad request: an Mcp-Session-Id is required\n",
            ),
            _ => plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n"),
        }
    }

    async fn initialize(
        &self,
        body: &Bytes,
        identity: &IdentityForUpstream,
    ) -> Response<ProxyBody> {
        let message: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        if message.get("method").and_then(Value::as_str) != Some(method::INITIALIZE) {
            return plain(
                StatusCode::BAD_REQUEST,
                "bad request: a session starts with initialize\n",
            );
        }
        // Only a request (with an id) is counted against the session limit
        // by the layer: an `initialize` sent as a notification would start
        // a child that no limit bounds.
        if message.get("id").is_none_or(Value::is_null) {
            return plain(
                StatusCode::BAD_REQUEST,
                "bad request: initialize must be a request, with an id\n",
            );
        }
        let session = match self.start(identity).await {
            Ok(session) => session,
            Err(Refused::Child(error)) => {
                tracing::error!(target: "mcp_policy::upstream", %error, "the child could not be started");
                return json_response(
                    StatusCode::BAD_GATEWAY,
                    &error_value(message.get("id"), "upstream unavailable"),
                );
            }
            Err(Refused::Stream(error)) => {
                tracing::error!(target: "mcp_policy::upstream", %error, "the upstream stream could not be opened");
                let status = if error == LinkError::TimedOut {
                    StatusCode::GATEWAY_TIMEOUT
                } else {
                    StatusCode::BAD_GATEWAY
                };
                return json_response(status, &error_value(message.get("id"), &error.to_string()));
            }
        };
        let answers = match self
            .exchange(&session, std::slice::from_ref(&message), identity)
            .await
        {
            Ok(answers) => answers,
            // A fresh session refuses a message only when its child has
            // ended already (a command that exits at once).
            Err(_) => {
                self.abandon(&session, "initialize failed");
                return json_response(
                    StatusCode::BAD_GATEWAY,
                    &error_value(message.get("id"), session.peer.gone()),
                );
            }
        };
        // Only a child that answered `initialize` with a result has a
        // session. Any other outcome ends it at once, and no id is issued:
        // nothing is left for the layer to count, nor a child to run.
        let (status, answer) = match answers.into_iter().next() {
            Some(Answer::Child(answer)) if answer.get("result").is_some() => {
                let mut response = json_response(StatusCode::OK, &answer);
                if let Ok(id) = HeaderValue::from_str(&session.id) {
                    response.headers_mut().insert(SESSION_HEADER, id);
                }
                return response;
            }
            // The child's own JSON-RPC error (an unsupported protocol
            // version, say): the client reads it; the child is ended.
            Some(Answer::Child(answer)) => (StatusCode::OK, answer),
            Some(Answer::Exited(answer)) => (StatusCode::BAD_GATEWAY, answer),
            Some(Answer::TimedOut(answer)) => (StatusCode::GATEWAY_TIMEOUT, answer),
            None => (
                StatusCode::BAD_GATEWAY,
                error_value(message.get("id"), "the upstream process exited"),
            ),
        };
        tracing::warn!(
            target: "mcp_policy::upstream",
            session = session.id.as_str(),
            "the child did not accept initialize; ended"
        );
        self.abandon(&session, "initialize failed");
        json_response(status, &answer)
    }

    /// Forgets a session and ends its child.
    fn abandon(&self, session: &Session, why: &str) {
        lock(&self.sessions).remove(&session.id);
        session.end(why);
    }

    /// Sends the body's messages to the child; answers with the answers to
    /// its requests, or 202 when it holds none. A single request with a
    /// progress token, from a client that accepts SSE, is answered as a
    /// stream: its progress, then its answer.
    async fn post(
        &self,
        session: Arc<Session>,
        body: &Bytes,
        identity: &IdentityForUpstream,
        streams_ok: bool,
    ) -> Response<ProxyBody> {
        let Ok(parsed) = serde_json::from_slice::<Value>(body) else {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": "Parse error"}}),
            );
        };
        let token = progress_token(&parsed).filter(|_| streams_ok);
        if let Some(token) = token {
            return self.post_with_progress(session, parsed, token, identity.clone());
        }
        let (messages, batch) = match parsed {
            Value::Array(messages) => (messages, true),
            single => (vec![single], false),
        };
        let answers = match self.exchange(&session, &messages, identity).await {
            Ok(answers) => answers,
            Err(response) => return response,
        };
        if answers.is_empty() {
            return empty(StatusCode::ACCEPTED);
        }
        let mut answers: Vec<Value> = answers.into_iter().map(Answer::into_value).collect();
        if batch {
            json_response(StatusCode::OK, &Value::Array(answers))
        } else {
            let answer = answers.pop().unwrap_or(Value::Null);
            json_response(StatusCode::OK, &answer)
        }
    }

    /// A request that asked for progress: its progress notifications and
    /// then its answer, on one SSE stream. The token is taken before the
    /// request reaches the child, and given back once it is answered, so no
    /// progress of it can go elsewhere. A second request in flight with the
    /// same token (which MCP forbids) gets no route: the child's progress
    /// names the token only, so the progress of both goes down the first's
    /// answer until that is answered (both are this session's), then to the
    /// GET stream.
    fn post_with_progress(
        &self,
        session: Arc<Session>,
        message: Value,
        token: String,
        identity: IdentityForUpstream,
    ) -> Response<ProxyBody> {
        let (send, receive) = mpsc::channel(PROGRESS_CAPACITY);
        let route = {
            let mut state = lock(&session.state);
            // What `exchange` would refuse, refused before the stream's 200.
            if state.ended {
                return not_found();
            }
            if let Some(id) = message.get("id")
                && state.pending.contains_key(&id.to_string())
            {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    &error_value(Some(id), "a request with this id is in flight"),
                );
            }
            match state.progress.get(&token) {
                Some(other) if !other.send.is_closed() => None,
                _ => {
                    let id = message.get("id").map(Value::to_string).unwrap_or_default();
                    state.progress.insert(
                        token.clone(),
                        ProgressStream {
                            id,
                            send: send.clone(),
                        },
                    );
                    Some(ProgressRoute {
                        session: Arc::clone(&session),
                        token,
                        send,
                    })
                }
            }
        };
        let this = self.clone();
        let answer = async move {
            let answers = this
                .exchange(&session, std::slice::from_ref(&message), &identity)
                .await;
            drop(route);
            match answers {
                Ok(answers) => answers.into_iter().map(Answer::into_value).collect(),
                // Refused above but for a race (the session ended, the id
                // sent meanwhile): the JSON-RPC error, the 200 being sent.
                Err(_) => vec![error(
                    message.get("id").unwrap_or(&Value::Null),
                    "the request was not sent: the session ended, or its id is in flight",
                )],
            }
        };
        progress_response(Box::pin(answer), receive)
    }

    /// Writes `messages` to the child and waits for the answers to those
    /// that are requests, each within the request timeout.
    async fn exchange(
        &self,
        session: &Session,
        messages: &[Value],
        identity: &IdentityForUpstream,
    ) -> Result<Vec<Answer>, Response<ProxyBody>> {
        // Declared before `waiting`, so dropped after it: by then every
        // receiver of this body is gone, whatever ended the wait.
        let _forget = Forget(session);
        let mut waiting = Vec::new();
        {
            let mut state = lock(&session.state);
            if state.ended {
                return Err(not_found());
            }
            for message in messages {
                let is_request = message.get("method").is_some();
                if let (true, Some(id)) = (is_request, message.get("id")) {
                    let key = id.to_string();
                    if state.pending.contains_key(&key) {
                        return Err(json_response(
                            StatusCode::BAD_REQUEST,
                            &error_value(Some(id), "a request with this id is in flight"),
                        ));
                    }
                    let (send, receive) = oneshot::channel();
                    state.pending.insert(key, send);
                    waiting.push((id.clone(), receive));
                }
            }
        }
        // One deadline for the whole body: a batch of a thousand requests
        // the child ignores waits one timeout, not a thousand in turn.
        let deadline = tokio::time::Instant::now() + self.config.request_timeout;
        // Sending is within it too: a child that stops reading its stdin,
        // or a server slow to accept a batch's POSTs one by one, would
        // otherwise hold the POST (and keep its session from ever idling
        // out) without end. Half a message may be out: the session ends.
        match tokio::time::timeout_at(deadline, session.peer.send(messages, identity)).await {
            Ok(true) => {}
            Ok(false) => self.abandon(session, session.peer.gone()),
            Err(_) => self.abandon(session, "the upstream does not take its input"),
        }
        let mut answers = Vec::with_capacity(waiting.len());
        for (id, receive) in waiting {
            let answer = match tokio::time::timeout_at(deadline, receive).await {
                // `Session::end` answers what waits with its reason.
                Ok(Ok(answer)) if lock(&session.state).ended && answer.get("error").is_some() => {
                    Answer::Exited(answer)
                }
                Ok(Ok(answer)) => Answer::Child(answer),
                Ok(Err(_)) => Answer::Exited(error(&id, session.peer.gone())),
                Err(_) => {
                    lock(&session.state).pending.remove(&id.to_string());
                    Answer::TimedOut(error(&id, "upstream timed out"))
                }
            };
            answers.push(answer);
        }
        Ok(answers)
    }
}

/// A progress token routed to its request's answer stream, until the
/// request is answered or its client hangs up (the answer is dropped).
struct ProgressRoute {
    session: Arc<Session>,
    token: String,
    send: mpsc::Sender<Value>,
}

impl Drop for ProgressRoute {
    fn drop(&mut self) {
        let mut state = lock(&self.session.state);
        // Its own route only: the token may be another request's by now.
        if state
            .progress
            .get(&self.token)
            .is_some_and(|route| route.send.same_channel(&self.send))
        {
            state.progress.remove(&self.token);
        }
    }
}

/// Drops from `pending` every request nobody waits for any more. Without
/// it a client that hangs up before its answer (a peer that never answers,
/// a tool that takes an hour) leaves an entry per request, without end, and
/// cannot reuse the id ("a request with this id is in flight").
struct Forget<'a>(&'a Session);

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        lock(&self.0.state)
            .pending
            .retain(|_, answer| !answer.is_closed());
    }
}

/// What came back for one request.
enum Answer {
    /// The child's answer.
    Child(Value),
    /// The child ended first: the JSON-RPC error that says so.
    Exited(Value),
    /// No answer within the request timeout: the JSON-RPC error.
    TimedOut(Value),
}

impl Answer {
    fn into_value(self) -> Value {
        match self {
            Answer::Child(value) | Answer::Exited(value) | Answer::TimedOut(value) => value,
        }
    }
}

/// The end of a session's peer (its child exited, its stream ended): the
/// session is forgotten and what waits on it is told `why`.
fn forget(sessions: &Mutex<HashMap<String, Arc<Session>>>, session: &Session, why: &str) {
    // A session ended on purpose (a DELETE, an expiry) has stopped its peer
    // itself: that end is expected, and a warning for it would train an
    // operator to ignore the ones that matter (a child that crashed).
    if lock(&session.state).ended {
        tracing::debug!(
            target: "mcp_policy::upstream",
            session = session.id.as_str(),
            why,
            "the session's upstream ended, as asked"
        );
    } else {
        tracing::warn!(
            target: "mcp_policy::upstream",
            session = session.id.as_str(),
            why,
            "the session's upstream ended"
        );
    }
    lock(sessions).remove(&session.id);
    session.end(why);
}

/// A line from the child, to its waiting request or to the stream.
fn route(session: &Session, line: &str, limit: usize) {
    let line = line.trim();
    if line.is_empty() {
        return;
    }
    let Ok(message) = serde_json::from_str::<Value>(line) else {
        tracing::warn!(
            target: "mcp_policy::upstream",
            session = session.id.as_str(),
            "the child wrote a line that is not JSON; dropped"
        );
        return;
    };
    route_message(session, message, limit);
}

/// A message from the peer, to its waiting request, to the answer stream of
/// the request whose progress it is, or to the GET stream.
fn route_message(session: &Session, message: Value, limit: usize) {
    let is_answer = message.get("method").is_none()
        && (message.get("result").is_some() || message.get("error").is_some());
    if is_answer && let Some(id) = message.get("id") {
        let id = id.to_string();
        let waiting = {
            let mut state = lock(&session.state);
            // What the child writes after its answer is no progress of a
            // request in flight: not down that answer (it would come before
            // it), but where a stray message goes.
            state.progress.retain(|_, route| route.id != id);
            state.pending.remove(&id)
        };
        if let Some(waiting) = waiting {
            let _ = waiting.send(message);
            return;
        }
    }
    if message.get("method").and_then(Value::as_str) == Some(method::PROGRESS)
        && let Some(token) = message.pointer("/params/progressToken")
    {
        let stream = lock(&session.state)
            .progress
            .get(&token_key(token))
            .map(|route| route.send.clone());
        if let Some(stream) = stream {
            match stream.try_send(message) {
                Ok(()) => {}
                // A client that reads its answer too slowly: progress is
                // advisory, the answer still comes.
                Err(mpsc::error::TrySendError::Full(_)) => tracing::warn!(
                    target: "mcp_policy::upstream",
                    session = session.id.as_str(),
                    "the client reads its answer too slowly; a progress notification is dropped"
                ),
                // The client hung up on its answer.
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
            return;
        }
    }
    session.deliver(message, limit);
}

/// The session's GET stream: what the child starts, as SSE events. One at
/// a time: a second is refused with 409 while the first is open.
fn stream(session: &Session) -> Response<ProxyBody> {
    match lock(&session.state).outbox.open() {
        Ok(response) => response,
        Err(_) => plain(
            StatusCode::CONFLICT,
            "conflict: this session's stream is already open\n",
        ),
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl tower_service::Service<Request<Full<Bytes>>> for StdioUpstream {
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response<ProxyBody>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Full<Bytes>>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.handle(request).await) })
    }
}
