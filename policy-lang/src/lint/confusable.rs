//! `confusable_name`: names that pass for other names.
//!
//! Two names are confusable when their UTS #39 skeletons are equal (the
//! Unicode confusables data, as `unicode-security` ships it: `е` U+0435 and
//! `e` share a skeleton, and default-ignorable characters such as U+200B
//! vanish from it). Names are grouped by skeleton in one hash map, so the
//! lint is linear in the number of names, never pairwise. A name is also
//! flagged when it mixes scripts (UTS #39 single-script test, under which
//! Japanese kana and kanji together count as one script).
//!
//! Only pairs with a non-ASCII name are reported: ASCII look-alikes (`l`
//! and `1`, `rn` and `m`) are left to the reader, and are common in
//! honest names.

use std::collections::HashMap;
use std::fmt::Write as _;

use unicode_security::mixed_script::AugmentedScriptSet;
use unicode_security::{MixedScript, skeleton};

use super::{Context, Finding, Lint, ToolList};
use crate::ast::{Span, Statement, TargetKind};

/// At most this many code points are named in one message.
const NAMED_CODE_POINTS: usize = 8;

/// Names compared with each other: a scope is not taken for a tool.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Family {
    Scope,
    Target(TargetKind),
}

/// Where a name was written: in the policy (with its place), or in the
/// server's tool list.
#[derive(Clone, Copy)]
enum Origin {
    Policy { statement: Span, name: Span },
    Tools,
}

#[derive(Clone, Copy)]
struct Name<'a> {
    family: Family,
    text: &'a str,
    origin: Origin,
}

/// What one skeleton's names hold, kept small so each name is answered in
/// constant time: the first ASCII name, the first two distinct non-ASCII
/// names, and whether the policy itself holds a non-ASCII one.
#[derive(Default)]
struct Group<'a> {
    ascii: Option<Name<'a>>,
    non_ascii: [Option<Name<'a>>; 2],
    policy_non_ascii: bool,
}

impl<'a> Group<'a> {
    fn add(&mut self, name: Name<'a>) {
        if name.text.is_ascii() {
            self.ascii.get_or_insert(name);
            return;
        }
        if matches!(name.origin, Origin::Policy { .. }) {
            self.policy_non_ascii = true;
        }
        match &mut self.non_ascii {
            [None, _] => self.non_ascii = [Some(name), None],
            [Some(first), second @ None] if first.text != name.text => *second = Some(name),
            _ => {}
        }
    }

    /// The name `name` can be taken for, if it is to be reported. A
    /// non-ASCII name is reported beside any other name of its skeleton;
    /// an ASCII name only beside a non-ASCII name of the server's tool
    /// list (a non-ASCII name of the policy is reported at its own place).
    fn look_alike(&self, name: &Name<'a>) -> Option<Name<'a>> {
        if name.text.is_ascii() {
            if self.policy_non_ascii {
                return None;
            }
            return self.non_ascii.iter().flatten().next().copied();
        }
        self.ascii
            .into_iter()
            .chain(self.non_ascii.iter().flatten().copied())
            .find(|other| other.text != name.text)
    }
}

pub(crate) fn lint(context: &Context<'_>, tools: Option<&ToolList>, findings: &mut Vec<Finding>) {
    let mut names: Vec<Name<'_>> = Vec::new();
    for statement in &context.file.statements {
        let (family, node) = match &statement.node {
            Statement::Scope(decl) => (Family::Scope, &decl.name),
            Statement::Rule(rule) => {
                let target = &rule.target;
                names.push(Name {
                    family: Family::Target(rule.kind.node),
                    text: &target.node.text,
                    origin: Origin::Policy {
                        statement: statement.span,
                        name: target.span,
                    },
                });
                continue;
            }
            Statement::Policy(_) | Statement::Default(_) => continue,
        };
        names.push(Name {
            family,
            text: &node.node,
            origin: Origin::Policy {
                statement: statement.span,
                name: node.span,
            },
        });
    }
    let policy_names = names.len();
    // Nothing to compare when every name is ASCII: spare the skeletons.
    let server_names = tools.map_or(&[][..], |tools| tools.tools.as_slice());
    if names.iter().all(|name| name.text.is_ascii())
        && server_names.iter().all(|tool| tool.name.is_ascii())
    {
        return;
    }
    names.extend(server_names.iter().map(|tool| Name {
        family: Family::Target(TargetKind::Tool),
        text: &tool.name,
        origin: Origin::Tools,
    }));
    let skeletons: Vec<String> = names
        .iter()
        .map(|name| skeleton(name.text).collect())
        .collect();
    let mut groups: HashMap<(Family, &str), Group<'_>> = HashMap::new();
    for (name, skeleton) in names.iter().zip(&skeletons) {
        groups
            .entry((name.family, skeleton.as_str()))
            .or_default()
            .add(*name);
    }
    for (name, skeleton) in names.iter().zip(&skeletons).take(policy_names) {
        let Origin::Policy {
            statement,
            name: span,
        } = name.origin
        else {
            continue;
        };
        let mixed = mixes_scripts(name.text);
        let look_alike = groups
            .get(&(name.family, skeleton.as_str()))
            .and_then(|group| group.look_alike(name));
        if mixed || look_alike.is_some() || has_invisible(name.text) {
            findings.push(finding(name.text, mixed, look_alike, statement, span));
        }
    }
}

/// Whether a name mixes scripts in a way UTS #39 does not allow at its
/// "highly restrictive" level: one script, or Latin with Han and the
/// Japanese or Korean scripts (`get_ユーザー`), is fine; Latin with
/// Cyrillic (`dеlete`), Greek, Armenian or any other script is not.
fn mixes_scripts(text: &str) -> bool {
    if text.is_ascii() || text.is_single_script() {
        return false;
    }
    let latin = AugmentedScriptSet::for_char('a');
    let not_latin: String = text
        .chars()
        .filter(|&c| {
            let mut set = AugmentedScriptSet::for_char(c);
            set.intersect_with(latin);
            set.is_empty()
        })
        .collect();
    let rest = AugmentedScriptSet::for_str(&not_latin);
    !(rest.jpan || rest.kore || rest.hanb)
}

/// A character the skeleton drops (default-ignorable: zero-width spaces
/// and joiners, bidi marks, variation selectors): the name reads as if it
/// were not there.
fn has_invisible(text: &str) -> bool {
    let mut buffer = [0u8; 4];
    text.chars()
        .filter(|c| !c.is_ascii())
        .any(|c| skeleton(c.encode_utf8(&mut buffer)).next().is_none())
}

fn finding(
    text: &str,
    mixed: bool,
    look_alike: Option<Name<'_>>,
    statement: Span,
    span: Span,
) -> Finding {
    let other = look_alike.map(|other| {
        let whose = match other.origin {
            Origin::Policy { .. } => "",
            Origin::Tools => "the server's tool ",
        };
        format!("{whose}`{}`", other.text)
    });
    let mut what = Vec::new();
    if mixed {
        what.push("mixes scripts".to_owned());
    }
    if has_invisible(text) {
        what.push("holds an invisible character".to_owned());
    }
    if let Some(other) = &other {
        what.push(format!("looks like {other}"));
    }
    let what = what.join(" and ");
    // The code points that make the difference: the name's own non-ASCII
    // ones, or, for an ASCII name, its look-alike's.
    let points = match look_alike {
        Some(other) if text.is_ascii() => code_points(other.text),
        _ => code_points(text),
    };
    let mut finding = Finding::new(
        Lint::ConfusableName,
        statement,
        format!("`{text}` {what}: {points}"),
    )
    .label(
        span,
        other.as_ref().map_or_else(
            || "can be taken for another name".to_owned(),
            |other| format!("can be taken for {other}"),
        ),
    )
    .help("spell the name in one script, as the server does; if both names are meant, rename one so they differ at a glance");
    if let Some(Name {
        origin: Origin::Policy { name, .. },
        ..
    }) = look_alike
    {
        finding = finding.label(name, "the name it looks like");
    }
    finding
}

/// The distinct non-ASCII code points of `text`, named: `U+0435 CYRILLIC
/// SMALL LETTER IE, U+200B ZERO WIDTH SPACE`.
fn code_points(text: &str) -> String {
    let mut distinct = std::collections::HashSet::new();
    let mut seen: Vec<char> = Vec::new();
    let mut more = 0usize;
    for c in text.chars().filter(|c| !c.is_ascii()) {
        if !distinct.insert(c) {
            continue;
        }
        if seen.len() == NAMED_CODE_POINTS {
            more += 1;
        } else {
            seen.push(c);
        }
    }
    let mut out = String::new();
    for (i, c) in seen.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "U+{:04X}", u32::from(*c));
        if let Some(name) = unicode_names2::name(*c) {
            let _ = write!(out, " {name}");
        }
    }
    if more > 0 {
        let _ = write!(out, " and {more} more");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{Context, code_points, lint, mixes_scripts};

    #[test]
    fn latin_mixes_with_han_and_kana_only() {
        assert!(!mixes_scripts("delete_repo"));
        assert!(!mixes_scripts("リポジトリ一覧"));
        assert!(!mixes_scripts("get_ユーザー"));
        assert!(!mixes_scripts("get_用户"));
        assert!(!mixes_scripts("get_사용자"));
        assert!(!mixes_scripts("café_menu"));
        assert!(mixes_scripts("d\u{0435}lete_repo"));
        assert!(mixes_scripts("get_rep\u{03BF}"));
        assert!(mixes_scripts("\u{0570}ome"));
        assert!(mixes_scripts("リポ\u{0435}"));
    }

    /// 4,000 Cyrillic look-alikes of one Latin name and 4,000 distinct
    /// ones: pairwise comparison would be 3e7 skeleton comparisons; grouped
    /// by skeleton, the lint takes milliseconds. (The lint alone is
    /// timed: the whole check has other costs of its own.)
    #[test]
    fn many_names_are_checked_in_linear_time() {
        let mut source =
            String::from("scope mcp:read level read\ntool delete_repo requires mcp:read\n");
        for i in 0..4_000 {
            source.push_str(&format!(
                "tool \"d\u{0435}lete_repo_{i}\" requires mcp:read\ntool \"d\u{0435}l{i}\" requires mcp:read\n"
            ));
        }
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
        lint(&context, None, &mut findings);
        let elapsed = started.elapsed();
        assert_eq!(findings.len(), 8_000);
        assert!(elapsed < std::time::Duration::from_secs(2), "{elapsed:?}");
    }

    #[test]
    fn code_points_are_named_once_each_and_bounded() {
        assert_eq!(code_points("dеlеte"), "U+0435 CYRILLIC SMALL LETTER IE");
        assert_eq!(code_points("a\u{200B}b"), "U+200B ZERO WIDTH SPACE");
        let many: String = ('α'..='ω').collect();
        assert!(
            code_points(&many).ends_with(" and 17 more"),
            "{}",
            code_points(&many)
        );
    }
}
