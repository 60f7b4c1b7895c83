//! Verification, pure: did an action's change clear the finding that triggered it?
//!
//! "Cleared" means more than "this fingerprint is gone": a pod finding's fingerprint names
//! the pod, and a template change replaces the pod, so the old fingerprint vanishes whether
//! or not the fix helped. An action is verified when
//! - no finding has its fingerprint,
//! - no finding of the same check is about the target or a pod of the workload it heals,
//! - that workload's rollout is complete (every replica updated and available, no pod
//!   terminating),
//!
//! and this has held for a settle time (the controller keeps that clock). A cordon is
//! verified once the node is unschedulable: cordoning isolates a node, it does not make it
//! Ready.

use kaptain_heal::crd::{ActionKind, HealingActionSpec};
use kaptain_index::{ClusterIndex, Kind, ObjKey};
use kaptain_model::{Finding, ObjectRef};

/// Whether the finding is cleared now, or why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Cleared,
    NotYet(String),
}

/// The workload whose pods an action heals: the target itself for workload changes, the
/// pod's owner (recorded before the change) for pod actions.
pub fn workload_scope(
    spec: &HealingActionSpec,
    recorded_owner: Option<&ObjectRef>,
) -> Option<ObjKey> {
    let t = &spec.change.target;
    let key = |o: &ObjectRef| {
        let kind = Kind::parse(&o.kind)?;
        Some(ObjKey::new(
            kind,
            o.namespace.as_deref().unwrap_or(""),
            &o.name,
        ))
    };
    match spec.action {
        ActionKind::RestartPod | ActionKind::ForceDeleteStuckPod => {
            recorded_owner.and_then(key).filter(|k| k.kind != Kind::Pod)
        }
        ActionKind::RolloutRestart
        | ActionKind::Scale
        | ActionKind::RaiseResources
        | ActionKind::RollbackDeployment
        | ActionKind::SetImage => key(t),
        ActionKind::CordonNode | ActionKind::SuggestManifest => None,
    }
}

/// Whether `spec`'s finding is cleared in `idx` / `findings`.
pub fn check(
    idx: &ClusterIndex,
    findings: &[Finding],
    spec: &HealingActionSpec,
    workload: Option<&ObjKey>,
) -> Check {
    let f = &spec.finding;
    if spec.action == ActionKind::CordonNode {
        let cordoned = idx
            .objects
            .nodes
            .get("", &spec.change.target.name)
            .and_then(|n| n.spec.as_ref())
            .and_then(|s| s.unschedulable)
            == Some(true);
        return if cordoned {
            Check::Cleared
        } else {
            Check::NotYet("the node is not cordoned".into())
        };
    }
    if findings.iter().any(|x| x.answers_to(&f.fingerprint)) {
        return Check::NotYet(format!("{} still holds on {}", f.id, f.object.display()));
    }
    let in_scope = |o: &ObjectRef| {
        if o.same_object(&spec.change.target) || o.same_object(&f.object) {
            return true;
        }
        let Some(w) = workload else { return false };
        if o.kind != "Pod" {
            // A finding grouped under the healed workload is about its pods.
            return o.kind == w.kind.name()
                && o.namespace.as_deref().unwrap_or("") == w.namespace
                && o.name == w.name;
        }
        idx.objects
            .pods
            .get(o.namespace.as_deref().unwrap_or(""), &o.name)
            .is_some_and(|p| idx.workload_of_pod(p) == *w)
    };
    if let Some(x) = findings
        .iter()
        .find(|x| x.id == f.id && in_scope(&x.object))
    {
        return Check::NotYet(format!("{} now holds on {}", x.id, x.object.display()));
    }
    if let Some(w) = workload
        && let Err(why) = rollout_complete(idx, w)
    {
        return Check::NotYet(why);
    }
    Check::Cleared
}

/// Whether a workload runs its desired replicas, all updated and available, none terminating.
pub fn rollout_complete(idx: &ClusterIndex, w: &ObjKey) -> Result<(), String> {
    let (ns, n) = (w.namespace.as_str(), w.name.as_str());
    let name = format!("{}/{ns}/{n}", w.kind.name());
    let s = &idx.objects;
    match w.kind {
        Kind::Deployment => {
            let d = s.deployments.get(ns, n).ok_or(format!("{name} is gone"))?;
            let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            let st = d.status.clone().unwrap_or_default();
            let gen_ok = st.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0);
            let done = gen_ok
                && st.updated_replicas.unwrap_or(0) == want
                && st.available_replicas.unwrap_or(0) >= want
                && st.replicas.unwrap_or(0) == want;
            if !done {
                return Err(format!(
                    "{name} is rolling out ({} of {want} updated, {} available, {} total)",
                    st.updated_replicas.unwrap_or(0),
                    st.available_replicas.unwrap_or(0),
                    st.replicas.unwrap_or(0)
                ));
            }
        }
        Kind::StatefulSet => {
            let d = s.statefulsets.get(ns, n).ok_or(format!("{name} is gone"))?;
            let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            let st = d.status.clone().unwrap_or_default();
            let done = st.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
                && st.ready_replicas.unwrap_or(0) >= want
                && st.update_revision.is_some()
                && st.current_revision == st.update_revision;
            if !done {
                return Err(format!(
                    "{name} is rolling out ({} of {want} ready)",
                    st.ready_replicas.unwrap_or(0)
                ));
            }
        }
        Kind::DaemonSet => {
            let d = s.daemonsets.get(ns, n).ok_or(format!("{name} is gone"))?;
            let st = d.status.clone().unwrap_or_default();
            let want = st.desired_number_scheduled;
            let done = st.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
                && st.updated_number_scheduled.unwrap_or(0) == want
                && st.number_available.unwrap_or(0) >= want;
            if !done {
                return Err(format!(
                    "{name} is rolling out ({} of {want} available)",
                    st.number_available.unwrap_or(0)
                ));
            }
        }
        _ => {}
    }
    if let Some(p) = idx
        .pods_of(w.kind, ns, n)
        .into_iter()
        .find(|p| p.metadata.deletion_timestamp.is_some())
    {
        return Err(format!(
            "pod {} of {name} is still terminating",
            p.metadata.name.as_deref().unwrap_or("")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
