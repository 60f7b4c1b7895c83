//! What `kaptain heal` does, without an operator running: plan now (dry-run), list actions,
//! approve and reject through the same phase machine and safety guard the operator uses.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kaptain_heal::Proposal;
use kaptain_heal::crd::{
    ClusterHealingPolicy, GuardVerdict, HealingAction, HealingPolicy, HealingPolicySpec, Phase,
    PhaseEvent, Policy, PolicyKind,
};
use kaptain_heal::guard::{
    ActionRecord, Decision, GuardContext, SafetyConfig, SafetyRule, evaluate,
};
use kaptain_heal::planner::{PlanInput, object_name, observe, plan};
use kaptain_index::{ClusterIndex, Kind};
use kaptain_model::Finding;
use kaptain_sources::live::{Cluster, LiveOptions};
use kube::Api;
use kube::api::{ListParams, PostParams};
use serde::Serialize;

use super::load_safety;
use super::state::{self, PersistedState};
use super::{Error, Result};
use super::{Level, Recorder};

/// Every HealingAction in `namespace` (all namespaces when `None`).
pub async fn list_actions(
    client: &kube::Client,
    namespace: Option<&str>,
) -> Result<Vec<HealingAction>> {
    let api: Api<HealingAction> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    Ok(api.list(&ListParams::default()).await?.items)
}

/// The action named `name`: in `namespace`, or — when `None` — the only one of that name in
/// any namespace.
pub async fn find_action(
    client: &kube::Client,
    name: &str,
    namespace: Option<&str>,
) -> Result<HealingAction> {
    if let Some(ns) = namespace {
        let api: Api<HealingAction> = Api::namespaced(client.clone(), ns);
        return api
            .get_opt(name)
            .await?
            .ok_or_else(|| Error::Invalid(format!("no HealingAction {name} in namespace {ns}")));
    }
    let all: Vec<HealingAction> = list_actions(client, None)
        .await?
        .into_iter()
        .filter(|a| a.metadata.name.as_deref() == Some(name))
        .collect();
    match all.len() {
        1 => Ok(all
            .into_iter()
            .next()
            .ok_or_else(|| Error::Invalid("gone".into()))?),
        0 => Err(Error::Invalid(format!("no HealingAction named {name}"))),
        _ => Err(Error::Invalid(format!(
            "HealingAction {name} exists in several namespaces ({}); name one with -n",
            all.iter()
                .filter_map(|a| a.metadata.namespace.clone())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The current spec of the policy that proposed an action, if it still exists.
async fn current_policy(
    client: &kube::Client,
    p: &kaptain_heal::crd::PolicyRef,
) -> Result<Option<HealingPolicySpec>> {
    Ok(match p.kind {
        PolicyKind::HealingPolicy => {
            let ns = p.namespace.as_deref().unwrap_or("default");
            let api: Api<HealingPolicy> = Api::namespaced(client.clone(), ns);
            api.get_opt(&p.name).await?.map(|x| x.spec)
        }
        PolicyKind::ClusterHealingPolicy => {
            let api: Api<ClusterHealingPolicy> = Api::all(client.clone());
            api.get_opt(&p.name).await?.map(|x| x.spec.0)
        }
        PolicyKind::Request => Some(kaptain_heal::request::spec()),
    })
}

/// The operator's safety configuration and persisted state, as far as they can be read
/// (defaults otherwise, with the reason in `notes`).
pub(crate) async fn operator_context(
    client: &kube::Client,
    operator_namespace: &str,
    safety_override: Option<&SafetyConfig>,
    notes: &mut Vec<String>,
) -> (SafetyConfig, PersistedState) {
    let safety = match safety_override {
        Some(s) => s.clone(),
        None => match load_safety(client, operator_namespace).await {
            Ok(s) => s,
            Err(e) => {
                notes.push(format!("safety configuration: defaults ({e})"));
                SafetyConfig::default()
            }
        },
    };
    let st = match state::load(client, operator_namespace).await {
        Ok(s) => s,
        Err(e) => {
            notes.push(format!("operator state: none ({e})"));
            PersistedState::default()
        }
    };
    (safety, st)
}

/// Lists what the guard's facts need about the objects in `namespace`.
async fn facts_index(client: &kube::Client, namespace: Option<&str>) -> Result<ClusterIndex> {
    let cluster = Cluster {
        client: client.clone(),
        context: None,
        default_namespace: "default".into(),
    };
    let kinds = [
        Kind::Namespace,
        Kind::Node,
        Kind::Pod,
        Kind::ReplicaSet,
        Kind::Deployment,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::HorizontalPodAutoscaler,
    ];
    let opts = LiveOptions {
        namespace: namespace.map(str::to_string),
        page_size: 500,
        ..LiveOptions::default()
    };
    let (idx, _) = cluster.load(&kinds, &opts, &|_| {}).await?;
    Ok(idx)
}

/// Approves a Proposed action as `user`, after the safety guard (with the current policy,
/// history, breaker and target) allows it with that approval. A refusal names the rule.
pub async fn approve(
    client: &kube::Client,
    name: &str,
    namespace: Option<&str>,
    user: &str,
    operator_namespace: &str,
    safety_override: Option<&SafetyConfig>,
) -> Result<HealingAction> {
    let mut notes = Vec::new();
    let (safety, st) =
        operator_context(client, operator_namespace, safety_override, &mut notes).await;
    for n in &notes {
        tracing::info!("{n}");
    }
    for attempt in 0..3 {
        let mut a = find_action(client, name, namespace).await?;
        let phase = a.status.as_ref().map(|s| s.phase).unwrap_or_default();
        if phase != Phase::Proposed {
            return Err(Error::Invalid(format!(
                "HealingAction {name} is {phase}; only Proposed actions can be approved"
            )));
        }
        // The operator would refuse it anyway; say so now rather than approve it.
        if let Some(why) = kaptain_heal::crd::tampered(&a) {
            return Err(Error::Refused {
                rule: "spec-tampered".into(),
                reason: why,
            });
        }
        let policy = current_policy(client, &a.spec.policy).await?;
        let history: Vec<ActionRecord> = list_actions(client, None)
            .await?
            .iter()
            .filter_map(ActionRecord::from_action)
            .collect();
        let idx = facts_index(client, a.spec.change.target.namespace.as_deref()).await?;
        let facts = observe(&idx, &a.spec);
        let now = Timestamp::now();
        let d = evaluate(
            &GuardContext {
                now,
                config: &safety,
                policy: policy.as_ref(),
                history: &history,
                breakers: &st.breakers,
                facts: &facts,
                approved_by: Some(user),
            },
            &a.spec,
        );
        match &d {
            Decision::Allow { dry_run: false } => {}
            Decision::Allow { dry_run: true } => {
                return Err(Error::Refused {
                    rule: SafetyRule::DryRunMode.as_str().into(),
                    reason: "the policy (or the operator) is in dry-run mode: approving would change nothing".into(),
                });
            }
            Decision::NeedsApproval { rule, reason } | Decision::Deny { rule, reason } => {
                return Err(Error::Refused {
                    rule: rule.as_str().into(),
                    reason: reason.clone(),
                });
            }
        }
        let mut status = a.status.clone().unwrap_or_default();
        status
            .apply(PhaseEvent::Approve, now, Some(user))
            .map_err(|e| Error::Invalid(e.to_string()))?;
        status.decision = Some(d.verdict(now));
        status.message = Some(format!("approved by {user}"));
        a.status = Some(status);
        let ns = a.metadata.namespace.clone().unwrap_or_default();
        let api: Api<HealingAction> = Api::namespaced(client.clone(), &ns);
        match api.replace_status(name, &PostParams::default(), &a).await {
            Ok(done) => {
                Recorder::new(client.clone(), &format!("cli/{user}"))
                    .action(
                        &done,
                        Level::Normal,
                        "HealingApproved",
                        &format!("approved by {user}"),
                    )
                    .await;
                return Ok(done);
            }
            Err(kube::Error::Api(s)) if s.code == 409 && attempt < 2 => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Invalid(format!(
        "HealingAction {name} keeps changing; try again"
    )))
}

/// Rejects a Proposed or Approved action as `user`.
pub async fn reject(
    client: &kube::Client,
    name: &str,
    namespace: Option<&str>,
    user: &str,
    reason: Option<&str>,
) -> Result<HealingAction> {
    for attempt in 0..3 {
        let mut a = find_action(client, name, namespace).await?;
        let mut status = a.status.clone().unwrap_or_default();
        let now = Timestamp::now();
        status
            .apply(PhaseEvent::Reject, now, Some(user))
            .map_err(|_| {
                Error::Invalid(format!(
                    "HealingAction {name} is {}; only Proposed or Approved actions can be rejected",
                    status.phase
                ))
            })?;
        let msg = match reason {
            Some(r) => format!("rejected by {user}: {r}"),
            None => format!("rejected by {user}"),
        };
        status.message = Some(msg.clone());
        a.status = Some(status);
        let ns = a.metadata.namespace.clone().unwrap_or_default();
        let api: Api<HealingAction> = Api::namespaced(client.clone(), &ns);
        match api.replace_status(name, &PostParams::default(), &a).await {
            Ok(done) => {
                Recorder::new(client.clone(), &format!("cli/{user}"))
                    .action(&done, Level::Normal, "HealingRejected", &msg)
                    .await;
                return Ok(done);
            }
            Err(kube::Error::Api(s)) if s.code == 409 && attempt < 2 => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Invalid(format!(
        "HealingAction {name} keeps changing; try again"
    )))
}

/// One proposal of [`plan_now`], with the guard's verdict.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedAction {
    /// The HealingAction name the operator would use.
    pub name: String,
    pub proposal: Proposal,
    pub mode: String,
    pub verdict: GuardVerdict,
    /// `namespace/name` and phase of the HealingAction that already exists for this key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existing: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existing_phase: Option<Phase>,
}

/// A finding a policy matched that gets no action, and why.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Skipped {
    pub check: String,
    pub object: String,
    pub policy: String,
    pub reason: String,
}

/// What the policies would do now.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanReport {
    pub generated_at: Time,
    pub findings: usize,
    pub policies: usize,
    pub actions: Vec<PlannedAction>,
    pub skipped: Vec<Skipped>,
    /// What could not be read (the plan falls back to defaults).
    pub notes: Vec<String>,
}

/// Scans the cluster, analyzes, plans with the policies in it and asks the guard about each
/// proposal — exactly what the operator would do now, without doing it.
pub async fn plan_now(
    client: &kube::Client,
    namespace: Option<&str>,
    operator_namespace: &str,
    safety_override: Option<&SafetyConfig>,
) -> Result<PlanReport> {
    let mut notes = Vec::new();
    let (safety, st) =
        operator_context(client, operator_namespace, safety_override, &mut notes).await;
    let cluster = Cluster {
        client: client.clone(),
        context: None,
        default_namespace: "default".into(),
    };
    let opts = LiveOptions {
        namespace: namespace.map(str::to_string),
        page_size: 500,
        ..LiveOptions::default()
    };
    let (idx, info) = cluster
        .load(&super::watched_kinds(false), &opts, &|_| {})
        .await?;
    for s in info.skipped {
        notes.push(format!("not read: {} ({})", s.api, s.reason));
    }
    let now = Timestamp::now();
    let checks: Vec<_> = kaptain_analyze::catalog().iter().collect();
    let findings = crate::scan::findings(&idx, &checks, now);
    plan_on(client, &idx, findings, now, namespace, safety, st, notes).await
}

/// What [`plan_now`] does after reading the cluster, on an index and its findings already at
/// hand (a live cluster's, kept by [`crate::live::LiveClusters`]): no LIST of the objects again.
pub async fn plan_with_index(
    client: &kube::Client,
    idx: &ClusterIndex,
    findings: Vec<Finding>,
    namespace: Option<&str>,
    operator_namespace: &str,
) -> Result<PlanReport> {
    let mut notes = Vec::new();
    let (safety, st) = operator_context(client, operator_namespace, None, &mut notes).await;
    plan_on(
        client,
        idx,
        findings,
        Timestamp::now(),
        namespace,
        safety,
        st,
        notes,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn plan_on(
    client: &kube::Client,
    idx: &ClusterIndex,
    findings: Vec<Finding>,
    now: Timestamp,
    namespace: Option<&str>,
    safety: SafetyConfig,
    st: PersistedState,
    mut notes: Vec<String>,
) -> Result<PlanReport> {
    let findings: Vec<Finding> = findings
        .into_iter()
        .filter(|f| namespace.is_none() || f.object.namespace.as_deref() == namespace)
        .collect();
    let hp: Api<HealingPolicy> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let chp: Api<ClusterHealingPolicy> = Api::all(client.clone());
    let mut policies: Vec<Policy> = hp
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .map(Policy::from)
        .collect();
    match chp.list(&ListParams::default()).await {
        Ok(l) => policies.extend(l.items.iter().map(Policy::from)),
        Err(kube::Error::Api(s)) if s.code == 403 => {
            notes.push("ClusterHealingPolicies: forbidden, not considered".into())
        }
        Err(e) => return Err(e.into()),
    }
    // History (rate limits, cool-downs, duplicates) comes from every namespace when allowed.
    let existing = match list_actions(client, None).await {
        Err(e) if e.category() == "forbidden" && namespace.is_some() => {
            notes.push(
                "HealingActions of other namespaces: forbidden; rate limits count this namespace only"
                    .into(),
            );
            list_actions(client, namespace).await?
        }
        r => r?,
    };
    let history: Vec<ActionRecord> = existing
        .iter()
        .filter_map(ActionRecord::from_action)
        .collect();
    let by_key: BTreeMap<&str, &HealingAction> = existing
        .iter()
        .map(|a| (a.spec.idempotency_key.as_str(), a))
        .collect();
    let p = plan(&PlanInput {
        findings: &findings,
        policies: &policies,
        index: idx,
        first_seen: &st.first_seen,
        now,
    });
    let actions = p
        .proposals
        .into_iter()
        .map(|proposal| {
            let policy = policies
                .iter()
                .find(|x| x.reference.same_policy(&proposal.policy));
            let facts = observe(idx, &proposal);
            let d = evaluate(
                &GuardContext {
                    now,
                    config: &safety,
                    policy: policy.map(|x| &x.spec),
                    history: &history,
                    breakers: &st.breakers,
                    facts: &facts,
                    approved_by: None,
                },
                &proposal,
            );
            let ex = by_key.get(proposal.idempotency_key.as_str());
            PlannedAction {
                name: object_name(&proposal),
                mode: policy
                    .map_or("unknown", |x| x.spec.mode.as_str())
                    .to_string(),
                verdict: d.verdict(now),
                existing: ex.map(|a| {
                    format!(
                        "{}/{}",
                        a.metadata.namespace.as_deref().unwrap_or(""),
                        a.metadata.name.as_deref().unwrap_or("")
                    )
                }),
                existing_phase: ex.and_then(|a| a.status.as_ref()).map(|s| s.phase),
                proposal,
            }
        })
        .collect();
    let skipped = p
        .skipped
        .into_iter()
        .map(|s| Skipped {
            check: s.check,
            object: s.object.display(),
            policy: s.policy.display(),
            reason: s.reason,
        })
        .collect();
    Ok(PlanReport {
        generated_at: Time(now),
        findings: findings.len(),
        policies: policies.len(),
        actions,
        skipped,
        notes,
    })
}

/// When an action last changed phase (for sorting history), else its creation.
pub fn last_change(a: &HealingAction) -> Option<Timestamp> {
    let t = a.status.as_ref().map(|s| &s.times);
    t.and_then(|t| {
        [
            &t.rolled_back,
            &t.succeeded,
            &t.failed,
            &t.rejected,
            &t.verifying,
            &t.executing,
            &t.approved,
            &t.proposed,
        ]
        .into_iter()
        .flatten()
        .map(|x| x.0)
        .max()
    })
    .or_else(|| a.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// Finished actions: terminal phases, and Failed (nothing more will happen to it).
pub fn is_finished(a: &HealingAction) -> bool {
    let p = a.status.as_ref().map(|s| s.phase).unwrap_or_default();
    p.is_terminal() || p == Phase::Failed
}
