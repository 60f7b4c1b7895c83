//! Which pods and workloads a Service selector (nearly) matches.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kaptain_index::{ClusterIndex, Kind, labels_match};
use kaptain_model::ObjectRef;

use super::endpoints::{age_of, pod_active};
use crate::certain::similar;
use crate::check::Ctx;
use crate::util::obj_ref;
use crate::workload::template_blockers;

/// A workload in the namespace whose pod template carries the selector's labels, with how
/// many pods it wants, how old it is, and what in its template keeps its pods from ever
/// becoming ready for certain (see [`template_blockers`]).
pub(super) struct TemplateMatch {
    pub obj: ObjectRef,
    pub desired: i32,
    pub age: Option<i64>,
    pub blocked: Vec<String>,
}

pub(super) fn workloads_matching(
    ctx: &Ctx,
    ns: &str,
    sel: &BTreeMap<String, String>,
) -> Vec<TemplateMatch> {
    let s = &ctx.idx.objects;
    let mut out = Vec::new();
    let mut push = |kind: Kind, meta: &ObjectMeta, desired: i32, t: &PodTemplateSpec| {
        if labels_match(t.metadata.as_ref().and_then(|m| m.labels.as_ref()), sel) {
            out.push(TemplateMatch {
                obj: obj_ref(kind, meta),
                desired,
                age: age_of(ctx, meta),
                blocked: template_blockers(ctx, meta, Some(t)),
            });
        }
    };
    for d in s.deployments.in_namespace(ns) {
        if let Some(sp) = d.spec.as_ref() {
            push(
                Kind::Deployment,
                &d.metadata,
                sp.replicas.unwrap_or(1),
                &sp.template,
            );
        }
    }
    for d in s.statefulsets.in_namespace(ns) {
        if let Some(sp) = d.spec.as_ref() {
            push(
                Kind::StatefulSet,
                &d.metadata,
                sp.replicas.unwrap_or(1),
                &sp.template,
            );
        }
    }
    for d in s.daemonsets.in_namespace(ns) {
        if let Some(sp) = d.spec.as_ref() {
            let desired = d
                .status
                .as_ref()
                .map_or(1, |st| st.desired_number_scheduled);
            push(Kind::DaemonSet, &d.metadata, desired, &sp.template);
        }
    }
    // Bare Jobs and CronJobs' job templates: their pods may carry the labels too.
    for j in s
        .jobs
        .in_namespace(ns)
        .filter(|j| ClusterIndex::controller_of(&j.metadata).is_none())
    {
        if let Some(sp) = j.spec.as_ref() {
            push(
                Kind::Job,
                &j.metadata,
                sp.parallelism.unwrap_or(1),
                &sp.template,
            );
        }
    }
    for c in s.cronjobs.in_namespace(ns) {
        if let Some(t) = c.spec.as_ref().and_then(|sp| sp.job_template.spec.as_ref()) {
            push(
                Kind::CronJob,
                &c.metadata,
                t.parallelism.unwrap_or(1),
                &t.template,
            );
        }
    }
    // Bare ReplicaSets only: a Deployment's ReplicaSets are covered by the Deployment.
    for r in s
        .replicasets
        .in_namespace(ns)
        .filter(|r| ClusterIndex::controller_of(&r.metadata).is_none())
    {
        if let Some((sp, t)) = r
            .spec
            .as_ref()
            .and_then(|sp| sp.template.as_ref().map(|t| (sp, t)))
        {
            push(Kind::ReplicaSet, &r.metadata, sp.replicas.unwrap_or(1), t);
        }
    }
    out
}

/// Near misses: pods that would match if one selector label had another value (or were
/// present). Returns `(key, Some(value) | None for "lacks the key", pods)`, most pods first.
pub(super) fn near_misses<'a>(
    ctx: &Ctx<'a>,
    ns: &str,
    sel: &BTreeMap<String, String>,
) -> Vec<(String, Option<String>, Vec<&'a Pod>)> {
    let mut groups: BTreeMap<(String, Option<String>), Vec<&'a Pod>> = BTreeMap::new();
    for (k, v) in sel {
        let mut rest = sel.clone();
        rest.remove(k);
        let in_ns = ctx
            .idx
            .objects
            .pods
            .iter()
            .filter(|p| p.metadata.namespace.as_deref() == Some(ns));
        for p in in_ns.filter(|p| pod_active(p)) {
            let labels = p.metadata.labels.as_ref();
            if !labels_match(labels, &rest) {
                continue;
            }
            match labels.and_then(|l| l.get(k)) {
                // With other labels matching, any other value is a near miss; alone, only
                // a similar one (web-frontend vs frontend), not every other app.
                Some(actual) if actual != v && (!rest.is_empty() || similar(actual, v)) => groups
                    .entry((k.clone(), Some(actual.clone())))
                    .or_default()
                    .push(p),
                // Lacking the key is only a near miss when other labels did match.
                None if !rest.is_empty() => groups.entry((k.clone(), None)).or_default().push(p),
                _ => {}
            }
        }
    }
    let mut v: Vec<_> = groups
        .into_iter()
        .map(|((k, val), pods)| (k, val, pods))
        .collect();
    v.sort_by(|a, b| {
        b.2.len()
            .cmp(&a.2.len())
            .then_with(|| a.0.cmp(&b.0))
            .then_with(|| a.1.cmp(&b.1))
    });
    v
}
