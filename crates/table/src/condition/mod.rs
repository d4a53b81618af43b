//! Conditions on tool arguments and token claims: the atoms that stand
//! beside scopes in a requirement (`arg.repo matches "acme/*"`,
//! `claim.tenant == "acme"`) and in a `deny ... when`.
//!
//! An atom reads one value (two for `arg.owner == claim.sub`) from a
//! [`Context`] and tests it. Every atom is false when a value it reads is
//! missing or has another JSON type than its operator needs: an allow
//! clause fails closed, and a `deny ... when` does not fire (Cedar's
//! semantics for a `forbid` whose condition errors; the linter warns where
//! that matters, on `!=` in a deny condition).
//!
//! One outcome is neither true nor false: `under` given a string it cannot
//! place (a NUL byte, a backslash, a relative path, a `..` above the root;
//! [`Falsity::is_undecided`]). The server may read such a path as one
//! inside the base (C stops `/etc/passwd\0x` at the NUL; a relative path
//! resolves against the server's working directory), so the atom fails
//! closed both ways: false in an allow clause ([`Atom::holds`]), true in a
//! `deny ... when` ([`Atom::fires`]). Evaluating an atom does not
//! allocate; [`Atom::trace`], for explanations, copies the values read.

mod catalog;
mod number;
mod path;
mod trace;

use std::cmp::Ordering;
use std::fmt;

use serde_json::{Map, Value};

use crate::glob::Glob;

pub use catalog::{AtomCatalog, AtomId, AtomInfo};
pub use number::{EXACT_INTEGERS, Inexact, Num};
pub use path::{BaseProblem, PathBase};
pub use trace::AtomTrace;

/// What a decision may read besides scopes: the request's arguments and
/// the verified token's claims. Both are JSON objects; a caller whose
/// `params.arguments` is not an object passes `None` (every `arg.` atom is
/// then false).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Context<'a> {
    /// `params.arguments` of `tools/call` or `prompts/get`.
    pub arguments: Option<&'a Map<String, Value>>,
    /// The claims of the verified access token.
    pub claims: Option<&'a Map<String, Value>>,
}

impl<'a> Context<'a> {
    /// No arguments, no claims: every atom is false.
    pub const EMPTY: Context<'static> = Context {
        arguments: None,
        claims: None,
    };

    pub fn new(
        arguments: Option<&'a Map<String, Value>>,
        claims: Option<&'a Map<String, Value>>,
    ) -> Context<'a> {
        Context { arguments, claims }
    }
}

/// Where an operand reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// `arg.`: the request's arguments.
    Arg,
    /// `claim.`: the token's claims.
    Claim,
}

/// `arg.PATH` or `claim.PATH`: a path of object keys from the root of the
/// arguments or the claims. A key may be any string (the language quotes
/// one that is not an identifier).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Operand {
    pub source: Source,
    /// Never empty (the table refuses an atom with an empty path).
    pub path: Vec<String>,
}

impl Operand {
    pub fn arg<S: Into<String>>(path: impl IntoIterator<Item = S>) -> Operand {
        Operand {
            source: Source::Arg,
            path: path.into_iter().map(Into::into).collect(),
        }
    }

    pub fn claim<S: Into<String>>(path: impl IntoIterator<Item = S>) -> Operand {
        Operand {
            source: Source::Claim,
            path: path.into_iter().map(Into::into).collect(),
        }
    }

    /// The value at the path, `None` when a key is missing or a step is
    /// not an object. Does not allocate.
    #[inline]
    pub fn read<'v>(&self, context: &Context<'v>) -> Option<&'v Value> {
        let root = match self.source {
            Source::Arg => context.arguments,
            Source::Claim => context.claims,
        }?;
        let (first, rest) = self.path.split_first()?;
        let mut value = root.get(first)?;
        for key in rest {
            value = value.as_object()?.get(key)?;
        }
        Some(value)
    }
}

/// A literal of a condition: what JSON can compare without structure.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Literal {
    String(String),
    Number(Num),
    Bool(bool),
}

impl Literal {
    /// The literal a JSON value spells, if it is a string, number or boolean.
    pub fn from_json(value: &Value) -> Option<Literal> {
        match value {
            Value::String(text) => Some(Literal::String(text.clone())),
            Value::Number(number) => Num::from_json(number).map(Literal::Number),
            Value::Bool(flag) => Some(Literal::Bool(*flag)),
            Value::Null | Value::Array(_) | Value::Object(_) => None,
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            Literal::String(text) => Value::String(text.clone()),
            Literal::Number(number) => number.to_json(),
            Literal::Bool(flag) => Value::Bool(*flag),
        }
    }

    fn json_type(&self) -> JsonType {
        match self {
            Literal::String(_) => JsonType::String,
            Literal::Number(_) => JsonType::Number,
            Literal::Bool(_) => JsonType::Bool,
        }
    }

    /// `Ok(equal?)` when `value` has the literal's type; the type met
    /// otherwise.
    #[inline]
    fn equals(&self, value: &Value) -> Result<bool, JsonType> {
        match (self, value) {
            (Literal::String(a), Value::String(b)) => Ok(a == b),
            (Literal::Bool(a), Value::Bool(b)) => Ok(a == b),
            (Literal::Number(a), Value::Number(b)) => {
                Ok(Num::from_json(b).is_some_and(|b| *a == b))
            }
            _ => Err(JsonType::of(value)),
        }
    }

    /// A total order for sorting `in` lists: booleans, numbers, strings.
    fn order(&self, other: &Literal) -> Ordering {
        match (self, other) {
            (Literal::Bool(a), Literal::Bool(b)) => a.cmp(b),
            (Literal::Number(a), Literal::Number(b)) => a.cmp(b),
            (Literal::String(a), Literal::String(b)) => a.cmp(b),
            _ => self.json_type().cmp(&other.json_type()),
        }
    }
}

/// The order of `<`, `<=`, `>`, `>=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Comparison {
    Lt,
    Le,
    Gt,
    Ge,
}

impl Comparison {
    fn accepts(self, order: Ordering) -> bool {
        match self {
            Comparison::Lt => order == Ordering::Less,
            Comparison::Le => order != Ordering::Greater,
            Comparison::Gt => order == Ordering::Greater,
            Comparison::Ge => order != Ordering::Less,
        }
    }
}

/// What an atom tests of its operand.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `== LITERAL`: same type and equal.
    Eq(Literal),
    /// `!= LITERAL`: present, same type, and different.
    Ne(Literal),
    /// `== OPERAND`: both present, both strings, numbers or booleans, of
    /// the same type, and equal.
    EqOperand(Operand),
    /// `!= OPERAND`: both present, of the same scalar type, and different.
    NeOperand(Operand),
    /// `in [LITERALS]`: equal to one of them. Sorted, without repeats,
    /// never of one element (that is [`Op::Eq`]).
    In(Vec<Literal>),
    /// `<`, `<=`, `>`, `>=` a number: the operand is a number.
    Compare(Comparison, Num),
    /// `contains LITERAL`: the operand is an array with an element equal
    /// to the literal.
    Contains(Literal),
    /// `matches "GLOB"`: the operand is a string the glob matches.
    Matches(Glob),
    /// `under "/DIR"`: the operand is an absolute path whose normal form
    /// is within the base (see [`PathBase`]).
    Under(PathBase),
}

/// A condition atom, in normal form: `x in ["a"]` is `x == "a"`, and of
/// `a == b` between operands the smaller operand stands left. Build one
/// with [`Atom::new`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Atom {
    operand: Operand,
    op: Op,
}

/// Why an atom is false.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Falsity {
    /// The operand (the left one) is missing.
    Missing,
    /// The right operand of an operand comparison is missing.
    OtherMissing,
    /// The operand has another type than the operator needs.
    WrongType { expected: JsonType, found: JsonType },
    /// The two operands of a comparison have different types (or a type
    /// that does not compare, such as an object).
    TypesDiffer { left: JsonType, right: JsonType },
    /// `==` or `in`: the value is not the one (or any one) expected.
    Differs,
    /// `!=`: the values are equal.
    Equal,
    /// `<`, `<=`, `>`, `>=`: the number is out of the bound.
    OutOfBound,
    /// `contains`: no element is equal.
    NotContained,
    /// `matches`: the glob does not match.
    NoMatch,
    /// `under`: the normal form is outside the base.
    Outside,
    /// `under`: a `..` climbs above the root.
    AboveRoot,
    /// `under`: the path holds a NUL byte.
    Nul,
    /// `under`: the path is relative (or empty).
    Relative,
    /// `under`: the path holds a backslash, which a server on another OS
    /// may read as a separator.
    Backslash,
}

impl Falsity {
    /// `true` when the atom could not decide a value of the right type:
    /// `under` on a path it cannot place. A `deny ... when` fires on it
    /// ([`Atom::fires`]); an allow clause fails on it.
    pub fn is_undecided(self) -> bool {
        matches!(
            self,
            Falsity::AboveRoot | Falsity::Nul | Falsity::Relative | Falsity::Backslash
        )
    }
}

impl fmt::Display for Falsity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Falsity::Missing => f.write_str("missing"),
            Falsity::OtherMissing => f.write_str("the value compared with is missing"),
            Falsity::WrongType { expected, found } => {
                write!(f, "a {found}, not a {expected}")
            }
            Falsity::TypesDiffer { left, right } => {
                write!(f, "a {left} and a {right} do not compare")
            }
            Falsity::Differs => f.write_str("another value"),
            Falsity::Equal => f.write_str("the values are equal"),
            Falsity::OutOfBound => f.write_str("out of bound"),
            Falsity::NotContained => f.write_str("not an element"),
            Falsity::NoMatch => f.write_str("does not match"),
            Falsity::Outside => f.write_str("leaves the base"),
            Falsity::AboveRoot => f.write_str("a `..` climbs above the root"),
            Falsity::Nul => f.write_str("holds a NUL byte"),
            Falsity::Relative => f.write_str("not an absolute path"),
            Falsity::Backslash => f.write_str("holds a backslash"),
        }
    }
}

/// The type of a JSON value, for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JsonType {
    Bool,
    Number,
    String,
    Null,
    Array,
    Object,
}

impl JsonType {
    pub fn of(value: &Value) -> JsonType {
        match value {
            Value::Null => JsonType::Null,
            Value::Bool(_) => JsonType::Bool,
            Value::Number(_) => JsonType::Number,
            Value::String(_) => JsonType::String,
            Value::Array(_) => JsonType::Array,
            Value::Object(_) => JsonType::Object,
        }
    }
}

impl fmt::Display for JsonType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JsonType::Null => "null",
            JsonType::Bool => "boolean",
            JsonType::Number => "number",
            JsonType::String => "string",
            JsonType::Array => "array",
            JsonType::Object => "object",
        })
    }
}

/// Why an atom cannot be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AtomError {
    /// `arg.` or `claim.` with no key after it.
    EmptyPath,
    /// An `under` base that is not an absolute, well-formed path.
    Base { base: String, problem: BaseProblem },
}

impl fmt::Display for AtomError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AtomError::EmptyPath => f.write_str("an operand names no key"),
            AtomError::Base { base, problem } => write!(
                f,
                "`{}` cannot be an `under` base: {problem}",
                base.escape_debug()
            ),
        }
    }
}

impl std::error::Error for AtomError {}

impl Atom {
    /// The atom in normal form. An `in` list is sorted and its repeats
    /// dropped; of one element it becomes `==` (so both spellings are one
    /// atom of the table).
    pub fn new(operand: Operand, op: Op) -> Result<Atom, AtomError> {
        if operand.path.is_empty() {
            return Err(AtomError::EmptyPath);
        }
        let (operand, op) = match op {
            Op::In(mut list) => {
                list.sort_by(Literal::order);
                list.dedup();
                match <[Literal; 1]>::try_from(list) {
                    Ok([one]) => (operand, Op::Eq(one)),
                    Err(list) => (operand, Op::In(list)),
                }
            }
            Op::EqOperand(other) | Op::NeOperand(other) if other.path.is_empty() => {
                return Err(AtomError::EmptyPath);
            }
            Op::EqOperand(other) if other < operand => (other, Op::EqOperand(operand)),
            Op::NeOperand(other) if other < operand => (other, Op::NeOperand(operand)),
            op => (operand, op),
        };
        Ok(Atom { operand, op })
    }

    /// An `under` atom, its base checked and normalised.
    pub fn under(operand: Operand, base: &str) -> Result<Atom, AtomError> {
        let base = PathBase::new(base).map_err(|problem| AtomError::Base {
            base: base.to_owned(),
            problem,
        })?;
        Atom::new(operand, Op::Under(base))
    }

    pub fn operand(&self) -> &Operand {
        &self.operand
    }

    pub fn op(&self) -> &Op {
        &self.op
    }

    /// The operands read: one, or two for an operand comparison.
    pub fn operands(&self) -> impl Iterator<Item = &Operand> {
        let other = match &self.op {
            Op::EqOperand(other) | Op::NeOperand(other) => Some(other),
            _ => None,
        };
        std::iter::once(&self.operand).chain(other)
    }

    /// Evaluation order in a clause, cheapest first: number and boolean
    /// tests, string equality, `in`, `contains`, `matches`, `under`.
    pub fn cost(&self) -> u8 {
        match &self.op {
            Op::Compare(..)
            | Op::Eq(Literal::Number(_) | Literal::Bool(_))
            | Op::Ne(Literal::Number(_) | Literal::Bool(_)) => 0,
            Op::Eq(Literal::String(_))
            | Op::Ne(Literal::String(_))
            | Op::EqOperand(_)
            | Op::NeOperand(_) => 1,
            Op::In(_) => 2,
            Op::Contains(_) => 3,
            Op::Matches(_) => 4,
            Op::Under(_) => 5,
        }
    }

    /// `true` when the atom holds: its reading in an allow clause, where
    /// an undecided `under` is false. Does not allocate.
    #[inline]
    pub fn holds(&self, context: &Context<'_>) -> bool {
        self.check(context).is_ok()
    }

    /// `true` when the atom holds or is undecided: its reading in a
    /// `deny ... when`, so that `deny tool read_file when arg.path under
    /// "/etc"` fires on `/etc/passwd\0` and on `etc/passwd` (which the
    /// server may open in `/etc`), not only on the paths it can place.
    /// Does not allocate.
    #[inline]
    pub fn fires(&self, context: &Context<'_>) -> bool {
        match self.check(context) {
            Ok(()) => true,
            Err(falsity) => falsity.is_undecided(),
        }
    }

    /// `Ok` when the atom holds, otherwise why not. Does not allocate.
    pub fn check(&self, context: &Context<'_>) -> Result<(), Falsity> {
        let value = self.operand.read(context).ok_or(Falsity::Missing)?;
        let wrong = |expected| {
            Err(Falsity::WrongType {
                expected,
                found: JsonType::of(value),
            })
        };
        match &self.op {
            Op::Eq(literal) => match literal.equals(value) {
                Ok(true) => Ok(()),
                Ok(false) => Err(Falsity::Differs),
                Err(_) => wrong(literal.json_type()),
            },
            Op::Ne(literal) => match literal.equals(value) {
                Ok(false) => Ok(()),
                Ok(true) => Err(Falsity::Equal),
                Err(_) => wrong(literal.json_type()),
            },
            Op::EqOperand(other) | Op::NeOperand(other) => {
                let right = other.read(context).ok_or(Falsity::OtherMissing)?;
                let equal = scalar_equal(value, right)?;
                match (&self.op, equal) {
                    (Op::EqOperand(_), true) | (Op::NeOperand(_), false) => Ok(()),
                    (Op::EqOperand(_), false) => Err(Falsity::Differs),
                    _ => Err(Falsity::Equal),
                }
            }
            Op::In(list) => {
                let mut typed = list.is_empty();
                for literal in list {
                    match literal.equals(value) {
                        Ok(true) => return Ok(()),
                        Ok(false) => typed = true,
                        Err(_) => {}
                    }
                }
                match (typed, list.first()) {
                    (false, Some(first)) => wrong(first.json_type()),
                    _ => Err(Falsity::Differs),
                }
            }
            Op::Compare(comparison, bound) => match value {
                Value::Number(number) => match Num::from_json(number) {
                    Some(number) if comparison.accepts(number.compare(*bound)) => Ok(()),
                    _ => Err(Falsity::OutOfBound),
                },
                _ => wrong(JsonType::Number),
            },
            Op::Contains(literal) => match value {
                Value::Array(items) => {
                    if items.iter().any(|item| literal.equals(item) == Ok(true)) {
                        Ok(())
                    } else {
                        Err(Falsity::NotContained)
                    }
                }
                _ => wrong(JsonType::Array),
            },
            Op::Matches(glob) => match value {
                Value::String(text) if glob.matches(text) => Ok(()),
                Value::String(_) => Err(Falsity::NoMatch),
                _ => wrong(JsonType::String),
            },
            Op::Under(base) => match value {
                Value::String(path) => base.contains(path),
                _ => wrong(JsonType::String),
            },
        }
    }

    /// What the atom is from the claims alone, arguments unknown: `Some`
    /// when it reads no argument, or when a claim it compares with is
    /// missing or not comparable (then it is false whatever the
    /// arguments); `None` when the arguments decide. `reading` says
    /// whether it stands in an allow clause or a `deny ... when`.
    pub fn from_claims(
        &self,
        claims: Option<&Map<String, Value>>,
        reading: Reading,
    ) -> Option<bool> {
        let context = Context {
            arguments: None,
            claims,
        };
        if self
            .operands()
            .all(|operand| operand.source == Source::Claim)
        {
            return Some(match reading {
                Reading::Allow => self.holds(&context),
                Reading::Deny => self.fires(&context),
            });
        }
        let claim_unusable = self
            .operands()
            .filter(|operand| operand.source == Source::Claim)
            .any(|operand| operand.read(&context).is_none_or(|value| !is_scalar(value)));
        if claim_unusable { Some(false) } else { None }
    }
}

/// Where an atom stands, which decides how an undecided outcome reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reading {
    /// In an allow clause: [`Atom::holds`].
    Allow,
    /// In a `deny ... when`: [`Atom::fires`].
    Deny,
}

fn is_scalar(value: &Value) -> bool {
    matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_))
}

/// Equality of two operands' values: both strings, numbers or booleans,
/// of one type.
fn scalar_equal(left: &Value, right: &Value) -> Result<bool, Falsity> {
    match (left, right) {
        (Value::String(a), Value::String(b)) => Ok(a == b),
        (Value::Bool(a), Value::Bool(b)) => Ok(a == b),
        (Value::Number(a), Value::Number(b)) => Ok(match (Num::from_json(a), Num::from_json(b)) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        }),
        _ => Err(Falsity::TypesDiffer {
            left: JsonType::of(left),
            right: JsonType::of(right),
        }),
    }
}

#[cfg(test)]
mod tests;
