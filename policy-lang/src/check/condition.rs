//! A condition as written to the table's atom: operands and literals read,
//! every value checked against what its operator needs. An atom that could
//! never hold as written (`arg.n < "5"`, `under "tmp"`) is an error here,
//! not a silent `false` at run time.

use mcp_policy_table::condition::{Atom, EXACT_INTEGERS, Inexact, Num, Op, Source};
use mcp_policy_table::{Glob, TargetKind};

use crate::ast::{Condition, Literal, Node, Span, Test, Value};
use crate::diagnostic::{Code, Diagnostic};

/// The atom of `condition` in a rule of `kind`, or every reason it cannot
/// be one.
/// `span` is the whole condition's.
pub(super) fn atom(
    condition: &Condition,
    span: Span,
    kind: TargetKind,
) -> Result<Atom, Vec<Diagnostic>> {
    let mut problems = Vec::new();
    let operand = condition.operand.node.clone();
    if kind == TargetKind::Resource {
        let args = std::iter::once(&condition.operand).filter(|o| o.node.source == Source::Arg);
        for arg in args {
            problems.push(
                invalid(arg.span, "a `resource` rule has no arguments", "no argument")
                    .with_help("`resources/read` carries only a URI: condition a resource on `claim.` operands, or move the condition to a `tool` rule"),
            );
        }
    }
    let op = match &condition.test {
        Test::Eq(value) | Test::Ne(value) => {
            let negated = matches!(condition.test, Test::Ne(_));
            match &value.node {
                Value::Literal(literal) => scalar(literal, value.span).map(|literal| {
                    if negated {
                        Op::Ne(literal)
                    } else {
                        Op::Eq(literal)
                    }
                }),
                Value::Operand(other) => {
                    if other.source == Source::Arg && operand.source == Source::Arg {
                        Err(invalid(
                            value.span,
                            "an argument cannot be compared with another argument",
                            "another argument",
                        )
                        .with_help("compare each argument with a literal, or with the `claim.` both should equal: `arg.owner == claim.sub`"))
                    } else if negated {
                        Ok(Op::NeOperand(other.clone()))
                    } else {
                        Ok(Op::EqOperand(other.clone()))
                    }
                }
            }
        }
        Test::In(list) => {
            if list.is_empty() {
                Err(invalid(span, "`in []` can never hold", "an empty list")
                .with_help("list at least one value: `in [\"a\", \"b\"]`"))
            } else {
                list.iter()
                    .map(|literal| scalar(&literal.node, literal.span))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Op::In)
            }
        }
        Test::Compare(comparison, bound) => match &bound.node {
            Literal::Number(_) => scalar(&bound.node, bound.span).and_then(|literal| match literal {
                mcp_policy_table::condition::Literal::Number(number) => {
                    Ok(Op::Compare(*comparison, number))
                }
                _ => Err(not_a(bound, "a number", "an ordering compares numbers only")),
            }),
            _ => Err(not_a(
                bound,
                "a number",
                "`<`, `<=`, `>` and `>=` compare numbers only; use `==` or `in [...]` for other values",
            )),
        },
        Test::Contains(element) => scalar(&element.node, element.span).map(Op::Contains),
        Test::Matches(glob) => match &glob.node {
            Literal::String(text) if text.is_empty() => Err(invalid(
                glob.span,
                "an empty glob matches only the empty string",
                "empty glob",
            )
            .with_help("write a pattern such as `\"acme/*\"` (`*` matches any run of characters, `/` included), or `== \"\"` to test for the empty string")),
            Literal::String(text) => Ok(Op::Matches(Glob::new(text))),
            _ => Err(not_a(
                glob,
                "a string",
                "`matches` takes a quoted glob, such as `\"acme/*\"`",
            )),
        },
        Test::Under(base) => match &base.node {
            Literal::String(text) => return under(condition, text, base.span, problems),
            _ => Err(not_a(
                base,
                "a string",
                "`under` takes a quoted absolute directory, such as `\"/workspace\"`",
            )),
        },
    };
    match op {
        Ok(op) if problems.is_empty() => Atom::new(operand, op).map_err(|error| {
            vec![
                invalid(condition.operand.span, &error.to_string(), "here")
                    .with_help("name a key after `arg.` or `claim.`"),
            ]
        }),
        Ok(_) => Err(problems),
        Err(problem) => {
            problems.push(problem);
            Err(problems)
        }
    }
}

/// `under "BASE"`: the base must be an absolute path in normal form's
/// reach: no `..` (what it climbs out of is the reader's guess), no NUL,
/// no `\`.
fn under(
    condition: &Condition,
    base: &str,
    span: Span,
    mut problems: Vec<Diagnostic>,
) -> Result<Atom, Vec<Diagnostic>> {
    if base.split('/').any(|segment| segment == "..") {
        problems.push(
            invalid(span, "an `under` base cannot hold `..`", "`..` here")
                .with_help("write the directory it means, without `..`: `under \"/workspace\"`"),
        );
        return Err(problems);
    }
    let atom = Atom::under(condition.operand.node.clone(), base);
    match atom {
        Ok(atom) if problems.is_empty() => Ok(atom),
        Ok(_) => Err(problems),
        Err(error) => {
            let help = if base.starts_with('/') {
                "an `under` base is an absolute directory without NUL or `\\`: `under \"/workspace\"`".to_owned()
            } else {
                format!(
                    "an `under` base is absolute: `under \"/{}\"`",
                    base.trim_start_matches("./").escape_debug()
                )
            };
            problems.push(
                invalid(span, &error.to_string(), "not an absolute directory").with_help(help),
            );
            Err(problems)
        }
    }
}

/// A literal as the table holds it. A number is refused when the
/// comparison would hold another number than the one written and an
/// argument could tell them apart (see [`Num::literal`] and SPEC.md,
/// "Numbers"): the policy, its analysis and the server must agree on it.
fn scalar(
    literal: &Literal,
    span: Span,
) -> Result<mcp_policy_table::condition::Literal, Diagnostic> {
    use mcp_policy_table::condition::Literal as Table;
    Ok(match literal {
        Literal::String(text) => Table::String(text.clone()),
        Literal::Bool(flag) => Table::Bool(*flag),
        Literal::Number(text) => Table::Number(
            Num::literal(text).map_err(|inexact| inexact_number(text, inexact, span))?,
        ),
    })
}

/// The most characters of a number literal a message repeats: the span
/// shows where it is, and a 10 MB literal is not a 10 MB message.
const SHOWN_LITERAL_CHARS: usize = 40;

fn inexact_number(text: &str, inexact: Inexact, span: Span) -> Diagnostic {
    let (start, end) = (EXACT_INTEGERS.start(), EXACT_INTEGERS.end());
    let text = match text.char_indices().nth(SHOWN_LITERAL_CHARS) {
        Some((cut, _)) => format!(
            "{}… ({} digits in all)",
            text.get(..cut).unwrap_or_default(),
            text.chars().filter(char::is_ascii_digit).count()
        ),
        None => text.to_owned(),
    };
    match inexact {
        Inexact::NotANumber => invalid(
            span,
            &format!("`{text}` is not a number JSON can hold"),
            "out of range",
        )
        .with_help("write a number within the range of a 64-bit float"),
        Inexact::BeyondIntegers => invalid(
            span,
            &format!("`{text}` is beyond the integers a comparison holds exactly"),
            "not exact",
        )
        .with_help(format!(
            "a number literal lies from {start} to {end}: beyond, arguments are read as 64-bit floats and neighbouring integers compare equal ({}, a float, is what those just below it are read as)",
            i64::MIN
        )),
        Inexact::RoundedInteger { written, read } => invalid(
            span,
            &format!("`{text}` would be read as the 64-bit float {read}, not {written}"),
            "rounded",
        )
        .with_help(format!(
            "write the integer without a fraction or an exponent, `{written}`: integers from {start} to {end} are kept exact"
        )),
        Inexact::RoundsToInteger { read } => invalid(
            span,
            &format!("`{text}` would be read as the integer {read}, which it is not"),
            "rounded",
        )
        .with_help(format!(
            "the 64-bit float nearest to it is the integer {read}, which an integer argument `{read}` would equal: write `{read}` if that is meant, or a number with fewer digits"
        )),
    }
}

fn not_a(literal: &Node<Literal>, expected: &str, help: &str) -> Diagnostic {
    invalid(
        literal.span,
        &format!(
            "expected {expected}, found {} `{}`",
            literal.node.kind(),
            literal.node
        ),
        &format!("not {expected}"),
    )
    .with_help(help.to_owned())
}

fn invalid(span: Span, message: &str, label: &str) -> Diagnostic {
    Diagnostic::error(Code::InvalidCondition, message.to_owned()).with_label(span, label.to_owned())
}
