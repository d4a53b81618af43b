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
//! HTTP answer; requests and notifications the child starts (sampling,
//! elicitation, progress, logging, `list_changed`) go to the session's GET
//! stream (SSE), and the client's answers to them, POSTed back, to the
//! child. What the child writes to stderr is logged, prefixed with its
//! session.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{mpsc, oneshot};

use crate::respond::{empty, error, error_value, json_response, not_found, plain};
use crate::upstream::{BoxError, ProxyBody};

const SESSION_HEADER: &str = "mcp-session-id";

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
}

impl StdioConfig {
    pub fn new(command: Vec<String>) -> StdioConfig {
        StdioConfig {
            command,
            max_line_bytes: 16 * 1024 * 1024,
            request_timeout: Duration::from_secs(60),
            max_buffered_messages: 256,
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

/// One child and what waits on it.
#[derive(Debug)]
struct Session {
    id: String,
    stdin: tokio::sync::Mutex<ChildStdin>,
    state: Mutex<SessionState>,
    child: Mutex<Option<Child>>,
}

#[derive(Debug, Default)]
struct SessionState {
    /// Requests sent to the child, by their id's JSON text.
    pending: HashMap<String, oneshot::Sender<Value>>,
    /// The open GET stream, if any.
    stream: Option<mpsc::Sender<Value>>,
    /// Messages for a GET stream not open yet.
    buffered: std::collections::VecDeque<Value>,
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
            state.stream = None;
            std::mem::take(&mut state.pending)
        };
        for (id, waiting) in pending {
            let id: Value = serde_json::from_str(&id).unwrap_or(Value::Null);
            let _ = waiting.send(error(&id, why));
        }
        if let Some(mut child) = lock(&self.child).take() {
            let _ = child.start_kill();
        }
    }

    /// A message the child started: to the GET stream, or kept for it.
    fn deliver(&self, message: Value, limit: usize) {
        let mut state = lock(&self.state);
        if let Some(stream) = &state.stream {
            match stream.try_send(message) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(message)) => {
                    tracing::warn!(
                        target: "mcp_policy::upstream",
                        session = self.id.as_str(),
                        "the client reads its stream too slowly; a message is dropped"
                    );
                    drop(message);
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(message)) => {
                    state.stream = None;
                    state.buffered.push_back(message);
                }
            }
        } else {
            state.buffered.push_back(message);
        }
        while state.buffered.len() > limit {
            state.buffered.pop_front();
        }
    }
}

/// The stdio upstream: a `Service` like the HTTP one, behind the same layer.
#[derive(Clone, Debug)]
pub struct StdioUpstream {
    config: Arc<StdioConfig>,
    sessions: Arc<Mutex<HashMap<String, Arc<Session>>>>,
}

impl StdioUpstream {
    pub fn new(config: StdioConfig) -> Result<StdioUpstream, NoCommand> {
        if config.command.is_empty() {
            return Err(NoCommand);
        }
        Ok(StdioUpstream {
            config: Arc::new(config),
            sessions: Arc::default(),
        })
    }

    /// How many children run now.
    pub fn children(&self) -> usize {
        lock(&self.sessions).len()
    }

    fn session(&self, id: &str) -> Option<Arc<Session>> {
        lock(&self.sessions).get(id).cloned()
    }

    fn start(&self) -> std::io::Result<Arc<Session>> {
        let (program, args) = self
            .config
            .command
            .split_first()
            .ok_or_else(|| std::io::Error::other("no command"))?;
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(std::io::Error::other("the child's pipes are missing"));
        };
        let id = session_id()?;
        let session = Arc::new(Session {
            id: id.clone(),
            stdin: tokio::sync::Mutex::new(stdin),
            state: Mutex::default(),
            child: Mutex::new(Some(child)),
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
                    Err(LineError::TooLong) => {
                        break "the upstream process wrote an oversized message";
                    }
                    Err(LineError::Io) => break "the upstream process failed",
                }
            };
            tracing::warn!(
                target: "mcp_policy::upstream",
                session = reader.id.as_str(),
                why,
                "child ended"
            );
            lock(&sessions).remove(&reader.id);
            reader.end(why);
        });
        // Its stderr, into the log, line by line, prefixed with the session;
        // each line cut at STDERR_LINE_BYTES, so that a child writing
        // without a newline cannot grow the proxy's memory.
        let logged = id;
        tokio::spawn(async move {
            let mut stderr = tokio::io::BufReader::new(stderr);
            while let Ok(Some(line)) = read_log_line(&mut stderr, STDERR_LINE_BYTES).await {
                tracing::info!(
                    target: "mcp_policy::upstream::stderr",
                    session = logged.as_str(),
                    line = line.as_str(),
                );
            }
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
        let body = match request.into_body().collect().await {
            Ok(body) => body.to_bytes(),
            Err(never) => match never {},
        };
        match (method, session_id) {
            (Method::POST, None) => self.initialize(&body).await,
            (Method::POST, Some(id)) => match self.session(&id) {
                Some(session) => self.post(&session, &body).await,
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

    async fn initialize(&self, body: &Bytes) -> Response<ProxyBody> {
        let message: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        if message.get("method").and_then(Value::as_str) != Some("initialize") {
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
        let session = match self.start() {
            Ok(session) => session,
            Err(error) => {
                tracing::error!(target: "mcp_policy::upstream", %error, "the child could not be started");
                return json_response(
                    StatusCode::BAD_GATEWAY,
                    &error_value(message.get("id"), "upstream unavailable"),
                );
            }
        };
        let answers = match self
            .exchange(&session, std::slice::from_ref(&message))
            .await
        {
            Ok(answers) => answers,
            // A fresh session refuses a message only when its child has
            // ended already (a command that exits at once).
            Err(_) => {
                self.abandon(&session, "initialize failed");
                return json_response(
                    StatusCode::BAD_GATEWAY,
                    &error_value(message.get("id"), EXITED),
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
    /// its requests, or 202 when it holds none.
    async fn post(&self, session: &Session, body: &Bytes) -> Response<ProxyBody> {
        let Ok(parsed) = serde_json::from_slice::<Value>(body) else {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": "Parse error"}}),
            );
        };
        let (messages, batch) = match parsed {
            Value::Array(messages) => (messages, true),
            single => (vec![single], false),
        };
        let answers = match self.exchange(session, &messages).await {
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

    /// Writes `messages` to the child and waits for the answers to those
    /// that are requests, each within the request timeout.
    async fn exchange(
        &self,
        session: &Session,
        messages: &[Value],
    ) -> Result<Vec<Answer>, Response<ProxyBody>> {
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
        let written = {
            let mut stdin = session.stdin.lock().await;
            let mut written = true;
            for message in messages {
                let mut line = message.to_string();
                line.push('\n');
                if stdin.write_all(line.as_bytes()).await.is_err() {
                    written = false;
                    break;
                }
            }
            written && stdin.flush().await.is_ok()
        };
        if !written {
            session.end(EXITED);
        }
        // One deadline for the whole body: a batch of a thousand requests
        // the child ignores waits one timeout, not a thousand in turn.
        let deadline = tokio::time::Instant::now() + self.config.request_timeout;
        let mut answers = Vec::with_capacity(waiting.len());
        for (id, receive) in waiting {
            let answer = match tokio::time::timeout_at(deadline, receive).await {
                // `Session::end` answers what waits with its reason.
                Ok(Ok(answer)) if lock(&session.state).ended && answer.get("error").is_some() => {
                    Answer::Exited(answer)
                }
                Ok(Ok(answer)) => Answer::Child(answer),
                Ok(Err(_)) => Answer::Exited(error(&id, EXITED)),
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

const EXITED: &str = "the upstream process exited";

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
    let is_answer = message.get("method").is_none()
        && (message.get("result").is_some() || message.get("error").is_some());
    if is_answer && let Some(id) = message.get("id") {
        let waiting = lock(&session.state).pending.remove(&id.to_string());
        if let Some(waiting) = waiting {
            let _ = waiting.send(message);
            return;
        }
    }
    session.deliver(message, limit);
}

/// The session's GET stream: what the child starts, as SSE events. One at
/// a time: a second is refused with 409 while the first is open.
fn stream(session: &Session) -> Response<ProxyBody> {
    let (send, receive) = mpsc::channel(64);
    {
        let mut state = lock(&session.state);
        if state.stream.as_ref().is_some_and(|s| !s.is_closed()) {
            return plain(
                StatusCode::CONFLICT,
                "conflict: this session's stream is already open\n",
            );
        }
        while let Some(message) = state.buffered.pop_front() {
            let _ = send.try_send(message);
        }
        state.stream = Some(send);
    }
    let mut response = Response::new(SseBody { receive }.boxed_unsync());
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    response
}

struct SseBody {
    receive: mpsc::Receiver<Value>,
}

impl http_body::Body for SseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        match self.receive.poll_recv(cx) {
            Poll::Ready(Some(message)) => Poll::Ready(Some(Ok(http_body::Frame::data(
                Bytes::from(format!("event: message\ndata: {message}\n\n")),
            )))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

enum LineError {
    TooLong,
    Io,
}

/// One line, bounded: a child that writes without end is cut off, not
/// buffered without end.
async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    limit: usize,
) -> Result<Option<String>, LineError> {
    let mut line = Vec::new();
    loop {
        let available = reader.fill_buf().await.map_err(|_| LineError::Io)?;
        if available.is_empty() {
            return Ok((!line.is_empty()).then(|| String::from_utf8_lossy(&line).into_owned()));
        }
        let (taken, done) = match available.iter().position(|&b| b == b'\n') {
            Some(at) => (at + 1, true),
            None => (available.len(), false),
        };
        if line.len().saturating_add(taken) > limit.saturating_add(1) {
            return Err(LineError::TooLong);
        }
        line.extend_from_slice(available.get(..taken).unwrap_or_default());
        reader.consume(taken);
        if done {
            return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
        }
    }
}

/// A line of a child's stderr is logged up to this many bytes; the rest of
/// it is read and dropped.
const STDERR_LINE_BYTES: usize = 16 * 1024;

/// One line for the log: its first `limit` bytes, the rest skipped up to
/// the newline. Holds at most `limit` bytes however long the line is.
async fn read_log_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    limit: usize,
) -> std::io::Result<Option<String>> {
    let mut line = Vec::new();
    let mut cut = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            if line.is_empty() && !cut {
                return Ok(None);
            }
            break;
        }
        let (taken, done) = match available.iter().position(|&b| b == b'\n') {
            Some(at) => (at + 1, true),
            None => (available.len(), false),
        };
        let room = limit.saturating_sub(line.len());
        let kept = available.get(..taken.min(room)).unwrap_or_default();
        cut |= kept.len() < taken && !(done && kept.len() + 1 == taken);
        line.extend_from_slice(kept);
        reader.consume(taken);
        if done {
            break;
        }
    }
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    let mut text = String::from_utf8_lossy(&line).into_owned();
    if cut {
        text.push_str(" [cut]");
    }
    Ok(Some(text))
}

/// 128 random bits, hex: a session id nobody can guess.
fn session_id() -> std::io::Result<String> {
    use aws_lc_rs::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| std::io::Error::other("no randomness"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
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

#[cfg(test)]
mod tests {
    use super::read_log_line;

    #[tokio::test]
    async fn a_stderr_line_is_bounded_however_long() {
        // 8 MiB without a newline, then a short line.
        let mut input = vec![b'x'; 8 * 1024 * 1024];
        input.extend_from_slice(b"\nnext\r\n");
        input.extend_from_slice(b"last");
        let mut reader = tokio::io::BufReader::new(input.as_slice());
        let first = read_log_line(&mut reader, 100).await.unwrap().unwrap();
        assert_eq!(first, format!("{} [cut]", "x".repeat(100)));
        assert_eq!(
            read_log_line(&mut reader, 100).await.unwrap().unwrap(),
            "next"
        );
        assert_eq!(
            read_log_line(&mut reader, 100).await.unwrap().unwrap(),
            "last"
        );
        assert_eq!(read_log_line(&mut reader, 100).await.unwrap(), None);
        // A line of exactly the limit is not cut.
        let mut reader = tokio::io::BufReader::new(&b"abc\n"[..]);
        assert_eq!(read_log_line(&mut reader, 3).await.unwrap().unwrap(), "abc");
    }
}
