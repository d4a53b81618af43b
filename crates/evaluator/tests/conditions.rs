//! Decisions on arguments and claims through the evaluator: the owned
//! explanation and its JSON, the failed and fired conditions a server
//! reports instead of a step-up, and the arguments a decision log keeps.
#![allow(clippy::unwrap_used, clippy::panic)]

use mcp_policy_evaluator::{Context, Evaluator, Request};
use serde_json::{Map, Value, json};

const POLICY: &str = include_str!("data/conditional.json");

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn policy() -> Evaluator {
    Evaluator::from_artifact(POLICY).unwrap()
}

#[test]
fn a_failed_condition_names_its_atom_and_asks_for_no_scope() {
    let policy = policy();
    let (arguments, claims) = (object(json!({"repo": "evil/x"})), object(json!({})));
    let context = Context::new(Some(&arguments), Some(&claims));
    let token = policy.parse_scopes("github:issues");
    let why = policy.explained_for(Request::CallTool("close_issue"), &token, &context);
    assert!(!why.allowed);
    assert!(why.missing_scopes.is_empty());
    assert!(!why.allowable);
    assert_eq!(why.failed_conditions, [r#"arg.repo matches "acme/*""#]);
    assert!(why.denied_when.is_empty());

    // The condition holds and the scope lacks: a step-up helps.
    let acme = object(json!({"repo": "acme/x"}));
    let why = policy.explained_for(
        Request::CallTool("close_issue"),
        &policy.parse_scopes(""),
        &Context::new(Some(&acme), None),
    );
    assert_eq!(why.missing_scopes, ["github:issues"]);
    assert!(why.allowable);
    assert!(why.failed_conditions.is_empty());
    assert!(policy.is_allowed_in(
        Request::CallTool("close_issue"),
        &token,
        &Context::new(Some(&acme), None)
    ));
}

#[test]
fn a_fired_deny_names_what_made_it_fire() {
    let policy = policy();
    let arguments = object(json!({"path": "/workspace/.env"}));
    let why = policy.explained_for(
        Request::CallTool("read_file"),
        &policy.parse_scopes("fs:admin"),
        &Context::new(Some(&arguments), None),
    );
    assert!(!why.allowed);
    assert!(why.missing_scopes.is_empty());
    assert_eq!(why.denied_when, [r#"arg.path matches "**/.env""#]);
    assert_eq!(why.rule.unwrap().line, 6);
}

#[test]
fn the_owned_explanation_shows_each_atom_with_its_value() {
    let policy = policy();
    let (arguments, claims) = (
        object(json!({"owner": "bob"})),
        object(json!({"sub": "alice", "tenant": "acme"})),
    );
    let explained = policy.explained_in(
        Request::CallTool("update_record"),
        &["mcp:write"],
        &Context::new(Some(&arguments), Some(&claims)),
    );
    assert!(!explained.allowed);
    // The mcp:admin clause has no condition: adding it allows.
    assert_eq!(explained.missing_scopes, ["mcp:admin"]);
    assert!(explained.allowable);
    let json = serde_json::to_value(&explained).unwrap();
    assert_eq!(
        json["conditions"],
        json!([
            {"atom": "claim.groups contains \"suspended\"", "holds": false, "why": "missing"},
            {"atom": "arg.owner == claim.sub", "holds": false, "value": "bob", "other": "alice", "why": "another value"},
        ])
    );
    assert!(json.get("failed_conditions").is_none());

    let search = policy.explained_in(
        Request::CallTool("search"),
        &["mcp:read"],
        &Context::new(Some(&object(json!({"limit": 1000}))), None),
    );
    assert!(!search.allowable);
    assert_eq!(
        search.failed_conditions,
        ["arg.limit <= 100", r#"arg.options.mode == "fast""#]
    );
    let json = serde_json::to_value(&search).unwrap();
    assert_eq!(json["conditions"][1]["value"], json!(1000));
    assert_eq!(json["conditions"][1]["why"], json!("out of bound"));
}

#[test]
fn an_unconditional_policy_explains_in_the_same_json() {
    // The GitHub example as the issue wrote it: examples/ has conditions now.
    let policy =
        Evaluator::from_source(include_str!("../../../tests/verbatim/github.mcppolicy")).unwrap();
    let arguments = object(json!({"repo": "x"}));
    let plain = policy.explained(Request::CallTool("close_issue"), &["mcp:read"]);
    let with_context = policy.explained_in(
        Request::CallTool("close_issue"),
        &["mcp:read"],
        &Context::new(Some(&arguments), None),
    );
    assert_eq!(plain, with_context);
    let json = serde_json::to_value(&plain).unwrap();
    let mut keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "allowable",
            "allowed",
            "ignored_scopes",
            "missing_scopes",
            "rule",
            "scopes"
        ]
    );
    assert!(
        policy
            .argument_paths(Request::CallTool("close_issue"), &Context::EMPTY)
            .is_empty()
    );
}

#[test]
fn the_decision_log_keeps_only_the_arguments_read() {
    let policy = policy();
    let arguments = object(json!({
        "limit": 5,
        "options": {"mode": "fast", "secret": "s3cr3t"},
        "query": "private text",
    }));
    let context = Context::new(Some(&arguments), None);
    let logged = policy.logged_arguments(Request::CallTool("search"), &context);
    assert_eq!(
        Value::Object(logged),
        json!({"limit": 5, "options": {"mode": "fast"}})
    );
    let paths: Vec<Vec<String>> = policy
        .argument_paths(Request::CallTool("search"), &context)
        .into_iter()
        .map(<[String]>::to_vec)
        .collect();
    assert_eq!(
        paths,
        [
            vec!["limit".to_owned()],
            vec!["options".to_owned(), "mode".to_owned()]
        ]
    );
    // Missing arguments are not invented.
    let sparse = object(json!({"options": "flat"}));
    let logged = policy.logged_arguments(
        Request::CallTool("search"),
        &Context::new(Some(&sparse), None),
    );
    assert!(logged.is_empty(), "{logged:?}");
    assert!(
        policy
            .logged_arguments(Request::CallTool("debug_x"), &context)
            .is_empty()
    );
}

#[test]
fn lists_use_claims_and_leave_arguments_open() {
    let policy = policy();
    let acme = object(json!({"tenant": "acme", "sub": "alice"}));
    let token = policy.parse_scopes("mcp:read github:issues");
    assert!(policy.may_allow(Request::CallTool("close_issue"), &token, Some(&acme)));
    assert!(policy.may_allow(Request::CallTool("anything"), &token, Some(&acme)));
    assert!(!policy.may_allow(Request::CallTool("anything"), &token, None));
    assert!(!policy.may_allow(Request::CallTool("debug_x"), &token, Some(&acme)));
    let suspended = object(json!({"tenant": "acme", "groups": ["suspended"]}));
    assert!(!policy.may_allow(Request::CallTool("close_issue"), &token, Some(&suspended)));
}
