//! The codes of the language's diagnostics: the errors, and the lints
//! (whose levels, documentation and checks are in `lint`, which re-exports
//! [`Lint`]). Here, beside each other, so that a diagnostic names a lint
//! without the diagnostics depending on the lints.

use std::fmt;

/// Every diagnostic the language reports. A code, once published, keeps its
/// meaning: CI configurations and editors match on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    Syntax,
    NestingTooDeep,
    InvalidScopeName,
    ReservedScopeName,
    DuplicateScope,
    UnknownLevel,
    UnknownScope,
    ImpliesCycle,
    DuplicatePolicyName,
    DuplicateDefault,
    UnknownDefault,
    EmptyTarget,
    TargetTooLong,
    EmptyGroup,
    DuplicateRule,
    AmbiguousRules,
    RequirementTooComplex,
    InvalidCondition,
    /// A check inside mcp-policy failed that the input cannot make fail: a
    /// bug of mcp-policy, not of the policy. Reported, never panicked on.
    Internal,
    /// A compiled decision table (`mcp-policy compile`'s JSON) that does
    /// not load: reported by the commands that read tables, never by the
    /// compiler.
    InvalidArtifact,
    /// A lint fired (see `lint`); lints have codes of their own.
    Lint(Lint),
}

impl Code {
    /// Every error code (lints are listed by `Lint::ALL`).
    pub const ALL: [Code; 20] = [
        Code::Syntax,
        Code::NestingTooDeep,
        Code::InvalidScopeName,
        Code::ReservedScopeName,
        Code::DuplicateScope,
        Code::UnknownLevel,
        Code::UnknownScope,
        Code::ImpliesCycle,
        Code::DuplicatePolicyName,
        Code::DuplicateDefault,
        Code::UnknownDefault,
        Code::EmptyTarget,
        Code::TargetTooLong,
        Code::EmptyGroup,
        Code::DuplicateRule,
        Code::AmbiguousRules,
        Code::RequirementTooComplex,
        Code::InvalidCondition,
        Code::Internal,
        Code::InvalidArtifact,
    ];

    /// The stable code, as printed and as matched by tools.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Syntax => "mcp_policy::syntax",
            Code::NestingTooDeep => "mcp_policy::nesting_too_deep",
            Code::InvalidScopeName => "mcp_policy::invalid_scope_name",
            Code::ReservedScopeName => "mcp_policy::reserved_scope_name",
            Code::DuplicateScope => "mcp_policy::duplicate_scope",
            Code::UnknownLevel => "mcp_policy::unknown_level",
            Code::UnknownScope => "mcp_policy::unknown_scope",
            Code::ImpliesCycle => "mcp_policy::implies_cycle",
            Code::DuplicatePolicyName => "mcp_policy::duplicate_policy_name",
            Code::DuplicateDefault => "mcp_policy::duplicate_default",
            Code::UnknownDefault => "mcp_policy::unknown_default",
            Code::EmptyTarget => "mcp_policy::empty_target",
            Code::TargetTooLong => "mcp_policy::target_too_long",
            Code::EmptyGroup => "mcp_policy::empty_group",
            Code::DuplicateRule => "mcp_policy::duplicate_rule",
            Code::AmbiguousRules => "mcp_policy::ambiguous_rules",
            Code::RequirementTooComplex => "mcp_policy::requirement_too_complex",
            Code::InvalidCondition => "mcp_policy::invalid_condition",
            Code::Internal => "mcp_policy::internal",
            Code::InvalidArtifact => "mcp_policy::invalid_artifact",
            Code::Lint(lint) => lint.code(),
        }
    }

    /// One line on what the code means (SPEC.md lists them all).
    pub fn summary(self) -> &'static str {
        match self {
            Code::Syntax => "the text does not follow the grammar",
            Code::NestingTooDeep => "`any_of`/`all_of` nested deeper than the parser allows",
            Code::InvalidScopeName => "a scope name that is not an OAuth scope token",
            Code::ReservedScopeName => {
                "a scope named like a keyword of requirements or an operand (`arg.`, `claim.`)"
            }
            Code::DuplicateScope => "a scope declared twice",
            Code::UnknownLevel => "a scope level other than read, write, admin, resource, oauth",
            Code::UnknownScope => "a rule or `implies` names a scope that is not declared",
            Code::ImpliesCycle => "scopes that imply each other in a cycle",
            Code::DuplicatePolicyName => "more than one `policy` statement",
            Code::DuplicateDefault => "more than one `default` statement",
            Code::UnknownDefault => "a default other than `deny` or `allow`",
            Code::EmptyTarget => "a rule whose target is the empty string",
            Code::TargetTooLong => "a target pattern longer than 1,024 characters",
            Code::EmptyGroup => "an `any_of()` or `all_of()` with no members",
            Code::DuplicateRule => "two rules for the same target",
            Code::AmbiguousRules => "two globs of equal specificity that can match the same name",
            Code::RequirementTooComplex => {
                "a requirement whose normal form has more clauses than the compiler allows"
            }
            Code::InvalidCondition => {
                "a condition that cannot hold as written, or stands where it cannot"
            }
            Code::Internal => "a bug of mcp-policy, not of the policy: please report it",
            Code::InvalidArtifact => "a compiled decision table that does not load",
            Code::Lint(lint) => lint.summary(),
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every lint. A lint's name, once published, keeps its meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lint {
    UnusedScope,
    ImpliedOnlyScope,
    RedundantRequirement,
    ShadowedRule,
    BroadGlob,
    WeakerOverride,
    DestructiveReachable,
    OauthScopeGrants,
    DefaultAllow,
    InvalidSuppression,
    UncoveredTool,
    UnknownTool,
    DestructiveHintReachable,
    ReadOnlyHintNeedsWrite,
    EmptyPolicy,
    ConfusableName,
    UnknownArgument,
    ArgumentTypeMismatch,
    ConditionOnPartialGlob,
    MatchesOnPath,
    NeverTrueCondition,
    NegatedDenyCondition,
}

impl Lint {
    pub const ALL: [Lint; 22] = [
        Lint::UnusedScope,
        Lint::ImpliedOnlyScope,
        Lint::RedundantRequirement,
        Lint::ShadowedRule,
        Lint::BroadGlob,
        Lint::WeakerOverride,
        Lint::DestructiveReachable,
        Lint::OauthScopeGrants,
        Lint::DefaultAllow,
        Lint::InvalidSuppression,
        Lint::UncoveredTool,
        Lint::UnknownTool,
        Lint::DestructiveHintReachable,
        Lint::ReadOnlyHintNeedsWrite,
        Lint::EmptyPolicy,
        Lint::ConfusableName,
        Lint::UnknownArgument,
        Lint::ArgumentTypeMismatch,
        Lint::ConditionOnPartialGlob,
        Lint::MatchesOnPath,
        Lint::NeverTrueCondition,
        Lint::NegatedDenyCondition,
    ];

    /// The name used on the command line and in suppression comments.
    pub fn name(self) -> &'static str {
        match self {
            Lint::UnusedScope => "unused_scope",
            Lint::ImpliedOnlyScope => "implied_only_scope",
            Lint::RedundantRequirement => "redundant_requirement",
            Lint::ShadowedRule => "shadowed_rule",
            Lint::BroadGlob => "broad_glob",
            Lint::WeakerOverride => "weaker_override",
            Lint::DestructiveReachable => "destructive_reachable",
            Lint::OauthScopeGrants => "oauth_scope_grants",
            Lint::DefaultAllow => "default_allow",
            Lint::InvalidSuppression => "invalid_suppression",
            Lint::UncoveredTool => "uncovered_tool",
            Lint::UnknownTool => "unknown_tool",
            Lint::DestructiveHintReachable => "destructive_hint_reachable",
            Lint::ReadOnlyHintNeedsWrite => "read_only_hint_needs_write",
            Lint::EmptyPolicy => "empty_policy",
            Lint::ConfusableName => "confusable_name",
            Lint::UnknownArgument => "unknown_argument",
            Lint::ArgumentTypeMismatch => "argument_type_mismatch",
            Lint::ConditionOnPartialGlob => "condition_on_partial_glob",
            Lint::MatchesOnPath => "matches_on_path",
            Lint::NeverTrueCondition => "never_true_condition",
            Lint::NegatedDenyCondition => "negated_deny_condition",
        }
    }

    /// The stable code, as diagnostics print it.
    pub fn code(self) -> &'static str {
        match self {
            Lint::UnusedScope => "mcp_policy::lint::unused_scope",
            Lint::ImpliedOnlyScope => "mcp_policy::lint::implied_only_scope",
            Lint::RedundantRequirement => "mcp_policy::lint::redundant_requirement",
            Lint::ShadowedRule => "mcp_policy::lint::shadowed_rule",
            Lint::BroadGlob => "mcp_policy::lint::broad_glob",
            Lint::WeakerOverride => "mcp_policy::lint::weaker_override",
            Lint::DestructiveReachable => "mcp_policy::lint::destructive_reachable",
            Lint::OauthScopeGrants => "mcp_policy::lint::oauth_scope_grants",
            Lint::DefaultAllow => "mcp_policy::lint::default_allow",
            Lint::InvalidSuppression => "mcp_policy::lint::invalid_suppression",
            Lint::UncoveredTool => "mcp_policy::lint::uncovered_tool",
            Lint::UnknownTool => "mcp_policy::lint::unknown_tool",
            Lint::DestructiveHintReachable => "mcp_policy::lint::destructive_hint_reachable",
            Lint::ReadOnlyHintNeedsWrite => "mcp_policy::lint::read_only_hint_needs_write",
            Lint::EmptyPolicy => "mcp_policy::lint::empty_policy",
            Lint::ConfusableName => "mcp_policy::lint::confusable_name",
            Lint::UnknownArgument => "mcp_policy::lint::unknown_argument",
            Lint::ArgumentTypeMismatch => "mcp_policy::lint::argument_type_mismatch",
            Lint::ConditionOnPartialGlob => "mcp_policy::lint::condition_on_partial_glob",
            Lint::MatchesOnPath => "mcp_policy::lint::matches_on_path",
            Lint::NeverTrueCondition => "mcp_policy::lint::never_true_condition",
            Lint::NegatedDenyCondition => "mcp_policy::lint::negated_deny_condition",
        }
    }

    pub fn summary(self) -> &'static str {
        match self {
            Lint::UnusedScope => {
                "a declared scope that no rule requires, directly or through what it implies"
            }
            Lint::ImpliedOnlyScope => {
                "a scope that is only ever implied, and that no rule requires"
            }
            Lint::RedundantRequirement => "a requirement with members that change nothing",
            Lint::ShadowedRule => "a rule that never decides: a deny takes every name it matches",
            Lint::BroadGlob => "a pattern with no literal prefix, matching names of every family",
            Lint::WeakerOverride => {
                "a more specific rule that asks less than the pattern it overrides"
            }
            Lint::DestructiveReachable => {
                "a destructive-looking tool callable without an admin scope"
            }
            Lint::OauthScopeGrants => {
                "a protocol scope such as `offline_access` used to grant access"
            }
            Lint::DefaultAllow => "`default allow`: every tool the policy forgets is open",
            Lint::InvalidSuppression => {
                "a suppression comment that names no known lint or gives no reason"
            }
            Lint::UncoveredTool => "a tool the server lists that no rule covers",
            Lint::UnknownTool => "a rule for a tool the server does not list",
            Lint::DestructiveHintReachable => {
                "a tool annotated `destructiveHint: true` callable without an admin scope"
            }
            Lint::ReadOnlyHintNeedsWrite => {
                "a tool annotated `readOnlyHint: true` that needs a write or admin scope"
            }
            Lint::EmptyPolicy => "a policy that allows nothing: no rule grants any call",
            Lint::ConfusableName => {
                "a name that mixes scripts, or looks like another name of the policy or the server"
            }
            Lint::UnknownArgument => {
                "a condition on an argument the tool's `inputSchema` does not declare"
            }
            Lint::ArgumentTypeMismatch => {
                "a condition whose operator or value cannot match the argument's declared type"
            }
            Lint::ConditionOnPartialGlob => {
                "a condition on an argument that some tools the pattern covers do not have"
            }
            Lint::MatchesOnPath => {
                "`matches` on a path-like argument, which a glob reads without normalising"
            }
            Lint::NeverTrueCondition => {
                "a condition the argument's declared bounds, `enum` or `const` make impossible"
            }
            Lint::NegatedDenyCondition => {
                "`!=` in a deny's `when`: a missing or mistyped value does not deny"
            }
        }
    }
}

impl fmt::Display for Lint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
