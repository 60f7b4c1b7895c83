//! The node table: role, kubelet version, readiness, pressure, allocatable against what the
//! pods on the node request, their restarts.

use std::collections::HashMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, Node, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kaptain_index::ClusterIndex;
use kaptain_index::quantity::parse as parse_quantity;
use kaptain_model::Report;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NodeRow {
    pub name: String,
    /// From `node-role.kubernetes.io/<role>` labels (and the older `kubernetes.io/role`).
    pub roles: Vec<String>,
    pub kubelet_version: Option<String>,
    /// The Ready condition; `None` when it is missing or `Unknown`.
    pub ready: Option<bool>,
    /// Cordoned.
    pub unschedulable: bool,
    pub memory_pressure: bool,
    pub disk_pressure: bool,
    pub pid_pressure: bool,
    pub allocatable_cpu_millicores: Option<u64>,
    pub allocatable_memory_bytes: Option<u64>,
    pub allocatable_pods: Option<u64>,
    /// Sum of the requests of the non-terminated pods on the node (as the scheduler counts
    /// them: the larger of the containers' sum and the largest init container, plus overhead).
    pub requested_cpu_millicores: u64,
    pub requested_memory_bytes: u64,
    /// Non-terminated pods on the node.
    pub pods: usize,
    /// Container restarts of those pods.
    pub restarts: u64,
    /// Findings about the node itself.
    pub findings: usize,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub created_at: Option<Timestamp>,
}

/// The rows of every node, by name.
pub fn node_table(idx: &ClusterIndex, report: Option<&Report>) -> Vec<NodeRow> {
    let mut per_node: HashMap<&str, PodTotals> = HashMap::new();
    for pod in idx.objects.pods.iter() {
        let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) else {
            continue;
        };
        if is_terminated(pod) {
            continue;
        }
        let t = per_node.entry(node).or_default();
        let (cpu, mem) = pod_requests(pod);
        t.cpu_millicores += cpu;
        t.memory_bytes += mem;
        t.pods += 1;
        t.restarts += restarts(pod);
    }
    let mut findings: HashMap<&str, usize> = HashMap::new();
    for f in report.map(|r| r.findings.as_slice()).unwrap_or_default() {
        if f.object.kind == "Node" {
            *findings.entry(f.object.name.as_str()).or_default() += 1;
        }
    }
    let mut rows: Vec<NodeRow> = idx
        .objects
        .nodes
        .iter()
        .map(|n| {
            let name = n.metadata.name.clone().unwrap_or_default();
            let t = per_node.get(name.as_str()).copied().unwrap_or_default();
            row(n, &t, findings.get(name.as_str()).copied().unwrap_or(0))
        })
        .collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    rows
}

#[derive(Debug, Default, Clone, Copy)]
struct PodTotals {
    cpu_millicores: u64,
    memory_bytes: u64,
    pods: usize,
    restarts: u64,
}

fn row(n: &Node, t: &PodTotals, findings: usize) -> NodeRow {
    let status = n.status.as_ref();
    let condition = |kind: &str| -> Option<bool> {
        status?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == kind)
            .and_then(|c| match c.status.as_str() {
                "True" => Some(true),
                "False" => Some(false),
                _ => None,
            })
    };
    let alloc = status.and_then(|s| s.allocatable.as_ref());
    let q = |r: &str| alloc.and_then(|a| a.get(r));
    NodeRow {
        name: n.metadata.name.clone().unwrap_or_default(),
        roles: roles(n),
        kubelet_version: status
            .and_then(|s| s.node_info.as_ref())
            .map(|i| i.kubelet_version.clone()),
        ready: condition("Ready"),
        unschedulable: n
            .spec
            .as_ref()
            .and_then(|s| s.unschedulable)
            .unwrap_or(false),
        memory_pressure: condition("MemoryPressure") == Some(true),
        disk_pressure: condition("DiskPressure") == Some(true),
        pid_pressure: condition("PIDPressure") == Some(true),
        allocatable_cpu_millicores: q("cpu").and_then(millicores),
        allocatable_memory_bytes: q("memory").and_then(units),
        allocatable_pods: q("pods").and_then(units),
        requested_cpu_millicores: t.cpu_millicores,
        requested_memory_bytes: t.memory_bytes,
        pods: t.pods,
        restarts: t.restarts,
        findings,
        created_at: n.metadata.creation_timestamp.as_ref().map(|t| t.0),
    }
}

fn roles(n: &Node) -> Vec<String> {
    let mut roles: Vec<String> = n
        .metadata
        .labels
        .iter()
        .flatten()
        .filter_map(|(k, v)| match k.strip_prefix("node-role.kubernetes.io/") {
            Some(role) if !role.is_empty() => Some(role.to_string()),
            _ if k == "kubernetes.io/role" && !v.is_empty() => Some(v.clone()),
            _ => None,
        })
        .collect();
    roles.sort();
    roles.dedup();
    roles
}

/// Succeeded and Failed pods no longer hold their requests.
pub(crate) fn is_terminated(p: &Pod) -> bool {
    matches!(
        p.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

fn millicores(q: &Quantity) -> Option<u64> {
    parse_quantity(&q.0).map(|v| (v * 1000.0).round().max(0.0) as u64)
}

fn units(q: &Quantity) -> Option<u64> {
    parse_quantity(&q.0).map(|v| v.round().max(0.0) as u64)
}

fn request(c: &Container, resource: &str, parse: fn(&Quantity) -> Option<u64>) -> u64 {
    c.resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get(resource))
        .and_then(parse)
        .unwrap_or(0)
}

/// A pod's effective (cpu millicores, memory bytes) requests, as the scheduler counts them.
pub(crate) fn pod_requests(p: &Pod) -> (u64, u64) {
    let Some(spec) = p.spec.as_ref() else {
        return (0, 0);
    };
    let effective = |resource: &str, parse: fn(&Quantity) -> Option<u64>| -> u64 {
        let sum: u64 = spec
            .containers
            .iter()
            .map(|c| request(c, resource, parse))
            .sum();
        let init = spec
            .init_containers
            .iter()
            .flatten()
            .map(|c| request(c, resource, parse))
            .max()
            .unwrap_or(0);
        let overhead = spec
            .overhead
            .as_ref()
            .and_then(|o| o.get(resource))
            .and_then(parse)
            .unwrap_or(0);
        sum.max(init) + overhead
    };
    (effective("cpu", millicores), effective("memory", units))
}

pub(crate) fn restarts(p: &Pod) -> u64 {
    let Some(s) = p.status.as_ref() else {
        return 0;
    };
    s.container_statuses
        .iter()
        .flatten()
        .chain(s.init_container_statuses.iter().flatten())
        .map(|c| u64::try_from(c.restart_count).unwrap_or(0))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::summary::tests::index;

    const NODES: &str = r#"
apiVersion: v1
kind: Node
metadata:
  name: b-worker
  creationTimestamp: "2026-01-01T10:00:00Z"
  labels: {node-role.kubernetes.io/worker: "", node-role.kubernetes.io/ingress: "", kubernetes.io/role: edge}
spec: {unschedulable: true}
status:
  allocatable: {cpu: 3500m, memory: 8Gi, pods: "110"}
  nodeInfo: {kubeletVersion: v1.20.2, kubeProxyVersion: v1.20.2, architecture: amd64, bootID: x, containerRuntimeVersion: sim, kernelVersion: x, machineID: x, operatingSystem: linux, osImage: x, systemUUID: x}
  conditions:
  - {type: Ready, status: "True"}
  - {type: MemoryPressure, status: "True"}
  - {type: DiskPressure, status: "False"}
  - {type: PIDPressure, status: "False"}
---
apiVersion: v1
kind: Node
metadata: {name: a-master, labels: {node-role.kubernetes.io/control-plane: ""}}
status:
  allocatable: {cpu: "2", memory: 4Gi}
  conditions: [{type: Ready, status: Unknown}]
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop}
spec:
  nodeName: b-worker
  initContainers: [{name: init, image: x, resources: {requests: {cpu: "2", memory: 64Mi}}}]
  containers:
  - {name: a, image: x, resources: {requests: {cpu: 250m, memory: 128Mi}}}
  - {name: b, image: x, resources: {requests: {cpu: 250m, memory: 128Mi}}}
  overhead: {cpu: 10m}
status:
  phase: Running
  containerStatuses:
  - {name: a, image: x, imageID: x, ready: true, restartCount: 3}
  - {name: b, image: x, imageID: x, ready: true, restartCount: 1}
---
apiVersion: v1
kind: Pod
metadata: {name: web-2, namespace: shop}
spec:
  nodeName: b-worker
  containers: [{name: a, image: x, resources: {requests: {cpu: 100m, memory: 1Gi}}}]
status: {phase: Pending}
---
apiVersion: v1
kind: Pod
metadata: {name: done, namespace: shop}
spec:
  nodeName: b-worker
  containers: [{name: a, image: x, resources: {requests: {cpu: "1", memory: 1Gi}}}]
status:
  phase: Succeeded
  containerStatuses: [{name: a, image: x, imageID: x, ready: false, restartCount: 7}]
---
apiVersion: v1
kind: Pod
metadata: {name: unscheduled, namespace: shop}
spec:
  containers: [{name: a, image: x, resources: {requests: {cpu: "1"}}}]
status: {phase: Pending}
"#;

    #[test]
    fn rows_sum_requests_of_live_pods_per_node() {
        let idx = index(NODES);
        let rows = node_table(&idx, None);
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, vec!["a-master", "b-worker"]);
        let w = &rows[1];
        assert_eq!(w.roles, vec!["edge", "ingress", "worker"]);
        assert_eq!(w.kubelet_version.as_deref(), Some("v1.20.2"));
        assert_eq!(w.ready, Some(true));
        assert!(w.unschedulable);
        assert!(w.memory_pressure && !w.disk_pressure && !w.pid_pressure);
        assert_eq!(w.allocatable_cpu_millicores, Some(3500));
        assert_eq!(w.allocatable_memory_bytes, Some(8 << 30));
        assert_eq!(w.allocatable_pods, Some(110));
        // web-1: max(250m + 250m, init 2) + 10m overhead = 2010m, memory max(256Mi, 64Mi);
        // web-2: 100m, 1Gi; the Succeeded pod and the unscheduled one do not count.
        assert_eq!(w.requested_cpu_millicores, 2010 + 100);
        assert_eq!(w.requested_memory_bytes, (256 << 20) + (1 << 30));
        assert_eq!(w.pods, 2);
        assert_eq!(w.restarts, 4);
        assert!(w.created_at.is_some());
        let m = &rows[0];
        assert_eq!(m.roles, vec!["control-plane"]);
        assert_eq!(m.ready, None);
        assert_eq!(m.allocatable_cpu_millicores, Some(2000));
        assert_eq!((m.pods, m.requested_cpu_millicores), (0, 0));
        assert_eq!(m.kubelet_version, None);
    }
}
