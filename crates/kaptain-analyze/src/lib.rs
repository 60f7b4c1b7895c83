//! Kaptain's analyzers: pure functions from a [`ClusterIndex`] to findings, one module per
//! domain, each check with a stable dotted id; and the correlator that links symptoms to
//! their root causes. Nothing here performs I/O.

mod catalog;
mod certain;
mod check;
mod correlate;
mod group;
mod util;

mod autoscaling;
mod certificate;
mod configmap;
mod events;
mod ingress;
mod job;
mod network;
mod node;
mod pod;
mod policy;
mod service;
mod storage;
mod webhook;
mod workload;

#[cfg(test)]
mod testutil;

pub use catalog::{Selection, catalog, select};
pub use check::{Check, CheckInfo, Ctx, FindingBuilder};
pub use correlate::correlate;

use kaptain_index::{ClusterIndex, Kind};
use kaptain_model::Finding;
use rayon::prelude::*;

/// Runs the selected checks over the index and correlates the findings. `now` is the time
/// against which ages (stuck for, expires in) are measured.
pub fn analyze(idx: &ClusterIndex, checks: &[&Check], now: jiff::Timestamp) -> Vec<Finding> {
    let ctx = Ctx::new(idx, now);
    let (first, post): (Vec<&Check>, Vec<&Check>) =
        checks.iter().copied().partition(|c| !c.info.post);
    let mut findings: Vec<Finding> = first.par_iter().flat_map_iter(|c| c.run_on(&ctx)).collect();
    if !post.is_empty() {
        let explained = findings.iter().map(|f| f.object.clone()).collect();
        let ctx = Ctx {
            explained: Some(&explained),
            ..ctx
        };
        findings.extend(post.iter().flat_map(|c| c.run_on(&ctx)));
    }
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.object.cmp(&b.object))
            .then_with(|| a.id.cmp(&b.id))
    });
    // The same check on the same object with the same key is one finding.
    findings.dedup_by(|a, b| a.fingerprint == b.fingerprint);
    let per_workload = checks
        .iter()
        .filter(|c| c.info.per_workload)
        .map(|c| c.info.id)
        .collect();
    let mut findings = group::by_workload(idx, &per_workload, findings);
    correlate(&mut findings);
    // The most urgent first: a cause carries the weight of what it breaks.
    findings.sort_by(|a, b| {
        b.urgency()
            .cmp(&a.urgency())
            .then_with(|| b.root_cause.cmp(&a.root_cause))
            .then_with(|| b.severity.cmp(&a.severity))
            .then_with(|| a.object.cmp(&b.object))
            .then_with(|| a.id.cmp(&b.id))
    });
    findings
}

/// The kinds the given checks need listed.
pub fn needed_kinds(checks: &[&Check]) -> Vec<Kind> {
    let mut v: Vec<Kind> = checks
        .iter()
        .flat_map(|c| c.info.needs.iter().copied())
        .collect();
    // Events are evidence for almost everything.
    v.push(Kind::Event);
    // Pod findings grouped under their workload need the owners between pod and workload.
    if checks.iter().any(|c| c.info.per_workload) {
        v.extend([Kind::ReplicaSet, Kind::Job]);
    }
    v.sort();
    v.dedup();
    v
}
