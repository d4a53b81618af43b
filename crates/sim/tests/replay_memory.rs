//! Replay memory does not grow with the trace: the peak of live heap bytes
//! while replaying a generated trace of a million calls on two policies is
//! that of ten thousand calls, within a small constant.
//!
//! One test in its own binary: the counting allocator sees every
//! allocation of the process, so no other test may run beside it.
#![allow(
    unsafe_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::BufReader;
use std::sync::atomic::{AtomicUsize, Ordering};

use mcp_policy_evaluator::Evaluator;
use mcp_policy_sim::replay::Replay;
use mcp_policy_sim::trace::TraceReader;

#[path = "support/generated_trace.rs"]
mod generated_trace;
use generated_trace::{Generated, PRINCIPALS};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counters are only read by the test.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            let grown = new_size - layout.size();
            let live = LIVE.fetch_add(grown, Ordering::Relaxed) + grown;
            PEAK.fetch_max(live, Ordering::Relaxed);
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const GITHUB: &str = include_str!("../../../examples/github.mcppolicy");
const GITHUB_NEXT: &str = include_str!("../../../examples/traces/github-next.mcppolicy");

/// The peak of live heap bytes while replaying `lines` generated lines on
/// both policies, and the number of calls replayed.
fn replay_peak(lines: u64, principals: u64, before: &Evaluator, after: &Evaluator) -> (usize, u64) {
    PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
    let generated = Generated::new(lines, true).with_principals(principals);
    let mut reader = TraceReader::new(BufReader::new(generated));
    let mut replay = Replay::new(before).against(after);
    let mut changes = 0u64;
    for item in reader.by_ref() {
        match item {
            Ok(record) => changes += u64::from(replay.replay(&record).change.is_some()),
            Err(error) => {
                assert!(!error.is_fatal(), "{error}");
                replay.malformed();
            }
        }
    }
    assert_eq!(reader.lines(), lines);
    let summary = replay.finish(reader.skipped());
    assert_eq!(summary.totals.changed(), changes);
    assert!(changes > 0 && summary.totals.drift > 0 && summary.malformed > 0);
    assert!(summary.tools.other.is_none());
    if principals <= 1_000 {
        assert!(summary.principals.other.is_none());
        assert_eq!(summary.principals.rows.len() as u64, principals);
    } else {
        // Past the cap: 1,000 rows, the rest folded and counted.
        assert_eq!(summary.principals.rows.len(), 1_000);
        assert!(summary.principals.other.as_ref().unwrap().keys > 10_000);
    }
    let calls = summary.totals.calls();
    drop(summary);
    (PEAK.load(Ordering::Relaxed), calls)
}

#[test]
fn replay_memory_stays_flat_from_ten_thousand_to_a_million_calls() {
    let before = Evaluator::from_source(GITHUB).unwrap();
    let after = Evaluator::from_source(GITHUB_NEXT).unwrap();
    let baseline = LIVE.load(Ordering::Relaxed);
    let (small, small_calls) = replay_peak(10_000, PRINCIPALS, &before, &after);
    let (large, large_calls) = replay_peak(1_000_000, PRINCIPALS, &before, &after);
    // Nearly every line a new principal: the fold into "(other)" keeps
    // memory bounded too (1,000 rows, and at most 65,536 hashes to count
    // the folded keys).
    let (crowd, _) = replay_peak(200_000, 1_000_000, &before, &after);
    assert!(large_calls > 900_000, "{large_calls}");
    assert!(small_calls > 9_000, "{small_calls}");
    let small = small - baseline;
    let large = large - baseline;
    eprintln!(
        "peak live heap above the loaded policies: {small} bytes for 10,000 lines, {large} bytes for 1,000,000"
    );
    // What may still grow after 10,000 lines: the denial reasons of keys
    // that had not yet filled their three (a few hundred keys × 3 reasons of
    // about a hundred bytes). Never anything per line.
    assert!(
        large <= small + 128 * 1024,
        "peak grew from {small} to {large} bytes"
    );
    assert!(large < 4 << 20, "peak {large} bytes");
    let crowd = crowd - baseline;
    eprintln!("with 1,000,000 possible principals over 200,000 lines: {crowd} bytes");
    assert!(crowd < 8 << 20, "peak {crowd} bytes");
}
