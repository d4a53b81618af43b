//! The reference reading of condition atoms, shared by the differential
//! tests of the table (`crates/table/tests/condition_differential.rs`) and
//! of the compiler (`policy-lang/tests/condition_differential.rs`),
//! which include it with `#[path = ...] mod ...;` so that there is one
//! reference.
//!
//! It is written from SPEC.md's "Conditions" and nothing of the table's
//! code: an operand is read key by key; numbers are compared by exact value
//! (integers as `i128`, floats by their floor and fraction); `matches` by
//! recursion over characters; `under` by building the normal form. It
//! depends on serde_json only, and knows how to spell an atom as policy
//! text so a source-level test can render it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::cmp::Ordering;
use std::fmt::Write as _;

use serde_json::{Map, Value};

/// Where an operand reads: `arg.` or `claim.`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Arg,
    Claim,
}

/// `arg.KEY.KEY...` or `claim.KEY...`.
#[derive(Clone, Debug, PartialEq)]
pub struct RefOperand {
    pub side: Side,
    pub path: Vec<String>,
}

impl RefOperand {
    pub fn arg(path: &[&str]) -> RefOperand {
        RefOperand {
            side: Side::Arg,
            path: path.iter().map(|key| (*key).to_owned()).collect(),
        }
    }

    pub fn claim(path: &[&str]) -> RefOperand {
        RefOperand {
            side: Side::Claim,
            path: path.iter().map(|key| (*key).to_owned()).collect(),
        }
    }

    /// The value at the path: every step but the last must be an object
    /// holding the key.
    pub fn read<'v>(
        &self,
        arguments: &'v Map<String, Value>,
        claims: &'v Map<String, Value>,
    ) -> Option<&'v Value> {
        let mut map = match self.side {
            Side::Arg => arguments,
            Side::Claim => claims,
        };
        let (last, steps) = self.path.split_last()?;
        for key in steps {
            map = map.get(key)?.as_object()?;
        }
        map.get(last)
    }

    /// The operand as policy text: identifiers bare, other keys quoted.
    pub fn render(&self) -> String {
        let mut out = String::from(match self.side {
            Side::Arg => "arg",
            Side::Claim => "claim",
        });
        for key in &self.path {
            let identifier = key
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if identifier {
                let _ = write!(out, ".{key}");
            } else {
                let _ = write!(out, ".{}", quote(key));
            }
        }
        out
    }
}

fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A literal. A number keeps its spelling; the reference reads it.
#[derive(Clone, Debug, PartialEq)]
pub enum RefLit {
    Str(String),
    Num(String),
    Bool(bool),
}

impl RefLit {
    pub fn str(text: &str) -> RefLit {
        RefLit::Str(text.to_owned())
    }

    pub fn num(text: &str) -> RefLit {
        RefLit::Num(text.to_owned())
    }

    pub fn render(&self) -> String {
        match self {
            RefLit::Str(text) => quote(text),
            RefLit::Num(text) => text.clone(),
            RefLit::Bool(flag) => flag.to_string(),
        }
    }

    /// Equal to a JSON value: of the literal's type, and equal.
    fn equals(&self, value: &Value) -> bool {
        match (self, value) {
            (RefLit::Str(a), Value::String(b)) => a == b,
            (RefLit::Bool(a), Value::Bool(b)) => a == b,
            (RefLit::Num(a), Value::Number(_)) => {
                number_of(value).is_some_and(|b| compare(ExactNum::literal(a), b).is_eq())
            }
            _ => false,
        }
    }
}

/// The right side of `==` and `!=`.
#[derive(Clone, Debug, PartialEq)]
pub enum RefValue {
    Lit(RefLit),
    Operand(RefOperand),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Debug, PartialEq)]
pub enum RefOp {
    Eq(RefValue),
    Ne(RefValue),
    In(Vec<RefLit>),
    /// An ordering against a number literal (its spelling).
    Order(Order, String),
    Contains(RefLit),
    Matches(String),
    Under(String),
}

/// `OPERAND OP VALUE`.
#[derive(Clone, Debug, PartialEq)]
pub struct RefAtom {
    pub operand: RefOperand,
    pub op: RefOp,
}

impl RefAtom {
    pub fn new(operand: RefOperand, op: RefOp) -> RefAtom {
        RefAtom { operand, op }
    }

    /// The atom as policy text.
    pub fn render(&self) -> String {
        let value = |value: &RefValue| match value {
            RefValue::Lit(literal) => literal.render(),
            RefValue::Operand(operand) => operand.render(),
        };
        let op = match &self.op {
            RefOp::Eq(v) => format!("== {}", value(v)),
            RefOp::Ne(v) => format!("!= {}", value(v)),
            RefOp::In(list) => format!(
                "in [{}]",
                list.iter()
                    .map(RefLit::render)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            RefOp::Order(order, bound) => {
                let symbol = match order {
                    Order::Lt => "<",
                    Order::Le => "<=",
                    Order::Gt => ">",
                    Order::Ge => ">=",
                };
                format!("{symbol} {bound}")
            }
            RefOp::Contains(literal) => format!("contains {}", literal.render()),
            RefOp::Matches(glob) => format!("matches {}", quote(glob)),
            RefOp::Under(base) => format!("under {}", quote(base)),
        };
        format!("{} {op}", self.operand.render())
    }
}

/// An atom's outcome. `Undecided`: `under` given a string it cannot place
/// (NUL, backslash, relative or empty, `..` above the root).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Truth {
    True,
    False,
    Undecided,
}

/// A number by exact value.
#[derive(Clone, Copy, Debug)]
pub enum ExactNum {
    Int(i128),
    Float(f64),
}

impl ExactNum {
    /// A literal's value, as an argument with the same spelling is read:
    /// an integer spelled without fraction or exponent within `i64` or
    /// `u64` is exact, anything else the nearest float (Rust's `parse` is
    /// correctly rounded). The tests use only literals the compiler takes.
    pub fn literal(text: &str) -> ExactNum {
        let plain = !text.contains(['.', 'e', 'E']);
        if plain && let Ok(int) = text.parse::<i128>() {
            let in_json_range = i128::from(i64::MIN) <= int && int <= i128::from(u64::MAX);
            if in_json_range {
                return ExactNum::Int(int);
            }
        }
        ExactNum::Float(text.parse::<f64>().unwrap())
    }
}

/// The number of a JSON value (serde_json keeps integers as `i64`/`u64`).
pub fn number_of(value: &Value) -> Option<ExactNum> {
    let Value::Number(number) = value else {
        return None;
    };
    if let Some(int) = number.as_i64() {
        return Some(ExactNum::Int(int.into()));
    }
    if let Some(int) = number.as_u64() {
        return Some(ExactNum::Int(int.into()));
    }
    number.as_f64().map(ExactNum::Float)
}

/// Exact comparison: an integer against a float by the float's floor (an
/// integer, exact in `i128` below 2^127) and whether it has a fraction.
pub fn compare(a: ExactNum, b: ExactNum) -> Ordering {
    fn int_float(a: i128, b: f64) -> Ordering {
        const TWO_127: f64 = 170_141_183_460_469_231_731_687_303_715_884_105_728.0;
        if b >= TWO_127 {
            return Ordering::Less;
        }
        if b < -TWO_127 {
            return Ordering::Greater;
        }
        let floor = b.floor();
        match a.cmp(&(floor as i128)) {
            Ordering::Equal if b > floor => Ordering::Less,
            other => other,
        }
    }
    match (a, b) {
        (ExactNum::Int(a), ExactNum::Int(b)) => a.cmp(&b),
        (ExactNum::Float(a), ExactNum::Float(b)) => a.partial_cmp(&b).unwrap(),
        (ExactNum::Int(a), ExactNum::Float(b)) => int_float(a, b),
        (ExactNum::Float(a), ExactNum::Int(b)) => int_float(b, a).reverse(),
    }
}

/// `*` matches any run of characters (`/` and the empty run included);
/// every other character matches itself.
pub fn glob_match(pattern: &[char], name: &[char]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some(('*', rest)) => (0..=name.len()).any(|skip| glob_match(rest, &name[skip..])),
        Some((c, rest)) => name.first() == Some(c) && glob_match(rest, &name[1..]),
    }
}

pub fn glob_matches_str(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    glob_match(&p, &n)
}

/// The lexical normal form of an absolute path, as its segments; `None`
/// for a path `under` cannot place.
pub fn normal_form(path: &str) -> Option<Vec<&str>> {
    if path.contains('\0') || path.contains('\\') || !path.starts_with('/') {
        return None;
    }
    let mut stack = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                stack.pop()?;
            }
            name => stack.push(name),
        }
    }
    Some(stack)
}

fn scalar_equal(a: &Value, b: &Value) -> Option<bool> {
    match (a, b) {
        (Value::String(a), Value::String(b)) => Some(a == b),
        (Value::Bool(a), Value::Bool(b)) => Some(a == b),
        (Value::Number(_), Value::Number(_)) => Some(compare(number_of(a)?, number_of(b)?).is_eq()),
        _ => None,
    }
}

fn truth(holds: bool) -> Truth {
    if holds { Truth::True } else { Truth::False }
}

/// The atom's outcome on these arguments and claims. A missing operand,
/// or one of another type than the operator needs, is false (`!=` too).
pub fn atom_truth(
    atom: &RefAtom,
    arguments: &Map<String, Value>,
    claims: &Map<String, Value>,
) -> Truth {
    let Some(value) = atom.operand.read(arguments, claims) else {
        return Truth::False;
    };
    match &atom.op {
        RefOp::Eq(RefValue::Lit(literal)) => truth(literal.equals(value)),
        RefOp::Ne(RefValue::Lit(literal)) => {
            let same_type = matches!(
                (literal, value),
                (RefLit::Str(_), Value::String(_))
                    | (RefLit::Num(_), Value::Number(_))
                    | (RefLit::Bool(_), Value::Bool(_))
            );
            truth(same_type && !literal.equals(value))
        }
        RefOp::Eq(RefValue::Operand(other)) | RefOp::Ne(RefValue::Operand(other)) => {
            let negated = matches!(atom.op, RefOp::Ne(_));
            let equal = other
                .read(arguments, claims)
                .and_then(|right| scalar_equal(value, right));
            truth(equal.is_some_and(|equal| equal != negated))
        }
        RefOp::In(list) => truth(list.iter().any(|literal| literal.equals(value))),
        RefOp::Order(order, bound) => truth(number_of(value).is_some_and(|number| {
            let ordering = compare(number, ExactNum::literal(bound));
            match order {
                Order::Lt => ordering.is_lt(),
                Order::Le => ordering.is_le(),
                Order::Gt => ordering.is_gt(),
                Order::Ge => ordering.is_ge(),
            }
        })),
        RefOp::Contains(literal) => truth(
            value
                .as_array()
                .is_some_and(|items| items.iter().any(|item| literal.equals(item))),
        ),
        RefOp::Matches(glob) => truth(
            value
                .as_str()
                .is_some_and(|text| glob_matches_str(glob, text)),
        ),
        RefOp::Under(base) => {
            let Some(path) = value.as_str() else {
                return Truth::False;
            };
            let base = normal_form(base).expect("a valid base");
            match normal_form(path) {
                None => Truth::Undecided,
                Some(path) => truth(path.len() >= base.len() && path[..base.len()] == base[..]),
            }
        }
    }
}

/// The atom's truth; `in_deny` when it stands in a `deny ... when`, where
/// an undecided atom is true (it is false elsewhere).
pub fn reference_atom(
    atom: &RefAtom,
    arguments: &Map<String, Value>,
    claims: &Map<String, Value>,
    in_deny: bool,
) -> bool {
    match atom_truth(atom, arguments, claims) {
        Truth::True => true,
        Truth::False => false,
        Truth::Undecided => in_deny,
    }
}
