//! The simulator's costs beside baselines, in the same run:
//!
//! - replay: a generated trace replayed on the example policy, against
//!   only parsing each line into a `serde_json::Value` (what any script
//!   reading the log does before deciding anything);
//! - diff: the semantic diff of two policies, against compiling them (what
//!   `mcp-policy check` does to both anyway), on the example and on a
//!   generated policy of 1,000 tools and 100 globs.
//!
//! `cargo bench -p mcp-policy-sim --bench simulator` measures;
//! `cargo test -p mcp-policy-sim --benches` runs each bench once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../tests/support/generated_trace.rs"]
mod generated_trace;

use std::hint::black_box;
use std::io::{BufRead, Read};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mcp_policy_evaluator::Evaluator;
use mcp_policy_sim::diff::diff;
use mcp_policy_sim::replay::Replay;
use mcp_policy_sim::trace::TraceReader;

const GITHUB: &str = include_str!("../../../examples/github.mcppolicy");
const GITHUB_NEXT: &str = include_str!("../../../examples/traces/github-next.mcppolicy");
const LINES: u64 = 10_000;

fn replay(c: &mut Criterion) {
    let mut trace = Vec::new();
    generated_trace::Generated::new(LINES, false)
        .read_to_end(&mut trace)
        .unwrap();
    let policy = Evaluator::from_source(GITHUB).unwrap();
    let mut group = c.benchmark_group("replay");
    group.throughput(Throughput::Elements(LINES));
    group.bench_function("baseline: parse each line to a JSON value", |b| {
        b.iter(|| {
            let mut objects = 0usize;
            for line in black_box(trace.as_slice()).lines() {
                let value: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
                objects += usize::from(value.is_object());
            }
            objects
        })
    });
    group.bench_function("replay on one policy", |b| {
        b.iter(|| {
            let mut replay = Replay::new(&policy);
            let mut reader = TraceReader::new(black_box(trace.as_slice()));
            for record in reader.by_ref().flatten() {
                replay.replay(&record);
            }
            replay.finish(reader.skipped()).totals.calls()
        })
    });
    group.finish();
}

/// 1,000 exact tools, 50 prefix globs each with a deny exception: a large
/// real-world policy's shape. `next` adds a catch-all suffix glob and
/// loosens every tenth tool.
fn large_policies() -> (String, String) {
    let requirements = ["r", "w", "a", "any_of(r, x)", "all_of(w, x)"];
    let mut old = String::from(
        "scope r level read\nscope w level write implies r\nscope a level admin implies w\nscope x level resource\n",
    );
    let mut new = old.clone();
    for i in 0..1000 {
        let requirement = requirements[i % requirements.len()];
        old.push_str(&format!("tool tool_{i:04}_op requires {requirement}\n"));
        let loosened = if i % 10 == 0 {
            "any_of(r, x)"
        } else {
            requirement
        };
        new.push_str(&format!("tool tool_{i:04}_op requires {loosened}\n"));
    }
    for i in 0..50 {
        let rules = format!("tool \"ns{i}_*\" requires w\ndeny tool \"ns{i}_*_danger\"\n");
        old.push_str(&rules);
        new.push_str(&rules);
    }
    new.push_str("tool \"*_op\" requires a\n");
    (old, new)
}

fn semantic_diff(c: &mut Criterion) {
    let (large_old, large_new) = large_policies();
    for (name, old, new) in [
        ("example", GITHUB, GITHUB_NEXT),
        ("1,000 tools", large_old.as_str(), large_new.as_str()),
    ] {
        let old_table = mcp_policy_lang::compile_source(old).table.unwrap();
        let new_table = mcp_policy_lang::compile_source(new).table.unwrap();
        assert!(!diff(&old_table, &new_table).unwrap().is_empty());
        let mut group = c.benchmark_group(format!("diff/{name}"));
        group.bench_function("baseline: compile both policies", |b| {
            b.iter(|| {
                let old = mcp_policy_lang::compile_source(black_box(old));
                let new = mcp_policy_lang::compile_source(black_box(new));
                (old.table.is_some(), new.table.is_some())
            })
        });
        group.bench_function("diff the compiled tables", |b| {
            b.iter(|| {
                diff(black_box(&old_table), black_box(&new_table))
                    .unwrap()
                    .changes
                    .len()
            })
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = replay, semantic_diff
}
criterion_main!(benches);
