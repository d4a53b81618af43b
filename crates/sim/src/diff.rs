//! Two policies compared by what they allow, not by their text.
//!
//! For every kind of target, the name space is cut into the regions the two
//! policies decide by the same pair of rules ([`crate::regions`]); for each
//! region, the minimal scope sets that grant it before and after
//! ([`Grants`]) are compared. Equal families decide every token alike, so
//! reordered declarations, renumbered scopes, a requirement rewritten into
//! an equivalent one, or a renamed scope that nothing requires, change
//! nothing and produce no entry. Scope sets are compared by name, which is
//! what tokens carry: renaming a scope a rule requires does change who is
//! let in (tokens carrying the old name lose access), and is reported.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use mcp_policy_table::{DecisionTable, RuleId, Target, TargetKind};
use serde::Serialize;

use crate::grants::{Grants, TooManySets};
use crate::regions::{self, TooComplex};

/// How access to a region changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// Nothing granted it before; some token is granted now.
    Added,
    /// Some token was granted before; nothing is now.
    Removed,
    /// Granted before and after, to more tokens now (and to none fewer).
    Widened,
    /// Granted before and after, to fewer tokens now (and to none more).
    Narrowed,
    /// Some tokens gain access and others lose it.
    Changed,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
            ChangeKind::Widened => "widened",
            ChangeKind::Narrowed => "narrowed",
            ChangeKind::Changed => "changed",
        }
    }

    /// Some token is let in that was not before.
    pub fn widens(self) -> bool {
        matches!(
            self,
            ChangeKind::Added | ChangeKind::Widened | ChangeKind::Changed
        )
    }

    /// Some token is kept out that was let in before.
    pub fn narrows(self) -> bool {
        matches!(
            self,
            ChangeKind::Removed | ChangeKind::Narrowed | ChangeKind::Changed
        )
    }
}

/// The rule that decides a region in one policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Decider {
    /// The rule as written; `None` when the policy's default decides.
    pub rule: Option<String>,
    /// Its 1-based line in the policy.
    pub line: Option<u32>,
    /// The minimal scope sets that grant: `[]` nothing, `[[]]` any valid token.
    pub grants: Grants,
}

/// One region whose access changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    pub kind: TargetKind,
    /// The region as a reader names it: a tool's name, the pattern deciding
    /// it (see `example` for a name in it), or `None` for names no rule of
    /// either policy matches.
    pub target: Option<String>,
    /// One name of the region, to try with `mcp-policy explain`.
    pub example: String,
    pub change: ChangeKind,
    pub before: Decider,
    pub after: Decider,
    /// Minimal scope sets granted now and not before: tokens that gain access.
    pub gained: Vec<Vec<String>>,
    /// Minimal scope sets granted before and not now: tokens that lose access.
    pub lost: Vec<Vec<String>>,
}

/// Counts per kind of change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub added: usize,
    pub removed: usize,
    pub widened: usize,
    pub narrowed: usize,
    pub changed: usize,
}

/// Everything that changes between two policies; empty when they decide
/// every request of every token alike.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    /// The scope renames applied to the old policy before comparing.
    pub renames: Vec<Rename>,
    pub summary: Summary,
    pub changes: Vec<Change>,
}

/// A scope the old policy calls `old` and the new one `new`.
///
/// Tokens carry scope names, so a rename is a change of access unless the
/// authorization server renames the scope too. A reviewer who knows it does
/// declares the rename; the old policy's grants are then read with the new
/// names, and only what the rename does not explain remains.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Rename {
    pub old: String,
    pub new: String,
}

/// Why two policies could not be compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiffError {
    /// A rule has more minimal scope sets than [`crate::grants::MAX_SETS`].
    TooManySets { rule: String },
    /// The targets of one kind are too entangled to cut into regions
    /// within [`crate::regions::MAX_STATES`].
    TooComplex { kind: TargetKind },
    /// A rename names a scope the old policy does not declare, or a new
    /// name the new policy does not declare.
    UndeclaredRename { scope: String, old_side: bool },
    /// Two renames from the same scope, or to the same scope.
    AmbiguousRename { scope: String },
}

impl std::fmt::Display for DiffError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DiffError::TooManySets { rule } => write!(
                f,
                "`{rule}` has more than {} minimal scope sets; the policies are not compared",
                crate::grants::MAX_SETS
            ),
            DiffError::TooComplex { kind } => write!(
                f,
                "the {kind} targets overlap in too many ways to compare exhaustively \
                 (over {} regions of names, or {} pattern positions); the policies are not compared",
                crate::regions::MAX_STATES,
                crate::regions::MAX_POSITIONS
            ),
            DiffError::UndeclaredRename { scope, old_side } => write!(
                f,
                "cannot rename `{scope}`: the {} policy declares no such scope",
                if *old_side { "old" } else { "new" }
            ),
            DiffError::AmbiguousRename { scope } => {
                write!(f, "`{scope}` is renamed more than once")
            }
        }
    }
}

impl std::error::Error for DiffError {}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// `true` when some token gains access somewhere.
    pub fn widens(&self) -> bool {
        self.changes.iter().any(|change| change.change.widens())
    }

    /// `true` when some token loses access somewhere.
    pub fn narrows(&self) -> bool {
        self.changes.iter().any(|change| change.change.narrows())
    }
}

/// Compares two compiled policies exhaustively: every kind, every region of
/// names, every token.
pub fn diff(old: &DecisionTable, new: &DecisionTable) -> Result<Diff, DiffError> {
    diff_renamed(old, new, &[])
}

/// [`diff`], with the old policy's scopes renamed first (see [`Rename`]).
/// Every old name must be declared by the old policy and every new name by
/// the new one, each at most once: a rename is a bijection, applied to all
/// names at once (so two scopes may swap names).
pub fn diff_renamed(
    old: &DecisionTable,
    new: &DecisionTable,
    renames: &[Rename],
) -> Result<Diff, DiffError> {
    for (i, rename) in renames.iter().enumerate() {
        if old.scopes().lookup(&rename.old).is_none() {
            return Err(DiffError::UndeclaredRename {
                scope: rename.old.clone(),
                old_side: true,
            });
        }
        if new.scopes().lookup(&rename.new).is_none() {
            return Err(DiffError::UndeclaredRename {
                scope: rename.new.clone(),
                old_side: false,
            });
        }
        let earlier = renames.get(..i).unwrap_or_default();
        if let Some(twice) = earlier
            .iter()
            .find(|other| other.old == rename.old || other.new == rename.new)
        {
            return Err(DiffError::AmbiguousRename {
                scope: if twice.old == rename.old {
                    rename.old.clone()
                } else {
                    rename.new.clone()
                },
            });
        }
    }
    let rename = |name: &str| {
        renames
            .iter()
            .find(|rename| rename.old == name)
            .map(|rename| rename.new.clone())
    };
    // A rule decides many regions (a catch-all glob, one per rule of the
    // other policy it meets): its grants are computed once per side.
    let mut olds: BTreeMap<Option<RuleId>, Decider> = BTreeMap::new();
    let mut news: BTreeMap<Option<RuleId>, Decider> = BTreeMap::new();
    let mut changes = Vec::new();
    for kind in TargetKind::ALL {
        let regions = regions::regions(old, new, kind)
            .map_err(|TooComplex| DiffError::TooComplex { kind })?;
        for region in regions {
            let before: &Decider = match olds.entry(region.old) {
                Entry::Occupied(known) => known.into_mut(),
                Entry::Vacant(slot) => {
                    let mut decided = decider(old, region.old)?;
                    if !renames.is_empty() {
                        decided.grants = decided.grants.renamed(rename);
                    }
                    slot.insert(decided)
                }
            };
            let after: &Decider = match news.entry(region.new) {
                Entry::Occupied(known) => known.into_mut(),
                Entry::Vacant(slot) => slot.insert(decider(new, region.new)?),
            };
            if before.grants == after.grants {
                continue;
            }
            let gained: Vec<Vec<String>> = after
                .grants
                .not_granted_by(&before.grants)
                .into_iter()
                .map(<[String]>::to_vec)
                .collect();
            let lost: Vec<Vec<String>> = before
                .grants
                .not_granted_by(&after.grants)
                .into_iter()
                .map(<[String]>::to_vec)
                .collect();
            let change = match (
                before.grants.is_nothing(),
                after.grants.is_nothing(),
                gained.is_empty(),
                lost.is_empty(),
            ) {
                (true, _, _, _) => ChangeKind::Added,
                (_, true, _, _) => ChangeKind::Removed,
                (_, _, false, true) => ChangeKind::Widened,
                (_, _, true, false) => ChangeKind::Narrowed,
                _ => ChangeKind::Changed,
            };
            changes.push(Change {
                kind,
                target: label(old, region.old, new, region.new),
                example: region.example,
                change,
                before: before.clone(),
                after: after.clone(),
                gained,
                lost,
            });
        }
    }
    // By kind, then by what a reader looks for: the target's name.
    changes.sort_by(|a, b| {
        (a.kind as u8, &a.target, &a.example).cmp(&(b.kind as u8, &b.target, &b.example))
    });
    let mut summary = Summary::default();
    for change in &changes {
        *match change.change {
            ChangeKind::Added => &mut summary.added,
            ChangeKind::Removed => &mut summary.removed,
            ChangeKind::Widened => &mut summary.widened,
            ChangeKind::Narrowed => &mut summary.narrowed,
            ChangeKind::Changed => &mut summary.changed,
        } += 1;
    }
    let mut renames = renames.to_vec();
    renames.sort();
    Ok(Diff {
        renames,
        summary,
        changes,
    })
}

fn decider(table: &DecisionTable, rule: Option<RuleId>) -> Result<Decider, DiffError> {
    match rule.and_then(|id| table.rule(id)) {
        None => Ok(Decider {
            rule: None,
            line: None,
            grants: Grants::of_default(table.default_effect()),
        }),
        Some(rule) => Ok(Decider {
            rule: Some(rule.text.clone()),
            line: Some(rule.line),
            grants: Grants::of_effect(table.scopes(), &rule.effect, &rule.text)
                .map_err(|TooManySets { rule }| DiffError::TooManySets { rule })?,
        }),
    }
}

/// How a reader names a region: an exact name when either policy names
/// it, else the pattern deciding it in the new policy (in the old one when
/// the new default decides it), else `None`: names no rule of either matches.
fn label(
    old: &DecisionTable,
    old_rule: Option<RuleId>,
    new: &DecisionTable,
    new_rule: Option<RuleId>,
) -> Option<String> {
    let targets: Vec<&Target> = [(new, new_rule), (old, old_rule)]
        .into_iter()
        .filter_map(|(table, id)| table.rule(id?))
        .map(|rule| &rule.target)
        .collect();
    let exact = targets.iter().find_map(|target| match target {
        Target::Exact(name) => Some(name.clone()),
        Target::Glob(_) => None,
    });
    exact.or_else(|| {
        targets.first().map(|target| match target {
            Target::Exact(name) => name.clone(),
            Target::Glob(glob) => glob.as_str().to_owned(),
        })
    })
}

/// Renames that would explain some of the changes: the scopes only the old
/// policy declares, paired with those only the new one declares, level by
/// level in declaration order (a renamed scope keeps its level and, most
/// often, its place). Returned only when applying them leaves fewer
/// changes than `diff` found (with the diff that remains), so a reviewer
/// can confirm them with `--rename`.
pub fn suggest_renames(
    old: &DecisionTable,
    new: &DecisionTable,
    diff: &Diff,
) -> Option<(Vec<Rename>, Diff)> {
    if diff.is_empty() || !diff.renames.is_empty() {
        return None;
    }
    let only = |table: &DecisionTable, other: &DecisionTable| -> Vec<(String, &'static str)> {
        table
            .scopes()
            .iter()
            .filter(|(_, info)| other.scopes().lookup(&info.name).is_none())
            .map(|(_, info)| (info.name.clone(), info.level.as_str()))
            .collect()
    };
    let (gone, arrived) = (only(old, new), only(new, old));
    let mut renames = Vec::new();
    for (rank, (name, level)) in gone.iter().enumerate() {
        let same_level = |(_, other_level): &&(String, &str)| other_level == level;
        let rank_in_level = gone
            .get(..rank)
            .unwrap_or_default()
            .iter()
            .filter(same_level)
            .count();
        if let Some((target, _)) = arrived.iter().filter(same_level).nth(rank_in_level) {
            renames.push(Rename {
                old: name.clone(),
                new: target.clone(),
            });
        }
    }
    if renames.is_empty() {
        return None;
    }
    let remaining = diff_renamed(old, new, &renames).ok()?;
    (remaining.changes.len() < diff.changes.len()).then_some((renames, remaining))
}
