//! Conditions that read as safer than they are, found without the server's
//! tool list: `matches` on a path (a glob reads the path as the client
//! spelt it), and `!=` in a deny's `when` (false on a missing value, so the
//! deny does not fire).

use mcp_policy_table::condition::{Atom, Literal, Op, Operand, Source};

use super::{Context, Finding, Lint};
use crate::ast::{Node, Span, write_operand};
use crate::check::Req;

/// A condition atom where the policy writes it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Written<'r> {
    pub span: Span,
    pub atom: &'r Atom,
    /// As written, canonically spaced: `arg.limit <= 100`.
    pub text: &'r str,
}

/// Every condition atom of a requirement, in source order.
pub(crate) fn atoms(req: &Node<Req>) -> Vec<Written<'_>> {
    fn walk<'r>(req: &'r Node<Req>, out: &mut Vec<Written<'r>>) {
        match &req.node {
            Req::Atom { atom, text } => out.push(Written {
                span: req.span,
                atom,
                text,
            }),
            Req::AnyOf(members) | Req::AllOf(members) => {
                for member in members {
                    walk(member, out);
                }
            }
            Req::Authenticated | Req::Scope(_) | Req::Unresolved => {}
        }
    }
    let mut out = Vec::new();
    walk(req, &mut out);
    out
}

/// An operand as the policy writes it: `arg.path`.
pub(crate) fn operand_text(operand: &Operand) -> String {
    let mut text = String::new();
    // Writing to a `String` cannot fail.
    let _ = write_operand(&mut text, operand);
    text
}

/// A literal as the policy writes it: `"acme"`, `10`, `true`.
pub(crate) fn literal_text(literal: &Literal) -> String {
    match literal {
        Literal::String(text) => crate::ast::Literal::String(text.clone()).to_string(),
        Literal::Number(number) => number.to_json().to_string(),
        Literal::Bool(flag) => flag.to_string(),
    }
}

/// The words of a name, lowercased: `sourceFile`, `source_file` and
/// `source-file` are `source file`.
fn words(name: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let mut previous_lower = false;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            previous_lower = false;
            words.push(String::new());
            continue;
        }
        if c.is_uppercase() && previous_lower {
            words.push(String::new());
        }
        previous_lower = c.is_lowercase() || c.is_ascii_digit();
        match words.last_mut() {
            Some(word) => word.extend(c.to_lowercase()),
            None => words.push(c.to_lowercase().collect()),
        }
    }
    words.retain(|word| !word.is_empty());
    words
}

/// Last words that name a file system path.
const PATH_WORDS: [&str; 11] = [
    "path",
    "paths",
    "pathname",
    "file",
    "filename",
    "filepath",
    "dir",
    "dirname",
    "directory",
    "folder",
    "cwd",
];

/// Whether an argument's name (its last key) says it holds a path:
/// `path`, `file`, `dir`, `directory`, `folder`, `cwd` and the like as its
/// last word (`source_path`, `targetDir`), or `file name`.
pub(crate) fn is_path_like(name: &str) -> bool {
    let words = words(name);
    match words.as_slice() {
        [.., last] if PATH_WORDS.contains(&last.as_str()) => true,
        [.., first, last] => first == "file" && last == "name",
        _ => false,
    }
}

/// Whether a glob on a path can be escaped by `..` in an allow rule: some
/// `*` stands after a literal part, which a `..` in what the `*` matches
/// can climb out of (`/workspace/*` takes `/workspace/../etc/passwd`). A
/// glob that only tests the end (`*.md`) or holds no `*` cannot be.
fn escapable(glob: &str) -> bool {
    glob.trim_start_matches('*').contains('*')
}

/// Whether a deny's glob on a path fires on every spelling of the paths
/// it means: one that starts and ends with `*` and holds no `/` looks for
/// text inside a segment (`*..*`, `*.env*`), and every spelling keeps the
/// segments of the normal form, in order. A glob that tests an end or
/// crosses a `/` is escaped by `/./`, `//` or a trailing `/.`.
fn deny_proof(glob: &str) -> bool {
    glob.starts_with('*') && glob.ends_with('*') && !glob.contains('/')
}

/// `matches_on_path` and `negated_deny_condition`.
pub(crate) fn lint(context: &Context<'_>, findings: &mut Vec<Finding>) {
    for rule in &context.resolved.rules {
        let (req, in_deny) = match (&rule.requirement, &rule.when) {
            (Some(req), _) => (req, false),
            (None, Some(when)) => (when, true),
            (None, None) => continue,
        };
        for written in atoms(req) {
            if in_deny {
                negated(rule.span, written.span, written.atom, findings);
            }
            matches_on_path(rule.span, written.span, written.atom, in_deny, findings);
        }
    }
}

fn negated(statement: Span, span: Span, atom: &Atom, findings: &mut Vec<Finding>) {
    let operand = operand_text(atom.operand());
    let (other, missing) = match atom.op() {
        Op::Ne(literal) => (
            literal_text(literal),
            format!("`{operand}` is missing or not of the type compared"),
        ),
        Op::NeOperand(other) => {
            let other = operand_text(other);
            let missing = format!("`{operand}` or `{other}` is missing, or their types differ");
            (other, missing)
        }
        _ => return,
    };
    findings.push(
        Finding::new(
            Lint::NegatedDenyCondition,
            statement,
            format!("`{operand} != {other}` is false when {missing}, so this deny lets such requests through"),
        )
        .label(span, "does not fire on a missing value")
        .help(format!(
            "require what a request must have on the allow rules instead: `requires all_of(..., {operand} == {other})`, which fails closed"
        )),
    );
}

fn matches_on_path(
    statement: Span,
    span: Span,
    atom: &Atom,
    in_deny: bool,
    findings: &mut Vec<Finding>,
) {
    let Op::Matches(glob) = atom.op() else {
        return;
    };
    let operand = atom.operand();
    let Some(name) = operand.path.last() else {
        return;
    };
    // A glob of stars only matches every string: nothing to normalise.
    let everything = glob.as_str().chars().all(|c| c == '*');
    if operand.source != Source::Arg || !is_path_like(name) || everything {
        return;
    }
    let text = operand_text(operand);
    let finding = if in_deny && !deny_proof(glob.as_str()) {
        Finding::new(
            Lint::MatchesOnPath,
            statement,
            format!("`matches` on the path `{text}` reads it as the client spelt it: `/a/./b`, `/a//b/` or `/x/../a/b` name the same file and may escape this deny"),
        )
        .label(span, "the path is not normalised")
        .help(format!(
            "confine the allow rules with `{text} under \"/DIR\"`, which normalises the path and fails closed; keep this deny as a second line if you wish, with a suppression comment saying so"
        ))
    } else if !in_deny && escapable(glob.as_str()) {
        // `under` takes absolute paths only: a relative one would fail
        // closed, so for relative globs the fix is a deny of `..`.
        let help = if glob.as_str().starts_with('/') {
            format!(
                "write `{text} under \"/DIR\"`: it normalises the path and fails closed on a `..` that leaves the directory"
            )
        } else {
            format!(
                "`under` takes absolute paths only; for relative ones, refuse `..` beside the glob: `deny tool NAME when {text} matches \"*..*\"`"
            )
        };
        Finding::new(
            Lint::MatchesOnPath,
            statement,
            format!("`matches` on the path `{text}` does not confine it: a `..` inside what `*` matches climbs out (`/workspace/*` takes `/workspace/../etc/passwd`)"),
        )
        .label(span, "the path is not normalised")
        .help(help)
    } else {
        return;
    };
    findings.push(finding);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_like_names() {
        for name in [
            "path",
            "file",
            "filename",
            "file_name",
            "fileName",
            "source_path",
            "targetDir",
            "output-directory",
            "workingFolder",
            "cwd",
            "PATH",
            "paths",
        ] {
            assert!(is_path_like(name), "{name}");
        }
        for name in [
            "repo",
            "profile",
            "filepath_mode",
            "path_style",
            "dirty",
            "directions",
            "file_count",
            "name",
            "",
        ] {
            assert!(!is_path_like(name), "{name}");
        }
    }

    #[test]
    fn globs_that_a_dotdot_escapes() {
        assert!(escapable("/workspace/*"));
        assert!(escapable("*/public/*"));
        assert!(escapable("src/*.rs"));
        assert!(!escapable("*.md"));
        assert!(!escapable("*/.env"));
        assert!(!escapable("/etc/motd"));
        assert!(!escapable("**"));
    }

    #[test]
    fn deny_globs_that_every_spelling_meets() {
        assert!(deny_proof("*..*"));
        assert!(deny_proof("*.env*"));
        assert!(deny_proof("*secret*key*"));
        assert!(!deny_proof("*.env"));
        assert!(!deny_proof("*/.env*"));
        assert!(!deny_proof("/etc/*"));
        assert!(!deny_proof("/etc/shadow"));
    }
}
