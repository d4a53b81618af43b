//! Writes the generated trace of `tests/replay_memory.rs` to standard
//! output, for measuring the release binary (docs/PERFORMANCE.md):
//!
//! ```sh
//! cargo run --release -p mcp-policy-sim --example generate_trace -- 1000000 > trace-1m.jsonl
//! ```
//!
//! Every line is well formed here (the test's one malformed line in a hundred
//! becomes an event of another target), so `simulate` exits 0 on it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/generated_trace.rs"]
mod generated_trace;

use std::io::Write;

fn main() -> std::io::Result<()> {
    let lines: u64 = match std::env::args().nth(1) {
        Some(lines) => lines.parse().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "usage: generate_trace LINES",
            )
        })?,
        None => 1_000_000,
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    std::io::copy(&mut generated_trace::Generated::new(lines, false), &mut out)?;
    out.flush()
}
