//! One reconcile, as the leader: index → analyze → first-seen times → resume, verify and
//! execute actions in flight → plan → guard → new HealingActions → re-evaluate waiting ones.
//! The execution steps themselves are in [`crate::executor`].

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use kaptain_analyze::Check;
use kaptain_engine::scan;
use kaptain_heal::crd::{HealingAction, HealingActionSpec, Phase, Policy, PolicyKind};
use kaptain_heal::guard::{
    ActionRecord, Breakers, Decision, GuardContext, SafetyConfig, evaluate, scope_key,
};
use kaptain_heal::planner::{PlanInput, observe, plan};
use kaptain_index::ClusterIndex;
use kaptain_model::{Finding, ObjectRef};
use kube::api::{Api, PostParams};

use crate::config::{OperatorConfig, safety_from_configmap};
use crate::metrics::Metrics;
use crate::watch::Reflectors;
use kaptain_engine::healing::Recorder;
use kaptain_engine::healing::{Error, Result};
use kaptain_engine::healing::{PersistedState, load_state, save_state};

/// Actor recorded when the safety guard rejects an action.
pub const GUARD_ACTOR: &str = "kaptain-guard";
/// Actor recorded when Kaptain itself rejects an action (its finding cleared).
pub const KAPTAIN_ACTOR: &str = "kaptain";

/// What one reconcile reads.
pub(crate) struct Round<'a> {
    pub now: Timestamp,
    pub idx: &'a ClusterIndex,
    pub findings: &'a [Finding],
    pub policies: &'a [Policy],
    /// The built-in policies of people's requests (one per asker with an action), which plan
    /// nothing by themselves: they only judge the actions people asked for.
    pub requests: Vec<Policy>,
    pub safety: &'a SafetyConfig,
    /// Real actions started (from the API, plus those this instance started and the
    /// watch has not shown yet).
    pub history: Vec<ActionRecord>,
}

impl Round<'_> {
    pub fn policy(&self, spec: &HealingActionSpec) -> Option<&Policy> {
        self.policies
            .iter()
            .chain(&self.requests)
            .find(|p| p.reference.same_policy(&spec.policy))
    }

    pub fn mode(&self, spec: &HealingActionSpec) -> &'static str {
        self.policy(spec)
            .map_or("unknown", |p| p.spec.mode.as_str())
    }

    pub fn finding_present(&self, spec: &HealingActionSpec) -> bool {
        // A request that answers no finding carries one of its own, which no scan reports.
        if kaptain_heal::request::own_finding(spec) {
            return true;
        }
        // A pod's finding now grouped under its workload is still present.
        self.findings
            .iter()
            .any(|f| f.answers_to(&spec.finding.fingerprint))
    }
}

/// The leader's memory between reconciles. Everything that matters is also in the API.
pub(crate) struct Controller {
    pub client: kube::Client,
    pub cfg: OperatorConfig,
    pub metrics: Metrics,
    pub recorder: Recorder,
    pub state: PersistedState,
    pub state_dirty: bool,
    pub state_loaded: bool,
    checks: Vec<&'static Check>,
    /// The newest version of each action this instance wrote, by UID (the watch may lag).
    written: HashMap<String, (HealingAction, Instant)>,
    /// When each Verifying action's finding was first seen cleared (settle clock).
    pub clear_since: HashMap<String, Timestamp>,
    /// When each Proposed action's finding was first seen gone.
    pub missing_since: HashMap<String, Instant>,
    recent_starts: Vec<(ActionRecord, Instant)>,
    last_safety: SafetyConfig,
}

/// Parses a resourceVersion as the etcd revision it is in practice.
fn rv(a: &HealingAction) -> Option<u64> {
    a.metadata.resource_version.as_deref()?.parse().ok()
}

pub(crate) fn uid(a: &HealingAction) -> String {
    a.metadata.uid.clone().unwrap_or_default()
}

pub(crate) fn phase(a: &HealingAction) -> Phase {
    a.status.as_ref().map(|s| s.phase).unwrap_or_default()
}

/// The workload `obj` belongs to: a pod's owning workload (found in the index), else itself.
fn workload_of(idx: &ClusterIndex, obj: &ObjectRef) -> ObjectRef {
    if obj.kind == "Pod"
        && let Some(p) = idx
            .objects
            .pods
            .get(obj.namespace.as_deref().unwrap_or(""), &obj.name)
    {
        return idx.workload_of_pod(p).to_ref();
    }
    obj.clone()
}

/// The workloads an action acts on or answers for: its target's and its finding's (a symptom
/// on a pod and a change of the pod's Deployment are one incident), plus the owner recorded
/// before the change (the pod a restart deleted is no longer in the index).
pub(crate) fn workloads(idx: &ClusterIndex, a: &HealingAction) -> Vec<ObjectRef> {
    let mut out = scopes(idx, &a.spec);
    out.extend(recorded_workload(a));
    out
}

/// The workload recorded with an action's intent, before its change (a restarted pod's
/// controller).
pub(crate) fn recorded_workload(a: &HealingAction) -> Option<ObjectRef> {
    a.status
        .as_ref()
        .and_then(|s| s.observed_before.as_ref())
        .and_then(|o| o.get("workload"))
        .and_then(|w| serde_json::from_value(w.clone()).ok())
}

/// The scope of an action's circuit breaker: its policy on the workload recorded with its
/// intent, else on its target — the workload the guard found for the same target.
pub(crate) fn breaker_scope(a: &HealingAction) -> String {
    let workload = recorded_workload(a);
    scope_key(
        &a.spec.policy,
        workload.as_ref().unwrap_or(&a.spec.change.target),
    )
}

/// The workloads a proposal acts on or answers for.
pub(crate) fn scopes(idx: &ClusterIndex, spec: &HealingActionSpec) -> Vec<ObjectRef> {
    vec![
        workload_of(idx, &spec.change.target),
        workload_of(idx, &spec.finding.object),
    ]
}

/// Whether a proposal touches a workload another action has in flight.
pub(crate) fn conflicts(idx: &ClusterIndex, busy: &[ObjectRef], spec: &HealingActionSpec) -> bool {
    scopes(idx, spec)
        .iter()
        .any(|w| busy.iter().any(|b| b.same_object(w)))
}

impl Controller {
    pub fn new(client: kube::Client, cfg: OperatorConfig, metrics: Metrics) -> Self {
        let recorder = Recorder::new(client.clone(), &cfg.identity);
        let checks = kaptain_analyze::catalog().iter().collect();
        Controller {
            client,
            cfg,
            metrics,
            recorder,
            state: PersistedState::default(),
            state_dirty: false,
            state_loaded: false,
            checks,
            written: HashMap::new(),
            clear_since: HashMap::new(),
            missing_since: HashMap::new(),
            recent_starts: Vec::new(),
            last_safety: SafetyConfig::default(),
        }
    }

    /// Called when this instance stops leading: forget what another leader may change.
    pub fn step_down(&mut self) {
        self.state_loaded = false;
        self.written.clear();
        self.clear_since.clear();
        self.missing_since.clear();
        self.recent_starts.clear();
    }

    /// The actions from the watch, each replaced by the version this instance wrote if that
    /// is newer, plus the ones it created that the watch has not shown yet.
    fn merged(&mut self, store: Vec<Arc<HealingAction>>) -> Vec<HealingAction> {
        let mut seen = HashSet::new();
        let mut out = Vec::with_capacity(store.len());
        for a in store {
            let id = uid(&a);
            seen.insert(id.clone());
            match self.written.get(&id) {
                Some((w, _)) if rv(w).zip(rv(&a)).is_some_and(|(w, s)| w > s) => {
                    out.push(w.clone())
                }
                Some(_) => {
                    self.written.remove(&id);
                    out.push((*a).clone());
                }
                None => out.push((*a).clone()),
            }
        }
        self.written
            .retain(|id, (_, at)| seen.contains(id) || at.elapsed() < Duration::from_secs(60));
        for (id, (w, _)) in &self.written {
            if !seen.contains(id) {
                out.push(w.clone());
            }
        }
        out
    }

    /// Writes an action's status (optimistic: fails with a conflict if it changed since it
    /// was read) and remembers the result.
    pub async fn write_status(&mut self, a: &HealingAction) -> Result<HealingAction> {
        let ns = a.metadata.namespace.as_deref().unwrap_or_default();
        let name = a.metadata.name.as_deref().unwrap_or_default();
        let api: Api<HealingAction> = Api::namespaced(self.client.clone(), ns);
        let new = api.replace_status(name, &PostParams::default(), a).await?;
        self.written
            .insert(uid(&new), (new.clone(), Instant::now()));
        Ok(new)
    }

    /// The guard's decision on `spec` now.
    pub fn decide(
        &self,
        r: &Round,
        spec: &HealingActionSpec,
        approved_by: Option<&str>,
    ) -> Decision {
        self.judge(r, spec, approved_by, &r.history, &self.state.breakers)
    }

    /// The guard's decision on an action that already started (found Executing after a
    /// restart): its own start is left out of the history, so it is neither its own duplicate
    /// nor its own cool-down (nor counted twice in the rate limits).
    pub fn decide_started(
        &self,
        r: &Round,
        spec: &HealingActionSpec,
        approved_by: Option<&str>,
    ) -> Decision {
        let history: Vec<ActionRecord> = r
            .history
            .iter()
            .filter(|h| h.idempotency_key != spec.idempotency_key)
            .cloned()
            .collect();
        // Nor is it kept out by a half-open breaker whose trial action it is.
        let breakers = self.state.breakers.for_started(&spec.idempotency_key);
        self.judge(r, spec, approved_by, &history, &breakers)
    }

    /// The guard over `spec` with the index's facts and the given history and breaker.
    fn judge(
        &self,
        r: &Round,
        spec: &HealingActionSpec,
        approved_by: Option<&str>,
        history: &[ActionRecord],
        breakers: &Breakers,
    ) -> Decision {
        let facts = observe(r.idx, spec);
        evaluate(
            &GuardContext {
                now: r.now,
                config: r.safety,
                policy: r.policy(spec).map(|p| &p.spec),
                history,
                breakers,
                facts: &facts,
                approved_by,
            },
            spec,
        )
    }

    pub fn record_start(&mut self, r: &mut Round<'_>, a: &HealingAction) {
        if let Some(rec) = ActionRecord::from_action(a) {
            r.history.push(rec.clone());
            self.recent_starts.push((rec, Instant::now()));
        }
    }

    /// One reconcile. Returns whether something waits on time (verification, deferrals), so
    /// the loop comes back soon even without watch events.
    pub async fn reconcile(&mut self, refl: &Reflectors) -> Result<bool> {
        if !self.state_loaded {
            self.state = load_state(&self.client, &self.cfg.namespace).await?;
            self.state_loaded = true;
        }
        let now = Timestamp::now();
        let idx = refl.index();
        let watched: usize = idx.loaded_kinds().iter().map(|&k| idx.count(k)).sum();
        self.metrics
            .watched_objects
            .set(u64::try_from(watched).unwrap_or(u64::MAX));
        let ahead = jiff::SignedDuration::try_from(self.cfg.analyze_ahead).unwrap_or_default();
        let findings: Vec<Finding> =
            scan::findings(&idx, &self.checks, now.checked_add(ahead).unwrap_or(now))
                .into_iter()
                .filter(|f| {
                    f.object
                        .namespace
                        .as_deref()
                        .is_none_or(|ns| self.cfg.watches(ns))
                })
                .collect();
        self.metrics
            .findings
            .set(i64::try_from(findings.len()).unwrap_or(i64::MAX));
        let present: BTreeSet<&str> = findings.iter().map(|f| f.fingerprint.as_str()).collect();
        if self.state.inherit(&findings) | self.state.observe(&present, now) {
            self.state_dirty = true;
        }
        let safety = match &self.cfg.safety_override {
            Some(s) => s.clone(),
            None => match safety_from_configmap(refl.config_map().as_deref()) {
                Ok(s) => {
                    self.last_safety = s.clone();
                    s
                }
                Err(e) => {
                    tracing::warn!(error = %e, "keeping the last good safety configuration");
                    self.last_safety.clone()
                }
            },
        };
        let before = self.state.breakers.clone();
        self.state.breakers.advance(&safety, now);
        if self.state.breakers != before {
            self.state_dirty = true;
        }
        // Invalid policies propose nothing (their Ready condition says why).
        let all_policies = refl.policies();
        let known: Vec<&str> = self.checks.iter().map(|c| c.info.id).collect();
        let checked: Vec<(Policy, Vec<String>)> = all_policies
            .into_iter()
            .map(|p| {
                let problems = p.spec.problems(&known);
                (p, problems)
            })
            .collect();
        let policies: Vec<Policy> = checked
            .iter()
            .filter(|(_, problems)| problems.is_empty())
            .map(|(p, _)| p.clone())
            .collect();
        let actions = self.merged(refl.actions());
        let mut history: Vec<ActionRecord> = actions
            .iter()
            .filter_map(ActionRecord::from_action)
            .collect();
        self.recent_starts
            .retain(|(_, at)| at.elapsed() < Duration::from_secs(120));
        for (rec, _) in &self.recent_starts {
            if !history
                .iter()
                .any(|h| h.idempotency_key == rec.idempotency_key)
            {
                history.push(rec.clone());
            }
        }
        let mut requests: Vec<Policy> = Vec::new();
        for a in &actions {
            if a.spec.policy.kind == PolicyKind::Request
                && !requests
                    .iter()
                    .any(|p| p.reference.same_policy(&a.spec.policy))
            {
                requests.push(kaptain_heal::request::policy(&a.spec.policy));
            }
        }
        let mut round = Round {
            now,
            idx: &idx,
            findings: &findings,
            policies: &policies,
            requests,
            safety: &safety,
            history,
        };
        let mut waiting = false;

        // 1. Actions in flight: resume (after a crash or a lost leader), verify, execute.
        for a in &actions {
            let result = match phase(a) {
                Phase::Executing => self.resume(&mut round, a.clone()).await.map(|_| true),
                Phase::Verifying => self.verify(&round, a.clone()).await.map(|_| true),
                Phase::Approved => self.execute(&mut round, a.clone()).await.map(|_| true),
                Phase::Failed if crate::rollback::pending(a) => {
                    self.roll_back(&round, a.clone()).await
                }
                _ => Ok(false),
            };
            match result {
                Ok(w) => waiting |= w,
                Err(Error::FailPoint(p)) => return Err(Error::FailPoint(p)),
                Err(e) => {
                    waiting = true;
                    tracing::warn!(action = ?a.metadata.name, error = %e, category = e.category(),
                        "cannot advance a HealingAction; retrying");
                }
            }
        }

        // 2. New proposals.
        let proposals = plan(&PlanInput {
            findings: &findings,
            policies: &policies,
            index: &idx,
            first_seen: &self.state.first_seen,
            now,
        });
        if proposals
            .skipped
            .iter()
            .any(|s| s.reason.contains("has lasted"))
        {
            waiting = true;
        }
        let keys: HashSet<&str> = actions
            .iter()
            .map(|a| a.spec.idempotency_key.as_str())
            .collect();
        // At most one action in flight per workload (its pods included): a second one would
        // be judged by the first one's verification, and the other way round.
        let mut busy: Vec<ObjectRef> = actions
            .iter()
            .filter(|a| {
                matches!(
                    phase(a),
                    Phase::Approved | Phase::Executing | Phase::Verifying
                ) || crate::rollback::pending(a)
            })
            .flat_map(|a| workloads(&idx, a))
            .collect();
        for p in proposals.proposals {
            if keys.contains(p.idempotency_key.as_str()) {
                continue;
            }
            if conflicts(&idx, &busy, &p) {
                // Waits until the action in flight on the same workload is done.
                waiting = true;
                continue;
            }
            busy.extend(scopes(&idx, &p));
            match self.propose(&mut round, p).await {
                Ok(Some(a)) if phase(&a) == Phase::Approved => {
                    waiting = true;
                    match self.execute(&mut round, a).await {
                        Err(Error::FailPoint(p)) => return Err(Error::FailPoint(p)),
                        Err(e) => tracing::warn!(error = %e, "cannot execute a new action"),
                        Ok(()) => {}
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    waiting = true;
                    tracing::warn!(error = %e, category = e.category(), "cannot create a HealingAction");
                }
            }
        }

        // 2b. Actions a person or an MCP client proposed: the guard decides them now.
        let adopted = self
            .adopt(&mut round, &actions, &mut busy, &mut waiting)
            .await?;

        // 3. Waiting actions: deferred ones may run now; stale ones are rejected.
        for a in &actions {
            if phase(a) != Phase::Proposed || adopted.contains(&uid(a)) {
                continue;
            }
            match self.reevaluate(&mut round, a, &mut busy).await {
                Ok(w) => waiting |= w,
                Err(Error::FailPoint(p)) => return Err(Error::FailPoint(p)),
                Err(e) => {
                    waiting = true;
                    tracing::warn!(action = ?a.metadata.name, error = %e, "cannot re-evaluate a HealingAction");
                }
            }
        }

        crate::policy_status::report(
            &self.client,
            &checked,
            refl.policy_statuses(),
            &round.history,
            &self.state.breakers,
            &safety,
            now,
        )
        .await;
        self.metrics
            .set_breakers(&self.state.breakers, &safety, now);
        if self.state_dirty {
            save_state(&self.client, &self.cfg.namespace, &self.state).await?;
            self.state_dirty = false;
        }
        Ok(waiting)
    }
}
