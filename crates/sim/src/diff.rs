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

use mcp_policy_table::{Clause, DecisionTable, Effect, RuleId, Target, TargetKind};
use serde::Serialize;

use crate::atom_changes::{AtomChange, atom_changes};
use crate::conditions::{self, Access, Vars, Witness};
use crate::grants::{Grants, TooManySets};
use crate::regions::{self, Region, TooComplex};

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
    /// The minimal scope sets that grant: `[]` nothing, `[[]]` any valid
    /// token. For a rule with conditions: the clauses without any, which
    /// grant whatever the request (unless a `deny ... when` fires).
    pub grants: Grants,
    /// The clauses that grant only when their conditions hold.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Conditional>,
    /// The `deny ... when` rules that may deny these names first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub denied_when: Vec<WhenRule>,
}

/// A clause granted only when its condition atoms all hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Conditional {
    /// Its minimal scope sets.
    pub grants: Grants,
    /// Its atoms, as written.
    pub when: Vec<String>,
}

/// A `deny ... when` rule and its line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WhenRule {
    pub rule: String,
    pub line: u32,
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
    /// With conditions: requests (scopes, atoms true, atoms false) allowed
    /// now and not before, at most [`crate::conditions::MAX_WITNESSES`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gained_when: Vec<Witness>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lost_when: Vec<Witness>,
    /// Conditions rewritten on one operand, by the values they accept.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<AtomChange>,
    /// Why the change was not enumerated (over
    /// [`crate::conditions::MAX_ATOMS`] conditions): then it is counted as
    /// `changed`, which fails `--fail-on widened`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undecided: Option<String>,
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
    type Key = (Option<RuleId>, Vec<RuleId>);
    let mut olds: BTreeMap<Key, Decider> = BTreeMap::new();
    let mut news: BTreeMap<Key, Decider> = BTreeMap::new();
    let mut changes = Vec::new();
    for kind in TargetKind::ALL {
        let regions = regions::regions(old, new, kind)
            .map_err(|TooComplex| DiffError::TooComplex { kind })?;
        for region in regions {
            // Unconditional policies keep the scope-only comparison, and
            // its cost.
            let conditional = if old.has_conditions() || new.has_conditions() {
                conditional_change(old, new, &region, &rename, !renames.is_empty())?
            } else {
                None
            };
            let before: &Decider = match olds.entry((region.old, region.old_when.clone())) {
                Entry::Occupied(known) => known.into_mut(),
                Entry::Vacant(slot) => {
                    let mut decided = decider(old, region.old, &region.old_when)?;
                    if !renames.is_empty() {
                        decided.grants = decided.grants.renamed(rename);
                        for clause in &mut decided.conditions {
                            clause.grants = clause.grants.renamed(rename);
                        }
                    }
                    slot.insert(decided)
                }
            };
            let after: &Decider = match news.entry((region.new, region.new_when.clone())) {
                Entry::Occupied(known) => known.into_mut(),
                Entry::Vacant(slot) => slot.insert(decider(new, region.new, &region.new_when)?),
            };
            let change = match conditional {
                Some(None) => continue,
                Some(Some(found)) => found,
                None => {
                    if before.grants == after.grants {
                        continue;
                    }
                    scope_change(&before.grants, &after.grants)
                }
            };
            changes.push(Change {
                kind,
                target: label(old, region.old, new, region.new),
                example: region.example,
                change: change.kind,
                before: before.clone(),
                after: after.clone(),
                gained: change.gained,
                lost: change.lost,
                gained_when: change.gained_when,
                lost_when: change.lost_when,
                conditions: change.conditions,
                undecided: change.undecided,
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

/// What one region's change is, found either way.
struct Found {
    kind: ChangeKind,
    gained: Vec<Vec<String>>,
    lost: Vec<Vec<String>>,
    gained_when: Vec<Witness>,
    lost_when: Vec<Witness>,
    conditions: Vec<AtomChange>,
    undecided: Option<String>,
}

fn kind_of(before_nothing: bool, after_nothing: bool, gains: bool, loses: bool) -> ChangeKind {
    match (before_nothing, after_nothing, gains, loses) {
        (true, _, _, _) => ChangeKind::Added,
        (_, true, _, _) => ChangeKind::Removed,
        (_, _, true, false) => ChangeKind::Widened,
        (_, _, false, true) => ChangeKind::Narrowed,
        _ => ChangeKind::Changed,
    }
}

/// The change between two scope-only deciders.
fn scope_change(before: &Grants, after: &Grants) -> Found {
    let gained: Vec<Vec<String>> = after
        .not_granted_by(before)
        .into_iter()
        .map(<[String]>::to_vec)
        .collect();
    let lost: Vec<Vec<String>> = before
        .not_granted_by(after)
        .into_iter()
        .map(<[String]>::to_vec)
        .collect();
    Found {
        kind: kind_of(
            before.is_nothing(),
            after.is_nothing(),
            !gained.is_empty(),
            !lost.is_empty(),
        ),
        gained,
        lost,
        gained_when: Vec::new(),
        lost_when: Vec::new(),
        conditions: Vec::new(),
        undecided: None,
    }
}

/// The change of a region where either side reads a condition: `None`
/// when neither does (compare the scope grants), `Some(None)` when the two
/// decide every request alike, else what changed.
fn conditional_change(
    old: &DecisionTable,
    new: &DecisionTable,
    region: &Region,
    rename: &dyn Fn(&str) -> Option<String>,
    renaming: bool,
) -> Result<Option<Option<Found>>, DiffError> {
    let too_many = |TooManySets { rule }| DiffError::TooManySets { rule };
    let mut vars = Vars::default();
    let mut before = Access::of(old, region.old, &region.old_when, &mut vars).map_err(too_many)?;
    let after = Access::of(new, region.new, &region.new_when, &mut vars).map_err(too_many)?;
    if before.is_unconditional() && after.is_unconditional() {
        return Ok(None);
    }
    if renaming {
        before = before.renamed(rename);
    }
    if before == after {
        return Ok(Some(None));
    }
    let conditions = atom_changes(&before, &after, &vars);
    let Some(compared) = conditions::compare(&before, &after, &vars) else {
        return Ok(Some(Some(Found {
            kind: ChangeKind::Changed,
            gained: Vec::new(),
            lost: Vec::new(),
            gained_when: Vec::new(),
            lost_when: Vec::new(),
            conditions,
            undecided: Some(format!(
                "the two rules read {} conditions, over {}: not enumerated, counted as a change",
                before.vars().union(&after.vars()).count(),
                conditions::MAX_ATOMS
            )),
        })));
    };
    if compared.gained.is_empty() && compared.lost.is_empty() {
        return Ok(Some(None));
    }
    Ok(Some(Some(Found {
        kind: kind_of(
            !compared.old_grants_some,
            !compared.new_grants_some,
            !compared.gained.is_empty(),
            !compared.lost.is_empty(),
        ),
        gained: compared.gained_sets.sets().to_vec(),
        lost: compared.lost_sets.sets().to_vec(),
        gained_when: compared.gained,
        lost_when: compared.lost,
        conditions,
        undecided: None,
    })))
}

fn decider(
    table: &DecisionTable,
    rule: Option<RuleId>,
    when: &[RuleId],
) -> Result<Decider, DiffError> {
    let too_many = |TooManySets { rule }| DiffError::TooManySets { rule };
    let denied_when = when
        .iter()
        .filter_map(|id| table.rule(*id))
        .map(|rule| WhenRule {
            rule: rule.text.clone(),
            line: rule.line,
        })
        .collect();
    match rule.and_then(|id| table.rule(id)) {
        None => Ok(Decider {
            rule: None,
            line: None,
            grants: Grants::of_default(table.default_effect()),
            conditions: Vec::new(),
            denied_when,
        }),
        Some(rule) => {
            let mut conditions = Vec::new();
            if let Effect::Allow(clauses) = &rule.effect {
                for clause in clauses.iter().filter(|clause| !clause.atoms.is_empty()) {
                    conditions.push(Conditional {
                        grants: Grants::of_clauses(
                            table.scopes(),
                            std::iter::once(&Clause::of_scopes(clause.scopes.clone())),
                            &rule.text,
                        )
                        .map_err(too_many)?,
                        when: clause
                            .atoms
                            .iter()
                            .map(|id| table.atoms().text(*id).to_owned())
                            .collect(),
                    });
                }
            }
            Ok(Decider {
                rule: Some(rule.text.clone()),
                line: Some(rule.line),
                grants: Grants::unconditional(table.scopes(), &rule.effect, &rule.text)
                    .map_err(too_many)?,
                conditions,
                denied_when,
            })
        }
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
