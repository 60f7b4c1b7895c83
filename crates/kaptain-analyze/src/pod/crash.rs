//! Containers that exit: crash loops, OOM kills, failing init containers, flapping restarts.

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use kaptain_index::Kind;
use kaptain_model::{Evidence, Finding, Severity};
use serde_json::json;

use super::{
    PULL_REASONS, container_events, container_spec, current_terminated, exit_desc, exit_hint,
    fmt_mem, is_sidecar, kubectl_name, last_terminated, live_pods, node_of, owner_kind,
    parse_quantity, phase, status_path, statuses, tail, waiting_message, waiting_reason,
};
use crate::check::{CheckInfo, Ctx};
use crate::util::{human_duration, latest_events, ns_name, pod_ref, ref_to};

/// Evidence for the last (or current) termination of a container, with its message tail.
fn termination_evidence(ctx: &Ctx, cs: &ContainerStatus, init: bool) -> Vec<Evidence> {
    let mut out = Vec::new();
    let (field, t) = match (current_terminated(cs), last_terminated(cs)) {
        (Some(t), _) => ("state", t),
        (None, Some(t)) => ("lastState", t),
        (None, None) => return out,
    };
    let when = t
        .finished_at
        .as_ref()
        .map(|f| format!(", finished {} ago", human_duration(ctx.age_secs(f.0))))
        .unwrap_or_default();
    let ran = match (&t.started_at, &t.finished_at) {
        (Some(s), Some(f)) => format!(
            " after running {}",
            human_duration(f.0.as_second() - s.0.as_second())
        ),
        _ => String::new(),
    };
    out.push(Evidence::status(format!(
        "{}.{field}.terminated: {}{ran}{when}",
        status_path(cs, init),
        exit_desc(t)
    )));
    if let Some(m) = t.message.as_deref().filter(|m| !m.trim().is_empty()) {
        out.push(Evidence::status(format!(
            "{}.{field}.terminated.message: {}",
            status_path(cs, init),
            tail(m, 400)
        )));
    }
    out
}

/// `kubectl logs` for a container, `--previous` when it has restarted.
fn logs_cmd(ns: &str, pod: &str, cs: &ContainerStatus) -> String {
    let prev = if cs.restart_count > 0 {
        " --previous"
    } else {
        ""
    };
    format!("kubectl -n {ns} logs {pod} -c {}{prev}", cs.name)
}

pub(super) fn crash_loop(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    for p in live_pods(ctx) {
        let (ns, name) = ns_name(&p.metadata);
        for (cs, init) in statuses(p) {
            // Init containers (but sidecars) are pod.init-container-failed's; OOM kills are
            // pod.oom-killed's.
            if (init && !is_sidecar(p, &cs.name)) || waiting_reason(cs) != Some("CrashLoopBackOff")
            {
                continue;
            }
            let last = last_terminated(cs);
            if last.and_then(|t| t.reason.as_deref()) == Some("OOMKilled") {
                continue;
            }
            let c = &cs.name;
            let exit = last
                .map(|t| format!(": {}", exit_desc(t)))
                .unwrap_or_default();
            let hint = last
                .and_then(|t| exit_hint(t.exit_code))
                .map(|h| format!(" {h}"))
                .unwrap_or_default();
            let events: Vec<_> = container_events(ctx, p, &["BackOff"], c)
                .into_iter()
                .filter(|e| !e.message.as_deref().unwrap_or("").contains("pulling image"))
                .collect();
            let mut ev = vec![Evidence::status(format!(
                "{}.state.waiting: CrashLoopBackOff{}",
                status_path(cs, false),
                waiting_message(cs)
                    .map(|m| format!(" — {}", tail(m, 200)))
                    .unwrap_or_default()
            ))];
            ev.extend(termination_evidence(ctx, cs, false));
            ev.push(Evidence::status(format!(
                "{}.restartCount: {}",
                status_path(cs, false),
                cs.restart_count
            )));
            ev.extend(latest_events(&events, ctx.now, 2));
            ctx.finding(info, pod_ref(p), c)
                .title(format!("Container {c} is crash-looping{exit}, {} restarts", cs.restart_count))
                .message(format!(
                    "Container {c} of pod {ns}/{name} keeps exiting shortly after it starts; the kubelet \
                     restarts it with a growing back-off (up to 5 minutes), so the pod does not serve. \
                     The last run ended with {}.{hint} The previous container's logs usually say why.",
                    last.map(exit_desc).unwrap_or_else(|| "an unknown exit".into())
                ))
                .evidences(ev)
                .fix(
                    format!("Read why container {c} exits (logs of the previous run), then fix the application, its configuration or its command; the pod recovers on its own once the container stays up."),
                    [
                        format!("kubectl -n {ns} logs {name} -c {c} --previous"),
                        format!("kubectl -n {ns} describe pod {name}"),
                    ],
                )
                .push(out);
        }
    }
}

/// Whether a Job-owned, Failed pod belongs to a Job that has since succeeded (its old
/// failures are history, not a problem).
fn job_succeeded(ctx: &Ctx, p: &Pod) -> bool {
    let (ns, _) = ns_name(&p.metadata);
    let owner = p
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true));
    let Some(job) = owner.and_then(|o| ctx.idx.objects.jobs.get(ns, &o.name)) else {
        return false;
    };
    job.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Complete" && c.status == "True")
    })
}

pub(super) fn oom_killed(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    for p in live_pods(ctx) {
        if owner_kind(p) == Some("Job") && phase(p) == "Failed" && job_succeeded(ctx, p) {
            continue;
        }
        let (ns, name) = ns_name(&p.metadata);
        for (cs, init) in statuses(p) {
            let oom = |t: &&k8s_openapi::api::core::v1::ContainerStateTerminated| {
                t.reason.as_deref() == Some("OOMKilled")
            };
            let Some(t) = current_terminated(cs)
                .filter(oom)
                .or_else(|| last_terminated(cs).filter(oom))
            else {
                continue;
            };
            let c = &cs.name;
            let limit = container_spec(p, c)
                .and_then(|s| s.resources.as_ref())
                .and_then(|r| r.limits.as_ref())
                .and_then(|l| l.get("memory"))
                .map(|q| q.0.clone());
            let ago = t.finished_at.as_ref().map(|f| ctx.age_secs(f.0));
            let running = cs.state.as_ref().is_some_and(|s| s.running.is_some());
            // A container that was OOM-killed once long ago and has run since is worth knowing,
            // not urgent.
            let urgent = !running || cs.restart_count >= 3 || ago.is_none_or(|a| a < 86_400);
            let when = ago
                .map(|a| format!(" {} ago", human_duration(a)))
                .unwrap_or_default();
            let mut ev = termination_evidence(ctx, cs, init);
            ev.push(Evidence::status(format!(
                "{}.restartCount: {}",
                status_path(cs, init),
                cs.restart_count
            )));
            let wl = ctx.idx.workload_of_pod(p);
            let mut f = ctx.finding(info, pod_ref(p), c);
            if !urgent {
                f = f.severity(Severity::Low);
            }
            match limit {
                Some(limit) => {
                    let raised = parse_quantity(&limit)
                        .map(|b| fmt_mem(b * 2.0))
                        .unwrap_or_else(|| "MEMORY".into());
                    ev.push(Evidence::spec(format!(
                        "container {c} resources.limits.memory: {limit}"
                    )));
                    let list = if init { "initContainers" } else { "containers" };
                    let pod_spec =
                        json!({ list: [{"name": c, "resources": {"limits": {"memory": raised}}}] });
                    let patch = match wl.kind {
                        Kind::CronJob => json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": pod_spec}}}}}),
                        Kind::Pod => json!({"spec": pod_spec}),
                        _ => json!({"spec": {"template": {"spec": pod_spec}}}),
                    }
                    .to_string();
                    let target = kubectl_name(&wl);
                    let apply = match wl.kind {
                        // Pod specs are immutable: re-create the pod with the patch applied.
                        Kind::Pod => format!(
                            "kubectl -n {ns} patch {target} --type strategic -p '{patch}' --dry-run=client -o yaml | kubectl replace --force -f -"
                        ),
                        // So are Job templates; a Job is re-created from its manifest.
                        Kind::Job => format!(
                            "kubectl -n {ns} get {target} -o yaml   # raise the limit in the Job's manifest, then delete and re-create the Job"
                        ),
                        _ => {
                            format!("kubectl -n {ns} patch {target} --type strategic -p '{patch}'")
                        }
                    };
                    f.title(format!(
                        "Container {c} was OOMKilled{when}: it exceeded its memory limit {limit} ({} restarts)",
                        cs.restart_count
                    ))
                    .message(format!(
                        "Container {c} of pod {ns}/{name} used more memory than its limit ({limit}) and the kernel \
                         killed it (OOMKilled). Either the limit is too low for the workload or the application \
                         leaks memory. Raise the limit on {} (here to {raised}, twice the current one) after \
                         checking its real usage.",
                        wl.to_ref().display()
                    ))
                    .evidences(ev)
                    .fix(
                        format!("Raise resources.limits.memory of container {c} on {} (and its request if it is close), or reduce the application's memory use.", wl.to_ref().display()),
                        [format!("kubectl -n {ns} top pod {name} --containers"), apply],
                    )
                    .patch(patch)
                    .push(out);
                }
                None => {
                    let node = node_of(p);
                    ev.push(Evidence::spec(format!(
                        "container {c} has no resources.limits.memory"
                    )));
                    f.title(format!("Container {c} was OOMKilled{when} without a memory limit: its node ran out of memory"))
                        .message(format!(
                            "Container {c} of pod {ns}/{name} has no memory limit, yet it was OOM-killed: the node{} \
                             ran out of memory and the kernel killed it. Set a memory request that matches its real \
                             usage (so the scheduler reserves it) and a limit, and look at the node's memory pressure.",
                            node.map(|n| format!(" {n}")).unwrap_or_default()
                        ))
                        .evidences(ev)
                        .cause_hints(node.map(|n| ref_to(Kind::Node, "", n)))
                        .fix(
                            format!("Set memory requests and limits on container {c} of {}.", wl.to_ref().display()),
                            [
                                format!("kubectl -n {ns} top pod {name} --containers"),
                                format!("kubectl -n {ns} set resources {} -c {c} --requests=memory=MEMORY --limits=memory=MEMORY", kubectl_name(&wl)),
                            ],
                        )
                        .push(out);
                }
            }
        }
    }
}

/// `Init:CrashLoopBackOff`, `Init:Error` or `Init:1/3`, as kubectl shows it.
fn init_status(p: &Pod) -> String {
    let inits: Vec<_> = statuses(p)
        .filter(|(_, init)| *init)
        .map(|(cs, _)| cs)
        .collect();
    let done = inits
        .iter()
        .filter(|cs| current_terminated(cs).is_some_and(|t| t.exit_code == 0))
        .count();
    for cs in &inits {
        if let Some(r) = waiting_reason(cs).filter(|r| *r != "PodInitializing") {
            return format!("Init:{r}");
        }
        if let Some(t) = current_terminated(cs).filter(|t| t.exit_code != 0) {
            return format!("Init:{}", t.reason.as_deref().unwrap_or("Error"));
        }
    }
    format!("Init:{done}/{}", inits.len())
}

pub(super) fn init_failed(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    const SKIP: &[&str] = &[
        "CreateContainerConfigError",
        "ContainerCreating",
        "PodInitializing",
    ];
    for p in live_pods(ctx) {
        // A Job's failed pods are the job analyzers' business.
        if owner_kind(p) == Some("Job") && phase(p) == "Failed" {
            continue;
        }
        let (ns, name) = ns_name(&p.metadata);
        for (cs, init) in statuses(p) {
            if !init || is_sidecar(p, &cs.name) {
                continue;
            }
            let waiting = waiting_reason(cs);
            if waiting.is_some_and(|w| SKIP.contains(&w) || PULL_REASONS.contains(&w)) {
                continue;
            }
            let failed_now = current_terminated(cs).filter(|t| t.exit_code != 0);
            let looping = waiting.is_some_and(|w| {
                matches!(
                    w,
                    "CrashLoopBackOff" | "RunContainerError" | "CreateContainerError"
                )
            });
            if failed_now.is_none() && !looping {
                continue;
            }
            let t = failed_now.or_else(|| last_terminated(cs));
            if t.and_then(|t| t.reason.as_deref()) == Some("OOMKilled") {
                continue; // pod.oom-killed
            }
            let c = &cs.name;
            let exit = t
                .map(|t| format!(": {}", exit_desc(t)))
                .unwrap_or_else(|| format!(": {}", waiting.unwrap_or("failed")));
            let hint = t
                .and_then(|t| exit_hint(t.exit_code))
                .map(|h| format!(" {h}"))
                .unwrap_or_default();
            let pod_status = init_status(p);
            let mut ev = vec![Evidence::status(format!(
                "pod status {pod_status} (phase {})",
                phase(p)
            ))];
            if let Some(w) = waiting {
                ev.push(Evidence::status(format!(
                    "{}.state.waiting: {w}{}",
                    status_path(cs, true),
                    waiting_message(cs)
                        .map(|m| format!(" — {}", tail(m, 200)))
                        .unwrap_or_default()
                )));
            }
            ev.extend(termination_evidence(ctx, cs, true));
            ev.extend(latest_events(
                &container_events(ctx, p, &["BackOff", "Failed"], c),
                ctx.now,
                2,
            ));
            ctx.finding(info, pod_ref(p), c)
                .title(format!("Init container {c} failed{exit}, {} restarts (pod is {pod_status})", cs.restart_count))
                .message(format!(
                    "Init container {c} of pod {ns}/{name} did not complete successfully.{hint} Init containers \
                     must all succeed before the main containers start, so the pod is stuck in {pod_status}."
                ))
                .evidences(ev)
                .fix(
                    format!("Read init container {c}'s logs and fix what it waits for or does (a migration, a dependency check, a download)."),
                    [logs_cmd(ns, name, cs), format!("kubectl -n {ns} describe pod {name}")],
                )
                .push(out);
        }
    }
}

pub(super) fn restarts(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    for p in live_pods(ctx) {
        if phase(p) != "Running" {
            continue;
        }
        let (ns, name) = ns_name(&p.metadata);
        for (cs, init) in statuses(p) {
            let running = cs.state.as_ref().and_then(|s| s.running.as_ref());
            if init || !cs.ready || running.is_none() || cs.restart_count < 5 {
                continue;
            }
            let last = last_terminated(cs);
            if last.and_then(|t| t.reason.as_deref()) == Some("OOMKilled") {
                continue; // pod.oom-killed
            }
            let restarted = last
                .and_then(|t| t.finished_at.as_ref())
                .or_else(|| running.and_then(|r| r.started_at.as_ref()))
                .map(|t| ctx.age_secs(t.0));
            let Some(ago) = restarted.filter(|a| *a < 3600) else {
                continue;
            };
            let c = &cs.name;
            let exit = last
                .map(|t| format!(", {}", exit_desc(t)))
                .unwrap_or_default();
            let mut ev = vec![Evidence::status(format!(
                "{}.restartCount: {}",
                status_path(cs, false),
                cs.restart_count
            ))];
            ev.extend(termination_evidence(ctx, cs, false));
            ctx.finding(info, pod_ref(p), c)
                .title(format!("Container {c} restarted {} times (last {} ago{exit})", cs.restart_count, human_duration(ago)))
                .message(format!(
                    "Container {c} of pod {ns}/{name} is running and ready now, but it has restarted {} times, the \
                     last time {} ago: it is flapping. Each restart drops in-flight work.",
                    cs.restart_count,
                    human_duration(ago)
                ))
                .evidences(ev)
                .fix(
                    "Read the previous run's logs; check the liveness probe's timeouts and the container's resources.",
                    [logs_cmd(ns, name, cs), format!("kubectl -n {ns} describe pod {name}")],
                )
                .push(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{RUNNING, event, pod};
    use super::*;
    use crate::testutil::{index, run};

    const CRASH: &str = r#"  phase: Running
  conditions:
  - {type: Ready, status: "False", lastTransitionTime: "2026-01-01T11:10:00Z"}
  containerStatuses:
  - name: api
    image: shop/api:1.0
    imageID: ""
    ready: false
    restartCount: 14
    state:
      waiting: {reason: CrashLoopBackOff, message: "back-off 5m0s restarting failed container=api"}
    lastState:
      terminated:
        exitCode: 1
        reason: Error
        message: "panic: dial tcp 10.0.0.5:5432: connect: connection refused"
        startedAt: "2026-01-01T11:57:00Z"
        finishedAt: "2026-01-01T11:57:03Z""#;

    #[test]
    fn crash_loop_names_exit_code_restarts_and_backoff_events() {
        let yaml = pod("api-1", CRASH)
            + &event(
                "api-1",
                "BackOff",
                "Back-off restarting failed container api in pod api-1_shop",
                40,
                "2026-01-01T11:59:00Z",
            );
        let f = run("pod.crash-loop", &index(&yaml, &[]));
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].object.name, "api-1");
        assert!(
            f[0].title.contains("exit code 1 (Error)") && f[0].title.contains("14 restarts"),
            "{}",
            f[0].title
        );
        let ev: Vec<&str> = f[0].evidence.iter().map(|e| e.detail.as_str()).collect();
        assert!(
            ev.iter().any(|e| e.contains("connection refused")),
            "{ev:?}"
        );
        assert!(ev.iter().any(|e| e.contains("BackOff (x40")), "{ev:?}");
        assert!(f[0].remediation.commands[0].contains("logs api-1 -c api --previous"));
    }

    #[test]
    fn crash_loop_skips_healthy_and_oom_killed_containers() {
        assert!(run("pod.crash-loop", &index(&pod("api-1", RUNNING), &[])).is_empty());
        let oom = CRASH.replace(
            "exitCode: 1\n        reason: Error",
            "exitCode: 137\n        reason: OOMKilled",
        );
        let idx = index(&pod("api-1", &oom), &[]);
        assert!(run("pod.crash-loop", &idx).is_empty());
        assert_eq!(run("pod.oom-killed", &idx).len(), 1);
    }

    const RS: &str = r#"
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: api-7d9c
  namespace: shop
  ownerReferences:
  - {apiVersion: apps/v1, kind: Deployment, name: api, uid: d1, controller: true}
spec:
  selector: {matchLabels: {app: api}}
"#;

    #[test]
    fn oom_killed_patches_the_deployment_memory_limit() {
        let oom = CRASH.replace(
            "exitCode: 1\n        reason: Error",
            "exitCode: 137\n        reason: OOMKilled",
        );
        let f = run("pod.oom-killed", &index(&(pod("api-1", &oom) + RS), &[]));
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].severity, Severity::High);
        assert!(f[0].title.contains("256Mi"), "{}", f[0].title);
        assert!(
            f[0].evidence
                .iter()
                .any(|e| e.detail.contains("limits.memory: 256Mi"))
        );
        let patch = f[0].remediation.patch.as_deref().unwrap_or("");
        assert!(
            patch.contains("\"memory\":\"512Mi\"") && patch.contains("\"template\""),
            "{patch}"
        );
        assert!(
            f[0].remediation
                .commands
                .iter()
                .any(|c| c.contains("patch deployment/api")),
            "{:?}",
            f[0].remediation.commands
        );
    }

    #[test]
    fn old_oom_on_a_running_container_is_low_and_healthy_pods_are_quiet() {
        let old = RUNNING
            .replace("restartCount: 0", "restartCount: 1")
            .to_string()
            + "\n    lastState:\n      terminated: {exitCode: 137, reason: OOMKilled, finishedAt: \"2025-12-20T11:00:00Z\"}";
        let f = run("pod.oom-killed", &index(&pod("api-1", &old), &[]));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Low);
        assert!(run("pod.oom-killed", &index(&pod("api-1", RUNNING), &[])).is_empty());
    }

    #[test]
    fn init_container_failure_names_container_and_exit_code() {
        let st = r#"  phase: Pending
  initContainerStatuses:
  - name: migrate
    image: shop/migrate:1
    imageID: ""
    ready: false
    restartCount: 4
    state:
      waiting: {reason: CrashLoopBackOff}
    lastState:
      terminated: {exitCode: 2, reason: Error, finishedAt: "2026-01-01T11:58:00Z"}
  containerStatuses:
  - {name: api, image: shop/api:1.0, imageID: "", ready: false, restartCount: 0, state: {waiting: {reason: PodInitializing}}}"#;
        let f = run("pod.init-container-failed", &index(&pod("api-1", st), &[]));
        assert_eq!(f.len(), 1, "{f:#?}");
        assert!(
            f[0].title.contains("Init container migrate") && f[0].title.contains("exit code 2"),
            "{}",
            f[0].title
        );
        assert!(
            f[0].title.contains("Init:CrashLoopBackOff"),
            "{}",
            f[0].title
        );
        assert!(f[0].remediation.commands[0].contains("-c migrate --previous"));

        let done = st.replace(
            "waiting: {reason: CrashLoopBackOff}",
            "terminated: {exitCode: 0, reason: Completed}",
        );
        assert!(
            run(
                "pod.init-container-failed",
                &index(&pod("api-1", &done), &[])
            )
            .is_empty()
        );
    }

    #[test]
    fn restarts_flags_recent_flapping_only() {
        let flapping = RUNNING
            .replace("restartCount: 0", "restartCount: 7")
            .to_string()
            + "\n    lastState:\n      terminated: {exitCode: 137, reason: Error, finishedAt: \"2026-01-01T11:46:00Z\"}";
        let f = run("pod.restarts", &index(&pod("api-1", &flapping), &[]));
        assert_eq!(f.len(), 1, "{f:#?}");
        assert!(
            f[0].title.contains("restarted 7 times") && f[0].title.contains("14m ago"),
            "{}",
            f[0].title
        );
        let old = flapping.replace("2026-01-01T11:46:00Z", "2026-01-01T08:00:00Z");
        assert!(run("pod.restarts", &index(&pod("api-1", &old), &[])).is_empty());
    }
}
