//! Failing readiness and liveness probes.

use k8s_openapi::api::core::v1::{Event, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kaptain_index::{Kind, event_time};
use kaptain_model::{Evidence, Finding, Severity};

use super::{condition, container_spec, event_container, live_pods, phase, statuses, tail};
use crate::check::{CheckInfo, Ctx};
use crate::util::{events_with, human_duration, latest_events, ns_name, pod_ref};

fn port(p: &IntOrString) -> String {
    match p {
        IntOrString::Int(i) => i.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

/// `readinessProbe httpGet http://:8080/ready (timeout 1s, period 10s, failureThreshold 3)`.
fn probe_desc(which: &str, pr: &Probe) -> String {
    let how = if let Some(h) = &pr.http_get {
        let scheme = h.scheme.as_deref().unwrap_or("HTTP").to_ascii_lowercase();
        format!(
            "httpGet {scheme}://:{}{}",
            port(&h.port),
            h.path.as_deref().unwrap_or("/")
        )
    } else if let Some(t) = &pr.tcp_socket {
        format!("tcpSocket :{}", port(&t.port))
    } else if let Some(g) = &pr.grpc {
        format!("grpc :{}", g.port)
    } else if let Some(e) = &pr.exec {
        format!("exec {:?}", e.command.as_deref().unwrap_or(&[]))
    } else {
        "(no handler)".into()
    };
    format!(
        "{which} {how} (initialDelay {}s, timeout {}s, period {}s, failureThreshold {})",
        pr.initial_delay_seconds.unwrap_or(0),
        pr.timeout_seconds.unwrap_or(1),
        pr.period_seconds.unwrap_or(10),
        pr.failure_threshold.unwrap_or(3)
    )
}

/// Unhealthy events of one probe kind (`Readiness`, `Liveness`) about a container.
fn probe_events<'a>(unhealthy: &[&'a Event], which: &str, container: &str) -> Vec<&'a Event> {
    let failed = format!("{which} probe failed");
    let errored = format!("{which} probe errored");
    unhealthy
        .iter()
        .filter(|e| event_container(e).is_none_or(|c| c == container))
        .filter(|e| {
            e.message
                .as_deref()
                .is_some_and(|m| m.starts_with(&failed) || m.starts_with(&errored))
        })
        .copied()
        .collect()
}

/// What the probe said, without the `Readiness probe failed: ` prefix.
fn probe_output(e: &Event) -> String {
    let m = e.message.as_deref().unwrap_or("");
    tail(m.split_once(": ").map(|(_, r)| r).unwrap_or(m), 160)
}

fn total_count(events: &[&Event]) -> i32 {
    events.iter().map(|e| e.count.unwrap_or(1).max(1)).sum()
}

fn probe_cmds(ns: &str, name: &str, c: &str, pr: Option<&Probe>) -> Vec<String> {
    let mut cmds = vec![
        format!("kubectl -n {ns} describe pod {name}"),
        format!("kubectl -n {ns} logs {name} -c {c}"),
    ];
    if let Some(h) = pr.and_then(|p| p.http_get.as_ref()) {
        cmds.push(format!(
            "kubectl -n {ns} port-forward pod/{name} {0}:{0}   # then request {1} locally",
            port(&h.port),
            h.path.as_deref().unwrap_or("/")
        ));
    }
    cmds
}

pub(super) fn readiness(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    for p in live_pods(ctx) {
        if phase(p) != "Running" || p.metadata.deletion_timestamp.is_some() {
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
        // Slow starters fail readiness for a little while; give them two minutes.
        let Some(since) = since.filter(|s| *s >= 120) else {
            continue;
        };
        let unhealthy = events_with(ctx.idx, Kind::Pod, &p.metadata, &["Unhealthy"]);
        let (ns, name) = ns_name(&p.metadata);
        for (cs, init) in statuses(p) {
            let running = cs.state.as_ref().is_some_and(|s| s.running.is_some());
            if init || cs.ready || !running {
                continue;
            }
            let c = &cs.name;
            let evs = probe_events(&unhealthy, "Readiness", c);
            let Some(last) = evs.last() else { continue };
            if event_time(last).is_none_or(|t| ctx.age_secs(t) > 1800) {
                continue; // stale: the probe has not been failing lately
            }
            let probe = container_spec(p, c).and_then(|s| s.readiness_probe.as_ref());
            let mut ev = vec![Evidence::status(format!(
                "condition Ready=False for {}, container {c} ready=false",
                human_duration(since)
            ))];
            ev.extend(latest_events(&evs, ctx.now, 1));
            ev.extend(probe.map(|pr| {
                Evidence::spec(format!(
                    "container {c} {}",
                    probe_desc("readinessProbe", pr)
                ))
            }));
            ctx.finding(info, pod_ref(p), c)
                .title(format!(
                    "Readiness probe of container {c} fails: {} (x{}); not Ready for {}",
                    probe_output(last),
                    total_count(&evs),
                    human_duration(since)
                ))
                .message(format!(
                    "Container {c} of pod {ns}/{name} runs, but its readiness probe keeps failing, so the pod has been \
                     not Ready for {} and Services send it no traffic. Either the application is not healthy (a \
                     dependency is down, it is still warming up) or the probe is wrong (path, port, timeout).",
                    human_duration(since)
                ))
                .evidences(ev)
                .fix(
                    format!("Call the probe endpoint yourself and read the logs of container {c}; fix the application or the probe (path, port, timeoutSeconds)."),
                    probe_cmds(ns, name, c, probe),
                )
                .push(out);
        }
    }
}

pub(super) fn liveness(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    for p in live_pods(ctx) {
        if phase(p) != "Running" || p.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let unhealthy = events_with(ctx.idx, Kind::Pod, &p.metadata, &["Unhealthy"]);
        if unhealthy.is_empty() {
            continue;
        }
        let killing = events_with(ctx.idx, Kind::Pod, &p.metadata, &["Killing"]);
        let (ns, name) = ns_name(&p.metadata);
        for (cs, init) in statuses(p) {
            if init {
                continue;
            }
            let c = &cs.name;
            let evs = probe_events(&unhealthy, "Liveness", c);
            let Some(last) = evs.last() else { continue };
            let Some(last_age) = event_time(last)
                .map(|t| ctx.age_secs(t))
                .filter(|a| *a <= 3600)
            else {
                continue;
            };
            let kills: Vec<&Event> = killing
                .iter()
                .filter(|e| event_container(e).is_none_or(|x| x == c))
                .filter(|e| {
                    e.message
                        .as_deref()
                        .is_some_and(|m| m.contains("liveness probe"))
                })
                .copied()
                .collect();
            let probe = container_spec(p, c).and_then(|s| s.liveness_probe.as_ref());
            let threshold = probe.and_then(|pr| pr.failure_threshold).unwrap_or(3);
            let total = total_count(&evs);
            // Fewer failures than the threshold restart nothing.
            if kills.is_empty() && total < threshold {
                continue;
            }
            let mut ev = latest_events(&evs, ctx.now, 1);
            ev.extend(latest_events(&kills, ctx.now, 1));
            ev.push(Evidence::status(format!(
                "container {c} restartCount: {}, ready: {}",
                cs.restart_count, cs.ready
            )));
            ev.extend(probe.map(|pr| {
                Evidence::spec(format!("container {c} {}", probe_desc("livenessProbe", pr)))
            }));
            let mut f = ctx.finding(info, pod_ref(p), c);
            let recovered = cs.ready && last_age > 600;
            if recovered {
                f = f.severity(Severity::Low);
            }
            f.title(format!(
                "Liveness probe of container {c} fails: {} (x{total}); {} restarts",
                probe_output(last),
                cs.restart_count
            ))
            .message(format!(
                "The liveness probe of container {c} in pod {ns}/{name} failed {total} times (the last {} ago); after \
                 {threshold} consecutive failures the kubelet kills and restarts the container.{} A probe that is \
                 too strict (short timeout, no startupProbe for a slow start, checking a dependency) restarts \
                 healthy containers.",
                human_duration(last_age),
                if recovered { " It is ready again now." } else { "" }
            ))
            .evidences(ev)
            .fix(
                format!("Check what the probe of container {c} calls; if the application is healthy but slow, raise timeoutSeconds/failureThreshold or add a startupProbe."),
                probe_cmds(ns, name, c, probe),
            )
            .push(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{event, running};
    use super::*;
    use crate::testutil::{index, run};

    #[test]
    fn readiness_probe_failures_on_an_unready_pod() {
        let yaml = running("2026-01-01T11:50:00Z", 0)
            + &event(
                "api-1",
                "Unhealthy",
                "Readiness probe failed: HTTP probe failed with statuscode: 503",
                42,
                "2026-01-01T11:59:30Z",
            );
        let f = run("pod.readiness-probe-failing", &index(&yaml, &[]));
        assert_eq!(f.len(), 1, "{f:#?}");
        assert!(
            f[0].title.contains("statuscode: 503") && f[0].title.contains("x42"),
            "{}",
            f[0].title
        );
        assert!(
            f[0].evidence.iter().any(|e| e
                .detail
                .contains("readinessProbe httpGet http://:8080/ready")),
            "{:#?}",
            f[0].evidence
        );
        assert!(
            f[0].remediation
                .commands
                .iter()
                .any(|c| c.contains("port-forward pod/api-1 8080:8080"))
        );
        // Only just became unready: a slow start, not yet a problem.
        let fresh = running("2026-01-01T11:59:00Z", 0)
            + &event(
                "api-1",
                "Unhealthy",
                "Readiness probe failed: connection refused",
                2,
                "2026-01-01T11:59:30Z",
            );
        assert!(run("pod.readiness-probe-failing", &index(&fresh, &[])).is_empty());
    }

    #[test]
    fn liveness_failures_that_restart_the_container() {
        let yaml = running("2026-01-01T11:50:00Z", 3)
            + &event(
                "api-1",
                "Unhealthy",
                "Liveness probe failed: Get \"http://10.1.2.3:8080/healthz\": context deadline exceeded",
                9,
                "2026-01-01T11:59:00Z",
            )
            + &event(
                "api-1",
                "Killing",
                "Container api failed liveness probe, will be restarted",
                3,
                "2026-01-01T11:59:00Z",
            );
        let f = run("pod.liveness-probe-failing", &index(&yaml, &[]));
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].severity, Severity::High);
        assert!(
            f[0].title.contains("deadline exceeded") && f[0].title.contains("3 restarts"),
            "{}",
            f[0].title
        );
        assert!(f[0].evidence.iter().any(|e| {
            e.detail
                .contains("livenessProbe httpGet http://:8080/healthz")
        }));
        // One failure below the threshold restarts nothing.
        let once = running("2026-01-01T11:50:00Z", 0)
            + &event(
                "api-1",
                "Unhealthy",
                "Liveness probe failed: timeout",
                1,
                "2026-01-01T11:59:00Z",
            );
        assert!(run("pod.liveness-probe-failing", &index(&once, &[])).is_empty());
    }
}
