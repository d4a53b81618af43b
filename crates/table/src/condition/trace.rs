//! One atom's evaluation as an explanation shows it: the values read, the
//! outcome, and why it is false. Off the hot path: this copies the values.

use serde_json::Value;

use super::{Atom, AtomId, Context, Falsity, Op};

/// An atom evaluated on a context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AtomTrace {
    pub atom: AtomId,
    pub holds: bool,
    /// The value the (left) operand read; `None` when missing.
    pub value: Option<Value>,
    /// For a comparison of two operands, the right one's value; `None`
    /// when missing or when the atom compares with a literal.
    pub other: Option<Value>,
    /// Why the atom is false; `None` when it holds.
    pub why: Option<Falsity>,
}

impl Atom {
    /// Evaluates the atom and records what it read.
    pub fn trace(&self, id: AtomId, context: &Context<'_>) -> AtomTrace {
        let outcome = self.check(context);
        let other = match self.op() {
            Op::EqOperand(other) | Op::NeOperand(other) => other.read(context).cloned(),
            _ => None,
        };
        AtomTrace {
            atom: id,
            holds: outcome.is_ok(),
            value: self.operand().read(context).cloned(),
            other,
            why: outcome.err(),
        }
    }
}
