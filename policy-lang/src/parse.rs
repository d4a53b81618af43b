//! Text to syntax tree: the pest grammar, driven one statement at a time so
//! that one run reports every syntax error, each with a position, what was
//! expected in words, and a suggestion when a keyword is misspelled.

use pest::iterators::Pair;

use crate::ast::{
    Comparison, Condition, Literal, Node, Operand, PolicyFile, Requirement, RuleDecl, ScopeDecl,
    Source, Span, Statement, TargetKind, TargetPattern, Test, Value,
};
use crate::diagnostic::{Code, Diagnostic};
use crate::suggest::did_you_mean;
use crate::syntax::cst::{self, Cst};
use crate::syntax::grammar::Rule;
use crate::syntax::lexicon::{GROUP_KEYWORDS, unquote};

/// Words that begin a statement: they cannot be bare names.
pub use crate::syntax::lexicon::STATEMENT_KEYWORDS as RESERVED;

pub use crate::syntax::cst::MAX_NESTING;

/// Parses a whole file. Always returns a tree (of the statements that
/// parsed) and the syntax errors found.
pub fn parse(source: &str) -> (PolicyFile, Vec<Diagnostic>) {
    let (_, file, diagnostics) = parse_cst(source);
    (file, diagnostics)
}

/// Parses a whole file into its concrete tree and the syntax tree built
/// from it, statement by statement, with every syntax error, in order.
pub(crate) fn parse_cst(source: &str) -> (Cst<'_>, PolicyFile, Vec<Diagnostic>) {
    let mut statements = Vec::new();
    let mut errors = Vec::new();
    let (cst, syntax_errors) = cst::parse(source, |tree, base, span| {
        match statement(tree, base, span) {
            Ok(statement) => statements.push(statement),
            Err(diagnostic) => errors.push(diagnostic),
        }
    });
    let file = PolicyFile {
        statements,
        broken_scopes: cst.broken_scopes().to_vec(),
    };
    (cst, file, in_source_order(syntax_errors, errors))
}

/// Two lists of diagnostics, each in source order, merged: the statements
/// that broke and those that parsed do not overlap.
fn in_source_order(a: Vec<Diagnostic>, b: Vec<Diagnostic>) -> Vec<Diagnostic> {
    if b.is_empty() {
        return a;
    }
    let mut merged = Vec::with_capacity(a.len() + b.len());
    let mut b = b.into_iter().peekable();
    for diagnostic in a {
        while let Some(earlier) = b.next_if(|other| other.span().start < diagnostic.span().start) {
            merged.push(earlier);
        }
        merged.push(diagnostic);
    }
    merged.extend(b);
    merged
}

fn span_of(pair: &Pair<'_, Rule>, base: usize) -> Span {
    let span = pair.as_span();
    Span::new(base + span.start(), base + span.end())
}

/// A pair's children that carry meaning (keywords dropped).
fn children<'i>(pair: Pair<'i, Rule>) -> impl Iterator<Item = Pair<'i, Rule>> {
    pair.into_inner().filter(|child| {
        !matches!(
            child.as_rule(),
            Rule::kw_policy
                | Rule::kw_default
                | Rule::kw_scope
                | Rule::kw_level
                | Rule::kw_implies
                | Rule::kw_deny
                | Rule::kw_requires
                | Rule::kw_any_of
                | Rule::kw_all_of
                | Rule::kw_when
                | Rule::kw_in
                | Rule::kw_contains
                | Rule::kw_matches
                | Rule::kw_under
                | Rule::open_list
                | Rule::close_list
                | Rule::comma
                | Rule::close
        )
    })
}

/// What an internal error asks of the reader.
pub(crate) const INTERNAL_HELP: &str =
    "this is a bug of mcp-policy, not of the policy: please report it with the file";

fn internal(span: Span, what: &str) -> Diagnostic {
    // The grammar guarantees the shapes below; should it change without this
    // module, say so instead of panicking.
    Diagnostic::error(
        Code::Internal,
        format!("internal parser error: unexpected shape of {what}"),
    )
    .with_label(span, "here")
    .with_help(INTERNAL_HELP)
}

fn statement(pair: Pair<'_, Rule>, base: usize, span: Span) -> Result<Node<Statement>, Diagnostic> {
    let rule = pair.as_rule();
    let mut parts = children(pair);
    let mut next = |what: &str| parts.next().ok_or_else(|| internal(span, what));
    let statement = match rule {
        Rule::policy_decl => Statement::Policy(string(next("policy name")?, base)),
        Rule::default_decl => {
            let value = next("default value")?;
            Statement::Default(Node::new(value.as_str().to_owned(), span_of(&value, base)))
        }
        Rule::scope_decl => {
            let name = string_or_bare(next("scope name")?, base);
            let level_pair = next("scope level")?;
            let level = Node::new(level_pair.as_str().to_owned(), span_of(&level_pair, base));
            let mut description = None;
            let mut implies = Vec::new();
            for part in parts {
                match part.as_rule() {
                    Rule::description => {
                        let inner = part
                            .into_inner()
                            .next()
                            .ok_or_else(|| internal(span, "description"))?;
                        description = Some(string(inner, base));
                    }
                    Rule::implies_clause => {
                        implies = children(part)
                            .map(|name| string_or_bare(name, base))
                            .collect();
                    }
                    _ => return Err(internal(span, "scope declaration")),
                }
            }
            Statement::Scope(ScopeDecl {
                name,
                level,
                description,
                implies,
            })
        }
        Rule::allow_rule => {
            let kind = target_kind(next("rule kind")?, base)?;
            let target = target(next("rule target")?, base)?;
            let requirement = requirement(next("requirement")?, base)?;
            Statement::Rule(RuleDecl {
                kind,
                target,
                requires: Some(requirement),
                when: None,
            })
        }
        Rule::deny_rule => {
            let kind = target_kind(next("rule kind")?, base)?;
            let target = target(next("rule target")?, base)?;
            let when = match parts.next() {
                Some(clause) => {
                    let condition = children(clause)
                        .next()
                        .ok_or_else(|| internal(span, "`when` clause"))?;
                    Some(requirement(condition, base)?)
                }
                None => None,
            };
            Statement::Rule(RuleDecl {
                kind,
                target,
                requires: None,
                when,
            })
        }
        _ => return Err(internal(span, "statement")),
    };
    Ok(Node::new(statement, span))
}

fn target_kind(pair: Pair<'_, Rule>, base: usize) -> Result<Node<TargetKind>, Diagnostic> {
    let span = span_of(&pair, base);
    let kind = TargetKind::ALL
        .into_iter()
        .find(|kind| kind.keyword() == pair.as_str())
        .ok_or_else(|| internal(span, "rule kind"))?;
    Ok(Node::new(kind, span))
}

fn target(pair: Pair<'_, Rule>, base: usize) -> Result<Node<TargetPattern>, Diagnostic> {
    let span = span_of(&pair, base);
    let inner = pair
        .into_inner()
        .next()
        .ok_or_else(|| internal(span, "target"))?;
    let quoted = inner.as_rule() == Rule::string;
    let text = string_or_bare(inner, base).node;
    Ok(Node::new(TargetPattern { text, quoted }, span))
}

fn requirement(pair: Pair<'_, Rule>, base: usize) -> Result<Node<Requirement>, Diagnostic> {
    let span = span_of(&pair, base);
    let requirement = match pair.as_rule() {
        Rule::authenticated => Requirement::Authenticated,
        Rule::scope_ref => {
            let name = pair
                .into_inner()
                .next()
                .ok_or_else(|| internal(span, "scope reference"))?;
            Requirement::Scope(string_or_bare(name, base).node)
        }
        Rule::any_of => Requirement::AnyOf(
            children(pair)
                .map(|member| requirement(member, base))
                .collect::<Result<_, _>>()?,
        ),
        Rule::all_of => Requirement::AllOf(
            children(pair)
                .map(|member| requirement(member, base))
                .collect::<Result<_, _>>()?,
        ),
        Rule::condition => Requirement::Condition(condition(pair, base, span)?),
        Rule::unknown_call => {
            let name = pair
                .into_inner()
                .next()
                .map(|name| name.as_str().to_owned())
                .unwrap_or_default();
            let name_span = Span::new(span.start, span.start + name.len());
            let mut diagnostic =
                Diagnostic::error(Code::Syntax, format!("unknown requirement `{name}(...)`"))
                    .with_label(name_span, "expected `any_of` or `all_of`");
            diagnostic = match did_you_mean(&name, GROUP_KEYWORDS) {
                Some(suggestion) => diagnostic.with_help(format!("did you mean `{suggestion}`?")),
                None => diagnostic
                    .with_help("a group is `any_of(a, b)` (either) or `all_of(a, b)` (both)"),
            };
            return Err(diagnostic);
        }
        _ => return Err(internal(span, "requirement")),
    };
    Ok(Node::new(requirement, span))
}

/// `OPERAND OP VALUE`.
fn condition(pair: Pair<'_, Rule>, base: usize, span: Span) -> Result<Condition, Diagnostic> {
    let mut parts = pair.into_inner();
    let operand_pair = parts.next().ok_or_else(|| internal(span, "condition"))?;
    let left = Node::new(
        operand(operand_pair.clone(), span)?,
        span_of(&operand_pair, base),
    );
    let test_pair = parts.next().ok_or_else(|| internal(span, "condition"))?;
    let test_rule = test_pair.as_rule();
    let mut inner = test_pair.into_inner();
    let mut operator = || {
        inner
            .next()
            .map(|pair| pair.as_rule())
            .ok_or_else(|| internal(span, "operator"))
    };
    let test = match test_rule {
        Rule::equality => {
            let op = operator()?;
            let value_pair = inner.next().ok_or_else(|| internal(span, "`==` value"))?;
            let value_span = span_of(&value_pair, base);
            let value = match value_pair.as_rule() {
                Rule::operand => Value::Operand(operand(value_pair, span)?),
                _ => Value::Literal(literal(value_pair, span)?),
            };
            let value = Node::new(value, value_span);
            if op == Rule::op_ne {
                Test::Ne(value)
            } else {
                Test::Eq(value)
            }
        }
        Rule::membership => Test::In(
            inner
                .filter(|part| part.as_rule() == Rule::literal)
                .map(|part| literal_node(part, base, span))
                .collect::<Result<_, _>>()?,
        ),
        Rule::ordering => {
            let comparison = match operator()? {
                Rule::op_lt => Comparison::Lt,
                Rule::op_le => Comparison::Le,
                Rule::op_gt => Comparison::Gt,
                _ => Comparison::Ge,
            };
            let value = inner.next().ok_or_else(|| internal(span, "bound"))?;
            Test::Compare(comparison, literal_node(value, base, span)?)
        }
        Rule::containment | Rule::glob_match | Rule::path_under => {
            let value = inner
                .find(|part| part.as_rule() == Rule::literal)
                .ok_or_else(|| internal(span, "condition value"))?;
            let value = literal_node(value, base, span)?;
            match test_rule {
                Rule::containment => Test::Contains(value),
                Rule::glob_match => Test::Matches(value),
                _ => Test::Under(value),
            }
        }
        _ => return Err(internal(span, "condition operator")),
    };
    Ok(Condition {
        operand: left,
        test,
    })
}

/// `arg.a."b c"`: the source and the segments, unquoted.
fn operand(pair: Pair<'_, Rule>, span: Span) -> Result<Operand, Diagnostic> {
    let mut parts = pair.into_inner();
    let source = match parts.next().and_then(|source| source.into_inner().next()) {
        Some(source) if source.as_rule() == Rule::kw_arg => Source::Arg,
        Some(source) if source.as_rule() == Rule::kw_claim => Source::Claim,
        _ => return Err(internal(span, "operand")),
    };
    let path = parts
        .map(|segment| match segment.into_inner().next() {
            Some(inner) if inner.as_rule() == Rule::string => Ok(unquote(inner.as_str())),
            Some(inner) => Ok(inner.as_str().to_owned()),
            None => Err(internal(span, "operand segment")),
        })
        .collect::<Result<_, _>>()?;
    Ok(Operand { source, path })
}

fn literal_node(
    pair: Pair<'_, Rule>,
    base: usize,
    span: Span,
) -> Result<Node<Literal>, Diagnostic> {
    let at = span_of(&pair, base);
    Ok(Node::new(literal(pair, span)?, at))
}

fn literal(pair: Pair<'_, Rule>, span: Span) -> Result<Literal, Diagnostic> {
    let inner = pair
        .into_inner()
        .next()
        .ok_or_else(|| internal(span, "literal"))?;
    Ok(match inner.as_rule() {
        Rule::string => Literal::String(unquote(inner.as_str())),
        Rule::number => Literal::Number(inner.as_str().to_owned()),
        Rule::kw_true => Literal::Bool(true),
        Rule::kw_false => Literal::Bool(false),
        _ => return Err(internal(span, "literal")),
    })
}

/// A `scope_name`, `target` or `word` child: quoted or bare.
fn string_or_bare(pair: Pair<'_, Rule>, base: usize) -> Node<String> {
    match pair.as_rule() {
        Rule::scope_name | Rule::word => match pair.clone().into_inner().next() {
            Some(inner) => string_or_bare(inner, base),
            None => Node::new(pair.as_str().to_owned(), span_of(&pair, base)),
        },
        Rule::string => string(pair, base),
        _ => Node::new(pair.as_str().to_owned(), span_of(&pair, base)),
    }
}

/// A quoted string's value, unescaped; the span covers the quotes.
fn string(pair: Pair<'_, Rule>, base: usize) -> Node<String> {
    let span = span_of(&pair, base);
    Node::new(unquote(pair.as_str()), span)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unexpected_tree_shape_is_an_internal_error_that_asks_for_a_report() {
        let diagnostic = internal(Span::new(3, 7), "statement");
        assert_eq!(diagnostic.code, Code::Internal);
        assert_eq!(diagnostic.code.as_str(), "mcp_policy::internal");
        assert_eq!(diagnostic.help.as_deref(), Some(INTERNAL_HELP));
        assert_eq!(diagnostic.span(), Span::new(3, 7));
    }

    fn parse_ok(source: &str) -> PolicyFile {
        let (file, diagnostics) = parse(source);
        assert!(diagnostics.is_empty(), "{diagnostics:#?}");
        file
    }

    #[test]
    fn statements_and_spans() {
        let source = "policy \"p\"\nscope a level read \"d\" implies b, \"c\"\ntool x requires any_of(a, all_of(b, c))\ndeny tool \"x_*\"\n";
        let file = parse_ok(source);
        assert_eq!(file.statements.len(), 4);
        let Statement::Scope(scope) = &file.statements[1].node else {
            panic!()
        };
        assert_eq!(scope.name.node, "a");
        assert_eq!(
            scope
                .implies
                .iter()
                .map(|n| n.node.as_str())
                .collect::<Vec<_>>(),
            ["b", "c"]
        );
        assert_eq!(
            &source[scope.implies[1].span.start..scope.implies[1].span.end],
            "\"c\""
        );
        let Statement::Rule(rule) = &file.statements[2].node else {
            panic!()
        };
        assert_eq!(rule.to_string(), "tool x requires any_of(a, all_of(b, c))");
        let Statement::Rule(deny) = &file.statements[3].node else {
            panic!()
        };
        assert!(deny.is_deny() && deny.target.node.is_glob());
    }

    #[test]
    fn requirements_may_span_lines_and_end_with_comma() {
        let file = parse_ok("tool x requires any_of(\n  a,  # first\n  b,\n)\n");
        let Statement::Rule(rule) = &file.statements[0].node else {
            panic!()
        };
        assert_eq!(rule.to_string(), "tool x requires any_of(a, b)");
    }

    #[test]
    fn a_statement_span_ends_with_its_last_token() {
        let source = "scope a level read   # why\n# next\n\nscope b level read implies a  # and\n# \"more\"\ntool x requires a  # trailing\nscope \"c # d\" level read\n";
        let file = parse_ok(source);
        let spans: Vec<&str> = file
            .statements
            .iter()
            .map(|s| &source[s.span.start..s.span.end])
            .collect();
        assert_eq!(
            spans,
            [
                "scope a level read",
                "scope b level read implies a",
                "tool x requires a",
                "scope \"c # d\" level read"
            ]
        );
    }

    #[test]
    fn escapes_in_strings() {
        let file = parse_ok(r#"tool "say \"hi\" \\ now" requires authenticated"#);
        let Statement::Rule(rule) = &file.statements[0].node else {
            panic!()
        };
        assert_eq!(rule.target.node.text, r#"say "hi" \ now"#);
    }

    #[test]
    fn every_error_is_reported_and_parsing_resumes() {
        let (file, diagnostics) = parse("tol a requires x\ntool b requries x\ntool c requires x\n");
        assert_eq!(diagnostics.len(), 2, "{diagnostics:#?}");
        assert_eq!(diagnostics[0].help.as_deref(), Some("did you mean `tool`?"));
        assert_eq!(
            diagnostics[1].help.as_deref(),
            Some("did you mean `requires`?")
        );
        assert_eq!(file.statements.len(), 1);
    }

    #[test]
    fn a_broken_scope_declaration_is_remembered() {
        let (file, diagnostics) = parse("scope mcp:read levle read\nscope \"x y\" level\n");
        assert_eq!(diagnostics.len(), 2);
        assert_eq!(file.broken_scopes, ["mcp:read", "x y"]);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = format!(
            "tool x requires {}a{}",
            "any_of(".repeat(100_000),
            ")".repeat(100_000)
        );
        let (_, diagnostics) = parse(&deep);
        assert_eq!(diagnostics[0].code, Code::NestingTooDeep);
        let ok = format!(
            "scope a level read\ntool x requires {}a{}",
            "any_of(".repeat(MAX_NESTING),
            ")".repeat(MAX_NESTING)
        );
        parse_ok(&ok);
    }

    #[test]
    fn keywords_are_not_bare_names() {
        let (_, diagnostics) = parse("tool x requires\ntool y requires a\n");
        assert_eq!(diagnostics.len(), 1);
        assert!(
            diagnostics[0].message.starts_with("expected a requirement"),
            "{}",
            diagnostics[0].message
        );
        assert_eq!(diagnostics[0].span().start, 16);
    }

    fn first_message(source: &str) -> String {
        let (_, diagnostics) = parse(source);
        diagnostics
            .first()
            .map(|diagnostic| diagnostic.message.clone())
            .unwrap_or_default()
    }

    #[test]
    fn missing_punctuation_is_named_without_pests_error_detail() {
        // The process-wide switch stays off: the messages come from the
        // grammar's `comma` and `close` rules.
        pest::set_error_detail(false);
        assert_eq!(
            first_message("tool x requires all_of(a, b c)\n"),
            "expected `)` or `,`, found `c`"
        );
        assert_eq!(
            first_message("tool x requires any_of(a"),
            "expected `)` or `,`, found end of file"
        );
        assert_eq!(
            first_message("tool x requires any_of(, a)\n"),
            "expected `)`, found `,`"
        );
        assert_eq!(
            first_message("scope a level read implies b c\n"),
            "expected a statement (`policy`, `default`, `scope`, `tool`, `resource`, `prompt` or `deny`), found `c`"
        );
        // Where a requirement may stand, it is what is missing.
        assert!(
            first_message("tool x requires any_of(a, tool y requires b\n")
                .starts_with("expected a requirement"),
        );
    }

    #[test]
    fn comments_and_strings_do_not_count_towards_nesting() {
        let parens = "(".repeat(MAX_NESTING + 1);
        let source = format!("# {parens}\ntool \"{parens}\" requires authenticated\n");
        parse_ok(&source);
    }
}
