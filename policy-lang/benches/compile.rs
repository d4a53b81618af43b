//! Compiling large policies: what a server waits for when it loads a
//! source policy (`compile_source`, as `Evaluator::from_source` and
//! `from_path` do), and what `mcp-policy check` adds with its lints
//! (`check_source`), and what a server waits for when it loads the
//! compiled table instead (`DecisionTable::from_artifact`, which runs the
//! checker's rules on the table's data). docs/PERFORMANCE.md reports the
//! figures.
//!
//! `cargo bench -p mcp-policy-lang --bench compile` measures;
//! `cargo test -p mcp-policy-lang --benches` runs each bench once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/generate.rs"]
mod generate;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use generate::Shape;
use mcp_policy_lang::lint::LintConfig;
use mcp_policy_table::DecisionTable;

fn compile(c: &mut Criterion) {
    // `cargo test --benches` runs each bench once, in a debug build: the
    // sizes are cut a hundredfold there, so CI checks the bench without
    // parsing 100,000 rules unoptimised.
    let scale = if std::env::args().any(|arg| arg == "--bench") {
        1
    } else {
        100
    };
    let inputs: Vec<(&str, usize, String)> = [
        ("exact", 1_000),
        ("exact", 10_000),
        ("exact", 100_000),
        ("globs", 5_000),
        ("mixed", 10_000),
        ("prefixes", 10_000),
        ("long", 1_000),
    ]
    .into_iter()
    .map(|(name, n)| (name, n / scale))
    .map(|(name, n)| {
        let shape = Shape::from_name(name).unwrap();
        (name, n, generate::policy(shape, n))
    })
    .collect();
    // The inputs are what they claim: each compiles, without an error.
    for (name, n, source) in &inputs {
        let compilation = mcp_policy_lang::compile_source(source);
        assert!(
            !compilation.has_errors(),
            "{name} {n}: {:?}",
            compilation.diagnostics.first()
        );
        let table = compilation.table.unwrap();
        assert!(table.rules().len() >= *n, "{name} {n}");
    }
    let config = LintConfig::default();
    let mut group = c.benchmark_group("compile");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for (name, n, source) in &inputs {
        group.throughput(Throughput::Elements(*n as u64));
        group.bench_with_input(
            BenchmarkId::new(format!("compile_source/{name}"), n),
            source,
            |b, source| b.iter(|| mcp_policy_lang::compile_source(black_box(source))),
        );
        group.bench_with_input(
            BenchmarkId::new(format!("check_source/{name}"), n),
            source,
            |b, source| b.iter(|| mcp_policy_lang::check_source(black_box(source), &config, None)),
        );
        let artifact = mcp_policy_lang::compile_source(source)
            .table
            .unwrap()
            .to_artifact();
        group.bench_with_input(
            BenchmarkId::new(format!("from_artifact/{name}"), n),
            &artifact,
            |b, artifact| b.iter(|| DecisionTable::from_artifact(black_box(artifact)).unwrap()),
        );
    }
    group.finish();
}

criterion_group!(benches, compile);
criterion_main!(benches);
