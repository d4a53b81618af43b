//! Every lint fires on its documented bad example and stays quiet on the
//! good one (snapshots of both), docs/lints.md matches the catalogue, and
//! levels and suppressions behave.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use mcp_policy_lang::lint::{Lint, LintConfig, LintLevel, ToolList, catalogue_markdown};
use mcp_policy_lang::{Code, Diagnostic, Severity, check_source};
use miette::{GraphicalReportHandler, GraphicalTheme};

fn render(file: &str, source: &str, diagnostics: &[Diagnostic]) -> String {
    let handler =
        GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor()).with_width(100);
    let mut out = String::new();
    for diagnostic in diagnostics {
        handler
            .render_report(&mut out, &diagnostic.report(file, source))
            .unwrap();
        out.push('\n');
    }
    out
}

fn lint(source: &str, tools: Option<&str>, config: &LintConfig) -> Vec<Diagnostic> {
    let tools = tools.map(|json| ToolList::from_json(json).unwrap());
    let compilation = check_source(source, config, tools.as_ref());
    assert!(
        compilation.table.is_some(),
        "example does not compile:\n{source}\n{:#?}",
        compilation.diagnostics
    );
    compilation.diagnostics
}

fn fired(diagnostics: &[Diagnostic], lint: Lint) -> bool {
    diagnostics.iter().any(|d| d.code == Code::Lint(lint))
}

#[test]
fn every_lint_fires_on_its_bad_example_and_not_on_its_good_one() {
    for lint_id in Lint::ALL {
        let doc = lint_id.doc();
        let config = LintConfig::default();
        let bad = lint(doc.bad, doc.tools, &config);
        assert!(
            fired(&bad, lint_id),
            "{lint_id} does not fire on its bad example: {bad:#?}"
        );
        let good = lint(doc.good, doc.tools, &config);
        assert!(
            good.is_empty(),
            "{lint_id}'s good example is not clean: {good:#?}"
        );
        insta::assert_snapshot!(
            format!("{}_fires", lint_id.name()),
            render(&format!("{}-bad.mcppolicy", lint_id.name()), doc.bad, &bad)
        );
        insta::assert_snapshot!(
            format!("{}_quiet", lint_id.name()),
            render(
                &format!("{}-good.mcppolicy", lint_id.name()),
                doc.good,
                &good
            )
        );
    }
}

#[test]
fn severity_follows_the_default_level() {
    for lint_id in Lint::ALL {
        let doc = lint_id.doc();
        let bad = lint(doc.bad, doc.tools, &LintConfig::default());
        let diagnostic = bad.iter().find(|d| d.code == Code::Lint(lint_id)).unwrap();
        let expected = match lint_id.default_level() {
            LintLevel::Deny => Severity::Error,
            LintLevel::Warn => Severity::Warning,
            LintLevel::Allow => unreachable!("no lint is off by default"),
        };
        assert_eq!(diagnostic.severity, expected, "{lint_id}");
    }
}

#[test]
fn levels_can_be_changed() {
    let doc = Lint::DefaultAllow.doc();
    let mut config = LintConfig::default();
    config.set(Lint::DefaultAllow, LintLevel::Allow);
    assert!(!fired(&lint(doc.bad, None, &config), Lint::DefaultAllow));
    config.set(Lint::DefaultAllow, LintLevel::Deny);
    let denied = lint(doc.bad, None, &config);
    assert_eq!(denied[0].severity, Severity::Error);
    let mut config = LintConfig::default();
    config.deny_warnings(true);
    assert_eq!(lint(doc.bad, None, &config)[0].severity, Severity::Error);
    // An explicit `allow` stays off under `--deny warnings`.
    config.set(Lint::DefaultAllow, LintLevel::Allow);
    assert!(lint(doc.bad, None, &config).is_empty());
}

#[test]
fn a_suppression_silences_one_lint_on_the_next_statement_only() {
    let source = "\
scope mcp:read  level read
scope mcp:admin level admin implies mcp:read
tool \"admin_*\" requires mcp:admin
# mcp-policy: allow(weaker_override) listing admins is read-only
tool admin_list requires mcp:read
tool admin_reset requires mcp:read
";
    let diagnostics = lint(source, None, &LintConfig::default());
    let weaker: Vec<_> = diagnostics
        .iter()
        .filter(|d| d.code == Code::Lint(Lint::WeakerOverride))
        .collect();
    assert_eq!(weaker.len(), 1, "{diagnostics:#?}");
    assert!(weaker[0].message.contains("admin_reset"));
}

#[test]
fn a_suppression_without_reason_or_with_a_typo_silences_nothing() {
    for directive in [
        "# mcp-policy: allow(weaker_override)",
        "# mcp-policy: allow(weaker_overide) typo",
        "# mcp-policy: allow weaker_override",
    ] {
        let source = format!(
            "scope mcp:read level read\nscope mcp:admin level admin implies mcp:read\ntool \"admin_*\" requires mcp:admin\n{directive}\ntool admin_list requires mcp:read\n"
        );
        let diagnostics = lint(&source, None, &LintConfig::default());
        assert!(fired(&diagnostics, Lint::WeakerOverride), "{directive}");
        assert!(fired(&diagnostics, Lint::InvalidSuppression), "{directive}");
    }
}

#[test]
fn lints_do_not_run_on_a_policy_with_errors() {
    let compilation = check_source(
        "default allow\ntool x requires nope\n",
        &LintConfig::default(),
        None,
    );
    assert!(
        compilation
            .diagnostics
            .iter()
            .all(|d| !matches!(d.code, Code::Lint(_)))
    );
}

#[test]
fn the_examples_are_lint_clean() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "mcppolicy") {
            let source = std::fs::read_to_string(&path).unwrap();
            let diagnostics = lint(&source, None, &LintConfig::default());
            assert!(
                diagnostics.is_empty(),
                "{}:\n{}",
                path.display(),
                render(&path.display().to_string(), &source, &diagnostics)
            );
            checked += 1;
        }
    }
    assert!(checked >= 3);
}

#[test]
fn tool_lists_are_read_from_results_and_responses() {
    let result =
        ToolList::from_json(r#"{"tools":[{"name":"a","annotations":{"readOnlyHint":true}}]}"#)
            .unwrap();
    let response = ToolList::from_json(r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a","annotations":{"readOnlyHint":true}}]}}"#).unwrap();
    assert_eq!(result, response);
    assert_eq!(result.tools[0].read_only_hint, Some(true));
    assert_eq!(result.tools[0].destructive_hint, None);
    assert!(ToolList::from_json(r#"{"tool":[]}"#).is_err());
    assert!(ToolList::from_json("not json").is_err());
}

#[test]
fn lint_names_and_codes_are_unique() {
    let mut names = std::collections::HashSet::new();
    let mut codes = std::collections::HashSet::new();
    for lint_id in Lint::ALL {
        assert!(names.insert(lint_id.name()));
        assert!(codes.insert(lint_id.code()));
        assert_eq!(
            lint_id.code(),
            format!("mcp_policy::lint::{}", lint_id.name())
        );
        assert_eq!(Lint::from_name(lint_id.name()), Some(lint_id));
    }
}

/// docs/lints.md is generated from the catalogue; regenerate with
/// `UPDATE_DOCS=1 cargo test -p mcp-policy-lang --test lints`.
#[test]
fn docs_match_the_catalogue() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/lints.md");
    let expected = catalogue_markdown();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &expected).unwrap();
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        actual == expected,
        "docs/lints.md is out of date: run `UPDATE_DOCS=1 cargo test -p mcp-policy-lang --test lints`"
    );
}

fn fired_on(source: &str, lint_id: Lint) -> Vec<Diagnostic> {
    lint(source, None, &LintConfig::default())
        .into_iter()
        .filter(|d| d.code == Code::Lint(lint_id))
        .collect()
}

#[test]
fn a_policy_that_allows_nothing_is_reported() {
    for (source, message) in [
        (
            "",
            "the policy has no rules: it denies every call to every token",
        ),
        (
            "policy \"p\"\n",
            "the policy has no rules: it denies every call to every token",
        ),
        (
            "default deny\ndeny tool \"debug_*\"\n",
            "the policy's 1 rule only deny: it denies every call to every token",
        ),
    ] {
        let found = fired_on(source, Lint::EmptyPolicy);
        assert_eq!(found.len(), 1, "{source:?}: {found:#?}");
        assert_eq!(found[0].message, message);
        assert_eq!(found[0].severity, Severity::Warning);
    }
    // Under `default allow` the policy allows everything: `default_allow`
    // speaks, not this lint.
    let diagnostics = lint("default allow\n", None, &LintConfig::default());
    assert!(!fired(&diagnostics, Lint::EmptyPolicy), "{diagnostics:#?}");
    assert!(fired(&diagnostics, Lint::DefaultAllow));
    // One allowing rule is enough.
    assert_eq!(
        fired_on(
            "scope a level read\ntool x requires a\ndeny tool \"y*\"\n",
            Lint::EmptyPolicy
        ),
        []
    );
}

#[test]
fn an_empty_file_renders_its_warning() {
    let diagnostics = lint("", None, &LintConfig::default());
    let text = render("empty.mcppolicy", "", &diagnostics);
    assert!(text.contains("empty_policy"), "{text}");
}

#[test]
fn destructive_means_admin_by_name_as_by_annotation() {
    // A write scope is not enough for a tool named to destroy...
    let source = "scope pg:write level write\ntool drop_table requires pg:write\n";
    let found = fired_on(source, Lint::DestructiveReachable);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(
        found[0].message,
        "destructive-looking tool `drop_table` can be called by a token with `pg:write` (write)"
    );
    // ...as it is not for one the server marks destructive.
    let tools = r#"{"tools":[{"name":"drop_table","annotations":{"destructiveHint":true}}]}"#;
    let with_tools = lint(source, Some(tools), &LintConfig::default());
    assert!(fired(&with_tools, Lint::DestructiveHintReachable));
    // An admin scope satisfies both.
    let admin = "scope pg:admin level admin\ntool drop_table requires pg:admin\n";
    assert_eq!(lint(admin, Some(tools), &LintConfig::default()), []);
    // An oauth scope is no admin either.
    let oauth = "scope pg:admin level admin\nscope offline_access level oauth\ntool drop_table requires any_of(pg:admin, offline_access)\n";
    assert!(!fired_on(oauth, Lint::DestructiveReachable).is_empty());
}

#[test]
fn each_destructive_verb_needs_admin() {
    for verb in [
        "delete", "drop", "purge", "destroy", "remove", "rotate", "reset", "revoke", "wipe",
        "truncate", "erase", "execute", "archive", "kick", "ban",
    ] {
        let source = format!("scope w level write\ntool {verb}_thing requires w\n");
        assert_eq!(
            fired_on(&source, Lint::DestructiveReachable).len(),
            1,
            "{verb}"
        );
        let camel = format!(
            "scope w level write\ntool thing{}{} requires w\n",
            verb[..1].to_uppercase(),
            &verb[1..]
        );
        assert_eq!(
            fired_on(&camel, Lint::DestructiveReachable).len(),
            1,
            "{camel}"
        );
    }
    // Whole words only.
    for name in ["banner", "kickoff_meeting", "executed_list"] {
        let source = format!("scope w level write\ntool {name} requires w\n");
        assert_eq!(fired_on(&source, Lint::DestructiveReachable), [], "{name}");
    }
}

#[test]
fn a_look_alike_letter_does_not_hide_a_destructive_name() {
    let source = "scope r level read\ntool \"d\u{0435}lete_repo\" requires r\n";
    assert_eq!(fired_on(source, Lint::DestructiveReachable).len(), 1);
}

#[test]
fn a_tool_list_of_the_wrong_shape_says_what_and_where() {
    let cases = [
        (
            "{\"tool\": []}",
            "line 1, column 1: no `tools` array and no `result`",
        ),
        ("  [1, 2]", "line 1, column 3: an array, not an object"),
        (
            "{\n  \"tools\": [\n    {\"name\": \"a\"},\n    {\"title\": \"b\"}\n  ]\n}",
            "line 4, column 18: missing field `name`",
        ),
        (
            "{\"tools\": [{\"name\": 7}]}",
            "line 1, column 21: invalid type: integer `7`, expected a string",
        ),
        (
            "{\"result\": {\"tools\": {}}}",
            "line 1, column 21: invalid type: map, expected a sequence",
        ),
        (
            "{\"tools\": [], \"result\": {\"tools\": []}}",
            "line 1, column 1: both `tools` and `result`: which is the list is unclear",
        ),
        ("not json", "line 1, column 1: `n`, not an object"),
        ("{\"tools\": [}", "line 1, column 12: expected value"),
        ("", "line 1, column 1: the file is empty"),
        ("\n \n", "line 3, column 1: the file is empty"),
    ];
    for (json, expected) in cases {
        let error = ToolList::from_json(json).unwrap_err();
        let text = error.to_string();
        assert!(text.starts_with(expected), "{json:?}: {text}");
        assert!(
            text.ends_with("expected a `tools/list` result, `{\"tools\": [{\"name\": \"...\", \"annotations\": {...}}]}`, or a JSON-RPC response holding one as `result`"),
            "{text}"
        );
        assert!(
            !text.contains("Wire") && !text.contains("untagged"),
            "{text}"
        );
    }
}

#[test]
fn a_lint_is_found_by_its_full_code() {
    for lint_id in Lint::ALL {
        assert_eq!(Lint::from_code(lint_id.code()), Some(lint_id));
        assert_eq!(Lint::from_code(lint_id.name()), None);
    }
}
