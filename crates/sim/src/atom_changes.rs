//! An atom whose values change between two policies: `arg.limit <= 100`
//! before, `arg.limit <= 50` after. Classified by the values each accepts
//! ([`crate::values`]), with a value one accepts and the other does not.

use mcp_policy_table::{Atom, Comparison, Op};
use serde::Serialize;
use serde_json::Value;

use crate::conditions::{Access, Vars};
use crate::diff::ChangeKind;
use crate::values::{Relation, example, relation};

/// One condition rewritten on the same operand.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AtomChange {
    /// `arg.limit`.
    pub operand: String,
    pub before: String,
    pub after: String,
    /// `narrowed` (it accepts fewer values now), `widened` (more), or
    /// `changed` (some values gained, others lost, or not decided).
    pub change: ChangeKind,
    /// A value only the old atom accepts, and one only the new accepts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub only_before: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub only_after: Option<Value>,
}

/// Which operators are one condition rewritten: an upper bound stays an
/// upper bound, a list a list (or one value), a glob a glob.
fn family(atom: &Atom) -> Option<u8> {
    Some(match atom.op() {
        Op::Compare(Comparison::Lt | Comparison::Le, _) => 0,
        Op::Compare(Comparison::Gt | Comparison::Ge, _) => 1,
        Op::Eq(_) | Op::In(_) => 2,
        Op::Ne(_) => 3,
        Op::Matches(_) => 4,
        Op::Under(_) => 5,
        Op::Contains(_) => 6,
        Op::EqOperand(_) | Op::NeOperand(_) => return None,
    })
}

/// The atoms only the old side reads paired with those only the new side
/// reads, on the same operand and of the same family.
pub fn atom_changes(old: &Access, new: &Access, vars: &Vars) -> Vec<AtomChange> {
    let (before, after) = (old.vars(), new.vars());
    let mut out = Vec::new();
    for &a in before.difference(&after) {
        for &b in after.difference(&before) {
            let (Some(x), Some(y)) = (vars.atom(a), vars.atom(b)) else {
                continue;
            };
            if x.operand() != y.operand() || family(x).is_none() || family(x) != family(y) {
                continue;
            }
            let change = match relation(x, y) {
                Relation::Equal => continue,
                Relation::Subset => ChangeKind::Widened,
                Relation::Superset => ChangeKind::Narrowed,
                Relation::Disjoint | Relation::Overlap | Relation::Unknown => ChangeKind::Changed,
            };
            out.push(AtomChange {
                operand: x.operand().to_string(),
                before: vars.text(a).to_owned(),
                after: vars.text(b).to_owned(),
                change,
                only_before: example(x, y),
                only_after: example(y, x),
            });
        }
    }
    out
}
