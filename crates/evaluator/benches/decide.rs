//! Decisions per call: our evaluator against a naive Rust port of the
//! `canCallTool` guard that MCP auth tutorials show, in the same run, on the
//! same tool names and the same token. docs/PERFORMANCE.md explains the
//! variants and reports the ratios.
//!
//! `cargo bench -p mcp-policy-evaluator --bench decide` measures;
//! `cargo test -p mcp-policy-evaluator --benches` runs each bench once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{HashMap, HashSet};
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mcp_policy_evaluator::{Basis, Evaluator, Request};
use mcp_policy_table::Target;

/// The naive guard, ported from TypeScript as a translation would port it:
/// a map from tool to the scopes of which any one suffices, a split of the
/// token's `scope` string on every call, and a linear scan.
mod naive {
    use std::collections::HashMap;

    pub struct TokenClaims {
        pub scope: Option<String>,
    }

    pub type ToolScopes = HashMap<String, Vec<String>>;

    pub fn can_call_tool(tool_scopes: &ToolScopes, claims: &TokenClaims, tool_name: &str) -> bool {
        let Some(required) = tool_scopes.get(tool_name) else {
            // Unregistered tools are unrestricted, as in the original.
            return true;
        };
        let token_scopes: Vec<&str> = claims.scope.as_deref().unwrap_or("").split(' ').collect();
        // The token needs at least one of the required scopes.
        required.iter().any(|s| token_scopes.contains(&s.as_str()))
    }
}

/// One policy under test: the evaluator, the naive port's map for the same
/// tools, the token, and the names decided on every iteration.
struct Case {
    group: &'static str,
    evaluator: Evaluator,
    tool_scopes: naive::ToolScopes,
    /// Tools whose requirement the naive map cannot express (`all_of`): it
    /// lists their scopes as any-of, so its answer may differ.
    looser_in_naive: HashSet<String>,
    token: &'static str,
    /// Allowed, denied, glob-matched and unknown names, in equal parts.
    names: Vec<String>,
}

// ---------------------------------------------------------------------------
// The GitHub example as the issue wrote it (tests/verbatim/), which is
// examples/github.mcppolicy before its repository rules gained conditions:
// the unconditional decisions measured since the first figures, on a policy
// the article's naive map can still express.

const GITHUB: &str = include_str!("../../../tests/verbatim/github.mcppolicy");
const GITHUB_TOKEN: &str = "openid mcp:read github:issues offline_access";

fn github_case() -> Case {
    let evaluator = Evaluator::from_source(GITHUB).expect("the example policy compiles");
    // The article's TOOL_SCOPES map, completed for every tool of the policy.
    // `implies` is spelled out (a token with mcp:admin may call what needs
    // mcp:read); globs cannot be written, so those names are unregistered.
    let read = ["mcp:read", "mcp:write", "mcp:admin"];
    let write = ["mcp:write", "mcp:admin"];
    let admin = ["mcp:admin"];
    let with = |base: &[&str], extra: &[&str]| -> Vec<String> {
        base.iter().chain(extra).map(|s| (*s).to_owned()).collect()
    };
    let tool_scopes: naive::ToolScopes = [
        ("search_repos", with(&read, &["github:repos"])),
        ("get_file_content", with(&read, &["github:repos"])),
        ("list_users", with(&read, &[])),
        ("analyze_complexity", with(&read, &[])),
        ("create_pr_draft", with(&write, &["github:repos"])),
        ("create_issue", with(&write, &["github:issues"])),
        ("list_issues", with(&read, &["github:issues"])),
        // all_of(mcp:write, github:issues): not expressible, any-of instead.
        ("close_issue", with(&write, &["github:issues"])),
        ("update_record", with(&write, &[])),
        ("send_notification", with(&write, &[])),
        ("delete_repo", with(&admin, &[])),
        ("rotate_secrets", with(&admin, &[])),
        ("purge_cache", with(&admin, &[])),
    ]
    .into_iter()
    .map(|(tool, scopes)| (tool.to_owned(), scopes))
    .collect();
    let names = [
        // allowed (exact)
        "search_repos",
        "list_issues",
        "create_issue",
        "analyze_complexity",
        // denied (exact)
        "delete_repo",
        "update_record",
        "close_issue",
        "create_pr_draft",
        // glob-matched: admin_* (denied), debug_* (allowed), deny debug_dump_*
        "admin_users",
        "admin_billing",
        "debug_trace",
        "debug_dump_heap",
        // unknown
        "get_weather",
        "search_repo",
        "list_prs",
        "purge",
    ];
    Case {
        group: "github",
        evaluator,
        tool_scopes,
        looser_in_naive: HashSet::from(["close_issue".to_owned()]),
        token: GITHUB_TOKEN,
        names: names.map(str::to_owned).to_vec(),
    }
}

// ---------------------------------------------------------------------------
// A generated policy: 1,000 tools, 100 scopes

const DOMAINS: usize = 25;
/// Domains whose scopes form a chain: admin implies write implies read.
const CHAINED: usize = 5;
const TOOLS: usize = 1_000;
const GLOB_DOMAINS: usize = 4;
const LEVELS: [&str; 4] = ["read", "write", "admin", "extra"];
const VERBS: [&str; 8] = [
    "get", "list", "create", "update", "delete", "search", "sync", "export",
];
const NOUNS: [&str; 12] = [
    "repo", "issue", "user", "file", "branch", "release", "secret", "webhook", "team", "project",
    "comment", "label",
];
const GENERATED_TOKEN: &str =
    "openid dom0:write dom1:read dom4:admin dom9:extra dom12:read dom20:write dom16:extra";

fn scope(domain: usize, level: &str) -> String {
    format!("dom{domain}:{level}")
}

fn tool_name(i: usize) -> String {
    format!("{}_{}_{i}", VERBS[i % 8], NOUNS[(i / 8) % 12])
}

/// A tool's requirement: its written form, the scopes of which the naive
/// map holds any one, and whether that is looser than the policy (`all_of`).
fn requirement(i: usize) -> (String, Vec<String>, bool) {
    let d = i % DOMAINS;
    let d2 = (d + 7) % DOMAINS;
    let d3 = (d + 13) % DOMAINS;
    match (i / DOMAINS) % 10 {
        0 | 1 => (scope(d, "read"), vec![scope(d, "read")], false),
        2 | 3 => (scope(d, "write"), vec![scope(d, "write")], false),
        4 => (scope(d, "admin"), vec![scope(d, "admin")], false),
        5 | 6 => {
            let any = vec![scope(d, "read"), scope(d2, "extra")];
            (format!("any_of({})", any.join(", ")), any, false)
        }
        7 => {
            let any = vec![scope(d, "write"), scope(d2, "extra"), scope(d3, "admin")];
            (format!("any_of({})", any.join(", ")), any, false)
        }
        _ => {
            let all = vec![scope(d, "write"), scope(d2, "extra")];
            (format!("all_of({})", all.join(", ")), all, true)
        }
    }
}

/// The scopes that grant `scope` through an `implies` chain, itself first.
fn granting(scope_name: &str) -> Vec<String> {
    let (domain, level) = scope_name.split_once(':').unwrap();
    let d: usize = domain.trim_start_matches("dom").parse().unwrap();
    let above: &[&str] = match level {
        _ if d >= CHAINED => &[],
        "read" => &["write", "admin"],
        "write" => &["admin"],
        _ => &[],
    };
    std::iter::once(scope_name.to_owned())
        .chain(above.iter().map(|l| scope(d, l)))
        .collect()
}

fn generated_source() -> String {
    let mut source = String::from("policy \"generated\"\ndefault deny\n\n");
    for d in 0..DOMAINS {
        for (l, level) in LEVELS.into_iter().enumerate() {
            let keyword = if level == "extra" { "resource" } else { level };
            source += &format!("scope {} level {keyword}", scope(d, level));
            if d < CHAINED && (l == 1 || l == 2) {
                source += &format!(" implies {}", scope(d, LEVELS[l - 1]));
            }
            source.push('\n');
        }
    }
    source.push('\n');
    for i in 0..TOOLS {
        source += &format!("tool {} requires {}\n", tool_name(i), requirement(i).0);
    }
    for d in 0..GLOB_DOMAINS {
        source += &format!("tool \"batch_{d}_*\" requires {}\n", scope(d, "write"));
    }
    source += "deny tool \"internal_*\"\n";
    source
}

fn generated_case() -> Case {
    let source = generated_source();
    let evaluator = match Evaluator::from_source(&source) {
        Ok(evaluator) => evaluator,
        Err(err) => panic!("the generated policy does not compile: {err}"),
    };
    assert_eq!(evaluator.table().scopes().len(), DOMAINS * LEVELS.len());
    let mut tool_scopes = naive::ToolScopes::new();
    let mut looser_in_naive = HashSet::new();
    for i in 0..TOOLS {
        let (_, any, looser) = requirement(i);
        let grants = any.iter().flat_map(|s| granting(s)).collect();
        tool_scopes.insert(tool_name(i), grants);
        if looser {
            looser_in_naive.insert(tool_name(i));
        }
    }
    // Four allowed and four denied exact names, spread over the table.
    let token = evaluator.parse_scopes(GENERATED_TOKEN);
    let pick = |allowed: bool| -> Vec<String> {
        (0..4)
            .map(|quarter| {
                (quarter * TOOLS / 4..TOOLS)
                    .map(tool_name)
                    .find(|name| evaluator.is_allowed(Request::CallTool(name), &token) == allowed)
                    .unwrap()
            })
            .collect()
    };
    let mut names = pick(true);
    names.extend(pick(false));
    names.extend(
        [
            "batch_0_export", // dom0:write held: allowed
            "batch_3_sync",   // dom3:write not held: denied
            "internal_debug", // deny glob
            "batch_1_purge",  // dom1:write not held: denied
            "get_weather",
            "list_repo_1000",
            "sync_everything",
            "delete",
        ]
        .map(str::to_owned),
    );
    Case {
        group: "generated_1000_tools",
        evaluator,
        tool_scopes,
        looser_in_naive,
        token: GENERATED_TOKEN,
        names,
    }
}

// ---------------------------------------------------------------------------

/// Outside the timings: the mix is what it claims to be, and where the naive
/// port can express the policy, both answer the same.
fn check(case: &Case) {
    let evaluator = &case.evaluator;
    let token = evaluator.parse_scopes(case.token);
    let claims = naive::TokenClaims {
        scope: Some(case.token.to_owned()),
    };
    let (mut allowed, mut denied, mut glob, mut unknown) = (0, 0, 0, 0);
    for name in &case.names {
        let decision = evaluator.decide(Request::CallTool(name), &token);
        match decision.basis {
            Basis::Rule(id) => match &evaluator.table().rule(id).unwrap().target {
                Target::Glob(_) => glob += 1,
                Target::Exact(_) if decision.allowed => allowed += 1,
                Target::Exact(_) => denied += 1,
            },
            Basis::Default => unknown += 1,
            Basis::ForeignScopeSet => panic!("{}: foreign scope set", case.group),
        }
        if case.tool_scopes.contains_key(name) && !case.looser_in_naive.contains(name) {
            assert_eq!(
                decision.allowed,
                naive::can_call_tool(&case.tool_scopes, &claims, name),
                "{}: {name}",
                case.group
            );
        }
    }
    assert_eq!(
        (allowed, denied, glob, unknown),
        (4, 4, 4, 4),
        "{}: allowed, denied, glob-matched, unknown",
        case.group
    );
}

fn bench_case(c: &mut Criterion, case: &Case) {
    check(case);
    let evaluator = &case.evaluator;
    let names: Vec<&str> = case.names.iter().map(String::as_str).collect();
    let names = names.as_slice();
    let claims = naive::TokenClaims {
        scope: Some(case.token.to_owned()),
    };
    let token = evaluator.parse_scopes(case.token);

    // The exact names of the policy, for the hasher comparison.
    let exact: Vec<Box<str>> = evaluator
        .table()
        .rules()
        .iter()
        .filter_map(|rule| match &rule.target {
            Target::Exact(name) => Some(name.as_str().into()),
            Target::Glob(_) => None,
        })
        .collect();
    let siphash: HashMap<Box<str>, u32> = exact.iter().cloned().zip(0..).collect();
    let foldhash: HashMap<Box<str>, u32, foldhash::fast::RandomState> =
        exact.iter().cloned().zip(0..).collect();

    let mut group = c.benchmark_group(case.group);
    group.throughput(Throughput::Elements(names.len() as u64));

    // (a) The naive port; it splits the scope string on each call.
    group.bench_function("naive_port", |b| {
        b.iter(|| {
            let mut allowed = 0u32;
            for name in black_box(names) {
                allowed += u32::from(naive::can_call_tool(
                    black_box(&case.tool_scopes),
                    black_box(&claims),
                    name,
                ));
            }
            allowed
        });
    });
    // (b) Ours, the scope set parsed once per token.
    group.bench_function("ours_parsed_once", |b| {
        b.iter(|| {
            let mut allowed = 0u32;
            for name in black_box(names) {
                allowed += u32::from(
                    black_box(evaluator).is_allowed(Request::CallTool(name), black_box(&token)),
                );
            }
            allowed
        });
    });
    // (c) Ours, parsing the scope string on each call like the naive port.
    group.bench_function("ours_parse_per_call", |b| {
        b.iter(|| {
            let mut allowed = 0u32;
            for name in black_box(names) {
                let evaluator = black_box(evaluator);
                let token = evaluator.parse_scopes(black_box(case.token));
                allowed += u32::from(evaluator.is_allowed(Request::CallTool(name), &token));
            }
            allowed
        });
    });
    // (a') and (c') on the registered names only (the allowed and denied
    // exact names, the first half of the mix): the naive port lets every
    // other name through after one lookup, without splitting the scope
    // string, so the mixed figures flatter it where it is wrong.
    let registered = &names[..names.len() / 2];
    group.bench_function("naive_port_registered_names", |b| {
        b.iter(|| {
            let mut allowed = 0u32;
            for name in black_box(registered) {
                allowed += u32::from(naive::can_call_tool(
                    black_box(&case.tool_scopes),
                    black_box(&claims),
                    name,
                ));
            }
            allowed
        });
    });
    group.bench_function("ours_parse_per_call_registered_names", |b| {
        b.iter(|| {
            let mut allowed = 0u32;
            for name in black_box(registered) {
                let evaluator = black_box(evaluator);
                let token = evaluator.parse_scopes(black_box(case.token));
                allowed += u32::from(evaluator.is_allowed(Request::CallTool(name), &token));
            }
            allowed
        });
    });
    // (e) Reading the token alone, once per iteration: our scope set against
    // the naive port's split into a Vec.
    group.bench_function("parse_scopes_once", |b| {
        b.iter(|| {
            black_box(evaluator)
                .parse_scopes(black_box(case.token))
                .len()
        });
    });
    group.bench_function("naive_split_once", |b| {
        b.iter(|| {
            black_box(case.token)
                .split(' ')
                .collect::<Vec<&str>>()
                .len()
        });
    });
    // (d) The exact-name lookup alone, std's SipHash against foldhash (the
    // table's hasher), same keys, same names looked up.
    group.bench_function("lookup_siphash", |b| {
        b.iter(|| {
            let mut found = 0u32;
            for name in black_box(names) {
                found += black_box(&siphash).get(*name).copied().unwrap_or(0);
            }
            found
        });
    });
    group.bench_function("lookup_foldhash", |b| {
        b.iter(|| {
            let mut found = 0u32;
            for name in black_box(names) {
                found += black_box(&foldhash).get(*name).copied().unwrap_or(0);
            }
            found
        });
    });
    group.finish();
}

/// Decisions on arguments and claims: the example policy (an
/// artifact, tests/data/conditional.json), one request per kind of atom.
fn bench_conditions(c: &mut Criterion) {
    use mcp_policy_evaluator::Context;
    use serde_json::json;
    let evaluator = Evaluator::from_artifact(include_str!("../tests/data/conditional.json"))
        .expect("the conditional example loads");
    let token = evaluator.parse_scopes("mcp:write github:issues fs:read");
    let as_object = |value: serde_json::Value| value.as_object().cloned().unwrap();
    let claims = as_object(json!({"sub": "alice", "tenant": "acme", "groups": ["staff"]}));
    let cases = [
        (
            "close_issue",
            as_object(json!({"repo": "acme/tools", "title": "x"})),
        ),
        (
            "update_record",
            as_object(json!({"owner": "alice", "id": 7})),
        ),
        (
            "read_file",
            as_object(json!({"path": "/workspace/src/../README.md"})),
        ),
        (
            "search",
            as_object(json!({"limit": 50, "options": {"mode": "fast"}})),
        ),
        ("other_tool", as_object(json!({}))),
    ];
    for (tool, arguments) in &cases {
        let context = Context::new(Some(arguments), Some(&claims));
        assert!(
            evaluator.is_allowed_in(Request::CallTool(tool), &token, &context),
            "{tool}"
        );
    }
    let mut group = c.benchmark_group("conditions");
    group.throughput(Throughput::Elements(cases.len() as u64));
    group.bench_function("ours_decide_in", |b| {
        b.iter(|| {
            let mut allowed = 0u32;
            for (tool, arguments) in black_box(&cases) {
                let context = Context::new(Some(arguments), Some(&claims));
                allowed += u32::from(black_box(&evaluator).is_allowed_in(
                    Request::CallTool(tool),
                    black_box(&token),
                    &context,
                ));
            }
            allowed
        });
    });
    // One `matches` atom alone: the goal is under 100 ns.
    let atom = mcp_policy_evaluator::condition::Atom::new(
        mcp_policy_evaluator::condition::Operand::arg(["repo"]),
        mcp_policy_evaluator::condition::Op::Matches(mcp_policy_table::Glob::new("acme/*")),
    )
    .unwrap();
    let arguments = as_object(json!({"repo": "acme/tools", "title": "x"}));
    let context = Context::new(Some(&arguments), Some(&claims));
    group.throughput(Throughput::Elements(1));
    group.bench_function("glob_atom", |b| {
        b.iter(|| black_box(&atom).holds(black_box(&context)));
    });
    group.finish();
}

fn decide(c: &mut Criterion) {
    bench_case(c, &github_case());
    bench_case(c, &generated_case());
    bench_conditions(c);
}

criterion_group! {
    name = benches;
    // Ten benches in all; this keeps a full run near a minute on two cores.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = decide
}
criterion_main!(benches);
