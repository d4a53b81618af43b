//! The formatter: reviewed snapshots of the examples and of a messy file,
//! the layout rules one by one, and a property test over random policies
//! written with random spacing, comments, blank lines and quoting: the
//! output is a fixed point, compiles to the same table (line numbers
//! aside), keeps every comment in order, and is clean text.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use mcp_policy_lang::format::format_source;
use mcp_policy_lang::lint::{Lint, LintConfig, LintLevel};
use mcp_policy_lang::{check_source, compile_source};
use proptest::prelude::*;

fn fmt(source: &str) -> String {
    format_source(source).unwrap_or_else(|diagnostics| panic!("{diagnostics:#?}"))
}

/// The compiled table as JSON, without the rules' line numbers (formatting
/// may move a rule to another line).
fn table_without_lines(source: &str) -> serde_json::Value {
    let compilation = compile_source(source);
    let table = compilation
        .table
        .unwrap_or_else(|| panic!("{:#?}", compilation.diagnostics));
    let mut json: serde_json::Value = serde_json::from_str(&table.to_artifact()).unwrap();
    for rule in json["rules"].as_array_mut().unwrap() {
        rule.as_object_mut().unwrap().remove("line").unwrap();
    }
    json
}

/// Every lint's findings (all lints on), without positions: formatting must
/// keep suppression comments working.
fn lints(source: &str) -> Vec<(&'static str, String, Option<String>)> {
    let mut config = LintConfig::default();
    for lint in Lint::ALL {
        config.set(lint, LintLevel::Warn);
    }
    let mut found: Vec<_> = check_source(source, &config, None)
        .diagnostics
        .into_iter()
        .map(|diagnostic| {
            (
                diagnostic.code.as_str(),
                diagnostic.message,
                diagnostic.help,
            )
        })
        .collect();
    found.sort();
    found
}

fn assert_clean(output: &str) {
    // One kind of line break throughout: CRLF (the source's, kept) or LF.
    let lf = output.replace("\r\n", "\n");
    if lf.len() != output.len() {
        assert_eq!(
            lf.matches('\n').count(),
            output.matches("\r\n").count(),
            "{output:?}"
        );
    }
    let output = lf.as_str();
    assert!(
        output.is_empty() || (output.ends_with('\n') && !output.ends_with("\n\n")),
        "must end with exactly one newline: {output:?}"
    );
    assert!(!output.starts_with('\n'), "{output:?}");
    assert!(!output.contains("\n\n\n"), "{output:?}");
    assert!(!output.contains('\r'), "{output:?}");
    for line in output.lines() {
        assert_eq!(line, line.trim_end(), "trailing whitespace in {output:?}");
    }
}

#[test]
fn examples() {
    insta::glob!("../../examples", "*.mcppolicy", |path| {
        let source = std::fs::read_to_string(path).unwrap();
        let output = fmt(&source);
        assert_clean(&output);
        assert_eq!(fmt(&output), output, "not idempotent");
        assert_eq!(table_without_lines(&source), table_without_lines(&output));
        assert_eq!(lints(&source), lints(&output));
        // The examples are kept formatted: they are what users copy.
        assert_eq!(
            output,
            source,
            "{} is not formatted: run `mcp-policy fmt`",
            path.display()
        );
        insta::assert_snapshot!(output);
    });
}

/// Odd spacing and indentation, quoted names that could be bare, bare
/// names that must be quoted, escapes, comments inside requirements, two
/// statements on a line, several blank lines, and CRLF line ends from the
/// rules on.
const MESSY_LF: &str = r#"


    # leading comment, indented
policy    "messy \"one\""   # trailing on policy
default	deny
scope "mcp:read" level read "Read \"everything\""     # quoted, could be bare
scope   mcp:write level write implies "mcp:read"
scope "repo+write" level   resource   "Back\\slash # not a comment"   implies mcp:write,mcp:read
scope "tool" level oauth
# a comment line splits the block
scope offline_access level oauth "Refresh tokens"



"#;

const MESSY_CRLF: &str = r#"tool search requires any_of(  # why either
    mcp:read,   # readers
    "repo+write", # repo tools
)  # after the group
tool "admin_*" requires all_of(mcp:write,any_of("mcp:read","tool"))
deny tool "debug_*"  tool "deny" requires authenticated
resource "repo://*"
    requires "repo+write"
prompt summarize   requires
  mcp:read
   # trailing comment 1

# trailing comment 2, no newline at end"#;

#[test]
fn messy() {
    let source = format!("{MESSY_LF}{}", MESSY_CRLF.replace('\n', "\r\n"));
    let output = fmt(&source);
    assert_clean(&output);
    assert_eq!(fmt(&output), output, "not idempotent");
    assert_eq!(table_without_lines(&source), table_without_lines(&output));
    insta::assert_snapshot!(output);
}

#[test]
fn scopes_align_in_columns_and_implies_after_the_longest_description() {
    let source = "scope a level read \"A\"\nscope bbb level write \"Longer text\" implies a\nscope c level admin implies bbb\nscope d level resource \"The longest description\"\n";
    assert_eq!(
        fmt(source),
        "\
scope a    level read     \"A\"
scope bbb  level write    \"Longer text\" implies a
scope c    level admin                  implies bbb
scope d    level resource \"The longest description\"
"
    );
}

#[test]
fn a_deny_rule_does_not_widen_the_requires_column() {
    let source = "tool a requires x\nresource \"repo://*\" requires y\ndeny tool \"a_very_long_name_*\"\nscope x level read\nscope y level read\n";
    assert_eq!(
        fmt(source),
        "\
tool a               requires x
resource \"repo://*\"  requires y
deny tool \"a_very_long_name_*\"
scope x  level read
scope y  level read
"
    );
}

#[test]
fn conditions_are_spelled_canonically_and_when_aligns_with_requires() {
    let source = "scope a level read\ntool x requires all_of( a ,arg.kind in[\"b\",\"a\",],\n  arg.\"repo-name\".\"owner\"==claim.sub, # who\n arg.n<=-1.50e3)\ndeny tool x when any_of(arg.path under \"/w\" ,claim.\"g\" contains true)\n";
    assert_eq!(
        fmt(source),
        "scope a  level read\n# who\ntool x       requires all_of(a, arg.kind in [\"b\", \"a\"], arg.\"repo-name\".owner == claim.sub, arg.n <= -1.50e3)\ndeny tool x  when any_of(arg.path under \"/w\", claim.g contains true)\n"
    );
}

#[test]
fn rules_align_across_blank_lines_and_comments() {
    let source = "tool a requires x\ntool long_name requires x\n\n\n\ntool b requires x\n# note\ntool bb requires x\ntool b_c requires x\n";
    assert_eq!(
        fmt(source),
        "\
tool a          requires x
tool long_name  requires x

tool b          requires x
# note
tool bb         requires x
tool b_c        requires x
"
    );
}

#[test]
fn comments_inside_a_statement_move_above_it_in_order() {
    let source = "# before\ntool x requires any_of( # first line\n  a, # why a\n  # on its own\n  b,\n) # after\n";
    assert_eq!(
        fmt(source),
        "# before\n# first line\n# why a\n# on its own\ntool x  requires any_of(a, b)  # after\n"
    );
}

#[test]
fn a_trailing_comment_stays_with_the_statement_it_follows() {
    let source = "scope a level read scope b level read # b's\n  # next line\ntool x requires a\n";
    assert_eq!(
        fmt(source),
        "scope a  level read\nscope b  level read  # b's\n# next line\ntool x  requires a\n"
    );
}

#[test]
fn names_are_bare_when_they_can_be_targets_keep_their_quotes() {
    let source = "scope \"a:b\" level read implies \"tool\", \"c d\"\ntool \"exact\" requires any_of(\"a:b\", \"x\\\"y\", \"back\\\\slash\")\n";
    assert_eq!(
        fmt(source),
        "scope a:b  level read implies \"tool\", \"c d\"\ntool \"exact\"  requires any_of(a:b, \"x\\\"y\", \"back\\\\slash\")\n"
    );
}

#[test]
fn crlf_is_kept_and_the_file_ends_with_one_line_break() {
    assert_eq!(
        fmt("\r\n\r\ndefault deny\r\n\r\n\r\n# end\r\n\r\n\r\n"),
        "default deny\r\n\r\n# end\r\n"
    );
    assert_eq!(fmt("default deny"), "default deny\n");
    assert_eq!(fmt("default deny\r"), "default deny\n");
}

#[test]
fn a_crlf_file_round_trips_and_stays_crlf() {
    let source = "policy \"p\"\r\ndefault deny\r\n# why\r\nscope mcp:read level read \"Read\"\r\n\r\ntool a requires any_of(\r\n  mcp:read,  # inside\r\n)\r\n";
    let output = fmt(source);
    assert!(
        output.ends_with("# inside\r\ntool a  requires any_of(mcp:read)\r\n"),
        "{output:?}"
    );
    assert!(
        !output.replace("\r\n", "").contains(['\n', '\r']),
        "{output:?}"
    );
    assert_eq!(fmt(&output), output, "not idempotent");
    assert_eq!(
        output.replace("\r\n", "\n"),
        fmt(&source.replace("\r\n", "\n"))
    );
    assert_eq!(table_without_lines(source), table_without_lines(&output));
}

#[test]
fn a_file_mixing_line_breaks_gets_the_first_kind() {
    assert_eq!(
        fmt("default deny\r\n# a\n# b\n"),
        "default deny\r\n# a\r\n# b\r\n"
    );
    assert_eq!(
        fmt("default deny\n# a\r\n# b\r\n"),
        "default deny\n# a\n# b\n"
    );
}

#[test]
fn a_file_with_syntax_errors_is_not_formatted() {
    let errors = format_source("tool a requries x\ntool b requires\n").unwrap_err();
    assert_eq!(errors.len(), 2);
    // Semantic errors do not stop the formatter.
    assert_eq!(
        fmt("tool  a requires undeclared\n"),
        "tool a  requires undeclared\n"
    );
}

// ---------------------------------------------------------------------------
// Random policies as text.

/// Scope names: bare, bare but often quoted, and ones that must be quoted
/// (reserved words, characters outside bare names, a `#` in a string).
const SCOPE_NAMES: [&str; 12] = [
    "mcp:read",
    "mcp:write",
    "mcp:admin",
    "github:repos",
    "offline_access",
    "api://x/read",
    "a.b-c_d/e",
    "level",
    "repo+write",
    "x#y",
    "tool",
    "deny",
];

const LEVELS: [&str; 5] = ["read", "write", "admin", "resource", "oauth"];

const DESCRIPTIONS: [&str; 5] = [
    "Read all resources",
    "say \"hi\"",
    "back\\slash",
    "has # hash",
    "",
];

/// (kind, target as written, deny?). Targets are distinct per kind, and an
/// allow and a deny never share one; the two allow globs of a kind differ
/// in literal characters, so nothing is ambiguous.
const RULES: [(&str, &str, bool); 14] = [
    ("tool", "search", false),
    ("tool", "\"search_all\"", false),
    ("tool", "delete-repo", false),
    ("tool", "\"deny\"", false),
    ("tool", "\"say \\\"hi\\\" #1\"", false),
    ("tool", "\"admin_*\"", false),
    ("tool", "\"a*\"", false),
    ("tool", "\"debug_*\"", true),
    ("tool", "drop_db", true),
    ("resource", "\"repo://*\"", false),
    ("resource", "\"file:///*/.env\"", true),
    ("resource", "file:///etc/hosts", false),
    ("prompt", "summarize", false),
    ("prompt", "\"*\"", true),
];

#[derive(Clone, Debug)]
enum Req {
    Authenticated,
    /// An index, reduced modulo the number of scopes.
    Scope(usize),
    AnyOf(Vec<Req>, bool),
    AllOf(Vec<Req>, bool),
    /// A condition: an index into `CONDITIONS` (or, in a `resource` rule,
    /// which has no arguments, into its claim conditions).
    Cond(usize),
}

/// Conditions as tokens (an operand has no whitespace inside; `[` and `]`
/// are punctuation, like `(`).
const CONDITIONS: [&[&str]; 11] = [
    &["claim.tenant", "==", "\"acme\""],
    &[
        "claim.groups",
        "contains",
        "\"say \\\"hi\\\" # not a comment\"",
    ],
    &[
        "claim.\"https://example.com/roles\"",
        "in",
        "[",
        "\"admin\"",
        ",",
        "\"ops\"",
        ",",
        "]",
    ],
    &["claim.level", ">=", "-1.5e3"],
    &["arg.repo", "matches", "\"acme/*\""],
    &["arg.\"repo-name\".owner", "==", "claim.sub"],
    &["arg.limit", "<=", "100"],
    &["arg.kind", "in", "[", "\"b\"", ",", "\"a\"", "]"],
    &["arg.path", "under", "\"/workspace/./a/\""],
    &["arg.force", "!=", "true"],
    &["arg.n", "<", "0"],
];

/// How many of `CONDITIONS`, from the first, read claims only.
const CLAIM_CONDITIONS: usize = 4;

#[derive(Clone, Debug)]
struct ScopeDef {
    name: &'static str,
    level: &'static str,
    description: Option<&'static str>,
    /// Which earlier scopes it implies (only earlier ones: no cycle).
    implies: Vec<bool>,
}

#[derive(Clone, Debug)]
enum Stmt {
    Policy(&'static str),
    Default(&'static str),
    Scope(usize),
    /// A rule, its requirement (`None`: a deny) and a deny's condition.
    Rule(usize, Option<Req>, Option<Req>),
}

#[derive(Clone, Debug)]
struct Case {
    scopes: Vec<ScopeDef>,
    statements: Vec<Stmt>,
    /// Layout choices, used in turn (cycling).
    choices: Vec<u8>,
}

fn requirement() -> impl Strategy<Value = Req> {
    let leaf = prop_oneof![
        1 => Just(Req::Authenticated),
        6 => (0usize..100).prop_map(Req::Scope),
        2 => (0usize..100).prop_map(Req::Cond),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            (prop::collection::vec(inner.clone(), 1..=3), any::<bool>())
                .prop_map(|(members, comma)| Req::AnyOf(members, comma)),
            (prop::collection::vec(inner, 1..=3), any::<bool>())
                .prop_map(|(members, comma)| Req::AllOf(members, comma)),
        ]
    })
}

/// A deny's condition: conditions only.
fn condition() -> impl Strategy<Value = Req> {
    (0usize..100)
        .prop_map(Req::Cond)
        .prop_recursive(2, 6, 3, |inner| {
            prop_oneof![
                (prop::collection::vec(inner.clone(), 1..=3), any::<bool>())
                    .prop_map(|(members, comma)| Req::AnyOf(members, comma)),
                (prop::collection::vec(inner, 1..=3), any::<bool>())
                    .prop_map(|(members, comma)| Req::AllOf(members, comma)),
            ]
        })
}

fn scope_def(name: &'static str) -> impl Strategy<Value = ScopeDef> {
    (
        prop::sample::select(&LEVELS[..]),
        prop::option::of(prop::sample::select(&DESCRIPTIONS[..])),
        prop::collection::vec(prop::bool::weighted(0.3), SCOPE_NAMES.len()),
    )
        .prop_map(move |(level, description, implies)| ScopeDef {
            name,
            level,
            description,
            implies,
        })
}

fn case() -> impl Strategy<Value = Case> {
    let scopes = prop::sample::subsequence(&SCOPE_NAMES[..], 1..=6)
        .prop_flat_map(|names| names.into_iter().map(scope_def).collect::<Vec<_>>());
    let rules = prop::sample::subsequence((0..RULES.len()).collect::<Vec<_>>(), 0..=8)
        .prop_flat_map(|indices| {
            indices
                .into_iter()
                .map(|index| {
                    let deny = RULES[index].2;
                    let requirement = if deny {
                        prop::option::of(condition())
                            .prop_map(|when| (None, when))
                            .boxed()
                    } else {
                        requirement().prop_map(|req| (Some(req), None)).boxed()
                    };
                    requirement
                        .prop_map(move |(requirement, when)| Stmt::Rule(index, requirement, when))
                })
                .collect::<Vec<_>>()
        });
    let header = (
        prop::option::of(prop::sample::select(vec!["p", "my \"policy\"", "a\\b # c"])),
        prop::option::of(prop::sample::select(vec!["deny", "allow"])),
    );
    (
        scopes,
        rules,
        header,
        prop::collection::vec(any::<u8>(), 64..256),
    )
        .prop_flat_map(|(scopes, rules, (name, default), choices)| {
            let mut statements: Vec<Stmt> = (0..scopes.len()).map(Stmt::Scope).collect();
            statements.extend(rules);
            statements.extend(name.map(Stmt::Policy));
            statements.extend(default.map(Stmt::Default));
            (Just(scopes), Just(statements).prop_shuffle(), Just(choices))
        })
        .prop_map(|(scopes, statements, choices)| Case {
            scopes,
            statements,
            choices,
        })
}

/// Renders a case as text, recording the comments written.
struct Writer<'a> {
    choices: &'a [u8],
    next: usize,
    text: String,
    comments: Vec<String>,
}

impl Writer<'_> {
    fn choice(&mut self, n: u8) -> u8 {
        let choice = self.choices[self.next % self.choices.len()];
        self.next += 1;
        choice % n
    }

    fn comment(&mut self) -> String {
        let texts = ["why", "say \"x\" # twice", "tab\there", "trailing   ", "\\"];
        let choice = usize::from(self.choice(texts.len() as u8));
        let text = format!("#c{}: {}", self.comments.len(), texts[choice]);
        self.comments.push(text.trim_end().to_owned());
        text
    }

    /// Space between two tokens of a statement; `tight` when one of them
    /// is punctuation, so nothing is needed.
    fn inner_space(&mut self, tight: bool) {
        let space = match self.choice(16) {
            0 if tight => String::new(),
            0..=7 => " ".to_owned(),
            8 => "  ".to_owned(),
            9 => "\t".to_owned(),
            10 => "\n".to_owned(),
            11 => "\r\n    ".to_owned(),
            12 => "\n\n  ".to_owned(),
            13 | 14 => format!(" {}\n  ", self.comment()),
            _ => format!("\n    {}\n", self.comment()),
        };
        self.text.push_str(&space);
    }

    /// Space between two statements.
    fn outer_space(&mut self) {
        let space = match self.choice(16) {
            0..=5 => "\n".to_owned(),
            6 => "\r\n".to_owned(),
            7 => "\n\n".to_owned(),
            8 => "\n \n\t\n".to_owned(),
            9 => " ".to_owned(),
            10 | 11 => format!("  {}\n", self.comment()),
            12 => format!("\n{}\n", self.comment()),
            13 => format!("\n\n  {}\n\n", self.comment()),
            14 => format!(" {}\n{}\n", self.comment(), self.comment()),
            _ => "\n   ".to_owned(),
        };
        self.text.push_str(&space);
    }

    fn name(&mut self, name: &str) -> String {
        let bare = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_:.-/".contains(c))
            && !["tool", "deny"].contains(&name);
        if bare && self.choice(3) != 0 {
            name.to_owned()
        } else {
            quote(name)
        }
    }

    fn tokens(&mut self, tokens: &[String]) {
        for (i, token) in tokens.iter().enumerate() {
            if i > 0 {
                let punctuation = |t: &str| matches!(t, "(" | ")" | "," | "[" | "]");
                let tight = punctuation(&tokens[i - 1]) || punctuation(token);
                self.inner_space(tight);
            }
            self.text.push_str(token);
        }
    }

    fn requirement(
        &mut self,
        requirement: &Req,
        scopes: &[ScopeDef],
        resource: bool,
        out: &mut Vec<String>,
    ) {
        let (keyword, members, comma) = match requirement {
            Req::Cond(index) => {
                let count = if resource {
                    CLAIM_CONDITIONS
                } else {
                    CONDITIONS.len()
                };
                out.extend(CONDITIONS[index % count].iter().map(|t| (*t).to_owned()));
                return;
            }
            Req::Authenticated => {
                out.push("authenticated".to_owned());
                return;
            }
            Req::Scope(index) => {
                let name = scopes[index % scopes.len()].name;
                let name = self.name(name);
                out.push(name);
                return;
            }
            Req::AnyOf(members, comma) => ("any_of", members, comma),
            Req::AllOf(members, comma) => ("all_of", members, comma),
        };
        out.push(keyword.to_owned());
        out.push("(".to_owned());
        for (i, member) in members.iter().enumerate() {
            if i > 0 {
                out.push(",".to_owned());
            }
            self.requirement(member, scopes, resource, out);
        }
        if *comma {
            out.push(",".to_owned());
        }
        out.push(")".to_owned());
    }

    fn statement(&mut self, statement: &Stmt, scopes: &[ScopeDef]) {
        let mut tokens = Vec::new();
        match statement {
            Stmt::Policy(name) => tokens.extend(["policy".to_owned(), quote(name)]),
            Stmt::Default(word) => tokens.extend(["default".to_owned(), (*word).to_owned()]),
            Stmt::Scope(index) => {
                let scope = &scopes[*index];
                tokens.push("scope".to_owned());
                let name = self.name(scope.name);
                tokens.extend([name, "level".to_owned(), scope.level.to_owned()]);
                if let Some(description) = scope.description {
                    tokens.push(quote(description));
                }
                let implied: Vec<&ScopeDef> = scopes[..*index]
                    .iter()
                    .zip(&scope.implies)
                    .filter(|(_, implied)| **implied)
                    .map(|(scope, _)| scope)
                    .collect();
                for (i, implied) in implied.iter().enumerate() {
                    tokens.push(if i == 0 { "implies" } else { "," }.to_owned());
                    let name = self.name(implied.name);
                    tokens.push(name);
                }
            }
            Stmt::Rule(index, requirement, when) => {
                let (kind, target, _) = RULES[*index];
                let resource = kind == "resource";
                match requirement {
                    None => {
                        tokens.extend(["deny", kind, target].map(str::to_owned));
                        if let Some(when) = when {
                            tokens.push("when".to_owned());
                            self.requirement(when, scopes, resource, &mut tokens);
                        }
                    }
                    Some(requirement) => {
                        tokens.extend([kind, target, "requires"].map(str::to_owned));
                        self.requirement(requirement, scopes, resource, &mut tokens);
                    }
                }
            }
        }
        self.tokens(&tokens);
    }
}

fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn render(case: &Case) -> (String, Vec<String>) {
    let mut writer = Writer {
        choices: &case.choices,
        next: 0,
        text: String::new(),
        comments: Vec::new(),
    };
    let start = match writer.choice(4) {
        0 => "\n\n  ".to_owned(),
        1 => format!("  {}\n\n", writer.comment()),
        _ => String::new(),
    };
    writer.text.push_str(&start);
    for (i, statement) in case.statements.iter().enumerate() {
        if i > 0 {
            writer.outer_space();
        }
        writer.statement(statement, &case.scopes);
    }
    let end = match writer.choice(5) {
        0 => String::new(),
        1 => "\n\n\n".to_owned(),
        2 => format!("\n\n{}", writer.comment()),
        3 => format!("  {}\r\n", writer.comment()),
        _ => "\n".to_owned(),
    };
    writer.text.push_str(&end);
    (writer.text, writer.comments)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn formatting_is_idempotent_and_keeps_meaning_and_comments(case in case()) {
        let (source, comments) = render(&case);
        let output = format_source(&source)
            .map_err(|diagnostics| TestCaseError::fail(format!("{source}\n{diagnostics:#?}")))?;
        prop_assert_eq!(&fmt(&output), &output, "not idempotent; source:\n{}", source);
        prop_assert_eq!(
            table_without_lines(&source),
            table_without_lines(&output),
            "source:\n{}\noutput:\n{}",
            source,
            output
        );
        prop_assert_eq!(lints(&source), lints(&output));
        let mut rest = output.as_str();
        for comment in &comments {
            let Some(at) = rest.find(comment.as_str()) else {
                return Err(TestCaseError::fail(format!(
                    "comment {comment:?} lost or out of order\nsource:\n{source}\noutput:\n{output}"
                )));
            };
            rest = &rest[at + comment.len()..];
        }
        assert_clean(&output);
        prop_assert!(output.lines().count() >= case.statements.len());
    }
}
