//! New proposals and the ones waiting: each proposal becomes a HealingAction with the safety
//! guard's verdict (approved, dry-run, waiting for a person, deferred or rejected), and
//! waiting actions are re-evaluated on every reconcile (a deferral lifted, a finding gone).

use std::time::Instant;

use kaptain_heal::crd::{
    HealingAction, HealingActionSpec, HealingActionStatus, PhaseEvent, SPEC_DIGEST_ANNOTATION,
    spec_digest,
};
use kaptain_heal::guard::{Decision, SafetyRule};
use kaptain_heal::planner::object_name;
use kube::api::{Api, ObjectMeta, PostParams};

use crate::config::{INSTANCE_ANNOTATION, KEY_LABEL};
use crate::controller::{Controller, GUARD_ACTOR, KAPTAIN_ACTOR, Round, uid};
use kaptain_engine::healing::Level;
use kaptain_engine::healing::Result;

impl Controller {
    /// The namespace a proposal's HealingAction lives in: its target's (or finding's), unless
    /// that is protected by the configuration or not watched, or the target is cluster-scoped.
    fn action_namespace(&self, r: &Round, spec: &HealingActionSpec) -> String {
        spec.change
            .target
            .namespace
            .as_deref()
            .or(spec.finding.object.namespace.as_deref())
            .filter(|ns| !r.safety.namespace_protected(Some(ns)) && self.cfg.watches(ns))
            .unwrap_or(&self.cfg.namespace)
            .to_string()
    }

    /// Creates the HealingAction of a new proposal, with the guard's verdict. Returns it
    /// (`None` if another instance created it first).
    pub(crate) async fn propose(
        &mut self,
        r: &mut Round<'_>,
        spec: HealingActionSpec,
    ) -> Result<Option<HealingAction>> {
        let decision = self.decide(r, &spec, None);
        let ns = self.action_namespace(r, &spec);
        let name = object_name(&spec);
        let mut labels = std::collections::BTreeMap::new();
        labels.insert(KEY_LABEL.to_string(), spec.idempotency_key.clone());
        labels.insert(
            "kaptain.dev/action".to_string(),
            spec.action.as_str().to_string(),
        );
        let ha = HealingAction {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: Some(ns.clone()),
                labels: Some(labels),
                annotations: Some(std::collections::BTreeMap::from([
                    (INSTANCE_ANNOTATION.to_string(), self.cfg.identity.clone()),
                    // What the guard judged: checked again before anything runs.
                    (SPEC_DIGEST_ANNOTATION.to_string(), spec_digest(&spec)),
                ])),
                ..ObjectMeta::default()
            },
            spec,
            status: None,
        };
        let api: Api<HealingAction> = Api::namespaced(self.client.clone(), &ns);
        let a = match api.create(&PostParams::default(), &ha).await {
            Ok(a) => a,
            Err(kube::Error::Api(s)) if s.code == 409 => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        self.settle(r, a, decision).await.map(Some)
    }

    /// Records the guard's verdict on a new HealingAction (the operator's own, or one a
    /// person or an MCP client proposed): approved, dry-run, waiting for a person, deferred or
    /// rejected, with an Event on the target.
    pub(crate) async fn settle(
        &mut self,
        r: &mut Round<'_>,
        mut a: HealingAction,
        decision: Decision,
    ) -> Result<HealingAction> {
        let action = a.spec.action.as_str();
        self.metrics.proposed(action, decision.as_str());
        if let Some(seen) = self.state.first_seen.get(&a.spec.finding.fingerprint) {
            let secs = (r.now.as_millisecond() - seen.as_millisecond()) as f64 / 1000.0;
            self.metrics.finding_to_action.observe(secs.max(0.0));
        }
        let mut st = HealingActionStatus {
            decision: Some(decision.verdict(r.now)),
            ..HealingActionStatus::default()
        };
        st.times.proposed = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(r.now));
        let mode = r.mode(&a.spec);
        let (level, reason) = match &decision {
            Decision::Allow { dry_run: false } => {
                st.apply(PhaseEvent::Approve, r.now, None).ok();
                st.message = Some(format!(
                    "approved automatically by {} (mode {mode})",
                    a.spec.policy.display()
                ));
                (Level::Normal, "HealingApproved")
            }
            Decision::Allow { dry_run: true } => {
                let dr = self.dry_run(&a.spec).await;
                st.message = Some(format!(
                    "dry-run only: {}",
                    dr.message.clone().unwrap_or_default()
                ));
                st.dry_run_result = Some(dr);
                (Level::Normal, "HealingDryRun")
            }
            Decision::NeedsApproval { rule, reason } => {
                self.metrics.rejected(rule.as_str());
                st.message = Some(format!("waiting for approval: {reason}"));
                (Level::Normal, "HealingNeedsApproval")
            }
            Decision::Deny { rule, reason } if rule.is_transient() => {
                self.metrics.rejected(rule.as_str());
                st.message = Some(format!("deferred ({rule}): {reason}"));
                (Level::Normal, "HealingDeferred")
            }
            Decision::Deny { rule, reason } => {
                self.metrics.rejected(rule.as_str());
                st.apply(PhaseEvent::Reject, r.now, Some(GUARD_ACTOR)).ok();
                st.message = Some(format!("rejected by the safety guard ({rule}): {reason}"));
                self.metrics.finished(action, "rejected", mode);
                (Level::Warning, "HealingRejected")
            }
        };
        a.status = Some(st);
        let a = self.write_status(&a).await?;
        let msg = format!(
            "{} {}: {}",
            a.spec.action,
            a.spec.target,
            a.status
                .as_ref()
                .and_then(|s| s.message.clone())
                .unwrap_or_default()
        );
        self.recorder.action(&a, level, reason, &msg).await;
        Ok(a)
    }

    /// A Proposed action: reject it if its finding is gone for good, approve it if the guard
    /// now allows it (a deferral lifted), or record a changed verdict.
    pub(crate) async fn reevaluate(
        &mut self,
        r: &mut Round<'_>,
        a: &HealingAction,
        busy: &mut Vec<kaptain_model::ObjectRef>,
    ) -> Result<bool> {
        let id = uid(a);
        let st = a.status.clone().unwrap_or_default();
        if !r.finding_present(&a.spec) {
            let since = *self
                .missing_since
                .entry(id.clone())
                .or_insert_with(Instant::now);
            if since.elapsed() < self.cfg.stale_after {
                return Ok(true);
            }
            self.missing_since.remove(&id);
            let mut a = a.clone();
            let mut st = st;
            st.apply(PhaseEvent::Reject, r.now, Some(KAPTAIN_ACTOR))
                .ok();
            st.message = Some(format!(
                "the finding {} no longer holds; nothing to do",
                a.spec.finding.id
            ));
            a.status = Some(st);
            let a = self.write_status(&a).await?;
            self.metrics
                .finished(a.spec.action.as_str(), "rejected", r.mode(&a.spec));
            self.recorder
                .action(
                    &a,
                    Level::Normal,
                    "HealingObsolete",
                    "the finding cleared before the action ran",
                )
                .await;
            return Ok(false);
        }
        self.missing_since.remove(&id);
        let dry = st
            .decision
            .as_ref()
            .is_some_and(|d| d.decision == "allow-dry-run");
        if dry || crate::controller::conflicts(r.idx, busy, &a.spec) {
            return Ok(false);
        }
        let d = self.decide(r, &a.spec, None);
        let old = st.decision.as_ref();
        let changed = old.is_none_or(|o| {
            o.decision != d.as_str() || o.rule.as_deref() != d.rule().map(SafetyRule::as_str)
        });
        let mut a = a.clone();
        let mut st = st;
        st.decision = Some(d.verdict(r.now));
        let waiting = matches!(&d, Decision::Deny { rule, .. } if rule.is_transient());
        match &d {
            Decision::Allow { dry_run: false } => {
                busy.extend(crate::controller::scopes(r.idx, &a.spec));
                st.apply(PhaseEvent::Approve, r.now, None).ok();
                st.message = Some(format!(
                    "approved automatically by {} once the guard allowed it",
                    a.spec.policy.display()
                ));
                a.status = Some(st);
                let a = self.write_status(&a).await?;
                self.recorder
                    .action(
                        &a,
                        Level::Normal,
                        "HealingApproved",
                        "the guard now allows it",
                    )
                    .await;
                self.execute(r, a).await?;
                return Ok(true);
            }
            _ if !changed => return Ok(waiting),
            Decision::Deny { rule, reason } | Decision::NeedsApproval { rule, reason } => {
                self.metrics.rejected(rule.as_str());
                st.message = Some(format!("{} ({rule}): {reason}", d.as_str()));
            }
            Decision::Allow { dry_run: true } => {
                st.message = Some("the policy is now in dry-run mode".to_string());
            }
        }
        a.status = Some(st);
        let a = self.write_status(&a).await?;
        let msg = a
            .status
            .as_ref()
            .and_then(|s| s.message.clone())
            .unwrap_or_default();
        self.recorder
            .action(&a, Level::Normal, "HealingReevaluated", &msg)
            .await;
        Ok(waiting)
    }
}
