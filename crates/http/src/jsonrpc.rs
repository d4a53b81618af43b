//! The JSON-RPC messages of a request body, classified for the policy, and
//! the answers the layer writes itself.

use mcp_policy_evaluator::{Request, TargetKind, method};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value, json};

/// The JSON-RPC error code of a denial that says why (implementation-defined
/// server error range): an insufficient-scope answer (the body of a step-up
/// `403`, and in [`Denial::ToolError`](crate::Denial::ToolError) mode for
/// methods whose result has no error flag), with `data.missing_scopes`; and
/// a denial by conditions on arguments or claims, which no scope can lift,
/// with `data.failed_conditions` or `data.denied_when` (the atoms' policy
/// texts) and never a challenge.
pub const INSUFFICIENT_SCOPE_CODE: i64 = -32001;
/// A batch refused because another message in it was denied.
pub const BATCH_REFUSED_CODE: i64 = -32002;

/// A list answer the layer could not read to filter (HTTP 502): JSON-RPC's
/// internal error.
pub const UNCHECKED_ANSWER_CODE: i64 = -32603;
/// JSON-RPC's parse error: a body that is not JSON, or is JSON two parsers
/// could read two ways (a duplicate key).
pub const PARSE_ERROR_CODE: i64 = -32700;
/// The `error.message` of a body refused for a duplicate key (HTTP 400,
/// [`PARSE_ERROR_CODE`]).
pub const DUPLICATE_KEY_MESSAGE: &str = "Parse error: an object has a duplicate key";

/// A request body: one message or a batch.
#[derive(Debug)]
pub(crate) enum Body {
    Single(Value),
    Batch(Vec<Value>),
}

/// Why a body is not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Not JSON (or nested deeper than serde_json's recursion limit), or an
    /// empty batch.
    Syntax,
    /// An object, at any depth, names one key twice.
    DuplicateKey,
}

impl Body {
    pub fn parse(bytes: &[u8]) -> Result<Body, ParseError> {
        match parse_strict(bytes)? {
            Value::Array(items) if items.is_empty() => Err(ParseError::Syntax),
            Value::Array(items) => Ok(Body::Batch(items)),
            single => Ok(Body::Single(single)),
        }
    }

    pub fn messages(&self) -> &[Value] {
        match self {
            Body::Single(message) => std::slice::from_ref(message),
            Body::Batch(messages) => messages,
        }
    }
}

/// JSON as serde_json reads it, except that an object with a duplicate
/// key, at any depth, is refused.
///
/// RFC 8259 leaves duplicate names undefined: serde_json and `JSON.parse`
/// keep the last, other parsers the first. The policy must decide the very
/// `name` the server will read, so a body two parsers could read two ways
/// is refused, before any decision. This is serde_json's own parser (its
/// syntax, its recursion limit) with a visitor that checks each key as it
/// is inserted: one pass, a map lookup per key.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, ParseError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = Strict::deserialize(&mut deserializer).and_then(|strict| {
        deserializer.end()?;
        Ok(strict.0)
    });
    parsed.map_err(|error| match error.classify() {
        // The only data error the visitor raises: every JSON value is
        // accepted otherwise.
        serde_json::error::Category::Data => ParseError::DuplicateKey,
        _ => ParseError::Syntax,
    })
}

/// A [`Value`] read by [`StrictVisitor`].
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Strict, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value without duplicate keys")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom("duplicate key in a JSON object"));
            }
            let Strict(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// What one message is, for the policy.
#[derive(Debug)]
pub(crate) enum Message<'a> {
    /// `tools/call`, `resources/read` or `prompts/get`.
    Governed {
        id: Option<&'a Value>,
        method: &'a str,
        request: Request<'a>,
        /// `params.arguments` of `tools/call` and `prompts/get`, when it is
        /// an object: what conditions on `arg.PATH` read. `None` when it is
        /// absent or of another type (every `arg.` atom is then false), and
        /// always for `resources/read`, which has no arguments.
        arguments: Option<&'a Map<String, Value>>,
    },
    /// A governed method without a string `name`/`uri`, or not a JSON-RPC
    /// object at all: never forwarded.
    Invalid { id: Option<&'a Value> },
    /// `tools/list`, `resources/list`, `prompts/list`: the answer is filtered.
    List { id: &'a Value, kind: TargetKind },
    /// Everything else (initialize, notifications, responses, ...).
    Other,
}

pub(crate) fn classify(message: &Value) -> Message<'_> {
    let Some(object) = message.as_object() else {
        return Message::Invalid { id: None };
    };
    let id = object.get("id");
    let Some(method) = object.get("method") else {
        return Message::Other; // a response from the client
    };
    let Some(method) = method.as_str() else {
        return Message::Invalid { id };
    };
    if let Some(kind) = TargetKind::of_list_method(method) {
        return match id {
            Some(id) => Message::List { id, kind },
            None => Message::Other,
        };
    }
    let Some(kind) = TargetKind::of_method(method) else {
        return Message::Other;
    };
    let params = object.get("params");
    let name = params
        .and_then(|params| params.get(kind.name_field()))
        .and_then(Value::as_str);
    let arguments = match kind {
        TargetKind::Tool | TargetKind::Prompt => params
            .and_then(|params| params.get("arguments"))
            .and_then(Value::as_object),
        TargetKind::Resource => None,
    };
    match name.map(|name| Request::new(kind, name)) {
        Some(request) => Message::Governed {
            id,
            method,
            request,
            arguments,
        },
        None => Message::Invalid { id },
    }
}

/// The id of the `initialize` request among `messages`, if there is one:
/// the request that opens a session.
pub(crate) fn initialize_id(messages: &[Value]) -> Option<&Value> {
    messages.iter().find_map(|message| {
        let object = message.as_object()?;
        (object.get("method")?.as_str()? == method::INITIALIZE)
            .then(|| object.get("id"))
            .flatten()
    })
}

pub(crate) fn error(id: Option<&Value>, code: i64, message: &str, data: Option<Value>) -> Value {
    let mut error = Map::new();
    error.insert("code".to_owned(), json!(code));
    error.insert("message".to_owned(), json!(message));
    if let Some(data) = data {
        error.insert("data".to_owned(), data);
    }
    json!({"jsonrpc": "2.0", "id": id.cloned().unwrap_or(Value::Null), "error": error})
}

/// The answer for a target that does not exist, as MCP servers give it.
pub(crate) fn unknown(id: Option<&Value>, request: Request<'_>) -> Value {
    match request {
        Request::CallTool(name) => error(id, -32602, &format!("Unknown tool: {name}"), None),
        Request::ReadResource(uri) => {
            error(id, -32002, "Resource not found", Some(json!({"uri": uri})))
        }
        Request::GetPrompt(name) => error(id, -32602, &format!("Unknown prompt: {name}"), None),
    }
}

/// The [`Denial::ToolError`](crate::Denial::ToolError) answer.
pub(crate) fn insufficient(id: Option<&Value>, request: Request<'_>, missing: &[&str]) -> Value {
    let text = format!(
        "{request} needs more scopes: {}. Ask the authorization server for them and retry.",
        missing.join(" ")
    );
    match request {
        Request::CallTool(_) => json!({
            "jsonrpc": "2.0",
            "id": id.cloned().unwrap_or(Value::Null),
            "result": {"content": [{"type": "text", "text": text}], "isError": true},
        }),
        Request::ReadResource(_) | Request::GetPrompt(_) => error(
            id,
            INSUFFICIENT_SCOPE_CODE,
            &text,
            Some(json!({"missing_scopes": missing})),
        ),
    }
}

/// Why conditions denied a request: the atoms, by their policy texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unmet<'e> {
    /// The deciding allow rule's conditions do not hold.
    Failed(Vec<&'e str>),
    /// A `deny ... when` fired on these.
    Fired(Vec<&'e str>),
}

impl Unmet<'_> {
    /// The answer's text. The atoms as the policy writes them, never the
    /// values they read: an argument or a claim may be a secret, and the
    /// caller knows its own.
    pub fn message(&self) -> String {
        let (atoms, prefix, one, many) = match self {
            Unmet::Failed(atoms) => (atoms, "denied", "does not hold", "do not hold"),
            Unmet::Fired(atoms) => (atoms, "denied by a deny rule", "holds", "hold"),
        };
        let quoted: Vec<String> = atoms.iter().map(|atom| format!("`{atom}`")).collect();
        match quoted.as_slice() {
            [atom] => format!("{prefix}: condition {atom} {one}"),
            _ => format!("{prefix}: conditions {} {many}", quoted.join(", ")),
        }
    }

    /// The atoms as the log and `data` list them: `failed_conditions` or
    /// `denied_when`, as `mcp-policy explain --format json` names them.
    pub fn data(&self) -> Value {
        match self {
            Unmet::Failed(atoms) => json!({"failed_conditions": atoms}),
            Unmet::Fired(atoms) => json!({"denied_when": atoms}),
        }
    }
}

/// The answer to a request that conditions denied: no scope can allow it,
/// so no step-up. A JSON-RPC error [`INSUFFICIENT_SCOPE_CODE`] naming the
/// atoms; in [`Denial::ToolError`](crate::Denial::ToolError) mode a
/// `tools/call` gets a result with `isError: true` and the same text, as
/// its scope denials do.
pub(crate) fn unmet(
    id: Option<&Value>,
    request: Request<'_>,
    unmet: &Unmet<'_>,
    tool_error: bool,
) -> Value {
    let text = unmet.message();
    match request {
        Request::CallTool(_) if tool_error => json!({
            "jsonrpc": "2.0",
            "id": id.cloned().unwrap_or(Value::Null),
            "result": {"content": [{"type": "text", "text": text}], "isError": true},
        }),
        _ => error(id, INSUFFICIENT_SCOPE_CODE, &text, Some(unmet.data())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let call = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t"}});
        assert!(matches!(
            classify(&call),
            Message::Governed {
                request: Request::CallTool("t"),
                ..
            }
        ));
        let read =
            json!({"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"r://x"}});
        assert!(matches!(
            classify(&read),
            Message::Governed {
                request: Request::ReadResource("r://x"),
                ..
            }
        ));
        for bad in [
            json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":5}}),
            json!({"jsonrpc":"2.0","id":1,"method":"tools/call"}),
            json!({"jsonrpc":"2.0","id":1,"method":7}),
            json!(3),
        ] {
            assert!(matches!(classify(&bad), Message::Invalid { .. }), "{bad}");
        }
        assert!(matches!(
            classify(&json!({"jsonrpc":"2.0","id":2,"method":"tools/list"})),
            Message::List {
                kind: TargetKind::Tool,
                ..
            }
        ));
        assert!(Body::parse(b"[]").is_err());
        assert!(Body::parse(b"{").is_err());
    }

    /// What conditions on `arg.` read: `params.arguments` of `tools/call`
    /// and `prompts/get` when it is an object; never anything for
    /// `resources/read`.
    #[test]
    fn arguments_are_read_when_an_object() {
        let arguments_of = |message: Value| -> Option<Value> {
            match classify(&message) {
                Message::Governed { arguments, .. } => arguments.cloned().map(Value::Object),
                other => panic!("not governed: {other:?}"),
            }
        };
        let call = |arguments: Value| json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":arguments}});
        assert_eq!(
            arguments_of(call(json!({"path": "/a", "n": {"x": 1}}))),
            Some(json!({"path": "/a", "n": {"x": 1}}))
        );
        assert_eq!(arguments_of(call(json!({}))), Some(json!({})));
        for not_an_object in [
            json!(["/a"]),
            json!("/a"),
            json!(null),
            json!(1),
            json!(false),
        ] {
            assert_eq!(
                arguments_of(call(not_an_object.clone())),
                None,
                "{not_an_object}"
            );
        }
        let bare = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t"}});
        assert_eq!(arguments_of(bare), None);
        let prompt = json!({"jsonrpc":"2.0","id":1,"method":"prompts/get",
                            "params":{"name":"p","arguments":{"lang":"en"}}});
        assert_eq!(arguments_of(prompt), Some(json!({"lang": "en"})));
        let read = json!({"jsonrpc":"2.0","id":1,"method":"resources/read",
                          "params":{"uri":"r://x","arguments":{"path":"/a"}}});
        assert_eq!(arguments_of(read), None);
    }

    #[test]
    fn condition_denials_name_their_atoms_and_nothing_else() {
        let one = Unmet::Failed(vec![r#"arg.path under "/workspace""#]);
        assert_eq!(
            one.message(),
            r#"denied: condition `arg.path under "/workspace"` does not hold"#
        );
        let two = Unmet::Failed(vec![r#"claim.tenant == "acme""#, "arg.limit <= 100"]);
        assert_eq!(
            two.message(),
            r#"denied: conditions `claim.tenant == "acme"`, `arg.limit <= 100` do not hold"#
        );
        let fired = Unmet::Fired(vec![r#"arg.path matches "*.env""#]);
        assert_eq!(
            fired.message(),
            r#"denied by a deny rule: condition `arg.path matches "*.env"` holds"#
        );
        let both = Unmet::Fired(vec!["a", "b"]);
        assert_eq!(
            both.message(),
            "denied by a deny rule: conditions `a`, `b` hold"
        );
        assert_eq!(
            two.data(),
            json!({"failed_conditions": [r#"claim.tenant == "acme""#, "arg.limit <= 100"]})
        );
        assert_eq!(
            fired.data(),
            json!({"denied_when": [r#"arg.path matches "*.env""#]})
        );
        // The answer's shape: an error, or a tool result in tool-error mode
        // (for tools/call only).
        let id = json!(7);
        let error = unmet(Some(&id), Request::CallTool("t"), &one, false);
        assert_eq!(error["error"]["code"], INSUFFICIENT_SCOPE_CODE);
        assert_eq!(error["id"], 7);
        let tool = unmet(Some(&id), Request::CallTool("t"), &one, true);
        assert_eq!(tool["result"]["isError"], true);
        assert_eq!(tool["result"]["content"][0]["text"], one.message());
        let prompt = unmet(Some(&id), Request::GetPrompt("p"), &one, true);
        assert_eq!(prompt["error"]["data"], one.data());
    }

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        for body in [
            r#"{"a":1,"a":2}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","name":"delete_repo"}}"#,
            r#"{"params":{"arguments":{"deep":[{"x":{"k":1,"k":1}}]}}}"#,
            // The same key once its escapes are read.
            r#"{"name":"a","n\u0061me":"b"}"#,
            r#"[{"id":1},{"id":2,"id":3}]"#,
        ] {
            assert_eq!(
                parse_strict(body.as_bytes()).err(),
                Some(ParseError::DuplicateKey),
                "{body}"
            );
        }
        // The same key in two objects is no duplicate; numbers, strings,
        // nulls and nesting read as serde_json reads them.
        let body = r#"{"a":{"a":1},"b":[{"a":-1.5e3,"b":null},{"a":"x\n"}],"c":18446744073709551615,"d":true}"#;
        assert_eq!(
            parse_strict(body.as_bytes()).ok(),
            serde_json::from_str::<Value>(body).ok()
        );
        for bad in [
            "",
            "{",
            "[1,]",
            "{} {}",
            "nul",
            r#"{"a":1}x"#,
            r#""\ud800""#,
        ] {
            assert_eq!(
                parse_strict(bad.as_bytes()).err(),
                Some(ParseError::Syntax),
                "{bad}"
            );
        }
    }

    #[test]
    fn strict_parsing_is_bounded() {
        // 100,000 keys: a map lookup each, not a scan.
        let mut body = String::from("{");
        for n in 0..100_000 {
            if n > 0 {
                body.push(',');
            }
            body.push_str(&format!("\"k{n}\":{n}"));
        }
        body.push('}');
        let started = std::time::Instant::now();
        assert!(parse_strict(body.as_bytes()).is_ok());
        let duplicated = body.replacen('}', ",\"k99999\":0}", 1);
        assert_eq!(
            parse_strict(duplicated.as_bytes()).err(),
            Some(ParseError::DuplicateKey)
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        // Nesting: serde_json's recursion limit (128) holds, no stack
        // overflow.
        let deep = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(parse_strict(deep(120).as_bytes()).is_ok());
        assert_eq!(
            parse_strict(deep(100_000).as_bytes()).err(),
            Some(ParseError::Syntax)
        );
        let objects = |depth: usize| format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
        assert!(parse_strict(objects(120).as_bytes()).is_ok());
        assert_eq!(
            parse_strict(objects(100_000).as_bytes()).err(),
            Some(ParseError::Syntax)
        );
    }
}
