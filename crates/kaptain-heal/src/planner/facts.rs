//! What the operator observes about a proposal's target, for the guard. Computed from the
//! index, never taken from the proposer.

use kaptain_index::{ClusterIndex, Kind, ObjKey};

use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::Value;

use super::resolve::{
    labels_of, meta_of, namespace_labels, owner_of, pod, pod_count, replicas, replicasets_of,
    revision,
};
use crate::Proposal;
use crate::crd::ActionKind;
use crate::guard::TargetFacts;

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn replicas_u32(idx: &ClusterIndex, w: &ObjKey) -> Option<u32> {
    replicas(idx, w).map(|r| u32::try_from(r.max(0)).unwrap_or(0))
}

/// The facts the guard needs about `p`'s target: labels (the target's, its namespace's, its
/// owners' and the finding object's), its controller, how many pods the change touches out of
/// how many replicas, and whether it is being deleted.
pub fn observe(idx: &ClusterIndex, p: &Proposal) -> TargetFacts {
    let target = &p.change.target;
    let meta = meta_of(idx, target);
    let mut facts = TargetFacts {
        target_labels: labels_of(idx, target),
        namespace_labels: namespace_labels(idx, target.namespace.as_deref()),
        owner: meta.and_then(owner_of),
        deletion_timestamp: meta
            .and_then(|m| m.deletion_timestamp.as_ref())
            .map(|t| t.0),
        ..TargetFacts::default()
    };
    // Owners up the chain (Pod → ReplicaSet → Deployment), then the finding's object.
    let mut owner = facts.owner.clone();
    let mut depth = 0;
    while let Some(o) = owner.take()
        && depth < 4
    {
        facts.related_labels.push(labels_of(idx, &o));
        owner = meta_of(idx, &o).and_then(owner_of);
        depth += 1;
    }
    if !p.finding.object.same_object(target) {
        facts.related_labels.push(labels_of(idx, &p.finding.object));
        if p.finding.object.namespace != target.namespace {
            facts
                .related_labels
                .push(namespace_labels(idx, p.finding.object.namespace.as_deref()));
        }
    }
    let workload = match pod(idx, target) {
        Some(pd) => Some(idx.workload_of_pod(pd)),
        None => Kind::parse(&target.kind)
            .map(|k| ObjKey::new(k, target.namespace.as_deref().unwrap_or(""), &target.name)),
    };
    facts.workload = workload.as_ref().map(ObjKey::to_ref);
    match p.action {
        ActionKind::RestartPod | ActionKind::ForceDeleteStuckPod => {
            facts.pods_affected = 1;
            facts.workload_replicas = workload
                .as_ref()
                .filter(|w| w.kind != Kind::Pod)
                .and_then(|w| replicas_u32(idx, w));
        }
        ActionKind::RolloutRestart
        | ActionKind::RaiseResources
        | ActionKind::RollbackDeployment
        | ActionKind::SetImage => {
            if let Some(w) = &workload {
                let r = replicas_u32(idx, w);
                // A template change re-creates every replica. Pods beyond them — a rollout's
                // surge, pods already terminating — are being replaced anyway; counting them
                // would put every change made during a rollout (a rollback of a bad one, say)
                // above 100% of the replicas.
                facts.pods_affected = r.unwrap_or_else(|| count(pod_count(idx, w)));
                facts.workload_replicas = r;
            }
        }
        ActionKind::Scale => {
            let cur = workload.as_ref().and_then(|w| replicas_u32(idx, w));
            let after = p.change.replicas.map(|r| r.after.max(0).unsigned_abs());
            // Trust the index for the current count; the proposal only for the target count.
            facts.pods_affected = match (cur, after) {
                (Some(c), Some(a)) => c.abs_diff(a),
                (None, Some(a)) => a,
                _ => 0,
            };
            facts.workload_replicas = cur;
        }
        ActionKind::CordonNode | ActionKind::SuggestManifest => {}
    }
    if p.action == ActionKind::RollbackDeployment {
        facts.rollback_revision = earlier_revision(idx, p);
    }
    facts
}

/// The revision of an earlier ReplicaSet of the rollback's Deployment (not the newest one)
/// whose pod template, without its `pod-template-hash` label, is the template the rollback
/// writes.
fn earlier_revision(idx: &ClusterIndex, p: &Proposal) -> Option<i64> {
    let target = &p.change.target;
    if target.kind != "Deployment" {
        return None;
    }
    let wanted = p
        .change
        .patch
        .as_ref()?
        .as_array()?
        .first()?
        .get("value")?
        .clone();
    let wanted = normal(serde_json::from_value::<PodTemplateSpec>(wanted).ok()?)?;
    let rss = replicasets_of(idx, target.namespace.as_deref()?, &target.name);
    let (_newest, earlier) = rss.split_first()?;
    earlier.iter().find_map(|rs| {
        let tpl = rs.spec.as_ref()?.template.clone()?;
        (normal(tpl)? == wanted).then(|| revision(rs))
    })
}

/// A pod template as JSON, without the label the Deployment controller adds to its ReplicaSets.
fn normal(mut t: PodTemplateSpec) -> Option<Value> {
    if let Some(l) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        l.remove("pod-template-hash");
        if l.is_empty() {
            t.metadata.as_mut()?.labels = None;
        }
    }
    serde_json::to_value(t).ok()
}
