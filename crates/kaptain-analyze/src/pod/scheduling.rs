//! Pods the scheduler finds no node for.

use k8s_openapi::api::core::v1::{Container, Pod};
use kaptain_index::Kind;
use kaptain_model::{Evidence, Finding, ObjectRef, Severity};

use super::{
    condition, fmt_cpu, fmt_mem, kubectl_name, live_pods, node_of, parse_quantity, phase, plural,
    pod_claims, tail,
};
use crate::certain::{settled, which};
use crate::check::{CheckInfo, Ctx};
use crate::util::{events_with, human_duration, latest_events, ns_name, pod_ref, ref_to};

/// How long a pod may wait for a node before that counts as a problem, unless it is certain
/// that no node will come.
const SCHED_GRACE_SECS: i64 = 60;

#[derive(Debug, Clone, PartialEq)]
enum Sched {
    Insufficient(String),
    TooManyPods,
    Taint(String),
    NodeSelector,
    UnboundPvc,
    VolumeAffinity,
    PodAffinity,
    Ports,
    Cordoned,
    TopologySpread,
    NoNodes,
    Other(String),
}

impl Sched {
    fn label(&self) -> String {
        match self {
            Sched::Insufficient(r) => format!("insufficient {r}"),
            Sched::TooManyPods => "too many pods".into(),
            Sched::Taint(t) => format!("untolerated taint {t}"),
            Sched::NodeSelector => "node selector/affinity mismatch".into(),
            Sched::UnboundPvc => "unbound PVC".into(),
            Sched::VolumeAffinity => "volume node affinity conflict".into(),
            Sched::PodAffinity => "pod affinity/anti-affinity".into(),
            Sched::Ports => "no free host port".into(),
            Sched::Cordoned => "nodes cordoned".into(),
            Sched::TopologySpread => "topology spread constraints".into(),
            Sched::NoNodes => "no nodes available".into(),
            Sched::Other(t) => t.clone(),
        }
    }
}

fn classify(piece: &str) -> Sched {
    let l = piece.to_ascii_lowercase();
    if let Some(i) = l.find("insufficient ") {
        return Sched::Insufficient(
            piece[i + "insufficient ".len()..]
                .trim_end_matches('.')
                .trim()
                .to_string(),
        );
    }
    if l.contains("taint") {
        let t = piece
            .find('{')
            .and_then(|s| piece[s + 1..].find('}').map(|e| &piece[s + 1..s + 1 + e]))
            .map(|t| t.split(':').next().unwrap_or(t).trim().to_string())
            .unwrap_or_default();
        return Sched::Taint(t);
    }
    match () {
        _ if l.contains("too many pods") => Sched::TooManyPods,
        _ if l.contains("node selector")
            || l.contains("node affinity/selector")
            || l.contains("pod's node affinity") =>
        {
            Sched::NodeSelector
        }
        _ if l.contains("unbound") && l.contains("persistentvolumeclaim") => Sched::UnboundPvc,
        _ if l.contains("persistentvolumeclaim") && l.contains("not found") => Sched::UnboundPvc,
        _ if l.contains("volume node affinity conflict") => Sched::VolumeAffinity,
        _ if l.contains("pod affinity") || l.contains("anti-affinity") => Sched::PodAffinity,
        _ if l.contains("free ports") => Sched::Ports,
        _ if l.contains("were unschedulable") || l.contains("unschedulable:") => Sched::Cordoned,
        _ if l.contains("topology spread") => Sched::TopologySpread,
        _ if l.contains("no nodes available") => Sched::NoNodes,
        _ => Sched::Other(piece.trim().trim_end_matches('.').to_string()),
    }
}

/// Splits a scheduler message into (node count, reason) pieces, e.g.
/// `0/3 nodes are available: 1 node(s) had untolerated taint {a: }, 2 Insufficient memory.`
fn parse_sched(msg: &str) -> Vec<(Option<u32>, Sched)> {
    let body = match msg.find("nodes are available:") {
        Some(i) => &msg[i + "nodes are available:".len()..],
        None => return vec![(None, classify(msg))],
    };
    let body = body
        .split(" preemption:")
        .next()
        .unwrap_or(body)
        .trim()
        .trim_end_matches('.');
    let mut out: Vec<(Option<u32>, Sched)> = Vec::new();
    // Older schedulers write "had taint {k: v}, that the pod didn't tolerate": that comma
    // does not start a new reason.
    let body = body.replace(
        ", that the pod didn't tolerate",
        " that the pod didn't tolerate",
    );
    for piece in body.split(", ") {
        let piece = piece.trim();
        let (n, text) = match piece.split_once(' ') {
            Some((n, rest)) if n.parse::<u32>().is_ok() => (n.parse::<u32>().ok(), rest),
            _ => (None, piece),
        };
        let s = classify(text);
        if !out.iter().any(|(_, o)| *o == s) {
            out.push((n, s));
        }
    }
    out
}

/// A container's request of one resource, in base units.
fn request(c: &Container, res: &str) -> f64 {
    c.resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get(res))
        .and_then(|q| parse_quantity(&q.0))
        .unwrap_or(0.0)
}

/// The pod's effective request of a resource, as the scheduler counts it.
fn pod_request(p: &Pod, res: &str) -> f64 {
    let Some(spec) = p.spec.as_ref() else {
        return 0.0;
    };
    let inits = spec.init_containers.iter().flatten();
    let sidecars: f64 = inits
        .clone()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"))
        .map(|c| request(c, res))
        .sum();
    let main: f64 = spec.containers.iter().map(|c| request(c, res)).sum::<f64>() + sidecars;
    let init_max = inits
        .filter(|c| c.restart_policy.as_deref() != Some("Always"))
        .map(|c| request(c, res))
        .fold(0.0, f64::max);
    let overhead = spec
        .overhead
        .as_ref()
        .and_then(|o| o.get(res))
        .and_then(|q| parse_quantity(&q.0))
        .unwrap_or(0.0);
    main.max(init_max) + overhead
}

/// (largest allocatable with its node, largest free with its node) for one resource.
fn node_capacity(ctx: &Ctx, res: &str) -> Option<((f64, String), (f64, String))> {
    let mut best_alloc: Option<(f64, String)> = None;
    let mut best_free: Option<(f64, String)> = None;
    for n in ctx.idx.objects.nodes.iter() {
        let name = n.metadata.name.clone().unwrap_or_default();
        let Some(alloc) = n
            .status
            .as_ref()
            .and_then(|s| s.allocatable.as_ref())
            .and_then(|a| a.get(res))
            .and_then(|q| parse_quantity(&q.0))
        else {
            continue;
        };
        let used: f64 = ctx
            .idx
            .pods_on_node(&name)
            .into_iter()
            .filter(|p| !matches!(phase(p), "Succeeded" | "Failed"))
            .map(|p| pod_request(p, res))
            .sum();
        if best_alloc.as_ref().is_none_or(|b| alloc > b.0) {
            best_alloc = Some((alloc, name.clone()));
        }
        if best_free.as_ref().is_none_or(|b| alloc - used > b.0) {
            best_free = Some(((alloc - used).max(0.0), name));
        }
    }
    Some((best_alloc?, best_free?))
}

fn fmt_res(res: &str, v: f64) -> String {
    match res {
        "cpu" => fmt_cpu(v),
        "memory" | "ephemeral-storage" => fmt_mem(v),
        _ => format!("{v}"),
    }
}

pub(super) fn unschedulable(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    for p in live_pods(ctx) {
        if phase(p) != "Pending" || node_of(p).is_some() || p.metadata.deletion_timestamp.is_some()
        {
            continue;
        }
        let (ns, name) = ns_name(&p.metadata);
        let cond = condition(p, "PodScheduled")
            .filter(|c| c.status == "False" && c.reason.as_deref() == Some("Unschedulable"));
        let events = events_with(ctx.idx, Kind::Pod, &p.metadata, &["FailedScheduling"]);
        let pod_age = p
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| ctx.age_secs(t.0));
        let since = cond
            .and_then(|c| c.last_transition_time.as_ref())
            .map(|t| ctx.age_secs(t.0))
            .or(pod_age);
        let stuck = (cond.is_some() && since.is_some_and(|a| a >= SCHED_GRACE_SECS))
            || (!events.is_empty() && pod_age.is_some_and(|a| a >= SCHED_GRACE_SECS));
        // Not yet past the grace period: only what is certain now is reported (below).
        let reported_yet = cond.is_some() || !events.is_empty();
        if !reported_yet {
            continue;
        }
        let msg = cond
            .and_then(|c| c.message.as_deref())
            .or_else(|| events.last().and_then(|e| e.message.as_deref()))
            .unwrap_or("")
            .trim()
            .to_string();
        let reasons = if msg.is_empty() {
            Vec::new()
        } else {
            parse_sched(&msg)
        };
        let labels: Vec<String> = reasons
            .iter()
            .take(3)
            .map(|(n, s)| match n {
                Some(n) => format!("{} on {}", s.label(), plural(*n as usize, "node")),
                None => s.label(),
            })
            .collect();
        let age = since
            .map(|a| format!(" for {}", human_duration(a)))
            .unwrap_or_default();
        let mut ev = vec![Evidence::status(format!(
            "PodScheduled=False (Unschedulable){age}{}",
            if msg.is_empty() {
                String::new()
            } else {
                format!(": {}", tail(&msg, 400))
            }
        ))];
        let scale = events_with(
            ctx.idx,
            Kind::Pod,
            &p.metadata,
            &["TriggeredScaleUp", "NotTriggerScaleUp"],
        );
        ev.extend(latest_events(&events, ctx.now, 1));
        ev.extend(latest_events(&scale, ctx.now, 1));
        let mut hints: Vec<ObjectRef> = Vec::new();
        let mut fixes: Vec<String> = Vec::new();
        let mut cmds: Vec<String> = Vec::new();
        let wl = ctx.idx.workload_of_pod(p);
        // Set when the pod requests more than any node has: then no taint or node state is
        // the cause, the request is.
        let mut fits_nowhere = false;
        for (_, s) in &reasons {
            match s {
                Sched::Insufficient(res) => {
                    let want = pod_request(p, res);
                    let mut line = format!("pod requests {res} {}", fmt_res(res, want));
                    let mut too_big = false;
                    let cap = ctx
                        .idx
                        .has(Kind::Node)
                        .then(|| node_capacity(ctx, res))
                        .flatten();
                    if let Some(((alloc, an), (free, fname))) = cap {
                        line.push_str(&format!(
                                "; largest node allocatable {} (node {an}); most free {} (node {fname})",
                                fmt_res(res, alloc),
                                fmt_res(res, free)
                            ));
                        if want > alloc {
                            too_big = true;
                            fits_nowhere = true;
                            fixes.push(format!("No node can ever fit this pod: it requests more {res} than the largest node has allocatable. Lower the request or add bigger nodes."));
                        }
                    }
                    ev.push(Evidence::spec(line));
                    if !too_big {
                        fixes.push(format!(
                            "Free {res} on the nodes, lower the pod's {res} request, or add nodes."
                        ));
                    }
                    cmds.push("kubectl describe nodes | grep -A 8 'Allocated resources'".into());
                    if wl.kind != Kind::Pod {
                        cmds.push(format!(
                            "kubectl -n {ns} set resources {} -c CONTAINER --requests={res}=VALUE",
                            kubectl_name(&wl)
                        ));
                    }
                }
                Sched::Taint(key) => {
                    // Only the taints Kubernetes sets for node conditions (not-ready,
                    // unreachable, memory-pressure, ...) point at a node problem; a taint
                    // someone put on purpose (gpu=true) is configuration, not a cause.
                    let condition_taint = key.starts_with("node.kubernetes.io/");
                    for n in ctx.idx.objects.nodes.iter().filter(|_| condition_taint) {
                        if n.spec
                            .as_ref()
                            .and_then(|s| s.taints.as_ref())
                            .is_some_and(|ts| ts.iter().any(|t| &t.key == key))
                        {
                            hints.push(ref_to(
                                Kind::Node,
                                "",
                                n.metadata.name.as_deref().unwrap_or(""),
                            ));
                        }
                    }
                    fixes.push(format!("Fix the nodes tainted {key} (a node.kubernetes.io/* taint means the node is unhealthy), or add a toleration for it to the pod template."));
                    cmds.push("kubectl get nodes -o custom-columns=NAME:.metadata.name,TAINTS:.spec.taints".into());
                }
                Sched::NodeSelector => {
                    if let Some(sel) = p.spec.as_ref().and_then(|s| s.node_selector.as_ref()) {
                        let sel: Vec<String> =
                            sel.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        ev.push(Evidence::spec(format!("nodeSelector: {}", sel.join(", "))));
                    }
                    fixes.push("No node carries the labels the pod's nodeSelector/nodeAffinity asks for: fix the selector or label a node.".into());
                    cmds.push("kubectl get nodes --show-labels".into());
                    cmds.push(format!("kubectl -n {ns} get pod {name} -o jsonpath='{{.spec.nodeSelector}} {{.spec.affinity.nodeAffinity}}'"));
                }
                Sched::UnboundPvc | Sched::VolumeAffinity => {
                    for c in pod_claims(p) {
                        hints.push(ref_to(Kind::PersistentVolumeClaim, ns, c));
                        let state = ctx.idx.objects.pvcs.get(ns, c).map(|pvc| {
                            let ph = pvc
                                .status
                                .as_ref()
                                .and_then(|s| s.phase.as_deref())
                                .unwrap_or("unknown");
                            let sc = pvc
                                .spec
                                .as_ref()
                                .and_then(|s| s.storage_class_name.as_deref())
                                .unwrap_or("default");
                            format!("phase {ph}, storageClass {sc}")
                        });
                        ev.push(Evidence::reference(format!(
                            "pod mounts PVC {c}{}",
                            state
                                .map(|s| format!(" ({s})"))
                                .or_else(|| ctx
                                    .idx
                                    .has(Kind::PersistentVolumeClaim)
                                    .then(|| " (does not exist)".into()))
                                .unwrap_or_default()
                        )));
                        cmds.push(format!("kubectl -n {ns} describe pvc {c}"));
                    }
                    fixes.push("Make the pod's PersistentVolumeClaims bindable (a working StorageClass/provisioner, a matching PV, a zone with nodes).".into());
                }
                Sched::Cordoned => {
                    for n in ctx.idx.objects.nodes.iter() {
                        if n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
                            hints.push(ref_to(
                                Kind::Node,
                                "",
                                n.metadata.name.as_deref().unwrap_or(""),
                            ));
                        }
                    }
                    fixes.push("Uncordon the nodes once their maintenance is over.".into());
                    cmds.push("kubectl uncordon NODE".into());
                }
                _ => {}
            }
        }
        if fixes.is_empty() {
            fixes.push(
                "Read the scheduler's message and relax the constraint that no node satisfies."
                    .into(),
            );
        }
        cmds.push(format!("kubectl -n {ns} describe pod {name}"));
        cmds.dedup();
        hints.sort();
        hints.dedup();
        let scaling_up = scale
            .last()
            .is_some_and(|e| e.reason.as_deref() == Some("TriggeredScaleUp"));
        // Certain now: no node can ever hold the pod and no scale-up is under way, or a
        // claim it mounts does not exist. Anything else may resolve (a node frees up, joins,
        // or is added by a scale-up).
        let mut certain: Vec<String> = Vec::new();
        if fits_nowhere && !scaling_up {
            certain.push(
                "the pod requests more than the largest node's allocatable and no scale-up was triggered"
                    .into(),
            );
        }
        if ctx.idx.has(Kind::PersistentVolumeClaim) {
            certain.extend(
                pod_claims(p)
                    .into_iter()
                    .filter(|c| !ctx.idx.exists(Kind::PersistentVolumeClaim, ns, c))
                    .map(|c| format!("PersistentVolumeClaim {ns}/{c} does not exist")),
            );
        }
        if !stuck && (certain.is_empty() || !settled(pod_age)) {
            continue;
        }
        ev.push(which(
            &certain,
            "a node may free up, join, or be added by a scale-up",
            SCHED_GRACE_SECS,
        ));
        let mut f = ctx.finding(info, pod_ref(p), "");
        if scaling_up {
            f = f.severity(Severity::Medium);
        }
        let what = if labels.is_empty() {
            "no node fits it".to_string()
        } else {
            labels.join("; ")
        };
        f.title(format!("Pod {name} cannot be scheduled{age}: {what}"))
            .message(format!(
                "Pod {ns}/{name} has been Pending{age} because the scheduler finds no node that fits it{}.{}",
                if msg.is_empty() { String::new() } else { format!(" (\"{}\")", tail(&msg, 300)) },
                if scaling_up { " The cluster autoscaler has triggered a scale-up, which may resolve it." } else { "" }
            ))
            .evidences(ev)
            .cause_hints(if fits_nowhere {
                hints.into_iter().filter(|h| h.kind != "Node").collect()
            } else {
                hints
            })
            .fix(fixes.join(" "), cmds)
            .push(out);
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::pod;
    use super::*;
    use crate::testutil::{index, run};

    fn pending(message: &str, since: &str) -> String {
        pod(
            "web-1",
            &format!(
                "  phase: Pending\n  conditions:\n  - {{type: PodScheduled, status: \"False\", reason: Unschedulable, lastTransitionTime: \"{since}\", message: '{message}'}}"
            ),
        )
        .replace("  nodeName: n1\n", "")
    }

    const NODE: &str = r#"
---
apiVersion: v1
kind: Node
metadata: {name: n1}
spec:
  taints:
  - {key: node.kubernetes.io/not-ready, effect: NoSchedule}
status:
  allocatable: {cpu: "4", memory: 8Gi, pods: "110"}
  conditions:
  - {type: Ready, status: "False"}
"#;

    #[test]
    fn scheduler_messages_are_classified() {
        let m = "0/5 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/5 nodes are available: 5 No preemption victims found for incoming pod.";
        let r = parse_sched(m);
        assert_eq!(
            r,
            vec![
                (
                    Some(1),
                    Sched::Taint("node-role.kubernetes.io/control-plane".into())
                ),
                (Some(2), Sched::Insufficient("cpu".into())),
                (Some(2), Sched::NodeSelector),
            ]
        );
        assert_eq!(
            parse_sched("pod has unbound immediate PersistentVolumeClaims"),
            vec![(None, Sched::UnboundPvc)]
        );
    }

    #[test]
    fn insufficient_memory_compares_requests_with_largest_node() {
        let yaml = pending(
            "0/3 nodes are available: 3 Insufficient memory.",
            "2026-01-01T11:50:00Z",
        )
        .replace(
            "requests: {cpu: 500m, memory: 256Mi}",
            "requests: {cpu: 500m, memory: 16Gi}",
        )
        .replace("limits: {memory: 256Mi}", "limits: {memory: 16Gi}")
            + NODE;
        let f = run("pod.unschedulable", &index(&yaml, &[]));
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].category, kaptain_model::Category::Scheduling);
        assert!(
            f[0].title.contains("insufficient memory on 3 nodes"),
            "{}",
            f[0].title
        );
        assert!(
            f[0].evidence.iter().any(|e| e
                .detail
                .contains("requests memory 16Gi; largest node allocatable 8Gi (node n1)")),
            "{:#?}",
            f[0].evidence
        );
        assert!(f[0].remediation.summary.contains("No node can ever fit"));
    }

    #[test]
    fn taint_hints_tainted_nodes_and_unbound_pvc_hints_claims() {
        let yaml = pending(
            "0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }.",
            "2026-01-01T11:50:00Z",
        ) + NODE;
        let f = run("pod.unschedulable", &index(&yaml, &[]));
        assert!(
            f[0].title
                .contains("untolerated taint node.kubernetes.io/not-ready"),
            "{}",
            f[0].title
        );
        assert_eq!(f[0].cause_hints, vec![ref_to(Kind::Node, "", "n1")]);

        let pvc = pending("0/3 nodes are available: 3 pod has unbound immediate PersistentVolumeClaims.", "2026-01-01T11:50:00Z")
            .replace("status:\n  phase", "  volumes:\n  - {name: data, persistentVolumeClaim: {claimName: data-web-1}}\nstatus:\n  phase");
        let f = run("pod.unschedulable", &index(&pvc, &[]));
        assert!(f[0].title.contains("unbound PVC"), "{}", f[0].title);
        assert_eq!(
            f[0].cause_hints,
            vec![ref_to(Kind::PersistentVolumeClaim, "shop", "data-web-1")]
        );
    }

    #[test]
    fn fresh_or_scheduled_pods_are_not_unschedulable() {
        let fresh = pending(
            "0/3 nodes are available: 3 Insufficient memory.",
            "2026-01-01T11:59:30Z",
        )
        .replace("2026-01-01T11:00:00Z", "2026-01-01T11:59:30Z");
        assert!(run("pod.unschedulable", &index(&fresh, &[])).is_empty());
        let running = pod("web-1", "  phase: Running");
        assert!(run("pod.unschedulable", &index(&running, &[])).is_empty());
    }
}
