//! SPEC.md shows the grammar, simplified; `src/grammar.pest` is the one the
//! parser is built from. The two are read here as pest reads a grammar, so
//! that the reference cannot drift from the parser unnoticed: the SPEC's
//! block must be a grammar, every rule it defines must be a rule of the
//! real grammar, and every rule of the real grammar must be in the SPEC,
//! except the helpers the SPEC folds away (keywords, trivia, the pieces of
//! a string and of a name, the recovery rule it mentions in prose).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::Path;

use pest_meta::parser::{self, Rule};

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
