//! What the planner asks the ClusterIndex: labels of any object, pods and their workloads,
//! pod templates, replicas, ReplicaSet revisions.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kaptain_index::{ClusterIndex, Kind, ObjKey};
use kaptain_model::{Finding, ObjectRef};

/// The metadata of an object the index holds, by reference.
pub(crate) fn meta_of<'a>(idx: &'a ClusterIndex, o: &ObjectRef) -> Option<&'a ObjectMeta> {
    let kind = Kind::parse(&o.kind)?;
    let ns = if kind.namespaced() {
        o.namespace.as_deref().unwrap_or("")
    } else {
        ""
    };
    let s = &idx.objects;
    let n = o.name.as_str();
    macro_rules! get {
        ($($k:ident => $f:ident),* $(,)?) => {
            match kind {
                $(Kind::$k => s.$f.get(ns, n).map(|x| &x.metadata),)*
                _ => None,
            }
        };
    }
    get!(
        Pod => pods, Node => nodes, Namespace => namespaces, Service => services,
        ConfigMap => configmaps, Secret => secrets, ServiceAccount => serviceaccounts,
        PersistentVolumeClaim => pvcs, PersistentVolume => pvs, Deployment => deployments,
        ReplicaSet => replicasets, StatefulSet => statefulsets, DaemonSet => daemonsets,
        Job => jobs, CronJob => cronjobs, Ingress => ingresses,
        HorizontalPodAutoscaler => hpas, PodDisruptionBudget => pdbs,
        NetworkPolicy => networkpolicies,
    )
}

/// An object's labels (empty if the index does not hold it).
pub(crate) fn labels_of(idx: &ClusterIndex, o: &ObjectRef) -> BTreeMap<String, String> {
    meta_of(idx, o)
        .and_then(|m| m.labels.clone())
        .unwrap_or_default()
}

/// A namespace's labels (empty if unknown).
pub(crate) fn namespace_labels(idx: &ClusterIndex, ns: Option<&str>) -> BTreeMap<String, String> {
    ns.and_then(|ns| idx.objects.namespaces.get("", ns))
        .and_then(|n| n.metadata.labels.clone())
        .unwrap_or_default()
}

pub(crate) fn pod<'a>(idx: &'a ClusterIndex, o: &ObjectRef) -> Option<&'a Pod> {
    if o.kind != "Pod" {
        return None;
    }
    idx.objects
        .pods
        .get(o.namespace.as_deref().unwrap_or(""), &o.name)
}

/// The pods a finding holds on: its pod, or the pods of a finding grouped under its
/// workload (those still in the index, not being deleted first).
pub(crate) fn pods_of<'a>(idx: &'a ClusterIndex, f: &Finding) -> Vec<&'a Pod> {
    let mut v: Vec<&Pod> = std::iter::once(&f.object)
        .chain(f.instances.iter().map(|i| &i.object))
        .filter_map(|o| pod(idx, o))
        .collect();
    v.sort_by_key(|p| p.metadata.deletion_timestamp.is_some());
    v
}

/// The workload an object belongs to: a pod's top owner, or the object itself.
pub(crate) fn workload_of(idx: &ClusterIndex, o: &ObjectRef) -> Option<ObjKey> {
    if let Some(p) = pod(idx, o) {
        return Some(idx.workload_of_pod(p));
    }
    let kind = Kind::parse(&o.kind)?;
    Some(ObjKey::new(
        kind,
        o.namespace.as_deref().unwrap_or(""),
        &o.name,
    ))
}

/// The pod template of a workload, for the kinds that have one.
pub(crate) fn template<'a>(idx: &'a ClusterIndex, w: &ObjKey) -> Option<&'a PodTemplateSpec> {
    let s = &idx.objects;
    let (ns, n) = (w.namespace.as_str(), w.name.as_str());
    match w.kind {
        Kind::Deployment => s.deployments.get(ns, n)?.spec.as_ref().map(|s| &s.template),
        Kind::StatefulSet => s
            .statefulsets
            .get(ns, n)?
            .spec
            .as_ref()
            .map(|s| &s.template),
        Kind::DaemonSet => s.daemonsets.get(ns, n)?.spec.as_ref().map(|s| &s.template),
        Kind::ReplicaSet => s.replicasets.get(ns, n)?.spec.as_ref()?.template.as_ref(),
        Kind::CronJob => s
            .cronjobs
            .get(ns, n)?
            .spec
            .as_ref()?
            .job_template
            .spec
            .as_ref()
            .map(|s| &s.template),
        _ => None,
    }
}

/// Desired replicas of a scalable workload (`spec.replicas`, default 1); for a DaemonSet
/// the pods it should run.
pub(crate) fn replicas(idx: &ClusterIndex, w: &ObjKey) -> Option<i32> {
    let s = &idx.objects;
    let (ns, n) = (w.namespace.as_str(), w.name.as_str());
    match w.kind {
        Kind::Deployment => Some(
            s.deployments
                .get(ns, n)?
                .spec
                .as_ref()?
                .replicas
                .unwrap_or(1),
        ),
        Kind::StatefulSet => Some(
            s.statefulsets
                .get(ns, n)?
                .spec
                .as_ref()?
                .replicas
                .unwrap_or(1),
        ),
        Kind::ReplicaSet => Some(
            s.replicasets
                .get(ns, n)?
                .spec
                .as_ref()?
                .replicas
                .unwrap_or(1),
        ),
        Kind::DaemonSet => Some(
            s.daemonsets
                .get(ns, n)?
                .status
                .as_ref()?
                .desired_number_scheduled,
        ),
        _ => None,
    }
}

/// Pods a workload runs now.
pub(crate) fn pod_count(idx: &ClusterIndex, w: &ObjKey) -> usize {
    idx.pods_of(w.kind, &w.namespace, &w.name).len()
}

/// Whether a HorizontalPodAutoscaler scales this workload (then its replicas are the HPA's).
pub(crate) fn has_hpa(idx: &ClusterIndex, w: &ObjKey) -> bool {
    idx.objects.hpas.in_namespace(&w.namespace).any(|h| {
        h.spec.as_ref().is_some_and(|s| {
            s.scale_target_ref.kind == w.kind.name() && s.scale_target_ref.name == w.name
        })
    })
}

/// `deployment.kubernetes.io/revision` of a ReplicaSet (0 if absent).
pub(crate) fn revision(rs: &ReplicaSet) -> i64 {
    rs.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("deployment.kubernetes.io/revision"))
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// A Deployment's ReplicaSets, newest revision first.
pub(crate) fn replicasets_of<'a>(
    idx: &'a ClusterIndex,
    ns: &str,
    name: &str,
) -> Vec<&'a ReplicaSet> {
    let mut v: Vec<&ReplicaSet> = idx
        .children_of(Kind::Deployment, ns, name)
        .iter()
        .filter(|k| k.kind == Kind::ReplicaSet)
        .filter_map(|k| idx.objects.replicasets.get(&k.namespace, &k.name))
        .collect();
    v.sort_by_key(|rs| std::cmp::Reverse(revision(rs)));
    v
}

/// The controller owner of an object, as a reference.
pub(crate) fn owner_of(meta: &ObjectMeta) -> Option<ObjectRef> {
    let r = meta
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))?;
    let namespaced = Kind::parse(&r.kind).is_none_or(|k| k.namespaced());
    Some(ObjectRef {
        api_version: r.api_version.clone(),
        kind: r.kind.clone(),
        namespace: if namespaced {
            meta.namespace.clone()
        } else {
            None
        },
        name: r.name.clone(),
    })
}
