//! The load client of `bench/proxy/run.sh`: the same client for every
//! target (a server on its own, our proxy, the other bridges), so that
//! their figures compare.
//!
//! ```text
//! load calls URL --sessions N --seconds S [--token T] [--tool echo] [--args JSON] [--label L]
//! load open  URL --sessions N [--concurrency C] [--token T] [--label L]
//! load idle  URL --sessions N [--hold S] [--token T] [--label L]
//! ```
//!
//! `calls` opens N sessions (initialize, then notifications/initialized,
//! keeping `Mcp-Session-Id`), each on a connection of its own, then each
//! session calls the tool in a loop, one call at a time, for S seconds.
//! `open` times opening N sessions, C at a time. `idle` opens N sessions
//! and holds them S seconds (the script reads the server's memory then).
//! Each prints one JSON line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[derive(Clone, Debug)]
struct Options {
    command: String,
    url: String,
    sessions: usize,
    seconds: f64,
    concurrency: usize,
    token: Option<String>,
    tool: String,
    args: Value,
    label: String,
}

fn options() -> Result<Options, String> {
    let mut argv = std::env::args().skip(1);
    let command = argv.next().ok_or("usage: load calls|open|idle URL ...")?;
    let url = argv.next().ok_or("a URL is needed")?;
    let mut options = Options {
        command,
        url,
        sessions: 1,
        seconds: 10.0,
        concurrency: 16,
        token: None,
        tool: "echo".into(),
        args: json!({"message": "hello"}),
        label: String::new(),
    };
    while let Some(flag) = argv.next() {
        let value = argv.next().ok_or(format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<f64>()
                .map_err(|_| format!("{flag}: not a number"))
        };
        match flag.as_str() {
            "--sessions" => options.sessions = number()? as usize,
            "--seconds" | "--hold" => options.seconds = number()?,
            "--concurrency" => options.concurrency = (number()? as usize).max(1),
            "--token" => options.token = Some(value),
            "--tool" => options.tool = value,
            "--args" => options.args = serde_json::from_str(&value).map_err(|e| e.to_string())?,
            "--label" => options.label = value,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(options)
}

/// One MCP session on a connection of its own.
struct Session {
    client: reqwest::Client,
    url: String,
    token: Option<String>,
    id: Option<String>,
    version: String,
}

impl Session {
    fn new(options: &Options) -> Session {
        Session {
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .unwrap(),
            url: options.url.clone(),
            token: options.token.clone(),
            id: None,
            version: "2025-06-18".into(),
        }
    }

    async fn post(
        &self,
        body: &Value,
    ) -> Result<(reqwest::StatusCode, Option<String>, String), String> {
        let mut request = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.to_string());
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(id) = &self.id {
            request = request
                .header("mcp-session-id", id)
                .header("mcp-protocol-version", &self.version);
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        let session = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = response.text().await.map_err(|e| e.to_string())?;
        Ok((status, session, text))
    }

    async fn open(&mut self) -> Result<(), String> {
        let initialize = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "mcp-policy-load", "version": "0"}}});
        let (status, session, text) = self.post(&initialize).await?;
        let answer = answer_of(&text, &json!(0)).ok_or(format!("initialize: {status} {text}"))?;
        if !status.is_success() || answer.get("result").is_none() {
            return Err(format!("initialize: {status} {text}"));
        }
        if let Some(version) = answer["result"]["protocolVersion"].as_str() {
            self.version = version.to_owned();
        }
        self.id = session;
        let (status, _, text) = self
            .post(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await?;
        if !status.is_success() {
            return Err(format!("initialized: {status} {text}"));
        }
        Ok(())
    }

    /// Ends the session (DELETE), so that a bridge ends its child now.
    async fn close(&self) {
        let Some(id) = &self.id else { return };
        let mut request = self.client.delete(&self.url).header("mcp-session-id", id);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let _ = request.send().await;
    }

    /// One call; true if it succeeded (an HTTP 2xx and a result that is not
    /// an error).
    async fn call(&self, id: u64, tool: &str, args: &Value) -> bool {
        let message = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                             "params": {"name": tool, "arguments": args}});
        match self.post(&message).await {
            Ok((status, _, text)) if status.is_success() => answer_of(&text, &json!(id))
                .is_some_and(|a| a.get("result").is_some_and(|r| r["isError"] != json!(true))),
            _ => false,
        }
    }
}

/// The answer with `id` in a JSON body or in an SSE stream's events.
fn answer_of(text: &str, id: &Value) -> Option<Value> {
    if let Ok(value) = serde_json::from_str::<Value>(text) {
        return (value.get("id") == Some(id)).then_some(value);
    }
    text.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
        .find(|m| m.get("id") == Some(id) && m.get("method").is_none())
}

/// Latencies in microseconds, and what they sum up to.
#[derive(Default, Debug)]
struct Summary {
    latencies: Vec<u64>,
    errors: u64,
}

impl Summary {
    fn merge(&mut self, other: Summary) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
    }

    /// The `q`-quantile (0..=1) by the nearest-rank method; 0 when empty.
    fn quantile(&mut self, q: f64) -> u64 {
        if self.latencies.is_empty() {
            return 0;
        }
        self.latencies.sort_unstable();
        let rank = (q * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }
}

async fn open_all(options: &Options) -> (Vec<Session>, u64, Duration) {
    let started = Instant::now();
    let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(options.concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..options.sessions {
        let mut session = Session::new(options);
        let semaphore = std::sync::Arc::clone(&semaphore);
        tasks.spawn(async move {
            let _permit = semaphore.acquire().await.unwrap();
            let opened = session.open().await;
            (session, opened)
        });
    }
    let mut sessions = Vec::new();
    let mut errors = 0;
    while let Some(done) = tasks.join_next().await {
        match done.unwrap() {
            (session, Ok(())) => sessions.push(session),
            (_, Err(error)) => {
                errors += 1;
                if errors <= 3 {
                    eprintln!("load: {error}");
                }
            }
        }
    }
    (sessions, errors, started.elapsed())
}

async fn calls(options: &Options) -> Value {
    let (sessions, open_errors, opening) = open_all(options).await;
    let deadline = Instant::now() + Duration::from_secs_f64(options.seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for session in sessions {
        let tool = options.tool.clone();
        let args = options.args.clone();
        tasks.spawn(async move {
            let mut summary = Summary::default();
            let mut id = 1;
            while Instant::now() < deadline {
                let started = Instant::now();
                let ok = session.call(id, &tool, &args).await;
                let took = started.elapsed().as_micros() as u64;
                if ok {
                    summary.latencies.push(took);
                } else {
                    summary.errors += 1;
                }
                id += 1;
            }
            session.close().await;
            summary
        });
    }
    let mut summary = Summary::default();
    while let Some(done) = tasks.join_next().await {
        summary.merge(done.unwrap());
    }
    let ok = summary.latencies.len();
    json!({
        "label": options.label, "mode": "calls", "sessions": options.sessions,
        "opened": options.sessions as u64 - open_errors, "open_errors": open_errors,
        "open_ms": opening.as_millis() as u64, "seconds": options.seconds,
        "calls": ok, "errors": summary.errors,
        "throughput": (ok as f64 / options.seconds * 10.0).round() / 10.0,
        "p50_us": summary.quantile(0.5), "p99_us": summary.quantile(0.99),
    })
}

fn main() {
    let options = match options() {
        Ok(options) => options,
        Err(error) => {
            eprintln!("load: {error}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let line = runtime.block_on(async {
        match options.command.as_str() {
            "calls" => calls(&options).await,
            "open" => {
                let (sessions, errors, took) = open_all(&options).await;
                json!({"label": options.label, "mode": "open", "sessions": options.sessions,
                       "opened": sessions.len(), "open_errors": errors,
                       "open_ms": took.as_millis() as u64})
            }
            "idle" => {
                let (sessions, errors, took) = open_all(&options).await;
                println!(
                    "{}",
                    json!({"label": options.label, "mode": "idle", "sessions": options.sessions,
                           "opened": sessions.len(), "open_errors": errors,
                           "open_ms": took.as_millis() as u64})
                );
                tokio::time::sleep(Duration::from_secs_f64(options.seconds)).await;
                drop(sessions);
                Value::Null
            }
            other => json!({"error": format!("unknown command {other}")}),
        }
    });
    if !line.is_null() {
        println!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let mut summary = Summary {
            latencies: (1..=100).rev().collect(),
            errors: 0,
        };
        assert_eq!(summary.quantile(0.5), 50);
        assert_eq!(summary.quantile(0.99), 99);
        assert_eq!(summary.quantile(1.0), 100);
        assert_eq!(summary.quantile(0.0), 1);
        let mut one = Summary {
            latencies: vec![7],
            errors: 0,
        };
        assert_eq!(one.quantile(0.99), 7);
        assert_eq!(Summary::default().quantile(0.5), 0);
    }

    #[test]
    fn merged_summaries_keep_every_sample_and_error() {
        let mut all = Summary {
            latencies: vec![1, 2],
            errors: 1,
        };
        all.merge(Summary {
            latencies: vec![3],
            errors: 2,
        });
        assert_eq!(all.latencies.len(), 3);
        assert_eq!(all.errors, 3);
        assert_eq!(all.quantile(0.5), 2);
    }

    #[test]
    fn answers_are_found_in_json_and_in_sse() {
        let id = json!(3);
        assert!(answer_of(r#"{"jsonrpc":"2.0","id":3,"result":{}}"#, &id).is_some());
        assert!(answer_of(r#"{"jsonrpc":"2.0","id":4,"result":{}}"#, &id).is_none());
        let sse = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"id\":3}\n\n\
                   event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"ok\":1}}\n\n";
        assert_eq!(answer_of(sse, &id).unwrap()["result"]["ok"], 1);
        assert!(answer_of("", &id).is_none());
        assert!(answer_of("garbage\n\n", &id).is_none());
    }
}
