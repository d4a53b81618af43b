//! `e2e-rmcp-client`: the official Rust MCP SDK, rmcp, and its OAuth client,
//! walking the flow of issue #10 (steps 1 to 7; 6e, key rotation, is run.sh's)
//! against the three servers of the e2e stack at once.
//!
//! Run by tests/e2e/run.sh with the contract's environment (docs/e2e.md):
//! `E2E_AS`, `E2E_SERVER_EXAMPLE`, `E2E_SERVER_PROXY_STDIO`,
//! `E2E_SERVER_PROXY_HTTP`, `E2E_EVERYTHING_DIRECT`, `E2E_SERVERS_JSON`,
//! `E2E_TOKEN_TTL`, `E2E_REPORT_DIR`. Prints one `STEP rmcp <server> <n.sub>
//! PASS|FAIL|DEVIATION <detail>` line per step, writes
//! `$E2E_REPORT_DIR/rmcp.json`, and exits 1 if any step failed.
//! `E2E_RMCP_LOG=debug` shows rmcp's own tracing on stderr.

mod agent;
mod env;
mod flow;
mod mcp;
mod oauth;
mod recorder;
mod report;
mod stats;
mod steps;
mod tokens;
mod watch;

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::env::Env;
use crate::report::{Outcome, Sink};

pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Res<T> = Result<T, Error>;

/// A server's whole flow ends well before this plus the token lifetime (its
/// one wait is for the token to expire).
const FLOW_LIMIT_BEYOND_TTL: Duration = Duration::from_secs(80);

fn init_tracing() {
    let Ok(level) = std::env::var("E2E_RMCP_LOG") else {
        return;
    };
    let level = level
        .parse()
        .unwrap_or(tracing_subscriber::filter::LevelFilter::DEBUG);
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .try_init();
}

/// What the unguarded everything server lists to this client (the same
/// client capabilities as in the flows).
async fn direct_tools(env: &Env) -> Res<BTreeSet<String>> {
    let client = mcp::connect_with_token(&env.everything_direct, None)
        .await?
        .map_err(|e| format!("the unguarded everything server: {e}"))?;
    let names = mcp::tool_names(&client)
        .await?
        .map_err(|e| format!("its tools/list: {e}"))?;
    mcp::close(client).await;
    Ok(names)
}

async fn run() -> Res<ExitCode> {
    let started = Instant::now();
    let env = Arc::new(Env::from_process()?);
    let direct = Arc::new(direct_tools(&env).await?);
    let sink = Sink::default();
    let limit = FLOW_LIMIT_BEYOND_TTL + Duration::from_secs(env.token_ttl);
    let mut flows = tokio::task::JoinSet::new();
    let servers = env.servers.clone();
    for (index, server) in servers.iter().enumerate() {
        let other = servers
            .get((index + 1) % servers.len())
            .map(|s| s.url.clone())
            .ok_or("no other server")?;
        let report = sink.for_server(server.name);
        let ctx = flow::Ctx {
            kind: env.kind(server)?.clone(),
            env: env.clone(),
            server: server.clone(),
            other_resource: other,
            direct_tools: direct.clone(),
            report: report.clone(),
        };
        flows.spawn(async move {
            if tokio::time::timeout(limit, flow::run(ctx)).await.is_err() {
                report.fail("0.0", format!("the flow did not end within {limit:?}"));
            }
        });
    }
    while let Some(joined) = flows.join_next().await {
        joined?;
    }
    sink.write(&env.report_dir)?;
    let records = sink.records();
    let count = |outcome| records.iter().filter(|r| r.result == outcome).count();
    let failed = count(Outcome::Fail);
    println!(
        "rmcp: {} steps: {} PASS, {} DEVIATION, {failed} FAIL in {:.1}s; report {}",
        records.len(),
        count(Outcome::Pass),
        count(Outcome::Deviation),
        started.elapsed().as_secs_f64(),
        env.report_dir.join("rmcp.json").display()
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    init_tracing();
    match run().await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("e2e-rmcp-client: {error}");
            ExitCode::from(2)
        }
    }
}
