//! What is wrong with a test file, as data: the codes of test files, in the
//! model policies use (`mcp-policy-diagnostic`: a code, a message, a
//! primary span, related spans, help). The CLI renders both alike (miette,
//! JSON, SARIF, GitHub); nothing here prints.

use std::fmt;

/// Every problem a test file can have. A code, once published, keeps its
/// meaning (docs/policy-tests.md lists them all).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    Syntax,
    Schema,
    Empty,
    MultipleDocuments,
    DuplicateKey,
    DuplicateTest,
    UnknownPrincipal,
    InvalidPrincipal,
    MalformedScopes,
    MissingCall,
    ConflictingCalls,
    InapplicableField,
    UnknownRejection,
    UnknownScope,
    InvalidKeys,
    NoPolicy,
    PolicyPath,
    UnknownCondition,
}

impl Code {
    pub const ALL: [Code; 18] = [
        Code::Syntax,
        Code::Schema,
        Code::Empty,
        Code::MultipleDocuments,
        Code::DuplicateKey,
        Code::DuplicateTest,
        Code::UnknownPrincipal,
        Code::InvalidPrincipal,
        Code::MalformedScopes,
        Code::MissingCall,
        Code::ConflictingCalls,
        Code::InapplicableField,
        Code::UnknownRejection,
        Code::UnknownScope,
        Code::InvalidKeys,
        Code::NoPolicy,
        Code::PolicyPath,
        Code::UnknownCondition,
    ];

    /// The stable code, as printed and as matched by tools.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Syntax => "mcp_policy::test::syntax",
            Code::Schema => "mcp_policy::test::schema",
            Code::Empty => "mcp_policy::test::empty",
            Code::MultipleDocuments => "mcp_policy::test::multiple_documents",
            Code::DuplicateKey => "mcp_policy::test::duplicate_key",
            Code::DuplicateTest => "mcp_policy::test::duplicate_test",
            Code::UnknownPrincipal => "mcp_policy::test::unknown_principal",
            Code::InvalidPrincipal => "mcp_policy::test::invalid_principal",
            Code::MalformedScopes => "mcp_policy::test::malformed_scopes",
            Code::MissingCall => "mcp_policy::test::missing_call",
            Code::ConflictingCalls => "mcp_policy::test::conflicting_calls",
            Code::InapplicableField => "mcp_policy::test::inapplicable_field",
            Code::UnknownRejection => "mcp_policy::test::unknown_rejection",
            Code::UnknownScope => "mcp_policy::test::unknown_scope",
            Code::InvalidKeys => "mcp_policy::test::invalid_keys",
            Code::NoPolicy => "mcp_policy::test::no_policy",
            Code::PolicyPath => "mcp_policy::test::policy_path",
            Code::UnknownCondition => "mcp_policy::test::unknown_condition",
        }
    }

    /// One line on what the code means.
    pub fn summary(self) -> &'static str {
        match self {
            Code::Syntax => "the text is not YAML",
            Code::Schema => {
                "YAML of the wrong shape: an unknown or missing field, a value of the wrong type"
            }
            Code::Empty => "a file without tests",
            Code::MultipleDocuments => "more than one YAML document (`---`) in one file",
            Code::DuplicateKey => "a principal, a claim or an argument given twice",
            Code::DuplicateTest => "two tests with the same name",
            Code::UnknownPrincipal => "a test names a principal the file does not define",
            Code::InvalidPrincipal => {
                "a principal that is not exactly one of `scopes`, `claims`, `jwt`, or a `jwt` without what verifies it"
            }
            Code::MalformedScopes => {
                "a claims object whose `scope`, `scp` or `permissions` is not a string or an array of strings"
            }
            Code::MissingCall => "a test with none of `tool`, `resource`, `prompt`",
            Code::ConflictingCalls => "a test with more than one of `tool`, `resource`, `prompt`",
            Code::InapplicableField => {
                "a field that cannot apply: `missing` on an allow, `rejection` on an allow or deny, `unauthenticated` for a principal without a token, `failing` on an allow, `arguments` on a resource read"
            }
            Code::UnknownRejection => "a `rejection` that is not a token validator code",
            Code::UnknownScope => "`missing` names a scope the policy does not declare",
            Code::InvalidKeys => {
                "a `jwt` principal whose keys or validator settings cannot be used (an unreadable JWKS, say)"
            }
            Code::NoPolicy => {
                "no `policy` field, and a file name that does not end in `.test.yaml`"
            }
            Code::PolicyPath => {
                "a `policy` that names (or links to) a file other than a `.mcppolicy` source or a `.json` table"
            }
            Code::UnknownCondition => "`failing` names a condition the policy does not have",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl mcp_policy_diagnostic::DiagnosticCode for Code {
    fn as_str(self) -> &'static str {
        Code::as_str(self)
    }
}

/// One problem with a test file: always an error. Its primary label is
/// where it is; related labels are other places in the file that explain
/// it (the first definition of a duplicate).
pub type Diagnostic = mcp_policy_diagnostic::Diagnostic<Code>;

pub use mcp_policy_diagnostic::{Label, Span};

/// "Did you mean ...?", by the policy language's rule (one edit for short
/// words, about a third of the word for longer ones; case alone always), so
/// a test file and a policy suggest alike.
pub use mcp_policy_diagnostic::did_you_mean;

/// `` `a`, `b` and `c` ``.
pub(super) fn backticked(words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|word| format!("`{word}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => quoted.concat(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_namespaced_unique_and_documented() {
        let problems = mcp_policy_diagnostic::code_table_problems(
            &Code::ALL,
            Code::summary,
            "mcp_policy::test::",
            include_str!("../../../../docs/policy-tests.md"),
        );
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn suggests_close_names_only() {
        let names = ["reader", "triager", "ci-bot"];
        assert_eq!(did_you_mean("raeder", names), Some("reader"));
        assert_eq!(did_you_mean("ci_bot", names), Some("ci-bot"));
        assert_eq!(did_you_mean("administrator", names), None);
    }
}
