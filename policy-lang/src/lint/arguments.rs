//! Conditions against the tools' `inputSchema`s (with `--tools`): an
//! argument the tool does not declare, a comparison its declared type
//! cannot satisfy, a pattern rule whose condition some covered tools
//! cannot meet, and a comparison the schema's bounds, `enum` or `const`
//! make impossible.
//!
//! Every rule is compared with the listed tools it governs: an allow rule
//! with the tools it decides (`matching_rule`, one rule per tool), a
//! conditional deny with the tools its target matches. So the work is the
//! tools' count times the atoms of one rule, plus, for conditional deny
//! patterns, rules times tools, as `unknown_tool` already does.

use std::collections::{HashMap, HashSet};

use mcp_policy_table::condition::{Atom, Literal, Op, Source};
use mcp_policy_table::{Clause, Effect, Target, TargetKind};
use serde_json::{Map, Value};

use super::conditions::{Written, atoms, literal_text, operand_text};
use super::schema::{self, Bounds, Lookup, Types};
use super::{Context, Finding, Lint, ToolInfo, ToolList};
use crate::ast::Node;
use crate::check::Req;
use crate::suggest::did_you_mean;

/// How many tools a message names before it counts the rest.
const NAMED_TOOLS: usize = 4;
/// How many allowed values a message shows.
const SHOWN_VALUES: usize = 5;

/// What a tool's schema says against one atom.
#[derive(Debug)]
enum Problem<'s> {
    /// The key at `depth` of the argument's path is not declared.
    Undeclared {
        depth: usize,
        declared: Vec<&'s str>,
    },
    /// The atom cannot hold for a value of the declared type.
    Mismatch { why: String, help: String },
    /// The atom cannot hold for any value the schema accepts.
    NeverTrue { why: String, help: String },
}

pub(crate) fn lint(context: &Context<'_>, tools: &ToolList, findings: &mut Vec<Finding>) {
    let table = context.table;
    // The allow rule that decides each tool; tools an unconditional deny
    // takes are out of every conditional deny's reach too.
    let mut decided_by: HashMap<usize, Vec<&ToolInfo>> = HashMap::new();
    let mut denied: HashSet<&str> = HashSet::new();
    for tool in &tools.tools {
        let Some(rule_id) = table.matching_rule(TargetKind::Tool, &tool.name) else {
            continue;
        };
        match table.rule(rule_id).map(|rule| &rule.effect) {
            Some(Effect::Allow(_)) => decided_by.entry(rule_id.0 as usize).or_default().push(tool),
            Some(Effect::Deny) => {
                denied.insert(tool.name.as_str());
            }
            _ => {}
        }
    }
    for (index, (resolved, rule)) in context.rules().enumerate() {
        if rule.kind != TargetKind::Tool {
            continue;
        }
        let (req, covered, in_deny) = match (&rule.effect, &resolved.requirement, &resolved.when) {
            (Effect::Allow(_), Some(req), _) => {
                (req, decided_by.remove(&index).unwrap_or_default(), false)
            }
            (Effect::DenyWhen(_), _, Some(when)) => {
                let covered: Vec<&ToolInfo> = tools
                    .tools
                    .iter()
                    .filter(|tool| !denied.contains(tool.name.as_str()))
                    .filter(|tool| match &rule.target {
                        Target::Exact(name) => *name == tool.name,
                        Target::Glob(glob) => glob.matches(&tool.name),
                    })
                    .collect();
                (when, covered, true)
            }
            _ => continue,
        };
        if covered.is_empty() {
            continue;
        }
        let pattern = match &rule.target {
            Target::Glob(glob) => Some(glob.as_str()),
            Target::Exact(_) => None,
        };
        let clauses = match &rule.effect {
            Effect::Allow(clauses) => Some(clauses.as_slice()),
            _ => None,
        };
        let rule_check = RuleCheck {
            context,
            clauses,
            statement: resolved.span,
            pattern,
            covered: &covered,
            in_deny,
        };
        rule_check.run(req, findings);
    }
}

/// One rule against the tools it governs.
struct RuleCheck<'a> {
    context: &'a Context<'a>,
    /// An allow rule's clauses, as the table holds them.
    clauses: Option<&'a [Clause]>,
    statement: crate::ast::Span,
    /// The target, when it is a pattern.
    pattern: Option<&'a str>,
    covered: &'a [&'a ToolInfo],
    in_deny: bool,
}

impl RuleCheck<'_> {
    fn run(&self, req: &Node<Req>, findings: &mut Vec<Finding>) {
        let mut seen = HashSet::new();
        // Every atom against every tool first: whether a missing argument
        // matters depends on the rule's other atoms.
        let mut analysed = Vec::new();
        for written in atoms(req) {
            if !seen.insert(written.atom) {
                continue;
            }
            let mut undeclared = Vec::new();
            let mut mismatch = Vec::new();
            let mut never = Vec::new();
            for (i, tool) in self.covered.iter().enumerate() {
                let Some(schema) = &tool.input_schema else {
                    continue;
                };
                match analyse(written.atom, schema) {
                    Some(Problem::Undeclared { depth, declared }) => {
                        undeclared.push((i, depth, declared));
                    }
                    Some(Problem::Mismatch { why, help }) => mismatch.push((i, why, help)),
                    Some(Problem::NeverTrue { why, help }) => never.push((i, why, help)),
                    None => {}
                }
            }
            analysed.push((written, undeclared, mismatch, never));
        }
        // Per atom, which tools lack its argument.
        let lacking: Vec<(&Atom, Vec<bool>)> = analysed
            .iter()
            .filter(|(_, undeclared, _, _)| !undeclared.is_empty())
            .map(|(written, undeclared, _, _)| {
                let mut lacks = vec![false; self.covered.len()];
                for (i, _, _) in undeclared {
                    if let Some(flag) = lacks.get_mut(*i) {
                        *flag = true;
                    }
                }
                (written.atom, lacks)
            })
            .collect();
        for (written, undeclared, mismatch, never) in analysed {
            if !undeclared.is_empty() && undeclared.len() == self.covered.len() {
                self.unknown(written, &undeclared, findings);
            } else if !undeclared.is_empty() && self.pattern.is_some() && !self.in_deny {
                let stranded: Vec<_> = undeclared
                    .into_iter()
                    .filter(|(i, _, _)| self.stranded(written.atom, *i, &lacking))
                    .collect();
                if !stranded.is_empty() {
                    self.partial_allow(written, &stranded, findings);
                }
            }
            self.report(Lint::ArgumentTypeMismatch, written, mismatch, findings);
            self.report(Lint::NeverTrueCondition, written, never, findings);
        }
        if self.in_deny && self.pattern.is_some() && !lacking.is_empty() {
            self.partial_deny(req, &lacking, findings);
        }
    }

    /// Whether `atom`, false for tool `tool` (which lacks its argument),
    /// shuts the tool to the callers one of the clauses holding it was
    /// written for: no clause that can still hold for the tool asks only
    /// for scopes and claims such a caller has. `any_of(all_of(s, arg.path ...),
    /// all_of(s, arg.source ...))` strands no tool that has one of the two.
    fn stranded(&self, atom: &Atom, tool: usize, lacking: &[(&Atom, Vec<bool>)]) -> bool {
        let Some(clauses) = self.clauses else {
            return true;
        };
        let catalog = self.context.table.atoms();
        let lacks = |atom: &Atom| {
            lacking
                .iter()
                .any(|(dead, lacks)| *dead == atom && lacks.get(tool) == Some(&true))
        };
        let dead = |clause: &Clause| {
            clause
                .atoms
                .iter()
                .any(|id| catalog.atom(*id).is_some_and(lacks))
        };
        let Some(id) = catalog.find(atom) else {
            return true;
        };
        let alive: Vec<&Clause> = clauses.iter().filter(|clause| !dead(clause)).collect();
        clauses
            .iter()
            .filter(|clause| clause.atoms.contains(&id))
            .any(|clause| {
                let held = self.context.catalog().set_of(clause.scopes.iter().copied());
                // Another clause lets the same callers in when it asks for
                // no more scopes and no other claim: its argument atoms
                // are the request's to meet.
                let covers = |other: &&Clause| {
                    self.context.clause_within(other, &held)
                        && other.atoms.iter().all(|id| {
                            clause.atoms.contains(id)
                                || catalog.atom(*id).is_some_and(|atom| {
                                    atom.operands().all(|o| o.source == Source::Arg)
                                })
                        })
                };
                !alive.iter().any(covers)
            })
    }

    fn names(&self, indices: impl IntoIterator<Item = usize>) -> Vec<&str> {
        indices
            .into_iter()
            .filter_map(|i| self.covered.get(i))
            .map(|tool| tool.name.as_str())
            .collect()
    }

    fn unknown(
        &self,
        written: Written<'_>,
        undeclared: &[(usize, usize, Vec<&str>)],
        findings: &mut Vec<Finding>,
    ) {
        let Some(arg) = arg_operand(written.atom) else {
            return;
        };
        let Some((_, depth, _)) = undeclared.first() else {
            return;
        };
        let depth = *depth;
        let key = arg.path.get(depth).map_or("", String::as_str);
        // The names declared where the key was looked for, by any tool.
        let mut declared: Vec<&str> = undeclared
            .iter()
            .filter(|(_, d, _)| *d == depth)
            .flat_map(|(_, _, names)| names.iter().copied())
            .collect();
        declared.sort_unstable();
        declared.dedup();
        let parent = (depth > 0).then(|| {
            operand_text(&mcp_policy_table::condition::Operand::arg(
                arg.path.iter().take(depth),
            ))
        });
        let whose = match (self.pattern, self.covered) {
            (None, [tool]) => format!("tool `{}`", tool.name),
            _ => format!(
                "no tool that pattern `{}` covers",
                self.pattern.unwrap_or_default()
            ),
        };
        let message = match (&parent, self.pattern) {
            (None, None) => format!("{whose} has no argument `{key}`"),
            (None, Some(_)) => format!("{whose} has an argument `{key}`"),
            (Some(parent), None) => format!("{whose} declares no key `{key}` in `{parent}`"),
            (Some(parent), Some(_)) => format!("{whose} declares a key `{key}` in `{parent}`"),
        };
        let help = match did_you_mean(key, declared.iter().copied()) {
            Some(suggestion) => format!("did you mean `{suggestion}`?"),
            None if declared.is_empty() => {
                "the inputSchema declares no keys here: check the tool list is the server's current one".to_owned()
            }
            None => format!(
                "the inputSchema declares {}",
                quoted_list(&declared, SHOWN_VALUES)
            ),
        };
        let fate = if self.in_deny {
            "not in the inputSchema: always false, so the deny never fires on it"
        } else {
            "not in the inputSchema: always false"
        };
        findings.push(
            Finding::new(Lint::UnknownArgument, self.statement, message)
                .label(written.span, fate)
                .help(help),
        );
    }

    fn partial_allow(
        &self,
        written: Written<'_>,
        undeclared: &[(usize, usize, Vec<&str>)],
        findings: &mut Vec<Finding>,
    ) {
        let Some(arg) = arg_operand(written.atom) else {
            return;
        };
        let names = self.names(undeclared.iter().map(|u| u.0));
        let pattern = self.pattern.unwrap_or_default();
        let one = names.len() == 1;
        // A nested key may be what is missing: then name the whole path.
        let lacking = if undeclared.iter().all(|(_, depth, _)| *depth == 0) {
            format!(
                "{} no argument `{}`",
                if one { "it has" } else { "they have" },
                arg.path.first().map_or("", String::as_str)
            )
        } else {
            format!(
                "{} not declare `{}`",
                if one { "it does" } else { "they do" },
                operand_text(arg)
            )
        };
        findings.push(
            Finding::new(
                Lint::ConditionOnPartialGlob,
                self.statement,
                format!(
                    "`{}` is always false for {} that pattern `{pattern}` covers: {lacking}",
                    written.text,
                    tool_list(&names),
                ),
            )
            .label(
                written.span,
                format!(
                    "always false for {} of the {} tools the pattern covers",
                    names.len(),
                    self.covered.len()
                ),
            )
            .help("the clauses holding it never allow those tools: narrow the pattern to the tools that take the argument, and give the others a rule of their own"),
        );
    }

    /// A conditional deny pattern whose condition cannot hold for some of
    /// the tools it covers, because they lack every argument it could
    /// fire on.
    fn partial_deny(
        &self,
        when: &Node<Req>,
        undeclared_atoms: &[(&Atom, Vec<bool>)],
        findings: &mut Vec<Finding>,
    ) {
        let never: Vec<usize> = (0..self.covered.len())
            .filter(|i| {
                !can_hold(when, &|atom| {
                    undeclared_atoms
                        .iter()
                        .any(|(dead, lacking)| *dead == atom && lacking.get(*i) == Some(&true))
                })
            })
            .collect();
        // Every tool: `unknown_argument` said why.
        if never.is_empty() || never.len() == self.covered.len() {
            return;
        }
        let names = self.names(never.iter().copied());
        let first = never.first().and_then(|i| self.covered.get(*i));
        let example = first
            .and_then(|tool| {
                let properties = tool.input_schema.as_ref()?.get("properties")?.as_object()?;
                let keys: Vec<&str> = properties.keys().map(String::as_str).collect();
                (!keys.is_empty()).then(|| {
                    format!(
                        " (`{}` takes {})",
                        tool.name,
                        quoted_list(&keys, SHOWN_VALUES)
                    )
                })
            })
            .unwrap_or_default();
        findings.push(
            Finding::new(
                Lint::ConditionOnPartialGlob,
                self.statement,
                format!(
                    "this deny never fires for {} that pattern `{}` covers: {} none of the arguments its condition reads",
                    tool_list(&names),
                    self.pattern.unwrap_or_default(),
                    if names.len() == 1 { "it has" } else { "they have" },
                ),
            )
            .label(
                when.span,
                format!(
                    "always false for {} of the {} tools the pattern covers",
                    names.len(),
                    self.covered.len()
                ),
            )
            .help(format!(
                "check that those tools take no such value under another name{example}; then narrow the pattern to the tools that take the argument, or say why in a suppression comment"
            )),
        );
    }

    fn report(
        &self,
        lint: Lint,
        written: Written<'_>,
        problems: Vec<(usize, String, String)>,
        findings: &mut Vec<Finding>,
    ) {
        let names = self.names(problems.iter().map(|p| p.0));
        let Some((_, why, help)) = problems.into_iter().next() else {
            return;
        };
        let message = match lint {
            Lint::ArgumentTypeMismatch => format!(
                "`{}` can never hold for {}: the argument's declared type does not fit",
                written.text,
                tool_list(&names),
            ),
            _ => format!(
                "`{}` is never true for any value {} {}",
                written.text,
                tool_list(&names),
                if names.len() == 1 {
                    "accepts"
                } else {
                    "accept"
                }
            ),
        };
        let why = match names.as_slice() {
            [_] | [] => why,
            [first, ..] => format!("in `{first}`: {why}"),
        };
        findings.push(
            Finding::new(lint, self.statement, message)
                .label(written.span, why)
                .help(help),
        );
    }
}

/// Whether a requirement can hold when the atoms `dead` says are false
/// (scopes and other atoms may hold).
fn can_hold(req: &Node<Req>, dead: &dyn Fn(&Atom) -> bool) -> bool {
    match &req.node {
        Req::Atom { atom, .. } => !dead(atom),
        Req::AnyOf(members) => members.iter().any(|member| can_hold(member, dead)),
        Req::AllOf(members) => members.iter().all(|member| can_hold(member, dead)),
        Req::Authenticated | Req::Scope(_) | Req::Unresolved => true,
    }
}

fn arg_operand(atom: &Atom) -> Option<&mcp_policy_table::condition::Operand> {
    atom.operands()
        .find(|operand| operand.source == Source::Arg)
}

/// `tool `a``, `tools `a` and `b``, `tools `a`, `b`, `c`, `d` and 3 more`.
fn tool_list(names: &[&str]) -> String {
    match names {
        [one] => format!("tool `{one}`"),
        _ => format!("tools {}", quoted_list(names, NAMED_TOOLS)),
    }
}

/// `` `a`, `b` and `c` ``, at most `max` named.
fn quoted_list(items: &[&str], max: usize) -> String {
    let shown: Vec<String> = items
        .iter()
        .take(max)
        .map(|item| format!("`{item}`"))
        .collect();
    let rest = items.len().saturating_sub(max);
    match (shown.split_last(), rest) {
        (None, _) => String::new(),
        (Some((last, [])), 0) => last.clone(),
        (Some((last, init)), 0) => format!("{} and {last}", init.join(", ")),
        (Some(_), rest) => format!("{} and {rest} more", shown.join(", ")),
    }
}

/// What one tool's schema says against an atom on one of its arguments.
fn analyse<'s>(atom: &Atom, schema: &'s Value) -> Option<Problem<'s>> {
    let arg = arg_operand(atom)?;
    let property = match schema::lookup(schema, &arg.path) {
        Lookup::Declared(property) => property,
        Lookup::Undeclared { depth, declared } => {
            return Some(Problem::Undeclared { depth, declared });
        }
        Lookup::NotAnObject { depth, types } => {
            let parent = operand_text(&mcp_policy_table::condition::Operand::arg(
                arg.path.iter().take(depth),
            ));
            let key = arg.path.get(depth).map_or("", String::as_str);
            return Some(Problem::Mismatch {
                why: format!(
                    "`{parent}` is declared as {}: it has no key `{key}`",
                    types.describe()
                ),
                help: format!("write the condition on `{parent}` itself"),
            });
        }
        Lookup::Unknown => return None,
    };
    let name = arg.path.last().map_or("", String::as_str);
    let types = Types::of(property);
    if let Some(types) = types
        && let Some(problem) = mismatch(atom.op(), arg, types, property)
    {
        return Some(problem);
    }
    never_true(atom, name, types, property)
}

/// What an operator needs of the argument, and how to say it.
fn needs(op: &Op) -> (Types, String) {
    let compared = |types: Types| format!("it is compared with {}", a_type(types));
    match op {
        Op::Eq(literal) | Op::Ne(literal) => {
            let types = Types::of_literal(literal);
            (types, compared(types))
        }
        Op::In(list) => {
            let types = list
                .iter()
                .map(Types::of_literal)
                .fold(Types::NONE, Types::union);
            (types, compared(types))
        }
        Op::EqOperand(_) | Op::NeOperand(_) => (
            Types::SCALAR,
            "it is compared with a claim, and only strings, numbers and booleans compare"
                .to_owned(),
        ),
        Op::Compare(..) => (
            Types::NUMERIC,
            "`<`, `<=`, `>` and `>=` compare numbers".to_owned(),
        ),
        Op::Contains(_) => (Types::ARRAY, "`contains` tests arrays".to_owned()),
        Op::Matches(_) => (Types::STRING, "`matches` tests strings".to_owned()),
        Op::Under(_) => (Types::STRING, "`under` tests path strings".to_owned()),
    }
}

/// `a` or `an`, for a type's name.
fn article(name: &str) -> &'static str {
    if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// `a string`, `a number or a boolean`.
fn a_type(types: Types) -> String {
    let mut words = Vec::new();
    if types.allows(Types::STRING) {
        words.push("a string");
    }
    if types.allows(Types::NUMERIC) {
        words.push("a number");
    }
    if types.allows(Types::BOOLEAN) {
        words.push("a boolean");
    }
    words.join(" or ")
}

fn mismatch(
    op: &Op,
    arg: &mcp_policy_table::condition::Operand,
    types: Types,
    property: &Map<String, Value>,
) -> Option<Problem<'static>> {
    let name = arg.path.last().map_or("", String::as_str);
    let (needed, reason) = needs(op);
    let declared = types.describe();
    if types.allows(needed) {
        // `contains` on an array: its items may say more.
        let Op::Contains(literal) = op else {
            return None;
        };
        let items = property.get("items").and_then(Value::as_object)?;
        let item_types = Types::of(items)?;
        if item_types.allows(Types::of_literal(literal)) {
            return None;
        }
        return Some(Problem::Mismatch {
            why: format!(
                "`{name}` is declared as an array of {}; `contains` looks for {}",
                item_types.describe(),
                a_type(Types::of_literal(literal))
            ),
            help: format!(
                "look for {}, as the inputSchema declares the items",
                a_type(item_types)
            ),
        });
    }
    let help = match op {
        Op::Eq(literal) if types.allows(Types::ARRAY) => Some(format!(
            "to test for an element of the array, write `{} contains {}`",
            operand_text(arg),
            literal_text(literal)
        )),
        Op::Eq(literal) | Op::Ne(literal) => retype_help(literal, types),
        Op::In(list) => list.iter().find_map(|literal| retype_help(literal, types)),
        _ => None,
    }
    .unwrap_or_else(|| match op {
        Op::Compare(..) => format!(
            "test {} {declared} with `==` or `in [...]`{}",
            article(&declared),
            if types.allows(Types::STRING) {
                ", or `matches`"
            } else {
                ""
            }
        ),
        Op::Contains(_) if types.allows(Types::STRING) => {
            "`contains` tests an element of an array: to find text in a string, write `matches \"*TEXT*\"`".to_owned()
        }
        Op::Contains(_) | Op::Matches(_) | Op::Under(_) => {
            format!("test {} {declared} with `==` or `in [...]`", article(&declared))
        }
        _ => format!(
            "compare `{name}` with a value of its declared type ({declared}), or check the tool list is the server's current one"
        ),
    });
    Some(Problem::Mismatch {
        why: format!("`{name}` is declared as {declared}; {reason}"),
        help,
    })
}

/// The literal respelt for the declared type, when that is what was meant:
/// `"10"` for an integer is `10`, `10` for a string is `"10"`.
fn retype_help(literal: &Literal, types: Types) -> Option<String> {
    match literal {
        Literal::String(text) if types.allows(Types::NUMERIC) => {
            serde_json::from_str::<serde_json::Number>(text)
                .ok()
                .map(|_| format!("write the number without quotes: `{text}`"))
        }
        Literal::String(text)
            if types.allows(Types::BOOLEAN) && (text == "true" || text == "false") =>
        {
            Some(format!("write the boolean without quotes: `{text}`"))
        }
        Literal::Number(_) | Literal::Bool(_) if types.allows(Types::STRING) => {
            let quoted = crate::ast::Literal::String(
                literal.to_json().to_string().trim_matches('"').to_owned(),
            );
            Some(format!("quote it, as the argument is a string: `{quoted}`"))
        }
        _ => None,
    }
}

fn never_true(
    atom: &Atom,
    name: &str,
    types: Option<Types>,
    property: &Map<String, Value>,
) -> Option<Problem<'static>> {
    if let Some(problem) = outside_values(atom, name, property) {
        return Some(problem);
    }
    let numeric = types.is_none_or(|types| types.allows(Types::NUMERIC));
    if !numeric {
        return None;
    }
    let bounds = Bounds::of(property);
    let excluded = |literal: &Literal| -> Option<String> {
        if let Some(types) = types
            && !types.allows(Types::of_literal(literal))
        {
            return Some(format!("`{name}` is declared as {}", types.describe()));
        }
        let Literal::Number(number) = literal else {
            return None;
        };
        if let Some(bound) = bounds.excluding(*number) {
            return Some(format!("the inputSchema says `{}`", bound.text));
        }
        let json = number.to_json();
        let fraction = json.is_f64() && json.as_f64().is_some_and(|f| f.fract() != 0.0);
        match types {
            Some(types) if fraction && !types.allows_fraction() => {
                Some(format!("`{name}` is declared as {}", types.describe()))
            }
            _ => None,
        }
    };
    let why = match atom.op() {
        Op::Eq(literal) => excluded(literal),
        Op::In(list) => list
            .iter()
            .map(|literal| {
                excluded(literal).map(|why| format!("`{}`: {why}", literal_text(literal)))
            })
            .collect::<Option<Vec<String>>>()
            .map(|reasons| reasons.join("; ")),
        Op::Compare(comparison, bound) => {
            use mcp_policy_table::Comparison::{Ge, Gt, Le, Lt};
            use std::cmp::Ordering::{Equal, Greater, Less};
            let lower = bounds.lower.as_ref().filter(|lower| {
                matches!(
                    (comparison, lower.value.compare(*bound), lower.exclusive),
                    (Lt, Greater | Equal, _) | (Le, Greater, _) | (Le, Equal, true)
                )
            });
            let upper = bounds.upper.as_ref().filter(|upper| {
                matches!(
                    (comparison, upper.value.compare(*bound), upper.exclusive),
                    (Gt, Less | Equal, _) | (Ge, Less, _) | (Ge, Equal, true)
                )
            });
            lower
                .or(upper)
                .map(|bound| format!("the inputSchema says `{}`", bound.text))
        }
        _ => None,
    }?;
    Some(Problem::NeverTrue {
        why,
        help: "no value the server accepts satisfies it: check the operator and the value against the inputSchema".to_owned(),
    })
}

/// An atom that no value of the schema's `enum` (or its `const`)
/// satisfies: found by evaluating the atom on each, so exactly as the
/// evaluator decides. Not for an atom that also reads a claim.
fn outside_values(
    atom: &Atom,
    name: &str,
    property: &Map<String, Value>,
) -> Option<Problem<'static>> {
    if atom
        .operands()
        .any(|operand| operand.source == Source::Claim)
    {
        return None;
    }
    let values = schema::allowed_values(property)?;
    let holds = |value: &Value| {
        let mut arguments = value.clone();
        for key in atom.operand().path.iter().rev() {
            let mut object = Map::new();
            object.insert(key.clone(), arguments);
            arguments = Value::Object(object);
        }
        let Value::Object(arguments) = arguments else {
            return true;
        };
        atom.holds(&mcp_policy_table::condition::Context::new(
            Some(&arguments),
            None,
        ))
    };
    if values.iter().any(|value| holds(value)) {
        return None;
    }
    let texts: Vec<String> = values.iter().map(|value| value.to_string()).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let why = match refs.as_slice() {
        [one] => format!("the inputSchema allows `{name}` only `{one}`"),
        _ => format!(
            "the inputSchema allows `{name}` only {}",
            quoted_list(&refs, SHOWN_VALUES)
        ),
    };
    let strings = values.iter().filter_map(|value| value.as_str());
    let suggestion = match atom.op() {
        Op::Eq(Literal::String(text)) => did_you_mean(text, strings),
        _ => None,
    };
    let help = match suggestion {
        Some(value) => format!(
            "did you mean `{}`?",
            literal_text(&Literal::String(value.to_owned()))
        ),
        None => "compare with the values the inputSchema allows".to_owned(),
    };
    Some(Problem::NeverTrue { why, help })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 4,000 exact rules and a pattern over 4,000 more tools: each tool is
    /// compared with the one rule that decides it, never with every rule.
    #[test]
    fn many_rules_and_tools_are_checked_in_linear_time() {
        let mut source = String::from(
            "scope r level read\ntool \"bulk_*\" requires all_of(r, arg.limit <= 10)\n",
        );
        let mut tools = Vec::new();
        let schema = |key: &str| serde_json::json!({"type": "object", "properties": {key: {"type": "integer", "minimum": 0}}});
        for i in 0..4_000 {
            source.push_str(&format!("tool t{i} requires all_of(r, arg.lmit < 5)\n"));
            for (name, key) in [(format!("t{i}"), "limit"), (format!("bulk_{i}"), "limit")] {
                tools.push(ToolInfo {
                    name,
                    read_only_hint: None,
                    destructive_hint: None,
                    input_schema: Some(schema(key)),
                });
            }
        }
        let tools = ToolList { tools };
        let (file, _) = crate::parse::parse(&source);
        let (resolved, _) = crate::check::check(&file, &source);
        let Ok(table) = crate::compile::compile(&resolved) else {
            unreachable!("the policy compiles");
        };
        let context = Context {
            file: &file,
            resolved: &resolved,
            table: &table,
        };
        let mut findings = Vec::new();
        let started = std::time::Instant::now();
        lint(&context, &tools, &mut findings);
        let elapsed = started.elapsed();
        assert_eq!(findings.len(), 4_000);
        assert!(
            findings
                .iter()
                .all(|finding| finding.lint == Lint::UnknownArgument)
        );
        assert!(elapsed < std::time::Duration::from_secs(2), "{elapsed:?}");
    }
}
