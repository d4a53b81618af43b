//! `Evaluator::from_path`, what servers load: bounded, never blocking, and
//! a compiled table checked as its source would be.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use mcp_policy_evaluator::{ArtifactError, Evaluator, LoadError};

fn temp(name: &str, content: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mcp-policy-evaluator-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

const POLICY: &str = "scope mcp:read level read\nscope mcp:admin level admin implies mcp:read\ntool delete_repo requires mcp:admin\n";

#[cfg(unix)]
#[test]
fn a_device_is_refused_unread() {
    let error = Evaluator::from_path("/dev/zero").unwrap_err();
    assert!(matches!(error, LoadError::Read { .. }));
    assert_eq!(
        error.to_string(),
        "cannot read `/dev/zero`: a character device, not a regular file [mcp_policy::input::not_a_file]"
    );
}

#[test]
fn an_oversized_source_is_refused() {
    let mut text = POLICY.to_owned();
    text.push('#');
    text.push_str(&" ".repeat(16 << 20));
    let error = Evaluator::from_path(temp("big.mcppolicy", text.as_bytes())).unwrap_err();
    assert!(
        error
            .to_string()
            .ends_with("larger than 16 MiB, the limit for a policy [mcp_policy::input::too_large]"),
        "{error}"
    );
}

#[test]
fn a_bom_is_skipped_and_bad_bytes_are_located() {
    let mut bytes = b"\xef\xbb\xbf".to_vec();
    bytes.extend(POLICY.as_bytes());
    let path = temp("bom.mcppolicy", &bytes);
    let evaluator = Evaluator::from_path(&path).unwrap();
    assert_eq!(
        evaluator.table().source(),
        Some(path.display().to_string().as_str())
    );
    let error =
        Evaluator::from_path(temp("latin1.mcppolicy", b"scope caf\xe9 level read\n")).unwrap_err();
    assert!(
        error.to_string().ends_with(
            "not UTF-8: invalid byte at line 1, column 10 [mcp_policy::input::not_utf8]"
        ),
        "{error}"
    );
}

#[test]
fn a_table_with_an_implies_cycle_is_refused() {
    let table = Evaluator::from_source(POLICY)
        .unwrap()
        .table()
        .to_artifact();
    // mcp:read (scope 0) implies mcp:admin (scope 1): a read token would be admin.
    let edited = table.replacen(
        "\"name\": \"mcp:read\",\n      \"level\": \"read\"",
        "\"name\": \"mcp:read\",\n      \"level\": \"read\",\n      \"implies\": [1]",
        1,
    );
    assert_ne!(edited, table, "the edit must apply");
    let error = Evaluator::from_path(temp("cycle.json", edited.as_bytes())).unwrap_err();
    let LoadError::Artifact(ArtifactError::Rejected(defects)) = &error else {
        panic!("{error}");
    };
    assert_eq!(defects.len(), 1);
    assert_eq!(
        error.to_string(),
        "invalid decision table: the compiler rejects it:\n  - scopes imply each other in a cycle: mcp:read, mcp:admin [mcp_policy::implies_cycle]"
    );
    // Unedited, it loads.
    assert!(Evaluator::from_path(temp("good.json", table.as_bytes())).is_ok());
}

#[test]
fn a_table_of_many_defects_is_refused_with_the_first_twenty() {
    let table = Evaluator::from_source(POLICY)
        .unwrap()
        .table()
        .to_artifact();
    // The policy has one rule, the last field: repeat it 1001 times.
    let start = table.find("\"rules\": [").unwrap() + "\"rules\": [".len();
    let end = table.rfind(']').unwrap();
    let rule = table[start..end].trim();
    let edited = format!(
        "{}{}{}",
        &table[..start],
        vec![rule; 1001].join(","),
        &table[end..]
    );
    let message = Evaluator::from_artifact(&edited).unwrap_err().to_string();
    assert_eq!(message.lines().count(), 1 + 20 + 1, "{message}");
    assert!(message.ends_with("\n  - and 980 more"), "{message}");
}
