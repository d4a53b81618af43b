//! Conditions end to end: source to table to decisions on real JSON
//! arguments and claims, one case (or more) per operator.

use mcp_policy_lang::{Code, DecisionTable, TargetKind, compile_source};
use mcp_policy_table::Context;
use serde_json::{Map, Value, json};

const POLICY: &str = r#"
scope github:issues level write
scope mcp:admin level admin
scope mcp:write level write
scope mcp:read level read
scope fs:admin level admin
scope fs:read level read
tool close_issue   requires all_of(github:issues, arg.repo matches "acme/*")
tool update_record requires any_of(mcp:admin, all_of(mcp:write, arg.owner == claim.sub))
tool read_file     requires any_of(fs:admin, all_of(fs:read, arg.path under "/workspace"))
tool search        requires all_of(mcp:read, arg.limit <= 100)
tool "*"           requires all_of(mcp:read, claim.tenant == "acme")
deny tool read_file when arg.path matches "*/.env"
deny tool "*"       when claim.groups contains "suspended"
tool pick requires all_of(mcp:read, arg.kind in ["b", "a", "b",], arg."x-y".z != true)
tool small requires all_of(mcp:read, arg.n < 10, arg.m > -1.5, arg.k >= 2e1)
"#;

fn table(source: &str) -> DecisionTable {
    let compilation = compile_source(source);
    assert!(
        compilation.diagnostics.is_empty(),
        "{:#?}",
        compilation.diagnostics
    );
    compilation.table.expect("compiled")
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn decide(table: &DecisionTable, tool: &str, scopes: &[&str], args: Value, claims: Value) -> bool {
    let held = table.scopes().scope_set(scopes.iter().copied());
    let args = object(args);
    let claims = object(claims);
    table
        .decide_in(
            TargetKind::Tool,
            tool,
            &held,
            &Context::new(Some(&args), Some(&claims)),
        )
        .allowed
}

#[test]
fn matches_allows_only_matching_strings() {
    let t = table(POLICY);
    let claims = json!({"tenant": "acme"});
    assert!(decide(
        &t,
        "close_issue",
        &["github:issues"],
        json!({"repo": "acme/web"}),
        claims.clone()
    ));
    assert!(!decide(
        &t,
        "close_issue",
        &["github:issues"],
        json!({"repo": "evil/web"}),
        claims.clone()
    ));
    assert!(!decide(
        &t,
        "close_issue",
        &["github:issues"],
        json!({"repo": 7}),
        claims.clone()
    ));
    assert!(!decide(
        &t,
        "close_issue",
        &["github:issues"],
        json!({}),
        claims
    ));
}

#[test]
fn equality_with_a_claim() {
    let t = table(POLICY);
    let args = json!({"owner": "alice"});
    assert!(decide(
        &t,
        "update_record",
        &["mcp:write"],
        args.clone(),
        json!({"sub": "alice"})
    ));
    assert!(!decide(
        &t,
        "update_record",
        &["mcp:write"],
        args.clone(),
        json!({"sub": "bob"})
    ));
    assert!(!decide(
        &t,
        "update_record",
        &["mcp:write"],
        args.clone(),
        json!({})
    ));
    assert!(decide(
        &t,
        "update_record",
        &["mcp:admin"],
        json!({}),
        json!({})
    ));
}

#[test]
fn under_confines_paths_and_deny_when_fires() {
    let t = table(POLICY);
    let ok = |path: &str| {
        decide(
            &t,
            "read_file",
            &["fs:read"],
            json!({"path": path}),
            json!({}),
        )
    };
    assert!(ok("/workspace/a.txt"));
    assert!(ok("/workspace"));
    assert!(!ok("/workspace2/a"));
    assert!(!ok("/workspace/../etc/passwd"));
    assert!(!ok("workspace/a"));
    assert!(!ok("/workspace/a/.env"), "the deny fires");
    // The admin passes the allow, but not the deny.
    assert!(decide(
        &t,
        "read_file",
        &["fs:admin"],
        json!({"path": "/x"}),
        json!({})
    ));
    assert!(!decide(
        &t,
        "read_file",
        &["fs:admin"],
        json!({"path": "/x/.env"}),
        json!({})
    ));
    // A missing operand does not fire the deny.
    assert!(decide(&t, "read_file", &["fs:admin"], json!({}), json!({})));
}

#[test]
fn orderings_compare_numbers() {
    let t = table(POLICY);
    let search = |limit: Value| {
        decide(
            &t,
            "search",
            &["mcp:read"],
            json!({"limit": limit}),
            json!({}),
        )
    };
    assert!(search(json!(100)));
    assert!(search(json!(99.5)));
    assert!(!search(json!(101)));
    assert!(!search(json!("50")));
    let small = |n: Value, m: Value, k: Value| {
        decide(
            &t,
            "small",
            &["mcp:read"],
            json!({"n": n, "m": m, "k": k}),
            json!({"tenant": "acme"}),
        )
    };
    assert!(small(json!(9), json!(-1), json!(20)));
    assert!(!small(json!(10), json!(-1), json!(20)));
    assert!(!small(json!(9), json!(-1.5), json!(20)));
    assert!(!small(json!(9), json!(0), json!(19.99)));
}

#[test]
fn glob_rule_with_a_claim_and_a_conditional_deny_on_claims() {
    let t = table(POLICY);
    assert!(decide(
        &t,
        "anything",
        &["mcp:read"],
        json!({}),
        json!({"tenant": "acme"})
    ));
    assert!(!decide(
        &t,
        "anything",
        &["mcp:read"],
        json!({}),
        json!({"tenant": "other"})
    ));
    assert!(!decide(
        &t,
        "anything",
        &["mcp:read"],
        json!({}),
        json!({"tenant": "acme", "groups": ["x", "suspended"]})
    ));
    assert!(decide(
        &t,
        "anything",
        &["mcp:read"],
        json!({}),
        json!({"tenant": "acme", "groups": ["x"]})
    ));
}

#[test]
fn in_lists_and_not_equal() {
    let t = table(POLICY);
    let pick = |args: Value| decide(&t, "pick", &["mcp:read"], args, json!({}));
    assert!(pick(json!({"kind": "a", "x-y": {"z": false}})));
    assert!(pick(json!({"kind": "b", "x-y": {"z": false}})));
    assert!(!pick(json!({"kind": "c", "x-y": {"z": false}})));
    assert!(!pick(json!({"kind": "a", "x-y": {"z": true}})));
    // `!=` needs its operand present and of the literal's type.
    assert!(!pick(json!({"kind": "a"})));
    assert!(!pick(json!({"kind": "a", "x-y": {"z": "no"}})));
}

#[test]
fn spellings_of_one_atom_are_one_atom() {
    let t = table(
        "scope a level read\nscope b level read\ntool x requires any_of(all_of(a, arg.k == \"v\"), all_of(b, arg.k in [\"v\", \"v\"]))\n",
    );
    assert_eq!(t.atoms().len(), 1);
    assert_eq!(
        t.atoms().text(mcp_policy_table::AtomId(0)),
        "arg.k == \"v\""
    );
}

#[test]
fn a_clause_with_more_scopes_and_atoms_than_another_is_dropped() {
    let t = table(
        "scope a level read\nscope b level read\ntool x requires any_of(all_of(a, arg.k == 1), all_of(a, b, arg.k == 1, arg.j == 2))\n",
    );
    let rule = t.rules().first().expect("one rule");
    match &rule.effect {
        mcp_policy_table::Effect::Allow(clauses) => assert_eq!(clauses.len(), 1),
        other => panic!("{other:?}"),
    }
}

#[test]
fn unconditional_policies_compile_as_before() {
    let t = table("scope a level read\ntool x requires a\ndeny tool y\n");
    assert!(!t.has_conditions());
    assert!(t.atoms().is_empty());
}

fn codes(source: &str) -> Vec<Code> {
    compile_source(source)
        .diagnostics
        .iter()
        .map(|diagnostic| diagnostic.code)
        .collect()
}

#[test]
fn an_allow_and_one_conditional_deny_may_share_a_target() {
    assert_eq!(
        codes("scope a level read\ntool x requires a\ndeny tool x when arg.p == 1\n"),
        []
    );
    assert_eq!(
        codes("deny tool x when arg.p == 1\ndeny tool x when arg.q == 1\n"),
        [Code::DuplicateRule]
    );
    assert_eq!(
        codes("deny tool x\ndeny tool x when arg.q == 1\n"),
        [Code::DuplicateRule]
    );
    assert_eq!(
        codes(
            "scope a level read\ntool x requires a\ndeny tool x when arg.p == 1\ndeny tool x when arg.q == 1\n"
        ),
        [Code::DuplicateRule]
    );
}
