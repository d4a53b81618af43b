//! Two condition atoms on one operand, compared by the values they accept.
//!
//! The diff treats atoms as propositional variables; this module says how
//! two of them relate, so that the diff neither counts impossible requests
//! (`arg.limit <= 50` true and `arg.limit <= 100` false) nor calls
//! `<= 100` → `<= 50` a "change" when it is a narrowing. Every relation it
//! states is exact; where it cannot decide, it says [`Relation::Unknown`],
//! which the diff reads as "no constraint" (so it may report a change no
//! request shows, never miss one).
//!
//! Accepted values: numbers as intervals, `in` lists (and `==`) as finite
//! sets, globs by inclusion ([`Glob::is_subset_of`], the linter's own test
//! for shadowing), `under` by path prefix, and atoms needing different JSON
//! types as disjoint. A missing value or one of another type makes every
//! atom false, so "accepts" is about present values of the atom's type.

use std::cmp::Ordering;

use mcp_policy_table::{Atom, Comparison, Context, Glob, Literal, Num, Op, PathBase, Source};
use serde_json::{Map, Value};

/// How the values `a` accepts relate to those `b` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relation {
    Equal,
    /// Every value `a` accepts, `b` accepts, and `b` accepts more.
    Subset,
    /// The reverse of [`Relation::Subset`].
    Superset,
    /// No value is accepted by both.
    Disjoint,
    /// Some values by both, some by each alone.
    Overlap,
    /// Not decided here: no constraint is drawn from it.
    Unknown,
}

impl Relation {
    fn flipped(self) -> Relation {
        match self {
            Relation::Subset => Relation::Superset,
            Relation::Superset => Relation::Subset,
            other => other,
        }
    }
}

/// The JSON type an atom's operand must have for it to hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Domain {
    Number,
    String,
    Bool,
    Array,
}

/// An atom's accepted values, in the form this module compares.
enum Shape<'a> {
    /// Exactly these values (`==`, `in`, `!= bool`, a glob without `*`).
    Finite(Vec<Literal>),
    Interval(Interval),
    Glob(&'a Glob),
    Under(&'a PathBase),
    /// Every value of the literal's type but the literal.
    AllBut(&'a Literal),
    /// Arrays holding a literal.
    Contains,
}

/// A half-line of numbers: one bound, open or closed.
#[derive(Clone, Copy)]
struct Interval {
    below: bool,
    bound: Num,
    closed: bool,
}

impl Interval {
    fn holds(self, n: Num) -> bool {
        match (self.below, n.cmp(&self.bound)) {
            (_, Ordering::Equal) => self.closed,
            (true, order) => order == Ordering::Less,
            (false, order) => order == Ordering::Greater,
        }
    }

    /// `self ⊆ other`.
    fn within(self, other: Interval) -> bool {
        if self.below != other.below {
            return false;
        }
        match self.bound.cmp(&other.bound) {
            Ordering::Equal => other.closed || !self.closed,
            Ordering::Less => self.below,
            Ordering::Greater => !self.below,
        }
    }

    fn meets(self, other: Interval) -> bool {
        if self.below == other.below {
            return true;
        }
        let (low, high) = if self.below {
            (other, self)
        } else {
            (self, other)
        };
        // `low` is [bound, ∞) or (bound, ∞); `high` is (-∞, bound].
        match low.bound.cmp(&high.bound) {
            Ordering::Less => true,
            Ordering::Equal => low.closed && high.closed,
            Ordering::Greater => false,
        }
    }
}

fn shape(atom: &Atom) -> Option<Shape<'_>> {
    Some(match atom.op() {
        Op::Eq(literal) => Shape::Finite(vec![literal.clone()]),
        Op::In(list) => Shape::Finite(list.clone()),
        Op::Ne(Literal::Bool(flag)) => Shape::Finite(vec![Literal::Bool(!flag)]),
        Op::Ne(literal) => Shape::AllBut(literal),
        Op::Compare(comparison, bound) => Shape::Interval(Interval {
            below: matches!(comparison, Comparison::Lt | Comparison::Le),
            bound: *bound,
            closed: matches!(comparison, Comparison::Le | Comparison::Ge),
        }),
        Op::Matches(glob) if !glob.as_str().contains('*') => {
            Shape::Finite(vec![Literal::String(glob.as_str().to_owned())])
        }
        Op::Matches(glob) => Shape::Glob(glob),
        Op::Under(base) => Shape::Under(base),
        Op::Contains(_) => Shape::Contains,
        // Compares two operands: its accepted values depend on the other.
        Op::EqOperand(_) | Op::NeOperand(_) => return None,
    })
}

fn domain_of(literal: &Literal) -> Domain {
    match literal {
        Literal::String(_) => Domain::String,
        Literal::Number(_) => Domain::Number,
        Literal::Bool(_) => Domain::Bool,
    }
}

impl Shape<'_> {
    /// The type of every value accepted; `None` for a mixed `in` list.
    fn domain(&self) -> Option<Domain> {
        match self {
            Shape::Finite(list) => {
                let first = domain_of(list.first()?);
                list.iter()
                    .all(|literal| domain_of(literal) == first)
                    .then_some(first)
            }
            Shape::Interval(_) => Some(Domain::Number),
            Shape::Glob(_) | Shape::Under(_) => Some(Domain::String),
            Shape::AllBut(literal) => Some(domain_of(literal)),
            Shape::Contains => Some(Domain::Array),
        }
    }

    /// Whether a scalar value is accepted.
    fn accepts(&self, value: &Literal) -> bool {
        match (self, value) {
            (Shape::Finite(list), _) => list.contains(value),
            (Shape::Interval(interval), Literal::Number(n)) => interval.holds(*n),
            (Shape::Glob(glob), Literal::String(text)) => glob.matches(text),
            (Shape::Under(base), Literal::String(path)) => base.contains(path).is_ok(),
            (Shape::AllBut(literal), _) => {
                domain_of(literal) == domain_of(value) && *literal != value
            }
            _ => false,
        }
    }
}

/// How the values `a` accepts relate to those `b` accepts. Atoms on
/// different operands, or comparing two operands, are [`Relation::Unknown`]
/// unless equal.
pub fn relation(a: &Atom, b: &Atom) -> Relation {
    if a == b {
        return Relation::Equal;
    }
    if a.operand() != b.operand() {
        return Relation::Unknown;
    }
    match (shape(a), shape(b)) {
        (Some(a), Some(b)) => shapes(&a, &b),
        _ => Relation::Unknown,
    }
}

fn shapes(a: &Shape<'_>, b: &Shape<'_>) -> Relation {
    if let (Some(x), Some(y)) = (a.domain(), b.domain())
        && x != y
    {
        return Relation::Disjoint;
    }
    match (a, b) {
        (Shape::Finite(x), Shape::Finite(y)) => {
            let x_in_y = x.iter().all(|v| y.contains(v));
            let y_in_x = y.iter().all(|v| x.contains(v));
            match (x_in_y, y_in_x) {
                (true, true) => Relation::Equal,
                (true, false) => Relation::Subset,
                (false, true) => Relation::Superset,
                _ if x.iter().any(|v| y.contains(v)) => Relation::Overlap,
                _ => Relation::Disjoint,
            }
        }
        // The other shapes accept infinitely many values.
        (Shape::Finite(x), other) => {
            let inside = x.iter().filter(|v| other.accepts(v)).count();
            if inside == x.len() {
                Relation::Subset
            } else if inside == 0 {
                Relation::Disjoint
            } else {
                Relation::Overlap
            }
        }
        (_, Shape::Finite(_)) => shapes(b, a).flipped(),
        (Shape::Interval(x), Shape::Interval(y)) => match (x.within(*y), y.within(*x)) {
            (true, true) => Relation::Equal,
            (true, false) => Relation::Subset,
            (false, true) => Relation::Superset,
            _ if x.meets(*y) => Relation::Overlap,
            _ => Relation::Disjoint,
        },
        (Shape::Glob(x), Shape::Glob(y)) => match (x.is_subset_of(y), y.is_subset_of(x)) {
            (true, true) => Relation::Equal,
            (true, false) => Relation::Subset,
            (false, true) => Relation::Superset,
            _ if x.overlaps(y) => Relation::Overlap,
            _ => Relation::Disjoint,
        },
        (Shape::Under(x), Shape::Under(y)) => {
            match (
                y.contains(x.as_str()).is_ok(),
                x.contains(y.as_str()).is_ok(),
            ) {
                (true, true) => Relation::Equal,
                (true, false) => Relation::Subset,
                (false, true) => Relation::Superset,
                // Neither base is under the other: no path is under both.
                _ => Relation::Disjoint,
            }
        }
        // Two different excluded values: each accepts the other's.
        (Shape::AllBut(_), Shape::AllBut(_)) => Relation::Overlap,
        // `x` misses the excluded value: all it accepts, `!=` accepts.
        (x, Shape::AllBut(excluded)) if !x.accepts(excluded) => Relation::Subset,
        (Shape::AllBut(excluded), y) if !y.accepts(excluded) => Relation::Superset,
        // `[a]`, `[b]` and `[a, b]`: each alone, and both.
        (Shape::Contains, Shape::Contains) => Relation::Overlap,
        _ => Relation::Unknown,
    }
}

/// A value `a` accepts and `b` does not, tried among values drawn from both
/// atoms (their literals, bounds and neighbours, glob and base forms) and
/// checked by evaluating the atoms themselves.
pub fn example(a: &Atom, b: &Atom) -> Option<Value> {
    let mut candidates = Vec::new();
    for atom in [a, b] {
        candidates.extend(candidates_of(atom));
    }
    candidates
        .into_iter()
        .find(|value| holds_on(a, value) && !holds_on(b, value))
}

fn candidates_of(atom: &Atom) -> Vec<Value> {
    let mut out = Vec::new();
    let mut literal = |literal: &Literal| {
        out.push(literal.to_json());
        match literal {
            Literal::String(text) => out.push(Value::String(format!("{text}x"))),
            Literal::Number(n) => out.extend(neighbours(*n)),
            Literal::Bool(flag) => out.push(Value::Bool(!flag)),
        }
    };
    match atom.op() {
        Op::Eq(value) | Op::Ne(value) => literal(value),
        Op::In(list) => list.iter().for_each(literal),
        Op::Compare(_, bound) => {
            out.push(bound.to_json());
            out.extend(neighbours(*bound));
        }
        Op::Contains(value) => out.push(Value::Array(vec![value.to_json()])),
        Op::Matches(glob) => {
            for fill in ["", "x", "x/x"] {
                out.push(Value::String(glob.as_str().replace('*', fill)));
            }
        }
        Op::Under(base) => {
            let text = base.as_str();
            out.push(Value::String(text.to_owned()));
            out.push(Value::String(format!("{}/x", text.trim_end_matches('/'))));
            let parent = text.rsplit_once('/').map_or("/", |(parent, _)| parent);
            out.push(Value::String(if parent.is_empty() {
                "/x".to_owned()
            } else {
                format!("{parent}/x")
            }));
        }
        Op::EqOperand(_) | Op::NeOperand(_) => {}
    }
    out
}

/// The numbers around `n`: ±1 and ±½, exactly where `f64` allows.
fn neighbours(n: Num) -> Vec<Value> {
    let Some(x) = n.to_json().as_f64() else {
        return Vec::new();
    };
    [x - 1.0, x + 1.0, x - 0.5, x + 0.5]
        .into_iter()
        .filter_map(Num::float)
        .map(Num::to_json)
        .collect()
}

/// Evaluates `atom` on a request whose operand holds `value`.
fn holds_on(atom: &Atom, value: &Value) -> bool {
    let operand = atom.operand();
    let mut nested = value.clone();
    for key in operand.path.iter().skip(1).rev() {
        let mut map = Map::new();
        map.insert(key.clone(), nested);
        nested = Value::Object(map);
    }
    let mut root = Map::new();
    if let Some(first) = operand.path.first() {
        root.insert(first.clone(), nested);
    }
    let context = match operand.source {
        Source::Arg => Context::new(Some(&root), None),
        Source::Claim => Context::new(None, Some(&root)),
    };
    atom.holds(&context)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use mcp_policy_table::Operand;
    use serde_json::json;

    fn arg(op: Op) -> Atom {
        Atom::new(Operand::arg(["x"]), op).unwrap()
    }
    fn le(n: i64) -> Atom {
        arg(Op::Compare(Comparison::Le, Num::from(n)))
    }
    fn lt(n: i64) -> Atom {
        arg(Op::Compare(Comparison::Lt, Num::from(n)))
    }
    fn ge(n: i64) -> Atom {
        arg(Op::Compare(Comparison::Ge, Num::from(n)))
    }
    fn glob(g: &str) -> Atom {
        arg(Op::Matches(Glob::new(g)))
    }
    fn under(base: &str) -> Atom {
        Atom::under(Operand::arg(["x"]), base).unwrap()
    }
    fn strings(list: &[&str]) -> Atom {
        arg(Op::In(
            list.iter().map(|s| Literal::String((*s).into())).collect(),
        ))
    }

    #[test]
    fn numbers_as_intervals() {
        assert_eq!(relation(&le(50), &le(100)), Relation::Subset);
        assert_eq!(relation(&le(100), &le(50)), Relation::Superset);
        assert_eq!(relation(&lt(5), &le(5)), Relation::Subset);
        assert_eq!(relation(&ge(5), &le(5)), Relation::Overlap);
        assert_eq!(relation(&ge(6), &lt(6)), Relation::Disjoint);
        assert_eq!(example(&le(100), &le(50)), Some(json!(100)));
        assert_eq!(example(&le(5), &lt(5)), Some(json!(5)));
        assert_eq!(example(&le(50), &le(100)), None);
        // `== 7` is inside `<= 100`.
        let seven = arg(Op::Eq(Literal::Number(Num::from(7i64))));
        assert_eq!(relation(&seven, &le(100)), Relation::Subset);
    }

    #[test]
    fn globs_by_inclusion_lists_as_sets_under_by_prefix() {
        assert_eq!(relation(&glob("acme/*"), &glob("*")), Relation::Subset);
        assert_eq!(relation(&glob("a*"), &glob("*b")), Relation::Overlap);
        assert_eq!(relation(&glob("a*"), &glob("b*")), Relation::Disjoint);
        assert_eq!(example(&glob("*"), &glob("acme/*")), Some(json!("")));
        assert_eq!(
            relation(&strings(&["a", "b"]), &strings(&["a", "b", "c"])),
            Relation::Subset
        );
        assert_eq!(
            relation(&strings(&["a", "b"]), &strings(&["b", "c"])),
            Relation::Overlap
        );
        assert_eq!(
            example(&strings(&["a", "b"]), &strings(&["b", "c"])),
            Some(json!("a"))
        );
        assert_eq!(
            relation(&under("/workspace/a"), &under("/workspace")),
            Relation::Subset
        );
        assert_eq!(
            relation(&under("/workspace2"), &under("/workspace")),
            Relation::Disjoint
        );
        assert_eq!(
            example(&under("/workspace"), &under("/workspace/a")),
            Some(json!("/workspace"))
        );
        // A string is never a number.
        assert_eq!(relation(&glob("*"), &le(3)), Relation::Disjoint);
        // On another operand: no relation is drawn.
        let other = Atom::new(
            Operand::arg(["y"]),
            Op::Compare(Comparison::Le, Num::from(3i64)),
        )
        .unwrap();
        assert_eq!(relation(&other, &le(3)), Relation::Unknown);
    }
}
