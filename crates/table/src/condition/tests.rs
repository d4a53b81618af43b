#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use serde_json::{Map, Value, json};

use super::*;

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn arg(path: &str) -> Operand {
    Operand::arg(path.split('.'))
}

fn claim(path: &str) -> Operand {
    Operand::claim(path.split('.'))
}

fn s(text: &str) -> Literal {
    Literal::String(text.into())
}

fn n(value: i64) -> Literal {
    Literal::Number(Num::from(value))
}

/// The outcome of `atom` on these arguments and claims.
fn check(atom: &Atom, arguments: Value, claims: Value) -> Result<(), Falsity> {
    let (arguments, claims) = (object(arguments), object(claims));
    atom.check(&Context::new(Some(&arguments), Some(&claims)))
}

fn on_args(atom: &Atom, arguments: Value) -> Result<(), Falsity> {
    check(atom, arguments, json!({}))
}

fn atom(operand: Operand, op: Op) -> Atom {
    Atom::new(operand, op).unwrap()
}

#[test]
fn operands_read_nested_keys_of_any_spelling() {
    let arguments = object(json!({"a": {"b.c": {"": 1}}, "x": [1]}));
    let context = Context::new(Some(&arguments), None);
    let nested = Operand::arg(["a", "b.c", ""]);
    assert_eq!(nested.read(&context), Some(&json!(1)));
    assert_eq!(
        Operand::arg(["x", "0"]).read(&context),
        None,
        "arrays are not indexed"
    );
    assert_eq!(Operand::arg(["a", "b"]).read(&context), None);
    assert_eq!(Operand::claim(["a"]).read(&context), None, "no claims");
    assert_eq!(Operand::arg(["a"]).read(&Context::EMPTY), None);
}

#[test]
fn equality_is_typed_and_fails_closed_on_missing_values() {
    let repo = atom(arg("repo"), Op::Eq(s("acme/x")));
    assert_eq!(on_args(&repo, json!({"repo": "acme/x"})), Ok(()));
    assert_eq!(
        on_args(&repo, json!({"repo": "acme/y"})),
        Err(Falsity::Differs)
    );
    assert_eq!(on_args(&repo, json!({})), Err(Falsity::Missing));
    assert_eq!(
        on_args(&repo, json!({"repo": ["acme/x"]})),
        Err(Falsity::WrongType {
            expected: JsonType::String,
            found: JsonType::Array
        })
    );
    assert!(on_args(&repo, json!({"repo": null})).is_err());
    let flag = atom(arg("force"), Op::Eq(Literal::Bool(true)));
    assert_eq!(on_args(&flag, json!({"force": true})), Ok(()));
    assert!(on_args(&flag, json!({"force": "true"})).is_err());
    assert!(on_args(&flag, json!({"force": 1})).is_err());
    let one = atom(arg("n"), Op::Eq(n(1)));
    assert_eq!(on_args(&one, json!({"n": 1.0})), Ok(()));
    assert!(on_args(&one, json!({"n": "1"})).is_err());
}

#[test]
fn not_equal_holds_only_on_a_present_value_of_the_same_type() {
    let ne = atom(claim("tenant"), Op::Ne(s("evil")));
    assert_eq!(check(&ne, json!({}), json!({"tenant": "acme"})), Ok(()));
    assert_eq!(
        check(&ne, json!({}), json!({"tenant": "evil"})),
        Err(Falsity::Equal)
    );
    assert_eq!(check(&ne, json!({}), json!({})), Err(Falsity::Missing));
    assert!(check(&ne, json!({}), json!({"tenant": 3})).is_err());
    assert!(check(&ne, json!({}), json!({"tenant": null})).is_err());
    assert!(!ne.holds(&Context::EMPTY));
}

#[test]
fn operand_comparisons_need_both_sides_of_one_scalar_type() {
    let owner = atom(arg("owner"), Op::EqOperand(claim("sub")));
    assert_eq!(
        check(&owner, json!({"owner": "alice"}), json!({"sub": "alice"})),
        Ok(())
    );
    assert_eq!(
        check(&owner, json!({"owner": "bob"}), json!({"sub": "alice"})),
        Err(Falsity::Differs)
    );
    // Normalised: the claim stands left, so its absence is `Missing`.
    assert_eq!(owner.operand(), &arg("owner"));
    assert_eq!(
        check(&owner, json!({}), json!({"sub": "alice"})),
        Err(Falsity::Missing)
    );
    assert_eq!(
        check(&owner, json!({"owner": "alice"}), json!({})),
        Err(Falsity::OtherMissing)
    );
    assert_eq!(
        check(&owner, json!({"owner": 7}), json!({"sub": "7"})),
        Err(Falsity::TypesDiffer {
            left: JsonType::Number,
            right: JsonType::String
        })
    );
    // Two missing values are not equal, and two nulls or objects do not compare.
    assert!(check(&owner, json!({}), json!({})).is_err());
    assert!(check(&owner, json!({"owner": null}), json!({"sub": null})).is_err());
    assert!(check(&owner, json!({"owner": {}}), json!({"sub": {}})).is_err());
    assert_eq!(
        check(&owner, json!({"owner": 7}), json!({"sub": 7.0})),
        Ok(())
    );
    let ne = atom(arg("owner"), Op::NeOperand(claim("sub")));
    assert_eq!(
        check(&ne, json!({"owner": "bob"}), json!({"sub": "alice"})),
        Ok(())
    );
    assert_eq!(
        check(&ne, json!({"owner": "alice"}), json!({"sub": "alice"})),
        Err(Falsity::Equal)
    );
    assert!(check(&ne, json!({}), json!({"sub": "alice"})).is_err());
    assert!(check(&ne, json!({"owner": 1}), json!({"sub": "1"})).is_err());
}

#[test]
fn operand_order_does_not_make_two_atoms() {
    let a = atom(arg("owner"), Op::EqOperand(claim("sub")));
    let b = atom(claim("sub"), Op::EqOperand(arg("owner")));
    assert_eq!(a, b);
}

#[test]
fn in_lists_normalise() {
    let single = atom(arg("x"), Op::In(vec![s("a")]));
    assert_eq!(single, atom(arg("x"), Op::Eq(s("a"))));
    let list = atom(arg("x"), Op::In(vec![s("b"), s("a"), s("b")]));
    assert_eq!(list, atom(arg("x"), Op::In(vec![s("a"), s("b")])));
    assert_eq!(on_args(&list, json!({"x": "b"})), Ok(()));
    assert_eq!(on_args(&list, json!({"x": "c"})), Err(Falsity::Differs));
    assert!(matches!(
        on_args(&list, json!({"x": 1})),
        Err(Falsity::WrongType { .. })
    ));
    let mixed = atom(arg("x"), Op::In(vec![s("a"), n(1), Literal::Bool(false)]));
    assert_eq!(on_args(&mixed, json!({"x": 1.0})), Ok(()));
    assert_eq!(on_args(&mixed, json!({"x": false})), Ok(()));
    assert_eq!(on_args(&mixed, json!({"x": 2})), Err(Falsity::Differs));
    let empty = atom(arg("x"), Op::In(vec![]));
    assert!(on_args(&empty, json!({"x": "a"})).is_err());
}

#[test]
fn comparisons_are_exact_at_the_extremes() {
    let le = |bound: Num| atom(arg("n"), Op::Compare(Comparison::Le, bound));
    let limit = le(Num::from(100i64));
    assert_eq!(on_args(&limit, json!({"n": 100})), Ok(()));
    assert_eq!(on_args(&limit, json!({"n": 100.0})), Ok(()));
    assert_eq!(
        on_args(&limit, json!({"n": 100.000001})),
        Err(Falsity::OutOfBound)
    );
    assert_eq!(on_args(&limit, json!({"n": -1e308})), Ok(()));
    assert_eq!(
        on_args(&limit, json!({"n": u64::MAX})),
        Err(Falsity::OutOfBound)
    );
    assert_eq!(on_args(&limit, json!({"n": i64::MIN})), Ok(()));
    assert!(matches!(
        on_args(&limit, json!({"n": "5"})),
        Err(Falsity::WrongType { .. })
    ));
    assert_eq!(on_args(&limit, json!({})), Err(Falsity::Missing));
    // 2^53 + 1 is above 2^53, though f64 cannot tell them apart.
    let big = atom(
        arg("n"),
        Op::Compare(Comparison::Gt, Num::from(9_007_199_254_740_992u64)),
    );
    assert_eq!(
        on_args(&big, json!({"n": 9_007_199_254_740_993u64})),
        Ok(())
    );
    assert!(on_args(&big, json!({"n": 9_007_199_254_740_992u64})).is_err());
    let max = le(Num::from(u64::MAX - 1));
    assert!(on_args(&max, json!({"n": u64::MAX})).is_err());
    assert_eq!(on_args(&max, json!({"n": u64::MAX - 1})), Ok(()));
    let min = atom(
        arg("n"),
        Op::Compare(Comparison::Ge, Num::from(i64::MIN + 1)),
    );
    assert!(on_args(&min, json!({"n": i64::MIN})).is_err());
    let lt = atom(
        arg("n"),
        Op::Compare(Comparison::Lt, Num::float(0.5).unwrap()),
    );
    assert_eq!(on_args(&lt, json!({"n": 0})), Ok(()));
    assert!(on_args(&lt, json!({"n": 0.5})).is_err());
    let gt = atom(arg("n"), Op::Compare(Comparison::Gt, Num::from(-1i64)));
    assert_eq!(on_args(&gt, json!({"n": -0.5})), Ok(()));
    assert!(on_args(&gt, json!({"n": -1})).is_err());
}

#[test]
fn contains_reads_arrays_only() {
    let suspended = atom(claim("groups"), Op::Contains(s("suspended")));
    let on = |claims| check(&suspended, json!({}), claims);
    assert_eq!(on(json!({"groups": ["staff", "suspended"]})), Ok(()));
    assert_eq!(on(json!({"groups": ["staff"]})), Err(Falsity::NotContained));
    assert_eq!(on(json!({"groups": []})), Err(Falsity::NotContained));
    assert!(matches!(
        on(json!({"groups": "suspended"})),
        Err(Falsity::WrongType { .. })
    ));
    assert_eq!(on(json!({})), Err(Falsity::Missing));
    // Elements compare typed: 1 is not "1".
    let one = atom(claim("ids"), Op::Contains(n(1)));
    assert_eq!(check(&one, json!({}), json!({"ids": ["1", 1.0]})), Ok(()));
    assert!(check(&one, json!({}), json!({"ids": ["1", [1]]})).is_err());
}

#[test]
fn matches_uses_the_target_glob_syntax() {
    let repo = atom(arg("repo"), Op::Matches(Glob::new("acme/*")));
    assert_eq!(on_args(&repo, json!({"repo": "acme/tools"})), Ok(()));
    assert_eq!(
        on_args(&repo, json!({"repo": "acme/a/b"})),
        Ok(()),
        "* crosses /"
    );
    assert_eq!(
        on_args(&repo, json!({"repo": "evil/acme/x"})),
        Err(Falsity::NoMatch)
    );
    assert!(matches!(
        on_args(&repo, json!({"repo": 1})),
        Err(Falsity::WrongType { .. })
    ));
    let env = atom(arg("path"), Op::Matches(Glob::new("**/.env")));
    assert_eq!(on_args(&env, json!({"path": "/w/.env"})), Ok(()));
    assert!(on_args(&env, json!({"path": "/w/.envrc"})).is_err());
}

#[test]
fn under_confines_paths_and_fails_closed() {
    let confined = Atom::under(arg("path"), "/workspace").unwrap();
    let on = |path: Value| on_args(&confined, json!({ "path": path }));
    assert_eq!(on(json!("/workspace/a")), Ok(()));
    assert_eq!(on(json!("/workspace/./a")), Ok(()));
    assert_eq!(on(json!("//workspace/a")), Ok(()));
    assert_eq!(on(json!("/workspace/")), Ok(()));
    assert_eq!(on(json!("/workspace/a/../b")), Ok(()));
    assert_eq!(on(json!("/workspace/../etc/passwd")), Err(Falsity::Outside));
    assert_eq!(on(json!("/workspace2")), Err(Falsity::Outside));
    assert_eq!(on(json!("/workspace/a/../../etc")), Err(Falsity::Outside));
    assert_eq!(on(json!("/workspace/a\u{0}")), Err(Falsity::Nul));
    assert_eq!(on(json!("/workspace\\a")), Err(Falsity::Backslash));
    assert_eq!(on(json!("workspace/a")), Err(Falsity::Relative));
    assert_eq!(on(json!("")), Err(Falsity::Relative));
    assert!(matches!(
        on(json!(["/workspace/a"])),
        Err(Falsity::WrongType { .. })
    ));
    assert!(matches!(on(json!(null)), Err(Falsity::WrongType { .. })));
    let deep = format!("/workspace{}", "/a".repeat(10_000));
    assert_eq!(on(json!(deep)), Ok(()));
    // The base is stored normalised; a base that is not a path is refused.
    assert_eq!(
        Atom::under(arg("path"), "/workspace/./x/").unwrap(),
        Atom::under(arg("path"), "/workspace/x").unwrap()
    );
    assert!(matches!(
        Atom::under(arg("path"), "workspace"),
        Err(AtomError::Base { .. })
    ));
}

/// The attack this guards against: `deny tool read_file when arg.path
/// under "/etc"` must not let `/etc/passwd\0` through (C stops at the
/// NUL), nor `etc/passwd` (a server in `/` opens `/etc/passwd`), nor a
/// backslash or a `..` above the root that another reader may place
/// inside `/etc`. An allow clause still fails closed on each.
#[test]
fn an_undecided_under_fails_closed_both_ways() {
    let etc = Atom::under(arg("path"), "/etc").unwrap();
    let context = |path: &str| object(json!({ "path": path }));
    for path in [
        "/etc/passwd\u{0}",
        "/etc/passwd\u{0}/../../tmp",
        "etc/passwd",
        "",
        "\\etc\\passwd",
        "/tmp\\..\\etc/passwd",
        "/../etc/passwd",
        "/tmp/../../etc",
    ] {
        let arguments = context(path);
        let on = Context::new(Some(&arguments), None);
        let falsity = etc.check(&on).unwrap_err();
        assert!(falsity.is_undecided(), "{path:?}: {falsity:?}");
        assert!(!etc.holds(&on), "an allow clause fails closed on {path:?}");
        assert!(etc.fires(&on), "a deny fires on {path:?}");
    }
    // Decided outcomes read the same both ways.
    for (path, holds) in [("/etc/passwd", true), ("/etc", true), ("/tmp/x", false)] {
        let arguments = context(path);
        let on = Context::new(Some(&arguments), None);
        assert_eq!((etc.holds(&on), etc.fires(&on)), (holds, holds), "{path:?}");
    }
    // Missing, or not a string: false both ways (a deny on a value that
    // is not there does not fire, as everywhere else).
    for arguments in [
        json!({}),
        json!({"path": ["/etc/passwd"]}),
        json!({"path": 7}),
    ] {
        let arguments = object(arguments);
        let on = Context::new(Some(&arguments), None);
        assert!(!etc.holds(&on) && !etc.fires(&on), "{arguments:?}");
    }
    // Only `under` has undecided outcomes.
    let nul = object(json!({"path": "/etc/x\u{0}"}));
    let on = Context::new(Some(&nul), None);
    let glob = atom(arg("path"), Op::Matches(Glob::new("/tmp/*")));
    assert!(!glob.holds(&on) && !glob.fires(&on));
    // A claim read by `under` is undecided the same way, from the claims
    // alone (a list hides what a deny surely fires on).
    let home = Atom::under(claim("home"), "/etc").unwrap();
    let claims = object(json!({"home": "etc"}));
    assert_eq!(home.from_claims(Some(&claims), Reading::Allow), Some(false));
    assert_eq!(home.from_claims(Some(&claims), Reading::Deny), Some(true));
}

#[test]
fn an_operand_without_a_key_is_refused() {
    assert_eq!(
        Atom::new(Operand::arg(Vec::<String>::new()), Op::Eq(s("a"))),
        Err(AtomError::EmptyPath)
    );
    assert_eq!(
        Atom::new(
            arg("a"),
            Op::EqOperand(Operand::claim(Vec::<String>::new()))
        ),
        Err(AtomError::EmptyPath)
    );
}

#[test]
fn cost_orders_cheap_tests_first() {
    let costs: Vec<u8> = [
        atom(arg("n"), Op::Compare(Comparison::Le, Num::from(1i64))),
        atom(arg("x"), Op::Eq(s("a"))),
        atom(arg("x"), Op::In(vec![s("a"), s("b")])),
        atom(arg("x"), Op::Contains(s("a"))),
        atom(arg("x"), Op::Matches(Glob::new("a*"))),
        Atom::under(arg("x"), "/a").unwrap(),
    ]
    .iter()
    .map(Atom::cost)
    .collect();
    assert!(costs.windows(2).all(|pair| pair[0] < pair[1]), "{costs:?}");
}

#[test]
fn claims_alone_decide_claim_atoms_and_leave_argument_atoms_open() {
    let claims = object(json!({"tenant": "acme", "sub": "alice", "groups": {}}));
    let tenant = atom(claim("tenant"), Op::Eq(s("acme")));
    assert_eq!(
        tenant.from_claims(Some(&claims), Reading::Allow),
        Some(true)
    );
    assert_eq!(tenant.from_claims(None, Reading::Allow), Some(false));
    let repo = atom(arg("repo"), Op::Matches(Glob::new("acme/*")));
    assert_eq!(repo.from_claims(Some(&claims), Reading::Allow), None);
    let owner = atom(arg("owner"), Op::EqOperand(claim("sub")));
    assert_eq!(owner.from_claims(Some(&claims), Reading::Allow), None);
    assert_eq!(
        owner.from_claims(None, Reading::Deny),
        Some(false),
        "no `sub`: never equal"
    );
    let groups = atom(arg("g"), Op::EqOperand(claim("groups")));
    assert_eq!(
        groups.from_claims(Some(&claims), Reading::Deny),
        Some(false),
        "an object never compares"
    );
}

#[test]
fn traces_copy_what_was_read() {
    let owner = atom(arg("owner"), Op::EqOperand(claim("sub")));
    let (arguments, claims) = (
        object(json!({"owner": "bob"})),
        object(json!({"sub": "alice"})),
    );
    let trace = owner.trace(AtomId(3), &Context::new(Some(&arguments), Some(&claims)));
    assert_eq!(
        trace,
        AtomTrace {
            atom: AtomId(3),
            holds: false,
            value: Some(json!("bob")),
            other: Some(json!("alice")),
            why: Some(Falsity::Differs),
        }
    );
    let missing = atom(arg("x"), Op::Eq(s("a"))).trace(AtomId(0), &Context::EMPTY);
    assert_eq!((missing.value, missing.why), (None, Some(Falsity::Missing)));
}

#[test]
fn the_catalog_stores_each_atom_once() {
    let mut catalog = AtomCatalog::new();
    let a = catalog.intern(atom(arg("x"), Op::Eq(s("a"))), r#"arg.x == "a""#);
    let b = catalog.intern(atom(arg("x"), Op::In(vec![s("a")])), r#"arg.x in ["a"]"#);
    let c = catalog.intern(atom(arg("x"), Op::Eq(s("b"))), r#"arg.x == "b""#);
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(catalog.len(), 2);
    assert_eq!(catalog.text(a), r#"arg.x == "a""#);
    assert_eq!(catalog.text(AtomId(99)), "");
    let five = catalog.intern(atom(arg("n"), Op::Eq(n(5))), "arg.n == 5");
    let five_float = catalog.intern(
        atom(arg("n"), Op::Eq(Literal::Number(Num::float(5.0).unwrap()))),
        "arg.n == 5.0",
    );
    assert_eq!(five, five_float);
}

#[test]
fn falsities_read_as_reasons() {
    assert_eq!(Falsity::Missing.to_string(), "missing");
    assert_eq!(
        Falsity::WrongType {
            expected: JsonType::String,
            found: JsonType::Number
        }
        .to_string(),
        "a number, not a string"
    );
    assert_eq!(Falsity::Outside.to_string(), "leaves the base");
}
