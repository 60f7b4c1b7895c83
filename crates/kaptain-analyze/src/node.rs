//! Nodes that are NotReady, under resource pressure, cordoned with pods still on them, or whose
//! pods' limits add up to far more than the node can give.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, NodeCondition, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kaptain_index::{ClusterIndex, Kind};
use kaptain_model::{Category, Evidence, Finding, Severity};

use crate::check::{Check, CheckInfo, Ctx};
use crate::util::{events_with, human_duration, latest_events, obj_ref, parse_quantity};

/// A node that joined moments ago may report NotReady while its kubelet and CNI start.
const NODE_GRACE_SECS: i64 = 300;
/// Cordoned longer than this with workload pods still on it looks forgotten.
const CORDON_STALE_SECS: i64 = 3_600;
/// Limits above this share of allocatable are reported.
const OVERCOMMIT_RATIO: f64 = 1.5;

const NOT_READY: CheckInfo = CheckInfo::new(
    "node.not-ready",
    Category::Reliability,
    Severity::Critical,
    "A node's Ready condition is False or Unknown (its kubelet is down, unreachable or unhealthy)",
    &[Kind::Node, Kind::Pod],
)
.confidence(0.97);

const PRESSURE: CheckInfo = CheckInfo::new(
    "node.pressure",
    Category::Capacity,
    Severity::High,
    "A node reports MemoryPressure, DiskPressure, PIDPressure or NetworkUnavailable",
    &[Kind::Node, Kind::Pod, Kind::Event],
)
.confidence(0.95);

const CORDONED: CheckInfo = CheckInfo::new(
    "node.cordoned-with-pods",
    Category::Capacity,
    Severity::Low,
    "A node is cordoned (unschedulable) but pods still run on it: a drain that did not finish, or a forgotten cordon",
    &[Kind::Node, Kind::Pod],
)
.confidence(0.8);

const OVERCOMMITTED: CheckInfo = CheckInfo::new(
    "node.overcommitted",
    Category::Capacity,
    Severity::Medium,
    "The memory or CPU limits of the pods on a node add up to more than 150% of its allocatable capacity",
    &[Kind::Node, Kind::Pod],
)
.confidence(0.8);

pub(crate) fn checks() -> Vec<Check> {
    vec![
        Check::new(NOT_READY, not_ready),
        Check::new(PRESSURE, pressure),
        Check::new(CORDONED, cordoned_with_pods),
        Check::new(OVERCOMMITTED, overcommitted),
    ]
}

fn condition<'a>(node: &'a Node, type_: &str) -> Option<&'a NodeCondition> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

fn node_name(node: &Node) -> &str {
    node.metadata.name.as_deref().unwrap_or("")
}

/// Pods on the node that have not terminated.
fn active_pods<'a>(idx: &'a ClusterIndex, node: &str) -> Vec<&'a Pod> {
    idx.pods_on_node(node)
        .into_iter()
        .filter(|p| {
            let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
            !matches!(phase, Some("Succeeded" | "Failed"))
        })
        .collect()
}

fn pod_label(p: &Pod) -> String {
    format!(
        "{}/{}",
        p.metadata.namespace.as_deref().unwrap_or(""),
        p.metadata.name.as_deref().unwrap_or("")
    )
}

/// Whether a pod stays on a drained node by design: DaemonSet pods and static (mirror) pods.
fn is_node_bound(p: &Pod) -> bool {
    let m = &p.metadata;
    m.annotations
        .as_ref()
        .is_some_and(|a| a.contains_key("kubernetes.io/config.mirror"))
        || m.owner_references
            .iter()
            .flatten()
            .any(|r| r.controller == Some(true) && matches!(r.kind.as_str(), "DaemonSet" | "Node"))
}

fn condition_evidence(ctx: &Ctx, c: &NodeCondition) -> Vec<Evidence> {
    let mut ev = vec![Evidence::status(format!(
        "condition {}={}{}{}",
        c.type_,
        c.status,
        c.reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default(),
        c.message
            .as_deref()
            .map(|m| format!(": {}", m.trim()))
            .unwrap_or_default()
    ))];
    if let Some(t) = &c.last_transition_time {
        ev.push(Evidence::status(format!(
            "lastTransitionTime: {} ({} ago)",
            t.0,
            human_duration(ctx.age_secs(t.0))
        )));
    }
    if let Some(t) = &c.last_heartbeat_time {
        ev.push(Evidence::status(format!(
            "lastHeartbeatTime: {} ({} ago)",
            t.0,
            human_duration(ctx.age_secs(t.0))
        )));
    }
    ev
}

fn not_ready(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    for node in ctx.idx.objects.nodes.iter() {
        let Some(c) = condition(node, "Ready") else {
            continue;
        };
        if c.status == "True" {
            continue;
        }
        let young = node
            .metadata
            .creation_timestamp
            .as_ref()
            .is_some_and(|t| ctx.age_secs(t.0) < NODE_GRACE_SECS);
        if young {
            continue;
        }
        let name = node_name(node);
        let since = c
            .last_transition_time
            .as_ref()
            .map(|t| human_duration(ctx.age_secs(t.0)));
        let pods = active_pods(ctx.idx, name);
        let reason = c.reason.as_deref().unwrap_or(if c.status == "Unknown" {
            "NodeStatusUnknown"
        } else {
            "KubeletNotReady"
        });
        let state = if c.status == "Unknown" {
            "has stopped reporting (Ready=Unknown)"
        } else {
            "is NotReady"
        };
        let mut ev = condition_evidence(ctx, c);
        if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
            ev.push(Evidence::spec(
                "spec.unschedulable: true (already cordoned)",
            ));
        }
        if !pods.is_empty() {
            let names: Vec<String> = pods.iter().take(5).map(|p| pod_label(p)).collect();
            ev.push(Evidence::reference(format!(
                "{} pod(s) on the node, e.g. {}",
                pods.len(),
                names.join(", ")
            )));
        }
        let meaning = if c.status == "Unknown" {
            "The control plane has not heard from its kubelet (node down, network partition, or kubelet stopped)"
        } else {
            "Its kubelet reports it is not healthy (container runtime, CNI or kubelet problem)"
        };
        ctx.finding(info, obj_ref(Kind::Node, &node.metadata), "")
            .title(format!(
                "Node {name} {state}{}: {reason}",
                since.as_deref().map(|s| format!(" for {s}")).unwrap_or_default()
            ))
            .message(format!(
                "Node {name} {state}. {meaning}. New pods are not scheduled there, and its {} pod(s) are \
                 unreachable or will be evicted after the toleration period (5 minutes by default).",
                pods.len()
            ))
            .evidences(ev)
            .fix(
                "Describe the node and check the kubelet and container runtime on it (systemctl status kubelet; \
                 journalctl -u kubelet). If it cannot be fixed quickly, cordon and drain it so its pods move.",
                [
                    format!("kubectl describe node {name}"),
                    format!("kubectl get pods -A -o wide --field-selector spec.nodeName={name}"),
                    format!("kubectl cordon {name}"),
                    format!("kubectl drain {name} --ignore-daemonsets --delete-emptydir-data"),
                ],
            )
            .push(out);
    }
}

fn pressure(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    const TYPES: [&str; 4] = [
        "MemoryPressure",
        "DiskPressure",
        "PIDPressure",
        "NetworkUnavailable",
    ];
    for node in ctx.idx.objects.nodes.iter() {
        let name = node_name(node);
        for t in TYPES {
            let Some(c) = condition(node, t).filter(|c| c.status == "True") else {
                continue;
            };
            let pods = active_pods(ctx.idx, name);
            let mut ev = condition_evidence(ctx, c);
            let events = events_with(
                ctx.idx,
                Kind::Node,
                &node.metadata,
                &[
                    "EvictionThresholdMet",
                    "FreeDiskSpaceFailed",
                    "ImageGCFailed",
                    "SystemOOM",
                ],
            );
            ev.extend(latest_events(&events, ctx.now, 3));
            let ps = format!("kubectl get pods -A -o wide --field-selector spec.nodeName={name}");
            let (what, effect, summary, cmds) = match t {
                "MemoryPressure" => (
                    "is low on memory",
                    "The kubelet evicts pods (BestEffort first, then Burstable over their requests) and no new BestEffort pods are scheduled there.",
                    "Find the pods using the most memory on the node and lower their usage or limits, set memory requests that match real use, or add capacity.",
                    vec![
                        format!("kubectl describe node {name}"),
                        format!("kubectl top node {name}"),
                        ps,
                        "kubectl top pods -A --sort-by=memory".to_string(),
                    ],
                ),
                "DiskPressure" => (
                    "is low on disk space (node filesystem or image filesystem)",
                    "The kubelet garbage-collects images and evicts pods, and no new pods are scheduled there.",
                    "Free disk on the node: remove unused images (crictl rmi --prune), large container logs and emptyDir data; set ephemeral-storage limits, or grow the disk.",
                    vec![format!("kubectl describe node {name}"), ps],
                ),
                "PIDPressure" => (
                    "is running out of process IDs",
                    "The kubelet evicts pods and new processes may fail to start.",
                    "Find the pod that spawns too many processes (a fork leak) and fix or restart it; set a pod PID limit on the kubelet.",
                    vec![format!("kubectl describe node {name}"), ps],
                ),
                _ => (
                    "has no working pod network",
                    "Pods on it cannot reach other pods or Services; the scheduler avoids the node.",
                    "Check the CNI plugin's pods on this node (their logs usually say why the route or interface is missing) and restart them.",
                    vec![
                        format!("kubectl describe node {name}"),
                        format!(
                            "kubectl -n kube-system get pods -o wide --field-selector spec.nodeName={name}"
                        ),
                    ],
                ),
            };
            let since = c
                .last_transition_time
                .as_ref()
                .map(|ts| format!(" for {}", human_duration(ctx.age_secs(ts.0))))
                .unwrap_or_default();
            let mut f = ctx
                .finding(info, obj_ref(Kind::Node, &node.metadata), t)
                .title(format!(
                    "Node {name} has {t}{since}{}",
                    c.message
                        .as_deref()
                        .map(|m| format!(": {}", m.trim()))
                        .unwrap_or_default()
                ))
                .message(format!(
                    "Node {name} {what} ({t}=True), with {} pod(s) on it. {effect}",
                    pods.len()
                ))
                .evidences(ev)
                .fix(summary, cmds)
                .build();
            if t == "NetworkUnavailable" {
                f.category = Category::Network;
            }
            out.push(f);
        }
    }
}

fn cordoned_with_pods(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    for node in ctx.idx.objects.nodes.iter() {
        if node.spec.as_ref().and_then(|s| s.unschedulable) != Some(true) {
            continue;
        }
        let name = node_name(node);
        let pods = active_pods(ctx.idx, name);
        if pods.is_empty() {
            continue;
        }
        let workload: Vec<&Pod> = pods.iter().copied().filter(|p| !is_node_bound(p)).collect();
        let cordoned_for = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.as_ref())
            .and_then(|ts| {
                ts.iter()
                    .find(|t| t.key == "node.kubernetes.io/unschedulable")
            })
            .and_then(|t| t.time_added.as_ref())
            .map(|t| ctx.age_secs(t.0));
        let stale = cordoned_for.is_some_and(|s| s > CORDON_STALE_SECS);
        let severity = if stale && !workload.is_empty() {
            Severity::Medium
        } else {
            Severity::Low
        };
        let shown: Vec<String> = if workload.is_empty() {
            &pods
        } else {
            &workload
        }
        .iter()
        .take(5)
        .map(|p| pod_label(p))
        .collect();
        let mut ev = vec![Evidence::spec("spec.unschedulable: true")];
        if let Some(s) = cordoned_for {
            ev.push(Evidence::spec(format!(
                "taint node.kubernetes.io/unschedulable added {} ago",
                human_duration(s)
            )));
        }
        ev.push(Evidence::reference(format!(
            "{} pod(s) still on the node ({} not from DaemonSets or static pods), e.g. {}",
            pods.len(),
            workload.len(),
            shown.join(", ")
        )));
        let since = cordoned_for
            .map(|s| format!(" for {}", human_duration(s)))
            .unwrap_or_default();
        ctx.finding(info, obj_ref(Kind::Node, &node.metadata), "")
            .severity(severity)
            .title(format!(
                "Node {name} is cordoned{since} but still runs {} pod(s) ({} not from DaemonSets)",
                pods.len(),
                workload.len()
            ))
            .message(format!(
                "Node {name} is marked unschedulable, so no new pods land there, yet {} pod(s) still run on it. \
                 Either a drain did not finish (a PodDisruptionBudget or a bare pod can block it) or the node \
                 was cordoned and forgotten, which wastes its capacity.",
                pods.len()
            ))
            .evidences(ev)
            .fix(
                "Finish the maintenance by draining the node, or uncordon it if the maintenance is over.",
                [
                    format!("kubectl get pods -A -o wide --field-selector spec.nodeName={name}"),
                    format!("kubectl drain {name} --ignore-daemonsets --delete-emptydir-data"),
                    format!("kubectl uncordon {name}"),
                ],
            )
            .push(out);
    }
}

/// A pod's effective limit for a resource: max(sum over containers, largest init container),
/// or `None` when no container declares one.
fn pod_limit(p: &Pod, resource: &str) -> Option<f64> {
    let spec = p.spec.as_ref()?;
    let limit = |c: &k8s_openapi::api::core::v1::Container| {
        c.resources
            .as_ref()
            .and_then(|r| r.limits.as_ref())
            .and_then(|l| l.get(resource))
            .and_then(|q| parse_quantity(&q.0))
    };
    let main: Vec<f64> = spec.containers.iter().filter_map(limit).collect();
    let init = spec
        .init_containers
        .iter()
        .flatten()
        .filter_map(limit)
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    let sum = (!main.is_empty()).then(|| main.iter().sum::<f64>());
    match (sum, init) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0.0).max(b.unwrap_or(0.0))),
    }
}

fn fmt_amount(resource: &str, v: f64) -> String {
    if resource == "cpu" {
        if v < 1.0 {
            format!("{:.0}m", v * 1000.0)
        } else {
            format!("{v:.2} cores").replace(".00 ", " ")
        }
    } else {
        const GI: f64 = 1024.0 * 1024.0 * 1024.0;
        if v >= GI {
            format!("{:.1}Gi", v / GI)
        } else {
            format!("{:.0}Mi", v / (1024.0 * 1024.0))
        }
    }
}

fn allocatable(node: &Node, resource: &str) -> Option<f64> {
    let st = node.status.as_ref()?;
    let pick = |m: &Option<BTreeMap<String, Quantity>>| {
        m.as_ref()?.get(resource).and_then(|q| parse_quantity(&q.0))
    };
    pick(&st.allocatable)
        .or_else(|| pick(&st.capacity))
        .filter(|v| *v > 0.0)
}

fn overcommitted(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    for node in ctx.idx.objects.nodes.iter() {
        let name = node_name(node);
        let pods = active_pods(ctx.idx, name);
        for resource in ["memory", "cpu"] {
            let Some(alloc) = allocatable(node, resource) else {
                continue;
            };
            let mut limited: Vec<(&Pod, f64)> = pods
                .iter()
                .filter_map(|p| pod_limit(p, resource).map(|l| (*p, l)))
                .collect();
            if limited.is_empty() {
                continue;
            }
            let total: f64 = limited.iter().map(|(_, l)| l).sum();
            let ratio = total / alloc;
            if ratio <= OVERCOMMIT_RATIO {
                continue;
            }
            limited.sort_by(|a, b| b.1.total_cmp(&a.1));
            let top: Vec<String> = limited
                .iter()
                .take(3)
                .map(|(p, l)| format!("{} ({})", pod_label(p), fmt_amount(resource, *l)))
                .collect();
            let pct = (ratio * 100.0).round();
            let risk = if resource == "memory" {
                "if they use memory up to their limits together, the node runs out: the kernel OOM-kills \
                 containers and the kubelet evicts pods"
            } else {
                "if they are busy together, they are CPU-throttled far below their limits"
            };
            ctx.finding(info, obj_ref(Kind::Node, &node.metadata), resource)
                .title(format!(
                    "Node {name} {resource} limits are {pct}% of allocatable ({} of {})",
                    fmt_amount(resource, total),
                    fmt_amount(resource, alloc)
                ))
                .message(format!(
                    "The {resource} limits of the {} pod(s) on node {name} that declare one add up to {} while the \
                     node can give {}: {risk}. (Containers without a limit are not counted.)",
                    limited.len(),
                    fmt_amount(resource, total),
                    fmt_amount(resource, alloc)
                ))
                .evidence(Evidence::status(format!("status.allocatable.{resource}: {}", fmt_amount(resource, alloc))))
                .evidence(Evidence::spec(format!(
                    "sum of {resource} limits of {} pod(s): {}",
                    limited.len(),
                    fmt_amount(resource, total)
                )))
                .evidence(Evidence::spec(format!("largest limits: {}", top.join(", "))))
                .fix(
                    format!(
                        "Set {resource} limits close to what the pods really use (and requests to match), spread \
                         the largest pods over more nodes, or add capacity."
                    ),
                    [format!("kubectl describe node {name}"), format!("kubectl top node {name}")],
                )
                .push(out);
        }
    }
}

#[cfg(test)]
mod tests;
