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
use std::io::{BufReader, Read};
use std::sync::atomic::{AtomicUsize, Ordering};

use mcp_policy_evaluator::Evaluator;
use mcp_policy_sim::replay::Replay;
use mcp_policy_sim::trace::TraceReader;

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

/// Every tool of the example, names its globs decide, and one it does not know.
const TOOLS: [&str; 17] = [
    "search_repos",
    "get_file_content",
    "list_users",
    "analyze_complexity",
    "create_pr_draft",
    "create_issue",
    "list_issues",
    "close_issue",
    "update_record",
    "send_notification",
    "delete_repo",
    "rotate_secrets",
    "purge_cache",
    "admin_reset_cache",
    "debug_trace",
    "debug_dump_state",
    "exec_shell",
];

const SCOPES: [&str; 8] = [
    "openid mcp:read",
    "openid mcp:read github:issues offline_access",
    "openid mcp:write github:repos",
    "mcp:admin",
    "github:repos",
    "github:issues",
    "",
    "openid profile email",
];

const PRINCIPALS: u64 = 300;

/// A trace of `lines` lines, made as it is read: the runtime's JSON log
/// mostly, flat records with claims or scope arrays, lines without a call,
/// and now and then a malformed one.
struct Generated {
    left: u64,
    line: Vec<u8>,
    at: usize,
    state: u64,
    bytes: u64,
}

impl Generated {
    fn new(lines: u64) -> Generated {
        Generated {
            left: lines,
            line: Vec::new(),
            at: 0,
            state: 0x9e37_79b9_7f4a_7c15,
            bytes: 0,
        }
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*: deterministic and good enough for a mix.
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn next_line(&mut self) {
        use std::io::Write;
        let r = self.next_random();
        let user = r % PRINCIPALS;
        let scopes = SCOPES[(user % SCOPES.len() as u64) as usize];
        let tool = TOOLS[((r >> 16) % TOOLS.len() as u64) as usize];
        let decision = if (r >> 32).is_multiple_of(3) {
            "deny"
        } else {
            "allow"
        };
        let form = (r >> 40) % 100;
        self.line.clear();
        let line = &mut self.line;
        let _ = match form {
            0..70 => writeln!(
                line,
                r#"{{"timestamp":"2025-06-02T09:14:{:02}.{:06}Z","level":"INFO","fields":{{"message":"policy decision","subject":"user-{user}","client":"app-{}","scopes":"{scopes}","method":"tools/call","name":"{tool}","decision":"{decision}","rule":"default","missing":"","mode":"enforce"}},"target":"mcp_policy::decision"}}"#,
                r % 60,
                r % 1_000_000,
                user % 7
            ),
            70..80 => writeln!(
                line,
                r#"{{"timestamp":"2025-06-02T09:14:00.000000Z","level":"INFO","fields":{{"message":"policy decision","subject":"user-{user}","client":"","scopes":"{scopes}","method":"resources/read","name":"repo://acme/repo-{}/README.md","decision":"{decision}","rule":"default","missing":"","mode":"enforce"}},"target":"mcp_policy::decision"}}"#,
                (r >> 8) % 20
            ),
            80..85 => writeln!(
                line,
                r#"{{"subject":"user-{user}","scopes":"{scopes}","method":"prompts/get","name":"summarize_pr"}}"#
            ),
            85..92 => writeln!(
                line,
                r#"{{"claims":{{"sub":"user-{user}","azp":"batch","scp":[{}]}},"method":"tools/call","name":"{tool}"}}"#,
                scopes
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(|s| format!("\"{s}\""))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            92..96 => writeln!(
                line,
                r#"{{"timestamp":"2025-06-02T09:14:00.000000Z","level":"INFO","fields":{{"message":"list filtered","subject":"user-{user}","method":"tools/list","listed":16,"hidden":"delete_repo","dry_run":false}},"target":"mcp_policy::decision"}}"#
            ),
            96..99 => writeln!(
                line,
                r#"{{"timestamp":"2025-06-02T09:14:00.000000Z","level":"INFO","fields":{{"message":"token rejected","decision":"unauthenticated","rejection":"expired"}},"target":"mcp_policy::decision"}}"#
            ),
            _ => writeln!(line, "not json {r}"),
        };
        self.at = 0;
    }
}

impl Read for Generated {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.line.len() {
            if self.left == 0 {
                return Ok(0);
            }
            self.left -= 1;
            self.next_line();
        }
        let rest = &self.line[self.at..];
        let n = rest.len().min(buffer.len());
        buffer[..n].copy_from_slice(&rest[..n]);
        self.at += n;
        self.bytes += n as u64;
        Ok(n)
    }
}

/// The peak of live heap bytes while replaying `lines` generated lines on
/// both policies, and the number of calls replayed.
fn replay_peak(lines: u64, before: &Evaluator, after: &Evaluator) -> (usize, u64) {
    PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
    let mut reader = TraceReader::new(BufReader::new(Generated::new(lines)));
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
    assert!(summary.tools.other.is_none() && summary.principals.other.is_none());
    assert_eq!(summary.principals.rows.len() as u64, PRINCIPALS);
    let calls = summary.totals.calls();
    drop(summary);
    (PEAK.load(Ordering::Relaxed), calls)
}

#[test]
fn replay_memory_stays_flat_from_ten_thousand_to_a_million_calls() {
    let before = Evaluator::from_source(GITHUB).unwrap();
    let after = Evaluator::from_source(GITHUB_NEXT).unwrap();
    let baseline = LIVE.load(Ordering::Relaxed);
    let (small, small_calls) = replay_peak(10_000, &before, &after);
    let (large, large_calls) = replay_peak(1_000_000, &before, &after);
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
}
