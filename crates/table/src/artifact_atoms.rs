//! Condition atoms in the artifact: each atom once, with its text, its
//! operand and its test; rules name them by index. Loading checks what the
//! compiler guarantees (a literal is a string, a finite number or a
//! boolean; an `under` base is absolute and already normalised; no atom
//! repeats another) and reports each defect, never panics.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::condition::{
    Atom, AtomCatalog, AtomInfo, Comparison, Inexact, Literal, Num, Op, Operand, PathBase, Source,
};
use crate::glob::Glob;
use crate::validate::Defect;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ArtifactAtom {
    text: String,
    operand: ArtifactOperand,
    test: ArtifactTest,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ArtifactOperand {
    Arg(Vec<String>),
    Claim(Vec<String>),
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ArtifactTest {
    Eq(Value),
    Ne(Value),
    EqOperand(ArtifactOperand),
    NeOperand(ArtifactOperand),
    In(Vec<Value>),
    Lt(Value),
    Le(Value),
    Gt(Value),
    Ge(Value),
    Contains(Value),
    Matches(String),
    Under(String),
}

impl ArtifactOperand {
    fn of(operand: &Operand) -> ArtifactOperand {
        match operand.source {
            Source::Arg => ArtifactOperand::Arg(operand.path.clone()),
            Source::Claim => ArtifactOperand::Claim(operand.path.clone()),
        }
    }

    fn into_operand(self) -> Operand {
        match self {
            ArtifactOperand::Arg(path) => Operand::arg(path),
            ArtifactOperand::Claim(path) => Operand::claim(path),
        }
    }
}

/// The catalog's atoms as the artifact holds them.
pub(crate) fn write(atoms: &AtomCatalog) -> Vec<ArtifactAtom> {
    atoms
        .iter()
        .map(|(_, info)| {
            let atom = &info.atom;
            let test = match atom.op() {
                Op::Eq(literal) => ArtifactTest::Eq(literal.to_json()),
                Op::Ne(literal) => ArtifactTest::Ne(literal.to_json()),
                Op::EqOperand(other) => ArtifactTest::EqOperand(ArtifactOperand::of(other)),
                Op::NeOperand(other) => ArtifactTest::NeOperand(ArtifactOperand::of(other)),
                Op::In(list) => ArtifactTest::In(list.iter().map(Literal::to_json).collect()),
                Op::Compare(comparison, bound) => {
                    let bound = bound.to_json();
                    match comparison {
                        Comparison::Lt => ArtifactTest::Lt(bound),
                        Comparison::Le => ArtifactTest::Le(bound),
                        Comparison::Gt => ArtifactTest::Gt(bound),
                        Comparison::Ge => ArtifactTest::Ge(bound),
                    }
                }
                Op::Contains(literal) => ArtifactTest::Contains(literal.to_json()),
                Op::Matches(glob) => ArtifactTest::Matches(glob.as_str().to_owned()),
                Op::Under(base) => ArtifactTest::Under(base.as_str().to_owned()),
            };
            ArtifactAtom {
                text: info.text.clone(),
                operand: ArtifactOperand::of(atom.operand()),
                test,
            }
        })
        .collect()
}

/// The catalog an artifact's atoms make, in their order (rules name them
/// by position), or every defect found.
pub(crate) fn read(atoms: Vec<ArtifactAtom>) -> Result<AtomCatalog, Vec<Defect>> {
    let mut catalog = AtomCatalog::new();
    let mut defects = Vec::new();
    for written in atoms {
        let text = written.text;
        let invalid = |problem: String| Defect::InvalidAtom {
            atom: text.clone(),
            problem,
        };
        match atom(written.operand.into_operand(), written.test) {
            Ok(atom) => {
                if let Err(first) = catalog.push_unique(AtomInfo {
                    atom,
                    text: text.clone(),
                }) {
                    defects.push(Defect::DuplicateAtom {
                        first: catalog.text(first).to_owned(),
                        second: text,
                    });
                }
            }
            Err(problem) => defects.push(invalid(problem)),
        }
    }
    if defects.is_empty() {
        Ok(catalog)
    } else {
        Err(defects)
    }
}

fn literal(value: &Value) -> Result<Literal, String> {
    if value.is_number() {
        return number(value).map(Literal::Number);
    }
    Literal::from_json(value)
        .ok_or_else(|| format!("`{value}` is not a string, a finite number or a boolean"))
}

/// A number as the compiler accepts a literal ([`Num::literal`]): a hand
/// edit cannot bring in one that compares inexactly (`1e20`, which
/// arguments near it equal), which the checker would have refused.
fn number(value: &Value) -> Result<Num, String> {
    let number = value
        .as_number()
        .ok_or_else(|| format!("`{value}` is not a finite number"))?;
    Num::literal(&number.to_string()).map_err(|inexact| match inexact {
        Inexact::NotANumber => format!("`{value}` is not a finite number"),
        Inexact::BeyondIntegers
        | Inexact::RoundedInteger { .. }
        | Inexact::RoundsToInteger { .. } => {
            format!("`{value}` is a number no comparison holds exactly (the compiler refuses it)")
        }
    })
}

/// One atom, checked as the compiler would have made it.
fn atom(operand: Operand, test: ArtifactTest) -> Result<Atom, String> {
    let op = match test {
        ArtifactTest::Eq(value) => Op::Eq(literal(&value)?),
        ArtifactTest::Ne(value) => Op::Ne(literal(&value)?),
        ArtifactTest::EqOperand(other) => Op::EqOperand(other.into_operand()),
        ArtifactTest::NeOperand(other) => Op::NeOperand(other.into_operand()),
        // The checker refuses these two (`in []` never holds, `matches ""`
        // is `== ""` misspelt); so does the loader.
        ArtifactTest::In(values) if values.is_empty() => {
            return Err("an empty `in` list can never hold".to_owned());
        }
        ArtifactTest::Matches(pattern) if pattern.is_empty() => {
            return Err("an empty `matches` glob matches only the empty string".to_owned());
        }
        ArtifactTest::In(values) => Op::In(values.iter().map(literal).collect::<Result<_, _>>()?),
        ArtifactTest::Lt(value) => Op::Compare(Comparison::Lt, number(&value)?),
        ArtifactTest::Le(value) => Op::Compare(Comparison::Le, number(&value)?),
        ArtifactTest::Gt(value) => Op::Compare(Comparison::Gt, number(&value)?),
        ArtifactTest::Ge(value) => Op::Compare(Comparison::Ge, number(&value)?),
        ArtifactTest::Contains(value) => Op::Contains(literal(&value)?),
        ArtifactTest::Matches(pattern) => Op::Matches(Glob::new(&pattern)),
        ArtifactTest::Under(base) => {
            let normal = PathBase::new(&base).map_err(|problem| {
                format!(
                    "`{}` cannot be an `under` base: {problem}",
                    base.escape_debug()
                )
            })?;
            if normal.as_str() != base {
                return Err(format!(
                    "the `under` base `{}` is not in normal form (`{}`)",
                    base.escape_debug(),
                    normal.as_str().escape_debug()
                ));
            }
            Op::Under(normal)
        }
    };
    Atom::new(operand, op).map_err(|err| err.to_string())
}
