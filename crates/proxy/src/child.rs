//! What both stdio modes share: starting a child with its stderr in the
//! log, reading its stdout one bounded line at a time, session ids, and the
//! GET stream (SSE) that carries what a child starts to a client.

use std::collections::VecDeque;
use std::pin::Pin;
use std::process::Stdio;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Response};
use http_body_util::BodyExt;
use serde_json::Value;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::mpsc;

use crate::upstream::{BoxError, ProxyBody};

/// A started child and its two pipes the proxy talks through.
pub(crate) struct Spawned {
    pub child: Child,
    pub stdin: ChildStdin,
    pub stdout: ChildStdout,
}

/// Starts `command`; what it writes to stderr is logged line by line under
/// `label` (its session, or "shared").
pub(crate) fn spawn(command: &[String], label: String) -> std::io::Result<Spawned> {
    let (program, args) = command
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
    tokio::spawn(async move {
        // Each line cut at STDERR_LINE_BYTES, so that a child writing
        // without a newline cannot grow the proxy's memory.
        let mut stderr = tokio::io::BufReader::new(stderr);
        while let Ok(Some(line)) = read_log_line(&mut stderr, STDERR_LINE_BYTES).await {
            tracing::info!(
                target: "mcp_policy::upstream::stderr",
                session = label.as_str(),
                line = line.as_str(),
            );
        }
    });
    Ok(Spawned {
        child,
        stdin,
        stdout,
    })
}

pub(crate) enum LineError {
    TooLong,
    Io,
}

impl LineError {
    /// Why the child's session ends, as its clients are told.
    pub(crate) fn why(&self) -> &'static str {
        match self {
            LineError::TooLong => "the upstream process wrote an oversized message",
            LineError::Io => "the upstream process failed",
        }
    }
}

/// One line, bounded: a child that writes without end is cut off, not
/// buffered without end.
pub(crate) async fn read_line<R: AsyncBufRead + Unpin>(
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

/// 128 random bits, hex: a session id nobody can guess.
pub(crate) fn session_id() -> std::io::Result<String> {
    use aws_lc_rs::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| std::io::Error::other("no randomness"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Messages on their way down an open GET stream, at most, beyond what was
/// kept for it: past it (a client that reads too slowly) they are dropped.
const STREAM_CAPACITY: usize = 64;

/// A session's way to its client for what the child starts: the open GET
/// stream, or, while none is open, a bounded queue kept for the next one.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    stream: Option<mpsc::Sender<Value>>,
    buffered: VecDeque<Value>,
}

/// Why a GET stream was not opened.
pub(crate) struct AlreadyOpen;

impl Outbox {
    /// To the GET stream, or kept for it (the oldest dropped past `limit`).
    pub(crate) fn deliver(&mut self, message: Value, limit: usize, session: &str) {
        if let Some(stream) = &self.stream {
            match stream.try_send(message) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(message)) => {
                    tracing::warn!(
                        target: "mcp_policy::upstream",
                        session,
                        "the client reads its stream too slowly; a message is dropped"
                    );
                    drop(message);
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(message)) => {
                    self.stream = None;
                    self.buffered.push_back(message);
                }
            }
        } else {
            self.buffered.push_back(message);
        }
        while self.buffered.len() > limit {
            self.buffered.pop_front();
        }
    }

    /// Opens the GET stream, with what was kept for it. One at a time.
    pub(crate) fn open(&mut self) -> Result<Response<ProxyBody>, AlreadyOpen> {
        if self.stream.as_ref().is_some_and(|s| !s.is_closed()) {
            return Err(AlreadyOpen);
        }
        // Room for everything kept: a channel of 64 took the oldest 64 of
        // the (up to `max_buffered_messages`) kept and dropped the newest.
        let (send, receive) = mpsc::channel(STREAM_CAPACITY.max(self.buffered.len()));
        while let Some(message) = self.buffered.pop_front() {
            let _ = send.try_send(message);
        }
        self.stream = Some(send);
        Ok(sse_response(receive))
    }

    /// Ends the GET stream (the session is over).
    pub(crate) fn close(&mut self) {
        self.stream = None;
        self.buffered.clear();
    }
}

/// An SSE answer whose events are the messages `receive` yields.
pub(crate) fn sse_response(receive: mpsc::Receiver<Value>) -> Response<ProxyBody> {
    event_stream(SseBody { receive }.boxed_unsync())
}

/// A 200 whose body is an event stream, not to be cached.
fn event_stream(body: ProxyBody) -> Response<ProxyBody> {
    let mut response = Response::new(body);
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

/// Progress notifications waiting to go down one answer stream, at most.
pub(crate) const PROGRESS_CAPACITY: usize = 64;

/// What a request's answer stream waits on: its answer(s), sent last.
pub(crate) type Answers = Pin<Box<dyn std::future::Future<Output = Vec<Value>> + Send>>;

/// The SSE answer to one request that asked for progress: each progress
/// notification `progress` yields as it comes, then what `answers` gives,
/// then the end. Progress that came before the answer goes before it (the
/// child's order): a client stops listening for progress once answered.
///
/// The request runs as a task of its own: were it driven by the body, a
/// client that stops reading (its stream full of progress) would stop it
/// too, and it would never time out, nor leave the requests in flight. The
/// task is aborted when the body is dropped (the client hung up).
pub(crate) fn progress_response(
    answers: Answers,
    progress: mpsc::Receiver<Value>,
) -> Response<ProxyBody> {
    let body = ProgressBody {
        answers: Some(Task(tokio::spawn(answers))),
        progress,
        queue: VecDeque::new(),
    };
    event_stream(body.boxed_unsync())
}

/// A request's task, aborted when its answer stream is dropped.
struct Task(tokio::task::JoinHandle<Vec<Value>>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct ProgressBody {
    /// `None` once answered: then `queue` holds what is left to send.
    answers: Option<Task>,
    progress: mpsc::Receiver<Value>,
    queue: VecDeque<Value>,
}

/// One SSE event of a JSON-RPC message, as every stream here writes it.
fn event(message: &Value) -> http_body::Frame<Bytes> {
    http_body::Frame::data(Bytes::from(format!("event: message\ndata: {message}\n\n")))
}

impl http_body::Body for ProgressBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Some(answers) = &mut this.answers {
            if let Poll::Ready(Some(message)) = this.progress.poll_recv(cx) {
                return Poll::Ready(Some(Ok(event(&message))));
            }
            let Poll::Ready(answered) = Pin::new(&mut answers.0).poll(cx) else {
                return Poll::Pending;
            };
            // A task that did not finish (it cannot panic; the runtime is
            // shutting down): the stream ends without an answer.
            let answered = answered.unwrap_or_default();
            this.answers = None;
            // The child wrote these before its answer: they go first.
            while let Ok(message) = this.progress.try_recv() {
                this.queue.push_back(message);
            }
            this.progress.close();
            this.queue.extend(answered);
        }
        Poll::Ready(this.queue.pop_front().map(|message| Ok(event(&message))))
    }
}

impl http_body::Body for SseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        self.receive
            .poll_recv(cx)
            .map(|message| message.map(|message| Ok(event(&message))))
    }
}

/// The progress token of a body that is one request asking for progress,
/// as JSON text (the key the child's notifications are matched by).
pub(crate) fn progress_token(body: &Value) -> Option<String> {
    body.get("id").filter(|id| !id.is_null())?;
    body.get("method")?;
    body.pointer("/params/_meta/progressToken")
        .filter(|token| token.is_string() || token.is_number())
        .map(token_key)
}

/// A progress token as the key its notifications are matched by: its JSON
/// text, but a number by its value. The proxy sends the child `1e2` as
/// `100.0` and a child in JavaScript says `100` back; that is still the
/// request's progress. A string stays apart from a number (`"1"` is not 1).
pub(crate) fn token_key(token: &Value) -> String {
    match token {
        Value::Number(number) if number.is_f64() => match number.as_f64() {
            // Whole, and within i64: the integer it is (the cast is exact).
            #[allow(clippy::cast_possible_truncation)]
            Some(value) if value.fract() == 0.0 && value.abs() < 9.2e18 => {
                (value as i64).to_string()
            }
            _ => token.to_string(),
        },
        _ => token.to_string(),
    }
}

/// Whether the client takes an SSE answer to its POST (MCP clients must
/// accept both JSON and SSE; one that says only JSON gets JSON).
pub(crate) fn accepts_sse(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|kind| {
            kind.split(';')
                .next()
                .is_some_and(|kind| kind.trim().eq_ignore_ascii_case("text/event-stream"))
        })
}

/// A lock whose holder panicked is still usable: every state behind one is
/// left whole between statements.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
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
