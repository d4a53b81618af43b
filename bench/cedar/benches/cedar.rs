//! Conditional decisions: mcp-policy against Cedar, the same policy and the
//! same requests, side by side in one run (issue #13's goal: at least 50×).
//!
//! The Cedar side is written as ToolHive encodes MCP for Cedar: principal
//! `Client::"<sub>"`, action `Action::"call_tool"`, resource
//! `Tool::"<name>"`, the call's arguments in `context.arguments` and the
//! token's claims in `context.claims`. Cedar has no scope implication, so a
//! requirement lists every scope that grants it (`mcp:admin` for
//! `mcp:write`), and every attribute is guarded with `has`, as a careful
//! ToolHive user writes it (an attribute error would skip the policy).
//!
//! Two Cedar figures: `cedar_with_request` builds the request per call, as
//! a server must (the arguments differ on every call); `cedar_prebuilt`
//! times `is_authorized` alone on requests built outside the loop.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::str::FromStr;
use std::time::Duration;

use cedar_policy::{Authorizer, Context, Entities, EntityUid, PolicySet, Request};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mcp_policy_evaluator::{Evaluator, Request as McpRequest};
use serde_json::{Map, Value, json};

const SCOPES: &str = "\
scope mcp:read      level read
scope mcp:write     level write    implies mcp:read
scope mcp:admin     level admin    implies mcp:write
scope github:issues level resource
scope fs:read       level read
scope fs:admin      level admin    implies fs:read
";

/// The issue's example, in our language.
const EXAMPLE_RULES: &str = r#"
tool close_issue   requires all_of(github:issues, arg.repo matches "acme/*")
tool update_record requires any_of(mcp:admin, all_of(mcp:write, arg.owner == claim.sub))
tool read_file     requires any_of(fs:admin, all_of(fs:read, arg.path matches "/workspace/*"))
tool search        requires all_of(mcp:read, arg.limit <= 100)
tool "*"           requires all_of(mcp:read, claim.tenant == "acme")
deny tool "*"      when claim.groups contains "suspended"
"#;

/// The same policy in Cedar.
const EXAMPLE_CEDAR: &str = r#"
permit(principal, action == Action::"call_tool", resource == Tool::"close_issue")
when { context.scopes.contains("github:issues")
       && context.arguments has repo && context.arguments.repo like "acme/*" };
permit(principal, action == Action::"call_tool", resource == Tool::"update_record")
when { context.scopes.contains("mcp:admin")
       || (context.scopes.containsAny(["mcp:write", "mcp:admin"])
           && context.arguments has owner && context.claims has sub
           && context.arguments.owner == context.claims.sub) };
permit(principal, action == Action::"call_tool", resource == Tool::"read_file")
when { context.scopes.contains("fs:admin")
       || (context.scopes.containsAny(["fs:read", "fs:admin"])
           && context.arguments has path && context.arguments.path like "/workspace/*") };
permit(principal, action == Action::"call_tool", resource == Tool::"search")
when { context.scopes.containsAny(["mcp:read", "mcp:write", "mcp:admin"])
       && context.arguments has limit && context.arguments.limit <= 100 };
permit(principal, action == Action::"call_tool", resource)
when { !(resource in [Tool::"close_issue", Tool::"update_record", Tool::"read_file", Tool::"search"])
       && context.scopes.containsAny(["mcp:read", "mcp:write", "mcp:admin"])
       && context.claims has tenant && context.claims.tenant == "acme" };
forbid(principal, action == Action::"call_tool", resource)
when { context.claims has groups && context.claims.groups.contains("suspended") };
"#;

const TOOLS: usize = 1000;

fn generated_rules() -> String {
    (0..TOOLS)
        .map(|i| {
            format!("tool repo_tool_{i} requires all_of(mcp:write, arg.repo matches \"acme/*\")\n")
        })
        .collect()
}

fn generated_cedar() -> String {
    (0..TOOLS)
        .map(|i| {
            format!(
                "permit(principal, action == Action::\"call_tool\", resource == Tool::\"repo_tool_{i}\")\n\
                 when {{ context.scopes.containsAny([\"mcp:write\", \"mcp:admin\"])\n\
                 && context.arguments has repo && context.arguments.repo like \"acme/*\" }};\n"
            )
        })
        .collect()
}

struct Call {
    tool: String,
    arguments: Map<String, Value>,
}

struct Case {
    group: &'static str,
    evaluator: Evaluator,
    cedar: PolicySet,
    calls: Vec<Call>,
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn example_case() -> Case {
    let call = |tool: &str, arguments: Value| Call {
        tool: tool.to_owned(),
        arguments: object(arguments),
    };
    Case {
        group: "conditions_example",
        evaluator: Evaluator::from_source(&format!("{SCOPES}{EXAMPLE_RULES}")).unwrap(),
        cedar: PolicySet::from_str(EXAMPLE_CEDAR).unwrap(),
        calls: vec![
            call("close_issue", json!({"repo": "acme/tools", "title": "x"})),
            call("close_issue", json!({"repo": "evil/tools", "title": "x"})),
            call("update_record", json!({"owner": "alice", "id": 7})),
            call("update_record", json!({"owner": "bob", "id": 7})),
            call("read_file", json!({"path": "/workspace/src/lib.rs"})),
            call("read_file", json!({"path": "/etc/passwd"})),
            call("search", json!({"limit": 50})),
            call("search", json!({"limit": 500})),
            call("get_weather", json!({"city": "Paris"})),
            call("search", json!({})),
        ],
    }
}

fn generated_case() -> Case {
    let call = |i: usize, repo: &str| Call {
        tool: format!("repo_tool_{i}"),
        arguments: object(json!({ "repo": repo })),
    };
    Case {
        group: "conditions_1000_tools",
        evaluator: Evaluator::from_source(&format!("{SCOPES}{}", generated_rules())).unwrap(),
        cedar: PolicySet::from_str(&generated_cedar()).unwrap(),
        calls: (0..8)
            .map(|k| {
                call(
                    k * TOOLS / 8 + 3,
                    if k % 2 == 0 { "acme/x" } else { "evil/x" },
                )
            })
            .chain(std::iter::once(Call {
                tool: "unknown".to_owned(),
                arguments: Map::new(),
            }))
            .collect(),
    }
}

const HELD: [&str; 4] = ["mcp:write", "github:issues", "fs:read", "mcp:read"];

fn claims() -> Map<String, Value> {
    object(json!({"sub": "alice", "tenant": "acme", "groups": ["staff"]}))
}

fn cedar_request(call: &Call, claims: &Map<String, Value>) -> Request {
    let principal =
        EntityUid::from_str(&format!("Client::{}", Value::from(claims["sub"].clone()))).unwrap();
    let action = EntityUid::from_str(r#"Action::"call_tool""#).unwrap();
    let resource =
        EntityUid::from_str(&format!("Tool::{}", Value::from(call.tool.clone()))).unwrap();
    let context = Context::from_json_value(
        json!({
            "scopes": HELD,
            "arguments": call.arguments,
            "claims": claims,
        }),
        None,
    )
    .unwrap();
    Request::new(principal, action, resource, context, None).unwrap()
}

/// Outside the timings: both engines give every call the same answer, and
/// the calls include allowed and denied ones.
fn check(case: &Case) {
    let claims = claims();
    let scopes = case.evaluator.scope_set(HELD);
    let authorizer = Authorizer::new();
    let mut allowed = 0;
    for call in &case.calls {
        let context = mcp_policy_evaluator::Context::new(Some(&call.arguments), Some(&claims));
        let ours =
            case.evaluator
                .is_allowed_in(McpRequest::CallTool(&call.tool), &scopes, &context);
        let cedar = authorizer
            .is_authorized(
                &cedar_request(call, &claims),
                &case.cedar,
                &Entities::empty(),
            )
            .decision()
            == cedar_policy::Decision::Allow;
        assert_eq!(
            ours, cedar,
            "{}: {} {:?}",
            case.group, call.tool, call.arguments
        );
        allowed += usize::from(ours);
    }
    assert!(
        allowed > 0 && allowed < case.calls.len(),
        "{}: {allowed} allowed",
        case.group
    );
}

fn bench_case(c: &mut Criterion, case: &Case) {
    check(case);
    let claims = claims();
    let scopes = case.evaluator.scope_set(HELD);
    let authorizer = Authorizer::new();
    let entities = Entities::empty();
    let prebuilt: Vec<Request> = case
        .calls
        .iter()
        .map(|call| cedar_request(call, &claims))
        .collect();

    let mut group = c.benchmark_group(case.group);
    group.throughput(Throughput::Elements(case.calls.len() as u64));
    group.bench_function("ours_decide_in", |b| {
        b.iter(|| {
            let mut allowed = 0u32;
            for call in black_box(&case.calls) {
                let context =
                    mcp_policy_evaluator::Context::new(Some(&call.arguments), Some(&claims));
                allowed += u32::from(case.evaluator.is_allowed_in(
                    McpRequest::CallTool(&call.tool),
                    black_box(&scopes),
                    &context,
                ));
            }
            allowed
        });
    });
    group.bench_function("cedar_with_request", |b| {
        b.iter(|| {
            let mut allowed = 0u32;
            for call in black_box(&case.calls) {
                let request = cedar_request(call, &claims);
                let answer = authorizer.is_authorized(&request, &case.cedar, &entities);
                allowed += u32::from(answer.decision() == cedar_policy::Decision::Allow);
            }
            allowed
        });
    });
    group.bench_function("cedar_prebuilt", |b| {
        b.iter(|| {
            let mut allowed = 0u32;
            for request in black_box(&prebuilt) {
                let answer = authorizer.is_authorized(request, &case.cedar, &entities);
                allowed += u32::from(answer.decision() == cedar_policy::Decision::Allow);
            }
            allowed
        });
    });
    group.finish();
}

fn conditions(c: &mut Criterion) {
    bench_case(c, &example_case());
    bench_case(c, &generated_case());
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = conditions
}
criterion_main!(benches);
