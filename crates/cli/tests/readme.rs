//! What README.md shows of the command's output is the command's output:
//! the sample diagnostic is compared with a real run, so that the README
//! cannot drift from what users see.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{mcp_policy, root};

/// The fenced block of README.md that follows `marker`.
fn block_after<'a>(readme: &'a str, marker: &str) -> &'a str {
    let from = readme.find(marker).expect("the marker is in README.md");
    let open = readme[from..].find("```\n").expect("a block follows") + from + 4;
    let close = readme[open..].find("```").expect("the block ends") + open;
    &readme[open..close]
}

fn trimmed(text: &str) -> String {
    text.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_owned()
}

#[test]
fn the_readmes_diagnostic_is_what_check_prints() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let shown = block_after(&readme, "A broken policy is reported in full");
    let output = mcp_policy(&["check", "tests/diagnostics/unknown_scope.mcppolicy"]);
    assert_eq!(output.status.code(), Some(1));
    let printed = String::from_utf8(output.stderr).unwrap();
    let diagnostic = printed
        .split("\nchecked ")
        .next()
        .expect("the diagnostic comes before the summary");
    assert_eq!(trimmed(shown), trimmed(diagnostic));
}
