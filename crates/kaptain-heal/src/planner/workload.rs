//! Actions on workloads: rollout restart, scale, raise resources, roll back.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Container;
use kaptain_index::{ClusterIndex, Kind, ObjKey};
use kaptain_model::{Finding, fingerprint};
use serde_json::{Value, json};

use super::resolve::{
    has_hpa, pod, pods_of, replicas, replicasets_of, revision, template, workload_of,
};
use super::{Build, Built, ids};
use crate::crd::{
    Change, Operation, PatchType, ReplicaChange, ResourceChange, ResourceField, ResourceName,
};
use crate::guard::RESTARTED_AT;
use kaptain_index::quantity;

fn not_for(f: &Finding, what: &str) -> String {
    format!("{what} does not answer {}", f.id)
}

fn restartable(kind: Kind) -> bool {
    matches!(kind, Kind::Deployment | Kind::StatefulSet | Kind::DaemonSet)
}

/// The change of a rollout restart of `target` (whose pod template is `tpl`): a new
/// `restartedAt` annotation on the template, with the old one as `before`.
pub(crate) fn restart_change(
    tpl: &k8s_openapi::api::core::v1::PodTemplateSpec,
    target: kaptain_model::ObjectRef,
    now: Timestamp,
) -> Change {
    let old = tpl
        .metadata
        .as_ref()
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get(RESTARTED_AT))
        .cloned();
    let stamp = now.to_string();
    let mut change = Change::new(target, Operation::Patch);
    change.patch_type = Some(PatchType::Strategic);
    change.patch =
        Some(json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}));
    change.before = Some(json!({ "restartedAt": old }));
    change.after = Some(json!({ "restartedAt": stamp }));
    change
}

pub(super) fn rollout_restart(f: &Finding, idx: &ClusterIndex, now: Timestamp) -> Build {
    if !ids::POD_RESTARTABLE.contains(&f.id.as_str()) && !ids::UNAVAILABLE.contains(&f.id.as_str())
    {
        return Err(not_for(f, "a rollout restart"));
    }
    let w = workload_of(idx, &f.object).ok_or("the object is not in the index")?;
    if !restartable(w.kind) {
        return Err(format!("{} cannot be rollout-restarted", w.kind.name()));
    }
    let tpl = template(idx, &w).ok_or("the workload is not in the index")?;
    let target = w.to_ref();
    let change = restart_change(tpl, target.clone(), now);
    Ok(Built::new(
        change,
        format!(
            "{} ({}) is on {}, which a rollout restart replaces pod by pod with fresh ones, as \
             `kubectl rollout restart` does; it helps when the failure is transient (a stuck \
             dependency, a leaked resource).",
            f.id,
            f.title,
            target.display()
        ),
    ))
}

/// The workload a scale would act on: a PDB's single workload, or the finding's.
fn scale_target(f: &Finding, idx: &ClusterIndex) -> Result<ObjKey, String> {
    if f.object.kind != "PodDisruptionBudget" {
        return workload_of(idx, &f.object).ok_or_else(|| "the object is not in the index".into());
    }
    let ns = f.object.namespace.as_deref().unwrap_or("");
    let pdb = idx
        .objects
        .pdbs
        .get(ns, &f.object.name)
        .ok_or("the PDB is not in the index")?;
    let sel = pdb
        .spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .ok_or("the PDB selects nothing")?;
    let mut found: Vec<ObjKey> = idx
        .pods_matching_selector(ns, sel)
        .into_iter()
        .map(|p| idx.workload_of_pod(p))
        .collect();
    found.sort();
    found.dedup();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err("the PDB selects no pod".into()),
        _ => Err("the PDB selects pods of several workloads".into()),
    }
}

pub(super) fn scale(f: &Finding, idx: &ClusterIndex, min: i32, max: i32) -> Build {
    if !ids::SCALE.contains(&f.id.as_str()) {
        return Err(not_for(f, "scaling"));
    }
    if !(0 <= min && min <= max) {
        return Err(format!("the policy's bounds [{min}, {max}] are empty"));
    }
    let w = scale_target(f, idx)?;
    if !matches!(w.kind, Kind::Deployment | Kind::StatefulSet) {
        return Err(format!("{} is not scaled by Kaptain", w.kind.name()));
    }
    if has_hpa(idx, &w) {
        return Err("a HorizontalPodAutoscaler owns its replicas".into());
    }
    let cur = replicas(idx, &w).ok_or("the workload is not in the index")?;
    let mut want = cur.max(min);
    if f.id == "pdb.zero-disruptions" {
        want = want.max(cur.saturating_add(1));
    }
    let want = want.min(max);
    if want == cur {
        return Err(format!(
            "{cur} replicas is already what [{min}, {max}] allows"
        ));
    }
    let target = w.to_ref();
    let change = scale_change(target.clone(), cur, want);
    Ok(Built::new(
        change,
        format!(
            "{} ({}): scaling {} from {cur} to {want} replicas (policy bounds [{min}, {max}]) \
             leaves room for a disruption.",
            f.id,
            f.title,
            target.display()
        ),
    ))
}

/// The container of a pod finding: its key, or for a finding read from an older report
/// without one, the container whose name is the fingerprint's key.
fn finding_container(f: &Finding, idx: &ClusterIndex) -> Option<String> {
    if !f.key.is_empty() {
        return Some(f.key.clone());
    }
    let p = pod(idx, &f.object)?;
    let spec = p.spec.as_ref()?;
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .map(|c| c.name.clone())
        .find(|n| fingerprint(&f.id, &f.object, n) == f.fingerprint)
}

fn raise_one(
    ctr: &Container,
    res: ResourceName,
    field: ResourceField,
    factor: f64,
    cap: f64,
) -> Option<ResourceChange> {
    let r = ctr.resources.as_ref()?;
    let map = match field {
        ResourceField::Limits => r.limits.as_ref()?,
        ResourceField::Requests => r.requests.as_ref()?,
    };
    let before = map.get(res.as_str())?.0.clone();
    let b = quantity::parse(&before)?;
    let a = (b * factor).min(cap);
    let after = match res {
        ResourceName::Memory => quantity::format_memory(a),
        ResourceName::Cpu => quantity::format_cpu(a),
    };
    let a = quantity::parse(&after)?;
    (a > b).then(|| ResourceChange {
        container: ctr.name.clone(),
        resource: res,
        field,
        before,
        after,
    })
}

pub(super) fn raise_resources(
    f: &Finding,
    idx: &ClusterIndex,
    res: ResourceName,
    factor: f64,
    max: &str,
) -> Build {
    let ids = match res {
        ResourceName::Memory => ids::MEMORY,
        ResourceName::Cpu => ids::CPU,
    };
    if !ids.contains(&f.id.as_str()) {
        return Err(not_for(f, &format!("raising {}", res.as_str())));
    }
    if !(factor > 1.0 && factor <= crate::guard::MAX_FACTOR) {
        return Err(format!("factor {factor} is not in (1, 4]"));
    }
    let cap = quantity::parse(max).ok_or_else(|| format!("max {max:?} is not a quantity"))?;
    let name =
        finding_container(f, idx).ok_or("cannot tell which container the finding is about")?;
    let w = workload_of(idx, &f.object).ok_or("the object is not in the index")?;
    if matches!(w.kind, Kind::Pod | Kind::Job) {
        return Err(format!(
            "a {}'s pod template cannot be changed in place",
            w.kind.name()
        ));
    }
    let tpl = template(idx, &w).ok_or("the workload is not in the index")?;
    let spec = tpl.spec.as_ref().ok_or("the workload has no pod spec")?;
    let (ctr, init) = match spec.containers.iter().find(|c| c.name == name) {
        Some(c) => (c, false),
        None => (
            spec.init_containers
                .iter()
                .flatten()
                .find(|c| c.name == name)
                .ok_or("the container is not in the workload's template")?,
            true,
        ),
    };
    let limit = raise_one(ctr, res, ResourceField::Limits, factor, cap).ok_or_else(|| {
        format!(
            "container {name} has no {} limit below {max} to raise",
            res.as_str()
        )
    })?;
    let new_limit = quantity::parse(&limit.after).unwrap_or(cap);
    let request = raise_one(ctr, res, ResourceField::Requests, factor, new_limit);
    let changes: Vec<ResourceChange> = std::iter::once(limit).chain(request).collect();
    let side = |pick: fn(&ResourceChange) -> &String| {
        let mut r = serde_json::Map::new();
        for c in &changes {
            let key = if c.field == ResourceField::Limits {
                "limits"
            } else {
                "requests"
            };
            r.insert(key.to_string(), json!({ res.as_str(): pick(c) }));
        }
        let list = if init { "initContainers" } else { "containers" };
        let pod_spec = json!({ list: [{"name": name, "resources": Value::Object(r.clone())}] });
        let patch = if w.kind == Kind::CronJob {
            json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": pod_spec}}}}})
        } else {
            json!({"spec": {"template": {"spec": pod_spec}}})
        };
        (
            patch,
            json!({"container": name, "resources": Value::Object(r)}),
        )
    };
    let (patch, after) = side(|c| &c.after);
    let (reverse, before) = side(|c| &c.before);
    let target = w.to_ref();
    let summary: Vec<String> = changes
        .iter()
        .map(|c| {
            let what = if c.field == ResourceField::Limits {
                "limit"
            } else {
                "request"
            };
            format!("{what} {} → {}", c.before, c.after)
        })
        .collect();
    let mut change = Change::new(target.clone(), Operation::Patch);
    change.patch_type = Some(PatchType::Strategic);
    change.patch = Some(patch);
    change.reverse_patch = Some(reverse);
    change.before = Some(before);
    change.after = Some(after);
    change.resources = changes;
    Ok(Built::new(
        change,
        format!(
            "{} ({}): container {name} needs more {} than it may use. Raising it on {} by ×{factor} \
             (at most {max}): {}. The pods roll out with the new value.",
            f.id,
            f.title,
            res.as_str(),
            target.display(),
            summary.join(", ")
        ),
    ))
}

fn images(tpl: Option<&k8s_openapi::api::core::v1::PodTemplateSpec>) -> Value {
    let v: Vec<Value> = tpl
        .and_then(|t| t.spec.as_ref())
        .map(|s| {
            s.containers
                .iter()
                .map(|c| json!({"name": c.name, "image": c.image}))
                .collect()
        })
        .unwrap_or_default();
    Value::Array(v)
}

pub(super) fn rollback(f: &Finding, idx: &ClusterIndex) -> Build {
    let (ns, name, rs_of_pod) = if f.id == "deployment.progress-deadline-exceeded" {
        let ns = f.object.namespace.clone().unwrap_or_default();
        (ns, f.object.name.clone(), None)
    } else if ids::BAD_ROLLOUT_POD.contains(&f.id.as_str()) {
        let pods = pods_of(idx, f);
        let p = *pods.first().ok_or("the pod is not in the index")?;
        let w = idx.workload_of_pod(p);
        if w.kind != Kind::Deployment {
            return Err("the pod does not belong to a Deployment".into());
        }
        let rs_of = |p: &k8s_openapi::api::core::v1::Pod| {
            p.metadata
                .owner_references
                .iter()
                .flatten()
                .find(|r| r.controller == Some(true))
                .map(|r| r.name.clone())
        };
        // Of a group's pods, those of the newest revision say the rollout is bad.
        let newest = replicasets_of(idx, &w.namespace, &w.name)
            .first()
            .and_then(|rs| rs.metadata.name.clone());
        let rs = pods
            .iter()
            .filter_map(|p| rs_of(p))
            .find(|rs| Some(rs) == newest.as_ref())
            .or_else(|| rs_of(p));
        (w.namespace, w.name, rs)
    } else {
        return Err(not_for(f, "a rollback"));
    };
    let (change, newest, previous) = rollback_change(idx, &ns, &name, rs_of_pod.as_deref())?;
    let target = change.target.clone();
    Ok(Built::new(
        change,
        format!(
            "{} ({}): the pods of the newest revision {} of {} fail; revision {} ran before it. \
             Rolling back to revision {}'s pod template, as `kubectl rollout undo` does.",
            f.id,
            f.title,
            newest,
            target.display(),
            previous,
            previous
        ),
    ))
}

/// The change that rolls Deployment `ns/name` back to the pod template of its previous
/// revision (as `kubectl rollout undo`), with the revisions it goes from and to. With
/// `rs_of_pod`, only when that ReplicaSet is the newest revision.
/// A merge patch of `spec.replicas` from `cur` to `want`, with its reverse.
pub(crate) fn scale_change(target: kaptain_model::ObjectRef, cur: i32, want: i32) -> Change {
    let mut change = Change::new(target, Operation::Patch);
    change.patch_type = Some(PatchType::Merge);
    change.patch = Some(json!({"spec": {"replicas": want}}));
    change.reverse_patch = Some(json!({"spec": {"replicas": cur}}));
    change.before = Some(json!({ "replicas": cur }));
    change.after = Some(json!({ "replicas": want }));
    change.replicas = Some(ReplicaChange {
        before: cur,
        after: want,
    });
    change
}

pub(crate) fn rollback_change(
    idx: &ClusterIndex,
    ns: &str,
    name: &str,
    rs_of_pod: Option<&str>,
) -> Result<(Change, i64, i64), String> {
    let dep = idx
        .objects
        .deployments
        .get(ns, name)
        .ok_or("the Deployment is not in the index")?;
    let rss = replicasets_of(idx, ns, name);
    let [newest, previous, ..] = rss.as_slice() else {
        return Err("the Deployment has no previous revision".into());
    };
    if let Some(rs) = rs_of_pod
        && newest.metadata.name.as_deref() != Some(rs)
    {
        return Err(format!(
            "the pod's ReplicaSet {rs} is not the newest revision"
        ));
    }
    let current = dep
        .spec
        .as_ref()
        .map(|s| &s.template)
        .ok_or("the Deployment has no template")?;
    let mut prev = previous
        .spec
        .as_ref()
        .and_then(|s| s.template.clone())
        .ok_or("the previous ReplicaSet has no template")?;
    if let Some(l) = prev.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        l.remove("pod-template-hash");
    }
    let to_json = |t: &k8s_openapi::api::core::v1::PodTemplateSpec| {
        serde_json::to_value(t).map_err(|e| format!("cannot serialize a pod template: {e}"))
    };
    let side = |rs: &k8s_openapi::api::apps::v1::ReplicaSet| {
        json!({
            "revision": revision(rs),
            "replicaSet": rs.metadata.name,
            "images": images(rs.spec.as_ref().and_then(|s| s.template.as_ref())),
        })
    };
    let target = kaptain_index::ObjKey::new(Kind::Deployment, ns, name).to_ref();
    let mut change = Change::new(target.clone(), Operation::Patch);
    change.patch_type = Some(PatchType::Json);
    change.patch =
        Some(json!([{"op": "replace", "path": "/spec/template", "value": to_json(&prev)?}]));
    change.reverse_patch =
        Some(json!([{"op": "replace", "path": "/spec/template", "value": to_json(current)?}]));
    change.before = Some(side(newest));
    change.after = Some(side(previous));
    Ok((change, revision(newest), revision(previous)))
}
