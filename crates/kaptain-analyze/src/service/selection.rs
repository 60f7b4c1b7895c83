//! Which pods and workloads a Service selector (nearly) matches.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use kaptain_index::{ClusterIndex, Kind, labels_match};
use kaptain_model::ObjectRef;

use super::endpoints::{age_of, pod_active};
use crate::check::Ctx;
use crate::util::obj_ref;

/// A workload in the namespace whose pod template carries the selector's labels, with how
/// many pods it wants and how old it is.
pub(super) struct TemplateMatch {
    pub obj: ObjectRef,
    pub desired: i32,
    pub age: Option<i64>,
}

pub(super) fn workloads_matching(
    ctx: &Ctx,
    ns: &str,
    sel: &BTreeMap<String, String>,
) -> Vec<TemplateMatch> {
    let s = &ctx.idx.objects;
    let mut out = Vec::new();
    let tl = |t: &k8s_openapi::api::core::v1::PodTemplateSpec| {
        labels_match(t.metadata.as_ref().and_then(|m| m.labels.as_ref()), sel)
    };
    for d in s.deployments.in_namespace(ns) {
        if let Some(sp) = d.spec.as_ref().filter(|sp| tl(&sp.template)) {
            let desired = sp.replicas.unwrap_or(1);
            out.push(TemplateMatch {
                obj: obj_ref(Kind::Deployment, &d.metadata),
                desired,
                age: age_of(ctx, &d.metadata),
            });
        }
    }
    for d in s.statefulsets.in_namespace(ns) {
        if let Some(sp) = d.spec.as_ref().filter(|sp| tl(&sp.template)) {
            let desired = sp.replicas.unwrap_or(1);
            out.push(TemplateMatch {
                obj: obj_ref(Kind::StatefulSet, &d.metadata),
                desired,
                age: age_of(ctx, &d.metadata),
            });
        }
    }
    for d in s.daemonsets.in_namespace(ns) {
        if d.spec.as_ref().is_some_and(|sp| tl(&sp.template)) {
            let desired = d
                .status
                .as_ref()
                .map_or(1, |st| st.desired_number_scheduled);
            out.push(TemplateMatch {
                obj: obj_ref(Kind::DaemonSet, &d.metadata),
                desired,
                age: age_of(ctx, &d.metadata),
            });
        }
    }
    // Bare Jobs and CronJobs' job templates: their pods may carry the labels too.
    for j in s
        .jobs
        .in_namespace(ns)
        .filter(|j| ClusterIndex::controller_of(&j.metadata).is_none())
    {
        if let Some(sp) = j.spec.as_ref().filter(|sp| tl(&sp.template)) {
            out.push(TemplateMatch {
                obj: obj_ref(Kind::Job, &j.metadata),
                desired: sp.parallelism.unwrap_or(1),
                age: age_of(ctx, &j.metadata),
            });
        }
    }
    for c in s.cronjobs.in_namespace(ns) {
        if let Some(t) = c
            .spec
            .as_ref()
            .and_then(|sp| sp.job_template.spec.as_ref())
            .filter(|js| tl(&js.template))
        {
            out.push(TemplateMatch {
                obj: obj_ref(Kind::CronJob, &c.metadata),
                desired: t.parallelism.unwrap_or(1),
                age: age_of(ctx, &c.metadata),
            });
        }
    }
    // Bare ReplicaSets only: a Deployment's ReplicaSets are covered by the Deployment.
    for r in s
        .replicasets
        .in_namespace(ns)
        .filter(|r| ClusterIndex::controller_of(&r.metadata).is_none())
    {
        if let Some(sp) = r
            .spec
            .as_ref()
            .filter(|sp| sp.template.as_ref().is_some_and(tl))
        {
            let desired = sp.replicas.unwrap_or(1);
            out.push(TemplateMatch {
                obj: obj_ref(Kind::ReplicaSet, &r.metadata),
                desired,
                age: age_of(ctx, &r.metadata),
            });
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

/// Two label values that look like one was meant: one contains the other, or they are a
/// few edits apart.
pub(super) fn similar(a: &str, b: &str) -> bool {
    if a.contains(b) || b.contains(a) {
        return true;
    }
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    let dist = prev[b.len()];
    dist <= (a.len().max(b.len()) / 3).max(2)
}
