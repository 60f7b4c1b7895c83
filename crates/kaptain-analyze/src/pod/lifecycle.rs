//! Pod-level lifecycle problems: eviction, pods stuck terminating, pods not Ready for no
//! visible reason, and failed pods.

use kaptain_index::Kind;
use kaptain_model::{Evidence, Finding};

use super::{
    condition, current_terminated, exit_desc, live_pods, node_not_ready, node_of, owner_kind,
    phase, statuses, tail, waiting_reason,
};
use crate::check::{CheckInfo, Ctx};
use crate::util::{events_with, human_duration, ns_name, pod_ref, ref_to};

pub(super) fn evicted(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    for p in live_pods(ctx) {
        let st = p.status.as_ref();
        if phase(p) != "Failed" || st.and_then(|s| s.reason.as_deref()) != Some("Evicted") {
            continue;
        }
        let (ns, name) = ns_name(&p.metadata);
        let msg = st.and_then(|s| s.message.as_deref()).unwrap_or("").trim();
        let node = node_of(p);
        let on = node.map(|n| format!(" from node {n}")).unwrap_or_default();
        let mut cmds = vec![
            format!("kubectl -n {ns} delete pod {name}"),
            format!(
                "kubectl -n {ns} delete pod --field-selector=status.phase=Failed   # every failed pod of the namespace"
            ),
        ];
        cmds.extend(node.map(|n| format!("kubectl describe node {n}")));
        ctx.finding(info, pod_ref(p), "")
            .title(format!("Pod {name} was evicted{on}: {}", if msg.is_empty() { "no reason given".into() } else { tail(msg, 120) }))
            .message(format!(
                "The kubelet evicted pod {ns}/{name}{on} to reclaim a resource the node ran short of{}. Its controller \
                 (if any) has started a replacement; the evicted pod stays as a Failed record until deleted.",
                if msg.is_empty() { String::new() } else { format!(" (\"{}\")", tail(msg, 300)) }
            ))
            .evidence(Evidence::status(format!("status.phase=Failed, status.reason=Evicted{}", if msg.is_empty() { String::new() } else { format!(", status.message: {}", tail(msg, 300)) })))
            .cause_hints(node.map(|n| ref_to(Kind::Node, "", n)))
            .fix(
                "Delete the evicted pods, and fix the node pressure: set accurate requests/limits so the scheduler does not overcommit the node, or add capacity.",
                cmds,
            )
            .push(out);
    }
}

pub(super) fn stuck_terminating(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    for p in live_pods(ctx) {
        let Some(dt) = &p.metadata.deletion_timestamp else {
            continue;
        };
        let grace = p
            .metadata
            .deletion_grace_period_seconds
            .unwrap_or(30)
            .max(0);
        let age = ctx.age_secs(dt.0);
        if age <= grace + 300 {
            continue;
        }
        let (ns, name) = ns_name(&p.metadata);
        let finalizers = p.metadata.finalizers.clone().unwrap_or_default();
        let node = node_of(p);
        let node_down = node.and_then(|n| node_not_ready(ctx, n)) == Some(true);
        let mut why = Vec::new();
        if !finalizers.is_empty() {
            why.push(format!("finalizers {}", finalizers.join(", ")));
        }
        if let (Some(n), true) = (node, node_down) {
            why.push(format!("its node {n} is NotReady"));
        }
        let mut ev = vec![Evidence::status(format!(
            "metadata.deletionTimestamp {} ago (grace period {grace}s)",
            human_duration(age)
        ))];
        if !finalizers.is_empty() {
            ev.push(Evidence::status(format!(
                "metadata.finalizers: {}",
                finalizers.join(", ")
            )));
        }
        if let (Some(n), true) = (node, node_down) {
            ev.push(Evidence::reference(format!("node {n} is NotReady")));
        }
        let mut cmds = Vec::new();
        if !finalizers.is_empty() {
            cmds.push(format!("kubectl -n {ns} patch pod {name} --type merge -p '{{\"metadata\":{{\"finalizers\":null}}}}'"));
        }
        cmds.push(format!(
            "kubectl -n {ns} delete pod {name} --grace-period=0 --force"
        ));
        let caution = if owner_kind(p) == Some("StatefulSet") {
            " Caution: this is a StatefulSet pod; force-deleting it while its node may still run it can start two copies with the same identity and storage. Make sure the node is really down first."
        } else {
            " Caution: force deletion removes the API object without confirmation that the containers stopped."
        };
        ctx.finding(info, pod_ref(p), "")
            .title(format!(
                "Pod {name} stuck Terminating for {}{}",
                human_duration(age + grace),
                if why.is_empty() { String::new() } else { format!(": {}", why.join("; ")) }
            ))
            .message(format!(
                "Pod {ns}/{name} was deleted {} ago but still exists, long past its {grace}s grace period. {}",
                human_duration(age + grace),
                match (finalizers.is_empty(), node_down) {
                    (false, _) => "Its finalizers have not been removed by the controllers that own them.",
                    (true, true) => "Its node is NotReady, so no kubelet confirms the containers stopped.",
                    (true, false) => "The kubelet has not confirmed the containers stopped (a hung container runtime or volume unmount).",
                }
            ))
            .evidences(ev)
            .cause_hints(node.map(|n| ref_to(Kind::Node, "", n)))
            .fix(
                format!(
                    "{} force-delete the pod.{caution}",
                    if finalizers.is_empty() {
                        "Bring the node back (or remove it from the cluster); otherwise"
                    } else {
                        "Fix the controller that owns the finalizers; otherwise remove the finalizers or"
                    }
                ),
                cmds,
            )
            .push(out);
    }
}

pub(super) fn not_ready(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    for p in live_pods(ctx) {
        if phase(p) != "Running" || p.metadata.deletion_timestamp.is_some() {
            continue;
        }
        if ctx.explained.is_some_and(|e| e.contains(&pod_ref(p))) {
            continue;
        }
        let Some(ready) = condition(p, "Ready").filter(|c| c.status != "True") else {
            continue;
        };
        let since = ready
            .last_transition_time
            .as_ref()
            .or(p.metadata.creation_timestamp.as_ref())
            .map(|t| ctx.age_secs(t.0));
        let Some(since) = since.filter(|s| *s > 300) else {
            continue;
        };
        // Conservative: anything another check explains (waiting, exited, probe failures) is theirs.
        let other = statuses(p).any(|(cs, init)| {
            !init && (waiting_reason(cs).is_some() || current_terminated(cs).is_some())
        });
        if other || !events_with(ctx.idx, Kind::Pod, &p.metadata, &["Unhealthy"]).is_empty() {
            continue;
        }
        let (ns, name) = ns_name(&p.metadata);
        let node = node_of(p);
        let node_down = node.and_then(|n| node_not_ready(ctx, n)) == Some(true);
        let gates: Vec<&str> = p
            .spec
            .as_ref()
            .and_then(|s| s.readiness_gates.as_ref())
            .into_iter()
            .flatten()
            .map(|g| g.condition_type.as_str())
            .filter(|t| condition(p, t).is_none_or(|c| c.status != "True"))
            .collect();
        let unready: Vec<&str> = statuses(p)
            .filter(|(cs, init)| !init && !cs.ready)
            .map(|(cs, _)| cs.name.as_str())
            .collect();
        let mut ev = vec![Evidence::status(format!(
            "condition Ready=False for {}{}{}",
            human_duration(since),
            ready
                .reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default(),
            ready
                .message
                .as_deref()
                .map(|m| format!(": {}", tail(m, 200)))
                .unwrap_or_default()
        ))];
        let mut cmds = vec![format!("kubectl -n {ns} describe pod {name}")];
        let why = if let (Some(n), true) = (node, node_down) {
            ev.push(Evidence::reference(format!("node {n} is NotReady")));
            cmds.push(format!("kubectl describe node {n}"));
            format!("its node {n} is NotReady")
        } else if !gates.is_empty() {
            ev.push(Evidence::spec(format!(
                "readinessGates not True: {}",
                gates.join(", ")
            )));
            cmds.push(format!(
                "kubectl -n {ns} get pod {name} -o jsonpath='{{.status.conditions}}'"
            ));
            format!("readiness gate {} is not satisfied", gates.join(", "))
        } else if !unready.is_empty() {
            format!(
                "container {} not ready, with no probe failure recorded",
                unready.join(", ")
            )
        } else {
            "no cause recorded".into()
        };
        ctx.finding(info, pod_ref(p), "")
            .title(format!("Pod {name} not Ready for {}: {why}", human_duration(since)))
            .message(format!(
                "Pod {ns}/{name} is Running but has not been Ready for {} (more than 5 minutes): {why}. Services do not \
                 send it traffic. No crash loop or probe failure events were found for it.",
                human_duration(since)
            ))
            .evidences(ev)
            .cause_hints(node.map(|n| ref_to(Kind::Node, "", n)))
            .fix("Find out why the pod is not Ready: its node's health, its readiness gates, or its containers' readiness.", cmds)
            .push(out);
    }
}

pub(super) fn failed(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    for p in live_pods(ctx) {
        let st = p.status.as_ref();
        let reason = st
            .and_then(|s| s.reason.as_deref())
            .filter(|r| !r.is_empty());
        let msg = st
            .and_then(|s| s.message.as_deref())
            .map(str::trim)
            .filter(|m| !m.is_empty());
        // Evictions are pod.evicted's; Job pods are the job analyzers'.
        if phase(p) != "Failed" || reason == Some("Evicted") || owner_kind(p) == Some("Job") {
            continue;
        }
        let bare = owner_kind(p).is_none();
        if !bare && reason.is_none() && msg.is_none() {
            continue;
        }
        let (ns, name) = ns_name(&p.metadata);
        let exits: Vec<(String, String)> = statuses(p)
            .filter_map(|(cs, _)| {
                current_terminated(cs)
                    .filter(|t| t.exit_code != 0)
                    .map(|t| (cs.name.clone(), exit_desc(t)))
            })
            .collect();
        let what = match (reason, &exits.first()) {
            (Some(r), _) => format!(
                "{r}{}",
                msg.map(|m| format!(": {}", tail(m, 120)))
                    .unwrap_or_default()
            ),
            (None, Some((c, e))) => format!("container {c} exited with {e}"),
            (None, None) => msg
                .map(|m| tail(m, 120))
                .unwrap_or_else(|| "no reason recorded".into()),
        };
        let mut ev = vec![Evidence::status(format!(
            "status.phase=Failed{}{}",
            reason.map(|r| format!(", reason {r}")).unwrap_or_default(),
            msg.map(|m| format!(", message: {}", tail(m, 300)))
                .unwrap_or_default()
        ))];
        ev.extend(
            exits
                .iter()
                .map(|(c, e)| Evidence::status(format!("container {c} terminated: {e}"))),
        );
        // A status reason is set by the kubelet/node (admission, shutdown, node lost), not the app.
        let node = node_of(p).filter(|_| reason.is_some());
        let mut cmds = Vec::new();
        if let Some((c, _)) = exits.first() {
            cmds.push(format!("kubectl -n {ns} logs {name} -c {c}"));
        }
        cmds.push(format!("kubectl -n {ns} describe pod {name}"));
        cmds.extend(node.map(|n| format!("kubectl describe node {n}")));
        let fix = if bare {
            "No controller re-creates a bare pod: fix the cause, then re-create it (better: run it under a Deployment or Job)."
        } else {
            cmds.push(format!("kubectl -n {ns} delete pod {name}"));
            "Its controller has replaced it; fix the cause, then delete the failed pod."
        };
        ctx.finding(info, pod_ref(p), "")
            .title(format!("Pod {name} failed: {what}"))
            .message(format!(
                "Pod {ns}/{name} is in phase Failed ({what}); its containers will not be restarted.{}",
                if bare { " It is a bare pod, so nothing replaces it." } else { "" }
            ))
            .evidences(ev)
            .cause_hints(node.map(|n| ref_to(Kind::Node, "", n)))
            .fix(fix, cmds)
            .push(out);
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{event, pod, running};
    use super::*;
    use crate::testutil::{index, run};

    const NOT_READY_NODE: &str = r#"
---
apiVersion: v1
kind: Node
metadata: {name: n1}
status:
  conditions:
  - {type: Ready, status: Unknown, reason: NodeStatusUnknown}
"#;

    #[test]
    fn evicted_pod_hints_its_node() {
        let yaml = pod(
            "api-1",
            "  phase: Failed\n  reason: Evicted\n  message: 'The node was low on resource: memory. Container api was using 1Gi, which exceeds its request of 256Mi.'",
        );
        let f = run("pod.evicted", &index(&yaml, &[]));
        assert_eq!(f.len(), 1, "{f:#?}");
        assert!(
            f[0].title
                .contains("evicted from node n1: The node was low on resource: memory."),
            "{}",
            f[0].title
        );
        assert_eq!(f[0].cause_hints, vec![ref_to(Kind::Node, "", "n1")]);
        assert!(
            run("pod.failed", &index(&yaml, &[])).is_empty(),
            "evictions are not pod.failed"
        );
        assert!(
            run(
                "pod.evicted",
                &index(&running("2026-01-01T11:00:00Z", 0), &[])
            )
            .is_empty()
        );
    }

    fn deleting(at: &str) -> String {
        running("2026-01-01T11:00:00Z", 0).replace(
            "  creationTimestamp:",
            &format!("  deletionTimestamp: \"{at}\"\n  deletionGracePeriodSeconds: 30\n  finalizers: [example.com/block]\n  creationTimestamp:"),
        )
    }

    #[test]
    fn stuck_terminating_mentions_finalizers_and_not_ready_node() {
        let f = run(
            "pod.stuck-terminating",
            &index(&(deleting("2026-01-01T11:30:00Z") + NOT_READY_NODE), &[]),
        );
        assert_eq!(f.len(), 1, "{f:#?}");
        assert!(
            f[0].title.contains("finalizers example.com/block")
                && f[0].title.contains("node n1 is NotReady"),
            "{}",
            f[0].title
        );
        assert_eq!(f[0].cause_hints, vec![ref_to(Kind::Node, "", "n1")]);
        assert!(
            f[0].remediation
                .commands
                .iter()
                .any(|c| c.contains("--grace-period=0 --force"))
        );
        assert!(
            run(
                "pod.stuck-terminating",
                &index(&deleting("2026-01-01T11:58:00Z"), &[])
            )
            .is_empty()
        );
    }

    #[test]
    fn not_ready_on_a_not_ready_node() {
        let f = run(
            "pod.not-ready",
            &index(&(running("2026-01-01T11:30:00Z", 0) + NOT_READY_NODE), &[]),
        );
        assert_eq!(f.len(), 1, "{f:#?}");
        assert!(
            f[0].title.contains("30m") && f[0].title.contains("node n1 is NotReady"),
            "{}",
            f[0].title
        );
        assert_eq!(f[0].cause_hints, vec![ref_to(Kind::Node, "", "n1")]);
        // Probe failures explain it (pod.readiness-probe-failing), and fresh pods are left alone.
        let probed = running("2026-01-01T11:30:00Z", 0)
            + &event(
                "api-1",
                "Unhealthy",
                "Readiness probe failed: 503",
                5,
                "2026-01-01T11:59:00Z",
            );
        assert!(run("pod.not-ready", &index(&probed, &[])).is_empty());
        assert!(
            run(
                "pod.not-ready",
                &index(&running("2026-01-01T11:58:00Z", 0), &[])
            )
            .is_empty()
        );
    }

    #[test]
    fn failed_bare_pod_but_not_job_or_silent_owned_pods() {
        let st = "  phase: Failed\n  containerStatuses:\n  - {name: api, image: x, imageID: \"\", ready: false, restartCount: 0, state: {terminated: {exitCode: 1, reason: Error}}}";
        let owner = "  ownerReferences:\n  - {apiVersion: apps/v1, kind: ReplicaSet, name: api-7d9c, uid: u1, controller: true}\n";
        let bare = pod("api-1", st).replace(owner, "");
        let f = run("pod.failed", &index(&bare, &[]));
        assert_eq!(f.len(), 1, "{f:#?}");
        assert!(
            f[0].title
                .contains("container api exited with exit code 1 (Error)"),
            "{}",
            f[0].title
        );
        assert!(
            f[0].cause_hints.is_empty(),
            "an application failure does not point at the node"
        );
        let job =
            pod("api-1", st).replace("kind: ReplicaSet, name: api-7d9c", "kind: Job, name: batch");
        assert!(run("pod.failed", &index(&job, &[])).is_empty());
        assert!(run("pod.failed", &index(&pod("api-1", st), &[])).is_empty());
    }
}
