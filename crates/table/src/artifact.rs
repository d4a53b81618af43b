//! The compiled table on disk: versioned JSON, written by `mcp-policy
//! compile` and loaded by servers without the parser.
//!
//! The file holds the table's meaning (scopes, direct implications, rules
//! with their minimal clauses), not its indexes: loading rebuilds masks,
//! closures and hash maps through [`DecisionTable::new`], which checks every
//! index, so a hand-edited or truncated artifact is an error, never a panic.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::decision_table::{
    BuildError, Clause, DecisionTable, DefaultEffect, Effect, Rule, Target,
};
use crate::glob::Glob;
use crate::method::TargetKind;
use crate::scope::{Level, ScopeCatalog, ScopeId, ScopeInfo};

/// The `format` field every artifact carries.
pub const FORMAT: &str = "mcp-policy-table";
/// The artifact version this build writes. Bump it whenever a field is
/// added or its meaning changes; loaders reject versions they do not know.
/// Version 2 added `source`; version 1 artifacts (without it) still load.
pub const VERSION: u32 = 2;
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
            version: VERSION,
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
                        Effect::Deny => None,
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
        let rules: Vec<Rule> = artifact
            .rules
            .into_iter()
            .map(|rule| Rule {
                kind: rule.kind,
                target: match rule.target {
                    ArtifactTarget::Exact(name) => Target::Exact(name),
                    ArtifactTarget::Glob(pattern) => Target::Glob(Glob::new(&pattern)),
                },
                effect: match rule.allow {
                    Some(clauses) => Effect::Allow(
                        clauses
                            .into_iter()
                            .map(|scopes| Clause { scopes })
                            .collect(),
                    ),
                    None => Effect::Deny,
                },
                text: rule.text,
                line: rule.line,
            })
            .collect();
        let defects = crate::validate::defects(&scopes, &rules);
        if !defects.is_empty() {
            return Err(ArtifactError::Rejected(defects));
        }
        let table = DecisionTable::new(artifact.policy, artifact.default, scopes, rules)
            .map_err(ArtifactError::Invalid)?;
        Ok(match artifact.source {
            Some(source) => table.with_source(source),
            None => table,
        })
    }
}
