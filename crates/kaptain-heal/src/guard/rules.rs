use std::fmt;

use serde::{Deserialize, Serialize};

/// The safety rule behind a guard decision. `as_str()` is the metrics label
/// (`kaptain_heal_rejections_total{rule=...}`) and what HealingAction status records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SafetyRule {
    /// No policy (any more) stands behind the proposal.
    NoPolicy,
    ProtectedNamespace,
    ProtectedKind,
    ProtectedLabel,
    NeverAllow,
    /// The change does not have the shape its action kind allows (wrong target kind,
    /// operation or patch).
    ChangeMismatch,
    /// The policy does not list this action kind.
    NotInPolicy,
    /// The change goes beyond the bounds of the policy or the safety config.
    OutOfBounds,
    Paused,
    /// An action with this idempotency key already ran.
    Duplicate,
    DryRunMode,
    CircuitOpen,
    RateLimit,
    Cooldown,
    BlastRadius,
    /// The policy is in approval mode.
    ApprovalMode,
    LowConfidence,
    /// Only a person may approve this kind of change (suggested manifests, risky deletes).
    HumanOnly,
}

impl SafetyRule {
    pub const ALL: [SafetyRule; 18] = [
        SafetyRule::NoPolicy,
        SafetyRule::ProtectedNamespace,
        SafetyRule::ProtectedKind,
        SafetyRule::ProtectedLabel,
        SafetyRule::NeverAllow,
        SafetyRule::ChangeMismatch,
        SafetyRule::NotInPolicy,
        SafetyRule::OutOfBounds,
        SafetyRule::Paused,
        SafetyRule::Duplicate,
        SafetyRule::DryRunMode,
        SafetyRule::CircuitOpen,
        SafetyRule::RateLimit,
        SafetyRule::Cooldown,
        SafetyRule::BlastRadius,
        SafetyRule::ApprovalMode,
        SafetyRule::LowConfidence,
        SafetyRule::HumanOnly,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SafetyRule::NoPolicy => "no-policy",
            SafetyRule::ProtectedNamespace => "protected-namespace",
            SafetyRule::ProtectedKind => "protected-kind",
            SafetyRule::ProtectedLabel => "protected-label",
            SafetyRule::NeverAllow => "never-allow",
            SafetyRule::ChangeMismatch => "change-mismatch",
            SafetyRule::NotInPolicy => "not-in-policy",
            SafetyRule::OutOfBounds => "out-of-bounds",
            SafetyRule::Paused => "paused",
            SafetyRule::Duplicate => "duplicate",
            SafetyRule::DryRunMode => "dry-run-mode",
            SafetyRule::CircuitOpen => "circuit-open",
            SafetyRule::RateLimit => "rate-limit",
            SafetyRule::Cooldown => "cooldown",
            SafetyRule::BlastRadius => "blast-radius",
            SafetyRule::ApprovalMode => "approval-mode",
            SafetyRule::LowConfidence => "low-confidence",
            SafetyRule::HumanOnly => "human-only",
        }
    }

    /// A denial by this rule may lift by itself with time (retry later rather than reject).
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            SafetyRule::CircuitOpen | SafetyRule::RateLimit | SafetyRule::Cooldown
        )
    }
}

impl fmt::Display for SafetyRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_unique_and_match_serde() {
        let mut seen = std::collections::HashSet::new();
        for r in SafetyRule::ALL {
            assert!(seen.insert(r.as_str()), "duplicate label {r}");
            assert_eq!(
                serde_json::to_value(r).expect("serialize"),
                serde_json::json!(r.as_str())
            );
        }
    }
}
