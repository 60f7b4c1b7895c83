//! Reversing a change that was not verified. The reverse patch may fail (the API server
//! unreachable for a moment, a webhook refusing, a conflicting edit): it is retried with an
//! exponential back-off a bounded number of times, each attempt recorded on the action's
//! status (`rollbackAttempts`). Success → RolledBack; the last failed attempt leaves the
//! action Failed with reason `RollbackFailed` and a Warning Event: the change is still in
//! place and a person must reverse it.
//!
//! An action stays Failed with reason `NotVerified` until its rollback finishes, so a
//! rollback interrupted by a restart (or a lost Lease) is picked up by the next leader.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kaptain_heal::crd::{HealingAction, Phase, PhaseEvent, RollbackAttempt};

use crate::controller::{Controller, Round};
use crate::target::Target;
use kaptain_engine::healing::Level;
use kaptain_engine::healing::Result;

/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// What to do about a pending rollback now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Try the reverse patch now.
    Attempt,
    /// The previous attempt failed; the next one is due at this time.
    WaitUntil(Timestamp),
    /// Every attempt failed.
    GiveUp,
}

/// The wait after the `failed`-th failed attempt: `base`, doubling each time, at most
/// [`MAX_BACKOFF`].
pub fn backoff(base: Duration, failed: usize) -> Duration {
    let exp = u32::try_from(failed.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(20);
    base.saturating_mul(1 << exp).min(MAX_BACKOFF)
}

/// The next step of a rollback after `attempts` (oldest first), allowing `max` attempts in
/// all, the first at once and each later one [`backoff`] after the previous failure.
pub fn next(attempts: &[RollbackAttempt], max: u32, base: Duration, now: Timestamp) -> Next {
    let failed = attempts.iter().filter(|a| !a.succeeded).count();
    if failed >= max as usize {
        return Next::GiveUp;
    }
    let Some(last) = attempts.last() else {
        return Next::Attempt;
    };
    let wait = jiff::SignedDuration::try_from(backoff(base, failed)).unwrap_or_default();
    match last.time.0.checked_add(wait) {
        Ok(due) if due > now => Next::WaitUntil(due),
        _ => Next::Attempt,
    }
}

/// Whether `a` is Failed, not verified, reversible, and its rollback has not finished.
pub fn pending(a: &HealingAction) -> bool {
    let Some(st) = a.status.as_ref() else {
        return false;
    };
    st.phase == Phase::Failed
        && (st.reason.as_deref() == Some(NOT_VERIFIED)
            || (st.reason.is_none() && st.error_category.as_deref() == Some("not-verified")))
        && a.spec.action.reversible()
        && a.spec.change.reverse_patch.is_some()
        && !st.rollback_attempts.iter().any(|x| x.succeeded)
}

pub const NOT_VERIFIED: &str = "NotVerified";
pub const ROLLBACK_FAILED: &str = "RollbackFailed";

impl Controller {
    /// Advances the rollback of a Failed, not verified action: attempts the reverse patch when
    /// it is due, records the attempt, and ends in RolledBack or (after the last attempt)
    /// Failed with reason RollbackFailed. Returns whether the rollback still waits.
    pub(crate) async fn roll_back(&mut self, r: &Round<'_>, a: HealingAction) -> Result<bool> {
        if self.refuse_tampered(r, &a).await? {
            return Ok(false);
        }
        let mode = r.mode(&a.spec);
        let kind = a.spec.action.as_str();
        let Some(reverse) = a
            .spec
            .change
            .reverse_patch
            .clone()
            .filter(|_| a.spec.action.reversible())
        else {
            self.metrics.finished(kind, "failed", mode);
            return Ok(false);
        };
        let st = a.status.clone().unwrap_or_default();
        let max = self.cfg.rollback_attempts.max(1);
        match next(&st.rollback_attempts, max, self.cfg.rollback_backoff, r.now) {
            Next::WaitUntil(_) => return Ok(true),
            Next::GiveUp => {
                self.give_up(r, a, "").await?;
                return Ok(false);
            }
            Next::Attempt => {}
        }
        let target = Target::new(&self.client, &a.spec.change.target)?;
        let outcome = target.patch(&a.spec.change, &reverse, false).await;
        let now = Timestamp::now();
        let mut a = a;
        let mut st = st;
        st.rollback_attempts.push(RollbackAttempt {
            time: Time(now),
            succeeded: outcome.is_ok(),
            error: outcome
                .as_ref()
                .err()
                .map(|e| kaptain_engine::healing::one_line(e)),
        });
        let n = st.rollback_attempts.len();
        match outcome {
            Ok(_) => {
                st.reason = Some("RolledBack".into());
                a.status = Some(st);
                let retried = if n > 1 {
                    format!(" (attempt {n})")
                } else {
                    String::new()
                };
                self.step(
                    &a,
                    Some((PhaseEvent::RollBack, None)),
                    format!(
                        "{} did not clear within the verification window; the change was reversed{retried}",
                        a.spec.finding.id
                    ),
                    Level::Warning,
                    "HealingRolledBack",
                    now,
                )
                .await?;
                self.metrics.finished(kind, "rolled-back", mode);
                Ok(false)
            }
            Err(e) => {
                let failed = st.rollback_attempts.iter().filter(|x| !x.succeeded).count();
                a.status = Some(st);
                if failed >= max as usize {
                    self.give_up(r, a, &kaptain_engine::healing::one_line(&e))
                        .await?;
                    return Ok(false);
                }
                let wait = backoff(self.cfg.rollback_backoff, failed);
                let msg = format!(
                    "the reverse patch failed (attempt {failed} of {max}): {}; retrying in {}s",
                    kaptain_engine::healing::one_line(&e),
                    wait.as_secs_f64()
                );
                self.step(&a, None, msg, Level::Warning, "HealingRollbackRetry", now)
                    .await?;
                Ok(true)
            }
        }
    }

    /// Every attempt failed: the action stays Failed with reason RollbackFailed.
    async fn give_up(&mut self, r: &Round<'_>, mut a: HealingAction, last: &str) -> Result<()> {
        let attempts = a.status.as_ref().map_or(0, |s| s.rollback_attempts.len());
        let patch = a
            .spec
            .change
            .reverse_patch
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_default();
        if let Some(s) = a.status.as_mut() {
            s.reason = Some(ROLLBACK_FAILED.into());
            s.error_category = Some("rollback-failed".into());
        }
        let last = if last.is_empty() {
            String::new()
        } else {
            format!(" (last: {last})")
        };
        let msg = format!(
            "not verified, and the reverse patch failed {attempts} time(s){last}: the change is \
             still in place; reverse it by hand with this patch of {}: {patch}",
            a.spec.target
        );
        self.step(
            &a,
            None,
            msg,
            Level::Warning,
            "HealingRollbackFailed",
            r.now,
        )
        .await?;
        self.metrics
            .finished(a.spec.action.as_str(), "failed", r.mode(&a.spec));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).expect("valid")
    }

    fn failed_at(s: i64) -> RollbackAttempt {
        RollbackAttempt {
            time: Time(t(s)),
            succeeded: false,
            error: Some("conflict".into()),
        }
    }

    #[test]
    fn backoff_doubles_from_the_base_up_to_a_cap() {
        let base = Duration::from_secs(2);
        let waits: Vec<u64> = (1..=6).map(|n| backoff(base, n).as_secs()).collect();
        assert_eq!(waits, vec![2, 4, 8, 16, 32, 64]);
        assert_eq!(backoff(base, 40), MAX_BACKOFF);
        assert_eq!(backoff(base, usize::MAX), MAX_BACKOFF);
    }

    #[test]
    fn attempts_are_spaced_by_the_backoff_and_bounded() {
        let base = Duration::from_secs(2);
        assert_eq!(next(&[], 3, base, t(0)), Next::Attempt);
        let one = [failed_at(0)];
        assert_eq!(next(&one, 3, base, t(1)), Next::WaitUntil(t(2)));
        assert_eq!(next(&one, 3, base, t(2)), Next::Attempt);
        let two = [failed_at(0), failed_at(2)];
        assert_eq!(next(&two, 3, base, t(5)), Next::WaitUntil(t(6)));
        assert_eq!(next(&two, 3, base, t(6)), Next::Attempt);
        let three = [failed_at(0), failed_at(2), failed_at(6)];
        assert_eq!(next(&three, 3, base, t(100)), Next::GiveUp);
        // One attempt allowed: a single failure ends it.
        assert_eq!(next(&one, 1, base, t(100)), Next::GiveUp);
    }

    #[test]
    fn only_unfinished_rollbacks_of_reversible_changes_are_pending() {
        use kaptain_heal::crd::{
            ActionKind, Change, FindingRef, HealingActionSpec, HealingActionStatus, Operation,
            PolicyKind, PolicyRef,
        };
        use kaptain_model::{Category, ObjectRef, Severity};
        let target = ObjectRef::new("apps/v1", "Deployment", Some("shop"), "api");
        let mut change = Change::new(target.clone(), Operation::Patch);
        change.reverse_patch = Some(serde_json::json!({"spec": {"replicas": 1}}));
        let spec = HealingActionSpec {
            finding: FindingRef {
                id: "deployment.unavailable".into(),
                fingerprint: "fp".into(),
                title: "t".into(),
                severity: Severity::High,
                category: Category::Reliability,
                object: target.clone(),
                evidence: vec![],
                confidence: 0.9,
                root_cause: true,
            },
            policy: PolicyRef {
                kind: PolicyKind::HealingPolicy,
                namespace: Some("shop".into()),
                name: "p".into(),
                generation: 1,
            },
            action: ActionKind::Scale,
            target: target.display(),
            change,
            reasoning: String::new(),
            confidence: 0.9,
            priority: 50,
            idempotency_key: "k".into(),
            requires_approval: None,
            verify_within: Duration::from_secs(60).into(),
        };
        let with = |phase: Phase, reason: &str, attempts: Vec<RollbackAttempt>| {
            let mut a = HealingAction::new("a", spec.clone());
            a.status = Some(HealingActionStatus {
                phase,
                reason: Some(reason.into()),
                rollback_attempts: attempts,
                ..HealingActionStatus::default()
            });
            a
        };
        assert!(pending(&with(Phase::Failed, NOT_VERIFIED, vec![])));
        assert!(pending(&with(
            Phase::Failed,
            NOT_VERIFIED,
            vec![failed_at(0)]
        )));
        assert!(!pending(&with(Phase::Failed, ROLLBACK_FAILED, vec![])));
        assert!(!pending(&with(Phase::Failed, "ChangeFailed", vec![])));
        assert!(!pending(&with(Phase::RolledBack, NOT_VERIFIED, vec![])));
        let mut ok = failed_at(5);
        ok.succeeded = true;
        assert!(!pending(&with(Phase::Failed, NOT_VERIFIED, vec![ok])));
        let mut restart = with(Phase::Failed, NOT_VERIFIED, vec![]);
        restart.spec.action = ActionKind::RestartPod;
        assert!(!pending(&restart), "a deleted pod cannot be undone");
    }
}
