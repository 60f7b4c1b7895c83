//! A running container: its planned exit, the OOM killer, its liveness, startup and
//! readiness probes, and what happens when it stops (restart, crash-loop back-off, or done).

use std::time::Duration;

use tokio::time::Instant;

use super::container::{Ctr, Exit, Stage};
use super::{BACKOFF_MAX, PodFacts, SyncCtx};
use crate::sim::spec::{Behaviour, DEFAULT_INIT_RUN, ProbeKind, ProbeSpec, RestartPolicy};
use crate::sim::util::go_duration;

/// How long a container runs before the OOM killer strikes.
const OOM_AFTER: Duration = Duration::from_secs(1);

impl Ctr {
    fn probe_message(&self, probe: &ProbeSpec, pod: &PodFacts<'_>, liveness: bool) -> String {
        let (kind, code) = if liveness {
            ("Liveness", 500)
        } else {
            ("Readiness", 503)
        };
        let detail = match &probe.kind {
            ProbeKind::Http => format!("HTTP probe failed with statuscode: {code}"),
            ProbeKind::Tcp(port) => {
                format!(
                    "dial tcp {}:{port}: connect: connection refused",
                    pod.pod_ip
                )
            }
            ProbeKind::Exec => String::new(),
        };
        format!("{kind} probe failed: {detail}")
    }

    /// A running container: exits, probes. Returns whether it exited (so `drive` goes on).
    pub(super) fn run(&mut self, pod: &PodFacts<'_>, cx: &mut SyncCtx<'_>) -> bool {
        let now = cx.now;
        let Some(started) = self.current.as_ref().map(|i| i.started) else {
            return false;
        };
        let b = Behaviour::of(pod.annotations, &self.spec.name);

        // Planned exit: run-seconds / exit-code, default for init containers; then OOM.
        let mut exit: Option<(Instant, i32, &'static str, Option<String>)> = None;
        let run_for = match (b.run_for, self.init) {
            (Some(d), _) => Some(d),
            (None, true) => Some(DEFAULT_INIT_RUN),
            (None, false) => None,
        };
        if let Some(d) = run_for {
            let code = b.exit_code.unwrap_or(0);
            let (reason, note) = if code == 0 {
                ("Completed", None)
            } else {
                (
                    "Error",
                    Some(format!("sim.kaptain.dev: process exited with code {code}")),
                )
            };
            exit = Some((started + d, code, reason, note));
        }
        if let (Some(usage), Some(limit)) = (b.memory_usage, self.spec.memory_limit)
            && usage > limit
        {
            let at = started + OOM_AFTER;
            if exit.as_ref().is_none_or(|e| at < e.0) {
                let note = format!(
                    "sim.kaptain.dev: killed by the OOM killer (memory usage {} bytes > limit {} bytes)",
                    usage.round(),
                    limit.round()
                );
                exit = Some((at, 137, "OOMKilled", Some(note)));
            }
        }

        // Liveness: failureThreshold failures, then the kubelet kills the container.
        match (&self.spec.liveness, b.liveness_fails && !self.init) {
            (Some(p), true) => {
                let p = p.clone();
                let mut next = self
                    .live_probe_at
                    .unwrap_or_else(|| (started + p.initial_delay).max(now));
                let mut bursts = 0;
                while next <= now && exit.as_ref().is_none_or(|e| next < e.0) {
                    self.live_failures += 1;
                    let message = self.probe_message(&p, pod, true);
                    self.event(cx, true, "Unhealthy", message);
                    if self.live_failures >= p.failure_threshold {
                        self.event(
                            cx,
                            false,
                            "Killing",
                            format!(
                                "Container {} failed liveness probe, will be restarted",
                                self.spec.name
                            ),
                        );
                        exit = Some((
                            next,
                            137,
                            "Error",
                            Some("sim.kaptain.dev: killed after failing its liveness probe".into()),
                        ));
                        break;
                    }
                    next += p.period;
                    bursts += 1;
                    if bursts >= 3 && next <= now {
                        next = now + p.period;
                    }
                }
                self.live_probe_at = Some(next);
                if exit.as_ref().is_none_or(|e| next < e.0) {
                    cx.wake_at(next);
                }
            }
            _ => {
                self.live_probe_at = None;
                self.live_failures = 0;
            }
        }

        if let Some((at, code, reason, note)) = exit.clone() {
            if at <= now {
                self.terminate(pod, cx, at, code, reason, note);
                return true;
            }
            cx.wake_at(at);
        }

        if self.init {
            return false;
        }
        // Started (startup probe) and readiness.
        let startup_at = started
            + self
                .spec
                .startup
                .as_ref()
                .map_or(Duration::ZERO, |p| p.initial_delay);
        self.started_flag = now >= startup_at;
        if !self.started_flag {
            cx.wake_at(startup_at);
            self.ready = false;
            return false;
        }
        match self.spec.readiness.clone() {
            None => self.ready = !b.not_ready,
            Some(p) => {
                let first = startup_at + p.initial_delay;
                if now < first {
                    self.ready = false;
                    cx.wake_at(first);
                } else if b.not_ready {
                    let mut next = self.ready_probe_at.unwrap_or(first.max(now));
                    let mut bursts = 0;
                    while next <= now {
                        self.ready_failures += 1;
                        let message = self.probe_message(&p, pod, false);
                        self.event(cx, true, "Unhealthy", message);
                        next += p.period;
                        bursts += 1;
                        if bursts >= 3 && next <= now {
                            next = now + p.period;
                        }
                    }
                    if self.ready_failures >= p.failure_threshold {
                        self.ready = false;
                    }
                    self.ready_probe_at = Some(next);
                    cx.wake_at(next);
                } else {
                    self.ready = true;
                    self.ready_failures = 0;
                    self.ready_probe_at = None;
                }
            }
        }
        false
    }

    fn terminate(
        &mut self,
        pod: &PodFacts<'_>,
        cx: &mut SyncCtx<'_>,
        at: Instant,
        code: i32,
        reason: &'static str,
        note: Option<String>,
    ) {
        if let Some(i) = self.current.as_mut() {
            i.exit = Some(Exit {
                code,
                reason,
                finished: at,
                note,
            });
        }
        self.ready = false;
        self.started_flag = false;
        self.ready_probe_at = None;
        self.live_probe_at = None;
        self.live_failures = 0;
        self.ready_failures = 0;
        let restart = if self.init {
            code != 0 && pod.restart_policy != RestartPolicy::Never
        } else {
            match pod.restart_policy {
                RestartPolicy::Always => true,
                RestartPolicy::OnFailure => code != 0,
                RestartPolicy::Never => false,
            }
        };
        if !restart {
            self.stage = Stage::Exited { restart_at: None };
            return;
        }
        let max = cx.backoff(BACKOFF_MAX);
        // doBackOff: in back-off while less than the current delay has passed since it
        // finished (entries unused for 2 * max start over).
        let restart_at = match self.crash_backoff {
            Some(b)
                if at.saturating_duration_since(b.updated) <= max * 2
                    && cx.now.saturating_duration_since(at) < b.delay =>
            {
                let message = format!(
                    "back-off {} restarting failed container={} pod={}_{}({})",
                    go_duration(b.delay),
                    self.spec.name,
                    pod.name,
                    pod.ns,
                    pod.uid
                );
                self.waiting = Some(("CrashLoopBackOff", Some(message)));
                self.event(
                    cx,
                    true,
                    "BackOff",
                    "Back-off restarting failed container".into(),
                );
                at + b.delay
            }
            _ => cx.now,
        };
        self.stage = Stage::Exited {
            restart_at: Some(restart_at),
        };
    }
}
