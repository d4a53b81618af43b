//! `under`: path containment, decided lexically and without allocating.
//!
//! A path is under a base when its lexical normal form (`//` and `.`
//! collapsed, each `..` popping one segment) equals the base or continues
//! it with `/`: `/workspace/a/../b` is under `/workspace`, `/workspace2`
//! and `/workspace/../etc` are not. The check fails closed on what a
//! server might read differently from us:
//! - a NUL byte (C APIs end the path there);
//! - a relative path, the empty one included (its meaning depends on the
//!   server's working directory);
//! - a backslash (a server on Windows reads it as a separator, so
//!   `/workspace/..\..\etc` would leave the base there);
//! - a `..` above the root.
//!
//! Symbolic links are not resolved (no file system is read): a link inside
//! the base that points outside it is the server's to refuse.
//!
//! Rather than building the normal form, the check walks the segments once
//! and keeps two counters: the depth of the normal form so far, and how
//! many of its leading segments equal the base's. A push extends the match
//! only when the match reaches the top; a pop cuts it to the new depth.

use std::fmt;
use std::hash::{Hash, Hasher};

use super::Falsity;

/// A normalised absolute directory, the right side of `under`.
#[derive(Clone)]
pub struct PathBase {
    /// The normal form: `/` alone, or `/` and segments joined by `/`.
    text: Box<str>,
    segments: Box<[Box<str>]>,
}

/// Why a text cannot be an `under` base.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BaseProblem {
    Relative,
    Nul,
    Backslash,
    AboveRoot,
}

impl fmt::Display for BaseProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BaseProblem::Relative => "it is not absolute (it must start with `/`)",
            BaseProblem::Nul => "it holds a NUL byte",
            BaseProblem::Backslash => "it holds a backslash",
            BaseProblem::AboveRoot => "a `..` in it climbs above the root",
        })
    }
}

impl PathBase {
    /// Validates and normalises a base (`/workspace/./a/` → `/workspace/a`).
    pub fn new(base: &str) -> Result<PathBase, BaseProblem> {
        if let Some(problem) = path_problem(base) {
            return Err(match problem {
                Falsity::Nul => BaseProblem::Nul,
                Falsity::Backslash => BaseProblem::Backslash,
                _ => BaseProblem::Relative,
            });
        }
        let mut segments: Vec<Box<str>> = Vec::new();
        for segment in base.split('/') {
            match segment {
                "" | "." => {}
                ".." => {
                    if segments.pop().is_none() {
                        return Err(BaseProblem::AboveRoot);
                    }
                }
                name => segments.push(name.into()),
            }
        }
        let text = if segments.is_empty() {
            "/".to_owned()
        } else {
            segments.iter().map(|s| format!("/{s}")).collect()
        };
        Ok(PathBase {
            text: text.into(),
            segments: segments.into(),
        })
    }

    /// The normal form.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `true` when `base` is already in normal form (an artifact must hold
    /// bases so: the text a reviewer reads is the one that decides).
    pub fn is_normal(base: &str) -> bool {
        PathBase::new(base).is_ok_and(|normal| *normal.text == *base)
    }

    /// `Ok` when `path` is under this base; otherwise why not.
    pub fn contains(&self, path: &str) -> Result<(), Falsity> {
        if let Some(problem) = path_problem(path) {
            return Err(problem);
        }
        let (mut depth, mut matched) = (0usize, 0usize);
        for segment in path.split('/') {
            match segment {
                "" | "." => {}
                ".." => {
                    depth = depth.checked_sub(1).ok_or(Falsity::AboveRoot)?;
                    matched = matched.min(depth);
                }
                name => {
                    if matched == depth && self.segments.get(depth).is_some_and(|s| **s == *name) {
                        matched += 1;
                    }
                    depth += 1;
                }
            }
        }
        if matched == self.segments.len() {
            Ok(())
        } else {
            Err(Falsity::Outside)
        }
    }
}

/// What makes a path unreadable to `under` before its segments are looked at.
fn path_problem(path: &str) -> Option<Falsity> {
    let bytes = path.as_bytes();
    if bytes.contains(&0) {
        Some(Falsity::Nul)
    } else if bytes.contains(&b'\\') {
        Some(Falsity::Backslash)
    } else if bytes.first() != Some(&b'/') {
        Some(Falsity::Relative)
    } else {
        None
    }
}

impl PartialEq for PathBase {
    fn eq(&self, other: &PathBase) -> bool {
        self.text == other.text
    }
}

impl Eq for PathBase {}

impl Hash for PathBase {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl fmt::Debug for PathBase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PathBase({:?})", self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn under(path: &str, base: &str) -> Result<(), Falsity> {
        PathBase::new(base).unwrap().contains(path)
    }

    #[test]
    fn paths_inside_the_base_are_under_it() {
        for path in [
            "/workspace",
            "/workspace/",
            "/workspace/a",
            "/workspace/./a",
            "//workspace/a",
            "/workspace//a///b/",
            "/workspace/a/../b",
            "/workspace/a/..",
            "/./workspace/a",
            "/workspace/../workspace/a",
            "/workspace/.../a",
            "/workspace/..a",
        ] {
            assert_eq!(under(path, "/workspace"), Ok(()), "{path}");
        }
    }

    #[test]
    fn traversal_and_lookalikes_are_not_under_it() {
        for (path, why) in [
            ("/workspace/../etc/passwd", Falsity::Outside),
            ("/workspace2", Falsity::Outside),
            ("/workspace2/a", Falsity::Outside),
            ("/workspac", Falsity::Outside),
            ("/", Falsity::Outside),
            ("/etc/workspace", Falsity::Outside),
            ("/workspace/a/../../etc", Falsity::Outside),
            ("/workspace/..", Falsity::Outside),
            ("/workspace/../../workspace", Falsity::AboveRoot),
            ("/..", Falsity::AboveRoot),
            ("/workspace/a\0/b", Falsity::Nul),
            ("/workspace/..\\..\\etc", Falsity::Backslash),
            ("workspace/a", Falsity::Relative),
            ("./workspace", Falsity::Relative),
            ("", Falsity::Relative),
            ("~/workspace", Falsity::Relative),
        ] {
            assert_eq!(under(path, "/workspace"), Err(why), "{path:?}");
        }
    }

    #[test]
    fn nested_bases_and_the_root() {
        assert_eq!(under("/a/b/c", "/a/b"), Ok(()));
        assert_eq!(under("/a/x/../b/c", "/a/b"), Ok(()));
        assert_eq!(under("/a/bc", "/a/b"), Err(Falsity::Outside));
        assert_eq!(under("/a", "/a/b"), Err(Falsity::Outside));
        assert_eq!(under("/b/a/b", "/a/b"), Err(Falsity::Outside));
        assert_eq!(under("/anything/at/all", "/"), Ok(()));
        assert_eq!(under("/", "/"), Ok(()));
        assert_eq!(under("/..", "/"), Err(Falsity::AboveRoot));
    }

    #[test]
    fn bases_are_normalised_and_checked() {
        assert_eq!(
            PathBase::new("/workspace/./a/").unwrap().as_str(),
            "/workspace/a"
        );
        assert_eq!(PathBase::new("//x//y/../z").unwrap().as_str(), "/x/z");
        assert_eq!(PathBase::new("/").unwrap().as_str(), "/");
        assert_eq!(PathBase::new("/a/..").unwrap().as_str(), "/");
        assert_eq!(PathBase::new("a").unwrap_err(), BaseProblem::Relative);
        assert_eq!(PathBase::new("").unwrap_err(), BaseProblem::Relative);
        assert_eq!(PathBase::new("/a\0").unwrap_err(), BaseProblem::Nul);
        assert_eq!(PathBase::new("/a\\b").unwrap_err(), BaseProblem::Backslash);
        assert_eq!(PathBase::new("/..").unwrap_err(), BaseProblem::AboveRoot);
        assert!(PathBase::is_normal("/workspace/a"));
        assert!(!PathBase::is_normal("/workspace/a/"));
        assert!(!PathBase::is_normal("/workspace/../a"));
    }

    #[test]
    fn ten_thousand_segments() {
        let deep = format!("/workspace{}", "/a".repeat(10_000));
        assert_eq!(under(&deep, "/workspace"), Ok(()));
        let back = format!("/workspace{}{}", "/a".repeat(10_000), "/..".repeat(10_001));
        assert_eq!(under(&back, "/workspace"), Err(Falsity::Outside));
        let above = format!("/workspace{}", "/..".repeat(10_000));
        assert_eq!(under(&above, "/workspace"), Err(Falsity::AboveRoot));
        let long_base = "/b".repeat(10_000);
        let base = PathBase::new(&long_base).unwrap();
        assert_eq!(base.contains(&format!("{long_base}/c")), Ok(()));
        assert_eq!(base.contains(&"/b".repeat(9_999)), Err(Falsity::Outside));
    }

    /// The counters agree with building the normal form.
    #[test]
    fn agrees_with_a_stack() {
        use proptest::prelude::*;
        fn reference(path: &str, base: &[&str]) -> bool {
            let mut stack = Vec::new();
            for segment in path.split('/') {
                match segment {
                    "" | "." => {}
                    ".." => {
                        if stack.pop().is_none() {
                            return false;
                        }
                    }
                    name => stack.push(name),
                }
            }
            stack.len() >= base.len() && stack[..base.len()] == *base
        }
        proptest!(|(parts in proptest::collection::vec(prop_oneof!["a", "b", "\\.\\.", "\\.", ""], 0..12),
                    base in proptest::collection::vec(prop_oneof!["a", "b"], 0..4))| {
            let path = format!("/{}", parts.join("/"));
            let base_text = format!("/{}", base.join("/"));
            let base_refs: Vec<&str> = base.iter().map(String::as_str).collect();
            prop_assert_eq!(
                PathBase::new(&base_text).unwrap().contains(&path).is_ok(),
                reference(&path, &base_refs),
                "{} under {}", path, base_text
            );
        });
    }
}
