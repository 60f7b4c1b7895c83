//! One finding per broken workload.
//!
//! Three pods of one Deployment OOM-killed are one problem — the Deployment's memory limit —
//! not three. For the checks whose pod findings are about the workload's spec
//! ([`crate::CheckInfo::per_workload`]: a memory limit, an image, a missing reference, a
//! probe), the findings of the pods of one workload with the same check and key (container)
//! become one finding on the workload: the worst pod's finding, with every pod as evidence and
//! as an [`Instance`] that keeps the fingerprint the finding had on that pod alone, so that
//! the store's history and the healing operator's in-flight actions follow it across the
//! change. Pods without a controller, and findings of other checks (an eviction, a bad node),
//! stay per pod.

use std::collections::{BTreeMap, HashMap, HashSet};

use kaptain_index::{ClusterIndex, Kind, ObjKey};
use kaptain_model::{Evidence, Finding, Instance, fingerprint};

/// Pods named in a group's evidence line before "and N more".
const NAMED_PODS: usize = 10;

/// Replaces the per-pod findings of `per_workload` checks by one finding per workload.
pub(crate) fn by_workload(
    idx: &ClusterIndex,
    per_workload: &HashSet<&str>,
    findings: Vec<Finding>,
) -> Vec<Finding> {
    if per_workload.is_empty() {
        return findings;
    }
    let mut out = Vec::with_capacity(findings.len());
    let mut groups: BTreeMap<(String, ObjKey, String), Vec<Finding>> = BTreeMap::new();
    for f in findings {
        match workload(idx, per_workload, &f) {
            Some(w) => groups
                .entry((f.id.clone(), w, f.key.clone()))
                .or_default()
                .push(f),
            None => out.push(f),
        }
    }
    if groups.is_empty() {
        return out;
    }
    let totals = pod_counts(idx, groups.keys().map(|(_, w, _)| w));
    for ((_, w, _), members) in groups {
        let total = totals.get(&w).copied().unwrap_or(0).max(members.len());
        out.push(merge(&w, members, total));
    }
    out
}

/// The workload a finding is grouped under, if it is one to group.
fn workload(idx: &ClusterIndex, per_workload: &HashSet<&str>, f: &Finding) -> Option<ObjKey> {
    if f.object.kind != "Pod" || !per_workload.contains(f.id.as_str()) {
        return None;
    }
    let ns = f.object.namespace.as_deref()?;
    let pod = idx.objects.pods.get(ns, &f.object.name)?;
    let w = idx.workload_of_pod(pod);
    (w.kind != Kind::Pod).then_some(w)
}

/// How many pods each of `workloads` has in the index.
fn pod_counts<'a>(
    idx: &ClusterIndex,
    workloads: impl Iterator<Item = &'a ObjKey>,
) -> HashMap<ObjKey, usize> {
    let wanted: HashSet<&ObjKey> = workloads.collect();
    let namespaces: HashSet<&str> = wanted.iter().map(|w| w.namespace.as_str()).collect();
    let mut counts = HashMap::new();
    for ns in namespaces {
        for p in idx.objects.pods.in_namespace(ns) {
            let w = idx.workload_of_pod(p);
            if wanted.contains(&w) {
                *counts.entry(w).or_insert(0) += 1;
            }
        }
    }
    counts
}

/// One finding on workload `w` from the findings of its pods (at least one).
fn merge(w: &ObjKey, mut members: Vec<Finding>, total: usize) -> Finding {
    // The worst pod speaks for the group; ties go to the first pod by name.
    members.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.object.name.cmp(&b.object.name))
    });
    let n = members.len();
    let mut instances: Vec<Instance> = members
        .iter()
        .map(|m| Instance {
            object: m.object.clone(),
            fingerprint: m.fingerprint.clone(),
        })
        .collect();
    instances.sort_by(|a, b| a.object.name.cmp(&b.object.name));
    let mut hints: Vec<_> = members
        .iter()
        .flat_map(|m| m.cause_hints.iter().cloned())
        .collect();
    hints.sort();
    hints.dedup();
    let confidence = members.iter().map(|m| m.confidence).fold(0.0, f64::max);
    let object = w.to_ref();
    let names: Vec<&str> = instances
        .iter()
        .take(NAMED_PODS)
        .map(|i| i.object.name.as_str())
        .collect();
    let more = match n.saturating_sub(NAMED_PODS) {
        0 => String::new(),
        k => format!(" and {k} more"),
    };
    let pods = if total == 1 { "pod" } else { "pods" };
    let line = format!(
        "{n} of {total} {pods} of {} {}: {}{more}",
        w.kind.name(),
        w.name,
        names.join(", ")
    );
    let rep = members.swap_remove(0);
    let mut evidence = Vec::with_capacity(rep.evidence.len() + 1);
    evidence.push(Evidence::status(line.clone()));
    evidence.extend(rep.evidence);
    // "Pod web-1 cannot be scheduled: ..." becomes "2 of 3 pods cannot be scheduled: ...";
    // a title about a container keeps its words and says how many pods.
    let title = match rep
        .title
        .strip_prefix("Pod ")
        .and_then(|t| t.strip_prefix(rep.object.name.as_str()))
        .and_then(|t| t.strip_prefix(' '))
    {
        Some(rest) => format!("{n} of {total} {pods} {rest}"),
        None => format!("{} — {n} of {total} {pods}", rep.title),
    };
    Finding {
        fingerprint: fingerprint(&rep.id, &object, &rep.key),
        title,
        message: if rep.message.is_empty() {
            format!("Seen on {line}.")
        } else {
            format!("{}\nSeen on {line}.", rep.message)
        },
        evidence,
        confidence,
        instances,
        cause_hints: hints,
        object,
        root_cause: true,
        caused_by: Vec::new(),
        chain_severity: None,
        ..rep
    }
}

#[cfg(test)]
mod tests;
