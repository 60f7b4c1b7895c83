//! Pods stuck in ContainerCreating: volumes that do not mount or attach, sandboxes that
//! cannot be created.

use k8s_openapi::api::core::v1::{Event, Pod};
use kaptain_index::Kind;
use kaptain_model::{Evidence, Finding, ObjectRef, Severity};

use super::{
    condition, live_pods, node_of, phase, pod_claims, quoted_after, statuses, waiting_reason,
};
use crate::certain::{due, spec_blockers, which};
use crate::check::{CheckInfo, Ctx};
use crate::util::{events_with, human_duration, latest_events, ns_name, pod_ref, ref_to};

/// How long a pod may be creating its containers before that counts as stuck, unless what it
/// waits for is certain not to come.
const CREATING_GRACE_SECS: i64 = 300;

/// What the creating-events say, and which objects that points at.
struct Creating {
    what: String,
    hints: Vec<ObjectRef>,
    fix: String,
    cmds: Vec<String>,
}

fn explain_creating(p: &Pod, events: &[&Event]) -> Creating {
    let (ns, name) = ns_name(&p.metadata);
    let claims = || {
        pod_claims(p)
            .into_iter()
            .map(|c| ref_to(Kind::PersistentVolumeClaim, ns, c))
            .collect::<Vec<_>>()
    };
    let claim_cmds = || {
        pod_claims(p)
            .into_iter()
            .map(|c| format!("kubectl -n {ns} describe pvc {c}"))
            .collect::<Vec<_>>()
    };
    // Newest first: the latest event is the most telling.
    for e in events.iter().rev() {
        let msg = e.message.as_deref().unwrap_or("");
        let reason = e.reason.as_deref().unwrap_or("");
        let vol = quoted_after(msg, "for volume \"")
            .map(|v| format!(" (volume {v})"))
            .unwrap_or_default();
        if msg.contains("not found") {
            for (prefix, kind) in [
                ("configmap \"", Kind::ConfigMap),
                ("secret \"", Kind::Secret),
                ("persistentvolumeclaim \"", Kind::PersistentVolumeClaim),
            ] {
                if let Some(obj) = quoted_after(msg, prefix) {
                    let k = kind.name();
                    return Creating {
                        what: format!("{k} {obj} not found{vol}"),
                        hints: vec![ref_to(kind, ns, obj)],
                        fix: format!(
                            "Create {k} {ns}/{obj}, or fix the volume that references it."
                        ),
                        cmds: vec![format!(
                            "kubectl -n {ns} get {} {obj}",
                            k.to_ascii_lowercase()
                        )],
                    };
                }
            }
        }
        if msg.contains("Multi-Attach") {
            return Creating {
                what: "volume is still attached to another node (Multi-Attach error)".into(),
                hints: claims(),
                fix: "A ReadWriteOnce volume is still attached to another node, usually to an old pod on a failed node: delete that pod (or wait for the attach/detach controller) so the volume can move.".into(),
                cmds: [vec!["kubectl get volumeattachments".to_string()], claim_cmds()].concat(),
            };
        }
        match reason {
            "FailedAttachVolume" => {
                return Creating {
                    what: format!("volume attach fails{vol}"),
                    hints: claims(),
                    fix: "Check the volume's CSI driver/provisioner and the volume's zone against the node's.".into(),
                    cmds: [claim_cmds(), vec!["kubectl get volumeattachments".into()]].concat(),
                };
            }
            "FailedMount" => {
                let unmounted = msg
                    .split("unmounted volumes=[")
                    .nth(1)
                    .and_then(|r| r.split(']').next())
                    .unwrap_or("");
                let named: Vec<&str> = unmounted.split_whitespace().collect();
                let spec_vols = p.spec.as_ref().and_then(|s| s.volumes.as_ref());
                let hints: Vec<ObjectRef> = spec_vols
                    .into_iter()
                    .flatten()
                    .filter(|v| named.is_empty() || named.contains(&v.name.as_str()))
                    .filter_map(|v| v.persistent_volume_claim.as_ref())
                    .map(|c| ref_to(Kind::PersistentVolumeClaim, ns, &c.claim_name))
                    .collect();
                return Creating {
                    what: format!("volume mount fails{}", if named.is_empty() { vol } else { format!(" ({})", named.join(", ")) }),
                    hints,
                    fix: "Fix what the mount error names (a missing object, a volume that cannot attach, an NFS/CSI server that is unreachable).".into(),
                    cmds: [vec![format!("kubectl -n {ns} describe pod {name}")], claim_cmds()].concat(),
                };
            }
            "FailedCreatePodSandBox" => {
                let node = node_of(p).unwrap_or("NODE");
                return Creating {
                    what: "the pod sandbox cannot be created (network/CNI or runtime on the node)"
                        .into(),
                    hints: node_of(p)
                        .map(|n| ref_to(Kind::Node, "", n))
                        .into_iter()
                        .collect(),
                    fix: format!(
                        "Check the CNI plugin and container runtime on node {node} (its network pods, disk, IP pool)."
                    ),
                    cmds: vec![
                        format!("kubectl describe node {node}"),
                        format!(
                            "kubectl -n kube-system get pods -o wide --field-selector spec.nodeName={node}"
                        ),
                    ],
                };
            }
            _ => {}
        }
    }
    Creating {
        what: "no event explains it".into(),
        hints: [
            claims(),
            node_of(p)
                .map(|n| ref_to(Kind::Node, "", n))
                .into_iter()
                .collect(),
        ]
        .concat(),
        fix: "Describe the pod and look at its events and volumes; check the kubelet on the node."
            .into(),
        cmds: vec![format!("kubectl -n {ns} describe pod {name}")],
    }
}

pub(super) fn container_creating(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    for p in live_pods(ctx) {
        if phase(p) != "Pending" || node_of(p).is_none() || p.metadata.deletion_timestamp.is_some()
        {
            continue;
        }
        // Nothing has started yet, and something is waiting to be created.
        let started = statuses(p).any(|(cs, _)| {
            cs.state
                .as_ref()
                .is_some_and(|s| s.running.is_some() || s.terminated.is_some())
                || cs
                    .last_state
                    .as_ref()
                    .is_some_and(|s| s.terminated.is_some())
        });
        let creating = statuses(p)
            .filter(|(cs, _)| {
                matches!(
                    waiting_reason(cs),
                    Some("ContainerCreating" | "PodInitializing")
                )
            })
            .count();
        // Every container waits (with no reason yet, or one of the two above).
        let all_waiting = statuses(p).all(|(cs, _)| {
            cs.state
                .as_ref()
                .and_then(|s| s.waiting.as_ref())
                .is_some_and(|w| {
                    matches!(
                        w.reason.as_deref(),
                        None | Some("ContainerCreating" | "PodInitializing")
                    )
                })
        });
        let events = events_with(
            ctx.idx,
            Kind::Pod,
            &p.metadata,
            &[
                "FailedMount",
                "FailedAttachVolume",
                "FailedCreatePodSandBox",
            ],
        );
        if started || !all_waiting || (creating == 0 && events.is_empty()) {
            continue;
        }
        let since = condition(p, "PodScheduled")
            .filter(|c| c.status == "True")
            .and_then(|c| c.last_transition_time.as_ref())
            .or(p.metadata.creation_timestamp.as_ref())
            .map(|t| ctx.age_secs(t.0));
        let (ns, name) = ns_name(&p.metadata);
        // A volume (or anything else the pod needs) that does not exist is certain now; a
        // slow mount or image pull may still finish within the grace period.
        let certain = p
            .spec
            .as_ref()
            .map(|s| spec_blockers(ctx, ns, s))
            .unwrap_or_default();
        if !due(since, !certain.is_empty(), CREATING_GRACE_SECS) {
            continue;
        }
        let Some(since) = since else { continue };
        let mut why = explain_creating(p, &events);
        let pulling = events_with(ctx.idx, Kind::Pod, &p.metadata, &["Pulling"]);
        let slow_pull = events.is_empty() && !pulling.is_empty();
        if slow_pull {
            why.what = "its image is still being pulled".into();
            why.fix = "A large image or a slow registry: wait, pre-pull the image, or use a smaller image or a closer mirror.".into();
        }
        let mut ev = vec![Evidence::status(format!(
            "containers waiting in ContainerCreating for {} (since scheduled on {})",
            human_duration(since),
            node_of(p).unwrap_or("?")
        ))];
        ev.extend(latest_events(&events, ctx.now, 3));
        ev.push(which(
            &certain,
            "volume mounts and image pulls can be slow",
            CREATING_GRACE_SECS,
        ));
        ev.extend(
            latest_events(&pulling, ctx.now, 1)
                .into_iter()
                .filter(|_| slow_pull),
        );
        let mut f = ctx.finding(info, pod_ref(p), "");
        if slow_pull {
            f = f.severity(Severity::Medium);
        }
        f
            .title(format!("Pod {name} stuck in ContainerCreating for {}: {}", human_duration(since), why.what))
            .message(format!(
                "Pod {ns}/{name} was scheduled {} ago but its containers are still being created ({}): {}.",
                human_duration(since),
                if certain.is_empty() {
                    "more than the 5 minutes image pulls and volume mounts normally take"
                } else {
                    "and cannot be until what it needs exists"
                },
                why.what
            ))
            .evidences(ev)
            .cause_hints(why.hints)
            .fix(why.fix, why.cmds)
            .push(out);
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{event, pod};
    use super::*;
    use crate::testutil::{index, run};

    fn creating(scheduled: &str) -> String {
        pod(
            "api-1",
            &format!(
                r#"  phase: Pending
  conditions:
  - {{type: PodScheduled, status: "True", lastTransitionTime: "{scheduled}"}}
  containerStatuses:
  - {{name: api, image: shop/api:1.0, imageID: "", ready: false, restartCount: 0, state: {{waiting: {{reason: ContainerCreating}}}}}}"#
            ),
        )
    }

    #[test]
    fn container_creating_parses_failed_mount_and_hints_the_configmap() {
        let yaml = creating("2026-01-01T11:40:00Z")
            + &event(
                "api-1",
                "FailedMount",
                "MountVolume.SetUp failed for volume \"config\" : configmap \"app-config\" not found",
                9,
                "2026-01-01T11:58:00Z",
            );
        let f = run("pod.container-creating", &index(&yaml, &[]));
        assert_eq!(f.len(), 1, "{f:#?}");
        assert!(
            f[0].title.contains("20m")
                && f[0]
                    .title
                    .contains("ConfigMap app-config not found (volume config)"),
            "{}",
            f[0].title
        );
        assert_eq!(
            f[0].cause_hints,
            vec![ref_to(Kind::ConfigMap, "shop", "app-config")]
        );
        assert!(
            f[0].evidence
                .iter()
                .any(|e| e.detail.contains("FailedMount (x9"))
        );
    }

    #[test]
    fn container_creating_sandbox_hints_node_and_fresh_pods_are_quiet() {
        let yaml = creating("2026-01-01T11:40:00Z")
            + &event(
                "api-1",
                "FailedCreatePodSandBox",
                "Failed to create pod sandbox: plugin type=\"calico\" failed",
                30,
                "2026-01-01T11:59:00Z",
            );
        let f = run("pod.container-creating", &index(&yaml, &[]));
        assert_eq!(f[0].cause_hints, vec![ref_to(Kind::Node, "", "n1")]);
        assert!(f[0].title.contains("sandbox"), "{}", f[0].title);
        assert!(
            run(
                "pod.container-creating",
                &index(&creating("2026-01-01T11:58:00Z"), &[])
            )
            .is_empty()
        );
    }
}
