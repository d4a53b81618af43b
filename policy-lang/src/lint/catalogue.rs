//! The lints: codes, default levels, and the documentation `docs/lints.md`
//! is generated from (a test keeps the file in sync).

pub use crate::codes::Lint;

/// How loudly a lint speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LintLevel {
    /// Off.
    Allow,
    Warn,
    /// An error: `check` and `lint` exit 1.
    Deny,
}

impl LintLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LintLevel::Allow => "off",
            LintLevel::Warn => "warning",
            LintLevel::Deny => "error",
        }
    }
}

/// A lint's documentation: why it exists, and a policy that fires it next
/// to one that does not.
#[derive(Clone, Copy, Debug)]
pub struct LintDoc {
    pub rationale: &'static str,
    pub bad: &'static str,
    pub good: &'static str,
    /// For the lints that read the server's tool list: the `tools/list`
    /// answer both examples are checked against.
    pub tools: Option<&'static str>,
}

impl Lint {
    pub fn from_name(name: &str) -> Option<Lint> {
        Lint::ALL.into_iter().find(|lint| lint.name() == name)
    }

    /// The lint a full code names (`mcp_policy::lint::unused_scope`).
    pub fn from_code(code: &str) -> Option<Lint> {
        Lint::ALL.into_iter().find(|lint| lint.code() == code)
    }

    pub fn default_level(self) -> LintLevel {
        match self {
            Lint::DestructiveReachable | Lint::DestructiveHintReachable => LintLevel::Deny,
            _ => LintLevel::Warn,
        }
    }

    /// `true` for the lints that need the server's tool list (`--tools`).
    pub fn needs_tool_list(self) -> bool {
        matches!(
            self,
            Lint::UncoveredTool
                | Lint::UnknownTool
                | Lint::DestructiveHintReachable
                | Lint::ReadOnlyHintNeedsWrite
                | Lint::UnknownArgument
                | Lint::ArgumentTypeMismatch
                | Lint::ConditionOnPartialGlob
                | Lint::NeverTrueCondition
        )
    }

    pub fn doc(self) -> LintDoc {
        match self {
            Lint::UnusedScope => LintDoc {
                rationale: "A scope no rule requires grants nothing, yet clients will ask for it and users will be asked to consent to it. Usually it is a leftover of a removed tool, or the rule that should use it was forgotten.",
                bad: "scope mcp:read   level read\nscope mcp:export level read\ntool list_users requires mcp:read\n",
                good: "scope mcp:read   level read\nscope mcp:export level read\ntool list_users requires mcp:read\ntool export_csv requires mcp:export\n",
                tools: None,
            },
            Lint::ImpliedOnlyScope => LintDoc {
                rationale: "A scope that other scopes imply but no rule requires makes the hierarchy look finer than it is: holding it, or not, changes no decision.",
                bad: "scope mcp:read  level read\nscope mcp:audit level read\nscope mcp:admin level admin implies mcp:read, mcp:audit\ntool list_users requires mcp:read\ntool delete_user requires mcp:admin\n",
                good: "scope mcp:read  level read\nscope mcp:audit level read\nscope mcp:admin level admin implies mcp:read, mcp:audit\ntool list_users requires mcp:read\ntool read_audit_log requires mcp:audit\ntool delete_user requires mcp:admin\n",
                tools: None,
            },
            Lint::RedundantRequirement => LintDoc {
                rationale: "`any_of(mcp:read, mcp:admin)` reads as if admin were another way in, but admin implies read, so it adds nothing; single-member groups and repeated members are noise of the same kind. The simpler form says the same and is what a reviewer can check.",
                bad: "scope mcp:read  level read\nscope mcp:write level write implies mcp:read\nscope mcp:admin level admin implies mcp:write\ntool list_users requires any_of(mcp:read, mcp:admin)\n",
                good: "scope mcp:read  level read\nscope mcp:write level write implies mcp:read\nscope mcp:admin level admin implies mcp:write\ntool list_users requires mcp:read\n",
                tools: None,
            },
            Lint::ShadowedRule => LintDoc {
                rationale: "A deny wins over every other rule. A rule whose every name a deny takes never decides anything, and its requirement misleads the reader about who may call the tool.",
                bad: "scope mcp:admin level admin\ntool debug_dump_heap requires mcp:admin\ndeny tool \"debug_*\"\n",
                good: "scope mcp:admin level admin\ntool debug_dump_heap requires mcp:admin\ndeny tool \"debug_trace_*\"\n",
                tools: None,
            },
            Lint::BroadGlob => LintDoc {
                rationale: "A pattern that starts with `*` matches names of every family: `\"*_repo\"` covers `get_repo` and `delete_repo`, and any tool added later whose name happens to end that way. Patterns should start with the family's prefix.",
                bad: "scope mcp:read level read\ntool \"*_repo\" requires mcp:read\n",
                good: "scope mcp:read level read\ntool \"repo_*\" requires mcp:read\n",
                tools: None,
            },
            Lint::WeakerOverride => LintDoc {
                rationale: "An exact rule wins over the pattern that also matches its name. When it asks for less than the pattern, one tool of a guarded family is open to tokens the family is closed to: sometimes intended, often a slip. Say so with a suppression comment when it is intended.",
                bad: "scope mcp:read  level read\nscope mcp:admin level admin implies mcp:read\ntool \"admin_*\" requires mcp:admin\ntool admin_stats requires mcp:read\n",
                good: "scope mcp:read  level read\nscope mcp:admin level admin implies mcp:read\ntool \"admin_*\" requires mcp:admin\n# mcp-policy: allow(weaker_override) listing admins is read-only and shown on the team page\ntool admin_list requires mcp:read\n",
                tools: None,
            },
            Lint::DestructiveReachable => LintDoc {
                rationale: "Tools whose names say delete, drop, purge, destroy, remove, rotate, reset, revoke, wipe, truncate, erase, execute, archive, kick or ban destroy data or access, or do anything at all. They should need an admin-level scope, as tools the server marks `destructiveHint: true` do (`destructive_hint_reachable`): a token with read, write, resource or oauth scopes alone, or any token at all, should not reach them. A leaked write token must not be able to drop a table.",
                bad: "scope mcp:read     level read\nscope pg:write     level write\nscope github:repos level resource\ntool delete_repo requires any_of(mcp:read, github:repos)\ntool drop_table  requires pg:write\n",
                good: "scope mcp:read     level read\nscope mcp:admin    level admin implies mcp:read\nscope github:repos level resource\ntool get_repo    requires any_of(mcp:read, github:repos)\ntool delete_repo requires mcp:admin\n",
                tools: None,
            },
            Lint::OauthScopeGrants => LintDoc {
                rationale: "`oauth`-level scopes such as `offline_access` govern the protocol (refresh tokens), not the server's features; clients request them for other reasons, so using one to grant a tool hands that tool to every client that wants a refresh token.",
                bad: "scope mcp:read        level read\nscope offline_access  level oauth\ntool list_users requires any_of(mcp:read, offline_access)\n",
                good: "scope mcp:read        level read\nscope offline_access  level oauth\ntool list_users requires mcp:read\n",
                tools: None,
            },
            Lint::DefaultAllow => LintDoc {
                rationale: "With `default allow`, every tool without a rule, including the next destructive tool someone adds to the server, is open to every token. Default deny makes forgetting a rule safe.",
                bad: "default allow\nscope mcp:admin level admin\ntool delete_repo requires mcp:admin\n",
                good: "default deny\nscope mcp:admin level admin\ntool delete_repo requires mcp:admin\n",
                tools: None,
            },
            Lint::InvalidSuppression => LintDoc {
                rationale: "A suppression comment (`# mcp-policy: allow(LINT) REASON` on the line before a statement, or on a line inside it: `fmt` moves such a comment above the statement) silences one lint on that statement, and must say why, for the next reviewer. One that names no known lint, or gives no reason, silences nothing.",
                bad: "scope mcp:read level read\nscope mcp:export level read\n# mcp-policy: allow(unused_scpoe)\ntool list_users requires mcp:read\n",
                good: "scope mcp:read level read\nscope mcp:export level read\ntool list_users requires mcp:read\ntool export_csv requires mcp:export\n",
                tools: None,
            },
            Lint::UncoveredTool => LintDoc {
                rationale: "A tool the server offers with no rule is denied to everyone by the default (or open to everyone under `default allow`). Either is rarely what the author meant: give every tool a rule, or deny it explicitly.",
                bad: "scope mcp:read level read\ntool list_users requires mcp:read\n",
                good: "scope mcp:read level read\ntool list_users requires mcp:read\ntool get_user requires mcp:read\n",
                tools: Some(
                    r#"{"tools":[{"name":"list_users","inputSchema":{"type":"object"}},{"name":"get_user","inputSchema":{"type":"object"}}]}"#,
                ),
            },
            Lint::UnknownTool => LintDoc {
                rationale: "A rule for a tool the server does not offer guards nothing; often it is a typo, and the real tool is left to the default.",
                bad: "scope mcp:read level read\ntool list_user requires mcp:read\n",
                good: "scope mcp:read level read\ntool list_users requires mcp:read\n",
                tools: Some(r#"{"tools":[{"name":"list_users","inputSchema":{"type":"object"}}]}"#),
            },
            Lint::DestructiveHintReachable => LintDoc {
                rationale: "The server itself says the tool is destructive (`destructiveHint: true`). Such a tool should need an admin-level scope, whatever its name: the level `destructive_reachable` asks of tools whose names say they destroy.",
                bad: "scope mcp:write level write\nscope mcp:admin level admin implies mcp:write\ntool rename_project requires mcp:write\ntool close_project  requires mcp:write\n",
                good: "scope mcp:write level write\nscope mcp:admin level admin implies mcp:write\ntool rename_project requires mcp:write\ntool close_project  requires mcp:admin\n",
                tools: Some(
                    r#"{"tools":[{"name":"rename_project","inputSchema":{"type":"object"},"annotations":{"destructiveHint":false}},{"name":"close_project","inputSchema":{"type":"object"},"annotations":{"readOnlyHint":false,"destructiveHint":true}}]}"#,
                ),
            },
            Lint::ReadOnlyHintNeedsWrite => LintDoc {
                rationale: "The server says the tool only reads (`readOnlyHint: true`), yet the policy asks for a write or admin scope: read-only clients cannot use it, and clients learn to ask for more than they need.",
                bad: "scope mcp:read  level read\nscope mcp:write level write implies mcp:read\ntool list_users requires mcp:read\ntool get_user   requires mcp:write\ntool set_user   requires mcp:write\n",
                good: "scope mcp:read  level read\nscope mcp:write level write implies mcp:read\ntool list_users requires mcp:read\ntool get_user   requires mcp:read\ntool set_user   requires mcp:write\n",
                tools: Some(
                    r#"{"tools":[{"name":"list_users","inputSchema":{"type":"object"},"annotations":{"readOnlyHint":true}},{"name":"get_user","inputSchema":{"type":"object"},"annotations":{"readOnlyHint":true}},{"name":"set_user","inputSchema":{"type":"object"},"annotations":{"readOnlyHint":false}}]}"#,
                ),
            },
            Lint::EmptyPolicy => LintDoc {
                rationale: "A policy under `default deny` whose rules grant nothing (none at all, or only `deny` rules) denies every call to every token. That is safe, but rarely meant: usually the rules are in another file, or were lost.",
                bad: "policy \"github\"\ndefault deny\n",
                good: "policy \"github\"\ndefault deny\nscope mcp:read level read\ntool list_repos requires mcp:read\n",
                tools: None,
            },
            Lint::ConfusableName => LintDoc {
                rationale: "A name with characters of another script can pass for a different name: `dеlete_repo` with a Cyrillic `е` (U+0435) reads as `delete_repo`, so a rule for it guards nothing a reviewer thinks it guards, while the real tool is left to the default. The lint compares the names of the policy's scopes and rules, and the server's tools with `--tools`, by their Unicode confusable skeletons (UTS #39), and flags every name that mixes scripts, or holds an invisible character (a zero-width space, a bidi control). Names wholly in one script, such as Japanese names, and names mixing Latin with Han, Japanese or Korean (`get_ユーザー`, allowed by UTS #39's highly restrictive level) are left alone unless they look like another name. ASCII names are compared too, but only a pair with a non-ASCII name is reported: `l` and `1` are a matter for code review.",
                bad: "scope mcp:read  level read\nscope mcp:admin level admin implies mcp:read\ntool delete_repo requires mcp:admin\ntool \"dеlete_repo\" requires mcp:read\n",
                good: "scope mcp:read  level read\nscope mcp:admin level admin implies mcp:read\ntool delete_repo requires mcp:admin\ntool \"リポジトリ一覧\" requires mcp:read\n",
                tools: None,
            },
            Lint::UnknownArgument => LintDoc {
                rationale: "A condition on an argument the tool does not declare reads a key no client sends: the atom is always false, so the clause holding it never allows, or the deny holding it never fires. Usually it is a typo, or the server renamed the argument. Each `arg.` path is looked up in the `properties` of the tool's `inputSchema`, through nested objects and local `$ref`s. An object whose `additionalProperties` is absent or `false` counts as listing every argument (servers ignore or refuse keys they do not declare); one with `additionalProperties` set to `true` or a schema, or with `patternProperties`, `allOf`, `anyOf`, `oneOf` or a `$ref` that cannot be followed, is not judged, and neither is a tool without an `inputSchema`. A pattern rule is reported here when no tool it covers declares the argument; when only some do not, `condition_on_partial_glob` names them.",
                bad: "scope mcp:read level read\ntool search_issues requires all_of(mcp:read, arg.limt <= 50)\n",
                good: "scope mcp:read level read\ntool search_issues requires all_of(mcp:read, arg.limit <= 50)\n",
                tools: Some(
                    r#"{"tools":[{"name":"search_issues","inputSchema":{"type":"object","properties":{"query":{"type":"string"},"limit":{"type":"integer","minimum":1,"maximum":100}},"required":["query"]}}]}"#,
                ),
            },
            Lint::ArgumentTypeMismatch => LintDoc {
                rationale: "An atom is false when its argument has another JSON type than its operator needs: a string compared with an integer argument, `<` on a string, `contains` on anything but an array, `matches` or `under` on anything but a string, `==` on an array. Against the type the tool's `inputSchema` declares for the argument (a name or a list of names; an absent `type` says nothing), such an atom can never hold. `contains` is also checked against the array's `items` type.",
                bad: "scope mcp:read level read\ntool list_issues requires all_of(mcp:read, arg.labels == \"public\")\n",
                good: "scope mcp:read level read\ntool list_issues requires all_of(mcp:read, arg.labels contains \"public\")\n",
                tools: Some(
                    r#"{"tools":[{"name":"list_issues","inputSchema":{"type":"object","properties":{"repo":{"type":"string"},"labels":{"type":"array","items":{"type":"string"}}},"required":["repo"]}}]}"#,
                ),
            },
            Lint::ConditionOnPartialGlob => LintDoc {
                rationale: "A pattern rule covers tools of different shapes. A condition on an argument that some of them do not declare is always false for those: on an allow rule the clause holding it never allows them, and the lint names them unless another clause lets the same callers in (no more scopes, no other claim: `any_of(all_of(s, arg.path under \"/w\"), all_of(s, arg.source under \"/w\"))` strands no tool that takes `path` or `source`); on a conditional deny, the deny never fires for the tools that lack every argument its condition reads, which matters when such a tool takes the same value under another name (`move_file` takes `source`, not `path`). The finding names the tools. Tools whose `inputSchema` does not say (see `unknown_argument`) are not counted as lacking the argument.",
                bad: "scope github:repos level resource\ntool \"repo_*\" requires all_of(github:repos, arg.repo matches \"acme/*\")\n",
                good: "scope github:repos level resource\ntool \"repo_*\"  requires all_of(github:repos, arg.repo matches \"acme/*\")\ntool repo_list requires all_of(github:repos, arg.org == \"acme\")\n",
                tools: Some(
                    r#"{"tools":[{"name":"repo_get","inputSchema":{"type":"object","properties":{"repo":{"type":"string"}},"required":["repo"]}},{"name":"repo_update","inputSchema":{"type":"object","properties":{"repo":{"type":"string"},"description":{"type":"string"}},"required":["repo"]}},{"name":"repo_list","inputSchema":{"type":"object","properties":{"org":{"type":"string"}},"required":["org"]}}]}"#,
                ),
            },
            Lint::MatchesOnPath => LintDoc {
                rationale: "A glob reads a path as the client spelt it. In an allow rule, `arg.path matches \"/workspace/*\"` takes `/workspace/../etc/passwd`, since `*` matches `..` too; in a deny's `when`, `/a/./b`, `/a//b/` or `/x/../a/b` spell the path the glob names without matching it, and the deny does not fire. `under \"/DIR\"` normalises the path and fails closed on a `..` that leaves the directory. The lint goes by the argument's name (its last key): `path`, `paths`, `pathname`, `file`, `filename`, `filepath`, `dir`, `dirname`, `directory`, `folder`, `cwd` as its last word (`source_path`, `targetDir`), or `file name`, so it runs without `--tools`. In an allow rule it fires on globs a `..` can escape, those with a `*` after a literal part; globs that only test the end (`\"*.md\"`) or hold no `*` cannot be escaped. In a deny it fires on every glob but those that start and end with `*` and hold no `/` (`\"*..*\"`, `\"*.env*\"`), which look for text inside a segment that every spelling of the path keeps: any other glob misses spellings such as `/a/./b` or a trailing `/.`, which a server normalising the path reads as the file the glob names.",
                bad: "scope fs:read level read\ntool read_file requires all_of(fs:read, arg.path matches \"/workspace/*\")\n",
                good: "scope fs:read level read\ntool read_file requires all_of(fs:read, arg.path under \"/workspace\")\n",
                tools: None,
            },
            Lint::NeverTrueCondition => LintDoc {
                rationale: "A condition that no value the server accepts satisfies is always false, exactly as the evaluator decides: an `==` or `in` whose values are outside the argument's `enum` or `const` (each allowed value is put through the atom), an `==` with a fraction on an `integer`, or a bound outside the schema's `minimum`, `maximum`, `exclusiveMinimum` or `exclusiveMaximum` (`arg.limit < 0` where `minimum` is 0). Often a misspelt value or a comparison the wrong way round.",
                bad: "scope mcp:read level read\ntool search_issues requires all_of(mcp:read, arg.state == \"opened\")\n",
                good: "scope mcp:read level read\ntool search_issues requires all_of(mcp:read, arg.state == \"open\")\n",
                tools: Some(
                    r#"{"tools":[{"name":"search_issues","inputSchema":{"type":"object","properties":{"query":{"type":"string"},"state":{"type":"string","enum":["open","closed","all"]}},"required":["query"]}}]}"#,
                ),
            },
            Lint::NegatedDenyCondition => LintDoc {
                rationale: "An atom is false when its value is missing or of another type, and `!=` is no exception: `deny tool \"*\" when claim.tenant != \"acme\"` does not fire for a token without a `tenant` claim, or with a number in it, so that token gets through. A deny's `when` should say what is refused when present; what a request must have belongs on the allow side, `requires all_of(..., claim.tenant == \"acme\")`, where a missing value fails closed.",
                bad: "scope mcp:read level read\ntool list_users requires mcp:read\ndeny tool \"*\" when claim.tenant != \"acme\"\n",
                good: "scope mcp:read level read\ntool list_users requires all_of(mcp:read, claim.tenant == \"acme\")\n",
                tools: None,
            },
        }
    }
}

/// `docs/lints.md`, generated from the catalogue.
pub fn catalogue_markdown() -> String {
    let mut out = String::from(
        "# Lints\n\n\
         <!-- Generated from policy-lang/src/lint/catalogue.rs; a test keeps this file in sync.\n     \
         Regenerate with `UPDATE_DOCS=1 cargo test -p mcp-policy-lang --test lints`. -->\n\n\
         `mcp-policy check` runs every lint after the policy compiles; `mcp-policy lint` runs them alone.\n\
         Change a lint's level with `--deny LINT`, `--warn LINT`, `--allow LINT` (and `--deny warnings`),\n\
         LINT being the lint's name (`unused_scope`) or its code as diagnostics print it\n\
         (`mcp_policy::lint::unused_scope`),\n\
         or silence it on one statement with a comment on the line before it, which must give a reason:\n\n\
         ```\n\
         # mcp-policy: allow(weaker_override) listing admins is read-only\n\
         tool admin_list requires mcp:read\n\
         ```\n\n\
         The lints marked *tool list* run when `--tools FILE` gives the server's `tools/list` answer.\n\n\
         | lint | default | summary |\n| --- | --- | --- |\n",
    );
    for lint in Lint::ALL {
        out.push_str(&format!(
            "| [`{}`](#{}) | {} | {}{} |\n",
            lint.name(),
            lint.name(),
            lint.default_level().as_str(),
            lint.summary(),
            if lint.needs_tool_list() {
                " (tool list)"
            } else {
                ""
            }
        ));
    }
    for lint in Lint::ALL {
        let doc = lint.doc();
        out.push_str(&format!(
            "\n## {}\n\nCode `{}`, default level: {}.\n\n{}\n\nFires:\n\n```\n{}```\n\nDoes not:\n\n```\n{}```\n",
            lint.name(),
            lint.code(),
            lint.default_level().as_str(),
            doc.rationale,
            doc.bad,
            doc.good
        ));
        if let Some(tools) = doc.tools {
            out.push_str(&format!(
                "\nwith the server's tool list:\n\n```json\n{tools}\n```\n"
            ));
        }
    }
    out
}
