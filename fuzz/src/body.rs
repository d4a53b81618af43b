//! The body of the `parse_compile` fuzz target, shared with the ordinary
//! test `policy-lang/tests/fuzz_corpus.rs` (both include this file with
//! `#[path]`), so CI runs the same checks over the seed corpus on stable.
//!
//! It may use only what both of them have: `mcp_policy_lang`,
//! `mcp_policy_table`, `serde_json` and `miette` with its
//! `fancy-no-syscall` feature.
//!
//! What must hold for any input that is UTF-8:
//! - compiling does not panic, and yields a table exactly when no
//!   diagnostic is an error; diagnostics come sorted by position;
//! - every label of every diagnostic lies within the source, on character
//!   boundaries, and miette's graphical handler renders the diagnostic;
//! - a table survives its artifact: `from_artifact(to_artifact())` loads,
//!   writes the same artifact back, and decides every request the same way;
//! - `decide`, `is_allowed` and `explain` agree with each other and with the
//!   rules: the deciding rule matches the name, no rule matches when the
//!   default decided, a remedy's scopes really allow, and a token holding
//!   every scope is allowed by every allow rule with a clause without
//!   conditions (without arguments or claims, every atom is false);
//! - with conditions, on arguments and claims that make the atoms' literals
//!   true: `decide_in` and `explain_in` agree, the loaded artifact decides
//!   the same, and the deciding rule matches the name.

use mcp_policy_lang::{Compilation, DecisionTable, Diagnostic, TargetKind};
use mcp_policy_table::condition::{Literal, Op, Source};
use mcp_policy_table::{Basis, Context, DefaultEffect, Effect, Remedy, Target};
use miette::{GraphicalReportHandler, GraphicalTheme};
use serde_json::{Map, Value};

/// How many names and scope strings one input is decided with: enough to
/// reach every path of `decide`/`explain`, few enough to keep the fuzzer fast.
const MAX_NAMES: usize = 10;
const MAX_SCOPE_STRINGS: usize = 6;

/// What one input did, for the corpus test to show it is not vacuous.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub compiled: bool,
    pub diagnostics: usize,
    pub decisions: usize,
}

/// The fuzz entry point: bytes that are not UTF-8 are not a policy.
pub fn check_bytes(data: &[u8]) -> Option<Outcome> {
    let source = std::str::from_utf8(data).ok()?;
    Some(check_source("fuzz.mcppolicy", source))
}

/// Compiles `source` and checks everything that can be checked about the
/// result. Panics on the first property that does not hold.
pub fn check_source(file_name: &str, source: &str) -> Outcome {
    let compilation = mcp_policy_lang::compile_source(source);
    check_compilation(&compilation);
    for diagnostic in &compilation.diagnostics {
        check_diagnostic(file_name, source, diagnostic);
    }
    let decisions = match &compilation.table {
        Some(table) => check_table(source, table),
        None => 0,
    };
    Outcome {
        compiled: compilation.table.is_some(),
        diagnostics: compilation.diagnostics.len(),
        decisions,
    }
}

fn check_compilation(compilation: &Compilation) {
    assert_eq!(
        compilation.table.is_some(),
        !compilation.has_errors(),
        "a table must be produced exactly when there is no error: {:#?}",
        compilation.diagnostics
    );
    let keys: Vec<_> = compilation
        .diagnostics
        .iter()
        .map(|diagnostic| (diagnostic.span().start, diagnostic.code))
        .collect();
    assert!(
        keys.windows(2).all(|pair| pair[0] <= pair[1]),
        "diagnostics out of order: {keys:?}"
    );
}

fn check_diagnostic(file_name: &str, source: &str, diagnostic: &Diagnostic) {
    assert!(
        !diagnostic.message.is_empty(),
        "empty message: {diagnostic:?}"
    );
    for label in &diagnostic.labels {
        let span = label.span;
        assert!(
            span.start <= span.end && span.end <= source.len(),
            "span {span:?} outside the source ({} bytes): {diagnostic:?}",
            source.len()
        );
        assert!(
            source.is_char_boundary(span.start) && source.is_char_boundary(span.end),
            "span {span:?} splits a character: {diagnostic:?}"
        );
    }
    let primary = diagnostic.span();
    let (line, column) = mcp_policy_lang::line_column(source, primary.start);
    assert!(line >= 1 && column >= 1);

    let report = diagnostic.report(file_name, source);
    let mut rendered = String::new();
    let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor());
    let result = handler.render_report(&mut rendered, &report);
    assert!(
        result.is_ok(),
        "miette could not render {diagnostic:?}: {result:?}"
    );
    assert!(
        rendered.contains(diagnostic.code.as_str()),
        "rendered report lacks its code {}:\n{rendered}",
        diagnostic.code
    );
}

/// Checks a compiled table; returns how many requests it decided.
fn check_table(source: &str, table: &DecisionTable) -> usize {
    let artifact = table.to_artifact();
    let loaded = match DecisionTable::from_artifact(&artifact) {
        Ok(loaded) => loaded,
        Err(error) => panic!("artifact does not load: {error}\n{artifact}"),
    };
    assert_eq!(loaded.to_artifact(), artifact, "artifact not stable");
    assert_eq!(loaded.name(), table.name());
    assert_eq!(loaded.default_effect(), table.default_effect());
    assert!(
        loaded.rules() == table.rules(),
        "rules differ after loading"
    );

    let names = request_names(source, table);
    let scope_strings = scope_strings(source, table);
    let all_scopes = all_scope_names(table);
    let mut decisions = 0;
    let (arguments, claims) = satisfying_context(table);
    let context = Context::new(Some(&arguments), Some(&claims));
    for kind in TargetKind::ALL {
        for name in &names {
            for scopes in &scope_strings {
                check_request(table, &loaded, kind, name, scopes, *scopes == all_scopes);
                decisions += 1;
                if table.has_conditions() {
                    check_request_in(table, &loaded, kind, name, scopes, &context);
                    decisions += 1;
                }
            }
        }
    }
    decisions
}

/// Arguments and claims where each atom's operand holds a value taken from
/// its literal (the first atom on a path wins), so that some atoms hold.
fn satisfying_context(table: &DecisionTable) -> (Map<String, Value>, Map<String, Value>) {
    let (mut arguments, mut claims) = (Map::new(), Map::new());
    for (_, info) in table.atoms().iter() {
        let value = match info.atom.op() {
            Op::Eq(literal) | Op::Ne(literal) => literal.to_json(),
            Op::In(list) => list.first().map_or(Value::Null, Literal::to_json),
            Op::Compare(_, number) => number.to_json(),
            Op::Contains(literal) => Value::Array(vec![literal.to_json()]),
            Op::Matches(glob) => Value::String(glob.as_str().replace('*', "")),
            Op::Under(base) => Value::String(format!("{}/a", base.as_str())),
            Op::EqOperand(_) | Op::NeOperand(_) => Value::String("same".to_owned()),
        };
        for operand in info.atom.operands() {
            let root = match operand.source {
                Source::Arg => &mut arguments,
                Source::Claim => &mut claims,
            };
            insert_at(root, &operand.path, value.clone());
        }
    }
    (arguments, claims)
}

fn insert_at(root: &mut Map<String, Value>, path: &[String], value: Value) {
    let Some((last, init)) = path.split_last() else {
        return;
    };
    let mut map = root;
    for key in init {
        let entry = map
            .entry(key.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(inner) = entry else {
            return;
        };
        map = inner;
    }
    map.entry(last.clone()).or_insert(value);
}

fn check_request_in(
    table: &DecisionTable,
    loaded: &DecisionTable,
    kind: TargetKind,
    name: &str,
    scopes: &str,
    context: &Context<'_>,
) {
    let held = table.parse_scopes(scopes);
    let decision = table.decide_in(kind, name, &held, context);
    let what = format!("{kind} {name:?} with scopes {scopes:?} on {context:?}");
    assert_eq!(
        loaded.decide_in(kind, name, &loaded.parse_scopes(scopes), context),
        decision,
        "the loaded artifact decides differently: {what}"
    );
    let explanation = table.explain_in(kind, name, &held, context);
    assert_eq!(explanation.decision, decision, "{what}");
    assert_eq!(
        decision.allowed,
        explanation.remedy == Remedy::None,
        "remedy {:?} for {what}",
        explanation.remedy
    );
    if let Basis::Rule(id) = decision.basis {
        let rule = table.rule(id);
        assert!(
            rule.is_some_and(|rule| rule.kind == kind && rule.target.matches(name)),
            "the deciding rule does not match: {what}"
        );
    }
}

fn check_request(
    table: &DecisionTable,
    loaded: &DecisionTable,
    kind: TargetKind,
    name: &str,
    scopes: &str,
    holds_every_scope: bool,
) {
    let held = table.parse_scopes(scopes);
    let decision = table.decide(kind, name, &held);
    let context = format!("{kind} {name:?} with scopes {scopes:?}");
    assert_eq!(
        table.is_allowed(kind, name, &held),
        decision.allowed,
        "{context}"
    );
    assert_eq!(
        loaded.decide(kind, name, &loaded.parse_scopes(scopes)),
        decision,
        "the loaded artifact decides differently: {context}"
    );

    match decision.basis {
        Basis::Rule(id) => {
            let Some(rule) = table.rule(id) else {
                panic!("decided by a rule that does not exist: {context}")
            };
            assert!(
                rule.kind == kind && rule.target.matches(name),
                "deciding rule `{}` does not match: {context}",
                rule.text
            );
            if holds_every_scope {
                // Without arguments or claims every atom is false: only a
                // clause without atoms can hold.
                let unconditional_clause = match &rule.effect {
                    Effect::Allow(clauses) => clauses.iter().any(|clause| clause.atoms.is_empty()),
                    _ => false,
                };
                assert_eq!(
                    decision.allowed, unconditional_clause,
                    "every scope held, rule `{}`: {context}",
                    rule.text
                );
            }
        }
        Basis::Default => {
            assert_eq!(
                decision.allowed,
                table.default_effect() == DefaultEffect::Allow,
                "{context}"
            );
            // A conditional deny that does not fire leaves the decision to
            // the allow rules or the default.
            if let Some(rule) = table.rules().iter().find(|rule| {
                rule.kind == kind
                    && rule.target.matches(name)
                    && !matches!(rule.effect, Effect::DenyWhen(_))
            }) {
                panic!(
                    "default decided although rule `{}` matches: {context}",
                    rule.text
                );
            }
        }
        Basis::ForeignScopeSet => panic!("a table's own scope set is foreign: {context}"),
    }

    let explanation = table.explain(kind, name, &held);
    assert_eq!(explanation.decision, decision, "{context}");
    let expected_rule = match decision.basis {
        Basis::Rule(id) => table.rule(id),
        Basis::Default | Basis::ForeignScopeSet => None,
    };
    assert!(explanation.rule == expected_rule, "{context}");
    assert_eq!(
        decision.allowed,
        explanation.remedy == Remedy::None,
        "remedy {:?} for {context}",
        explanation.remedy
    );
    if let Remedy::AddScopes(added) = &explanation.remedy {
        assert!(!added.is_empty(), "empty remedy: {context}");
        let mut with_added = scopes.to_owned();
        for id in added {
            assert!(!held.contains(*id), "remedy adds a held scope: {context}");
            with_added.push(' ');
            with_added.push_str(table.scopes().name(*id));
        }
        assert!(
            table.is_allowed(kind, name, &table.parse_scopes(&with_added)),
            "remedy {added:?} does not allow: {context}"
        );
    }
}

/// Words of the input, as a request might name them.
fn input_words(source: &str) -> impl Iterator<Item = &str> {
    source
        .split(|c: char| c.is_whitespace() || matches!(c, '"' | '(' | ')' | ',' | '#'))
        .filter(|word| !word.is_empty())
}

/// Names to decide: rule targets (exact names, globs with their stars
/// filled in), words of the input, and the empty name.
fn request_names(source: &str, table: &DecisionTable) -> Vec<String> {
    let mut names = vec![String::new()];
    for rule in table.rules() {
        match &rule.target {
            Target::Exact(name) => names.push(name.clone()),
            Target::Glob(glob) => {
                names.push(glob.as_str().replace('*', ""));
                names.push(glob.as_str().replace('*', "x/*y"));
            }
        }
    }
    names.extend(input_words(source).map(str::to_owned));
    let mut seen = std::collections::HashSet::new();
    names.retain(|name| seen.insert(name.clone()));
    names.truncate(MAX_NAMES);
    names
}

fn all_scope_names(table: &DecisionTable) -> String {
    table
        .scopes()
        .iter()
        .map(|(_, info)| info.name.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Scope strings to decide with: none, every scope, each of the first few
/// alone, and words of the input as a token might carry them.
fn scope_strings(source: &str, table: &DecisionTable) -> Vec<String> {
    let mut strings = vec![String::new(), all_scope_names(table)];
    strings.extend(
        table
            .scopes()
            .iter()
            .take(2)
            .map(|(_, info)| format!(" \t{}  ", info.name)),
    );
    strings.push(input_words(source).take(4).collect::<Vec<_>>().join(" "));
    strings.push(
        input_words(source)
            .skip(4)
            .take(6)
            .collect::<Vec<_>>()
            .join("\t"),
    );
    strings.truncate(MAX_SCOPE_STRINGS);
    strings
}
