//! The policy in force, swapped atomically at run time, and what the layer
//! derives from it once per load (the scopes it advertises).

use mcp_policy_evaluator::{Evaluator, Level, ScopeSet};
use mcp_policy_token::Principal;

/// One loaded policy and what the layer derives from it.
#[derive(Debug)]
pub struct LoadedPolicy {
    evaluator: Evaluator,
    generation: u64,
    pub(crate) scopes_supported: Vec<String>,
    pub(crate) baseline: Vec<String>,
}

impl LoadedPolicy {
    pub(crate) fn new(
        evaluator: Evaluator,
        generation: u64,
        baseline: Option<&[String]>,
    ) -> LoadedPolicy {
        let catalog = evaluator.table().scopes();
        let baseline: Vec<String> = match baseline {
            Some(names) => names.to_vec(),
            None => catalog
                .iter()
                .filter(|(_, info)| info.level == Level::Read)
                .map(|(_, info)| info.name.clone())
                .collect(),
        };
        // Baseline first, then every other declared scope but the
        // OAuth-level ones (`offline_access` and the like are the
        // authorization server's to advertise, not this resource's).
        let mut scopes_supported = baseline.clone();
        for (_, info) in catalog.iter() {
            if info.level != Level::OAuth && !scopes_supported.contains(&info.name) {
                scopes_supported.push(info.name.clone());
            }
        }
        LoadedPolicy {
            evaluator,
            generation,
            scopes_supported,
            baseline,
        }
    }

    pub fn evaluator(&self) -> &Evaluator {
        &self.evaluator
    }

    /// Counts loads: 0 for the policy the layer was built with.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The scopes the 401 challenge asks for.
    pub fn baseline_scopes(&self) -> &[String] {
        &self.baseline
    }

    /// `scopes_supported` of the protected resource metadata.
    pub fn scopes_supported(&self) -> &[String] {
        &self.scopes_supported
    }

    pub(crate) fn fingerprint(&self) -> u64 {
        self.evaluator.table().scopes().fingerprint()
    }

    pub(crate) fn parse(&self, principal: &Principal) -> ScopeSet {
        self.evaluator
            .scope_set(principal.scopes.iter().map(String::as_str))
    }
}

/// What the token cache keeps beside a verified token's principal (which the
/// cache holds itself, claims and all, once): its scopes parsed by the
/// policy of the time. After a reload that renumbers the scopes (another
/// catalog fingerprint) the set is foreign to the new table, so it is parsed
/// again per request rather than read (a foreign set would be denied anyway:
/// fail closed).
#[derive(Debug)]
pub struct CachedToken {
    fingerprint: u64,
    scopes: ScopeSet,
}

impl CachedToken {
    pub(crate) fn new(principal: &Principal, policy: &LoadedPolicy) -> CachedToken {
        CachedToken {
            fingerprint: policy.fingerprint(),
            scopes: policy.parse(principal),
        }
    }

    /// The token's scopes for `policy`: the cached set when it was made by
    /// the same scope numbering, else parsed now.
    pub(crate) fn scopes_for(&self, policy: &LoadedPolicy, principal: &Principal) -> ScopeSet {
        if self.fingerprint == policy.fingerprint() {
            self.scopes.clone()
        } else {
            policy.parse(principal)
        }
    }
}
