//! Policies with conditions on arguments and claims, built by hand: the
//! language cannot write them yet. A policy starts from an unconditional
//! source (its scopes and rules), then gains rules whose clauses hold atoms,
//! and is loaded as a compiled artifact, so that it is checked exactly as a
//! policy file would be.

use mcp_policy_evaluator::Evaluator;
use mcp_policy_table::condition::{Atom, AtomCatalog, AtomId, Literal, Op, Operand};
use mcp_policy_table::{
    Clause, DecisionTable, DefaultEffect, Effect, Glob, Rule, ScopeCatalog, Target, TargetKind,
};

pub struct Conditional {
    name: Option<String>,
    default: DefaultEffect,
    scopes: ScopeCatalog,
    atoms: AtomCatalog,
    rules: Vec<Rule>,
}

fn target(pattern: &str) -> Target {
    if pattern.contains('*') {
        Target::Glob(Glob::new(pattern))
    } else {
        Target::Exact(pattern.to_owned())
    }
}

impl Conditional {
    /// The scopes and rules of `source`.
    pub fn from_source(source: &str) -> Conditional {
        let table = Evaluator::from_source(source).unwrap().table().clone();
        Conditional {
            name: table.name().map(str::to_owned),
            default: table.default_effect(),
            scopes: table.scopes().clone(),
            atoms: AtomCatalog::new(),
            rules: table.rules().to_vec(),
        }
    }

    /// The atom `text` spells.
    pub fn atom(&mut self, text: &str, operand: Operand, op: Op) -> AtomId {
        self.atoms.intern(Atom::new(operand, op).unwrap(), text)
    }

    /// `arg.PATH under "BASE"`.
    pub fn under(&mut self, path: &[&str], base: &str) -> AtomId {
        let text = format!("arg.{} under \"{base}\"", path.join("."));
        self.atoms.intern(
            Atom::under(Operand::arg(path.to_vec()), base).unwrap(),
            text,
        )
    }

    /// `claim.NAME == "VALUE"`.
    pub fn claim_is(&mut self, name: &str, value: &str) -> AtomId {
        self.atom(
            &format!("claim.{name} == \"{value}\""),
            Operand::claim([name]),
            Op::Eq(Literal::String(value.to_owned())),
        )
    }

    /// `arg.PATH == claim.NAME`.
    pub fn arg_is_claim(&mut self, path: &[&str], claim: &str) -> AtomId {
        self.atom(
            &format!("arg.{} == claim.{claim}", path.join(".")),
            Operand::arg(path.to_vec()),
            Op::EqOperand(Operand::claim([claim])),
        )
    }

    /// `KIND TARGET requires any_of(all_of(SCOPES, ATOMS), ...)`, in place
    /// of the source's allow rule of that target, if any.
    pub fn allow(
        mut self,
        kind: TargetKind,
        pattern: &str,
        text: &str,
        clauses: &[(&[&str], &[AtomId])],
    ) -> Conditional {
        let clauses = clauses
            .iter()
            .map(|(scopes, atoms)| {
                let mut scopes: Vec<_> = scopes
                    .iter()
                    .map(|name| self.scopes.lookup(name).unwrap())
                    .collect();
                scopes.sort();
                Clause {
                    scopes,
                    atoms: atoms.to_vec(),
                }
            })
            .collect();
        self.rules.retain(|rule| {
            !(rule.kind == kind
                && rule.target == target(pattern)
                && matches!(rule.effect, Effect::Allow(_)))
        });
        self.push(kind, pattern, text, Effect::Allow(clauses));
        self
    }

    /// `deny KIND TARGET when any_of(all_of(ATOMS), ...)`.
    pub fn deny_when(
        mut self,
        kind: TargetKind,
        pattern: &str,
        text: &str,
        conjuncts: &[&[AtomId]],
    ) -> Conditional {
        let condition = conjuncts.iter().map(|atoms| atoms.to_vec()).collect();
        self.push(kind, pattern, text, Effect::DenyWhen(condition));
        self
    }

    fn push(&mut self, kind: TargetKind, pattern: &str, text: &str, effect: Effect) {
        let line = 1000 + self.rules.len() as u32;
        self.rules.push(Rule {
            kind,
            target: target(pattern),
            effect,
            text: text.to_owned(),
            line,
        });
    }

    /// The compiled artifact, as `mcp-policy compile` would write it.
    pub fn artifact(self) -> String {
        DecisionTable::with_atoms(self.name, self.default, self.scopes, self.atoms, self.rules)
            .unwrap()
            .to_artifact()
    }

    /// The policy, loaded from its artifact (checked as on any load).
    pub fn build(self) -> Evaluator {
        let artifact = self.artifact();
        let evaluator = Evaluator::from_artifact(&artifact)
            .unwrap_or_else(|error| panic!("{error}\n{artifact}"));
        assert!(evaluator.table().has_conditions());
        evaluator
    }
}

/// The tests' policy with conditions: the HTTP tests' `POLICY` and
///
/// ```text
/// tool read_file     requires all_of(mcp:read, arg.path under "/workspace")
/// deny tool read_file when arg.path matches "*.env"
/// tool write_file    requires any_of(mcp:admin, all_of(mcp:write, arg.path under "/workspace"))
/// tool "tenant_*"    requires all_of(mcp:read, claim.tenant == "acme")
/// tool same_tenant   requires all_of(mcp:read, arg.tenant == claim.tenant)
/// tool scan          requires mcp:read
/// deny tool scan when arg.path matches "*.env"
/// tool nested        requires all_of(mcp:read, arg.repo.owner == claim.sub)
/// prompt summarize   requires all_of(mcp:read, arg.lang in ["en", "fr"])
/// resource "tenant://*" requires all_of(mcp:read, claim.groups contains "readers")
/// ```
pub fn policy() -> Conditional {
    use TargetKind::{Prompt, Resource, Tool};
    let mut p = Conditional::from_source(super::POLICY);
    let workspace = p.under(&["path"], "/workspace");
    let env = p.atom(
        "arg.path matches \"*.env\"",
        Operand::arg(["path"]),
        Op::Matches(Glob::new("*.env")),
    );
    let acme = p.claim_is("tenant", "acme");
    let same = p.arg_is_claim(&["tenant"], "tenant");
    let owner = p.arg_is_claim(&["repo", "owner"], "sub");
    let lang = p.atom(
        "arg.lang in [\"en\", \"fr\"]",
        Operand::arg(["lang"]),
        Op::In(vec![
            Literal::String("en".into()),
            Literal::String("fr".into()),
        ]),
    );
    let readers = p.atom(
        "claim.groups contains \"readers\"",
        Operand::claim(["groups"]),
        Op::Contains(Literal::String("readers".into())),
    );
    p.allow(
        Tool,
        "read_file",
        "tool read_file requires all_of(mcp:read, arg.path under \"/workspace\")",
        &[(&["mcp:read"], &[workspace])],
    )
    .deny_when(
        Tool,
        "read_file",
        "deny tool read_file when arg.path matches \"*.env\"",
        &[&[env]],
    )
    .allow(
        Tool,
        "write_file",
        "tool write_file requires any_of(mcp:admin, all_of(mcp:write, arg.path under \"/workspace\"))",
        &[(&["mcp:admin"], &[]), (&["mcp:write"], &[workspace])],
    )
    .allow(
        Tool,
        "tenant_*",
        "tool \"tenant_*\" requires all_of(mcp:read, claim.tenant == \"acme\")",
        &[(&["mcp:read"], &[acme])],
    )
    .allow(
        Tool,
        "same_tenant",
        "tool same_tenant requires all_of(mcp:read, arg.tenant == claim.tenant)",
        &[(&["mcp:read"], &[same])],
    )
    .allow(Tool, "scan", "tool scan requires mcp:read", &[(&["mcp:read"], &[])])
    .deny_when(
        Tool,
        "scan",
        "deny tool scan when arg.path matches \"*.env\"",
        &[&[env]],
    )
    .allow(
        Tool,
        "nested",
        "tool nested requires all_of(mcp:read, arg.repo.owner == claim.sub)",
        &[(&["mcp:read"], &[owner])],
    )
    .allow(
        Prompt,
        "summarize",
        "prompt summarize requires all_of(mcp:read, arg.lang in [\"en\", \"fr\"])",
        &[(&["mcp:read"], &[lang])],
    )
    .allow(
        Resource,
        "tenant://*",
        "resource \"tenant://*\" requires all_of(mcp:read, claim.groups contains \"readers\")",
        &[(&["mcp:read"], &[readers])],
    )
}
