//! Times each stage of `check` on one policy file: parse, check, compile,
//! lints. `cargo run --release -p mcp-policy-lang --example stage_times -- FILE`.

use std::time::Instant;

use mcp_policy_lang::{check, compile, lint, parse};

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: stage_times FILE");
        std::process::exit(2);
    };
    let source = std::fs::read_to_string(&path).unwrap_or_default();
    let start = Instant::now();
    let (file, parse_diagnostics) = parse::parse(&source);
    let parsed = Instant::now();
    let (resolved, check_diagnostics) = check::check(&file, &source);
    let checked = Instant::now();
    let table = compile::compile(&resolved);
    let compiled = Instant::now();
    let lints = match &table {
        Ok(table) => lint::lint(
            &source,
            &file,
            &resolved,
            table,
            None,
            &lint::LintConfig::default(),
        )
        .len(),
        Err(_) => 0,
    };
    let linted = Instant::now();
    println!(
        "parse {:?} ({} diagnostics), check {:?} ({}), compile {:?} ({}), lints {:?} ({})",
        parsed - start,
        parse_diagnostics.len(),
        checked - parsed,
        check_diagnostics.len(),
        compiled - checked,
        if table.is_ok() { "ok" } else { "error" },
        linted - compiled,
        lints,
    );
}
