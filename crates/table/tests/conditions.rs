//! Decisions on arguments and claims, on a table built by hand as the
//! compiler will build it from the issue's example policy.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use mcp_policy_table::*;
use serde_json::{Map, Value, json};

fn scope(name: &str, implies: &[u32]) -> ScopeInfo {
    ScopeInfo {
        name: name.into(),
        level: Level::Read,
        description: None,
        implies: implies.iter().map(|i| ScopeId(*i)).collect(),
    }
}

const READ: ScopeId = ScopeId(0);
const WRITE: ScopeId = ScopeId(1);
const ADMIN: ScopeId = ScopeId(2);
const ISSUES: ScopeId = ScopeId(3);
const FS_READ: ScopeId = ScopeId(4);
const FS_ADMIN: ScopeId = ScopeId(5);

struct Example {
    table: DecisionTable,
    repo_acme: AtomId,
    owner_is_sub: AtomId,
    path_under: AtomId,
    limit: AtomId,
    tenant: AtomId,
    env: AtomId,
    suspended: AtomId,
}

fn arg(path: &str) -> Operand {
    Operand::arg(path.split('.'))
}

fn claim(path: &str) -> Operand {
    Operand::claim(path.split('.'))
}

fn rule(target: Target, effect: Effect, text: &str, line: u32) -> Rule {
    Rule {
        kind: TargetKind::Tool,
        target,
        effect,
        text: text.into(),
        line,
    }
}

fn clause(scopes: &[ScopeId], atoms: &[AtomId]) -> Clause {
    Clause {
        scopes: scopes.to_vec(),
        atoms: atoms.to_vec(),
    }
}

/// The issue's example, plus an unconditional deny.
fn example() -> Example {
    let scopes = ScopeCatalog::new(vec![
        scope("mcp:read", &[]),
        scope("mcp:write", &[0]),
        scope("mcp:admin", &[1]),
        scope("github:issues", &[]),
        scope("fs:read", &[]),
        scope("fs:admin", &[4]),
    ])
    .unwrap();
    let mut atoms = AtomCatalog::new();
    let mut intern = |atom: Atom, text: &str| atoms.intern(atom, text);
    let repo_acme = intern(
        Atom::new(arg("repo"), Op::Matches(Glob::new("acme/*"))).unwrap(),
        r#"arg.repo matches "acme/*""#,
    );
    let owner_is_sub = intern(
        Atom::new(arg("owner"), Op::EqOperand(claim("sub"))).unwrap(),
        "arg.owner == claim.sub",
    );
    let path_under = intern(
        Atom::under(arg("path"), "/workspace").unwrap(),
        r#"arg.path under "/workspace""#,
    );
    let limit = intern(
        Atom::new(arg("limit"), Op::Compare(Comparison::Le, Num::from(100i64))).unwrap(),
        "arg.limit <= 100",
    );
    let tenant = intern(
        Atom::new(claim("tenant"), Op::Eq(Literal::String("acme".into()))).unwrap(),
        r#"claim.tenant == "acme""#,
    );
    let env = intern(
        Atom::new(arg("path"), Op::Matches(Glob::new("**/.env"))).unwrap(),
        r#"arg.path matches "**/.env""#,
    );
    let suspended = intern(
        Atom::new(
            claim("groups"),
            Op::Contains(Literal::String("suspended".into())),
        )
        .unwrap(),
        r#"claim.groups contains "suspended""#,
    );
    let exact = |name: &str| Target::Exact(name.into());
    let rules = vec![
        rule(
            exact("close_issue"),
            Effect::Allow(vec![clause(&[ISSUES], &[repo_acme])]),
            r#"tool close_issue requires all_of(github:issues, arg.repo matches "acme/*")"#,
            1,
        ),
        rule(
            exact("update_record"),
            Effect::Allow(vec![
                clause(&[ADMIN], &[]),
                clause(&[WRITE], &[owner_is_sub]),
            ]),
            "tool update_record requires any_of(mcp:admin, all_of(mcp:write, arg.owner == claim.sub))",
            2,
        ),
        rule(
            exact("read_file"),
            Effect::Allow(vec![
                clause(&[FS_ADMIN], &[]),
                clause(&[FS_READ], &[path_under]),
            ]),
            r#"tool read_file requires any_of(fs:admin, all_of(fs:read, arg.path under "/workspace"))"#,
            3,
        ),
        rule(
            exact("search"),
            Effect::Allow(vec![clause(&[READ], &[limit])]),
            "tool search requires all_of(mcp:read, arg.limit <= 100)",
            4,
        ),
        rule(
            Target::Glob(Glob::new("*")),
            Effect::Allow(vec![clause(&[READ], &[tenant])]),
            r#"tool "*" requires all_of(mcp:read, claim.tenant == "acme")"#,
            5,
        ),
        rule(
            exact("read_file"),
            Effect::DenyWhen(vec![vec![env]]),
            r#"deny tool read_file when arg.path matches "**/.env""#,
            6,
        ),
        rule(
            Target::Glob(Glob::new("*")),
            Effect::DenyWhen(vec![vec![suspended]]),
            r#"deny tool "*" when claim.groups contains "suspended""#,
            7,
        ),
        rule(
            Target::Glob(Glob::new("debug_*")),
            Effect::Deny,
            r#"deny tool "debug_*""#,
            8,
        ),
    ];
    let table = DecisionTable::with_atoms(None, DefaultEffect::Deny, scopes, atoms, rules).unwrap();
    Example {
        table,
        repo_acme,
        owner_is_sub,
        path_under,
        limit,
        tenant,
        env,
        suspended,
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

impl Example {
    fn held(&self, scopes: &[ScopeId]) -> ScopeSet {
        self.table.scopes().set_of(scopes.iter().copied())
    }

    fn decide(&self, tool: &str, scopes: &[ScopeId], arguments: Value, claims: Value) -> Decision {
        let (arguments, claims) = (object(arguments), object(claims));
        self.table.decide_in(
            TargetKind::Tool,
            tool,
            &self.held(scopes),
            &Context::new(Some(&arguments), Some(&claims)),
        )
    }

    fn allowed(&self, tool: &str, scopes: &[ScopeId], arguments: Value, claims: Value) -> bool {
        self.decide(tool, scopes, arguments, claims).allowed
    }

    fn remedy(&self, tool: &str, scopes: &[ScopeId], arguments: Value, claims: Value) -> Remedy {
        let (arguments, claims) = (object(arguments), object(claims));
        self.table
            .explain_in(
                TargetKind::Tool,
                tool,
                &self.held(scopes),
                &Context::new(Some(&arguments), Some(&claims)),
            )
            .remedy
    }

    fn visible(&self, tool: &str, scopes: &[ScopeId], claims: Value) -> bool {
        let claims = object(claims);
        self.table
            .may_allow(TargetKind::Tool, tool, &self.held(scopes), Some(&claims))
    }
}

#[test]
fn atoms_sit_beside_scopes_in_clauses() {
    let ex = example();
    assert!(ex.table.has_conditions());
    let acme = json!({"repo": "acme/tools"});
    assert!(ex.allowed("close_issue", &[ISSUES], acme.clone(), json!({})));
    assert!(!ex.allowed("close_issue", &[], acme.clone(), json!({})));
    assert!(!ex.allowed(
        "close_issue",
        &[ISSUES],
        json!({"repo": "evil/x"}),
        json!({})
    ));
    assert!(!ex.allowed("close_issue", &[ISSUES], json!({}), json!({})));
    // Without a context every atom is false.
    let held = ex.held(&[ISSUES]);
    assert!(
        !ex.table
            .decide(TargetKind::Tool, "close_issue", &held)
            .allowed
    );

    let mine = (json!({"owner": "alice"}), json!({"sub": "alice"}));
    assert!(ex.allowed("update_record", &[WRITE], mine.0.clone(), mine.1.clone()));
    assert!(!ex.allowed(
        "update_record",
        &[WRITE],
        json!({"owner": "bob"}),
        mine.1.clone()
    ));
    assert!(ex.allowed("update_record", &[ADMIN], json!({"owner": "bob"}), mine.1));

    assert!(ex.allowed("search", &[READ], json!({"limit": 100}), json!({})));
    assert!(!ex.allowed("search", &[READ], json!({"limit": 101}), json!({})));
    assert!(!ex.allowed("search", &[READ], json!({"limit": "5"}), json!({})));

    let acme_tenant = json!({"tenant": "acme"});
    assert!(ex.allowed("other", &[READ], json!({}), acme_tenant.clone()));
    assert!(!ex.allowed("other", &[READ], json!({}), json!({"tenant": "evil"})));
    assert!(!ex.allowed("other", &[], json!({}), acme_tenant));
}

#[test]
fn a_deny_when_that_does_not_fire_falls_through() {
    let ex = example();
    let path = |p: &str| json!({ "path": p });
    assert!(ex.allowed("read_file", &[FS_READ], path("/workspace/a"), json!({})));
    let env = ex.decide("read_file", &[FS_READ], path("/workspace/.env"), json!({}));
    assert_eq!(
        env,
        Decision {
            allowed: false,
            basis: Basis::Rule(RuleId(5))
        }
    );
    // The deny beats even the scope that needs no condition.
    assert!(!ex.allowed("read_file", &[FS_ADMIN], path("/etc/.env"), json!({})));
    assert!(ex.allowed("read_file", &[FS_ADMIN], path("/etc/passwd"), json!({})));
    assert!(!ex.allowed(
        "read_file",
        &[FS_READ],
        path("/workspace/../etc/passwd"),
        json!({})
    ));
    // A missing path does not fire the deny (its atom is false); the allow
    // rule decides, and its clause without atoms allows.
    let no_path = ex.decide("read_file", &[FS_ADMIN], json!({}), json!({}));
    assert_eq!(
        no_path,
        Decision {
            allowed: true,
            basis: Basis::Rule(RuleId(2))
        }
    );
    assert!(!ex.allowed("read_file", &[FS_READ], json!({}), json!({})));
}

#[test]
fn every_matching_deny_when_is_checked() {
    let ex = example();
    let suspended = json!({"groups": ["staff", "suspended"], "tenant": "acme"});
    for tool in ["read_file", "close_issue", "other", "search"] {
        let decision = ex.decide(
            tool,
            &[ADMIN, ISSUES, FS_ADMIN],
            json!({"path": "/workspace/a", "repo": "acme/x", "limit": 1}),
            suspended.clone(),
        );
        assert_eq!(
            decision,
            Decision {
                allowed: false,
                basis: Basis::Rule(RuleId(6))
            },
            "{tool}"
        );
    }
    // The exact deny-when is checked before the glob one.
    let both = ex.decide(
        "read_file",
        &[FS_ADMIN],
        json!({"path": "/w/.env"}),
        suspended.clone(),
    );
    assert_eq!(both.basis, Basis::Rule(RuleId(5)));
    // An unconditional deny decides before any deny-when.
    assert_eq!(
        ex.decide("debug_x", &[ADMIN], json!({}), suspended).basis,
        Basis::Rule(RuleId(7))
    );
    assert!(ex.allowed(
        "other",
        &[READ],
        json!({}),
        json!({"groups": "suspended", "tenant": "acme"})
    ));
}

#[test]
fn remedies_say_whether_scopes_can_help() {
    let ex = example();
    // The condition holds; only the scope is missing.
    assert_eq!(
        ex.remedy("close_issue", &[], json!({"repo": "acme/x"}), json!({})),
        Remedy::AddScopes(vec![ISSUES])
    );
    // The condition fails: no scope helps.
    assert_eq!(
        ex.remedy(
            "close_issue",
            &[ISSUES],
            json!({"repo": "evil/x"}),
            json!({})
        ),
        Remedy::ConditionsFailed(vec![ex.repo_acme])
    );
    assert_eq!(
        ex.remedy("close_issue", &[], json!({"repo": "evil/x"}), json!({})),
        Remedy::ConditionsFailed(vec![ex.repo_acme])
    );
    // One clause fails its condition, another lacks only a scope: add it.
    assert_eq!(
        ex.remedy(
            "update_record",
            &[WRITE],
            json!({"owner": "bob"}),
            json!({"sub": "alice"})
        ),
        Remedy::AddScopes(vec![ADMIN])
    );
    assert_eq!(
        ex.remedy("search", &[READ], json!({"limit": 1000}), json!({})),
        Remedy::ConditionsFailed(vec![ex.limit])
    );
    assert_eq!(
        ex.remedy(
            "read_file",
            &[FS_READ],
            json!({"path": "/w/.env"}),
            json!({})
        ),
        Remedy::DeniedWhen(vec![ex.env])
    );
    assert_eq!(
        ex.remedy("x", &[READ], json!({}), json!({"groups": ["suspended"]})),
        Remedy::DeniedWhen(vec![ex.suspended])
    );
    assert_eq!(
        ex.remedy("debug_x", &[ADMIN], json!({}), json!({})),
        Remedy::Unreachable
    );
    assert_eq!(
        ex.remedy("other", &[READ], json!({}), json!({"tenant": "acme"})),
        Remedy::None
    );
}

#[test]
fn explanations_trace_every_atom_checked() {
    let ex = example();
    let (arguments, claims) = (
        object(json!({"path": "/workspace/../etc/passwd"})),
        object(json!({"groups": ["staff"]})),
    );
    let explanation = ex.table.explain_in(
        TargetKind::Tool,
        "read_file",
        &ex.held(&[FS_READ]),
        &Context::new(Some(&arguments), Some(&claims)),
    );
    let traced: Vec<(AtomId, bool, Option<Falsity>)> = explanation
        .conditions
        .iter()
        .map(|trace| (trace.atom, trace.holds, trace.why))
        .collect();
    assert_eq!(
        traced,
        [
            (ex.env, false, Some(Falsity::NoMatch)),
            (ex.suspended, false, Some(Falsity::NotContained)),
            (ex.path_under, false, Some(Falsity::Outside)),
        ]
    );
    assert_eq!(
        explanation.conditions[2].value,
        Some(json!("/workspace/../etc/passwd"))
    );
    // fs:admin's clause has no condition: that scope would allow.
    assert_eq!(explanation.remedy, Remedy::AddScopes(vec![FS_ADMIN]));

    // An unconditional deny checks no condition.
    let debug = ex.table.explain_in(
        TargetKind::Tool,
        "debug_x",
        &ex.held(&[]),
        &Context::new(Some(&arguments), Some(&claims)),
    );
    assert!(debug.conditions.is_empty());

    // A table without conditions explains as before, tracing nothing.
    let plain = DecisionTable::new(
        None,
        DefaultEffect::Deny,
        ScopeCatalog::new(vec![scope("a", &[])]).unwrap(),
        vec![rule(
            Target::Exact("t".into()),
            Effect::Allow(vec![Clause::of_scopes(vec![ScopeId(0)])]),
            "tool t requires a",
            1,
        )],
    )
    .unwrap();
    assert!(!plain.has_conditions());
    let explained = plain.explain_in(
        TargetKind::Tool,
        "t",
        &plain.scopes().empty_set(),
        &Context::new(Some(&arguments), Some(&claims)),
    );
    assert!(explained.conditions.is_empty());
    assert_eq!(explained.remedy, Remedy::AddScopes(vec![ScopeId(0)]));
}

#[test]
fn lists_show_what_some_arguments_could_allow() {
    let ex = example();
    let acme = json!({"tenant": "acme", "sub": "alice"});
    assert!(ex.visible("close_issue", &[ISSUES], acme.clone()));
    assert!(!ex.visible("close_issue", &[], acme.clone()));
    assert!(ex.visible("update_record", &[WRITE], acme.clone()));
    // `arg.owner == claim.sub` cannot hold without a `sub`.
    assert!(!ex.visible("update_record", &[WRITE], json!({})));
    assert!(ex.visible("update_record", &[ADMIN], json!({})));
    // The .env deny depends on arguments: the tool stays visible.
    assert!(ex.visible("read_file", &[FS_READ], acme.clone()));
    assert!(ex.visible("other", &[READ], acme.clone()));
    assert!(!ex.visible("other", &[READ], json!({"tenant": "evil"})));
    assert!(!ex.visible("other", &[READ], json!({})));
    let suspended = json!({"tenant": "acme", "sub": "alice", "groups": ["suspended"]});
    assert!(!ex.visible("read_file", &[FS_ADMIN], suspended.clone()));
    assert!(!ex.visible("other", &[READ], suspended));
    assert!(!ex.visible("debug_x", &[ADMIN], acme));
    let none = ex
        .table
        .may_allow(TargetKind::Tool, "close_issue", &ex.held(&[ISSUES]), None);
    assert!(none, "claims unknown, argument atoms open");
}

#[test]
fn decisions_name_the_arguments_they_read() {
    let ex = example();
    let paths = |tool: &str, arguments: Value, claims: Value| -> Vec<Vec<String>> {
        let (arguments, claims) = (object(arguments), object(claims));
        ex.table
            .argument_paths(
                TargetKind::Tool,
                tool,
                &Context::new(Some(&arguments), Some(&claims)),
            )
            .into_iter()
            .map(<[String]>::to_vec)
            .collect()
    };
    let path = vec![vec!["path".to_owned()]];
    assert_eq!(
        paths("read_file", json!({"path": "/workspace/a"}), json!({})),
        path
    );
    assert_eq!(
        paths(
            "update_record",
            json!({"owner": "x", "other": 1}),
            json!({})
        ),
        [["owner".to_owned()]]
    );
    assert_eq!(
        paths("close_issue", json!({}), json!({})),
        [["repo".to_owned()]]
    );
    // The glob deny fires: the allow rule is not read.
    let suspended = json!({"groups": ["suspended"]});
    assert!(paths("close_issue", json!({}), suspended.clone()).is_empty());
    // The exact deny-when was checked (and read `path`) before the glob one fired.
    assert_eq!(paths("read_file", json!({}), suspended), path);
    assert!(paths("debug_x", json!({"path": "/x"}), json!({})).is_empty());
    assert!(paths("other", json!({"path": "/x"}), json!({})).is_empty());
}

#[test]
fn clause_atoms_are_sorted_cheapest_first() {
    let ex = example();
    let scopes = ScopeCatalog::new(vec![scope("a", &[])]).unwrap();
    let mut atoms = AtomCatalog::new();
    let under = atoms.intern(Atom::under(arg("p"), "/w").unwrap(), "arg.p under \"/w\"");
    let number = atoms.intern(
        Atom::new(arg("n"), Op::Eq(Literal::Number(Num::from(1i64)))).unwrap(),
        "arg.n == 1",
    );
    let table = DecisionTable::with_atoms(
        None,
        DefaultEffect::Deny,
        scopes,
        atoms,
        vec![rule(
            Target::Exact("t".into()),
            Effect::Allow(vec![clause(&[], &[under, number, under])]),
            "t",
            1,
        )],
    )
    .unwrap();
    let Effect::Allow(clauses) = &table.rules()[0].effect else {
        panic!()
    };
    assert_eq!(clauses[0].atoms, [number, under]);
    let _ = (ex.tenant, ex.owner_is_sub);
}

#[test]
fn bad_conditions_do_not_build() {
    let scopes = || ScopeCatalog::new(vec![scope("a", &[])]).unwrap();
    let one = |effect| vec![rule(Target::Exact("t".into()), effect, "t", 1)];
    let build = |effect| {
        DecisionTable::with_atoms(
            None,
            DefaultEffect::Deny,
            scopes(),
            AtomCatalog::new(),
            one(effect),
        )
    };
    assert!(matches!(
        build(Effect::Allow(vec![clause(&[], &[AtomId(0)])])),
        Err(BuildError::UnknownAtom { index: 0, .. })
    ));
    assert!(matches!(
        build(Effect::DenyWhen(vec![vec![AtomId(3)]])),
        Err(BuildError::UnknownAtom { index: 3, .. })
    ));
    assert!(matches!(
        build(Effect::DenyWhen(vec![])),
        Err(BuildError::EmptyCondition { .. })
    ));
    assert!(matches!(
        build(Effect::DenyWhen(vec![vec![]])),
        Err(BuildError::EmptyCondition { .. })
    ));
}

#[test]
fn artifacts_carry_conditions_and_decide_the_same() {
    let ex = example();
    let artifact = ex.table.to_artifact();
    let parsed: Value = serde_json::from_str(&artifact).unwrap();
    assert_eq!(parsed["version"], json!(3));
    assert_eq!(parsed["atoms"][2]["test"], json!({"under": "/workspace"}));
    let loaded = DecisionTable::from_artifact(&artifact).unwrap();
    assert_eq!(loaded.atoms(), ex.table.atoms());
    assert_eq!(loaded.rules(), ex.table.rules());
    assert_eq!(loaded.to_artifact(), artifact);
    let (arguments, claims) = (
        object(json!({"repo": "acme/x", "path": "/workspace/.env", "owner": "a", "limit": 7})),
        object(json!({"sub": "a", "tenant": "acme"})),
    );
    let context = Context::new(Some(&arguments), Some(&claims));
    for tool in [
        "close_issue",
        "update_record",
        "read_file",
        "search",
        "other",
        "debug_x",
    ] {
        for scopes in [
            vec![],
            vec![READ],
            vec![WRITE, ISSUES],
            vec![FS_READ],
            vec![ADMIN, FS_ADMIN],
        ] {
            let a = ex
                .table
                .decide_in(TargetKind::Tool, tool, &ex.held(&scopes), &context);
            let held = loaded.scopes().set_of(scopes.iter().copied());
            let b = loaded.decide_in(TargetKind::Tool, tool, &held, &context);
            assert_eq!(a, b, "{tool} {scopes:?}");
        }
    }
}

/// An artifact of one rule `tool t requires a` with these atoms and this
/// rule body.
fn artifact(atoms: Value, rule_body: Value) -> String {
    let mut rule = json!({"kind": "tool", "target": {"exact": "t"}, "text": "t", "line": 1});
    for (key, value) in object(rule_body) {
        rule[key] = value;
    }
    json!({
        "format": "mcp-policy-table",
        "version": 3,
        "default": "deny",
        "scopes": [{"name": "a", "level": "read"}],
        "atoms": atoms,
        "rules": [rule],
    })
    .to_string()
}

fn rejected(json: &str) -> Vec<String> {
    match DecisionTable::from_artifact(json) {
        Err(ArtifactError::Rejected(defects)) => defects
            .iter()
            .map(|d| format!("{} {}", d.code(), d))
            .collect(),
        Err(other) => vec![format!("other: {other}")],
        Ok(_) => Vec::new(),
    }
}

#[test]
fn hand_edited_conditions_are_refused_with_reasons() {
    let eq = |text: &str, value: Value| json!({"text": text, "operand": {"arg": ["x"]}, "test": {"eq": value}});
    let allow_atom = json!({"allow": [[0]], "conditions": [[0]]});
    // Valid, as a baseline.
    assert!(rejected(&artifact(json!([eq("x", json!("a"))]), allow_atom.clone())).is_empty());
    for (atoms, body, expect) in [
        (
            json!([eq("x", json!(null))]),
            allow_atom.clone(),
            "invalid_condition",
        ),
        (
            json!([eq("x", json!([1]))]),
            allow_atom.clone(),
            "invalid_condition",
        ),
        (
            json!([{"text": "u", "operand": {"arg": ["p"]}, "test": {"under": "/w/../x"}}]),
            allow_atom.clone(),
            "not in normal form",
        ),
        (
            json!([{"text": "u", "operand": {"arg": ["p"]}, "test": {"under": "w"}}]),
            allow_atom.clone(),
            "not absolute",
        ),
        (
            json!([{"text": "u", "operand": {"arg": ["p"]}, "test": {"under": "/w\\x"}}]),
            allow_atom.clone(),
            "backslash",
        ),
        (
            json!([{"text": "n", "operand": {"arg": ["p"]}, "test": {"le": "5"}}]),
            allow_atom.clone(),
            "not a finite number",
        ),
        (
            json!([{"text": "i", "operand": {"arg": ["p"]}, "test": {"in": []}}]),
            allow_atom.clone(),
            "empty `in` list",
        ),
        (
            json!([{"text": "m", "operand": {"arg": ["p"]}, "test": {"matches": ""}}]),
            allow_atom.clone(),
            "empty `matches` glob",
        ),
        (
            json!([{"text": "n", "operand": {"arg": ["p"]}, "test": {"le": 1e20}}]),
            allow_atom.clone(),
            "no comparison holds exactly",
        ),
        (
            json!([eq("x", json!(i64::MIN))]),
            allow_atom.clone(),
            "no comparison holds exactly",
        ),
        (
            json!([{"text": "i", "operand": {"arg": ["p"]}, "test": {"in": [1, 1.8446744073709552e19]}}]),
            allow_atom.clone(),
            "no comparison holds exactly",
        ),
        (
            json!([{"text": "e", "operand": {"claim": []}, "test": {"eq": 1}}]),
            allow_atom.clone(),
            "names no key",
        ),
        (
            json!([eq("one", json!("a")), {"text": "two", "operand": {"arg": ["x"]}, "test": {"in": ["a"]}}]),
            allow_atom.clone(),
            "duplicate_atom",
        ),
        (
            json!([eq("x", json!("a"))]),
            json!({"allow": [[0], []], "conditions": [[0]]}),
            "do not fit",
        ),
        (
            json!([eq("x", json!("a"))]),
            json!({"conditions": [[0]]}),
            "do not fit",
        ),
        (
            json!([eq("x", json!("a"))]),
            json!({"allow": [[0]], "deny_when": [[0]]}),
            "do not fit",
        ),
    ] {
        let found = rejected(&artifact(atoms.clone(), body.clone()));
        assert!(
            found.iter().any(|defect| defect.contains(expect)),
            "{atoms} {body}: {found:?}"
        );
    }
    // Out-of-range atom ids are an invalid table, not a panic.
    for body in [
        json!({"allow": [[0]], "conditions": [[7]]}),
        json!({"deny_when": [[7]]}),
        json!({"deny_when": []}),
        json!({"deny_when": [[]]}),
    ] {
        assert!(
            matches!(
                DecisionTable::from_artifact(&artifact(json!([eq("x", json!("a"))]), body.clone())),
                Err(ArtifactError::Invalid(_))
            ),
            "{body}"
        );
    }
    // A number beyond f64 is not JSON serde_json reads.
    assert!(DecisionTable::from_artifact(&artifact(json!([]), json!({}))).is_ok());
    let huge = artifact(json!([]), json!({})).replace(
        "\"atoms\":[]",
        "\"atoms\":[{\"text\":\"n\",\"operand\":{\"arg\":[\"n\"]},\"test\":{\"le\":1e400}}]",
    );
    assert!(DecisionTable::from_artifact(&huge).is_err());
}

/// A version 2 server refuses conditions by its version; a file that
/// claims version 2 (or 1) and carries them was not written by `compile`.
#[test]
fn conditions_in_an_older_version_are_refused() {
    let atoms = json!([{"text": "arg.x == \"a\"", "operand": {"arg": ["x"]}, "test": {"eq": "a"}}]);
    for version in [1, 2] {
        for (atoms, body, field) in [
            (
                atoms.clone(),
                json!({"allow": [[0]], "conditions": [[0]]}),
                "atoms",
            ),
            (
                json!([]),
                json!({"allow": [[0]], "conditions": [[]]}),
                "conditions",
            ),
            (json!([]), json!({"deny_when": [[]]}), "deny_when"),
        ] {
            let old = artifact(atoms, body.clone())
                .replace("\"version\":3", &format!("\"version\":{version}"));
            match DecisionTable::from_artifact(&old) {
                Err(error @ ArtifactError::FieldTooNew { .. }) => {
                    assert!(
                        error
                            .to_string()
                            .contains(&format!("version {version} has no `{field}`")),
                        "{error}"
                    );
                }
                other => panic!("version {version}, {body}: {other:?}"),
            }
        }
    }
    // The same tables as version 3 load (or fail for their own reasons).
    assert!(
        DecisionTable::from_artifact(&artifact(
            atoms,
            json!({"allow": [[0]], "conditions": [[0]]})
        ))
        .is_ok()
    );
}

#[test]
fn a_deny_when_beside_its_target_rule_is_no_duplicate() {
    let ex = example();
    assert!(table_defects(ex.table.scopes(), ex.table.rules()).is_empty());
    let mut rules = ex.table.rules().to_vec();
    rules.push(rules[5].clone());
    let defects = table_defects(ex.table.scopes(), &rules);
    assert!(
        matches!(defects.as_slice(), [Defect::DuplicateRule { .. }]),
        "{defects:?}"
    );
}

/// 256 clauses of 40 atoms each, all failing: the explanation traces each
/// of the 10,240 atoms once, and stays fast.
#[test]
fn a_huge_conditional_rule_explains_in_linear_time() {
    let scopes = ScopeCatalog::new(vec![scope("a", &[])]).unwrap();
    let mut atoms = AtomCatalog::new();
    let clauses: Vec<Clause> = (0..256)
        .map(|c| {
            let ids = (0..40)
                .map(|a| {
                    let key = format!("k{c}_{a}");
                    atoms.intern(
                        Atom::new(Operand::arg([key.as_str()]), Op::Eq(Literal::Bool(true)))
                            .unwrap(),
                        format!("arg.{key} == true"),
                    )
                })
                .collect();
            Clause {
                scopes: vec![ScopeId(0)],
                atoms: ids,
            }
        })
        .collect();
    let table = DecisionTable::with_atoms(
        None,
        DefaultEffect::Deny,
        scopes,
        atoms,
        vec![rule(
            Target::Exact("t".into()),
            Effect::Allow(clauses),
            "t",
            1,
        )],
    )
    .unwrap();
    let arguments = object(json!({"k0_0": true}));
    let started = std::time::Instant::now();
    let explanation = table.explain_in(
        TargetKind::Tool,
        "t",
        &table.scopes().set_of([ScopeId(0)]),
        &Context::new(Some(&arguments), None),
    );
    assert_eq!(explanation.conditions.len(), 10_240);
    let Remedy::ConditionsFailed(failing) = &explanation.remedy else {
        panic!("{:?}", explanation.remedy)
    };
    assert_eq!(failing.len(), 10_239);
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}

/// A table without conditions is written as before: version 2, no condition
/// field, so version 2 servers keep loading it.
#[test]
fn an_unconditional_artifact_stays_version_2() {
    let table = DecisionTable::new(
        None,
        DefaultEffect::Deny,
        ScopeCatalog::new(vec![scope("a", &[])]).unwrap(),
        vec![
            rule(
                Target::Exact("t".into()),
                Effect::Allow(vec![Clause::of_scopes(vec![ScopeId(0)])]),
                "tool t requires a",
                1,
            ),
            rule(
                Target::Glob(Glob::new("x*")),
                Effect::Deny,
                "deny tool \"x*\"",
                2,
            ),
        ],
    )
    .unwrap();
    let artifact = table.to_artifact();
    let parsed: Value = serde_json::from_str(&artifact).unwrap();
    assert_eq!(parsed["version"], json!(2));
    for field in ["atoms", "conditions", "deny_when"] {
        assert!(!artifact.contains(field), "{field}: {artifact}");
    }
    assert_eq!(
        DecisionTable::from_artifact(&artifact)
            .unwrap()
            .to_artifact(),
        artifact
    );
}

/// Numbers in JSON's spelling, ascending; the spellings of one rank are
/// one number. Ranks 0, 19 and 20 lie beyond the integers JSON holds
/// exactly, and rank 1 is the float that integers just below it are read
/// as (a literal there is refused).
const LADDER: &[&[&str]] = &[
    &["-1e308"],
    &["-9223372036854775808"],
    &["-9223372036854775807"],
    &["-9007199254740993"],
    &["-9007199254740992", "-9007199254740992.0"],
    &["-1"],
    &["-5e-324"],
    &["0", "-0", "-0.0", "0.0", "0e5"],
    &["5e-324"],
    &["2.225073858507201e-308"],
    &["2.2250738585072014e-308"],
    &["0.5"],
    &["1", "1.0", "1e0", "100e-2"],
    &["9007199254740991"],
    &[
        "9007199254740992",
        "9007199254740992.0",
        "9.007199254740992e15",
    ],
    &["9007199254740993"],
    &["9223372036854775807"],
    &["9223372036854775808"],
    &["18446744073709551615"],
    &["18446744073709551616"],
    &["1e308"],
];

fn number_args(text: &str) -> Map<String, Value> {
    object(serde_json::from_str(&format!(r#"{{"n": {text}}}"#)).unwrap())
}

fn holds_on(atom: &Atom, arguments: &Map<String, Value>, claims: &Map<String, Value>) -> bool {
    atom.holds(&Context::new(Some(arguments), Some(claims)))
}

#[test]
fn numbers_at_the_extremes_compare_exactly_with_every_operator() {
    let n = || arg("n");
    let mut literals = 0;
    for (rank, spellings) in LADDER.iter().enumerate() {
        for literal in *spellings {
            let Ok(bound) = Num::literal(literal) else {
                assert!(
                    [0, 1, LADDER.len() - 2, LADDER.len() - 1].contains(&rank),
                    "{literal} refused"
                );
                continue;
            };
            literals += 1;
            let other = Literal::Number(Num::literal("123.25").unwrap());
            let atoms = [
                (Op::Eq(Literal::Number(bound)), "=="),
                (Op::Ne(Literal::Number(bound)), "!="),
                (Op::Compare(Comparison::Lt, bound), "<"),
                (Op::Compare(Comparison::Le, bound), "<="),
                (Op::Compare(Comparison::Gt, bound), ">"),
                (Op::Compare(Comparison::Ge, bound), ">="),
                (Op::In(vec![Literal::Number(bound), other]), "in"),
            ];
            for (arg_rank, arg_spellings) in LADDER.iter().enumerate() {
                for arg_text in *arg_spellings {
                    let arguments = number_args(arg_text);
                    for (op, name) in &atoms {
                        let expected = match *name {
                            "==" | "in" => arg_rank == rank,
                            "!=" => arg_rank != rank,
                            "<" => arg_rank < rank,
                            "<=" => arg_rank <= rank,
                            ">" => arg_rank > rank,
                            _ => arg_rank >= rank,
                        };
                        let atom = Atom::new(n(), op.clone()).unwrap();
                        assert_eq!(
                            holds_on(&atom, &arguments, &Map::new()),
                            expected,
                            "arg.n = {arg_text}: arg.n {name} {literal}"
                        );
                    }
                }
            }
        }
    }
    assert_eq!(literals, 27);
}

#[test]
fn arguments_are_read_correctly_rounded() {
    // serde_json's default parser reads these halfway cases one float too
    // high; with `float_roundtrip` they are read as `str::parse` reads
    // them, as the server reading them as a 64-bit float does.
    for (text, equals, instead) in [
        ("9007199254740993.0", "9007199254740992", "9007199254740994"),
        (
            "1.00000000000000011102230246251565404236316680908203125",
            "1",
            "1.0000000000000002",
        ),
        (
            "2.2250738585072011e-308",
            "2.225073858507201e-308",
            "2.2250738585072014e-308",
        ),
    ] {
        let parsed: f64 = text.parse().unwrap();
        assert_eq!(Num::float(parsed), Num::literal(equals).ok(), "{text}");
        let arguments = number_args(text);
        let holds = |op: Op| holds_on(&Atom::new(arg("n"), op).unwrap(), &arguments, &Map::new());
        let equals = Num::literal(equals).unwrap();
        let instead = Num::literal(instead).unwrap();
        assert!(holds(Op::Eq(Literal::Number(equals))), "{text}");
        assert!(!holds(Op::Eq(Literal::Number(instead))), "{text}");
        assert!(holds(Op::Compare(Comparison::Lt, instead)), "{text}");
        assert!(!holds(Op::Compare(Comparison::Gt, equals)), "{text}");
    }
}

#[test]
fn an_argument_and_a_claim_compare_exactly() {
    let eq = Atom::new(arg("n"), Op::EqOperand(claim("m"))).unwrap();
    let ne = Atom::new(arg("n"), Op::NeOperand(claim("m"))).unwrap();
    let claims = |text: &str| object(serde_json::from_str(&format!(r#"{{"m": {text}}}"#)).unwrap());
    // Within the exact range (rank 1 to 18), equal exactly when the rank
    // is: u64 against i64 against f64, in both directions.
    for (rank, spellings) in LADDER.iter().enumerate().take(LADDER.len() - 2).skip(1) {
        for (other_rank, other_spellings) in LADDER.iter().enumerate() {
            for (left, right) in spellings
                .iter()
                .flat_map(|a| other_spellings.iter().map(move |b| (*a, *b)))
            {
                for (a, b) in [(left, right), (right, left)] {
                    let (arguments, claims) = (number_args(a), claims(b));
                    let equal = rank == other_rank;
                    assert_eq!(
                        holds_on(&eq, &arguments, &claims),
                        equal,
                        "arg.n = {a} == claim.m = {b}"
                    );
                    assert_eq!(
                        holds_on(&ne, &arguments, &claims),
                        !equal,
                        "arg.n = {a} != claim.m = {b}"
                    );
                }
            }
        }
    }
    // Huge and unequal, though one float would hold both.
    for (a, b) in [
        ("18446744073709551615", "18446744073709551614"),
        ("9007199254740993", "9007199254740992.0"),
        ("-9223372036854775808", "-9223372036854775807"),
        ("9223372036854775808", "9223372036854775807"),
    ] {
        for (a, b) in [(a, b), (b, a)] {
            assert!(!holds_on(&eq, &number_args(a), &claims(b)), "{a} == {b}");
            assert!(holds_on(&ne, &number_args(a), &claims(b)), "{a} != {b}");
        }
    }
    // The limit (SPEC.md, "Numbers"): beyond the exact integers, JSON
    // numbers are read as the nearest float, so two integers that round
    // to one float are equal; a number spelled as a float is that float.
    for (a, b) in [
        ("18446744073709551617", "18446744073709551616"),
        ("1e308", format!("1{}1", "0".repeat(307)).as_str()),
        ("-9223372036854775807.0", "-9223372036854775808"),
        ("-9223372036854775809", "-9223372036854775808"),
    ] {
        assert!(holds_on(&eq, &number_args(a), &claims(b)), "{a} == {b}");
        assert!(!holds_on(&ne, &number_args(a), &claims(b)), "{a} != {b}");
    }
}
