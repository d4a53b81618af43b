//! Large generated policies, for the `compile` benchmark, the scaling tests
//! and timing the CLI by hand (`cargo run --release -p mcp-policy-lang
//! --example generate_policy -- exact 100000 > big.mcppolicy`).
//!
//! Every shape compiles without an error: exact names never repeat, and
//! no two allow patterns of one specificity can match the same name.
// Every index is taken modulo the array's length.
#![allow(clippy::indexing_slicing)]

use std::fmt::Write;

/// What a generated policy holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `n` exact tool rules over 24 scopes (8 domains × read/write/admin,
    /// admin implies write implies read): single scopes, `any_of`,
    /// `all_of`, nested groups and `authenticated`; 1 in 50 a deny; plus
    /// four prefix globs and a deny glob.
    Exact,
    /// `n` tool patterns with varied literal prefixes and suffixes: prefix
    /// globs, globs with a star inside, suffix globs, and 1 in 10 a deny.
    Globs,
    /// `n` rules, nine exact names for each pattern, with denies of both.
    Mixed,
    /// `n` prefix patterns `t0*`, `t1*`, …: thousands of one specificity
    /// (the table loader compared every pair of them, 94 s at 10,000).
    Prefixes,
    /// `n` patterns of the most characters a pattern may have (1,024),
    /// all of one specificity, each with distinct literal ends.
    Long,
}

impl Shape {
    pub fn from_name(name: &str) -> Option<Shape> {
        match name {
            "exact" => Some(Shape::Exact),
            "globs" => Some(Shape::Globs),
            "mixed" => Some(Shape::Mixed),
            "prefixes" => Some(Shape::Prefixes),
            "long" => Some(Shape::Long),
            _ => None,
        }
    }
}

const DOMAINS: [&str; 8] = [
    "repos", "issues", "users", "billing", "search", "files", "teams", "hooks",
];
const VERBS: [&str; 8] = [
    "list", "get", "create", "update", "search", "export", "sync", "delete",
];

fn scopes(out: &mut String) {
    out.push_str("policy \"generated\"\ndefault deny\n\n");
    for domain in DOMAINS {
        let _ = writeln!(out, "scope {domain}:read  level read");
        let _ = writeln!(
            out,
            "scope {domain}:write level write implies {domain}:read"
        );
        let _ = writeln!(
            out,
            "scope {domain}:admin level admin implies {domain}:write"
        );
    }
    out.push('\n');
}

/// A requirement for rule `i`, cycling through the forms authors write.
fn requirement(i: usize) -> String {
    let domain = |k: usize| DOMAINS[(i / 7 + k) % DOMAINS.len()];
    let level = ["read", "write", "admin"][i % 3];
    match i % 10 {
        0..=2 => format!("{}:{level}", domain(0)),
        3..=5 => format!("any_of({}:{level}, {}:admin)", domain(0), domain(1)),
        6 | 7 => format!("all_of({}:{level}, {}:read)", domain(0), domain(2)),
        8 => format!(
            "any_of(all_of({}:write, {}:read), {}:admin)",
            domain(0),
            domain(3),
            domain(0)
        ),
        _ => "authenticated".to_owned(),
    }
}

fn exact_rule(out: &mut String, i: usize) {
    let verb = VERBS[i % VERBS.len()];
    let domain = DOMAINS[(i / VERBS.len()) % DOMAINS.len()];
    if i % 50 == 49 {
        let _ = writeln!(out, "deny tool {verb}_{domain}_{i}");
    } else {
        let _ = writeln!(out, "tool {verb}_{domain}_{i} requires {}", requirement(i));
    }
}

fn glob_rule(out: &mut String, i: usize) {
    // Prefixes and suffixes carry the number, so no two patterns share a
    // name unless one is a deny; the four forms have specificities that
    // never tie with an overlapping form.
    let domain = DOMAINS[i % DOMAINS.len()];
    if i % 10 == 9 {
        let _ = writeln!(out, "deny tool \"p{i:06}_*_tmp\"");
        return;
    }
    let requirement = requirement(i);
    match i % 4 {
        0 => writeln!(out, "tool \"p{i:06}_*\" requires {requirement}"),
        1 => writeln!(out, "tool \"p{i:06}_*_{domain}\" requires {requirement}"),
        2 => writeln!(out, "tool \"*.suffix{i:06}\" requires {requirement}"),
        _ => writeln!(out, "tool \"p{i:06}_*_v*\" requires {requirement}"),
    }
    .unwrap_or_default();
}

/// A policy of the shape with about `n` rules.
pub fn policy(shape: Shape, n: usize) -> String {
    let mut out = String::with_capacity(n * 64 + 4096);
    scopes(&mut out);
    match shape {
        Shape::Exact => {
            for i in 0..n {
                exact_rule(&mut out, i);
            }
            for (k, domain) in DOMAINS.iter().take(4).enumerate() {
                let _ = writeln!(
                    out,
                    "tool \"{domain}_*\" requires {domain}:{}",
                    ["read", "write"][k % 2]
                );
            }
            out.push_str("deny tool \"internal_*\"\n");
        }
        Shape::Globs => {
            for i in 0..n {
                glob_rule(&mut out, i);
            }
        }
        Shape::Mixed => {
            for i in 0..n {
                if i % 10 == 0 {
                    glob_rule(&mut out, i);
                } else {
                    exact_rule(&mut out, i);
                }
            }
        }
        Shape::Prefixes => {
            for i in 0..n {
                let _ = writeln!(out, "tool \"t{i}*\" requires {}", requirement(i));
            }
        }
        Shape::Long => {
            // 8 + 1,008 + 8 literal characters and 2 stars: 1,024 in all.
            let middle = "x".repeat(1_006);
            for i in 0..n {
                let _ = writeln!(
                    out,
                    "tool \"p{i:07}*{middle}*s{i:07}\" requires {}",
                    requirement(i)
                );
            }
        }
    }
    out
}
