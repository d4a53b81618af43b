//! Names, cycles and conflicts: everything that makes a parsed policy mean
//! one thing. Every check runs even after an error, so one run reports every
//! mistake; the result is compiled only when no error was found.

mod condition;

use std::collections::HashMap;

use mcp_policy_table::condition::Atom;
use mcp_policy_table::{
    DefaultEffect, Glob, Level, MAX_PATTERN_CHARS, RESERVED_SCOPE_NAMES, ScopeId, ScopeInfo,
    TargetKind, ambiguous_globs, pattern_too_long, scope_token_problem,
};

use crate::ast::{
    Node, PolicyFile, Requirement, RuleDecl, ScopeDecl, Span, Statement, TargetPattern,
};
use crate::diagnostic::{Code, Diagnostic};
use crate::suggest::did_you_mean;
use crate::syntax::lexicon;

/// Where a requirement stands: what it may hold depends on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// After `requires`: scopes, `authenticated` and conditions.
    Requires(TargetKind),
    /// After a deny's `when`: conditions only.
    When(TargetKind),
}

/// A policy with its names resolved, ready to compile.
#[derive(Clone, Debug, Default)]
pub struct Resolved {
    pub name: Option<String>,
    pub default: DefaultEffect,
    pub scopes: Vec<ScopeInfo>,
    pub rules: Vec<ResolvedRule>,
}

#[derive(Clone, Debug)]
pub struct ResolvedRule {
    pub kind: TargetKind,
    pub target: TargetPattern,
    /// `None` for a deny rule.
    pub requirement: Option<Node<Req>>,
    /// A deny rule's condition: atoms only (`Req::Atom`, `AnyOf`, `AllOf`).
    pub when: Option<Node<Req>>,
    /// The rule as written, on one line.
    pub text: String,
    pub span: Span,
    pub line: u32,
}

/// A requirement with scope names resolved to ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Req {
    Authenticated,
    Scope(ScopeId),
    AnyOf(Vec<Node<Req>>),
    AllOf(Vec<Node<Req>>),
    /// A condition atom in normal form, with its canonical text.
    Atom {
        atom: Box<Atom>,
        text: String,
    },
    /// Stands in for a name that did not resolve; an error was reported, so
    /// a policy holding one is never compiled.
    Unresolved,
}

/// Checks a parsed file and resolves its names.
pub fn check(file: &PolicyFile, source: &str) -> (Resolved, Vec<Diagnostic>) {
    let mut checker = Checker {
        source,
        diagnostics: Vec::new(),
        scope_ids: HashMap::new(),
        scope_spans: Vec::new(),
        broken_scopes: &file.broken_scopes,
        newlines: source
            .bytes()
            .enumerate()
            .filter(|(_, byte)| *byte == b'\n')
            .map(|(at, _)| at)
            .collect(),
    };
    let resolved = checker.run(file);
    (resolved, checker.diagnostics)
}

struct Checker<'s> {
    source: &'s str,
    diagnostics: Vec<Diagnostic>,
    scope_ids: HashMap<String, ScopeId>,
    /// Per scope id, the span of its name in the declaration.
    scope_spans: Vec<Span>,
    /// Scopes whose declaration did not parse (see `PolicyFile::broken_scopes`).
    broken_scopes: &'s [String],
    /// The byte offset of every `\n` in the source, ascending.
    newlines: Vec<usize>,
}

impl Checker<'_> {
    fn run(&mut self, file: &PolicyFile) -> Resolved {
        let mut resolved = Resolved::default();
        let mut policy_name: Option<&Node<String>> = None;
        let mut default: Option<&Node<String>> = None;
        let mut scope_decls: Vec<&ScopeDecl> = Vec::new();
        let mut rule_decls: Vec<(&RuleDecl, Span)> = Vec::new();
        for statement in &file.statements {
            match &statement.node {
                Statement::Policy(name) => match policy_name {
                    Some(first) => self.push(
                        Diagnostic::error(Code::DuplicatePolicyName, "the policy is named twice")
                            .with_label(name.span, "second name")
                            .with_label(first.span, "first named here")
                            .with_help("a file holds one policy; remove one `policy` statement"),
                    ),
                    None => policy_name = Some(name),
                },
                Statement::Default(value) => match default {
                    Some(first) => self.push(
                        Diagnostic::error(Code::DuplicateDefault, "the default is set twice")
                            .with_label(value.span, "set again here")
                            .with_label(first.span, "first set here")
                            .with_help("keep one `default` statement"),
                    ),
                    None => default = Some(value),
                },
                Statement::Scope(decl) => scope_decls.push(decl),
                Statement::Rule(decl) => rule_decls.push((decl, statement.span)),
            }
        }
        resolved.name = policy_name.map(|name| name.node.clone());
        resolved.default = default.map_or(DefaultEffect::Deny, |value| self.default_effect(value));
        self.declare_scopes(&scope_decls);
        resolved.scopes = self.scope_infos(&scope_decls);
        self.check_cycles(&scope_decls, &resolved.scopes);
        resolved.rules = rule_decls
            .iter()
            .map(|(decl, span)| self.rule(decl, *span))
            .collect();
        self.check_duplicates(&resolved.rules);
        self.check_ambiguity(&resolved.rules);
        resolved
    }

    fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    /// The 1-based line of `offset`, as [`line_column`](crate::line_column) counts it, by a
    /// binary search of the line starts found once: counting newlines from
    /// the top for every rule made checking quadratic in the file's size.
    fn line_of(&self, offset: usize) -> u32 {
        let offset = offset.min(self.source.len());
        (self.newlines.partition_point(|newline| *newline < offset) + 1) as u32
    }

    fn default_effect(&mut self, value: &Node<String>) -> DefaultEffect {
        match value.node.as_str() {
            "deny" => DefaultEffect::Deny,
            "allow" => DefaultEffect::Allow,
            other => {
                let mut diagnostic =
                    Diagnostic::error(Code::UnknownDefault, format!("unknown default `{other}`"))
                        .with_label(value.span, "expected `deny` or `allow`");
                diagnostic = match did_you_mean(other, ["deny", "allow"]) {
                    Some(suggestion) => {
                        diagnostic.with_help(format!("did you mean `{suggestion}`?"))
                    }
                    None => diagnostic.with_help(
                        "write `default deny` (the default when omitted) or `default allow`",
                    ),
                };
                self.push(diagnostic);
                DefaultEffect::Deny
            }
        }
    }

    /// Gives every distinct scope name an id, in declaration order.
    fn declare_scopes(&mut self, decls: &[&ScopeDecl]) {
        for decl in decls {
            let name = &decl.name;
            if let Some(problem) = scope_token_problem(&name.node) {
                self.push(
                    Diagnostic::error(
                        Code::InvalidScopeName,
                        format!("`{}` is not a valid scope name", name.node.escape_debug()),
                    )
                    .with_label(name.span, problem)
                    .with_help("OAuth scope tokens (RFC 6749 §3.3) are printable ASCII without spaces, `\"` or `\\`"),
                );
            }
            if lexicon::is_operand_name(&name.node) {
                self.push(
                    Diagnostic::error(
                        Code::ReservedScopeName,
                        format!("a scope cannot be named `{}`", name.node),
                    )
                    .with_label(name.span, "reads as a condition operand")
                    .with_help(format!(
                        "rename the scope, for example `app:{}`: in a requirement, `arg.` and `claim.` begin a condition, and quoting the name would not help",
                        name.node.rsplit('.').next().unwrap_or_default()
                    )),
                );
            } else if RESERVED_SCOPE_NAMES.contains(&name.node.as_str()) {
                self.push(
                    Diagnostic::error(
                        Code::ReservedScopeName,
                        format!("a scope cannot be named `{}`", name.node),
                    )
                    .with_label(name.span, "reserved word of requirements")
                    .with_help(
                        "choose another name, for example with a prefix: `app:authenticated`",
                    ),
                );
            }
            match self.scope_ids.get(&name.node) {
                Some(first) => {
                    let first_span = self
                        .scope_spans
                        .get(first.0 as usize)
                        .copied()
                        .unwrap_or_default();
                    self.push(
                        Diagnostic::error(
                            Code::DuplicateScope,
                            format!("scope `{}` is declared twice", name.node),
                        )
                        .with_label(name.span, "declared again here")
                        .with_label(first_span, "first declared here")
                        .with_help("keep one declaration; put every implication on it"),
                    );
                }
                None => {
                    let id = ScopeId(self.scope_spans.len() as u32);
                    self.scope_ids.insert(name.node.clone(), id);
                    self.scope_spans.push(name.span);
                }
            }
        }
    }

    /// The table's view of the scopes (first declaration of each name wins).
    fn scope_infos(&mut self, decls: &[&ScopeDecl]) -> Vec<ScopeInfo> {
        let mut infos = Vec::new();
        for decl in decls {
            let is_first = self
                .scope_ids
                .get(&decl.name.node)
                .and_then(|id| self.scope_spans.get(id.0 as usize))
                == Some(&decl.name.span);
            let level = self.level(&decl.level);
            let implies: Vec<ScopeId> = decl
                .implies
                .iter()
                .filter_map(|name| self.resolve_scope(name, false))
                .collect();
            if is_first {
                infos.push(ScopeInfo {
                    name: decl.name.node.clone(),
                    level,
                    description: decl.description.as_ref().map(|d| d.node.clone()),
                    implies,
                });
            }
        }
        infos
    }

    fn level(&mut self, word: &Node<String>) -> Level {
        if let Some(level) = Level::from_keyword(&word.node) {
            return level;
        }
        let names = Level::ALL.map(Level::as_str);
        let help = match did_you_mean(&word.node, names) {
            Some(suggestion) => format!("did you mean `{suggestion}`?"),
            None => "a level is one of `read`, `write`, `admin` (what the scope lets a client do), `resource` (a family of tools) or `oauth` (protocol scopes such as `offline_access`)".to_owned(),
        };
        self.push(
            Diagnostic::error(
                Code::UnknownLevel,
                format!("unknown scope level `{}`", word.node),
            )
            .with_label(word.span, "not a level")
            .with_help(help),
        );
        Level::Read
    }

    fn resolve_scope(&mut self, name: &Node<String>, in_requirement: bool) -> Option<ScopeId> {
        if let Some(id) = self.scope_ids.get(&name.node) {
            return Some(*id);
        }
        if self.broken_scopes.contains(&name.node) {
            return None;
        }
        let mut candidates: Vec<&str> = self.scope_ids.keys().map(String::as_str).collect();
        if in_requirement {
            candidates.extend(lexicon::REQUIREMENT_KEYWORDS);
        }
        let help = match did_you_mean(&name.node, candidates) {
            Some(suggestion) => format!("did you mean `{suggestion}`?"),
            None => {
                // Guess the level from the name, as authors name scopes.
                let level = ["admin", "write", "read"]
                    .into_iter()
                    .find(|level| name.node.contains(level))
                    .unwrap_or("read");
                format!(
                    "declare it, for example: `scope {} level {level} \"what it allows\"`",
                    DisplayName(&name.node)
                )
            }
        };
        let diagnostic =
            Diagnostic::error(Code::UnknownScope, format!("unknown scope `{}`", name.node))
                .with_label(name.span, "not declared")
                .with_help(help);
        self.push(diagnostic);
        None
    }

    /// Reports each `implies` cycle once, at the edge that closes it.
    fn check_cycles(&mut self, decls: &[&ScopeDecl], infos: &[ScopeInfo]) {
        // Depth-first search with colours: an edge to a scope still on the
        // stack closes a cycle.
        #[derive(Clone, Copy, PartialEq)]
        enum Colour {
            White,
            Grey,
            Black,
        }
        let mut colour = vec![Colour::White; infos.len()];
        let mut reported = std::collections::HashSet::new();
        for root in 0..infos.len() {
            if colour.get(root) != Some(&Colour::White) {
                continue;
            }
            // (scope, next edge to follow)
            let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
            if let Some(c) = colour.get_mut(root) {
                *c = Colour::Grey;
            }
            while let Some((scope, edge)) = stack.last().copied() {
                let implied = infos
                    .get(scope)
                    .and_then(|info| info.implies.get(edge))
                    .copied();
                let Some(implied) = implied else {
                    if let Some(c) = colour.get_mut(scope) {
                        *c = Colour::Black;
                    }
                    stack.pop();
                    continue;
                };
                if let Some(top) = stack.last_mut() {
                    top.1 += 1;
                }
                let target = implied.0 as usize;
                match colour.get(target) {
                    Some(Colour::White) => {
                        if let Some(c) = colour.get_mut(target) {
                            *c = Colour::Grey;
                        }
                        stack.push((target, 0));
                    }
                    Some(Colour::Grey) => {
                        let start = stack.iter().position(|(s, _)| *s == target).unwrap_or(0);
                        let members: Vec<usize> =
                            stack.iter().skip(start).map(|(s, _)| *s).collect();
                        let mut key = members.clone();
                        key.sort_unstable();
                        if reported.insert(key) {
                            self.report_cycle(decls, infos, &members, scope, target);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    fn report_cycle(
        &mut self,
        decls: &[&ScopeDecl],
        infos: &[ScopeInfo],
        members: &[usize],
        from: usize,
        to: usize,
    ) {
        let name = |i: usize| infos.get(i).map_or("", |info| info.name.as_str());
        let mut path: Vec<&str> = members.iter().map(|i| name(*i)).collect();
        path.push(name(to));
        // The edge `from implies to`, as written in `from`'s declaration.
        let edge_span = decls
            .iter()
            .find(|decl| decl.name.node == name(from))
            .and_then(|decl| decl.implies.iter().find(|implied| implied.node == name(to)))
            .map(|implied| implied.span)
            .unwrap_or_default();
        let message = if members.len() == 1 {
            format!("scope `{}` implies itself", name(to))
        } else {
            format!("scopes imply each other in a cycle: {}", path.join(" → "))
        };
        self.push(
            Diagnostic::error(Code::ImpliesCycle, message)
                .with_label(edge_span, "this implication closes the cycle")
                .with_help("`implies` goes from more to less privilege (`mcp:admin implies mcp:write`); remove the implication that points back up"),
        );
    }

    fn rule(&mut self, decl: &RuleDecl, span: Span) -> ResolvedRule {
        if decl.target.node.text.is_empty() {
            self.push(
                Diagnostic::error(
                    Code::EmptyTarget,
                    format!("{} name is empty", decl.kind.node),
                )
                .with_label(decl.target.span, "empty")
                .with_help("write the exact name, or a pattern such as `\"admin_*\"`"),
            );
        }
        if decl.target.node.is_glob()
            && let Some(chars) = pattern_too_long(&Glob::new(&decl.target.node.text))
        {
            self.push(
                Diagnostic::error(
                    Code::TargetTooLong,
                    format!(
                        "{} pattern is {chars} characters long, more than the {MAX_PATTERN_CHARS} a pattern may have",
                        decl.kind.node
                    ),
                )
                .with_label(decl.target.span, "too long")
                .with_help(format!(
                    "no {} name is this long: shorten the pattern to its distinguishing part, such as a prefix and `*`",
                    decl.kind.node
                )),
            );
        }
        ResolvedRule {
            kind: decl.kind.node,
            target: decl.target.node.clone(),
            requirement: decl
                .requires
                .as_ref()
                .map(|requirement| self.requirement(requirement, Place::Requires(decl.kind.node))),
            when: decl
                .when
                .as_ref()
                .map(|condition| self.requirement(condition, Place::When(decl.kind.node))),
            text: decl.to_string(),
            span,
            line: self.line_of(span.start),
        }
    }

    fn requirement(&mut self, requirement: &Node<Requirement>, place: Place) -> Node<Req> {
        let group = |checker: &mut Self, keyword: &str, members: &[Node<Requirement>]| {
            if members.is_empty() {
                checker.push(
                    Diagnostic::error(Code::EmptyGroup, format!("`{keyword}()` has no members"))
                        .with_label(requirement.span, "empty")
                        .with_help(if keyword == lexicon::ANY_OF {
                            "an empty `any_of` could never be satisfied; name at least one scope, or `deny` the target"
                        } else {
                            "an empty `all_of` would require nothing; write `authenticated` if any valid token may call it"
                        }),
                );
            }
            members
                .iter()
                .map(|member| checker.requirement(member, place))
                .collect::<Vec<_>>()
        };
        let req = match &requirement.node {
            Requirement::Authenticated | Requirement::Scope(_)
                if matches!(place, Place::When(_)) =>
            {
                self.push(
                    Diagnostic::error(
                        Code::InvalidCondition,
                        format!("a deny's `when` holds conditions only, not `{}`", requirement.node),
                    )
                    .with_label(requirement.span, "not a condition")
                    .with_help(if requirement.node == Requirement::Authenticated {
                        "`when authenticated` would always hold: `deny KIND TARGET` without `when` denies every call"
                    } else {
                        "a deny does not look at scopes; to let only some scopes through, require them on the allow rule: `tool x requires all_of(SCOPE, ...)`"
                    }),
                );
                Req::Unresolved
            }
            Requirement::Authenticated => Req::Authenticated,
            Requirement::Condition(condition) => {
                let (Place::Requires(kind) | Place::When(kind)) = place;
                match condition::atom(condition, requirement.span, kind) {
                    Ok(atom) => Req::Atom {
                        atom: Box::new(atom),
                        text: condition.to_string(),
                    },
                    Err(problems) => {
                        self.diagnostics.extend(problems);
                        Req::Unresolved
                    }
                }
            }
            Requirement::Scope(name) => {
                let name = Node::new(name.clone(), requirement.span);
                self.resolve_scope(&name, true)
                    .map_or(Req::Unresolved, Req::Scope)
            }
            Requirement::AnyOf(members) => Req::AnyOf(group(self, lexicon::ANY_OF, members)),
            Requirement::AllOf(members) => Req::AllOf(group(self, lexicon::ALL_OF, members)),
        };
        Node::new(req, requirement.span)
    }

    /// Two rules for the same kind and target text. An allow rule and one
    /// conditional deny may share a target (the deny narrows the allow);
    /// any other pair is a duplicate.
    fn check_duplicates(&mut self, rules: &[ResolvedRule]) {
        let mut seen: HashMap<(TargetKind, &str), Vec<&ResolvedRule>> = HashMap::new();
        let mut found = Vec::new();
        for rule in rules {
            let earlier = seen
                .entry((rule.kind, rule.target.text.as_str()))
                .or_default();
            let allowed_pair = |first: &ResolvedRule| {
                matches!(
                    (RuleShape::of(first), RuleShape::of(rule)),
                    (RuleShape::Allow, RuleShape::DenyWhen)
                        | (RuleShape::DenyWhen, RuleShape::Allow)
                )
            };
            if let Some(first) = earlier.iter().find(|first| !allowed_pair(first)) {
                found.push((*first, rule));
            }
            earlier.push(rule);
        }
        for (first, second) in found {
            let shapes = (RuleShape::of(first), RuleShape::of(second));
            let (message, help) = match shapes {
                (RuleShape::Allow, RuleShape::Allow) => (
                    format!("{} `{}` has two rules", second.kind, second.target.text),
                    "merge them into one rule, with `any_of(...)` if either requirement should do",
                ),
                (RuleShape::DenyWhen, RuleShape::DenyWhen) => (
                    format!(
                        "{} `{}` has two conditional deny rules",
                        second.kind, second.target.text
                    ),
                    "join their conditions in one rule: `deny KIND TARGET when any_of(A, B)`",
                ),
                (RuleShape::Deny, RuleShape::DenyWhen) | (RuleShape::DenyWhen, RuleShape::Deny) => {
                    (
                        format!(
                            "{} `{}` is denied both always and on a condition",
                            second.kind, second.target.text
                        ),
                        "the unconditional deny already denies every call: remove one of the two",
                    )
                }
                (RuleShape::Deny, RuleShape::Deny) => (
                    format!("{} `{}` has two rules", second.kind, second.target.text),
                    "merge them into one rule, with `any_of(...)` if either requirement should do",
                ),
                _ => (
                    format!(
                        "{} `{}` is both allowed and denied",
                        second.kind, second.target.text
                    ),
                    "a deny always wins; remove the rule that should not apply",
                ),
            };
            self.push(
                Diagnostic::error(Code::DuplicateRule, message)
                    .with_label(second.span, "second rule")
                    .with_label(first.span, "first rule")
                    .with_help(help),
            );
        }
    }

    /// Two allow globs of one kind, equally specific, that can match the same
    /// name: neither would win, so the policy must say which.
    ///
    /// Only pairs whose literal ends fit can share a name, so only those
    /// run the overlap search (`ambiguous_globs`, which the table loader
    /// runs too); the pairs are reported in the order a scan of every pair
    /// would find them, the first `MAX_AMBIGUITIES` of them. A pattern too
    /// long to search is left out (it is an error of its own).
    fn check_ambiguity(&mut self, rules: &[ResolvedRule]) {
        let globs: Vec<(&ResolvedRule, Glob)> = rules
            .iter()
            .filter(|rule| rule.requirement.is_some() && rule.target.is_glob())
            .map(|rule| (rule, Glob::new(&rule.target.text)))
            .collect();
        let kinds: Vec<(TargetKind, &Glob)> =
            globs.iter().map(|(rule, glob)| (rule.kind, glob)).collect();
        for (i, j, witness) in ambiguous_globs(&kinds).pairs {
            let (Some((first, _)), Some((second, _))) =
                (globs.get(i as usize), globs.get(j as usize))
            else {
                continue;
            };
            self.push(
                Diagnostic::error(
                    Code::AmbiguousRules,
                    format!(
                        "{} patterns `{}` and `{}` are equally specific and both match `{}`",
                        second.kind, first.target.text, second.target.text, witness
                    ),
                )
                .with_label(second.span, "this rule")
                .with_label(first.span, "and this one both match")
                .with_help(format!(
                    "say which applies: add a rule for `{witness}` (an exact name wins over patterns), or make one pattern longer"
                )),
            );
        }
    }
}

/// What a rule does, for the duplicate check.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RuleShape {
    Allow,
    Deny,
    DenyWhen,
}

impl RuleShape {
    fn of(rule: &ResolvedRule) -> RuleShape {
        match (&rule.requirement, &rule.when) {
            (Some(_), _) => RuleShape::Allow,
            (None, None) => RuleShape::Deny,
            (None, Some(_)) => RuleShape::DenyWhen,
        }
    }
}

/// A scope name as it would be written in a policy.
struct DisplayName<'a>(&'a str);

impl std::fmt::Display for DisplayName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        crate::ast::write_name(f, self.0)
    }
}
