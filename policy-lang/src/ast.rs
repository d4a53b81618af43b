//! The syntax tree of a policy file. Every node keeps its byte span, so any
//! later pass can point at the user's text.

use std::fmt;

use crate::syntax::lexicon;

pub use mcp_policy_table::TargetKind;

/// A byte range in the source (the diagnostics' own, so that every
/// reader's labels point alike).
pub use mcp_policy_diagnostic::Span;

/// A node and where it stands in the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node<T> {
    pub node: T,
    pub span: Span,
}

impl<T> Node<T> {
    pub fn new(node: T, span: Span) -> Node<T> {
        Node { node, span }
    }
}

/// A parsed policy file: its statements in source order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyFile {
    pub statements: Vec<Node<Statement>>,
    /// Names of scope declarations that failed to parse. Rules naming them
    /// are not reported as naming unknown scopes: the syntax error already
    /// says what is wrong, and one mistake should read as one.
    pub broken_scopes: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Statement {
    /// `policy "name"`
    Policy(Node<String>),
    /// `default deny` / `default allow`, the word as written (checked later,
    /// so a misspelling gets a suggestion rather than a parse error).
    Default(Node<String>),
    Scope(ScopeDecl),
    Rule(RuleDecl),
}

/// `scope NAME level LEVEL ["description"] [implies NAME, ...]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeDecl {
    pub name: Node<String>,
    /// The level word as written; `check` resolves it.
    pub level: Node<String>,
    pub description: Option<Node<String>>,
    pub implies: Vec<Node<String>>,
}

/// `KIND TARGET requires REQUIREMENT` or `deny KIND TARGET`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleDecl {
    pub kind: Node<TargetKind>,
    pub target: Node<TargetPattern>,
    /// `None` for a deny rule.
    pub requires: Option<Node<Requirement>>,
}

impl RuleDecl {
    pub fn is_deny(&self) -> bool {
        self.requires.is_none()
    }
}

/// A rule's target as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetPattern {
    pub text: String,
    /// Written in quotes; only quoted targets may hold `*`.
    pub quoted: bool,
}

impl TargetPattern {
    pub fn is_glob(&self) -> bool {
        self.quoted && self.text.contains('*')
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requirement {
    /// Any valid token, with or without scopes.
    Authenticated,
    Scope(String),
    AnyOf(Vec<Node<Requirement>>),
    AllOf(Vec<Node<Requirement>>),
}

/// Whether a name can be written bare, or needs quotes (the lexicon's
/// rule, here for the callers of the syntax tree).
pub use crate::syntax::lexicon::is_bare_name;
pub(crate) use crate::syntax::lexicon::write_name;

impl fmt::Display for Requirement {
    /// The canonical spelling, as `mcp-policy fmt` writes it: a scope
    /// spelled like a requirement keyword stays quoted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (keyword, members) = match self {
            Requirement::Authenticated => return f.write_str(lexicon::AUTHENTICATED),
            Requirement::Scope(name) => return lexicon::write_scope_ref(f, name),
            Requirement::AnyOf(members) => (lexicon::ANY_OF, members),
            Requirement::AllOf(members) => (lexicon::ALL_OF, members),
        };
        write!(f, "{keyword}(")?;
        for (i, member) in members.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            member.node.fmt(f)?;
        }
        f.write_str(")")
    }
}

impl fmt::Display for TargetPattern {
    /// As written: quoted targets are the pattern syntax, so a target keeps
    /// its quotes, or their absence.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.quoted {
            lexicon::write_quoted(f, &self.text)
        } else {
            f.write_str(&self.text)
        }
    }
}

impl fmt::Display for RuleDecl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.requires {
            Some(requirement) => write!(
                f,
                "{} {} {} {}",
                self.kind.node,
                self.target.node,
                lexicon::REQUIRES,
                requirement.node
            ),
            None => write!(
                f,
                "{} {} {}",
                lexicon::DENY,
                self.kind.node,
                self.target.node
            ),
        }
    }
}
