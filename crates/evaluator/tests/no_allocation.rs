//! The decision path must not touch the heap: a server decides on every
//! request, and an allocation there is a lock and a cache miss under load.
//! A counting global allocator proves it for allow and deny, exact names,
//! globs, misses, and tables of more than 64 scopes.
#![allow(unsafe_code, clippy::unwrap_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use mcp_policy_evaluator::{Evaluator, Request};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: delegates every call to the system allocator unchanged; only
// counts, in a thread-local so parallel tests do not disturb each other.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn deciding_does_not_allocate() {
    let policy =
        Evaluator::from_source(include_str!("../../../examples/github.mcppolicy")).unwrap();
    let tokens =
        ["", "mcp:read", "mcp:admin github:issues", "github:repos"].map(|s| policy.parse_scopes(s));
    let requests = [
        Request::CallTool("search_repos"),
        Request::CallTool("close_issue"),
        Request::CallTool("delete_repo"),
        Request::CallTool("admin_reset_everything"),
        Request::CallTool("debug_dump_heap"),
        Request::CallTool("debug_trace"),
        Request::CallTool("not_a_tool"),
        Request::ReadResource("repo://octo/hello/README.md"),
        Request::ReadResource("file:///etc/passwd"),
        Request::GetPrompt("summarize_pr"),
    ];
    let mut allowed = 0;
    let count = allocations_during(|| {
        for token in &tokens {
            for request in requests {
                if policy.is_allowed(request, token) {
                    allowed += 1;
                }
                std::hint::black_box(policy.decide(request, token));
            }
        }
    });
    assert_eq!(count, 0);
    // The loop did real work: some requests were allowed, some denied.
    assert!(allowed > 0 && allowed < tokens.len() * requests.len());
}

#[test]
fn deciding_with_many_scopes_does_not_allocate() {
    let mut source = String::new();
    for i in 0..150 {
        source.push_str(&format!("scope s{i} level resource\n"));
        source.push_str(&format!(
            "tool t{i} requires all_of(s{i}, s{})\n",
            (i + 70) % 150
        ));
    }
    let policy = Evaluator::from_source(&source).unwrap();
    let token = policy.parse_scopes("s3 s73 s140");
    let count = allocations_during(|| {
        assert!(policy.is_allowed(Request::CallTool("t3"), &token));
        assert!(!policy.is_allowed(Request::CallTool("t140"), &token));
    });
    assert_eq!(count, 0);
}

#[test]
fn parsing_a_token_of_a_policy_up_to_128_scopes_does_not_allocate() {
    let mut source = String::new();
    for i in 0..128 {
        source.push_str(&format!("scope s{i} level read\ntool t{i} requires s{i}\n"));
    }
    let policy = Evaluator::from_source(&source).unwrap();
    let mut held = 0;
    let count = allocations_during(|| {
        let token = policy.parse_scopes("openid s1 s64 s127 offline_access");
        held = token.len();
        std::hint::black_box(&token);
    });
    assert_eq!(count, 0);
    assert_eq!(held, 3);
}

/// The counter itself works: otherwise the tests above prove nothing.
#[test]
fn the_counter_sees_allocations() {
    let count = allocations_during(|| {
        std::hint::black_box(vec![1u8; 32]);
    });
    assert!(count >= 1);
}

#[test]
fn deciding_on_arguments_and_claims_does_not_allocate() {
    let policy = Evaluator::from_artifact(include_str!("data/conditional.json")).unwrap();
    let tokens = [
        "",
        "mcp:read",
        "mcp:admin github:issues fs:read",
        "fs:admin",
    ]
    .map(|s| policy.parse_scopes(s));
    let arguments = [
        serde_json::json!({"repo": "acme/x", "owner": "alice", "path": "/workspace/a/../b", "limit": 100, "options": {"mode": "fast"}}),
        serde_json::json!({"repo": "evil/x", "owner": 7, "path": "/workspace/.env", "limit": 18446744073709551615u64}),
        serde_json::json!({"path": format!("/workspace{}", "/a/..".repeat(1000))}),
        serde_json::json!({}),
    ];
    let claims = [
        serde_json::json!({"sub": "alice", "tenant": "acme", "groups": ["staff"]}),
        serde_json::json!({"sub": "bob", "groups": ["suspended"]}),
        serde_json::json!({}),
    ];
    let requests = [
        Request::CallTool("close_issue"),
        Request::CallTool("update_record"),
        Request::CallTool("read_file"),
        Request::CallTool("search"),
        Request::CallTool("anything"),
        Request::CallTool("debug_x"),
        Request::ReadResource("repo://x"),
    ];
    let contexts: Vec<_> = arguments
        .iter()
        .flat_map(|a| claims.iter().map(move |c| (a.as_object(), c.as_object())))
        .collect();
    let mut allowed = 0;
    let mut total = 0;
    let count = allocations_during(|| {
        for token in &tokens {
            for (arguments, claims) in &contexts {
                let context = mcp_policy_evaluator::Context::new(*arguments, *claims);
                for request in requests {
                    total += 1;
                    if policy.is_allowed_in(request, token, &context) {
                        allowed += 1;
                    }
                    std::hint::black_box(policy.decide(request, token));
                }
            }
        }
    });
    assert_eq!(count, 0);
    assert!(allowed > 0 && allowed < total, "{allowed} of {total}");
}
