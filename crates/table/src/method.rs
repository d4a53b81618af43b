//! The MCP methods that a policy governs, named once for every crate: the
//! evaluator maps a request to a [`TargetKind`], the HTTP layer reads and
//! filters lists, the simulator reads decision logs, and the proxy spots the
//! request that opens a session. A method name written anywhere else is a
//! second copy that can drift.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The request that opens a session.
pub const INITIALIZE: &str = "initialize";
/// The client's notification that the session is open.
pub const INITIALIZED: &str = "notifications/initialized";
/// Either side's notification that a request is abandoned.
pub const CANCELLED: &str = "notifications/cancelled";
/// The notification of a long request's progress.
pub const PROGRESS: &str = "notifications/progress";

/// What a request asks to do, by MCP method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// `tools/call`, by tool name.
    Tool,
    /// `resources/read`, by URI.
    Resource,
    /// `prompts/get`, by prompt name.
    Prompt,
}

impl TargetKind {
    pub const ALL: [TargetKind; 3] = [TargetKind::Tool, TargetKind::Resource, TargetKind::Prompt];

    /// The policy language's word for this kind of rule (the lexicon's
    /// `tool`, `resource` and `prompt` are these).
    pub const fn keyword(self) -> &'static str {
        match self {
            TargetKind::Tool => "tool",
            TargetKind::Resource => "resource",
            TargetKind::Prompt => "prompt",
        }
    }

    /// The MCP method this kind of rule guards.
    pub fn method(self) -> &'static str {
        match self {
            TargetKind::Tool => "tools/call",
            TargetKind::Resource => "resources/read",
            TargetKind::Prompt => "prompts/get",
        }
    }

    /// The kind whose rules guard `method`, or `None` for a method that no
    /// rule governs.
    pub fn of_method(method: &str) -> Option<TargetKind> {
        TargetKind::ALL
            .into_iter()
            .find(|kind| kind.method() == method)
    }

    /// The method that lists what this kind of rule guards.
    pub fn list_method(self) -> &'static str {
        match self {
            TargetKind::Tool => "tools/list",
            TargetKind::Resource => "resources/list",
            TargetKind::Prompt => "prompts/list",
        }
    }

    /// The kind whose entries `method` lists, or `None`.
    pub fn of_list_method(method: &str) -> Option<TargetKind> {
        TargetKind::ALL
            .into_iter()
            .find(|kind| kind.list_method() == method)
    }

    /// The array of a list result that holds the entries (`{"tools": [..]}`).
    pub fn list_field(self) -> &'static str {
        match self {
            TargetKind::Tool => "tools",
            TargetKind::Resource => "resources",
            TargetKind::Prompt => "prompts",
        }
    }

    /// The field that names the target, in a request's `params` and in a
    /// list entry: a tool's or prompt's `name`, a resource's `uri`.
    pub fn name_field(self) -> &'static str {
        match self {
            TargetKind::Tool | TargetKind::Prompt => "name",
            TargetKind::Resource => "uri",
        }
    }

    /// The kind's index in per-kind arrays of the table.
    pub(crate) fn slot(self) -> usize {
        match self {
            TargetKind::Tool => 0,
            TargetKind::Resource => 1,
            TargetKind::Prompt => 2,
        }
    }
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_method_names_one_kind_and_back() {
        for kind in TargetKind::ALL {
            assert_eq!(TargetKind::of_method(kind.method()), Some(kind));
            assert_eq!(TargetKind::of_list_method(kind.list_method()), Some(kind));
            assert_eq!(TargetKind::of_method(kind.list_method()), None);
            assert_eq!(TargetKind::of_list_method(kind.method()), None);
        }
        assert_eq!(TargetKind::of_method(INITIALIZE), None);
        assert_eq!(TargetKind::of_method("Tools/Call"), None);
        assert_eq!(TargetKind::of_method(""), None);
    }
}
