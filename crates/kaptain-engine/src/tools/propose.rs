//! `propose_action`: a person's (or a model's) request for a change, made into a
//! HealingAction that the operator's safety guard decides like its own proposals.
//!
//! The change itself is never invented here: it is what a HealingPolicy that answers the
//! finding would build with the requested action (the planner's own builders), so it carries
//! the policy's bounds, reasoning and idempotency key. No policy answering the finding with
//! that action → refused (`no-policy`). The guard is asked first (with the operator's safety
//! configuration and the recent actions) and a hard denial creates nothing; otherwise the
//! HealingAction is created without a status and marked with who proposed it; the operator
//! decides it (approve automatically when an `auto` policy allows it, otherwise wait for
//! `kaptain heal approve`).

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use kaptain_heal::crd::{ActionKind, HealingAction, Policy};
use kaptain_heal::guard::{ActionRecord, Breakers, Decision, GuardContext, evaluate};
use kaptain_heal::planner::{PlanInput, object_name, observe, plan};
use kaptain_model::Finding;
use kube::api::ObjectMeta;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::bound::short;
use super::error::ToolError;
use super::objects::parse_kind;
use super::read::{Ctx, given};
use super::registry::{Mark, TypedTool};
use super::view::ObjectView;

/// Who proposed a HealingAction (an MCP client's actor), when not a policy by itself.
pub const PROPOSED_BY_ANNOTATION: &str = "kaptain.dev/proposed-by";
/// The label the operator finds an action's idempotency key by.
const KEY_LABEL: &str = "kaptain.dev/idempotency-key";
/// Where actions on cluster-scoped targets (nodes) live unless the host says otherwise.
const DEFAULT_OPERATOR_NAMESPACE: &str = "kaptain-system";
const MAX_WAIT_SECS: u64 = 30;

/// The change asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ProposeKind {
    /// Delete one failing pod so its controller re-creates it.
    Restart,
    /// Restart every pod of a Deployment, StatefulSet or DaemonSet, one by one.
    RolloutRestart,
    /// Change the replicas of the workload within the policy's bounds.
    Scale,
    /// Raise a container's memory or CPU limits within the policy's bounds.
    RaiseResources,
    /// Roll a Deployment back to its previous revision.
    Rollback,
    /// Mark a NotReady node unschedulable.
    Cordon,
    /// Propose the manifest of a missing object (a person must approve it).
    SuggestManifest,
}

impl ProposeKind {
    pub fn action(self) -> ActionKind {
        match self {
            ProposeKind::Restart => ActionKind::RestartPod,
            ProposeKind::RolloutRestart => ActionKind::RolloutRestart,
            ProposeKind::Scale => ActionKind::Scale,
            ProposeKind::RaiseResources => ActionKind::RaiseResources,
            ProposeKind::Rollback => ActionKind::RollbackDeployment,
            ProposeKind::Cordon => ActionKind::CordonNode,
            ProposeKind::SuggestManifest => ActionKind::SuggestManifest,
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposeInput {
    #[serde(default)]
    pub cluster: Option<String>,
    /// The change: restart, rollout-restart, scale, raise-resources, rollback, cordon,
    /// suggest-manifest.
    pub action: ProposeKind,
    /// Kind of the object the problem is on (Deployment, Pod, Node, ConfigMap, ...).
    pub kind: String,
    /// Its namespace (absent for nodes).
    #[serde(default)]
    pub namespace: Option<String>,
    pub name: String,
    /// The fingerprint of the finding to answer (from diagnose); default: the most severe
    /// finding on the object or its pods that a policy answers with this action.
    #[serde(default)]
    pub finding: Option<String>,
    /// Why, in a sentence (recorded on the action).
    #[serde(default)]
    pub reason: Option<String>,
    /// Seconds to wait for the operator's decision (default 5, at most 30; 0 returns at once).
    #[serde(default)]
    pub wait_seconds: Option<u64>,
}

/// What became of the proposal.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ProposeOutput {
    /// `created` (a new HealingAction) or `exists` (the same change was already proposed).
    pub outcome: String,
    /// The HealingAction (namespace and name).
    pub healing_action: ObjectView,
    pub action: String,
    pub target: String,
    /// The finding answered: check id and object.
    pub finding: String,
    /// The policy whose bounds the change keeps, and its mode.
    pub policy: String,
    pub mode: String,
    /// The safety guard's verdict before creating it (`allow`, `allow-dry-run`,
    /// `needs-approval`, or a transient `deny` that may lift).
    pub guard_preview: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guard_rule: Option<String>,
    pub guard_reason: String,
    /// The phase now (`Proposed` until the operator decides).
    pub phase: String,
    /// The operator's verdict once it decided (within `wait_seconds`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// What a person runs to approve it, when it waits for approval.
    pub approve_with: String,
}

/// The findings an action on `kind/ns/name` may answer: the object's own, then its pods'.
fn candidates(
    idx: &kaptain_index::ClusterIndex,
    findings: &[Finding],
    kind: kaptain_index::Kind,
    ns: &str,
    name: &str,
) -> Vec<Finding> {
    let pods: Vec<String> = if kind.namespaced() {
        idx.pods_of(kind, ns, name)
            .iter()
            .filter_map(|p| p.metadata.name.clone())
            .collect()
    } else {
        Vec::new()
    };
    let mut own: Vec<Finding> = findings
        .iter()
        .filter(|f| {
            let o = &f.object;
            (o.kind == kind.name() && o.name == name && o.namespace.as_deref().unwrap_or("") == ns)
                || (o.kind == "Pod" && o.namespace.as_deref() == Some(ns) && pods.contains(&o.name))
        })
        .cloned()
        .collect();
    own.sort_by(|a, b| {
        b.root_cause
            .cmp(&a.root_cause)
            .then(b.severity.cmp(&a.severity))
            .then(a.object.cmp(&b.object))
    });
    own
}

/// The policies narrowed to the one action kind asked for.
fn narrowed(policies: &[Policy], action: ActionKind) -> Vec<Policy> {
    policies
        .iter()
        .filter_map(|p| {
            let mut p = p.clone();
            p.spec.actions.retain(|t| t.kind() == action);
            (!p.spec.actions.is_empty()).then_some(p)
        })
        .collect()
}

/// The proposal the policies would make for `finding` with `action`, or why none.
pub(crate) fn build_proposal(
    idx: &kaptain_index::ClusterIndex,
    findings: &[Finding],
    policies: &[Policy],
    action: ActionKind,
    now: Timestamp,
) -> Result<kaptain_heal::Proposal, ToolError> {
    let only = narrowed(policies, action);
    if only.is_empty() {
        return Err(ToolError::Refused {
            rule: "no-policy".into(),
            reason: format!(
                "no HealingPolicy or ClusterHealingPolicy lists {action}; an administrator must allow it first"
            ),
        });
    }
    let mut why = Vec::new();
    for f in findings {
        // A person's request does not wait for a policy's forDuration.
        let first_seen = BTreeMap::from([(f.fingerprint.clone(), Timestamp::MIN)]);
        let p = plan(&PlanInput {
            findings: std::slice::from_ref(f),
            policies: &only,
            index: idx,
            first_seen: &first_seen,
            now,
        });
        if let Some(proposal) = p.proposals.into_iter().next() {
            return Ok(proposal);
        }
        why.extend(
            p.skipped
                .into_iter()
                .map(|s| format!("{} on {}: {}", s.check, s.object.display(), s.reason)),
        );
    }
    Err(ToolError::Refused {
        rule: "no-policy".into(),
        reason: if why.is_empty() {
            format!("no policy that lists {action} answers these findings")
        } else {
            short(&format!("{action} does not apply: {}", why.join("; ")))
        },
    })
}

pub struct ProposeAction;

#[async_trait::async_trait]
impl TypedTool for ProposeAction {
    type Input = ProposeInput;
    type Output = ProposeOutput;
    const NAME: &'static str = "propose_action";
    const DESCRIPTION: &'static str = "Propose a healing action (restart, rollout-restart, scale, raise-resources, rollback, cordon, suggest-manifest) for a problem Kaptain found. It changes nothing by itself: it records a HealingAction that Kaptain's safety guard decides (protected objects, policy bounds, rate limits, blast radius, circuit breaker); unless a policy in auto mode allows it, it waits for a person to run `kaptain heal approve`. Needs the operator role.";
    const MARK: Mark = Mark::Proposes;

    async fn run(&self, ctx: &Ctx<'_>, input: ProposeInput) -> Result<ProposeOutput, ToolError> {
        if !ctx.caller.may_propose() {
            return Err(ToolError::Forbidden(format!(
                "{} may not propose changes (needs the operator role)",
                ctx.caller.actor
            )));
        }
        let cluster = ctx.cluster(input.cluster.as_deref())?;
        let kind = parse_kind(&input.kind)
            .ok_or_else(|| ToolError::InvalidInput(format!("unknown kind {:?}", input.kind)))?;
        let ns = if kind.namespaced() {
            Some(given(&input.namespace).ok_or_else(|| {
                ToolError::InvalidInput(format!("{} is namespaced: give `namespace`", kind.name()))
            })?)
        } else {
            None
        };
        ctx.ensure(&cluster, ns)?;
        let idx = ctx.index(&cluster)?;
        let visible = ctx.visible_findings(&cluster)?;
        let name = input.name.trim();
        let findings: Vec<Finding> = match given(&input.finding) {
            Some(fp) => vec![
                visible
                    .iter()
                    .find(|f| f.answers_to(fp))
                    .cloned()
                    .ok_or_else(|| ToolError::NotFound(format!("no current finding {fp}")))?,
            ],
            None => candidates(&idx, &visible, kind, ns.unwrap_or(""), name),
        };
        if findings.is_empty() {
            return Err(ToolError::NotFound(format!(
                "no current finding on {} {}{name} or its pods: there is nothing to heal",
                kind.name(),
                ns.map(|n| format!("{n}/")).unwrap_or_default()
            )));
        }
        let policies = ctx.host.policies(&cluster).await?;
        let now = ctx.host.now();
        let action = input.action.action();
        let mut proposal = build_proposal(&idx, &findings, &policies, action, now)?;
        let target_ns = proposal.change.target.namespace.clone();
        ctx.ensure(&cluster, target_ns.as_deref())?;
        ctx.ensure(&cluster, proposal.finding.object.namespace.as_deref())?;
        if let Some(why) = given(&input.reason) {
            proposal.reasoning = format!(
                "{}\nRequested by {}: {}",
                proposal.reasoning,
                ctx.caller.actor,
                short(why)
            );
        }
        let policy = policies
            .iter()
            .find(|p| p.reference.same_policy(&proposal.policy))
            .ok_or_else(|| ToolError::Internal("the proposing policy vanished".into()))?;

        // The guard first: a hard denial creates nothing.
        let actions = ctx.host.healing_actions(&cluster).unwrap_or_default();
        let history: Vec<ActionRecord> = actions
            .iter()
            .filter_map(|a| ActionRecord::from_action(a))
            .collect();
        let safety = ctx.host.safety(&cluster).await;
        let facts = observe(&idx, &proposal);
        let breakers = Breakers::default();
        let preview = evaluate(
            &GuardContext {
                now,
                config: &safety,
                policy: Some(&policy.spec),
                history: &history,
                breakers: &breakers,
                facts: &facts,
                approved_by: None,
            },
            &proposal,
        );
        if let Decision::Deny { rule, reason } = &preview
            && !rule.is_transient()
        {
            return Err(ToolError::Refused {
                rule: rule.as_str().to_string(),
                reason: reason.clone(),
            });
        }

        let ha_ns = target_ns
            .clone()
            .or_else(|| proposal.finding.object.namespace.clone())
            .filter(|ns| !safety.namespace_protected(Some(ns)))
            .unwrap_or_else(|| DEFAULT_OPERATOR_NAMESPACE.to_string());
        ctx.ensure(&cluster, Some(&ha_ns))?;
        let ha_name = object_name(&proposal);
        let finding = format!(
            "{} on {}",
            proposal.finding.id,
            proposal.finding.object.display()
        );
        let mut out = ProposeOutput {
            outcome: "created".into(),
            healing_action: ObjectView {
                kind: "HealingAction".into(),
                namespace: Some(ha_ns.clone()),
                name: ha_name.clone(),
            },
            action: proposal.action.as_str().to_string(),
            target: proposal.target.clone(),
            finding,
            policy: proposal.policy.display(),
            mode: policy.spec.mode.as_str().to_string(),
            guard_preview: preview.as_str().to_string(),
            guard_rule: preview.rule().map(|r| r.as_str().to_string()),
            guard_reason: preview.reason().to_string(),
            phase: "Proposed".into(),
            decision: None,
            message: None,
            approve_with: format!("kaptain heal approve {ha_name} -n {ha_ns} --context {cluster}"),
        };
        if let Some(existing) = actions
            .iter()
            .find(|a| a.spec.idempotency_key == proposal.idempotency_key)
        {
            out.outcome = "exists".into();
            out.healing_action.namespace = existing.metadata.namespace.clone();
            out.healing_action.name = existing.metadata.name.clone().unwrap_or_default();
            describe_status(&mut out, existing);
            return Ok(out);
        }
        let ha = HealingAction {
            metadata: ObjectMeta {
                name: Some(ha_name.clone()),
                namespace: Some(ha_ns.clone()),
                labels: Some(BTreeMap::from([
                    (KEY_LABEL.to_string(), proposal.idempotency_key.clone()),
                    (
                        "kaptain.dev/action".to_string(),
                        proposal.action.as_str().to_string(),
                    ),
                ])),
                annotations: Some(BTreeMap::from([(
                    PROPOSED_BY_ANNOTATION.to_string(),
                    ctx.caller.actor.clone(),
                )])),
                ..ObjectMeta::default()
            },
            spec: proposal,
            status: None,
        };
        let created = match ctx.host.submit(&cluster, &ha).await {
            Ok(a) => a,
            Err(ToolError::InvalidInput(m)) if m.contains("already exists") => {
                out.outcome = "exists".into();
                ha.clone()
            }
            Err(e) => return Err(e),
        };
        describe_status(&mut out, &created);
        let wait = input.wait_seconds.unwrap_or(5).min(MAX_WAIT_SECS);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
        while out.decision.is_none() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if let Some(a) = ctx.host.healing_actions(&cluster).and_then(|all| {
                all.into_iter().find(|a| {
                    a.metadata.namespace.as_deref() == Some(ha_ns.as_str())
                        && a.metadata.name.as_deref() == Some(ha_name.as_str())
                })
            }) {
                describe_status(&mut out, &a);
            }
        }
        if out.decision.is_none() {
            out.message = Some(
                "recorded; the operator's safety guard has not decided yet (is `kaptain operator` running?)"
                    .into(),
            );
        }
        Ok(out)
    }
}

fn describe_status(out: &mut ProposeOutput, a: &HealingAction) {
    if let Some(st) = &a.status {
        out.phase = st.phase.as_str().to_string();
        out.decision = st.decision.as_ref().map(|d| match &d.rule {
            Some(r) => format!("{} ({r}): {}", d.decision, short(&d.reason)),
            None => format!("{}: {}", d.decision, short(&d.reason)),
        });
        out.message = st.message.as_deref().map(short);
    }
}
