//! One container of a pod: its state, the stages it goes through (create, pull, run, exit,
//! restart) and the back-offs between them. Starting it is in `start`, running it in `run`,
//! what the status shows of it in `status`, its logs in `container_logs`.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{BACKOFF_MAX, BACKOFF_START, PodEvent, PodFacts, SYNC_RETRY, SyncCtx};
use crate::sim::spec::CtrSpec;

/// `flowcontrol.Backoff` for one key.
#[derive(Debug, Clone, Copy)]
pub(super) struct Backoff {
    pub delay: Duration,
    pub updated: Instant,
}

impl Backoff {
    /// `Backoff.Next`: start at `start`, or double up to `max`; entries unused for
    /// `2 * max` start over.
    pub(super) fn next(entry: &mut Option<Backoff>, now: Instant, start: Duration, max: Duration) {
        *entry = Some(match *entry {
            Some(b) if now.saturating_duration_since(b.updated) <= max * 2 => Backoff {
                delay: (b.delay * 2).min(max),
                updated: now,
            },
            _ => Backoff {
                delay: start,
                updated: now,
            },
        });
    }
}

/// One run of a container.
#[derive(Debug, Clone)]
pub(crate) struct Instance {
    pub id: String,
    pub started: Instant,
    pub logs: Option<Arc<str>>,
    pub exit: Option<Exit>,
}

#[derive(Debug, Clone)]
pub(crate) struct Exit {
    pub code: i32,
    pub reason: &'static str,
    pub finished: Instant,
    /// A last log line explaining the exit.
    pub note: Option<String>,
}

#[derive(Debug, Clone)]
pub(super) enum Stage {
    /// Waiting to (re)try pulling/creating the container at `at`.
    Create {
        at: Instant,
    },
    /// Pulling the image until `at`.
    Pull {
        at: Instant,
        began: Instant,
        result: Result<(), String>,
    },
    Running,
    /// Exited; restarted at `restart_at`, or never.
    Exited {
        restart_at: Option<Instant>,
    },
}

#[derive(Debug)]
pub(crate) struct Ctr {
    pub spec: CtrSpec,
    pub(super) init: bool,
    pub(super) stage: Stage,
    /// The waiting reason and message shown while not running.
    pub(super) waiting: Option<(&'static str, Option<String>)>,
    /// The running or most recent instance.
    pub(super) current: Option<Instance>,
    /// The instance before `current` (`lastState`).
    pub(super) last: Option<Instance>,
    pub(super) restarts: u32,
    pub(super) crash_backoff: Option<Backoff>,
    pub(super) pull_backoff: Option<Backoff>,
    pub(super) image_id: Option<String>,
    pub(super) ready: bool,
    pub(super) started_flag: bool,
    pub(super) config_missing_since: Option<Instant>,
    pub(super) ready_probe_at: Option<Instant>,
    pub(super) ready_failures: u32,
    pub(super) live_probe_at: Option<Instant>,
    pub(super) live_failures: u32,
}

impl Ctr {
    pub(super) fn new(spec: CtrSpec, init: bool, now: Instant) -> Self {
        Self {
            spec,
            init,
            stage: Stage::Create { at: now },
            waiting: None,
            current: None,
            last: None,
            restarts: 0,
            crash_backoff: None,
            pull_backoff: None,
            image_id: None,
            ready: false,
            started_flag: false,
            config_missing_since: None,
            ready_probe_at: None,
            ready_failures: 0,
            live_probe_at: None,
            live_failures: 0,
        }
    }

    pub(super) fn field_path(&self) -> String {
        if self.init {
            format!("spec.initContainers{{{}}}", self.spec.name)
        } else {
            format!("spec.containers{{{}}}", self.spec.name)
        }
    }

    pub(super) fn event(
        &self,
        cx: &mut SyncCtx<'_>,
        warning: bool,
        reason: &'static str,
        message: String,
    ) {
        cx.event(Some(&self.field_path()), warning, reason, message);
    }

    pub(super) fn is_running(&self) -> bool {
        matches!(self.stage, Stage::Running)
    }

    /// An init container that exited 0 for good.
    pub(super) fn completed(&self) -> bool {
        matches!(self.stage, Stage::Exited { restart_at: None })
            && self
                .current
                .as_ref()
                .and_then(|i| i.exit.as_ref())
                .is_some_and(|e| e.code == 0)
    }

    /// Advances this container as far as `cx.now` allows.
    pub(super) fn drive(&mut self, pod: &PodFacts<'_>, cx: &mut SyncCtx<'_>) {
        // Each pass moves one stage on; a handful is enough for any sync.
        for _ in 0..8 {
            match &self.stage {
                Stage::Create { at } => {
                    let at = *at;
                    if cx.now < at {
                        // Waiting for a ConfigMap/Secret: go on as soon as it is there.
                        let config_wait = self.config_missing_since.is_some()
                            || matches!(self.waiting, Some(("CreateContainerConfigError", _)));
                        if !config_wait {
                            cx.wake_at(at);
                            return;
                        }
                        if cx.configs.env_error(pod.ns, &self.spec.env).is_some() {
                            cx.blocked = true;
                            cx.wake_at(at);
                            return;
                        }
                    }
                    if !self.try_create(pod, cx) {
                        return;
                    }
                }
                Stage::Pull { at, .. } => {
                    let at = *at;
                    if cx.now < at {
                        cx.wake_at(at);
                        return;
                    }
                    if !self.finish_pull(pod, cx) {
                        return;
                    }
                }
                Stage::Running => {
                    if !self.run(pod, cx) {
                        return;
                    }
                }
                Stage::Exited { restart_at: None } => return,
                Stage::Exited {
                    restart_at: Some(at),
                } => {
                    let at = *at;
                    if cx.now < at {
                        cx.wake_at(at);
                        return;
                    }
                    self.restart(cx);
                }
            }
        }
    }

    pub(super) fn retry_later(
        &mut self,
        cx: &mut SyncCtx<'_>,
        reason: &'static str,
        message: String,
    ) {
        self.waiting = Some((reason, Some(message)));
        let at = cx.now + SYNC_RETRY;
        self.stage = Stage::Create { at };
        cx.wake_at(at);
    }

    fn restart(&mut self, cx: &mut SyncCtx<'_>) {
        Backoff::next(
            &mut self.crash_backoff,
            cx.now,
            cx.backoff(BACKOFF_START),
            cx.backoff(BACKOFF_MAX),
        );
        if let Some(previous) = self.current.take() {
            self.last = Some(previous);
        }
        self.waiting = None;
        self.stage = Stage::Create { at: cx.now };
    }

    /// The pod's spec changed this container's image: restart it with the new one.
    pub(super) fn change_image(&mut self, image: String, cx_now: Instant) -> Option<PodEvent> {
        self.spec.image = image;
        self.pull_backoff = None;
        match &self.stage {
            Stage::Running => {
                if let Some(i) = self.current.as_mut() {
                    i.exit = Some(Exit {
                        code: 137,
                        reason: "Error",
                        finished: cx_now,
                        note: None,
                    });
                }
                self.ready = false;
                self.stage = Stage::Exited {
                    restart_at: Some(cx_now),
                };
                Some(PodEvent {
                    field_path: Some(self.field_path()),
                    warning: false,
                    reason: "Killing",
                    message: format!(
                        "Container {} definition changed, will be restarted",
                        self.spec.name
                    ),
                })
            }
            Stage::Create { .. } | Stage::Pull { .. } => {
                self.stage = Stage::Create { at: cx_now };
                None
            }
            Stage::Exited {
                restart_at: Some(_),
            } => {
                self.stage = Stage::Exited {
                    restart_at: Some(cx_now),
                };
                None
            }
            Stage::Exited { restart_at: None } => None,
        }
    }
}
