//! The planner: findings + policies → proposals. Pure; workload facts (current limits,
//! replicas, revisions) come from a [`ClusterIndex`].
//!
//! For each finding, policies are tried in precedence order (namespaced HealingPolicies
//! before ClusterHealingPolicies, then by namespace and name). The first policy that matches
//! the finding and lists an action that applies to it decides: its first applicable action
//! (in the policy's order of preference) becomes the proposal. If that policy's `forDuration`
//! has not passed yet, the finding waits (a later policy does not jump in). Proposals that
//! would make the same change (three crash-looping pods of one Deployment → one rollout
//! restart) are merged into the one with the highest priority.

mod facts;
mod matching;
mod pod;
pub(crate) mod resolve;
mod suggest;
pub(crate) mod workload;

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod policy_tests;
#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use jiff::Timestamp;
use kaptain_index::ClusterIndex;
use kaptain_model::{Finding, ObjectRef, Severity, fingerprint};

pub use facts::observe;
pub use matching::{Match, matches};

use crate::Proposal;
use crate::crd::{ActionKind, ActionTemplate, Change, FindingRef, Policy, PolicyKind, PolicyRef};

/// Check ids each action answers.
pub(crate) mod ids {
    /// Pod failures a fresh pod may clear.
    pub const POD_RESTARTABLE: &[&str] = &[
        "pod.crash-loop",
        "pod.not-ready",
        "pod.readiness-probe-failing",
        "pod.liveness-probe-failing",
        "pod.container-creating",
        "pod.init-container-failed",
    ];
    /// Workloads whose pods are not available.
    pub const UNAVAILABLE: &[&str] = &[
        "deployment.unavailable",
        "statefulset.unavailable",
        "daemonset.unavailable",
    ];
    /// Findings more replicas answer.
    pub const SCALE: &[&str] = &[
        "pdb.zero-disruptions",
        "deployment.unavailable",
        "statefulset.unavailable",
    ];
    /// Pod failures that, on the newest revision of a Deployment, point at a bad rollout.
    pub const BAD_ROLLOUT_POD: &[&str] = &[
        "pod.image-pull",
        "pod.crash-loop",
        "pod.create-container-config-error",
        "pod.readiness-probe-failing",
    ];
    pub const MEMORY: &[&str] = &["pod.oom-killed"];
    /// No analyzer reports CPU throttling yet; this is the id one will use.
    pub const CPU: &[&str] = &["pod.cpu-throttling"];
}

/// What the planner reads.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    pub findings: &'a [Finding],
    pub policies: &'a [Policy],
    pub index: &'a ClusterIndex,
    /// When Kaptain first saw each finding, by fingerprint (for `forDuration`).
    pub first_seen: &'a BTreeMap<String, Timestamp>,
    pub now: Timestamp,
}

/// The proposals, highest priority first, and why matched findings got none.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub proposals: Vec<Proposal>,
    pub skipped: Vec<Skip>,
}

/// A finding some policy matched that got no proposal from it, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Skip {
    pub fingerprint: String,
    pub check: String,
    pub object: ObjectRef,
    pub policy: PolicyRef,
    pub reason: String,
}

/// A change an action template makes for a finding, or why the template does not apply.
pub(crate) type Build = Result<Built, String>;

#[derive(Debug, Clone)]
pub(crate) struct Built {
    pub change: Change,
    pub reasoning: String,
    pub requires_approval: Option<String>,
}

impl Built {
    fn new(change: Change, reasoning: String) -> Self {
        Built {
            change,
            reasoning,
            requires_approval: None,
        }
    }
}

/// What `template` would do about `finding`, or why it does not apply.
fn build(t: &ActionTemplate, f: &Finding, idx: &ClusterIndex, now: Timestamp) -> Build {
    match t {
        ActionTemplate::RestartPod {} => pod::restart_pod(f, idx),
        ActionTemplate::RolloutRestart {} => workload::rollout_restart(f, idx, now),
        ActionTemplate::Scale { min, max } => workload::scale(f, idx, *min, *max),
        ActionTemplate::RaiseResources {
            resource,
            factor,
            max,
        } => workload::raise_resources(f, idx, *resource, *factor, max),
        ActionTemplate::RollbackDeployment {} => workload::rollback(f, idx),
        ActionTemplate::CordonNode {} => pod::cordon(f, idx),
        ActionTemplate::ForceDeleteStuckPod { grace_seconds } => {
            pod::force_delete(f, idx, now, *grace_seconds)
        }
        ActionTemplate::SuggestManifest {} => suggest::suggest_manifest(f, idx),
        ActionTemplate::SetImage {} => {
            Err("a new image is only set when a person asks for one".into())
        }
    }
}

/// Priority from severity (higher first); root causes go before their symptoms.
pub fn priority(f: &Finding) -> i32 {
    let base = match f.severity {
        Severity::Critical => 90,
        Severity::High => 70,
        Severity::Medium => 50,
        Severity::Low => 30,
        Severity::Info => 10,
    };
    base + if f.root_cause { 5 } else { 0 }
}

/// A deterministic key for one action: the finding, the action kind, the target, the
/// policy and its generation, and the state before the change. Re-planning an unchanged
/// situation yields the same key (so the operator finds the action it already made, even
/// after a crash); once the change is made the state differs, so a later episode of the same
/// finding gets a new key (and meets the cool-down instead).
pub fn idempotency_key(
    finding_fingerprint: &str,
    action: ActionKind,
    change: &Change,
    policy: &PolicyRef,
) -> String {
    let before = change
        .before
        .as_ref()
        .map(|b| b.to_string())
        .unwrap_or_default();
    let detail = format!(
        "{finding_fingerprint}\u{1}{}\u{1}{}\u{1}{before}",
        policy.display(),
        policy.generation
    );
    fingerprint(action.as_str(), &change.target, &detail)
}

/// A name for the HealingAction object of a proposal: `<action>-<target>-<key>`, a valid
/// DNS label (≤ 63 characters), stable for one idempotency key.
pub fn object_name(p: &Proposal) -> String {
    let action = match p.action {
        ActionKind::RestartPod => "restart",
        ActionKind::RolloutRestart => "rollout-restart",
        ActionKind::Scale => "scale",
        ActionKind::RaiseResources => "raise",
        ActionKind::RollbackDeployment => "rollback",
        ActionKind::CordonNode => "cordon",
        ActionKind::ForceDeleteStuckPod => "force-delete",
        ActionKind::SuggestManifest => "suggest",
        ActionKind::SetImage => "set-image",
    };
    let mut target: String = p
        .change
        .target
        .name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(30)
        .collect();
    target = target.trim_matches('-').to_string();
    let key: String = p.idempotency_key.chars().take(12).collect();
    if target.is_empty() {
        format!("{action}-{key}")
    } else {
        format!("{action}-{target}-{key}")
    }
}

fn precedence(p: &Policy) -> (u8, &Option<String>, &str) {
    let scope = match p.reference.kind {
        PolicyKind::HealingPolicy => 0,
        PolicyKind::ClusterHealingPolicy => 1,
        PolicyKind::Request => 2,
    };
    (scope, &p.reference.namespace, p.reference.name.as_str())
}

/// Turns findings into proposals under the given policies.
pub fn plan(input: &PlanInput) -> Plan {
    let mut policies: Vec<&Policy> = input.policies.iter().collect();
    policies.sort_by(|a, b| precedence(a).cmp(&precedence(b)));
    let mut out = Plan::default();
    for f in input.findings {
        plan_finding(input, &policies, f, &mut out);
    }
    out.proposals.sort_by(|a, b| {
        b.priority
            .cmp(&a.priority)
            .then_with(|| a.change.target.cmp(&b.change.target))
            .then_with(|| a.idempotency_key.cmp(&b.idempotency_key))
    });
    // One change, one proposal: keep the first (highest priority) of identical changes.
    let mut kept: Vec<Proposal> = Vec::new();
    for p in std::mem::take(&mut out.proposals) {
        if let Some(k) = kept.iter().find(|k| same_change(k, &p)) {
            out.skipped.push(Skip {
                fingerprint: p.finding.fingerprint.clone(),
                check: p.finding.id.clone(),
                object: p.finding.object.clone(),
                policy: p.policy.clone(),
                reason: format!(
                    "the same {} on {} is proposed for finding {}",
                    p.action, k.target, k.finding.fingerprint
                ),
            });
        } else {
            kept.push(p);
        }
    }
    out.proposals = kept;
    out
}

fn same_change(a: &Proposal, b: &Proposal) -> bool {
    let (x, y) = (&a.change, &b.change);
    a.action == b.action
        && x.target.same_object(&y.target)
        && x.operation == y.operation
        && x.patch == y.patch
        && x.manifest == y.manifest
}

fn plan_finding(input: &PlanInput, policies: &[&Policy], f: &Finding, out: &mut Plan) {
    let skip = |policy: &Policy, reason: String| Skip {
        fingerprint: f.fingerprint.clone(),
        check: f.id.clone(),
        object: f.object.clone(),
        policy: policy.reference.clone(),
        reason,
    };
    for policy in policies {
        let m = matches(policy, f, input.index, input.first_seen, input.now);
        if m == Match::No {
            continue;
        }
        let mut why_not = Vec::new();
        let built =
            policy
                .spec
                .actions
                .iter()
                .find_map(|t| match build(t, f, input.index, input.now) {
                    Ok(b) => Some((t.kind(), b)),
                    Err(e) => {
                        why_not.push(format!("{}: {e}", t.kind()));
                        None
                    }
                });
        let Some((action, built)) = built else {
            let reason = if why_not.is_empty() {
                "the policy lists no action".to_string()
            } else {
                format!("no action applies ({})", why_not.join("; "))
            };
            out.skipped.push(skip(policy, reason));
            continue;
        };
        if let Match::NotYet(reason) = m {
            out.skipped.push(skip(policy, reason));
            return;
        }
        let key = idempotency_key(&f.fingerprint, action, &built.change, &policy.reference);
        out.proposals.push(Proposal {
            finding: FindingRef::from(f),
            policy: policy.reference.clone(),
            action,
            target: built.change.target.display(),
            change: built.change,
            reasoning: built.reasoning,
            confidence: f.confidence,
            priority: priority(f),
            idempotency_key: key,
            requires_approval: built.requires_approval,
            verify_within: policy.spec.verification.window,
        });
        return;
    }
}
