//! Recorded calls: one JSON object a line (docs/trace-format.md), read as a
//! stream.
//!
//! A line is either a flat record written by hand or by another tool, or the
//! runtime's decision log as `tracing-subscriber`'s JSON formatter writes it
//! (the decision's fields under `fields`, the event's `target` beside them).
//! Both carry the same field names, so one reader takes both.
//!
//! The reader holds one line at a time in one reused buffer, and refuses
//! lines longer than [`MAX_LINE_BYTES`] without buffering them: memory does
//! not grow with the trace, nor with its longest line.

use std::borrow::Cow;
use std::fmt;
use std::io::{BufRead, ErrorKind};

use mcp_policy_evaluator::{DECISION_LOG_TARGET, Request, TargetKind};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::claims;

/// The longest line read, in bytes, its line terminator excluded.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// One recorded call: who made it, what it asked for, and what the server
/// decided if the record says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// 1-based line number in the trace.
    pub line: u64,
    /// `subject`, else the `sub` claim.
    pub subject: Option<String>,
    /// `client`, else the `client_id` or `azp` claim; an empty one is none.
    pub client: Option<String>,
    /// The principal's scopes as granted, undeclared ones included: another
    /// policy may declare them.
    pub scopes: Vec<String>,
    pub kind: TargetKind,
    /// The tool or prompt name, or the resource URI.
    pub name: String,
    /// What the server decided, when the record carries a `decision`.
    pub recorded: Option<Recorded>,
    /// The arguments the decision read, as logged (`arguments`): only
    /// those, so a path absent here was absent from the call or not read.
    pub arguments: Option<Map<String, Value>>,
    /// The decision read arguments too large to log (`arguments_omitted`):
    /// no decision that reads an argument can be made from this line.
    pub arguments_omitted: bool,
    /// The token's claims, when the record carries them (`claims`): flat
    /// records may; the runtime's log does not (no claim's value is
    /// logged), so conditions on claims cannot be replayed from it.
    pub claims: Option<Map<String, Value>>,
}

impl Record {
    pub fn request(&self) -> Request<'_> {
        Request::new(self.kind, &self.name)
    }

    /// The scopes as a `scope` claim spells them.
    pub fn scope_string(&self) -> String {
        self.scopes.join(" ")
    }
}

/// The decision a record says the server made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    pub allowed: bool,
    /// The deciding rule's text as logged, `default` when the policy's
    /// default decided; `None` when the record names no rule.
    pub rule: Option<String>,
}

impl Recorded {
    /// The recorded rule, `None` when the default decided or no rule is
    /// recorded: as [`Replayed::rule`](crate::replay::Replayed::rule) reads.
    pub fn rule_text(&self) -> Option<&str> {
        self.rule.as_deref().filter(|rule| *rule != "default")
    }
}

/// A line that could not be read as a record, or a read that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceError {
    /// 1-based line number; for a failed read, the line being read.
    pub line: u64,
    pub message: String,
    pub kind: TraceErrorKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceErrorKind {
    /// The line is not a record (bad JSON, an unknown method, no name, ...).
    /// Reading goes on with the next line.
    Malformed,
    /// The line is longer than [`MAX_LINE_BYTES`]; it was skipped unread.
    /// Reading goes on with the next line.
    TooLong,
    /// Reading failed; the reader ends after this error.
    Io,
}

impl TraceError {
    /// `true` when nothing more can be read.
    pub fn is_fatal(&self) -> bool {
        self.kind == TraceErrorKind::Io
    }
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for TraceError {}

/// Reads records from a trace, one line at a time.
///
/// An iterator of records and errors; lines that hold no call (blank lines,
/// other events of the runtime's log) are counted by [`TraceReader::skipped`]
/// and yield nothing.
#[derive(Debug)]
pub struct TraceReader<R> {
    input: R,
    buffer: Vec<u8>,
    line: u64,
    bytes: u64,
    skipped: u64,
    done: bool,
}

/// One line's bytes, or why there are none.
enum Line {
    Read,
    TooLong,
    End,
}

impl<R: BufRead> TraceReader<R> {
    pub fn new(input: R) -> TraceReader<R> {
        TraceReader {
            input,
            buffer: Vec::new(),
            line: 0,
            bytes: 0,
            skipped: 0,
            done: false,
        }
    }

    /// Lines read so far, whatever they held.
    pub fn lines(&self) -> u64 {
        self.line
    }

    /// Bytes read so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Lines read so far that hold no call to replay.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// The next line into `self.buffer`, its terminator removed. A line over
    /// the limit is consumed without being kept.
    fn read_line(&mut self) -> std::io::Result<Line> {
        self.buffer.clear();
        let mut too_long = false;
        let mut any = false;
        loop {
            let available = match self.input.fill_buf() {
                Ok(available) => available,
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            };
            if available.is_empty() {
                break;
            }
            any = true;
            let newline = available.iter().position(|byte| *byte == b'\n');
            let (chunk, used) = match newline {
                Some(at) => (available.get(..at).unwrap_or_default(), at + 1),
                None => (available, available.len()),
            };
            if !too_long {
                if self.buffer.len() + chunk.len() > MAX_LINE_BYTES {
                    too_long = true;
                    // Give back what a long line took: the next lines are
                    // likely short.
                    self.buffer = Vec::new();
                } else {
                    self.buffer.extend_from_slice(chunk);
                }
            }
            self.input.consume(used);
            self.bytes += used as u64;
            if newline.is_some() {
                break;
            }
        }
        if !any {
            return Ok(Line::End);
        }
        self.line += 1;
        if too_long {
            return Ok(Line::TooLong);
        }
        if self.buffer.last() == Some(&b'\r') {
            self.buffer.pop();
        }
        Ok(Line::Read)
    }
}

impl<R: BufRead> Iterator for TraceReader<R> {
    type Item = Result<Record, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let line = match self.read_line() {
                Ok(line) => line,
                Err(error) => {
                    self.done = true;
                    return Some(Err(TraceError {
                        line: self.line + 1,
                        message: format!("cannot read the trace: {error}"),
                        kind: TraceErrorKind::Io,
                    }));
                }
            };
            match line {
                Line::End => self.done = true,
                Line::TooLong => {
                    return Some(Err(TraceError {
                        line: self.line,
                        message: format!("line longer than {MAX_LINE_BYTES} bytes"),
                        kind: TraceErrorKind::TooLong,
                    }));
                }
                Line::Read => match parse_line(&self.buffer, self.line) {
                    Ok(Some(record)) => return Some(Ok(record)),
                    Ok(None) => self.skipped += 1,
                    Err(message) => {
                        return Some(Err(TraceError {
                            line: self.line,
                            message,
                            kind: TraceErrorKind::Malformed,
                        }));
                    }
                },
            }
        }
        None
    }
}

/// A string field, borrowed from the line when it has no escapes: most
/// fields are only looked at, and a replay reads millions of them.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(text)))
            }
            fn visit_str<E>(self, text: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(text.to_owned())))
            }
            fn visit_string<E>(self, text: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(text)))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

impl Text<'_> {
    fn as_str(&self) -> &str {
        &self.0
    }

    fn into_string(self) -> String {
        self.0.into_owned()
    }
}

/// The fields a line may carry, flat or under the envelope's `fields`.
/// Unknown fields (a timestamp, `level`, spans, fields of later versions)
/// are ignored.
#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(borrow)]
    target: Option<Text<'a>>,
    #[serde(borrow)]
    fields: Option<Box<Fields<'a>>>,
    #[serde(borrow)]
    subject: Option<Text<'a>>,
    #[serde(borrow)]
    client: Option<Text<'a>>,
    scopes: Option<Value>,
    claims: Option<Map<String, Value>>,
    #[serde(borrow)]
    method: Option<Text<'a>>,
    #[serde(borrow)]
    name: Option<Text<'a>>,
    #[serde(borrow)]
    uri: Option<Text<'a>>,
    #[serde(borrow)]
    decision: Option<Text<'a>>,
    #[serde(borrow)]
    rule: Option<Text<'a>>,
    /// Present on the runtime's "list filtered" events only.
    listed: Option<Value>,
    /// The arguments the decision read: compact JSON in a string, as the
    /// runtime logs them, or an object in a flat record.
    arguments: Option<Value>,
    arguments_omitted: Option<Value>,
}

/// A record, `None` for a line that holds no call, or why the line is
/// malformed.
fn parse_line(bytes: &[u8], line: u64) -> Result<Option<Record>, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| "the line is not UTF-8".to_owned())?;
    // serde reads a struct from an array too, by position: refuse it first.
    if !text.trim_start().starts_with('{') {
        return Err("not a JSON object".to_owned());
    }
    let outer: Fields<'_> = serde_json::from_str(text).map_err(|error| json_message(&error))?;
    let fields = match outer.fields {
        Some(inner) => {
            if outer
                .target
                .as_ref()
                .map(Text::as_str)
                .is_some_and(|target| target != DECISION_LOG_TARGET)
            {
                return Ok(None);
            }
            *inner
        }
        None => outer,
    };
    record(fields, line)
}

/// serde_json's message without its position: the line is ours to count,
/// and within it the column is what helps.
fn json_message(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let message = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(message, _)| message);
    format!("invalid JSON at column {}: {message}", error.column())
}

fn record(fields: Fields<'_>, line: u64) -> Result<Option<Record>, String> {
    // The runtime's other events on the decision target: a rejected token,
    // an invalid message, a filtered list. None of them is a call to replay.
    if fields.listed.is_some() {
        return Ok(None);
    }
    let recorded = match fields.decision.as_ref().map(Text::as_str) {
        None => None,
        Some("allow") => Some(true),
        Some("deny") => Some(false),
        Some("unauthenticated" | "invalid") => return Ok(None),
        Some(other) => {
            return Err(format!(
                "unknown decision `{other}` (expected `allow` or `deny`)"
            ));
        }
    };
    let method = fields
        .method
        .as_ref()
        .map(Text::as_str)
        .ok_or_else(|| "no `method`".to_owned())?;
    let kind = TargetKind::of_method(method).ok_or_else(|| {
        format!(
            "unknown method `{method}` (expected `{}`, `{}` or `{}`)",
            TargetKind::Tool.method(),
            TargetKind::Resource.method(),
            TargetKind::Prompt.method()
        )
    })?;
    let name = match (fields.name, fields.uri, kind) {
        (Some(name), _, _) => name,
        (None, Some(uri), TargetKind::Resource) => uri,
        (None, _, TargetKind::Resource) => return Err("no `name` or `uri`".to_owned()),
        (None, _, _) => return Err("no `name`".to_owned()),
    };
    let arguments = match fields.arguments {
        None | Some(Value::Null) => None,
        Some(Value::Object(arguments)) => Some(arguments),
        // As the runtime writes them: the JSON text of an object.
        Some(Value::String(text)) => match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(arguments)) => Some(arguments),
            _ => {
                return Err(
                    "`arguments` is not a JSON object (nor the JSON text of one)".to_owned(),
                );
            }
        },
        Some(_) => {
            return Err("`arguments` is not a JSON object (nor the JSON text of one)".to_owned());
        }
    };
    let arguments_omitted = match fields.arguments_omitted {
        None | Some(Value::Null) => false,
        Some(Value::Number(_)) => true,
        Some(_) => return Err("`arguments_omitted` is not a number".to_owned()),
    };
    let carried_claims = fields.claims.clone();
    let claims = fields.claims.unwrap_or_default();
    let has_claims = !claims.is_empty();
    let scopes = match (fields.scopes, has_claims) {
        (Some(_), true) => {
            return Err("both `scopes` and `claims`: give the principal's scopes once".to_owned());
        }
        (Some(scopes), false) => scope_list(scopes)?,
        (None, true) => claims::scopes_from_claims(&claims).map_err(|_| {
            "the scope claim (`scope`, `scp` or `permissions`) is not a string or an array of strings"
                .to_owned()
        })?,
        (None, false) => {
            return Err(
                "no `scopes` or `claims`: the principal's scopes are needed to replay".to_owned(),
            );
        }
    };
    let claim = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
    let subject = fields
        .subject
        .map(Text::into_string)
        .or_else(|| claim("sub"))
        .filter(|subject| !subject.is_empty());
    let client = fields
        .client
        .map(Text::into_string)
        .or_else(|| claim("client_id"))
        .or_else(|| claim("azp"))
        .filter(|client| !client.is_empty());
    let recorded = recorded.map(|allowed| Recorded {
        allowed,
        rule: fields
            .rule
            .filter(|rule| !rule.as_str().is_empty())
            .map(Text::into_string),
    });
    Ok(Some(Record {
        line,
        subject,
        client,
        scopes,
        kind,
        name: name.into_string(),
        recorded,
        arguments,
        arguments_omitted,
        claims: carried_claims,
    }))
}

/// `scopes`: a space-separated string, as the runtime logs it and as a
/// `scope` claim holds it, or an array of strings.
fn scope_list(value: Value) -> Result<Vec<String>, String> {
    match value {
        Value::String(scopes) => Ok(mcp_policy_evaluator::scope_tokens(&scopes)
            .map(str::to_owned)
            .collect()),
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::String(scope) => Ok(scope),
                _ => Err("`scopes` holds something other than a string".to_owned()),
            })
            .collect(),
        _ => Err("`scopes` is not a string or an array of strings".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn read(text: &str) -> (Vec<Result<Record, TraceError>>, u64) {
        let mut reader = TraceReader::new(text.as_bytes());
        let items = reader.by_ref().collect();
        (items, reader.skipped())
    }

    fn one(line: &str) -> Result<Record, TraceError> {
        let (mut items, _) = read(line);
        assert_eq!(items.len(), 1, "{line}");
        items.remove(0)
    }

    fn message(line: &str) -> String {
        one(line).unwrap_err().message
    }

    #[test]
    fn reads_a_flat_record() {
        let record = one(
            r#"{"subject":"alice","client":"cli","scopes":"mcp:read  github:issues","method":"tools/call","name":"close_issue","decision":"deny","rule":"tool close_issue requires all_of(mcp:write, github:issues)"}"#,
        )
        .unwrap();
        assert_eq!(
            record,
            Record {
                line: 1,
                subject: Some("alice".into()),
                client: Some("cli".into()),
                scopes: vec!["mcp:read".into(), "github:issues".into()],
                kind: TargetKind::Tool,
                name: "close_issue".into(),
                recorded: Some(Recorded {
                    allowed: false,
                    rule: Some("tool close_issue requires all_of(mcp:write, github:issues)".into()),
                }),
                arguments: None,
                arguments_omitted: false,
                claims: None,
            }
        );
        assert_eq!(record.request(), Request::CallTool("close_issue"));
        assert_eq!(record.scope_string(), "mcp:read github:issues");
    }

    #[test]
    fn reads_logged_arguments_as_json_text_or_an_object() {
        let logged = one(
            r#"{"fields":{"scopes":"fs:read","method":"tools/call","name":"read_file","decision":"deny","arguments":"{\"path\":\"/workspace/../etc\"}"},"target":"mcp_policy::decision"}"#,
        )
        .unwrap();
        assert_eq!(
            logged.arguments,
            serde_json::json!({"path": "/workspace/../etc"})
                .as_object()
                .cloned()
        );
        assert!(!logged.arguments_omitted);
        assert_eq!(logged.claims, None);
        let flat = one(
            r#"{"scopes":"fs:read","method":"tools/call","name":"read_file","arguments":{"path":"/a"},"claims":{"sub":"alice","scope":"fs:read"}}"#,
        );
        // Both scopes and claims: still one principal's scopes twice.
        assert!(flat.is_err());
        let flat = one(
            r#"{"method":"tools/call","name":"read_file","arguments":{"path":"/a"},"claims":{"sub":"alice","scope":"fs:read"}}"#,
        )
        .unwrap();
        assert_eq!(flat.arguments.unwrap()["path"], "/a");
        assert_eq!(flat.claims.unwrap()["sub"], "alice");
        let omitted =
            one(r#"{"scopes":"","method":"tools/call","name":"t","arguments_omitted":70000}"#)
                .unwrap();
        assert!(omitted.arguments_omitted);
        assert_eq!(omitted.arguments, None);
        for bad in [r#""[1]""#, r#""{\"a\":""#, "[1]", "\"x\"", "3"] {
            let line =
                format!(r#"{{"scopes":"","method":"tools/call","name":"t","arguments":{bad}}}"#);
            assert!(
                message(&line).contains("`arguments` is not a JSON object"),
                "{line}"
            );
        }
        assert!(
            message(r#"{"scopes":"","method":"tools/call","name":"t","arguments_omitted":"x"}"#)
                .contains("`arguments_omitted`")
        );
    }

    #[test]
    fn reads_the_runtime_envelope() {
        let line = r#"{"timestamp":"2025-01-01T00:00:00Z","level":"INFO","fields":{"message":"policy decision","subject":"user-1","client":"","scopes":"","method":"resources/read","name":"repo://a/b","decision":"allow","rule":"default","missing":"","mode":"enforce"},"target":"mcp_policy::decision"}"#;
        let record = one(line).unwrap();
        assert_eq!(record.subject.as_deref(), Some("user-1"));
        assert_eq!(record.client, None);
        assert!(record.scopes.is_empty());
        assert_eq!(record.request(), Request::ReadResource("repo://a/b"));
        let recorded = record.recorded.unwrap();
        assert!(recorded.allowed);
        assert_eq!(recorded.rule.as_deref(), Some("default"));
        assert_eq!(recorded.rule_text(), None);
    }

    #[test]
    fn reads_claims_as_the_validator_does() {
        let record = one(
            r#"{"claims":{"sub":"svc","azp":"batch","scp":["mcp:read","github:repos"]},"method":"resources/read","uri":"repo://x"}"#,
        )
        .unwrap();
        assert_eq!(record.subject.as_deref(), Some("svc"));
        assert_eq!(record.client.as_deref(), Some("batch"));
        assert_eq!(record.scopes, ["mcp:read", "github:repos"]);
        assert_eq!(record.name, "repo://x");
        assert_eq!(record.recorded, None);
        let permissions =
            one(r#"{"claims":{"permissions":["a"]},"method":"prompts/get","name":"p"}"#).unwrap();
        assert_eq!(permissions.scopes, ["a"]);
        assert_eq!(permissions.subject, None);
        let array =
            one(r#"{"scopes":["a","b"],"method":"prompts/get","name":"p","subject":"s"}"#).unwrap();
        assert_eq!(array.scopes, ["a", "b"]);
    }

    #[test]
    fn lines_without_a_call_are_skipped() {
        let trace = [
            "",
            "   ",
            r#"{"fields":{"message":"policy replaced","generation":2},"target":"mcp_policy::reload"}"#,
            r#"{"fields":{"message":"token rejected","decision":"unauthenticated","rejection":"expired"},"target":"mcp_policy::decision"}"#,
            r#"{"fields":{"message":"policy decision","subject":"u","client":"","scopes":"","method":"","name":"","decision":"invalid"},"target":"mcp_policy::decision"}"#,
            r#"{"fields":{"message":"list filtered","subject":"u","method":"tools/list","listed":6,"hidden":"a b","dry_run":false},"target":"mcp_policy::decision"}"#,
        ]
        .join("\n");
        let (items, skipped) = read(&trace);
        assert!(items.is_empty(), "{items:?}");
        assert_eq!(skipped, 6);
    }

    #[test]
    fn malformed_lines_are_errors_with_their_line_and_reading_goes_on() {
        let trace = "{\"scopes\":\"\",\"method\":\"tools/call\",\"name\":\"a\"}\r\nnot json\n{\"scopes\":\"\",\"method\":\"tools/call\",\"name\":\"b\"}";
        let (items, _) = read(trace);
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].as_ref().unwrap().name, "a");
        let error = items[1].as_ref().unwrap_err();
        assert_eq!(error.line, 2);
        assert_eq!(error.kind, TraceErrorKind::Malformed);
        assert_eq!(error.message, "not a JSON object", "{error}");
        assert_eq!(items[2].as_ref().unwrap().line, 3);
    }

    #[test]
    fn malformed_records_say_what_is_wrong() {
        let cases = [
            (
                r#"{"scopes":"","method":"tools/cal","name":"a"}"#,
                "unknown method `tools/cal` (expected `tools/call`, `resources/read` or `prompts/get`)",
            ),
            (r#"{"scopes":"","name":"a"}"#, "no `method`"),
            (r#"{"scopes":"","method":"tools/call"}"#, "no `name`"),
            (
                r#"{"scopes":"","method":"tools/call","uri":"x"}"#,
                "no `name`",
            ),
            (
                r#"{"scopes":"","method":"resources/read"}"#,
                "no `name` or `uri`",
            ),
            (
                r#"{"method":"tools/call","name":"a"}"#,
                "no `scopes` or `claims`: the principal's scopes are needed to replay",
            ),
            (
                r#"{"scopes":"a","claims":{"scope":"a"},"method":"tools/call","name":"a"}"#,
                "both `scopes` and `claims`: give the principal's scopes once",
            ),
            (
                r#"{"scopes":3,"method":"tools/call","name":"a"}"#,
                "`scopes` is not a string or an array of strings",
            ),
            (
                r#"{"scopes":["a",1],"method":"tools/call","name":"a"}"#,
                "`scopes` holds something other than a string",
            ),
            (
                r#"{"claims":{"scope":7},"method":"tools/call","name":"a"}"#,
                "the scope claim (`scope`, `scp` or `permissions`) is not a string or an array of strings",
            ),
            (
                r#"{"scopes":"","method":"tools/call","name":"a","decision":"maybe"}"#,
                "unknown decision `maybe` (expected `allow` or `deny`)",
            ),
            (
                r#"{"scopes":"","method":"tools/call","name":5}"#,
                "invalid JSON at column 43: invalid type: integer `5`, expected a string",
            ),
            ("[1,2]", "not a JSON object"),
            ("not json", "not a JSON object"),
            (
                "{\"scopes\":",
                "invalid JSON at column 10: EOF while parsing a value",
            ),
        ];
        for (line, expected) in cases {
            assert_eq!(message(line), expected, "{line}");
        }
    }

    #[test]
    fn invalid_utf8_is_malformed() {
        let mut reader = TraceReader::new(&b"{\"scopes\":\"\xff\"}\n"[..]);
        let error = reader.next().unwrap().unwrap_err();
        assert_eq!(error.message, "the line is not UTF-8");
        assert!(reader.next().is_none());
    }

    #[test]
    fn a_long_line_is_skipped_unbuffered_and_reading_goes_on() {
        let long = format!(
            "{{\"scopes\":\"\",\"method\":\"tools/call\",\"name\":\"{}\"}}",
            "x".repeat(MAX_LINE_BYTES)
        );
        let exact = format!("{}\n", " ".repeat(MAX_LINE_BYTES));
        let trace = format!(
            "{long}\n{exact}{{\"scopes\":\"\",\"method\":\"tools/call\",\"name\":\"after\"}}\n"
        );
        // A small buffer: the long line arrives in many pieces.
        let mut reader = TraceReader::new(std::io::BufReader::with_capacity(64, trace.as_bytes()));
        let error = reader.next().unwrap().unwrap_err();
        assert_eq!(error.kind, TraceErrorKind::TooLong);
        assert_eq!(error.line, 1);
        assert!(!error.is_fatal());
        let after = reader.next().unwrap().unwrap();
        assert_eq!((after.line, after.name.as_str()), (3, "after"));
        assert!(reader.next().is_none());
        assert_eq!(reader.skipped(), 1);
        assert_eq!(reader.lines(), 3);
        assert_eq!(reader.bytes(), trace.len() as u64);
        // The buffer never held more than one line's worth.
        assert!(reader.buffer.capacity() <= 2 * MAX_LINE_BYTES);
    }

    #[test]
    fn a_failed_read_is_fatal_and_ends_the_reader() {
        struct Failing;
        impl std::io::Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk gone"))
            }
        }
        let mut reader = TraceReader::new(std::io::BufReader::new(Failing));
        let error = reader.next().unwrap().unwrap_err();
        assert!(error.is_fatal());
        assert_eq!(
            error.to_string(),
            "line 1: cannot read the trace: disk gone"
        );
        assert!(reader.next().is_none());
    }

    #[test]
    fn an_envelope_of_another_target_is_skipped_even_with_call_fields() {
        let (items, skipped) = read(
            r#"{"fields":{"scopes":"","method":"tools/call","name":"a"},"target":"my_app::audit"}"#,
        );
        assert!(items.is_empty());
        assert_eq!(skipped, 1);
        // Without a target, the envelope is read as the decision log.
        let record = one(r#"{"fields":{"scopes":"","method":"tools/call","name":"a"}}"#).unwrap();
        assert_eq!(record.name, "a");
    }
}
