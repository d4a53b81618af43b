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

/// `fmt` moves a comment from inside a statement to the line above it, so
/// a directive inside a statement silences as one above it does: the
/// formatter never changes what a policy silences.
#[test]
fn a_suppression_inside_a_statement_silences_as_one_above_it() {
    let inside = "\
scope s level read
tool \"x*\" requires all_of(s,
  # mcp-policy: allow(redundant_requirement) kept for the diff
  s)
";
    let redundant = |source: &str| {
        lint(source, None, &LintConfig::default())
            .into_iter()
            .filter(|d| d.code == Code::Lint(Lint::RedundantRequirement))
            .count()
    };
    let without = inside.replace("mcp-policy: allow", "nothing to");
    assert_eq!(redundant(&without), 1);
    assert_eq!(redundant(inside), 0);
    let formatted = mcp_policy_lang::format::format_source(inside).unwrap();
    assert_eq!(redundant(&formatted), 0, "{formatted}");
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
            "the policy's 1 rule only denies: it denies every call to every token",
        ),
        (
            "deny tool a\ndeny tool b\n",
            "the policy's 2 rules only deny: it denies every call to every token",
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

/// The lints that read conditions (the last six of the catalogue).
const CONDITION_LINTS: [Lint; 6] = [
    Lint::UnknownArgument,
    Lint::ArgumentTypeMismatch,
    Lint::ConditionOnPartialGlob,
    Lint::MatchesOnPath,
    Lint::NeverTrueCondition,
    Lint::NegatedDenyCondition,
];

fn tools_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/tools")
        .join(name);
    std::fs::read_to_string(&path).unwrap()
}

/// The findings of the condition lints, with `tools` as the server's list.
fn condition_findings(source: &str, tools: Option<&str>) -> Vec<Diagnostic> {
    lint(source, tools, &LintConfig::default())
        .into_iter()
        .filter(|d| CONDITION_LINTS.iter().any(|l| d.code == Code::Lint(*l)))
        .collect()
}

/// `code message` of each finding, for asserting several at once.
fn summaries(diagnostics: &[Diagnostic]) -> Vec<String> {
    diagnostics
        .iter()
        .map(|d| format!("{} {}", d.code, d.message))
        .collect()
}

/// A tool list of one tool, from its `inputSchema`.
fn one_tool(name: &str, schema: &str) -> String {
    format!(r#"{{"tools":[{{"name":"{name}","inputSchema":{schema}}}]}}"#)
}

#[test]
fn the_examples_are_quiet_against_their_servers_tool_lists() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    for name in ["filesystem", "database", "github"] {
        let source = std::fs::read_to_string(dir.join(format!("{name}.mcppolicy"))).unwrap();
        let tools = tools_file(&format!("{name}.json"));
        let found = condition_findings(&source, Some(&tools));
        assert!(
            found.is_empty(),
            "{name}:\n{}",
            render(name, &source, &found)
        );
    }
    // Not quiet for want of looking: the filesystem example's conditions
    // are read against the schemas, and one misspelt argument is found.
    let source = std::fs::read_to_string(dir.join("filesystem.mcppolicy")).unwrap();
    assert!(source.contains(
        "tool read_file                  requires any_of(fs:read, all_of(fs:project, arg.path under"
    ));
    let misspelt = source.replacen(
        "tool read_file                  requires any_of(fs:read, all_of(fs:project, arg.path under",
        "tool read_file                  requires any_of(fs:read, all_of(fs:project, arg.pth under",
        1,
    );
    let found = condition_findings(&misspelt, Some(&tools_file("filesystem.json")));
    assert_eq!(
        summaries(&found),
        ["mcp_policy::lint::unknown_argument tool `read_file` has no argument `pth`"]
    );
    assert_eq!(found[0].help.as_deref(), Some("did you mean `path`?"));
}

#[test]
fn an_undeclared_argument_is_found_at_any_depth() {
    let tools = one_tool(
        "search",
        r##"{"type":"object","properties":{"query":{"type":"string"},"filter":{"$ref":"#/$defs/Filter"}},"$defs":{"Filter":{"type":"object","properties":{"owner":{"type":"string"}}}}}"##,
    );
    let found = condition_findings(
        "scope r level read\ntool search requires all_of(r, arg.filter.ownr == \"me\")\n",
        Some(&tools),
    );
    assert_eq!(
        summaries(&found),
        ["mcp_policy::lint::unknown_argument tool `search` declares no key `ownr` in `arg.filter`"]
    );
    assert_eq!(found[0].help.as_deref(), Some("did you mean `owner`?"));
    // Declared at every step: quiet.
    assert_eq!(
        condition_findings(
            "scope r level read\ntool search requires all_of(r, arg.filter.owner == \"me\")\n",
            Some(&tools)
        ),
        []
    );
    // Nothing like it declared: the help lists what is.
    let found = condition_findings(
        "scope r level read\ntool search requires all_of(r, arg.zzzzzz == \"me\")\n",
        Some(&tools),
    );
    assert_eq!(
        found[0].help.as_deref(),
        Some("the inputSchema declares `filter` and `query`")
    );
    // In a deny, on an exact tool: the deny never fires on it.
    let found = condition_findings(
        "scope r level read\ntool search requires r\ndeny tool search when arg.qeury == \"x\"\n",
        Some(&tools),
    );
    assert_eq!(
        summaries(&found),
        ["mcp_policy::lint::unknown_argument tool `search` has no argument `qeury`"]
    );
}

#[test]
fn a_pattern_whose_tools_all_lack_the_argument_is_an_unknown_argument() {
    let tools = r#"{"tools":[
        {"name":"repo_get","inputSchema":{"type":"object","properties":{"repo":{"type":"string"}}}},
        {"name":"repo_delete_branch","inputSchema":{"type":"object","properties":{"repo":{"type":"string"}}}}]}"#;
    let found = condition_findings(
        "scope a level admin\ntool \"repo_*\" requires all_of(a, arg.rpo == \"acme/x\")\n",
        Some(tools),
    );
    assert_eq!(
        summaries(&found),
        [
            "mcp_policy::lint::unknown_argument no tool that pattern `repo_*` covers has an argument `rpo`"
        ]
    );
    assert_eq!(found[0].help.as_deref(), Some("did you mean `repo`?"));
}

#[test]
fn schemas_that_do_not_list_every_argument_are_not_judged() {
    let policy = "scope r level read\ntool t requires all_of(r, arg.anything == \"x\", claim.tenant == \"acme\")\n";
    for schema in [
        r#"{"type":"object","properties":{"a":{}},"additionalProperties":true}"#,
        r#"{"type":"object","properties":{"a":{}},"additionalProperties":{"type":"string"}}"#,
        r#"{"type":"object","properties":{"a":{}},"patternProperties":{"^x":{}}}"#,
        r#"{"type":"object","properties":{"a":{}},"anyOf":[{"properties":{"anything":{}}}]}"#,
        r#"{"type":"object"}"#,
        r#"{"$ref":"https://example.com/tool.json"}"#,
        r#"true"#,
    ] {
        let found = condition_findings(policy, Some(&one_tool("t", schema)));
        assert_eq!(found, [], "{schema}");
    }
    // A tool without an `inputSchema` says nothing either.
    let found = condition_findings(policy, Some(r#"{"tools":[{"name":"t"}]}"#));
    assert_eq!(found, []);
}

#[test]
fn malformed_schemas_are_skipped_without_panicking() {
    let policy = "scope r level read\ntool t requires all_of(r, arg.a.b == \"x\", arg.n < 0, arg.s in [1, \"x\"], arg.l contains 1, arg.m matches \"q*\")\n";
    for schema in [
        r#""object""#,
        "5",
        "null",
        "[]",
        r#"{"properties":5}"#,
        r#"{"properties":{"a":5,"n":[],"s":null,"l":"x","m":true}}"#,
        r#"{"properties":{"a":{"type":7},"n":{"type":["integer",3]},"s":{"enum":5},"l":{"type":"array","items":7},"m":{"const":null,"minimum":"x"}}}"#,
        r##"{"properties":{"a":{"$ref":"#/properties/a"}}}"##,
        r##"{"$ref":"#","properties":{}}"##,
        r#"{"properties":{"n":{"minimum":1e400}}}"#,
    ] {
        let tools = one_tool("t", schema);
        // Some of these are not JSON a server would send; reading them
        // must not fail, and linting them must not panic.
        let Ok(list) = ToolList::from_json(&tools) else {
            continue;
        };
        let compilation = check_source(policy, &LintConfig::default(), Some(&list));
        assert!(compilation.table.is_some(), "{schema}");
    }
}

#[test]
fn comparisons_that_cannot_fit_the_declared_type() {
    let tools = one_tool(
        "t",
        r#"{"type":"object","properties":{
            "limit":{"type":"integer"},
            "name":{"type":"string"},
            "base":{"type":["string","null"]},
            "tags":{"type":"array","items":{"type":"string"}},
            "flag":{"type":"boolean"},
            "owner":{"type":"object","properties":{"login":{"type":"string"}}},
            "free":{}
        }}"#,
    );
    let cases: [(&str, Option<&str>); 12] = [
        (
            "arg.limit == \"10\"",
            Some("write the number without quotes: `10`"),
        ),
        (
            "arg.name < 5",
            Some("test a string with `==` or `in [...]`, or `matches`"),
        ),
        (
            "arg.tags contains 5",
            Some("look for a string, as the inputSchema declares the items"),
        ),
        (
            "arg.limit matches \"1*\"",
            Some("test an integer with `==` or `in [...]`"),
        ),
        (
            "arg.limit.max == 1",
            Some("write the condition on `arg.limit` itself"),
        ),
        ("arg.owner == claim.sub", None),
        (
            "arg.flag == \"true\"",
            Some("write the boolean without quotes: `true`"),
        ),
        (
            "arg.name == 7",
            Some("quote it, as the argument is a string: `\"7\"`"),
        ),
        (
            "arg.name contains \"x\"",
            Some(
                "`contains` tests an element of an array: to find text in a string, write `matches \"*TEXT*\"`",
            ),
        ),
        ("arg.limit in [\"a\", \"b\"]", None),
        (
            "arg.limit != \"1\"",
            Some("write the number without quotes: `1`"),
        ),
        (
            "arg.flag under \"/x\"",
            Some("test a boolean with `==` or `in [...]`"),
        ),
    ];
    for (atom, help) in cases {
        let source = format!("scope r level read\ntool t requires all_of(r, {atom})\n");
        let found = condition_findings(&source, Some(&tools));
        assert_eq!(found.len(), 1, "{atom}: {found:#?}");
        assert_eq!(
            found[0].code,
            Code::Lint(Lint::ArgumentTypeMismatch),
            "{atom}"
        );
        if let Some(help) = help {
            assert_eq!(found[0].help.as_deref(), Some(help), "{atom}");
        }
    }
    for atom in [
        "arg.limit == 10",
        "arg.limit <= 10",
        "arg.base matches \"main*\"",
        "arg.base == \"main\"",
        "arg.tags contains \"bug\"",
        "arg.free == 1",
        "arg.free matches \"x*\"",
        "arg.name == claim.sub",
        "arg.owner.login == claim.sub",
        "arg.limit in [1, \"a\"]",
        "arg.flag == true",
    ] {
        let source = format!("scope r level read\ntool t requires all_of(r, {atom})\n");
        assert_eq!(condition_findings(&source, Some(&tools)), [], "{atom}");
    }
}

#[test]
fn conditions_the_schema_makes_impossible() {
    let tools = one_tool(
        "t",
        r#"{"type":"object","properties":{
            "limit":{"type":"integer","minimum":0,"maximum":100},
            "page":{"type":"integer","exclusiveMaximum":100},
            "ratio":{"type":"number","minimum":0,"exclusiveMinimum":true},
            "state":{"type":"string","enum":["open","closed"]},
            "mode":{"const":"fast"},
            "count":{"type":"integer"}
        }}"#,
    );
    let fires = [
        ("arg.limit < 0", "the inputSchema says `minimum: 0`"),
        ("arg.limit > 100", "the inputSchema says `maximum: 100`"),
        ("arg.limit == 101", "the inputSchema says `maximum: 100`"),
        (
            "arg.page >= 100",
            "the inputSchema says `exclusiveMaximum: 100`",
        ),
        (
            "arg.ratio <= 0",
            "the inputSchema says `minimum: 0, exclusiveMinimum: true`",
        ),
        ("arg.count == 1.5", "`count` is declared as integer"),
        (
            "arg.limit in [-1, 200]",
            "`-1`: the inputSchema says `minimum: 0`; `200`: the inputSchema says `maximum: 100`",
        ),
        (
            "arg.state in [\"opened\", \"shut\"]",
            "the inputSchema allows `state` only `\"open\"` and `\"closed\"`",
        ),
        (
            "arg.mode matches \"slow*\"",
            "the inputSchema allows `mode` only `\"fast\"`",
        ),
        (
            "arg.mode != \"fast\"",
            "the inputSchema allows `mode` only `\"fast\"`",
        ),
    ];
    for (atom, why) in fires {
        let source = format!("scope r level read\ntool t requires all_of(r, {atom})\n");
        let found = condition_findings(&source, Some(&tools));
        assert_eq!(
            summaries(&found),
            [format!(
                "mcp_policy::lint::never_true_condition `{atom}` is never true for any value tool `t` accepts"
            )],
            "{atom}"
        );
        assert_eq!(found[0].labels[0].message, why, "{atom}");
    }
    for atom in [
        "arg.limit <= 0",
        "arg.limit < 1",
        "arg.limit >= 100",
        "arg.limit > 99",
        "arg.limit == 100",
        "arg.page > 98",
        "arg.ratio < 0.5",
        "arg.count == 2.0",
        "arg.limit in [-1, 5]",
        "arg.state in [\"opened\", \"open\"]",
        "arg.state matches \"clo*\"",
        "arg.mode == \"fast\"",
        "arg.state == claim.state",
    ] {
        let source = format!("scope r level read\ntool t requires all_of(r, {atom})\n");
        assert_eq!(condition_findings(&source, Some(&tools)), [], "{atom}");
    }
}

#[test]
fn a_pattern_rule_names_the_tools_without_the_argument() {
    let tools = r#"{"tools":[
        {"name":"repo_get","inputSchema":{"type":"object","properties":{"repo":{"type":"string"}}}},
        {"name":"repo_list","inputSchema":{"type":"object","properties":{"org":{"type":"string"}}}},
        {"name":"repo_stats","inputSchema":{"type":"object","properties":{}}},
        {"name":"repo_search","inputSchema":{"type":"object","properties":{"q":{"type":"string"}},"additionalProperties":true}},
        {"name":"repo_get_readme"}]}"#;
    let source = "scope r level read\ntool \"repo_*\" requires any_of(all_of(r, arg.repo matches \"acme/*\"), claim.role == \"admin\")\n";
    let found = condition_findings(source, Some(tools));
    assert_eq!(
        summaries(&found),
        [
            "mcp_policy::lint::condition_on_partial_glob `arg.repo matches \"acme/*\"` is always false for tools `repo_list` and `repo_stats` that pattern `repo_*` covers: they have no argument `repo`"
        ]
    );
    // Alternatives on different arguments strand no tool that has one.
    let fs = tools_file("filesystem.json");
    let source = "scope fs:project level resource\ntool \"*\" requires all_of(fs:project, any_of(arg.path under \"/w\", arg.source under \"/w\"))\n";
    let found = condition_findings(source, Some(&fs));
    assert_eq!(found, []);
    // A scope-only alternative for other tokens does not help the tokens
    // the conditional clause was written for.
    let source = "scope r level read\nscope a level admin\ntool \"repo_*\" requires any_of(a, all_of(r, arg.repo matches \"acme/*\"))\n";
    let found = condition_findings(source, Some(tools));
    assert_eq!(found.len(), 1, "{found:#?}");
    // An alternative the same tokens meet does.
    let source = "scope r level read\ntool \"repo_*\" requires any_of(r, all_of(r, arg.repo matches \"acme/*\"))\n";
    let found = condition_findings(source, Some(tools));
    assert_eq!(found, []);
    // A nested key is named with its path.
    let nested = r#"{"tools":[
        {"name":"issue_list","inputSchema":{"type":"object","properties":{"filter":{"type":"object","properties":{"owner":{"type":"string"}}}}}},
        {"name":"issue_search","inputSchema":{"type":"object","properties":{"filter":{"type":"object","properties":{"text":{"type":"string"}}}}}}]}"#;
    let found = condition_findings(
        "scope r level read\ntool \"issue_*\" requires all_of(r, arg.filter.owner == claim.sub)\n",
        Some(nested),
    );
    assert_eq!(
        summaries(&found),
        [
            "mcp_policy::lint::condition_on_partial_glob `arg.filter.owner == claim.sub` is always false for tool `issue_search` that pattern `issue_*` covers: it does not declare `arg.filter.owner`"
        ]
    );
    // A tool with a rule of its own is not the pattern's.
    let source = "scope r level read\ntool \"repo_*\" requires all_of(r, arg.repo matches \"acme/*\")\ntool repo_list requires all_of(r, arg.org == \"acme\")\ntool repo_stats requires r\n";
    assert_eq!(condition_findings(source, Some(tools)), []);
}

#[test]
fn a_deny_pattern_names_the_tools_its_condition_cannot_reach() {
    let tools = tools_file("filesystem.json");
    let base = "scope fs:read level read\nscope fs:admin level admin implies fs:read\ntool \"*\" requires fs:admin\n";
    let source = format!("{base}deny tool \"*\" when arg.path under \"/secrets\"\n");
    let found = condition_findings(&source, Some(&tools));
    assert_eq!(
        summaries(&found),
        [
            "mcp_policy::lint::condition_on_partial_glob this deny never fires for tool `move_file` that pattern `*` covers: it has none of the arguments its condition reads"
        ]
    );
    insta::assert_snapshot!(
        "condition_on_partial_glob_deny",
        render("deny.mcppolicy", &source, &found)
    );
    // Reading `source` as well reaches every tool.
    let source = format!(
        "{base}deny tool \"*\" when any_of(arg.path under \"/secrets\", arg.source under \"/secrets\")\n"
    );
    assert_eq!(condition_findings(&source, Some(&tools)), []);
    // A tool an unconditional deny takes is not counted.
    let source =
        format!("{base}deny tool move_file\ndeny tool \"*\" when arg.path under \"/secrets\"\n");
    assert_eq!(condition_findings(&source, Some(&tools)), []);
}

#[test]
fn matches_on_a_path_is_reported_without_a_tool_list() {
    let fires = [
        "tool read_file requires all_of(r, arg.path matches \"/workspace/*\")",
        "tool read_file requires all_of(r, arg.options.sourceDir matches \"src/*.rs\")",
        "tool read_file requires r\ndeny tool read_file when arg.path matches \"*/.env\"",
        "tool read_file requires r\ndeny tool read_file when arg.file_name matches \"/etc/shadow\"",
    ];
    for rules in fires {
        let source = format!("scope r level read\n{rules}\n");
        let found = fired_on(&source, Lint::MatchesOnPath);
        assert_eq!(found.len(), 1, "{rules}");
    }
    let quiet = [
        "tool read_file requires all_of(r, arg.path matches \"*.md\")",
        "tool read_file requires all_of(r, arg.path under \"/workspace\")",
        "tool read_file requires all_of(r, arg.repo matches \"acme/*\")",
        "tool read_file requires all_of(r, claim.path matches \"/x/*\")",
        "tool read_file requires all_of(r, arg.profile matches \"a/*\")",
        "tool read_file requires r\ndeny tool read_file when arg.path matches \"*\"",
        "tool read_file requires r\ndeny tool read_file when arg.path matches \"*..*\"",
        "tool read_file requires r\ndeny tool read_file when arg.path matches \"*.env*\"",
    ];
    for rules in quiet {
        let source = format!("scope r level read\n{rules}\n");
        assert_eq!(fired_on(&source, Lint::MatchesOnPath), [], "{rules}");
    }
    // A relative glob is not told to use `under`, which takes absolute
    // paths only.
    let found = fired_on(
        "scope r level read\ntool get_file requires all_of(r, arg.path matches \"src/*\")\n",
        Lint::MatchesOnPath,
    );
    assert_eq!(
        found[0].help.as_deref(),
        Some(
            "`under` takes absolute paths only; for relative ones, refuse `..` beside the glob: `deny tool NAME when arg.path matches \"*..*\"`"
        )
    );
    // A deny says why a glob cannot deny reliably.
    let found = fired_on(
        "scope r level read\ntool read_file requires r\ndeny tool read_file when arg.path matches \"*/.env\"\n",
        Lint::MatchesOnPath,
    );
    insta::assert_snapshot!(
        "matches_on_path_deny",
        render(
            "deny.mcppolicy",
            "scope r level read\ntool read_file requires r\ndeny tool read_file when arg.path matches \"*/.env\"\n",
            &found
        )
    );
}

#[test]
fn not_equal_is_reported_in_a_deny_only() {
    let found = fired_on(
        "scope r level read\ntool update_record requires r\ndeny tool update_record when any_of(arg.state == \"locked\", arg.owner != claim.sub)\n",
        Lint::NegatedDenyCondition,
    );
    assert_eq!(
        summaries(&found),
        [
            "mcp_policy::lint::negated_deny_condition `arg.owner != claim.sub` is false when `arg.owner` or `claim.sub` is missing, or their types differ, so this deny lets such requests through"
        ]
    );
    assert_eq!(
        found[0].help.as_deref(),
        Some(
            "require what a request must have on the allow rules instead: `requires all_of(..., arg.owner == claim.sub)`, which fails closed"
        )
    );
    // In an allow rule `!=` fails closed: nothing to say.
    assert_eq!(
        fired_on(
            "scope r level read\ntool update_record requires all_of(r, arg.state != \"locked\")\n",
            Lint::NegatedDenyCondition
        ),
        []
    );
}

#[test]
fn condition_lints_can_be_suppressed_with_a_reason() {
    let source = "scope r level read\ntool read_file requires r\n# mcp-policy: allow(matches_on_path) defence in depth; the allow side uses `under`\ndeny tool read_file when arg.path matches \"*/.env\"\n";
    assert_eq!(fired_on(source, Lint::MatchesOnPath), []);
}

mod arbitrary_schemas {
    use proptest::prelude::*;
    use serde_json::{Map, Value, json};

    use super::*;

    /// JSON built from the keywords the schema lints read, nested and of
    /// every type, so that most of what is generated is a wrong schema.
    fn schema() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-3i64..200).prop_map(Value::from),
            (-1.5f64..1.5).prop_map(|f| json!(f)),
            prop::sample::select(vec![
                "string",
                "integer",
                "number",
                "boolean",
                "array",
                "object",
                "null",
                "#",
                "#/properties/a",
                "#/$defs/x",
                "a",
                "open",
            ])
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec(
                    (
                        prop::sample::select(vec![
                            "type",
                            "properties",
                            "enum",
                            "const",
                            "minimum",
                            "maximum",
                            "exclusiveMinimum",
                            "exclusiveMaximum",
                            "items",
                            "$ref",
                            "$defs",
                            "additionalProperties",
                            "anyOf",
                            "a",
                            "b",
                            "x",
                        ]),
                        inner
                    ),
                    0..6
                )
                .prop_map(|pairs| {
                    Value::Object(
                        pairs
                            .into_iter()
                            .map(|(k, v)| (k.to_owned(), v))
                            .collect::<Map<String, Value>>(),
                    )
                }),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn any_schema_is_linted_without_panicking(schema in schema()) {
            let tools = json!({"tools": [
                {"name": "t", "inputSchema": schema.clone()},
                {"name": "t_2", "inputSchema": {"type": "object", "properties": {"a": schema}}}
            ]})
            .to_string();
            let list = ToolList::from_json(&tools).unwrap();
            let policy = "scope r level read\n\
                tool \"t*\" requires all_of(r, arg.a == 1, arg.a.b < 0, arg.b in [\"open\", 2], arg.x contains true, arg.a matches \"o*\", arg.b under \"/w\", arg.a == claim.sub)\n\
                deny tool \"t*\" when any_of(arg.a != \"x\", arg.b >= 1.5)\n";
            let compilation = check_source(policy, &LintConfig::default(), Some(&list));
            prop_assert!(compilation.table.is_some());
        }
    }
}
