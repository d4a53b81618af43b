//! `confusable_name`: names that pass for other names, by the Unicode
//! confusables data; mixed-script names; and the names it leaves alone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use mcp_policy_lang::lint::{Lint, LintConfig, ToolList};
use mcp_policy_lang::{Code, Diagnostic, check_source};

fn confusables(source: &str, tools: Option<&str>) -> Vec<Diagnostic> {
    let tools = tools.map(|json| ToolList::from_json(json).unwrap());
    let compilation = check_source(source, &LintConfig::default(), tools.as_ref());
    assert!(
        compilation.table.is_some(),
        "{source}\n{:#?}",
        compilation.diagnostics
    );
    compilation
        .diagnostics
        .into_iter()
        .filter(|d| d.code == Code::Lint(Lint::ConfusableName))
        .collect()
}

const SCOPES: &str = "scope mcp:read  level read\nscope mcp:admin level admin implies mcp:read\n";

#[test]
fn a_cyrillic_letter_beside_the_latin_name_is_reported_with_its_code_point() {
    let source = format!(
        "{SCOPES}tool delete_repo requires mcp:admin\ntool \"d\u{0435}lete_repo\" requires mcp:read\n"
    );
    let found = confusables(&source, None);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(
        found[0].message,
        "`d\u{0435}lete_repo` mixes scripts and looks like `delete_repo`: U+0435 CYRILLIC SMALL LETTER IE"
    );
    // The primary label is on the Cyrillic name; the second on its double.
    let cyrillic = source.find("\"d\u{0435}").unwrap();
    assert_eq!(found[0].labels[0].span.start, cyrillic);
    assert_eq!(
        found[0].labels[1].span.start,
        source.find("delete_repo").unwrap()
    );
    assert_eq!(found[0].severity, mcp_policy_lang::Severity::Warning);
}

#[test]
fn a_mixed_script_name_is_reported_without_a_double() {
    // Latin and Greek omicron: nothing else in the policy looks like it.
    let source = format!("{SCOPES}tool \"get_rep\u{03BF}\" requires mcp:read\n");
    let found = confusables(&source, None);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(
        found[0].message,
        "`get_rep\u{03BF}` mixes scripts: U+03BF GREEK SMALL LETTER OMICRON"
    );
}

#[test]
fn a_mixed_script_scope_name_never_compiles() {
    // Scope names are OAuth scope tokens, printable ASCII: the check
    // refuses a Cyrillic one before any lint runs.
    let compilation = check_source(
        "scope \"mcp:r\u{0435}ad\" level read\ntool a requires \"mcp:r\u{0435}ad\"\n",
        &LintConfig::default(),
        None,
    );
    assert!(compilation.table.is_none());
    assert!(
        compilation
            .diagnostics
            .iter()
            .any(|d| d.code == Code::InvalidScopeName),
        "{:#?}",
        compilation.diagnostics
    );
}

#[test]
fn mixed_script_resource_and_prompt_names_are_reported() {
    let source = format!(
        "{SCOPES}resource \"file:///d\u{043E}cs/*\" requires mcp:read\nprompt \"summ\u{0430}ry\" requires mcp:read\n"
    );
    let found = confusables(&source, None);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(found[0].message.contains("U+043E CYRILLIC SMALL LETTER O"));
    assert!(found[1].message.contains("U+0430 CYRILLIC SMALL LETTER A"));
}

#[test]
fn wholly_non_latin_names_that_look_like_nothing_are_left_alone() {
    let source = format!(
        "{SCOPES}tool \"リポジトリ削除\" requires mcp:admin\ntool \"リポジトリ一覧\" requires mcp:read\ntool \"удалить_репозиторий\" requires mcp:admin\ntool \"αναζήτηση\" requires mcp:read\ntool list_repos requires mcp:read\ntool \"get_ユーザー\" requires mcp:read\ntool \"café_menu\" requires mcp:read\n"
    );
    assert_eq!(confusables(&source, None), []);
}

#[test]
fn a_wholly_cyrillic_name_that_spells_a_latin_one_is_reported() {
    // `сор` is three Cyrillic letters: single-script, yet it reads `cop`.
    let source = format!(
        "{SCOPES}tool cop requires mcp:read\ntool \"\u{0441}\u{043E}\u{0440}\" requires mcp:admin\n"
    );
    let found = confusables(&source, None);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].message.starts_with(
            "`\u{0441}\u{043E}\u{0440}` looks like `cop`: U+0441 CYRILLIC SMALL LETTER ES"
        ),
        "{}",
        found[0].message
    );
}

#[test]
fn ascii_look_alikes_are_not_reported() {
    // `l` and `1`, `rn` and `m` share skeletons, but are honest ASCII.
    let source = format!(
        "{SCOPES}tool list_v1 requires mcp:read\ntool list_vl requires mcp:read\ntool term requires mcp:read\ntool tern requires mcp:read\n"
    );
    assert_eq!(confusables(&source, None), []);
}

#[test]
fn a_zero_width_space_in_a_name_is_reported() {
    let source = format!(
        "{SCOPES}tool delete_repo requires mcp:admin\ntool \"delete\u{200B}_repo\" requires mcp:read\ntool \"list\u{200D}_repos\" requires mcp:read\n"
    );
    let found = confusables(&source, None);
    assert_eq!(found.len(), 2, "{found:#?}");
    assert_eq!(
        found[0].message,
        "`delete\u{200B}_repo` holds an invisible character and looks like `delete_repo`: U+200B ZERO WIDTH SPACE"
    );
    assert_eq!(
        found[1].message,
        "`list\u{200D}_repos` holds an invisible character: U+200D ZERO WIDTH JOINER"
    );
}

#[test]
fn names_are_compared_with_the_servers_tools() {
    let tools = r#"{"tools":[{"name":"delete_repo"},{"name":"get_rep\u043e"}]}"#;
    // The policy's Cyrillic name against the server's Latin one...
    let source = format!("{SCOPES}tool \"d\u{0435}lete_repo\" requires mcp:admin\n");
    let found = confusables(&source, Some(tools));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0]
            .message
            .contains("looks like the server's tool `delete_repo`"),
        "{}",
        found[0].message
    );
    // ...and the policy's Latin name against the server's Cyrillic one: the
    // rule guards a name the server does not have.
    let source = format!("{SCOPES}tool get_repo requires mcp:read\n");
    let found = confusables(&source, Some(tools));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(
        found[0].message,
        "`get_repo` looks like the server's tool `get_rep\u{043E}`: U+043E CYRILLIC SMALL LETTER O"
    );
}

#[test]
fn a_scope_is_not_taken_for_a_tool() {
    // Different families are never compared: a tool `mcp:read` (Cyrillic
    // `е`... in `r`ead? no: a tool named like the scope) is its own name.
    let source = format!(
        "{SCOPES}tool \"mcp:r\u{0435}ad\" requires mcp:read\nresource \"delete_repo\" requires mcp:admin\ntool \"d\u{0435}lete_repo\" requires mcp:admin\n"
    );
    let found = confusables(&source, None);
    // Both tools are mixed-script, but neither looks like another tool.
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(
        found.iter().all(|d| !d.message.contains("looks like")),
        "{found:#?}"
    );
}

#[test]
fn a_long_name_names_a_bounded_number_of_code_points() {
    let name: String = ('\u{0430}'..='\u{044F}').collect();
    let source = format!("{SCOPES}tool \"x{name}\" requires mcp:read\n");
    let found = confusables(&source, None);
    assert_eq!(found.len(), 1);
    assert!(
        found[0].message.ends_with(" and 24 more"),
        "{}",
        found[0].message
    );
}
