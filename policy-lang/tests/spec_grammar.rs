//! SPEC.md shows the grammar, simplified; `src/grammar.pest` is the one the
//! parser is built from. The two are read here as pest reads a grammar, so
//! that the reference cannot drift from the parser unnoticed: the SPEC's
//! block must be a grammar, every rule it defines must be a rule of the
//! real grammar, and every rule of the real grammar must be in the SPEC,
//! except the helpers the SPEC folds away (keywords, trivia, the pieces of
//! a string and of a name, the recovery rule it mentions in prose).
//!
//! Names alone could agree while the rules say different things, so the
//! SPEC's grammar is also run: completed with the helpers it folds away
//! (taken from grammar.pest as they are), it must accept every policy in
//! the tree that the parser accepts. It may accept more, as its note says
//! (keywords there do not end at a word boundary), never less.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::Path;

use pest_meta::parser::{self, Rule};
use pest_vm::Vm;

fn rule_names(grammar: &str, what: &str) -> BTreeSet<String> {
    let pairs = parser::parse(Rule::grammar_rules, grammar)
        .unwrap_or_else(|error| panic!("{what} is not a pest grammar:\n{error}"));
    let rules = parser::consume_rules(pairs)
        .unwrap_or_else(|errors| panic!("{what} does not validate: {errors:?}"));
    rules.into_iter().map(|rule| rule.name).collect()
}

/// The first ```pest block of SPEC.md.
fn spec_grammar(spec: &str) -> &str {
    let start = spec.find("```pest\n").expect("SPEC.md has a ```pest block") + "```pest\n".len();
    let length = spec[start..].find("```").expect("the block ends");
    &spec[start..start + length]
}

/// Rules of grammar.pest that SPEC.md folds into others, on purpose.
const FOLDED: [&str; 10] = [
    "WHITESPACE",
    "COMMENT",
    "default_deny",
    "level_word",
    "description",
    "authenticated",
    "unknown_call",
    "scope_name",
    "word",
    "string_body",
];

#[test]
fn the_specs_grammar_is_the_parsers_simplified() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let spec = std::fs::read_to_string(root.join("SPEC.md")).unwrap();
    let real = std::fs::read_to_string(root.join("src/grammar.pest")).unwrap();
    let shown = rule_names(spec_grammar(&spec), "SPEC.md's grammar");
    let real = rule_names(&real, "src/grammar.pest");

    let invented: Vec<_> = shown.difference(&real).collect();
    assert!(
        invented.is_empty(),
        "SPEC.md defines rules the parser does not have: {invented:?}"
    );
    let missing: Vec<_> = real
        .iter()
        .filter(|rule| !shown.contains(*rule))
        .filter(|rule| {
            !rule.starts_with("kw_") && !["name_char", "reserved"].contains(&rule.as_str())
        })
        .filter(|rule| !FOLDED.contains(&rule.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "src/grammar.pest has rules SPEC.md does not show: {missing:?} (show them, or add them to FOLDED with a reason)"
    );
}

/// Each rule of a grammar, by name, with its text as written.
fn rule_texts(grammar: &str) -> Vec<(String, String)> {
    let pairs = parser::parse(Rule::grammar_rules, grammar).expect("a pest grammar");
    pairs
        .flatten()
        .filter(|pair| pair.as_rule() == Rule::grammar_rule)
        .map(|rule| {
            let name = rule.clone().into_inner().next().expect("a rule has a name");
            (name.as_str().to_owned(), rule.as_str().to_owned())
        })
        .collect()
}

/// A grammar, interpreted by pest itself.
fn vm(grammar: &str, what: &str) -> Vm {
    let (_, rules) = pest_meta::parse_and_optimize(grammar)
        .unwrap_or_else(|errors| panic!("{what} does not validate: {errors:#?}"));
    Vm::new(rules)
}

/// SPEC.md's grammar with the rules it folds away taken from the parser's,
/// interpreted.
fn completed_spec(spec: &str, real: &str) -> Vm {
    let spec = spec_grammar(spec);
    let shown = rule_names(spec, "SPEC.md's grammar");
    let mut completed = spec.to_owned();
    for (name, text) in rule_texts(real) {
        if !shown.contains(&name) {
            completed = format!("{completed}\n{text}\n");
        }
    }
    vm(&completed, "SPEC.md's grammar with the folded helpers")
}

/// Every policy source in the tree: the examples, the test data, and the
/// fuzzer's seeds.
fn policies(root: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut dirs = vec![
        root.join("../examples"),
        root.join("tests"),
        root.join("../tests"),
        root.join("../crates"),
        root.join("../fuzz/corpus/parse_compile"),
    ];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if !["target", "node_modules", "src"].contains(&name.as_str()) {
                    dirs.push(path);
                }
            } else if (name.ends_with(".mcppolicy") || dir.ends_with("parse_compile"))
                && let Ok(text) = std::fs::read_to_string(&path)
            {
                found.push((path.display().to_string(), text));
            }
        }
    }
    found.sort();
    found
}

#[test]
fn the_specs_grammar_accepts_every_policy_the_parser_accepts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let spec = std::fs::read_to_string(root.join("SPEC.md")).unwrap();
    let real = std::fs::read_to_string(root.join("src/grammar.pest")).unwrap();
    let spec_vm = completed_spec(&spec, &real);
    let real_vm = vm(&real, "src/grammar.pest");

    let policies = policies(root);
    assert!(
        policies.len() >= 40,
        "only {} policies found: has the tree moved?",
        policies.len()
    );
    let mut accepted = 0;
    let mut refused_by_spec = Vec::new();
    for (path, text) in &policies {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        // The parser's word, not only its grammar's: a policy with a syntax
        // error (the recovery rule included) is not one the SPEC must take.
        let syntax_error = mcp_policy_lang::parse::parse(text)
            .1
            .iter()
            .any(|d| d.code == mcp_policy_lang::Code::Syntax);
        if syntax_error || real_vm.parse("policy_file", text).is_err() {
            continue;
        }
        accepted += 1;
        if let Err(error) = spec_vm.parse("policy_file", text) {
            refused_by_spec.push(format!("{path}:\n{error}"));
        }
    }
    assert!(accepted >= 30, "only {accepted} policies parse");
    eprintln!("{accepted} policies accepted by both grammars");
    assert!(
        refused_by_spec.is_empty(),
        "SPEC.md's grammar refuses policies the parser accepts:\n{}",
        refused_by_spec.join("\n")
    );
}

#[test]
fn the_specs_grammar_is_not_vacuous() {
    // The check above is only as good as the SPEC grammar's refusals: it
    // must still refuse what is plainly not a policy.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let spec = std::fs::read_to_string(root.join("SPEC.md")).unwrap();
    let real = std::fs::read_to_string(root.join("src/grammar.pest")).unwrap();
    let spec_vm = completed_spec(&spec, &real);
    for broken in [
        "tool x requires",
        "tool x requires any_of(a b)",
        "scope s level",
        "tool x requires all_of(a, arg.n <=)",
        "deny tool x when arg.p under",
        "tool \"unterminated requires a",
    ] {
        assert!(
            spec_vm.parse("policy_file", broken).is_err(),
            "SPEC.md's grammar accepts {broken:?}"
        );
    }
}
