//! The contract's reporting: one `STEP` line per step on stdout, and the JSON
//! report (`$E2E_REPORT_DIR/rmcp.json`) that docs/e2e.md is built from.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;

use crate::Res;

pub const CLIENT: &str = "rmcp";

/// Longer details are cut (a tool error quotes the tool's output).
const MAX_DETAIL_CHARS: usize = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Outcome {
    Pass,
    Fail,
    /// The peer (rmcp) deviates from a specification in a known way; our
    /// side's behaviour was still asserted.
    Deviation,
}

impl Outcome {
    fn word(self) -> &'static str {
        match self {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
            Outcome::Deviation => "DEVIATION",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub client: &'static str,
    pub server: String,
    pub step: String,
    /// The step's name, the same for every server (the table's row).
    pub what: &'static str,
    pub result: Outcome,
    pub detail: String,
}

/// The steps of every server, shared by the concurrent flows.
#[derive(Debug, Clone, Default)]
pub struct Sink(Arc<Mutex<Vec<Record>>>);

impl Sink {
    pub fn for_server(&self, server: &str) -> Report {
        Report {
            server: server.to_string(),
            sink: self.clone(),
        }
    }

    pub fn records(&self) -> Vec<Record> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Writes the report, ordered by server and step (the flows ran at once).
    pub fn write(&self, dir: &Path) -> Res<()> {
        let mut records = self.records();
        records.sort_by(|a, b| (&a.server, &a.step).cmp(&(&b.server, &b.step)));
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let path = dir.join(format!("{CLIENT}.json"));
        let text = serde_json::to_string_pretty(&records)?;
        std::fs::write(&path, text + "\n")
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
        Ok(())
    }
}

/// The steps of one server.
#[derive(Debug, Clone)]
pub struct Report {
    server: String,
    sink: Sink,
}

impl Report {
    pub fn record(&self, step: &str, result: Outcome, detail: impl Into<String>) {
        // One line per step: a detail never spans lines, and a tool's output
        // quoted in it cannot flood the log or the table.
        let mut detail = detail.into().replace(['\n', '\r'], " ");
        if let Some((cut, _)) = detail.char_indices().nth(MAX_DETAIL_CHARS) {
            detail.truncate(cut);
            detail.push_str(" …");
        }
        println!(
            "STEP {CLIENT} {} {step} {} {detail}",
            self.server,
            result.word()
        );
        self.sink
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Record {
                client: CLIENT,
                server: self.server.clone(),
                step: step.to_string(),
                what: crate::steps::what(step),
                result,
                detail,
            });
    }

    pub fn pass(&self, step: &str, detail: impl Into<String>) {
        self.record(step, Outcome::Pass, detail);
    }

    pub fn fail(&self, step: &str, detail: impl Into<String>) {
        self.record(step, Outcome::Fail, detail);
    }

    pub fn deviation(&self, step: &str, detail: impl Into<String>) {
        self.record(step, Outcome::Deviation, detail);
    }

    /// PASS when `ok`, else FAIL, with the same detail; returns `ok`.
    pub fn check(&self, step: &str, ok: bool, detail: impl Into<String>) -> bool {
        self.record(step, if ok { Outcome::Pass } else { Outcome::Fail }, detail);
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_report_has_the_contract_s_fields_one_line_details_and_order() -> Res<()> {
        let sink = Sink::default();
        sink.for_server("proxy-http").pass("3.1", "shown");
        sink.for_server("example").fail("2.2", "two\nlines");
        sink.for_server("example").deviation("2.4", "wider");
        assert!(sink.for_server("example").check("1.1", true, "ok"));
        let dir = std::env::temp_dir().join(format!("rmcp-report-test-{}", std::process::id()));
        sink.write(&dir)?;
        let text = std::fs::read_to_string(dir.join("rmcp.json"))?;
        std::fs::remove_dir_all(&dir)?;
        let entries: Vec<serde_json::Value> = serde_json::from_str(&text)?;
        let keys: Vec<_> = entries
            .iter()
            .map(|e| {
                (
                    e.get("server")
                        .and_then(|v| v.as_str())
                        .unwrap_or_default()
                        .to_string(),
                    e.get("step")
                        .and_then(|v| v.as_str())
                        .unwrap_or_default()
                        .to_string(),
                    e.get("result")
                        .and_then(|v| v.as_str())
                        .unwrap_or_default()
                        .to_string(),
                )
            })
            .collect();
        let key = |server: &str, step: &str, result: &str| {
            (server.to_string(), step.to_string(), result.to_string())
        };
        assert_eq!(
            keys,
            vec![
                key("example", "1.1", "PASS"),
                key("example", "2.2", "FAIL"),
                key("example", "2.4", "DEVIATION"),
                key("proxy-http", "3.1", "PASS"),
            ]
        );
        let fail = entries.get(1).ok_or("entry")?;
        assert_eq!(
            fail.get("detail").and_then(|v| v.as_str()),
            Some("two lines")
        );
        assert_eq!(fail.get("client").and_then(|v| v.as_str()), Some("rmcp"));
        assert!(
            fail.get("what")
                .and_then(|v| v.as_str())
                .is_some_and(|w| !w.is_empty())
        );
        Ok(())
    }

    #[test]
    fn a_huge_detail_is_cut_on_a_char_boundary() {
        let sink = Sink::default();
        sink.for_server("example")
            .pass("3.2", "é".repeat(100 * MAX_DETAIL_CHARS));
        sink.for_server("example")
            .pass("3.1", "x".repeat(MAX_DETAIL_CHARS));
        let records = sink.records();
        let cut = records
            .first()
            .map(|r| r.detail.clone())
            .unwrap_or_default();
        assert_eq!(cut.chars().count(), MAX_DETAIL_CHARS + 2);
        assert!(cut.ends_with(" …"));
        let whole = records.get(1).map(|r| r.detail.clone()).unwrap_or_default();
        assert_eq!(whole.len(), MAX_DETAIL_CHARS);
    }
}
