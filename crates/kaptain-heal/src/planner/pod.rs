//! Actions on single pods and nodes: restart a pod, force-delete a stuck one, cordon a node.

use jiff::Timestamp;
use kaptain_index::{ClusterIndex, Kind};
use kaptain_model::Finding;
use serde_json::json;

use super::resolve::{owner_of, pod, pods_of};
use super::{Build, Built, ids};
use crate::crd::{Change, Operation, PatchType};

pub(super) fn restart_pod(f: &Finding, idx: &ClusterIndex) -> Build {
    if !ids::POD_RESTARTABLE.contains(&f.id.as_str()) {
        return Err(format!("a pod restart does not answer {}", f.id));
    }
    // A finding grouped under its workload restarts one of its pods at a time.
    let p = *pods_of(idx, f)
        .first()
        .ok_or("the pod is not in the index")?;
    if p.metadata.deletion_timestamp.is_some() {
        return Err("the pod is already being deleted".into());
    }
    let pod_ref = kaptain_index::ObjKey::new(
        Kind::Pod,
        p.metadata.namespace.as_deref().unwrap_or(""),
        p.metadata.name.as_deref().unwrap_or(""),
    )
    .to_ref();
    if let Some(node) = p.spec.as_ref().and_then(|s| s.node_name.as_deref())
        && node_not_ready(idx, node)
    {
        return Err(format!(
            "its node {node} is NotReady: the deletion would not complete"
        ));
    }
    let owner = owner_of(&p.metadata).ok_or("a pod without controller would not come back")?;
    if !matches!(
        Kind::parse(&owner.kind),
        Some(Kind::ReplicaSet | Kind::StatefulSet | Kind::DaemonSet)
    ) {
        return Err(format!("{} does not re-create the pod", owner.kind));
    }
    let mut change = Change::new(pod_ref.clone(), Operation::Delete);
    change.precondition_uid = p.metadata.uid.clone();
    change.before = Some(json!({
        "uid": p.metadata.uid,
        "phase": p.status.as_ref().and_then(|s| s.phase.clone()),
        "owner": owner.display(),
    }));
    Ok(Built::new(
        change,
        format!(
            "{} ({}): deleting {} lets {} re-create it from scratch (new sandbox, new \
             volumes mounted, maybe another node), which clears transient failures.",
            f.id,
            f.title,
            pod_ref.display(),
            owner.display()
        ),
    ))
}

/// Whether the index knows the node and its Ready condition is not True.
fn node_not_ready(idx: &ClusterIndex, name: &str) -> bool {
    idx.objects.nodes.get("", name).is_some_and(|n| {
        n.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
            .is_some_and(|c| c.status != "True")
    })
}

pub(super) fn force_delete(
    f: &Finding,
    idx: &ClusterIndex,
    now: Timestamp,
    grace_seconds: i64,
) -> Build {
    if f.id != "pod.stuck-terminating" {
        return Err(format!("a force delete does not answer {}", f.id));
    }
    let p = pod(idx, &f.object).ok_or("the pod is not in the index")?;
    let since = p
        .metadata
        .deletion_timestamp
        .as_ref()
        .map(|t| t.0)
        .ok_or("the pod is not being deleted")?;
    let stuck = now.as_second().saturating_sub(since.as_second());
    if stuck < grace_seconds {
        return Err(format!(
            "terminating for {stuck}s, the policy waits {grace_seconds}s"
        ));
    }
    let owner = owner_of(&p.metadata);
    let mut change = Change::new(f.object.clone(), Operation::Delete);
    change.grace_period_seconds = Some(0);
    change.precondition_uid = p.metadata.uid.clone();
    change.before = Some(json!({
        "uid": p.metadata.uid,
        "deletionTimestamp": since.to_string(),
        "finalizers": p.metadata.finalizers,
        "node": p.spec.as_ref().and_then(|s| s.node_name.clone()),
    }));
    let mut built = Built::new(
        change,
        format!(
            "{} ({}): {} has been terminating for {stuck}s, past the policy's {grace_seconds}s. \
             A force delete removes the API object; its controller then re-creates it.",
            f.id,
            f.title,
            f.object.display()
        ),
    );
    if owner.as_ref().is_some_and(|o| o.kind == "StatefulSet") {
        built.requires_approval = Some(
            "force-deleting a StatefulSet pod whose node may still run it can start a second \
             pod with the same identity; a person must confirm the node is gone"
                .to_string(),
        );
    }
    Ok(built)
}

pub(super) fn cordon(f: &Finding, idx: &ClusterIndex) -> Build {
    if f.id != "node.not-ready" {
        return Err(format!("a cordon does not answer {}", f.id));
    }
    let node = idx
        .objects
        .nodes
        .get("", &f.object.name)
        .ok_or("the node is not in the index")?;
    if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
        return Err("the node is already cordoned".into());
    }
    let mut change = Change::new(f.object.clone(), Operation::Patch);
    change.patch_type = Some(PatchType::Merge);
    change.patch = Some(json!({"spec": {"unschedulable": true}}));
    change.reverse_patch = Some(json!({"spec": {"unschedulable": false}}));
    change.before = Some(json!({"unschedulable": false}));
    change.after = Some(json!({"unschedulable": true}));
    Ok(Built::new(
        change,
        format!(
            "{} ({}): cordoning node {} stops new pods from being scheduled onto it while it is \
             NotReady; pods already there are not touched.",
            f.id, f.title, f.object.name
        ),
    ))
}
