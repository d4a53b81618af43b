//! The compiled table on disk: versioned JSON, written by `mcp-policy
//! compile` and loaded by servers without the parser.
//!
//! The file holds the table's meaning (scopes, direct implications, rules
//! with their minimal clauses), not its indexes: loading rebuilds masks,
//! closures and hash maps through [`DecisionTable::new`], which checks every
//! index, so a hand-edited or truncated artifact is an error, never a panic.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::condition::{AtomCatalog, AtomId};
use crate::decision_table::{
    BuildError, Clause, DecisionTable, DefaultEffect, Effect, Rule, Target,
};
use crate::glob::Glob;
use crate::method::TargetKind;
use crate::scope::{Level, ScopeCatalog, ScopeId, ScopeInfo};
use crate::validate::{Defect, RuleRef};

/// The `format` field every artifact carries.
pub const FORMAT: &str = "mcp-policy-table";
/// The artifact version this build writes. Bump it whenever a field is
/// added or its meaning changes; loaders reject versions they do not know.
/// Version 2 added `source`; version 3 added condition atoms (`atoms`, and
/// `conditions` and `deny_when` in rules). A table without conditions is
/// still written as version 2, byte for byte as before, so servers of
/// version 2 keep loading it; one with conditions is version 3, which such
/// a server refuses by its version rather than by a field it does not know.
/// Versions 1 and 2 still load.
pub const VERSION: u32 = 3;
/// The version of a table without conditions.
const VERSION_UNCONDITIONAL: u32 = 2;
/// The oldest version this build reads.
const OLDEST_READ: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Artifact {
    format: String,
    version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    policy: Option<String>,
    /// The source file as `compile` was given it; each rule's `line` is a
    /// line of it (version 2 on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<String>,
    default: DefaultEffect,
    scopes: Vec<ArtifactScope>,
    /// The condition atoms, each once; rules name them by index
    /// (version 3 on).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    atoms: Vec<crate::artifact_atoms::ArtifactAtom>,
    rules: Vec<ArtifactRule>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ArtifactScope {
    name: String,
    level: Level,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    implies: Vec<ScopeId>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ArtifactRule {
    kind: TargetKind,
    target: ArtifactTarget,
    /// `None` for a deny rule; otherwise the clauses, each a list of scope
    /// indices that must all be held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    allow: Option<Vec<Vec<ScopeId>>>,
    /// Beside `allow`, clause by clause, the atoms each clause needs; empty
    /// when no clause has any (version 3 on).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    conditions: Vec<Vec<AtomId>>,
    /// A `deny ... when`: its condition in disjunctive normal form, each
    /// conjunct a list of atoms (version 3 on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    deny_when: Option<Vec<Vec<AtomId>>>,
    text: String,
    line: u32,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ArtifactTarget {
    Exact(String),
    Glob(String),
}

/// Why an artifact could not be loaded.
#[derive(Debug)]
pub enum ArtifactError {
    Json(serde_json::Error),
    WrongFormat(String),
    UnsupportedVersion(u32),
    Invalid(BuildError),
    /// What the compiler would have rejected in the source (see
    /// [`crate::Defect`]); every one found.
    Rejected(Vec<crate::Defect>),
    /// A field that its version does not have: conditions in a version 1
    /// or 2 table. A server of that version would refuse the table, so a
    /// file claiming it was not written by `compile`.
    FieldTooNew {
        version: u32,
        field: &'static str,
    },
}

impl fmt::Display for ArtifactError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArtifactError::Json(err) => write!(f, "not a decision table: {err}"),
            ArtifactError::WrongFormat(format) => {
                write!(
                    f,
                    "not a decision table: format is `{format}`, expected `{FORMAT}`"
                )
            }
            ArtifactError::UnsupportedVersion(version) => write!(
                f,
                "decision table version {version} is not supported (this build reads versions {OLDEST_READ} to {VERSION}); recompile the policy"
            ),
            ArtifactError::Invalid(err) => write!(f, "invalid decision table: {err}"),
            ArtifactError::FieldTooNew { version, field } => write!(
                f,
                "invalid decision table: version {version} has no `{field}` (conditions need version {VERSION}); recompile the policy"
            ),
            ArtifactError::Rejected(defects) => {
                // A table of a million duplicate rules is refused as well
                // with its first defects as with all of them.
                const SHOWN: usize = 20;
                write!(f, "invalid decision table: the compiler rejects it:")?;
                for defect in defects.iter().take(SHOWN) {
                    write!(f, "\n  - {defect}")?;
                }
                if defects.len() > SHOWN {
                    write!(f, "\n  - and {} more", defects.len() - SHOWN)?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ArtifactError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ArtifactError::Json(err) => Some(err),
            ArtifactError::Invalid(err) => Some(err),
            _ => None,
        }
    }
}

impl DecisionTable {
    /// The table as a versioned artifact (pretty JSON, so a reviewer can read
    /// a diff of it).
    pub fn to_artifact(&self) -> String {
        let artifact = Artifact {
            format: FORMAT.into(),
            version: if self.has_conditions() {
                VERSION
            } else {
                VERSION_UNCONDITIONAL
            },
            policy: self.name().map(str::to_owned),
            source: self.source().map(str::to_owned),
            default: self.default_effect(),
            scopes: self
                .scopes()
                .iter()
                .map(|(_, info)| ArtifactScope {
                    name: info.name.clone(),
                    level: info.level,
                    description: info.description.clone(),
                    implies: info.implies.clone(),
                })
                .collect(),
            // Minimisation can absorb every clause that read an atom while
            // the atom stays interned: such a table decides without
            // conditions, is written as version 2, and a version 2 table
            // with `atoms` is refused on load.
            atoms: if self.has_conditions() {
                crate::artifact_atoms::write(self.atoms())
            } else {
                Vec::new()
            },
            rules: self
                .rules()
                .iter()
                .map(|rule| ArtifactRule {
                    kind: rule.kind,
                    target: match &rule.target {
                        Target::Exact(name) => ArtifactTarget::Exact(name.clone()),
                        Target::Glob(glob) => ArtifactTarget::Glob(glob.as_str().into()),
                    },
                    allow: match &rule.effect {
                        Effect::Allow(clauses) => {
                            Some(clauses.iter().map(|clause| clause.scopes.clone()).collect())
                        }
                        Effect::Deny | Effect::DenyWhen(_) => None,
                    },
                    conditions: match &rule.effect {
                        Effect::Allow(clauses)
                            if clauses.iter().any(|clause| !clause.atoms.is_empty()) =>
                        {
                            clauses.iter().map(|clause| clause.atoms.clone()).collect()
                        }
                        _ => Vec::new(),
                    },
                    deny_when: match &rule.effect {
                        Effect::DenyWhen(condition) => Some(condition.clone()),
                        _ => None,
                    },
                    text: rule.text.clone(),
                    line: rule.line,
                })
                .collect(),
        };
        // Serialising plain structs of strings and numbers cannot fail.
        serde_json::to_string_pretty(&artifact).unwrap_or_default()
    }

    /// Loads an artifact written by [`DecisionTable::to_artifact`], and
    /// refuses it when its source would not have compiled (see
    /// [`crate::Defect`]): a hand-edited table gets the compiler's checks.
    pub fn from_artifact(json: &str) -> Result<DecisionTable, ArtifactError> {
        // Read the header alone first, so a newer artifact is reported as a
        // version mismatch rather than as whatever field it added.
        #[derive(Deserialize)]
        struct Header {
            format: String,
            version: u32,
        }
        let header: Header = serde_json::from_str(json).map_err(ArtifactError::Json)?;
        if header.format != FORMAT {
            return Err(ArtifactError::WrongFormat(header.format));
        }
        if !(OLDEST_READ..=VERSION).contains(&header.version) {
            return Err(ArtifactError::UnsupportedVersion(header.version));
        }
        let artifact: Artifact = serde_json::from_str(json).map_err(ArtifactError::Json)?;
        if header.version < VERSION {
            let field = if !artifact.atoms.is_empty() {
                Some("atoms")
            } else if artifact
                .rules
                .iter()
                .any(|rule| !rule.conditions.is_empty())
            {
                Some("conditions")
            } else if artifact.rules.iter().any(|rule| rule.deny_when.is_some()) {
                Some("deny_when")
            } else {
                None
            };
            if let Some(field) = field {
                return Err(ArtifactError::FieldTooNew {
                    version: header.version,
                    field,
                });
            }
        }
        let scopes = ScopeCatalog::new(
            artifact
                .scopes
                .into_iter()
                .map(|scope| ScopeInfo {
                    name: scope.name,
                    level: scope.level,
                    description: scope.description,
                    implies: scope.implies,
                })
                .collect(),
        )
        .map_err(|err| ArtifactError::Invalid(BuildError::Catalog(err)))?;
        let (atoms, mut defects) = match crate::artifact_atoms::read(artifact.atoms) {
            Ok(atoms) => (atoms, Vec::new()),
            Err(defects) => (AtomCatalog::new(), defects),
        };
        let mut rules: Vec<Rule> = Vec::with_capacity(artifact.rules.len());
        for rule in artifact.rules {
            let text = rule.text;
            let effect = match (rule.allow, rule.deny_when) {
                (Some(clauses), None) => {
                    let conditions = rule.conditions;
                    if !conditions.is_empty() && conditions.len() != clauses.len() {
                        defects.push(Defect::MisshapenCondition {
                            rule: RuleRef {
                                text: text.clone(),
                                line: rule.line,
                            },
                        });
                    }
                    let mut conditions = conditions.into_iter();
                    Effect::Allow(
                        clauses
                            .into_iter()
                            .map(|scopes| Clause {
                                scopes,
                                atoms: conditions.next().unwrap_or_default(),
                            })
                            .collect(),
                    )
                }
                (None, deny_when) => {
                    if !rule.conditions.is_empty() {
                        defects.push(Defect::MisshapenCondition {
                            rule: RuleRef {
                                text: text.clone(),
                                line: rule.line,
                            },
                        });
                    }
                    match deny_when {
                        Some(condition) => Effect::DenyWhen(condition),
                        None => Effect::Deny,
                    }
                }
                (Some(_), Some(_)) => {
                    defects.push(Defect::MisshapenCondition {
                        rule: RuleRef {
                            text: text.clone(),
                            line: rule.line,
                        },
                    });
                    Effect::Deny
                }
            };
            rules.push(Rule {
                kind: rule.kind,
                target: match rule.target {
                    ArtifactTarget::Exact(name) => Target::Exact(name),
                    ArtifactTarget::Glob(pattern) => Target::Glob(Glob::new(&pattern)),
                },
                effect,
                text,
                line: rule.line,
            });
        }
        defects.extend(crate::validate::defects(&scopes, &rules));
        if !defects.is_empty() {
            return Err(ArtifactError::Rejected(defects));
        }
        let table =
            DecisionTable::with_atoms(artifact.policy, artifact.default, scopes, atoms, rules)
                .map_err(ArtifactError::Invalid)?;
        Ok(match artifact.source {
            Some(source) => table.with_source(source),
            None => table,
        })
    }
}
