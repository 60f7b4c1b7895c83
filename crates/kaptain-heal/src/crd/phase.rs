//! The phase machine of a HealingAction:
//!
//! ```text
//! Proposed ─approve─▶ Approved ─execute─▶ Executing ─applied─▶ Verifying ─verified─▶ Succeeded
//!    │                   │                   │                    │
//!    └─reject─▶ Rejected ◀┘                  └──────fail──────────┴──fail──▶ Failed ─roll-back─▶ RolledBack
//! ```
//!
//! Every other (phase, event) pair is an error: no jump skips a step (Proposed never becomes
//! Succeeded), and terminal phases (Rejected, Succeeded, RolledBack) never change again.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where a HealingAction stands.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum Phase {
    /// Planned and checked by the safety guard; waiting for approval (or auto-approval).
    #[default]
    Proposed,
    /// Approved by a person or by policy; waiting to run.
    Approved,
    /// Refused by a person or by the safety guard. Terminal.
    Rejected,
    /// Intent recorded; the change is being made.
    Executing,
    /// The change is made; waiting for the finding to clear.
    Verifying,
    /// The finding cleared within the verification window. Terminal.
    Succeeded,
    /// The change could not be made, or did not help.
    Failed,
    /// A failed change was reversed. Terminal.
    RolledBack,
}

impl Phase {
    pub const ALL: [Phase; 8] = [
        Phase::Proposed,
        Phase::Approved,
        Phase::Rejected,
        Phase::Executing,
        Phase::Verifying,
        Phase::Succeeded,
        Phase::Failed,
        Phase::RolledBack,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Proposed => "Proposed",
            Phase::Approved => "Approved",
            Phase::Rejected => "Rejected",
            Phase::Executing => "Executing",
            Phase::Verifying => "Verifying",
            Phase::Succeeded => "Succeeded",
            Phase::Failed => "Failed",
            Phase::RolledBack => "RolledBack",
        }
    }

    /// No event moves the action out of this phase.
    pub fn is_terminal(self) -> bool {
        matches!(self, Phase::Rejected | Phase::Succeeded | Phase::RolledBack)
    }

    /// The action is changing (or has changed and is watching) the cluster: the operator must
    /// resume it after a restart rather than start anything else on the same key.
    pub fn is_in_flight(self) -> bool {
        matches!(self, Phase::Executing | Phase::Verifying)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happens to an action.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PhaseEvent {
    /// A person (or the policy, in auto mode) approves.
    Approve,
    /// A person or the safety guard refuses.
    Reject,
    /// The executor records intent and starts the change.
    Execute,
    /// The change is made; verification starts.
    Applied,
    /// The finding cleared in time.
    Verified,
    /// The change failed, or the finding did not clear in time.
    Fail,
    /// The failed change was reversed.
    RollBack,
}

impl PhaseEvent {
    pub const ALL: [PhaseEvent; 7] = [
        PhaseEvent::Approve,
        PhaseEvent::Reject,
        PhaseEvent::Execute,
        PhaseEvent::Applied,
        PhaseEvent::Verified,
        PhaseEvent::Fail,
        PhaseEvent::RollBack,
    ];
}

/// An event that does not apply to the phase an action is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a HealingAction in phase {from} cannot take event {event:?}")]
pub struct InvalidTransition {
    pub from: Phase,
    pub event: PhaseEvent,
}

/// The phase an action moves to on `event`, or why it cannot.
pub fn transition(from: Phase, event: PhaseEvent) -> Result<Phase, InvalidTransition> {
    use Phase as P;
    use PhaseEvent as E;
    match (from, event) {
        (P::Proposed, E::Approve) => Ok(P::Approved),
        (P::Proposed | P::Approved, E::Reject) => Ok(P::Rejected),
        (P::Approved, E::Execute) => Ok(P::Executing),
        (P::Executing, E::Applied) => Ok(P::Verifying),
        (P::Executing | P::Verifying, E::Fail) => Ok(P::Failed),
        (P::Verifying, E::Verified) => Ok(P::Succeeded),
        (P::Failed, E::RollBack) => Ok(P::RolledBack),
        _ => Err(InvalidTransition { from, event }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Phase as P;
    use PhaseEvent as E;

    /// The whole machine, written out: every pair not listed here must be refused.
    const ALLOWED: &[(Phase, PhaseEvent, Phase)] = &[
        (P::Proposed, E::Approve, P::Approved),
        (P::Proposed, E::Reject, P::Rejected),
        (P::Approved, E::Reject, P::Rejected),
        (P::Approved, E::Execute, P::Executing),
        (P::Executing, E::Applied, P::Verifying),
        (P::Executing, E::Fail, P::Failed),
        (P::Verifying, E::Verified, P::Succeeded),
        (P::Verifying, E::Fail, P::Failed),
        (P::Failed, E::RollBack, P::RolledBack),
    ];

    #[test]
    fn every_phase_event_pair_is_allowed_exactly_as_listed() {
        let mut allowed = 0;
        for from in Phase::ALL {
            for event in PhaseEvent::ALL {
                let want = ALLOWED
                    .iter()
                    .find(|(f, e, _)| *f == from && *e == event)
                    .map(|(_, _, to)| *to);
                match (transition(from, event), want) {
                    (Ok(got), Some(to)) => {
                        assert_eq!(got, to, "{from} + {event:?}");
                        allowed += 1;
                    }
                    (Err(e), None) => {
                        assert_eq!(e, InvalidTransition { from, event });
                    }
                    (got, want) => panic!("{from} + {event:?}: got {got:?}, want {want:?}"),
                }
            }
        }
        assert_eq!(allowed, ALLOWED.len());
    }

    #[test]
    fn no_jump_skips_a_step() {
        for event in PhaseEvent::ALL {
            for (from, to) in [
                (P::Proposed, P::Succeeded),
                (P::Proposed, P::Executing),
                (P::Proposed, P::Verifying),
                (P::Proposed, P::Failed),
                (P::Approved, P::Succeeded),
                (P::Approved, P::Verifying),
                (P::Executing, P::Succeeded),
                (P::Rejected, P::Approved),
                (P::Succeeded, P::RolledBack),
                (P::Verifying, P::RolledBack),
            ] {
                assert_ne!(
                    transition(from, event),
                    Ok(to),
                    "{from} → {to} via {event:?}"
                );
            }
        }
    }

    #[test]
    fn terminal_phases_have_no_way_out_and_others_do() {
        for from in Phase::ALL {
            let exits = PhaseEvent::ALL
                .iter()
                .filter(|e| transition(from, **e).is_ok())
                .count();
            assert_eq!(exits == 0, from.is_terminal(), "{from}");
        }
    }

    #[test]
    fn every_phase_is_reachable_from_proposed() {
        let mut seen = vec![P::Proposed];
        let mut i = 0;
        while i < seen.len() {
            for e in PhaseEvent::ALL {
                if let Ok(to) = transition(seen[i], e)
                    && !seen.contains(&to)
                {
                    seen.push(to);
                }
            }
            i += 1;
        }
        assert_eq!(seen.len(), Phase::ALL.len(), "reachable: {seen:?}");
    }

    #[test]
    fn happy_and_unhappy_paths() {
        let run = |events: &[PhaseEvent]| {
            events
                .iter()
                .try_fold(P::Proposed, |p, e| transition(p, *e))
        };
        assert_eq!(
            run(&[E::Approve, E::Execute, E::Applied, E::Verified]),
            Ok(P::Succeeded)
        );
        assert_eq!(
            run(&[E::Approve, E::Execute, E::Applied, E::Fail, E::RollBack]),
            Ok(P::RolledBack)
        );
        assert_eq!(run(&[E::Approve, E::Execute, E::Fail]), Ok(P::Failed));
        assert_eq!(run(&[E::Reject]), Ok(P::Rejected));
        assert!(run(&[E::Approve, E::Approve]).is_err());
        assert!(run(&[E::Approve, E::Execute, E::Execute]).is_err());
    }

    #[test]
    fn phases_serialize_as_kubernetes_style_words() {
        for p in Phase::ALL {
            assert_eq!(
                serde_json::to_value(p).expect("serialize"),
                serde_json::json!(p.as_str())
            );
        }
    }
}
