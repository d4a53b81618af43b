//! The syntax tree of a policy file. Every node keeps its byte span, so any
//! later pass can point at the user's text.

use std::fmt;

use crate::syntax::lexicon;

pub use mcp_policy_table::TargetKind;
pub use mcp_policy_table::condition::{Comparison, Operand, Source};

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

/// `KIND TARGET requires REQUIREMENT`, `deny KIND TARGET` or
/// `deny KIND TARGET when COND`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleDecl {
    pub kind: Node<TargetKind>,
    pub target: Node<TargetPattern>,
    /// `None` for a deny rule.
    pub requires: Option<Node<Requirement>>,
    /// A deny rule's condition (`check` refuses scopes and
    /// `authenticated` in it); always `None` for an allow rule.
    pub when: Option<Node<Requirement>>,
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
    /// A condition atom: `arg.repo matches "acme/*"`.
    Condition(Condition),
}

/// `OPERAND OP VALUE`, as written (`check` builds the table's atom).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    pub operand: Node<Operand>,
    pub test: Test,
}

/// The operator of a condition and what it compares with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Test {
    /// `== V`
    Eq(Node<Value>),
    /// `!= V`
    Ne(Node<Value>),
    /// `in [L, ...]`, possibly empty as written (`check` refuses that).
    In(Vec<Node<Literal>>),
    /// `<`, `<=`, `>`, `>=`
    Compare(Comparison, Node<Literal>),
    /// `contains L`
    Contains(Node<Literal>),
    /// `matches "GLOB"`
    Matches(Node<Literal>),
    /// `under "/DIR"`
    Under(Node<Literal>),
}

/// What `==` and `!=` compare with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Literal(Literal),
    Operand(Operand),
}

/// A literal as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Literal {
    String(String),
    /// In JSON syntax, as written (`check` reads its value).
    Number(String),
    Bool(bool),
}

impl Literal {
    /// What the literal is, in words, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Literal::String(_) => "a string",
            Literal::Number(_) => "a number",
            Literal::Bool(_) => "a boolean",
        }
    }
}

/// Writes an operand: `arg.` or `claim.` and its segments, each bare when
/// an identifier.
pub fn write_operand(out: &mut impl fmt::Write, operand: &Operand) -> fmt::Result {
    write!(out, "{operand}")
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::String(text) => lexicon::write_quoted(f, text),
            Literal::Number(text) => f.write_str(text),
            Literal::Bool(true) => f.write_str(lexicon::TRUE),
            Literal::Bool(false) => f.write_str(lexicon::FALSE),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Literal(literal) => literal.fmt(f),
            Value::Operand(operand) => write_operand(f, operand),
        }
    }
}

impl fmt::Display for Condition {
    /// The canonical spelling: single spaces around the operator, lists as
    /// `["a", "b"]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_operand(f, &self.operand.node)?;
        let (op, value) = match &self.test {
            Test::Eq(value) => (lexicon::EQ, &value.node),
            Test::Ne(value) => (lexicon::NE, &value.node),
            Test::In(list) => {
                write!(f, " {} [", lexicon::IN)?;
                for (i, literal) in list.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    literal.node.fmt(f)?;
                }
                return f.write_str("]");
            }
            Test::Compare(comparison, literal) => {
                return write!(f, " {} {}", comparison_word(*comparison), literal.node);
            }
            Test::Contains(literal) => return write!(f, " {} {}", lexicon::CONTAINS, literal.node),
            Test::Matches(literal) => return write!(f, " {} {}", lexicon::MATCHES, literal.node),
            Test::Under(literal) => return write!(f, " {} {}", lexicon::UNDER, literal.node),
        };
        write!(f, " {op} {value}")
    }
}

/// The spelling of an ordering operator.
pub fn comparison_word(comparison: Comparison) -> &'static str {
    match comparison {
        Comparison::Lt => lexicon::LT,
        Comparison::Le => lexicon::LE,
        Comparison::Gt => lexicon::GT,
        Comparison::Ge => lexicon::GE,
    }
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
            Requirement::Condition(condition) => return condition.fmt(f),
            Requirement::AnyOf(members) => (lexicon::ANY_OF, members),
            Requirement::AllOf(members) => (lexicon::ALL_OF, members),
        };
        lexicon::write_group(f, keyword, members, |f, member| member.node.fmt(f))
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
            None => {
                write!(
                    f,
                    "{} {} {}",
                    lexicon::DENY,
                    self.kind.node,
                    self.target.node
                )?;
                match &self.when {
                    Some(condition) => write!(f, " {} {}", lexicon::WHEN, condition.node),
                    None => Ok(()),
                }
            }
        }
    }
}
