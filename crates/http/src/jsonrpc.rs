//! The JSON-RPC messages of a request body, classified for the policy, and
//! the answers the layer writes itself.

use mcp_policy_evaluator::{Request, TargetKind};
use serde_json::{Map, Value, json};

/// The JSON-RPC error code of an insufficient-scope answer in
/// [`Denial::ToolError`](crate::Denial::ToolError) mode for methods whose
/// result has no error flag (implementation-defined server error range).
pub const INSUFFICIENT_SCOPE_CODE: i64 = -32001;
/// A batch refused because another message in it was denied.
pub const BATCH_REFUSED_CODE: i64 = -32002;

/// A request body: one message or a batch.
#[derive(Debug)]
pub(crate) enum Body {
    Single(Value),
    Batch(Vec<Value>),
}

impl Body {
    /// `None` when the bytes are not JSON, or an empty batch.
    pub fn parse(bytes: &[u8]) -> Option<Body> {
        match serde_json::from_slice::<Value>(bytes).ok()? {
            Value::Array(items) if items.is_empty() => None,
            Value::Array(items) => Some(Body::Batch(items)),
            single => Some(Body::Single(single)),
        }
    }

    pub fn messages(&self) -> &[Value] {
        match self {
            Body::Single(message) => std::slice::from_ref(message),
            Body::Batch(messages) => messages,
        }
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
    let list = match method {
        "tools/list" => Some(TargetKind::Tool),
        "resources/list" => Some(TargetKind::Resource),
        "prompts/list" => Some(TargetKind::Prompt),
        _ => None,
    };
    if let Some(kind) = list {
        return match id {
            Some(id) => Message::List { id, kind },
            None => Message::Other,
        };
    }
    let field = match method {
        "tools/call" | "prompts/get" => "name",
        "resources/read" => "uri",
        _ => return Message::Other,
    };
    let name = object
        .get("params")
        .and_then(|params| params.get(field))
        .and_then(Value::as_str);
    match name.and_then(|name| Request::from_method(method, name)) {
        Some(request) => Message::Governed {
            id,
            method,
            request,
        },
        None => Message::Invalid { id },
    }
}

/// The id of the `initialize` request among `messages`, if there is one:
/// the request that opens a session.
pub(crate) fn initialize_id(messages: &[Value]) -> Option<&Value> {
    messages.iter().find_map(|message| {
        let object = message.as_object()?;
        (object.get("method")?.as_str()? == "initialize")
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
        assert!(Body::parse(b"[]").is_none());
        assert!(Body::parse(b"{").is_none());
    }
}
