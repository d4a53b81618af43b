//! The rules every reader's code enum keeps, checked in one place: each
//! reader's tests call [`code_table_problems`] on its own enum and its own
//! documentation, and expect nothing back.

use std::collections::HashSet;

use crate::DiagnosticCode;

/// What is wrong with a reader's codes: a code not under `prefix`, a code
/// given twice, a summary that ends with a period (summaries are
/// fragments, as messages are), and a code that `doc` has no table row for
/// (``| `mcp_policy::code` |``). Empty when all is well.
pub fn code_table_problems<C: DiagnosticCode>(
    codes: &[C],
    summary: impl Fn(C) -> &'static str,
    prefix: &str,
    doc: &str,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    for &code in codes {
        let name = code.as_str();
        if !name.starts_with(prefix) {
            problems.push(format!("`{name}` is not under `{prefix}`"));
        }
        if !seen.insert(name) {
            problems.push(format!("`{name}` is given twice"));
        }
        if summary(code).ends_with('.') {
            problems.push(format!("the summary of `{name}` ends with a period"));
        }
        if !doc.contains(&format!("| `{name}` |")) {
            problems.push(format!("the documentation does not list `{name}`"));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Test {
        Good,
        Stray,
        Again,
    }

    impl DiagnosticCode for Test {
        fn as_str(self) -> &'static str {
            match self {
                Test::Good | Test::Again => "test::good",
                Test::Stray => "other::stray",
            }
        }
    }

    fn summary(code: Test) -> &'static str {
        match code {
            Test::Stray => "a sentence.",
            Test::Good | Test::Again => "a fragment",
        }
    }

    #[test]
    fn a_well_kept_table_has_no_problems() {
        let doc = "| `test::good` | a fragment |";
        assert_eq!(
            code_table_problems(&[Test::Good], summary, "test::", doc),
            Vec::<String>::new()
        );
    }

    #[test]
    fn each_broken_rule_is_named() {
        let doc = "| `test::good` | a fragment |";
        let problems = code_table_problems(
            &[Test::Good, Test::Stray, Test::Again],
            summary,
            "test::",
            doc,
        );
        assert_eq!(
            problems,
            [
                "`other::stray` is not under `test::`",
                "the summary of `other::stray` ends with a period",
                "the documentation does not list `other::stray`",
                "`test::good` is given twice",
            ]
        );
    }
}
