//! The suite as a whole: the example files, each way a test can fail, and
//! no panic on any input.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use mcp_policy_evaluator::Evaluator;
use mcp_policy_token::Rejection;
use proptest::prelude::*;

use super::*;

const GITHUB_TESTS: &str = include_str!("../../../../examples/github.mcppolicy.test.yaml");
const FILESYSTEM_TESTS: &str = include_str!("../../../../examples/filesystem.mcppolicy.test.yaml");
const DATABASE_TESTS: &str = include_str!("../../../../examples/database.mcppolicy.test.yaml");
const SEVERAL_PROBLEMS: &str =
    include_str!("../../../cli/tests/data/suite/several-problems.test.yaml");

/// Where a diagnostic of `source` is, as the CLI prints it.
struct At {
    offset: usize,
    len: usize,
    line: usize,
    column: usize,
}

fn at(source: &str, d: &Diagnostic) -> At {
    let (line, column) = mcp_policy_diagnostic::line_column(source, d.span().start);
    At {
        offset: d.span().start,
        len: d.span().len(),
        line,
        column,
    }
}

fn examples() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples"))
}

const POLICY: &str = r#"
scope r level read
scope w level write implies r
scope a level admin implies w
scope x level resource
tool read requires any_of(r, x)
tool write requires all_of(w, x)
tool "admin_*" requires a
deny tool "admin_danger_*"
"#;

fn run_yaml(yaml: &str) -> Report {
    let file = TestFile::parse(yaml).unwrap_or_else(|d| panic!("{d:#?}"));
    let policy = Evaluator::from_source(POLICY).unwrap();
    run(&file, examples(), &policy).unwrap_or_else(|d| panic!("{d:#?}"))
}

fn codes(yaml: &str) -> Vec<Code> {
    match TestFile::parse(yaml) {
        Ok(_) => Vec::new(),
        Err(diagnostics) => diagnostics.iter().map(|d| d.code).collect(),
    }
}

#[test]
fn every_example_passes() {
    for (name, yaml) in [
        ("github", GITHUB_TESTS),
        ("filesystem", FILESYSTEM_TESTS),
        ("database", DATABASE_TESTS),
    ] {
        let file = TestFile::parse(yaml).unwrap_or_else(|d| panic!("{name}: {d:#?}"));
        let test_path = examples().join(format!("{name}.mcppolicy{SUFFIX}"));
        let policy = Evaluator::from_path(file.policy_path(&test_path).unwrap()).unwrap();
        let report = run(&file, examples(), &policy).unwrap_or_else(|d| panic!("{name}: {d:#?}"));
        let failed: Vec<&CaseResult> = report.cases.iter().filter(|c| !c.passed()).collect();
        assert!(failed.is_empty(), "{name}: {failed:#?}");
        assert_eq!(report.cases.len(), file.cases.len());
        assert!(report.cases.len() >= 15, "{name}");
    }
}

#[test]
fn the_examples_give_principals_every_way() {
    let mut kinds = std::collections::BTreeSet::new();
    for yaml in [GITHUB_TESTS, FILESYSTEM_TESTS, DATABASE_TESTS] {
        for principal in TestFile::parse(yaml).unwrap().principals {
            kinds.insert(match principal.identity {
                Identity::Scopes(_) => "scopes",
                Identity::Claims { .. } => "claims",
                Identity::Jwt(_) => "jwt",
            });
        }
    }
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["claims", "jwt", "scopes"]
    );
}

#[test]
fn claims_are_read_as_the_runtime_reads_them() {
    let file = TestFile::parse(
        "principals:\n  a: { claims: { scope: \"r x\", scp: [a] } }\n  b: { claims: { permissions: [w] } }\ntests:\n  - { name: t, principal: a, tool: read, expect: allow }\n",
    )
    .unwrap();
    let scopes: Vec<Vec<String>> = file
        .principals
        .iter()
        .map(|p| match &p.identity {
            Identity::Claims { scopes, .. } => scopes.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    // Every scope claim, as one set: the validator's default.
    assert_eq!(scopes, [vec!["r", "x", "a"], vec!["w"]]);
}

#[test]
fn each_way_a_test_fails_is_reported() {
    let report = run_yaml(
        "
principals:
  reader: { scopes: r }
  writer: { claims: { scp: [w] } }
tests:
  - { name: passes, principal: reader, tool: read, expect: allow }
  - { name: wrong decision, principal: reader, tool: write, expect: allow }
  - { name: allowed, principal: writer, tool: read, expect: deny }
  - { name: other missing, principal: reader, tool: write, expect: deny, missing: [x] }
  - { name: same missing, principal: reader, tool: write, expect: deny, missing: [x, w] }
  - { name: nothing can allow, principal: writer, tool: admin_danger_x, expect: deny, missing: [] }
  - { name: something can allow, principal: writer, tool: admin_x, expect: deny, missing: [] }
  - { name: default deny, principal: writer, tool: nope, expect: deny, missing: [] }
  - { name: missing unchecked, principal: writer, tool: admin_x, expect: deny }
  - { name: allow with empty missing, principal: reader, tool: read, expect: allow, missing: [] }
",
    );
    let outcome: Vec<(&str, Option<Failure>)> = report
        .cases
        .iter()
        .map(|c| (c.name.as_str(), c.failure.clone()))
        .collect();
    assert_eq!(
        outcome,
        [
            ("passes", None),
            ("wrong decision", Some(Failure::Decision)),
            ("allowed", Some(Failure::Decision)),
            ("other missing", Some(Failure::MissingScopes)),
            ("same missing", None),
            ("nothing can allow", None),
            ("something can allow", Some(Failure::MissingScopes)),
            ("default deny", None),
            ("missing unchecked", None),
            ("allow with empty missing", None),
        ]
    );
    assert_eq!((report.passed(), report.failed()), (6, 4));
    let Got::Decision(decided) = &report.cases[3].got else {
        panic!("{:?}", report.cases[3].got)
    };
    assert_eq!(decided.missing_scopes, ["w", "x"]);
    assert_eq!(decided.rule.as_ref().map(|r| r.line), Some(7));
}

/// The github example's `ci-bot` token, with the file's JWKS and a time to
/// validate it at.
fn jwt_principal(now: &str, audience: &str) -> String {
    let file = TestFile::parse(GITHUB_TESTS).unwrap();
    let Some(Identity::Jwt(jwt)) = file
        .principals
        .iter()
        .find(|p| p.name == "ci-bot")
        .map(|p| p.identity.clone())
    else {
        panic!("no ci-bot")
    };
    format!(
        "{{ jwt: {}, jwks: github-server/dev-keys/jwks.json, issuer: https://auth.example.com, audience: {audience}, now: {now} }}",
        jwt.token
    )
}

#[test]
fn tokens_are_validated_by_the_runtime_validator() {
    let valid = jwt_principal("2026-01-01T00:10:00Z", "https://mcp.example.com/mcp");
    let expired = jwt_principal("1767312000", "https://mcp.example.com/mcp");
    let elsewhere = jwt_principal("2026-01-01T00:10:00Z", "https://other.example.com");
    let file = TestFile::parse(&format!(
        "
policy: github.mcppolicy
principals:
  valid: {valid}
  expired: {expired}
  elsewhere: {elsewhere}
tests:
  - {{ name: valid, principal: valid, tool: create_pr_draft, arguments: {{ repo: acme/widgets }}, expect: allow }}
  - {{ name: rejected where a decision is expected, principal: expired, tool: create_pr_draft, expect: deny }}
  - {{ name: expired, principal: expired, tool: create_pr_draft, expect: unauthenticated, rejection: expired }}
  - {{ name: any rejection, principal: elsewhere, tool: create_pr_draft, expect: unauthenticated }}
  - {{ name: another rejection, principal: elsewhere, tool: create_pr_draft, expect: unauthenticated, rejection: expired }}
  - {{ name: accepted, principal: valid, tool: create_pr_draft, expect: unauthenticated }}
"
    ))
    .unwrap_or_else(|d| panic!("{d:#?}"));
    let policy = Evaluator::from_path(examples().join("github.mcppolicy")).unwrap();
    let report = run(&file, examples(), &policy).unwrap_or_else(|d| panic!("{d:#?}"));
    let outcome: Vec<(Option<Failure>, Option<Rejection>)> = report
        .cases
        .iter()
        .map(|c| {
            let rejection = match c.got {
                Got::Rejected(rejection) => Some(rejection),
                Got::Decision(_) => None,
            };
            (c.failure.clone(), rejection)
        })
        .collect();
    assert_eq!(
        outcome,
        [
            (None, None),
            (Some(Failure::TokenRejected), Some(Rejection::Expired)),
            (None, Some(Rejection::Expired)),
            (None, Some(Rejection::WrongAudience)),
            (Some(Failure::Rejection), Some(Rejection::WrongAudience)),
            (Some(Failure::TokenAccepted), None),
        ]
    );
}

#[test]
fn unreadable_keys_and_undeclared_scopes_are_located() {
    let valid = jwt_principal("0", "https://mcp.example.com/mcp")
        .replace("github-server/dev-keys/jwks.json", "nope.json");
    let yaml = format!(
        "principals:\n  bot: {valid}\n  reader: {{ scopes: r }}\ntests:\n  - {{ name: t, principal: reader, tool: write, expect: deny, missing: [w, xx] }}\n  - {{ name: u, principal: bot, tool: write, expect: deny }}\n"
    );
    let file = TestFile::parse(&yaml).unwrap();
    let policy = Evaluator::from_source(POLICY).unwrap();
    let diagnostics = run(&file, examples(), &policy).unwrap_err();
    let found: Vec<(Code, usize, usize)> = diagnostics
        .iter()
        .map(|d| (d.code, at(&yaml, d).line, at(&yaml, d).column))
        .collect();
    assert_eq!(
        found,
        [(Code::UnknownScope, 5, 75), (Code::InvalidKeys, 2, 665)]
    );
    assert_eq!(&yaml[diagnostics[0].span().start..][..2], "xx");
    assert!(yaml[diagnostics[1].span().start..].starts_with("nope.json"));
}

#[test]
fn every_checked_problem_is_found_in_one_pass() {
    let found = codes(SEVERAL_PROBLEMS);
    for code in [
        Code::DuplicateKey,
        Code::InvalidPrincipal,
        Code::InapplicableField,
        Code::MalformedScopes,
        Code::UnknownPrincipal,
        Code::DuplicateTest,
        Code::MissingCall,
        Code::ConflictingCalls,
        Code::UnknownRejection,
    ] {
        assert!(found.contains(&code), "{code} not in {found:?}");
    }
    // A test naming a principal that is defined, but invalid, is not a
    // second error.
    let unknown = found
        .iter()
        .filter(|c| **c == Code::UnknownPrincipal)
        .count();
    assert_eq!(unknown, 1);
}

#[test]
fn positions_point_at_the_node_not_at_the_same_words_elsewhere() {
    let diagnostics = TestFile::parse(SEVERAL_PROBLEMS).unwrap_err();
    let at = |code: Code| {
        let location = at(
            SEVERAL_PROBLEMS,
            diagnostics.iter().find(|d| d.code == code).unwrap(),
        );
        let text = &SEVERAL_PROBLEMS[location.offset..location.offset + location.len];
        (location.line, location.column, text)
    };
    assert_eq!(at(Code::UnknownPrincipal), (19, 16, "raeder"));
    // The second `readers search`, not the first.
    assert_eq!(at(Code::DuplicateTest), (22, 11, "readers search"));
    assert_eq!(at(Code::DuplicateKey), (6, 3, "reader"));
    assert_eq!(at(Code::UnknownRejection), (52, 16, "expird"));
}

#[test]
fn shape_and_syntax_errors_are_located() {
    let cases: [(&str, Code, usize, usize); 10] = [
        ("tests: [\n", Code::Syntax, 2, 1),
        // The reader's own errors point at the character, not the file's start.
        ("tests: []\n# \u{1}\n", Code::Syntax, 2, 3),
        ("\u{feff}tests: []\n# \u{1}\n", Code::Syntax, 2, 3),
        ("tests:\n\t- x\n", Code::Syntax, 2, 1),
        (
            "tests:\n  - name: a\n    principal: p\n    tool: t\n    expect: allow\n    toool: t\n",
            Code::Schema,
            6,
            5,
        ),
        (
            "tests:\n  - { name: a, principal: p, tool: t, expect: maybe }\n",
            Code::Schema,
            2,
            47,
        ),
        (
            "principals:\n  p: { jwt: x, jwks: j, issuer: i, audience: a, now: yesterday }\ntests: []\n",
            Code::Schema,
            2,
            54,
        ),
        ("", Code::Empty, 1, 1),
        ("# nothing\n", Code::Empty, 1, 1),
        ("tests: []\n---\ntests: []\n", Code::MultipleDocuments, 3, 1),
    ];
    for (yaml, code, line, column) in cases {
        let diagnostics = TestFile::parse(yaml).unwrap_err();
        let d = &diagnostics[0];
        assert_eq!(
            (d.code, at(yaml, d).line, at(yaml, d).column),
            (code, line, column),
            "{yaml:?}: {d:#?}"
        );
        assert!(!d.message.contains(" at line "), "{}", d.message);
        assert!(!d.message.contains(" at position "), "{}", d.message);
    }
}

#[test]
fn a_byte_order_mark_is_skipped_and_counted() {
    let diagnostics = TestFile::parse("\u{feff}tests:\n  - nope: 1\n").unwrap_err();
    let location = at("\u{feff}tests:\n  - nope: 1\n", &diagnostics[0]);
    assert_eq!((location.line, location.column), (2, 5));
    assert_eq!(
        &"\u{feff}tests:\n  - nope: 1\n"[location.offset..][..4],
        "nope"
    );
}

#[test]
fn the_policy_is_beside_the_test_file() {
    let file = TestFile::parse("tests:\n  - { name: a, principal: p, tool: t, expect: allow }\nprincipals: { p: { scopes: r } }\n").unwrap();
    assert_eq!(
        file.policy_path(Path::new("examples/github.mcppolicy.test.yaml"))
            .unwrap(),
        Path::new("examples/github.mcppolicy")
    );
    assert_eq!(
        file.policy_path(Path::new("x.yaml")).unwrap_err().code,
        Code::NoPolicy
    );
    let named = TestFile::parse("policy: ../p.mcppolicy\ntests:\n  - { name: a, principal: p, tool: t, expect: allow }\nprincipals: { p: { scopes: r } }\n").unwrap();
    assert_eq!(
        named.policy_path(Path::new("dir/x.yaml")).unwrap(),
        Path::new("p.mcppolicy")
    );
    let above = TestFile::parse("policy: ../../p.mcppolicy\ntests:\n  - { name: a, principal: p, tool: t, expect: allow }\nprincipals: { p: { scopes: r } }\n").unwrap();
    assert_eq!(
        above.policy_path(Path::new("dir/x.yaml")).unwrap(),
        Path::new("../p.mcppolicy")
    );
}

/// Every diagnostic is inside the text, on a character boundary.
fn assert_located(source: &str) {
    if let Err(diagnostics) = TestFile::parse(source) {
        assert!(!diagnostics.is_empty());
        for d in diagnostics {
            assert!(!d.labels.is_empty(), "{source:?}: {d:?}");
            for label in &d.labels {
                let at = label.span;
                assert!(
                    at.start <= at.end && at.end <= source.len(),
                    "{source:?}: {d:?}"
                );
                assert!(source.is_char_boundary(at.start), "{source:?}: {d:?}");
                assert!(source.is_char_boundary(at.end), "{source:?}: {d:?}");
                assert_eq!(Span::within(source, at.start, at.len()), at, "{source:?}");
            }
            assert!(!d.message.is_empty());
        }
    }
}

#[test]
fn every_truncation_of_the_examples_is_read_or_located() {
    for yaml in [
        GITHUB_TESTS,
        FILESYSTEM_TESTS,
        DATABASE_TESTS,
        SEVERAL_PROBLEMS,
    ] {
        for end in (0..=yaml.len())
            .step_by(3)
            .filter(|end| yaml.is_char_boundary(*end))
        {
            assert_located(&yaml[..end]);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn garbage_never_panics(source in "\\PC{0,200}") {
        assert_located(&source);
    }

    #[test]
    fn yaml_like_garbage_never_panics(
        source in "((principals|tests|name|principal|tool|expect|missing|claims|jwt|scp|- |: |\\{|\\}|\\[|\\]|, |\"|'|&a|\\*a|!t|---|#|\n|  |allow|deny|x|1)){0,60}"
    ) {
        assert_located(&source);
    }

    #[test]
    fn edited_examples_never_panic(cut in 0usize..4000, len in 0usize..40, insert in "[ \n:{}\\[\\]\\-\"'#a-z]{0,5}") {
        let source = GITHUB_TESTS;
        let start = cut.min(source.len());
        let end = (start + len).min(source.len());
        if source.is_char_boundary(start) && source.is_char_boundary(end) {
            assert_located(&format!("{}{insert}{}", &source[..start], &source[end..]));
        }
    }
}

/// `serde_json::Value` keeps the last of two keys, so a nested duplicate
/// decided on one value while a server behind mcp-policy refuses the call.
#[test]
fn a_key_given_twice_below_an_argument_or_a_claim_is_an_error_there() {
    let yaml = "principals:\n  r:\n    claims: { scope: a, org: { id: 1, id: 2 } }\ntests:\n  - name: t\n    principal: r\n    tool: x\n    arguments:\n      repo:\n        owner: b\n        owner: a\n      list: [ { k: 1 }, { k: 2, k: 3 } ]\n    expect: allow\n";
    let diagnostics = TestFile::parse(yaml).unwrap_err();
    let messages: Vec<&str> = diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "claim `org.id` is given twice",
            "argument `repo.owner` is given twice",
            "argument `list[1].k` is given twice",
        ],
        "{diagnostics:?}"
    );
    assert!(diagnostics.iter().all(|d| d.code == Code::DuplicateKey));
    // Each points at the second key, where it is given again.
    let spots: Vec<(usize, usize)> = diagnostics
        .iter()
        .map(|d| {
            let location = at(yaml, d);
            assert_eq!(
                &yaml[location.offset..location.offset + location.len],
                d.message
                    .split('`')
                    .nth(1)
                    .unwrap()
                    .rsplit(['.', ']'])
                    .next()
                    .unwrap()
            );
            (location.line, location.column)
        })
        .collect();
    assert_eq!(spots, [(3, 39), (11, 9), (12, 33)]);
}

#[test]
fn an_argument_given_twice_is_an_error_where_it_is_given_again() {
    let yaml = "principals:\n  r: { scopes: a }\ntests:\n  - name: t\n    principal: r\n    tool: x\n    arguments: { path: /workspace/a, path: /etc/passwd }\n    expect: allow\n";
    let diagnostics = TestFile::parse(yaml).unwrap_err();
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    let location = at(yaml, &diagnostics[0]);
    assert_eq!(diagnostics[0].code, Code::DuplicateKey);
    assert_eq!(
        &yaml[location.offset..location.offset + location.len],
        "path"
    );
    assert_eq!((location.line, location.column), (7, 38));
    // Once each: accepted, with every value kept as written.
    let once = "principals:\n  r: { scopes: a }\ntests:\n  - name: t\n    principal: r\n    tool: x\n    arguments: { path: /workspace/a, n: 3, deep: { x: [1, null] } }\n    expect: allow\n";
    let file = TestFile::parse(once).unwrap();
    assert_eq!(
        file.cases[0].arguments,
        serde_json::json!({"path": "/workspace/a", "n": 3, "deep": {"x": [1, null]}})
            .as_object()
            .cloned()
    );
}
