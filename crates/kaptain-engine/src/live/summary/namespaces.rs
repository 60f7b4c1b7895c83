//! The namespace breakdown: pods by phase, workloads by kind, findings by severity.

use std::collections::BTreeMap;

use kaptain_index::ClusterIndex;
use kaptain_model::Report;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::live::status::SeverityCounts;

/// Pods by phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PodPhases {
    pub pending: usize,
    pub running: usize,
    pub succeeded: usize,
    pub failed: usize,
    /// `Unknown`, or no phase reported yet.
    pub unknown: usize,
}

impl PodPhases {
    pub fn total(&self) -> usize {
        self.pending + self.running + self.succeeded + self.failed + self.unknown
    }
}

/// Workloads by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WorkloadCounts {
    pub deployments: usize,
    pub statefulsets: usize,
    pub daemonsets: usize,
    pub jobs: usize,
    pub cronjobs: usize,
}

/// One namespace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NamespaceRow {
    pub name: String,
    /// `Active` or `Terminating`; `None` when the Namespace object is not watched.
    pub phase: Option<String>,
    pub pods: PodPhases,
    pub workloads: WorkloadCounts,
    pub services: usize,
    pub findings: SeverityCounts,
}

/// Every namespace (those that exist, and those objects or findings name), by name.
pub fn namespace_table(idx: &ClusterIndex, report: Option<&Report>) -> Vec<NamespaceRow> {
    let mut rows: BTreeMap<String, NamespaceRow> = BTreeMap::new();
    let o = &idx.objects;
    for n in o.namespaces.iter() {
        let name = n.metadata.name.clone().unwrap_or_default();
        entry(&mut rows, &name).phase = n.status.as_ref().and_then(|s| s.phase.clone());
    }
    for p in o.pods.iter() {
        let r = entry(&mut rows, ns_of(&p.metadata));
        match p.status.as_ref().and_then(|s| s.phase.as_deref()) {
            Some("Pending") => r.pods.pending += 1,
            Some("Running") => r.pods.running += 1,
            Some("Succeeded") => r.pods.succeeded += 1,
            Some("Failed") => r.pods.failed += 1,
            _ => r.pods.unknown += 1,
        }
    }
    for d in o.deployments.iter() {
        entry(&mut rows, ns_of(&d.metadata)).workloads.deployments += 1;
    }
    for s in o.statefulsets.iter() {
        entry(&mut rows, ns_of(&s.metadata)).workloads.statefulsets += 1;
    }
    for d in o.daemonsets.iter() {
        entry(&mut rows, ns_of(&d.metadata)).workloads.daemonsets += 1;
    }
    for j in o.jobs.iter() {
        entry(&mut rows, ns_of(&j.metadata)).workloads.jobs += 1;
    }
    for c in o.cronjobs.iter() {
        entry(&mut rows, ns_of(&c.metadata)).workloads.cronjobs += 1;
    }
    for s in o.services.iter() {
        entry(&mut rows, ns_of(&s.metadata)).services += 1;
    }
    for f in report.map(|r| r.findings.as_slice()).unwrap_or_default() {
        if let Some(ns) = f.object.namespace.as_deref().filter(|n| !n.is_empty()) {
            entry(&mut rows, ns).findings.add(f);
        }
    }
    rows.into_values().collect()
}

fn ns_of(m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> &str {
    m.namespace.as_deref().unwrap_or("default")
}

fn entry<'a>(rows: &'a mut BTreeMap<String, NamespaceRow>, ns: &str) -> &'a mut NamespaceRow {
    rows.entry(ns.to_string()).or_insert_with(|| NamespaceRow {
        name: ns.to_string(),
        phase: None,
        pods: PodPhases::default(),
        workloads: WorkloadCounts::default(),
        services: 0,
        findings: SeverityCounts::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::summary::tests::{finding, index};
    use kaptain_model::Severity;

    const OBJECTS: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop}
status: {phase: Active}
---
apiVersion: v1
kind: Namespace
metadata: {name: empty}
status: {phase: Terminating}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: shop}
spec: {containers: [{name: a, image: x}]}
status: {phase: Running}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: shop}
spec: {containers: [{name: a, image: x}]}
status: {phase: Pending}
---
apiVersion: v1
kind: Pod
metadata: {name: c, namespace: shop}
spec: {containers: [{name: a, image: x}]}
---
apiVersion: v1
kind: Pod
metadata: {name: d, namespace: batch}
spec: {containers: [{name: a, image: x}]}
status: {phase: Failed}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec: {selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}}, spec: {containers: [{name: a, image: x}]}}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop}
spec: {serviceName: db, selector: {matchLabels: {a: c}}, template: {metadata: {labels: {a: c}}, spec: {containers: [{name: a, image: x}]}}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: once, namespace: batch}
spec: {template: {spec: {restartPolicy: Never, containers: [{name: a, image: x}]}}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {ports: [{port: 80}]}
"#;

    #[test]
    fn counts_pods_workloads_and_findings_per_namespace() {
        let idx = index(OBJECTS);
        let mut report = crate::live::summary::tests::report(vec![
            finding(
                "pod.crash-loop",
                Severity::Critical,
                Some("shop"),
                "Pod",
                "a",
                true,
            ),
            finding("pod.x", Severity::High, Some("shop"), "Pod", "b", false),
            finding("node.not-ready", Severity::High, None, "Node", "n1", true),
            finding(
                "job.failed",
                Severity::Medium,
                Some("ghost"),
                "Job",
                "j",
                true,
            ),
        ]);
        report.summary = kaptain_model::Summary::of(&report.findings);
        let rows = namespace_table(&idx, Some(&report));
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, vec!["batch", "empty", "ghost", "shop"]);
        let shop = &rows[3];
        assert_eq!(shop.phase.as_deref(), Some("Active"));
        assert_eq!(
            shop.pods,
            PodPhases {
                pending: 1,
                running: 1,
                unknown: 1,
                ..Default::default()
            }
        );
        assert_eq!(shop.pods.total(), 3);
        assert_eq!(shop.workloads.deployments, 1);
        assert_eq!(shop.workloads.statefulsets, 1);
        assert_eq!(shop.services, 1);
        assert_eq!(
            (
                shop.findings.critical,
                shop.findings.high,
                shop.findings.root_causes
            ),
            (1, 1, 1)
        );
        let batch = &rows[0];
        assert_eq!((batch.pods.failed, batch.workloads.jobs), (1, 1));
        assert_eq!(batch.phase, None);
        assert_eq!(rows[1].phase.as_deref(), Some("Terminating"));
        assert_eq!(rows[1].pods.total(), 0);
        assert_eq!(rows[2].findings.medium, 1);
    }
}
