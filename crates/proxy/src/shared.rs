//! The shared stdio mode (`--stdio-mode shared`): one child for every
//! session, its messages multiplexed.
//!
//! Only for a server that keeps no per-client state: the child is one
//! process holding every user's state, so whatever it remembers of one
//! session (subscriptions, a log level, what its tools cache) the others
//! see. That is why it is not the default ([`crate::StdioMode`]).
//!
//! What makes the sessions look like connections of their own:
//!
//! - **Request ids.** Two clients both send id 1. Each request a client
//!   sends gets a proxy-unique number on the way in; the answer gets the
//!   client's id back, with its type and exact value (a string stays a
//!   string, `1` stays `1`), and goes to the session that asked only. A
//!   progress token is rewritten the same way (to the same number), and a
//!   client's `notifications/cancelled` names the rewritten id.
//! - **`initialize`.** The first session's `initialize` starts the child
//!   and initializes it; its answer is kept, and every later session is
//!   answered from it (with its own id) without the child seeing anything.
//!   `notifications/initialized` reaches the child once. So the child sees
//!   the first client's capabilities and protocol version.
//! - **What the child starts.** A progress notification goes to the session
//!   whose request carries the token: down that request's answer when it is
//!   answered as a stream (as in per-session mode), else to the session's
//!   GET stream; a notification that belongs to no
//!   session (`list_changed`, logging) goes to every session's GET stream.
//!   A request (sampling, elicitation, roots) goes to a session only when
//!   every request in flight is that one session's: then it is the one the
//!   child is working for. Otherwise no session can be told apart, and a
//!   request sent to the wrong user would show that user another's data
//!   (a sampling prompt) or let that user answer for another; so the child
//!   gets a JSON-RPC error back instead, and no client sees it. A client's
//!   answer is taken only from the session the request went to.
//! - **Crash.** When the child ends, every request waiting on it gets a
//!   JSON-RPC error, every session on it is gone (404, upon which a client
//!   starts a new one), and the next `initialize` starts a new child.
//!
//! The child outlives the sessions: `DELETE` ends a session, not the child,
//! which runs until it exits or the proxy stops.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use mcp_policy_evaluator::method;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin};
use tokio::sync::{mpsc, oneshot};

use crate::child::{
    Outbox, PROGRESS_CAPACITY, accepts_sse, lock, progress_response, progress_token, read_line,
    session_id, spawn,
};
use crate::respond::{empty, error, error_value, json_response, not_found, plain};
use crate::stdio::{NoCommand, StdioConfig};
use crate::upstream::ProxyBody;

const SESSION_HEADER: &str = "mcp-session-id";
/// Requests of the child's waiting on a client's answer, at most: a client
/// that never answers must not grow the proxy without end. Past it, the
/// child's next request is refused as one no session can take.
const MAX_ASKED: usize = 65_536;
/// The same, for one session: a client that never answers (a batch of a
/// thousand calls that each make the child ask) fills its own share, not
/// the child's, so it cannot get every other session's requests refused.
const MAX_ASKED_PER_SESSION: usize = 16;

/// The one child and what waits on it.
#[derive(Debug)]
struct Shared {
    stdin: tokio::sync::Mutex<ChildStdin>,
    state: Mutex<ChildState>,
    process: Mutex<Option<Child>>,
    /// The child's answer (its `result`) to the first `initialize`.
    initialized: std::sync::OnceLock<Value>,
}

#[derive(Debug, Default)]
struct ChildState {
    ended: bool,
    /// Requests sent to the child, by the proxy's id for them.
    pending: HashMap<u64, Pending>,
    /// Requests the child sent, by their id's JSON text: the session each
    /// went to, the only one whose answer is taken.
    asked: HashMap<String, String>,
    /// `notifications/initialized` went to the child.
    initialized_sent: bool,
}

#[derive(Debug)]
struct Pending {
    session: String,
    /// The client's own id, given back on the answer.
    id: Value,
    /// The client's own progress token, if its request had one.
    progress: Option<Value>,
    /// Where its progress goes when it is answered as a stream (one
    /// request asking for progress, from a client that accepts SSE);
    /// otherwise to its session's GET stream.
    stream: Option<mpsc::Sender<Value>>,
    answer: oneshot::Sender<Value>,
}

/// One MCP session on the shared child.
#[derive(Debug)]
struct Session {
    id: String,
    child: Arc<Shared>,
    state: Mutex<SessionState>,
}

#[derive(Debug, Default)]
struct SessionState {
    outbox: Outbox,
    ended: bool,
}

impl Session {
    fn end(&self) {
        let mut state = lock(&self.state);
        state.ended = true;
        state.outbox.close();
    }
}

type Sessions = Arc<Mutex<HashMap<String, Arc<Session>>>>;

/// The shared stdio upstream: a `Service` like the others, behind the same
/// layer, which binds each session to its principal.
#[derive(Clone, Debug)]
pub struct SharedUpstream {
    config: Arc<StdioConfig>,
    sessions: Sessions,
    current: Arc<Mutex<Option<Arc<Shared>>>>,
    /// Held while a child is started and initialized, so that concurrent
    /// first sessions start one child, not one each.
    starting: Arc<tokio::sync::Mutex<()>>,
    next_id: Arc<AtomicU64>,
}

impl SharedUpstream {
    pub fn new(config: StdioConfig) -> Result<SharedUpstream, NoCommand> {
        if config.command.is_empty() {
            return Err(NoCommand);
        }
        Ok(SharedUpstream {
            config: Arc::new(config),
            sessions: Arc::default(),
            current: Arc::default(),
            starting: Arc::default(),
            next_id: Arc::new(AtomicU64::new(1)),
        })
    }

    /// How many children run now: 0 or 1.
    pub fn children(&self) -> usize {
        usize::from(
            lock(&self.current)
                .as_ref()
                .is_some_and(|child| !lock(&child.state).ended),
        )
    }

    /// How many sessions are open.
    pub fn sessions(&self) -> usize {
        lock(&self.sessions).len()
    }

    fn session(&self, id: &str) -> Option<Arc<Session>> {
        lock(&self.sessions).get(id).cloned()
    }

    async fn handle(&self, request: Request<Full<Bytes>>) -> Response<ProxyBody> {
        let session_id = request
            .headers()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let method = request.method().clone();
        let streams_ok = accepts_sse(request.headers());
        let body = match request.into_body().collect().await {
            Ok(body) => body.to_bytes(),
            Err(never) => match never {},
        };
        match (method, session_id) {
            (Method::POST, None) => self.initialize(&body).await,
            (Method::POST, Some(id)) => match self.session(&id) {
                Some(session) => self.post(&session, &body, streams_ok).await,
                None => not_found(),
            },
            (Method::GET, Some(id)) => match self.session(&id) {
                Some(session) => match lock(&session.state).outbox.open() {
                    Ok(response) => response,
                    Err(_) => plain(
                        StatusCode::CONFLICT,
                        "conflict: this session's stream is already open\n",
                    ),
                },
                None => not_found(),
            },
            (Method::DELETE, Some(id)) => {
                let session = lock(&self.sessions).remove(&id);
                match session {
                    Some(session) => {
                        session.end();
                        // Its unanswered requests of the child's go with it.
                        lock(&session.child.state)
                            .asked
                            .retain(|_, asked| *asked != session.id);
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

    /// A new session: answered from the child's first `initialize` answer,
    /// starting and initializing the child first if none runs.
    async fn initialize(&self, body: &Bytes) -> Response<ProxyBody> {
        let message: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        if message.get("method").and_then(Value::as_str) != Some(method::INITIALIZE) {
            return plain(
                StatusCode::BAD_REQUEST,
                "bad request: a session starts with initialize\n",
            );
        }
        let client_id = message.get("id").cloned().unwrap_or(Value::Null);
        let (child, result) = match self.ready_child(&message).await {
            Ok(ready) => ready,
            Err(response) => return response,
        };
        let Ok(id) = session_id() else {
            return json_response(
                StatusCode::BAD_GATEWAY,
                &error(&client_id, "upstream unavailable"),
            );
        };
        let session = Arc::new(Session {
            id: id.clone(),
            child,
            state: Mutex::default(),
        });
        lock(&self.sessions).insert(id.clone(), session);
        let mut response = json_response(
            StatusCode::OK,
            &json!({"jsonrpc": "2.0", "id": client_id, "result": result}),
        );
        if let Ok(id) = HeaderValue::from_str(&id) {
            response.headers_mut().insert(SESSION_HEADER, id);
        }
        response
    }

    /// The running, initialized child and its `initialize` result; or a new
    /// one, initialized with this `initialize`.
    async fn ready_child(
        &self,
        message: &Value,
    ) -> Result<(Arc<Shared>, Value), Response<ProxyBody>> {
        let _starting = self.starting.lock().await;
        if let Some(child) = lock(&self.current).clone()
            && !lock(&child.state).ended
            && let Some(result) = child.initialized.get()
        {
            return Ok((Arc::clone(&child), result.clone()));
        }
        // A child started for an `initialize` whose client went away before
        // the answer (the wait was dropped) was never initialized: end it
        // rather than leave it running beside the new one.
        let stale = lock(&self.current).clone();
        if let Some(stale) = stale
            && stale.initialized.get().is_none()
        {
            end_child(&stale, &self.sessions, "initialize abandoned");
        }
        let client_id = message.get("id").cloned().unwrap_or(Value::Null);
        let child = match self.start() {
            Ok(child) => child,
            Err(error) => {
                tracing::error!(target: "mcp_policy::upstream", %error, "the child could not be started");
                return Err(json_response(
                    StatusCode::BAD_GATEWAY,
                    &error_value(Some(&client_id), "upstream unavailable"),
                ));
            }
        };
        let answers = self.send(&child, "", vec![message.clone()], None).await;
        let answer = answers.into_iter().next().unwrap_or(Value::Null);
        match answer.get("result") {
            Some(result) => {
                let _ = child.initialized.set(result.clone());
                Ok((child, result.clone()))
            }
            None => {
                // The child refused, or died: no session, and no child kept
                // that nobody initialized.
                end_child(&child, &self.sessions, "initialize failed");
                let answer = if answer.get("error").is_some() {
                    answer
                } else {
                    error(&client_id, "the upstream process exited")
                };
                Err(json_response(StatusCode::OK, &answer))
            }
        }
    }

    fn start(&self) -> std::io::Result<Arc<Shared>> {
        let spawned = spawn(&self.config.command, "shared".to_owned())?;
        let child = Arc::new(Shared {
            stdin: tokio::sync::Mutex::new(spawned.stdin),
            state: Mutex::default(),
            process: Mutex::new(Some(spawned.child)),
            initialized: std::sync::OnceLock::new(),
        });
        *lock(&self.current) = Some(Arc::clone(&child));
        tracing::info!(target: "mcp_policy::upstream", "shared child started");

        let reader = Arc::clone(&child);
        let sessions = Arc::clone(&self.sessions);
        let current = Arc::clone(&self.current);
        let config = Arc::clone(&self.config);
        let stdout = spawned.stdout;
        tokio::spawn(async move {
            let mut stdout = tokio::io::BufReader::new(stdout);
            let why = loop {
                match read_line(&mut stdout, config.max_line_bytes).await {
                    Ok(Some(line)) => {
                        route(&reader, &sessions, &line, config.max_buffered_messages);
                    }
                    Ok(None) => break "the upstream process exited",
                    Err(error) => break error.why(),
                }
            };
            tracing::warn!(target: "mcp_policy::upstream", why, "shared child ended");
            end_child(&reader, &sessions, why);
            let mut current = lock(&current);
            if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, &reader)) {
                *current = None;
            }
        });
        Ok(child)
    }

    /// A session's POST: its messages, rewritten, to the child; the answers
    /// to its requests, restored, back. A single request with a progress
    /// token, from a client that accepts SSE, is answered as a stream: its
    /// progress as it comes, then its answer (as in per-session mode).
    async fn post(&self, session: &Session, body: &Bytes, streams_ok: bool) -> Response<ProxyBody> {
        let Ok(parsed) = serde_json::from_slice::<Value>(body) else {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": "Parse error"}}),
            );
        };
        if lock(&session.state).ended {
            return not_found();
        }
        if streams_ok && progress_token(&parsed).is_some() {
            let (send, receive) = mpsc::channel(PROGRESS_CAPACITY);
            let (this, child, id) = (self.clone(), Arc::clone(&session.child), session.id.clone());
            let answers = async move { this.send(&child, &id, vec![parsed], Some(send)).await };
            return progress_response(Box::pin(answers), receive);
        }
        let (messages, batch) = match parsed {
            Value::Array(messages) => (messages, true),
            single => (vec![single], false),
        };
        let answers = self.send(&session.child, &session.id, messages, None).await;
        if answers.is_empty() {
            return empty(StatusCode::ACCEPTED);
        }
        if batch {
            json_response(StatusCode::OK, &Value::Array(answers))
        } else {
            let answer = answers.into_iter().next().unwrap_or(Value::Null);
            json_response(StatusCode::OK, &answer)
        }
    }

    /// Rewrites and writes `messages` from `session` to the child, and
    /// waits for the answers to the requests among them. `stream`: where
    /// the progress of the (one) request goes, if not the GET stream.
    async fn send(
        &self,
        child: &Shared,
        session: &str,
        messages: Vec<Value>,
        stream: Option<mpsc::Sender<Value>>,
    ) -> Vec<Value> {
        let mut answers = Vec::new();
        let mut waiting = Vec::new();
        let mut lines = String::new();
        {
            let mut state = lock(&child.state);
            if state.ended {
                return messages
                    .iter()
                    .filter(|m| m.get("method").is_some())
                    .filter_map(|m| m.get("id"))
                    .map(|id| error(id, "the upstream process exited"))
                    .collect();
            }
            for mut message in messages {
                match rewrite(&mut state, &mut message, session, &self.next_id) {
                    Outgoing::Request(proxy_id, id, receive) => {
                        if let Some(pending) = state.pending.get_mut(&proxy_id) {
                            pending.stream = stream.clone();
                        }
                        waiting.push((proxy_id, id, receive))
                    }
                    Outgoing::Answered(answer) => {
                        answers.push(answer);
                        continue;
                    }
                    Outgoing::Forward => {}
                    Outgoing::Drop => continue,
                }
                lines.push_str(&message.to_string());
                lines.push('\n');
            }
        }
        // Whatever ends the wait (the answers, the deadline, or the client
        // going away, which drops this future), nothing of it stays pending.
        let _forget = Forget {
            child,
            ids: waiting.iter().map(|(proxy_id, _, _)| *proxy_id).collect(),
        };
        // One deadline for the whole body: a batch of a thousand requests
        // the child ignores waits one timeout, not a thousand in turn.
        let deadline = tokio::time::Instant::now() + self.config.request_timeout;
        if !lines.is_empty() {
            // The write is bounded too: a child that stops reading its
            // stdin would otherwise hold the lock (every session's writes)
            // past any timeout. Half a line may be written, so the child
            // cannot be used any more: it is ended.
            let write = async {
                let mut stdin = child.stdin.lock().await;
                stdin.write_all(lines.as_bytes()).await.is_ok() && stdin.flush().await.is_ok()
            };
            match tokio::time::timeout_at(deadline, write).await {
                Ok(true) => {}
                // The reader sees the end too; the waiting get their errors
                // from whichever ends the child first.
                Ok(false) => end_child(child, &self.sessions, "the upstream process exited"),
                Err(_) => end_child(
                    child,
                    &self.sessions,
                    "the upstream process does not read its input",
                ),
            }
        }
        for (_, id, receive) in waiting {
            let answer = match tokio::time::timeout_at(deadline, receive).await {
                Ok(Ok(answer)) => answer,
                Ok(Err(_)) => error(&id, "the upstream process exited"),
                Err(_) => error(&id, "upstream timed out"),
            };
            answers.push(answer);
        }
        answers
    }

    /// Requests sent to the child and not yet answered, for tests.
    pub fn in_flight(&self) -> usize {
        lock(&self.current)
            .as_ref()
            .map_or(0, |child| lock(&child.state).pending.len())
    }

    /// The running child's pid, for tests and logs.
    pub fn child_id(&self) -> Option<u32> {
        let current = lock(&self.current).clone()?;
        lock(&current.process).as_ref().and_then(Child::id)
    }
}

/// Takes one body's requests out of `pending` when dropped. Without it a
/// client that sends requests the child never answers and hangs up would
/// leave an entry each, without end, and each would keep the child's own
/// requests from being routed to anyone (they would seem to be in flight).
struct Forget<'a> {
    child: &'a Shared,
    ids: Vec<u64>,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        let mut state = lock(&self.child.state);
        for id in &self.ids {
            state.pending.remove(id);
        }
    }
}

/// What becomes of one message from a client.
enum Outgoing {
    /// A request, its id rewritten: wait for the answer.
    Request(u64, Value, oneshot::Receiver<Value>),
    /// Answered by the proxy itself, never sent.
    Answered(Value),
    Forward,
    Drop,
}

fn rewrite(
    state: &mut ChildState,
    message: &mut Value,
    session: &str,
    next_id: &AtomicU64,
) -> Outgoing {
    let method = message
        .get("method")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let id = message.get("id").cloned();
    match (method.as_deref(), id) {
        // A second `initialize` would reset the child under every session.
        (Some(method::INITIALIZE), Some(id)) if !session.is_empty() => Outgoing::Answered(json!({
            "jsonrpc": "2.0", "id": id,
            "error": {"code": -32600, "message": "the session is already initialized"}
        })),
        // `initialize` as a notification means nothing to the protocol;
        // a child that took it anyway would be reset under every session.
        (Some(method::INITIALIZE), None) => Outgoing::Drop,
        (Some(_), Some(id)) => {
            let proxy_id = next_id.fetch_add(1, Ordering::Relaxed);
            let progress = message
                .pointer_mut("/params/_meta/progressToken")
                .map(|token| std::mem::replace(token, Value::from(proxy_id)));
            if let Some(slot) = message.get_mut("id") {
                *slot = Value::from(proxy_id);
            }
            let (answer, receive) = oneshot::channel();
            state.pending.insert(
                proxy_id,
                Pending {
                    session: session.to_owned(),
                    id: id.clone(),
                    progress,
                    stream: None,
                    answer,
                },
            );
            Outgoing::Request(proxy_id, id, receive)
        }
        (Some(method::INITIALIZED), None) => {
            if std::mem::replace(&mut state.initialized_sent, true) {
                Outgoing::Drop
            } else {
                Outgoing::Forward
            }
        }
        (Some(method::CANCELLED), None) => {
            let Some(cancelled) = message.pointer("/params/requestId").cloned() else {
                return Outgoing::Drop;
            };
            let proxy_id = state
                .pending
                .iter()
                .find(|(_, p)| p.session == session && p.id == cancelled)
                .map(|(proxy_id, _)| *proxy_id);
            match (proxy_id, message.pointer_mut("/params/requestId")) {
                (Some(proxy_id), Some(slot)) => {
                    *slot = Value::from(proxy_id);
                    Outgoing::Forward
                }
                _ => Outgoing::Drop,
            }
        }
        (Some(_), None) => Outgoing::Forward,
        // An answer to a request of the child's: only from the session it
        // went to.
        (None, Some(id)) => match state.asked.get(&id.to_string()) {
            Some(asked) if asked == session => {
                state.asked.remove(&id.to_string());
                Outgoing::Forward
            }
            _ => {
                tracing::warn!(
                    target: "mcp_policy::upstream",
                    session,
                    "an answer to no request of the child's sent to this session; dropped"
                );
                Outgoing::Drop
            }
        },
        (None, None) => Outgoing::Drop,
    }
}

/// Where one line from the child goes.
fn route(child: &Arc<Shared>, sessions: &Sessions, line: &str, limit: usize) {
    let line = line.trim();
    if line.is_empty() {
        return;
    }
    let Ok(mut message) = serde_json::from_str::<Value>(line) else {
        tracing::warn!(
            target: "mcp_policy::upstream",
            "the shared child wrote a line that is not JSON; dropped"
        );
        return;
    };
    let method = message
        .get("method")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let id = message.get("id").cloned();
    match (method.as_deref(), id) {
        (None, Some(id)) => {
            let waiting = id
                .as_u64()
                .and_then(|proxy_id| lock(&child.state).pending.remove(&proxy_id));
            match waiting {
                Some(waiting) => {
                    if let Some(slot) = message.get_mut("id") {
                        *slot = waiting.id;
                    }
                    let _ = waiting.answer.send(message);
                }
                None => tracing::warn!(
                    target: "mcp_policy::upstream",
                    "the shared child answered a request nobody waits for; dropped"
                ),
            }
        }
        (Some(_), Some(id)) => {
            // A request of the child's: to the one session it can be for.
            let target = {
                let mut state = lock(&child.state);
                let mut owners = state.pending.values().map(|p| p.session.as_str());
                let first = owners.next().map(str::to_owned);
                let one = first.filter(|first| {
                    owners.all(|o| o == first)
                        && !first.is_empty()
                        && state.asked.len() < MAX_ASKED
                        && state.asked.values().filter(|s| *s == first).count()
                            < MAX_ASKED_PER_SESSION
                });
                if let Some(session) = &one {
                    state.asked.insert(id.to_string(), session.clone());
                }
                one
            };
            let delivered =
                target.is_some_and(|session| deliver(sessions, &session, message, limit));
            if !delivered {
                let refusal = json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32603,
                    "message": "the proxy cannot tell which session this request is for"}});
                lock(&child.state).asked.remove(&id.to_string());
                // Not awaited here: while a client's write holds stdin (a
                // child slow to read), the reader must go on routing the
                // child's output, or neither side moves.
                let child = Arc::clone(child);
                tokio::spawn(async move {
                    let mut stdin = child.stdin.lock().await;
                    let _ = stdin.write_all(format!("{refusal}\n").as_bytes()).await;
                    let _ = stdin.flush().await;
                });
            }
        }
        (Some(method::PROGRESS), None) => {
            let target = message
                .pointer("/params/progressToken")
                .and_then(Value::as_u64)
                .and_then(|token| {
                    let state = lock(&child.state);
                    let pending = state.pending.get(&token)?;
                    Some((
                        pending.session.clone(),
                        pending.progress.clone()?,
                        pending.stream.clone(),
                    ))
                });
            match (target, message.pointer_mut("/params/progressToken")) {
                (Some((_, token, Some(stream))), Some(slot)) => {
                    *slot = token;
                    // Full: a client reading its answer too slowly loses
                    // progress, never the answer; closed: it hung up.
                    if let Err(mpsc::error::TrySendError::Full(_)) = stream.try_send(message) {
                        tracing::warn!(
                            target: "mcp_policy::upstream",
                            "the client reads its answer too slowly; a progress notification is dropped"
                        );
                    }
                }
                (Some((session, token, None)), Some(slot)) => {
                    *slot = token;
                    deliver(sessions, &session, message, limit);
                }
                _ => tracing::debug!(
                    target: "mcp_policy::upstream",
                    "progress for no request in flight; dropped"
                ),
            }
        }
        (Some(method::CANCELLED), None) => {
            // The child withdraws a request of its own: to where it went.
            let asked = message
                .pointer("/params/requestId")
                .and_then(|id| lock(&child.state).asked.remove(&id.to_string()));
            if let Some(session) = asked {
                deliver(sessions, &session, message, limit);
            }
        }
        (Some(_), None) => {
            // Belongs to no session: every session on this child hears it.
            let all: Vec<Arc<Session>> = lock(sessions)
                .values()
                .filter(|s| Arc::ptr_eq(&s.child, child))
                .cloned()
                .collect();
            for session in all {
                lock(&session.state)
                    .outbox
                    .deliver(message.clone(), limit, &session.id);
            }
        }
        (None, None) => {}
    }
}

/// To one session's GET stream; false if that session is gone.
fn deliver(sessions: &Sessions, session: &str, message: Value, limit: usize) -> bool {
    let Some(session) = lock(sessions).get(session).cloned() else {
        return false;
    };
    let mut state = lock(&session.state);
    if state.ended {
        return false;
    }
    state.outbox.deliver(message, limit, &session.id);
    true
}

/// The child is gone: every request waiting on it fails, every session on
/// it ends, the process is killed if it still runs.
fn end_child(child: &Shared, sessions: &Sessions, why: &str) {
    let pending = {
        let mut state = lock(&child.state);
        state.ended = true;
        state.asked.clear();
        std::mem::take(&mut state.pending)
    };
    for (_, waiting) in pending {
        let _ = waiting.answer.send(error(&waiting.id, why));
    }
    let ended: Vec<Arc<Session>> = {
        let mut sessions = lock(sessions);
        let ids: Vec<String> = sessions
            .iter()
            .filter(|(_, s)| std::ptr::eq(Arc::as_ptr(&s.child), child))
            .map(|(id, _)| id.clone())
            .collect();
        ids.iter().filter_map(|id| sessions.remove(id)).collect()
    };
    for session in ended {
        session.end();
    }
    if let Some(mut process) = lock(&child.process).take() {
        let _ = process.start_kill();
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl tower_service::Service<Request<Full<Bytes>>> for SharedUpstream {
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
