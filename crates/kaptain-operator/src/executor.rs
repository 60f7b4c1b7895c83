//! Executing an approved action, write-ahead:
//!
//! 1. re-check: the finding still holds and the guard, against the current policy and
//!    history, allows the change (a person's approval counts; a policy's does not carry over);
//! 2. intent: phase Executing, the target's state (`observedBefore`) and an Event — all
//!    recorded before anything changes;
//! 3. server-side dry-run, its would-be result recorded;
//! 4. the change (patch of the change's type / delete with UID precondition and grace period /
//!    create), then phase Verifying;
//! 5. verification on later reconciles: the finding must clear (see [`crate::verify`])
//!    within the window, else the reverse patch is applied → Failed → RolledBack.
//!
//! After a crash an Executing action is resumed: if its change is already visible it moves to
//! Verifying; if not, the guard decides again (a policy paused, a global dry-run or a protected
//! label added meanwhile stops it: Failed, reason `StoppedOnResume`), and the change is made
//! once (patches are idempotent; deletes carry the UID precondition, so a re-created pod of the
//! same name is never deleted).
//!
//! Before anything runs (execute, resume, rollback) the spec must be the one proposed (see
//! [`kaptain_heal::crd::tampered`]); an edited one is refused with reason `SpecTampered`.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kaptain_heal::crd::{
    DryRunResult, HealingAction, HealingActionSpec, Operation, Phase, PhaseEvent, SPEC_TAMPERED,
    tampered,
};
use kaptain_heal::guard::{Decision, SafetyRule};
use kaptain_model::ObjectRef;
use serde_json::{Value, json};

use crate::config::FailPoint;
use crate::controller::{Controller, GUARD_ACTOR, KAPTAIN_ACTOR, Round, uid};
use crate::target::{DeleteOutcome, Target, comparable, trimmed};
use crate::verify::{self, Check};
use kaptain_engine::healing::Level;
use kaptain_engine::healing::{Error, Result};

/// The `reason` of an action found Executing after a restart that the guard no longer allows.
pub const STOPPED_ON_RESUME: &str = "StoppedOnResume";

fn secs(d: &kube::core::Duration) -> i64 {
    if d.is_negative() {
        return 0;
    }
    i64::try_from(Duration::from(*d).as_secs()).unwrap_or(i64::MAX)
}

impl Controller {
    fn fail_point(&self, at: FailPoint) -> Result<()> {
        if self.cfg.fail_point == Some(at) {
            tracing::warn!(
                ?at,
                "fail point reached: stopping as if the operator crashed"
            );
            return Err(Error::FailPoint(at));
        }
        Ok(())
    }

    /// Moves `a` by `event`, sets its message, writes it and records an Event.
    pub(crate) async fn step(
        &mut self,
        a: &HealingAction,
        event: Option<(PhaseEvent, Option<&str>)>,
        msg: String,
        level: Level,
        reason: &str,
        now: jiff::Timestamp,
    ) -> Result<HealingAction> {
        let mut a = a.clone();
        let mut st = a.status.clone().unwrap_or_default();
        if let Some((e, actor)) = event {
            st.apply(e, now, actor)
                .map_err(|e| Error::Invalid(e.to_string()))?;
        }
        st.message = Some(msg.clone());
        a.status = Some(st);
        let a = self.write_status(&a).await?;
        self.recorder.action(&a, level, reason, &msg).await;
        Ok(a)
    }

    /// Refuses `a` when its spec is not the one proposed: an Approved action is rejected, an
    /// Executing one fails, a pending rollback is given up — reason `SpecTampered`, with a
    /// Warning Event. Returns whether it refused.
    pub(crate) async fn refuse_tampered(
        &mut self,
        r: &Round<'_>,
        a: &HealingAction,
    ) -> Result<bool> {
        let Some(why) = tampered(a) else {
            return Ok(false);
        };
        tracing::warn!(action = ?a.metadata.name, %why, "refusing an edited HealingAction");
        let event = match crate::controller::phase(a) {
            Phase::Proposed | Phase::Approved => Some((PhaseEvent::Reject, Some(GUARD_ACTOR))),
            Phase::Executing | Phase::Verifying => Some((PhaseEvent::Fail, None)),
            _ => None,
        };
        let mut a = a.clone();
        if let Some(s) = a.status.as_mut() {
            s.reason = Some(SPEC_TAMPERED.into());
            s.error_category = Some("tampered".into());
        }
        self.step(
            &a,
            event,
            format!("refused, nothing was changed for it: {why}"),
            Level::Warning,
            "HealingTampered",
            r.now,
        )
        .await?;
        self.metrics.rejected("spec-tampered");
        self.metrics
            .finished(a.spec.action.as_str(), "rejected", r.mode(&a.spec));
        Ok(true)
    }

    /// A transient denial (a rate limit, a cool-down, an open breaker): recorded once per rule
    /// (metric, decision, Event); the action stays in its phase and is tried again later.
    async fn defer(
        &mut self,
        a: &HealingAction,
        d: &Decision,
        rule: &str,
        why: String,
        now: jiff::Timestamp,
    ) -> Result<()> {
        let recorded = a
            .status
            .as_ref()
            .and_then(|s| s.decision.as_ref())
            .and_then(|v| v.rule.as_deref());
        if recorded == Some(rule) {
            return Ok(());
        }
        self.metrics.rejected(rule);
        let mut a = a.clone();
        if let Some(s) = a.status.as_mut() {
            s.decision = Some(d.verdict(now));
        }
        self.step(&a, None, why, Level::Normal, "HealingDeferred", now)
            .await?;
        Ok(())
    }

    /// Step 1–4 for an Approved action.
    pub(crate) async fn execute(&mut self, r: &mut Round<'_>, a: HealingAction) -> Result<()> {
        let mode = r.mode(&a.spec);
        let kind = a.spec.action.as_str();
        if self.refuse_tampered(r, &a).await? {
            return Ok(());
        }
        if !r.finding_present(&a.spec) {
            self.step(
                &a,
                Some((PhaseEvent::Reject, Some(KAPTAIN_ACTOR))),
                format!(
                    "the finding {} cleared before the action ran",
                    a.spec.finding.id
                ),
                Level::Normal,
                "HealingObsolete",
                r.now,
            )
            .await?;
            self.metrics.finished(kind, "rejected", mode);
            return Ok(());
        }
        let st = a.status.clone().unwrap_or_default();
        let approver = st.approved_by.clone().filter(|s| !s.is_empty());
        let d = self.decide(r, &a.spec, approver.as_deref());
        match &d {
            Decision::Allow { dry_run: false } => {}
            Decision::Deny { rule, reason } if rule.is_transient() => {
                let why = format!("approved, deferred ({rule}): {reason}");
                return self.defer(&a, &d, rule.as_str(), why, r.now).await;
            }
            other => {
                let rule = other.rule().unwrap_or(SafetyRule::NoPolicy);
                self.metrics.rejected(rule.as_str());
                let mut a = a.clone();
                if let Some(s) = a.status.as_mut() {
                    s.decision = Some(d.verdict(r.now));
                }
                self.step(
                    &a,
                    Some((PhaseEvent::Reject, Some(GUARD_ACTOR))),
                    format!("rejected before execution ({rule}): {}", other.reason()),
                    Level::Warning,
                    "HealingRejected",
                    r.now,
                )
                .await?;
                self.metrics.finished(kind, "rejected", mode);
                return Ok(());
            }
        }

        // 2. Intent, before anything changes.
        let target = Target::new(&self.client, &a.spec.change.target)?;
        let current = target.get().await?;
        if current.is_none() && a.spec.change.operation != Operation::Create {
            self.step(
                &a,
                Some((PhaseEvent::Reject, Some(KAPTAIN_ACTOR))),
                format!("{} no longer exists", a.spec.target),
                Level::Normal,
                "HealingObsolete",
                r.now,
            )
            .await?;
            self.metrics.finished(kind, "rejected", mode);
            return Ok(());
        }
        let owner = pod_owner(r, &a.spec.change.target);
        let mut a = a;
        if let Some(s) = a.status.as_mut() {
            s.decision = Some(d.verdict(r.now));
            s.observed_before = Some(json!({
                "object": current.as_ref().map(trimmed),
                "workload": owner,
            }));
        }
        let a = self
            .step(
                &a,
                Some((PhaseEvent::Execute, None)),
                format!("intent recorded: {} {}", a.spec.action, a.spec.target),
                Level::Normal,
                "HealingIntent",
                r.now,
            )
            .await?;
        let scope = crate::controller::breaker_scope(&a);
        self.state
            .breakers
            .on_start(r.safety, &scope, r.now, &a.spec.idempotency_key);
        self.state_dirty = true;
        self.record_start(r, &a);

        // 3. Server-side dry-run.
        let a = self.dry_run_step(r, a).await?;
        let Some(a) = a else { return Ok(()) };
        self.fail_point(FailPoint::AfterIntent)?;

        // 4. The change.
        self.apply_and_verify(r, a, "applied").await
    }

    /// Records the server-side dry-run; fails the action (nothing changed) if it fails.
    async fn dry_run_step(
        &mut self,
        r: &mut Round<'_>,
        a: HealingAction,
    ) -> Result<Option<HealingAction>> {
        let dr = self.dry_run(&a.spec).await;
        let ok = dr.succeeded;
        let why = dr.message.clone().unwrap_or_default();
        let mut a = a;
        if let Some(s) = a.status.as_mut() {
            s.dry_run_result = Some(dr);
        }
        if ok {
            let a = self.write_status(&a).await?;
            return Ok(Some(a));
        }
        self.fail_unchanged(
            r,
            a,
            "dry-run",
            format!("the server-side dry-run failed, nothing was changed: {why}"),
        )
        .await?;
        Ok(None)
    }

    /// Fails an action whose change was not made: records the error category, moves it to
    /// Failed with a Warning Event, counts the failure in the breaker and the metrics.
    async fn fail_unchanged(
        &mut self,
        r: &mut Round<'_>,
        mut a: HealingAction,
        category: &str,
        message: String,
    ) -> Result<()> {
        if let Some(s) = a.status.as_mut() {
            s.error_category = Some(category.to_string());
            s.reason = Some(
                if category == "dry-run" {
                    "DryRunFailed"
                } else {
                    "ChangeFailed"
                }
                .to_string(),
            );
        }
        self.step(
            &a,
            Some((PhaseEvent::Fail, None)),
            message,
            Level::Warning,
            "HealingFailed",
            r.now,
        )
        .await?;
        self.state
            .breakers
            .on_failure(r.safety, &crate::controller::breaker_scope(&a), r.now);
        self.state_dirty = true;
        self.metrics
            .finished(a.spec.action.as_str(), "failed", r.mode(&a.spec));
        Ok(())
    }

    /// Makes the change and moves the action to Verifying (or Failed).
    async fn apply_and_verify(
        &mut self,
        r: &mut Round<'_>,
        a: HealingAction,
        how: &str,
    ) -> Result<()> {
        if let Err(e) = self.apply_change(&a.spec).await {
            let category = e.category().to_string();
            return self
                .fail_unchanged(r, a, &category, format!("the change failed: {e}"))
                .await;
        }
        self.fail_point(FailPoint::AfterApply)?;
        let window = secs(&a.spec.verify_within);
        self.step(
            &a,
            Some((PhaseEvent::Applied, None)),
            format!(
                "{how}; verifying that {} clears within {window}s",
                a.spec.finding.id
            ),
            Level::Normal,
            "HealingApplied",
            jiff::Timestamp::now(),
        )
        .await?;
        Ok(())
    }

    /// An action found Executing: the operator stopped between intent and Verifying.
    pub(crate) async fn resume(&mut self, r: &mut Round<'_>, a: HealingAction) -> Result<()> {
        let id = uid(&a);
        tracing::info!(action = ?a.metadata.name, %id, "resuming an action found Executing");
        if self.refuse_tampered(r, &a).await? {
            return Ok(());
        }
        if self.change_visible(&a.spec).await? {
            self.clear_since.remove(&id);
            return self
                .step(
                    &a,
                    Some((PhaseEvent::Applied, None)),
                    "resumed after a restart: the change had already been made; verifying".into(),
                    Level::Normal,
                    "HealingResumed",
                    r.now,
                )
                .await
                .map(|_| ());
        }
        // What changed while the operator was down may forbid the change now.
        let st = a.status.clone().unwrap_or_default();
        let approver = st.approved_by.clone().filter(|s| !s.is_empty());
        let d = self.decide_started(r, &a.spec, approver.as_deref());
        match &d {
            Decision::Allow { dry_run: false } => {}
            Decision::Deny { rule, reason } if rule.is_transient() => {
                let why = format!("resumed after a restart, deferred ({rule}): {reason}");
                return self.defer(&a, &d, rule.as_str(), why, r.now).await;
            }
            other => {
                let rule = other.rule().unwrap_or(SafetyRule::NoPolicy);
                self.metrics.rejected(rule.as_str());
                let mut a = a.clone();
                if let Some(s) = a.status.as_mut() {
                    s.decision = Some(d.verdict(r.now));
                    s.reason = Some(STOPPED_ON_RESUME.into());
                    s.error_category = Some("guard".into());
                }
                self.step(
                    &a,
                    Some((PhaseEvent::Fail, None)),
                    format!(
                        "stopped after a restart, nothing was changed ({rule}): {}",
                        other.reason()
                    ),
                    Level::Warning,
                    "HealingStopped",
                    r.now,
                )
                .await?;
                self.metrics
                    .finished(a.spec.action.as_str(), "rejected", r.mode(&a.spec));
                return Ok(());
            }
        }
        let has_dry_run = a
            .status
            .as_ref()
            .and_then(|s| s.dry_run_result.as_ref())
            .is_some_and(|d| d.succeeded);
        let a = if has_dry_run {
            a
        } else {
            match self.dry_run_step(r, a).await? {
                Some(a) => a,
                None => return Ok(()),
            }
        };
        self.apply_and_verify(r, a, "resumed after a restart: the change was made now")
            .await
    }

    /// A Verifying action: succeeded once the finding stays cleared for the settle time;
    /// failed (and reversed where possible) once the window has passed.
    pub(crate) async fn verify(&mut self, r: &Round<'_>, a: HealingAction) -> Result<()> {
        let id = uid(&a);
        let st = a.status.clone().unwrap_or_default();
        let since = st.times.verifying.as_ref().map(|t| t.0).unwrap_or(r.now);
        let owner: Option<ObjectRef> = st
            .observed_before
            .as_ref()
            .and_then(|o| o.get("workload"))
            .and_then(|w| serde_json::from_value(w.clone()).ok());
        let scope = verify::workload_scope(&a.spec, owner.as_ref());
        let window = secs(&a.spec.verify_within);
        let settle = (window / 3).min(i64::try_from(self.cfg.max_settle.as_secs()).unwrap_or(30));
        let elapsed = r.now.as_second() - since.as_second();
        let mode = r.mode(&a.spec);
        let kind = a.spec.action.as_str();
        match verify::check(r.idx, r.findings, &a.spec, scope.as_ref()) {
            Check::Cleared => {
                let cleared = *self.clear_since.entry(id.clone()).or_insert(r.now);
                if r.now.as_second() - cleared.as_second() < settle {
                    return Ok(());
                }
                self.clear_since.remove(&id);
                self.step(
                    &a,
                    Some((PhaseEvent::Verified, None)),
                    format!(
                        "verified: {} cleared and stayed cleared for {settle}s",
                        a.spec.finding.id
                    ),
                    Level::Normal,
                    "HealingSucceeded",
                    r.now,
                )
                .await?;
                self.state.breakers.on_success(
                    r.safety,
                    &crate::controller::breaker_scope(&a),
                    r.now,
                );
                self.state_dirty = true;
                self.metrics.finished(kind, "succeeded", mode);
            }
            Check::NotYet(why) => {
                self.clear_since.remove(&id);
                if elapsed < window {
                    return Ok(());
                }
                let mut failed = a.clone();
                if let Some(s) = failed.status.as_mut() {
                    s.error_category = Some("not-verified".into());
                    s.reason = Some(crate::rollback::NOT_VERIFIED.into());
                }
                let failed = self
                    .step(
                        &failed,
                        Some((PhaseEvent::Fail, None)),
                        format!("not verified within {window}s: {why}"),
                        Level::Warning,
                        "HealingFailed",
                        r.now,
                    )
                    .await?;
                self.state.breakers.on_failure(
                    r.safety,
                    &crate::controller::breaker_scope(&failed),
                    r.now,
                );
                self.state_dirty = true;
                self.roll_back(r, failed).await?;
            }
        }
        Ok(())
    }

    /// The server-side dry-run of a change.
    pub(crate) async fn dry_run(&self, spec: &HealingActionSpec) -> DryRunResult {
        let now = jiff::Timestamp::now();
        let result = async {
            let c = &spec.change;
            let target = Target::new(&self.client, &c.target)?;
            let r = match c.operation {
                Operation::Patch => {
                    let patch = c
                        .patch
                        .as_ref()
                        .ok_or_else(|| Error::Invalid("the change has no patch".into()))?;
                    let obj = target.patch(c, patch, true).await?;
                    (
                        true,
                        "the server accepts the patch".to_string(),
                        Some(trimmed(&obj)),
                    )
                }
                Operation::Delete => match target.delete(c, true).await? {
                    DeleteOutcome::Deleted => (
                        true,
                        format!("the server would delete {}", spec.target),
                        None,
                    ),
                    DeleteOutcome::AlreadyGone => {
                        (false, format!("{} no longer exists", spec.target), None)
                    }
                    DeleteOutcome::Recreated => (
                        false,
                        format!("{} was re-created (another UID)", spec.target),
                        None,
                    ),
                },
                Operation::Create => {
                    let m = c
                        .manifest
                        .as_ref()
                        .ok_or_else(|| Error::Invalid("the change has no manifest".into()))?;
                    let obj = target.create(m, true).await?;
                    (
                        true,
                        "the server accepts the object".to_string(),
                        Some(trimmed(&obj)),
                    )
                }
            };
            Ok::<_, Error>(r)
        }
        .await;
        let (succeeded, message, result) = match result {
            Ok(r) => r,
            Err(e) => (false, kaptain_engine::healing::one_line(&e), None),
        };
        DryRunResult {
            succeeded,
            message: Some(message),
            result,
            time: Some(Time(now)),
        }
    }

    /// Makes the change for real.
    async fn apply_change(&self, spec: &HealingActionSpec) -> Result<()> {
        let c = &spec.change;
        let target = Target::new(&self.client, &c.target)?;
        match c.operation {
            Operation::Patch => {
                let patch = c
                    .patch
                    .as_ref()
                    .ok_or_else(|| Error::Invalid("the change has no patch".into()))?;
                target.patch(c, patch, false).await?;
            }
            Operation::Delete => {
                let outcome = target.delete(c, false).await?;
                tracing::info!(target = %spec.target, ?outcome, "delete with UID precondition");
            }
            Operation::Create => {
                let m = c
                    .manifest
                    .as_ref()
                    .ok_or_else(|| Error::Invalid("the change has no manifest".into()))?;
                match target.create(m, false).await {
                    Ok(_) => {}
                    Err(e) if e.is_conflict() => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// Whether the change is already visible on the target.
    async fn change_visible(&self, spec: &HealingActionSpec) -> Result<bool> {
        let c = &spec.change;
        let target = Target::new(&self.client, &c.target)?;
        let current = target.get().await?;
        Ok(match (c.operation, current) {
            (Operation::Create, cur) => cur.is_some(),
            (Operation::Delete, None) => true,
            (Operation::Delete, Some(obj)) => {
                obj.metadata.uid != c.precondition_uid || obj.metadata.deletion_timestamp.is_some()
            }
            (Operation::Patch, None) => false,
            (Operation::Patch, Some(obj)) => {
                let Some(patch) = c.patch.as_ref() else {
                    return Ok(false);
                };
                match target.patch(c, patch, true).await {
                    Ok(after) => {
                        let before: Value = serde_json::to_value(&obj)?;
                        comparable(&serde_json::to_value(&after)?) == comparable(&before)
                    }
                    Err(_) => false,
                }
            }
        })
    }
}

/// The workload owning a pod target, as a reference (recorded before the change).
fn pod_owner(r: &Round, target: &ObjectRef) -> Option<ObjectRef> {
    if target.kind != "Pod" {
        return None;
    }
    let p = r
        .idx
        .objects
        .pods
        .get(target.namespace.as_deref().unwrap_or(""), &target.name)?;
    Some(r.idx.workload_of_pod(p).to_ref())
}
