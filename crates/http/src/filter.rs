//! Filtering `tools/list`, `resources/list` and `prompts/list` answers to
//! what the caller may use, in JSON bodies and in SSE streams. Resource
//! templates (`resources/templates/list`) are not filtered: a template
//! names no resource the policy could decide.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame};
use mcp_policy_evaluator::{DECISION_LOG_TARGET, Request, ScopeSet, TargetKind};
use mcp_policy_token::Principal;
use serde_json::Value;

use crate::jsonrpc::{ParseError, parse_strict};
use crate::{BoxError, LoadedPolicy, ResponseBody};

/// What list answers are decided with.
///
/// An entry is shown when some arguments could be allowed
/// ([`Evaluator::may_allow`](mcp_policy_evaluator::Evaluator::may_allow)):
/// the caller's scopes and claims decide, and conditions on arguments are
/// assumed satisfiable (a list has no arguments to read). For a policy
/// without conditions, exactly what a call would be decided.
///
/// A message is filtered by its shape, not by its id: every response whose
/// `result` holds a `tools`, `resources` or `prompts` array is filtered,
/// whichever request it answers. Matching ids would trust the server to
/// answer with the ids it was asked (a batch can ask `tools/list` and
/// `prompts/list` under one id), and on a GET stream there is no request
/// to match at all: a resumed stream (`Last-Event-ID`) replays answers to
/// requests made on POSTs whose streams broke, perhaps before a restart
/// or at another replica. Filtering by shape fails closed: the worst it
/// does is hide entries of a result that was not a list answer.
#[derive(Debug)]
pub(crate) struct ListFilter {
    pub policy: Arc<LoadedPolicy>,
    pub scopes: ScopeSet,
    pub dry_run: bool,
    /// The caller: its claims decide conditions on `claim.NAME`.
    pub principal: Arc<Principal>,
}

/// The list method, the result's array, and the field the policy decides.
fn entries(kind: TargetKind) -> (&'static str, &'static str, &'static str) {
    (kind.list_method(), kind.list_field(), kind.name_field())
}

impl ListFilter {
    /// Filters `message` (a response, or a batch of them) when it holds a
    /// list answer; `true` when it did.
    pub fn filter_message(&self, message: &mut Value) -> bool {
        if let Value::Array(messages) = message {
            let mut any = false;
            for message in messages {
                any |= self.filter_one(message);
            }
            return any;
        }
        self.filter_one(message)
    }

    fn filter_one(&self, message: &mut Value) -> bool {
        let Some(object) = message.as_object_mut() else {
            return false;
        };
        // A request or notification of the server's is not an answer.
        if object.contains_key("method") {
            return false;
        }
        let Some(result) = object.get_mut("result").and_then(Value::as_object_mut) else {
            return false;
        };
        let mut any = false;
        for kind in TargetKind::ALL {
            let (method, array, field) = entries(kind);
            let Some(items) = result.get_mut(array).and_then(Value::as_array_mut) else {
                continue;
            };
            any = true;
            let evaluator = self.policy.evaluator();
            let before = items.len();
            let mut hidden: Vec<String> = Vec::new();
            items.retain(|item| {
                // An entry without a name is dropped: fail closed.
                let keep = item.get(field).and_then(Value::as_str).is_some_and(|name| {
                    evaluator.may_allow(
                        Request::new(kind, name),
                        &self.scopes,
                        Some(&self.principal.claims),
                    )
                });
                if !keep {
                    let name = item.get(field).and_then(Value::as_str).unwrap_or("");
                    hidden.push(name.to_owned());
                }
                keep || self.dry_run
            });
            tracing::info!(
                target: DECISION_LOG_TARGET,
                subject = self.principal.subject.as_str(),
                method,
                listed = before,
                hidden = %hidden.join(" "),
                dry_run = self.dry_run,
                "list filtered"
            );
        }
        any
    }

    /// A JSON body: one response or a batch. `None` when it is not JSON, or
    /// has a duplicate key (refused by the caller: fail closed).
    pub fn filter_json(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        let mut body = parse_strict(bytes).ok()?;
        self.filter_message(&mut body);
        serde_json::to_vec(&body).ok()
    }

    /// One SSE event's lines (without terminators): rewritten when its
    /// `data` is a list answer, else as they came.
    fn filter_event(&self, lines: &[Vec<u8>]) -> Vec<u8> {
        let mut data: Vec<&[u8]> = Vec::new();
        for line in lines {
            if let Some(value) = data_value(line) {
                data.push(value);
            }
        }
        let joined = data.join(&b'\n');
        let rewritten = match parse_strict(&joined) {
            Ok(mut message) => {
                if self.filter_message(&mut message) {
                    serde_json::to_vec(&message).ok()
                } else {
                    None
                }
            }
            // No data (a priming event, a comment): nothing to read.
            Err(ParseError::Syntax) if joined.iter().all(u8::is_ascii_whitespace) => None,
            // Data serde_json does not read, or reads one way of two, is
            // dropped: a client's parser may read it, and a list in it,
            // unfiltered. `JSON.parse` takes lone surrogates, nesting past
            // serde_json's limit of 128, and (after the SSE decoder's
            // replacement characters) bytes that are not UTF-8.
            Err(error) => {
                tracing::warn!(
                    target: "mcp_policy::http",
                    duplicate_key = error == ParseError::DuplicateKey,
                    "an SSE event whose data could not be read was dropped"
                );
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for line in lines {
            // A rewritten event keeps every field but its `data` lines.
            if rewritten.is_none() || data_value(line).is_none() {
                out.extend_from_slice(line);
                out.push(b'\n');
            }
        }
        if let Some(json) = rewritten {
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(&json);
            out.push(b'\n');
        }
        out.push(b'\n');
        out
    }
}

/// The value of a `data` field line, without the one optional space.
fn data_value(line: &[u8]) -> Option<&[u8]> {
    if line == b"data" {
        return Some(b"");
    }
    let value = line.strip_prefix(b"data:")?;
    Some(value.strip_prefix(b" ").unwrap_or(value))
}

/// A `text/event-stream` body whose list answers are filtered, event by
/// event, as they pass. An event still incomplete when the stream ends is
/// dropped (an SSE client discards it too); an event longer than the limit
/// ends the stream with an error.
pub(crate) struct SseFilter {
    inner: ResponseBody,
    filter: ListFilter,
    line: Vec<u8>,
    event: Vec<Vec<u8>>,
    event_bytes: usize,
    limit: usize,
    out: VecDeque<Bytes>,
    done: bool,
    /// The last chunk ended with a CR.
    after_cr: bool,
    /// The stream's first line is complete.
    started: bool,
}

const BOM: &[u8] = "\u{feff}".as_bytes();

impl std::fmt::Debug for SseFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseFilter").finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct EventTooLarge;

impl std::fmt::Display for EventTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an SSE event is longer than the response limit")
    }
}

impl std::error::Error for EventTooLarge {}

impl SseFilter {
    pub fn new(inner: ResponseBody, filter: ListFilter, limit: usize) -> SseFilter {
        SseFilter {
            inner,
            filter,
            line: Vec::new(),
            event: Vec::new(),
            event_bytes: 0,
            limit,
            out: VecDeque::new(),
            done: false,
            after_cr: false,
            started: false,
        }
    }

    /// Splits the stream into lines as an SSE client does (WHATWG HTML,
    /// "Parsing an event stream"): a line ends at CRLF, LF or a lone CR,
    /// and a byte-order mark opening the stream is not part of its first
    /// line. A filter that split otherwise would see other events than the
    /// client, and could pass a list answer unread.
    fn feed(&mut self, mut chunk: &[u8]) -> Result<(), BoxError> {
        // A CR that ended the previous chunk, and an LF opening this one,
        // end one line.
        if self.after_cr && !chunk.is_empty() {
            self.after_cr = false;
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
        }
        while let Some(end) = chunk.iter().position(|b| *b == b'\n' || *b == b'\r') {
            let (head, rest) = chunk.split_at(end);
            self.line.extend_from_slice(head);
            let cr = rest.first() == Some(&b'\r');
            chunk = rest.get(1..).unwrap_or_default();
            if cr {
                match chunk.first() {
                    Some(b'\n') => chunk = chunk.get(1..).unwrap_or_default(),
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            let mut line = std::mem::take(&mut self.line);
            if !self.started {
                self.started = true;
                if let Some(rest) = line.strip_prefix(BOM) {
                    line = rest.to_vec();
                }
            }
            if line.is_empty() {
                let event = std::mem::take(&mut self.event);
                self.event_bytes = 0;
                let filtered = self.filter.filter_event(&event);
                if !filtered.is_empty() {
                    self.out.push_back(Bytes::from(filtered));
                }
            } else {
                self.event_bytes += line.len();
                self.event.push(line);
            }
        }
        self.line.extend_from_slice(chunk);
        if self.event_bytes + self.line.len() > self.limit {
            return Err(Box::new(EventTooLarge));
        }
        Ok(())
    }
}

impl Body for SseFilter {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if let Some(bytes) = this.out.pop_front() {
                return Poll::Ready(Some(Ok(Frame::data(bytes))));
            }
            if this.done {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => this.done = true,
                Poll::Ready(Some(Err(error))) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(error)));
                }
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        if let Err(error) = this.feed(&data) {
                            this.done = true;
                            this.out.clear();
                            return Poll::Ready(Some(Err(error)));
                        }
                    }
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
            }
        }
    }
}
