//! One pod on a simulated node: its containers' life cycle and the status the kubelet
//! (v1.20) writes for it.
//!
//! Everything here is synchronous and driven by [`SimPod::sync`], which the engine calls when
//! the pod changes, when something it waits for (a ConfigMap, a Secret) changes, and at the
//! deadline the previous sync asked for. A sync never blocks: pulls, run times, probes and
//! back-offs are deadlines.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::image::{self, ImageRef};
use super::spec::{
    Behaviour, CtrSpec, DEFAULT_INIT_RUN, EnvRef, ProbeKind, ProbeSpec, PullPolicy, RestartPolicy,
    VolRef, VolSource,
};
use super::util::{go_duration, hash64, hex64, time};

/// How long a missing ConfigMap/Secret must stay missing before it is reported (the watch
/// of ConfigMaps can lag behind the watch of Pods when both are created together).
const CONFIG_GRACE: Duration = Duration::from_secs(1);
/// The kubelet's pod worker retries a failed sync after about this long.
const SYNC_RETRY: Duration = Duration::from_secs(10);
/// How long a container runs before the OOM killer strikes.
const OOM_AFTER: Duration = Duration::from_secs(1);
/// How long a deleted pod's containers take to stop (capped by the grace period).
const KILL_DELAY: Duration = Duration::from_secs(1);
/// Back-off of failing mounts: 500 ms doubling up to 2m2s (nestedpendingoperations).
const MOUNT_BACKOFF_START: Duration = Duration::from_millis(500);
const MOUNT_BACKOFF_MAX: Duration = Duration::from_secs(122);
/// After this long without its volumes, the kubelet reports "Unable to attach or mount".
const MOUNT_TIMEOUT: Duration = Duration::from_secs(120);
/// Crash-loop and image-pull back-off: 10 s doubling up to 5 min (before scaling).
const BACKOFF_START: Duration = Duration::from_secs(10);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// Wall-clock time for engine instants.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    base: Instant,
    wall: Timestamp,
}

impl Clock {
    pub fn new() -> Self {
        Self {
            base: Instant::now(),
            wall: Timestamp::now(),
        }
    }

    pub fn wall(&self, at: Instant) -> Timestamp {
        let offset = at.saturating_duration_since(self.base);
        self.wall.checked_add(offset).unwrap_or(self.wall)
    }
}

/// Keys of the ConfigMaps and Secrets that exist, by namespace and name.
#[derive(Debug, Default)]
pub(crate) struct ConfigStore {
    pub configmaps: HashMap<String, HashMap<String, BTreeSet<String>>>,
    pub secrets: HashMap<String, HashMap<String, BTreeSet<String>>>,
}

impl ConfigStore {
    fn keys(&self, secret: bool, ns: &str, name: &str) -> Option<&BTreeSet<String>> {
        let map = if secret {
            &self.secrets
        } else {
            &self.configmaps
        };
        map.get(ns)?.get(name)
    }

    /// The kubelet's error for the first unusable env/envFrom reference, if any.
    fn env_error(&self, ns: &str, refs: &[EnvRef]) -> Option<String> {
        for r in refs {
            match r {
                EnvRef::ConfigMap { name, optional } => {
                    if self.keys(false, ns, name).is_none() && !optional {
                        return Some(format!("configmap \"{name}\" not found"));
                    }
                }
                EnvRef::Secret { name, optional } => {
                    if self.keys(true, ns, name).is_none() && !optional {
                        return Some(format!("secret \"{name}\" not found"));
                    }
                }
                EnvRef::ConfigMapKey {
                    name,
                    key,
                    optional,
                } => match self.keys(false, ns, name) {
                    None if !optional => return Some(format!("configmap \"{name}\" not found")),
                    Some(keys) if !keys.contains(key) && !optional => {
                        return Some(format!("couldn't find key {key} in ConfigMap {ns}/{name}"));
                    }
                    _ => {}
                },
                EnvRef::SecretKey {
                    name,
                    key,
                    optional,
                } => match self.keys(true, ns, name) {
                    None if !optional => return Some(format!("secret \"{name}\" not found")),
                    Some(keys) if !keys.contains(key) && !optional => {
                        return Some(format!("couldn't find key {key} in Secret {ns}/{name}"));
                    }
                    _ => {}
                },
            }
        }
        None
    }

    /// `(volume, error)` for every ConfigMap/Secret volume that cannot be set up.
    fn volume_errors(&self, ns: &str, volumes: &[VolRef]) -> Vec<(String, String)> {
        let mut errors = Vec::new();
        for v in volumes {
            let secret = v.source == VolSource::Secret;
            let kind = if secret { "secret" } else { "configmap" };
            match self.keys(secret, ns, &v.name) {
                None if !v.optional => {
                    errors.push((v.volume.clone(), format!("{kind} \"{}\" not found", v.name)));
                }
                Some(keys) if !v.optional => {
                    if let Some(k) = v.keys.iter().find(|k| !keys.contains(*k)) {
                        let message = if secret {
                            format!("references non-existent secret key: {k}")
                        } else {
                            format!("configmap references non-existent config key: {k}")
                        };
                        errors.push((v.volume.clone(), message));
                    }
                }
                _ => {}
            }
        }
        errors
    }
}

/// An event the kubelet records about a pod (the engine adds the object reference).
#[derive(Debug, Clone)]
pub(crate) struct PodEvent {
    /// `spec.containers{name}` / `spec.initContainers{name}`, or none for pod-level events.
    pub field_path: Option<String>,
    pub warning: bool,
    pub reason: &'static str,
    pub message: String,
}

/// Pod IPs of one node: `10.244.<node>.<n>` (n = 1..254), then a spill-over range.
#[derive(Debug, Default)]
pub(crate) struct IpPool {
    pub node_index: u32,
    used: BTreeSet<u32>,
}

impl IpPool {
    pub fn new(node_index: u32) -> Self {
        Self {
            node_index,
            used: BTreeSet::new(),
        }
    }

    fn alloc(&mut self) -> (String, u32) {
        let mut slot = 1;
        for &used in &self.used {
            if used != slot {
                break;
            }
            slot += 1;
        }
        self.used.insert(slot);
        let k = self.node_index % 256;
        let ip = if slot <= 254 {
            format!("10.244.{k}.{slot}")
        } else {
            let m = slot - 255;
            format!("10.{}.{}.{}", 100 + k % 100, m / 254 % 256, m % 254 + 1)
        };
        (ip, slot)
    }

    pub fn release(&mut self, slot: u32) {
        self.used.remove(&slot);
    }
}

/// Everything a sync needs besides the pod.
pub(crate) struct SyncCtx<'a> {
    pub now: Instant,
    pub clock: Clock,
    /// Multiplies the crash-loop and image-pull back-offs.
    pub scale: f64,
    pub configs: &'a ConfigStore,
    /// Images present on the pod's node.
    pub images: &'a mut HashSet<String>,
    /// Pod IPs of the pod's node.
    pub ips: &'a mut IpPool,
    pub events: Vec<PodEvent>,
    pub wake: Option<Instant>,
    /// The pod waits for a ConfigMap or Secret: re-sync it when one changes.
    pub blocked: bool,
}

impl SyncCtx<'_> {
    fn wake_at(&mut self, at: Instant) {
        if self.wake.is_none_or(|w| at < w) {
            self.wake = Some(at);
        }
    }

    fn event(
        &mut self,
        field_path: Option<&str>,
        warning: bool,
        reason: &'static str,
        message: String,
    ) {
        self.events.push(PodEvent {
            field_path: field_path.map(str::to_owned),
            warning,
            reason,
            message,
        });
    }

    fn backoff(&self, base: Duration) -> Duration {
        base.mul_f64(self.scale)
    }
}

/// What a sync asks the engine to do besides recording events.
#[derive(Debug, Default)]
pub(crate) struct SyncResult {
    /// A strategic-merge patch for `pods/status`, when the status changed.
    pub status: Option<Value>,
    /// Delete the pod (grace 0): its containers have stopped.
    pub delete: bool,
}

/// Read-only facts about the pod the containers need.
struct PodFacts<'a> {
    ns: &'a str,
    name: &'a str,
    uid: &'a str,
    restart_policy: RestartPolicy,
    annotations: &'a BTreeMap<String, String>,
    pod_ip: &'a str,
}

/// `flowcontrol.Backoff` for one key.
#[derive(Debug, Clone, Copy)]
struct Backoff {
    delay: Duration,
    updated: Instant,
}

impl Backoff {
    /// `Backoff.Next`: start at `start`, or double up to `max`; entries unused for
    /// `2 * max` start over.
    fn next(entry: &mut Option<Backoff>, now: Instant, start: Duration, max: Duration) {
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
enum Stage {
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
    init: bool,
    stage: Stage,
    /// The waiting reason and message shown while not running.
    waiting: Option<(&'static str, Option<String>)>,
    /// The running or most recent instance.
    current: Option<Instance>,
    /// The instance before `current` (`lastState`).
    last: Option<Instance>,
    restarts: u32,
    crash_backoff: Option<Backoff>,
    pull_backoff: Option<Backoff>,
    image_id: Option<String>,
    ready: bool,
    started_flag: bool,
    config_missing_since: Option<Instant>,
    ready_probe_at: Option<Instant>,
    ready_failures: u32,
    live_probe_at: Option<Instant>,
    live_failures: u32,
}

/// What `getPhase` needs of a container status.
enum Summary {
    Running,
    Terminated(i32),
    Waiting { last_exit: Option<i32> },
}

impl Ctr {
    fn new(spec: CtrSpec, init: bool, now: Instant) -> Self {
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

    fn field_path(&self) -> String {
        if self.init {
            format!("spec.initContainers{{{}}}", self.spec.name)
        } else {
            format!("spec.containers{{{}}}", self.spec.name)
        }
    }

    fn event(&self, cx: &mut SyncCtx<'_>, warning: bool, reason: &'static str, message: String) {
        cx.event(Some(&self.field_path()), warning, reason, message);
    }

    fn is_running(&self) -> bool {
        matches!(self.stage, Stage::Running)
    }

    /// An init container that exited 0 for good.
    fn completed(&self) -> bool {
        matches!(self.stage, Stage::Exited { restart_at: None })
            && self
                .current
                .as_ref()
                .and_then(|i| i.exit.as_ref())
                .is_some_and(|e| e.code == 0)
    }

    fn summary(&self) -> Summary {
        let exit_code =
            |i: &Option<Instance>| i.as_ref().and_then(|i| i.exit.as_ref()).map(|e| e.code);
        match self.stage {
            Stage::Running => Summary::Running,
            Stage::Exited { restart_at: None } => {
                Summary::Terminated(exit_code(&self.current).unwrap_or(0))
            }
            Stage::Exited {
                restart_at: Some(_),
            } => Summary::Waiting {
                last_exit: exit_code(&self.current),
            },
            Stage::Create { .. } | Stage::Pull { .. } => Summary::Waiting {
                last_exit: exit_code(&self.last),
            },
        }
    }

    fn status_ready(&self) -> bool {
        if self.init {
            self.completed()
        } else {
            self.is_running() && self.ready
        }
    }

    /// The image as the runtime reports it.
    fn status_image(&self) -> String {
        image::parse(&self.spec.image)
            .map(|r| r.with_default_tag())
            .unwrap_or_else(|_| self.spec.image.clone())
    }

    /// The kubelet's `ContainerStatus` for this container.
    fn status(&self, clock: &Clock, has_init: bool) -> Value {
        let terminated = |i: &Instance| -> Value {
            let Some(exit) = &i.exit else {
                return json!({});
            };
            json!({"terminated": {
                "exitCode": exit.code,
                "reason": exit.reason,
                "startedAt": time(clock.wall(i.started)),
                "finishedAt": time(clock.wall(exit.finished)),
                "containerID": i.id,
            }})
        };
        let waiting = |default: &'static str| -> Value {
            let (reason, message) = self
                .waiting
                .as_ref()
                .map_or((default, None), |(r, m)| (*r, m.as_deref()));
            match message {
                Some(m) => json!({"waiting": {"reason": reason, "message": m}}),
                None => json!({"waiting": {"reason": reason}}),
            }
        };
        let default_reason = if has_init {
            "PodInitializing"
        } else {
            "ContainerCreating"
        };
        let (state, last_state, container_id) = match &self.stage {
            Stage::Running => {
                let cur = self.current.as_ref();
                (
                    cur.map_or_else(
                        || json!({}),
                        |i| json!({"running": {"startedAt": time(clock.wall(i.started))}}),
                    ),
                    self.last.as_ref().map_or_else(|| json!({}), terminated),
                    cur.map(|i| i.id.clone()),
                )
            }
            Stage::Exited { restart_at: None } => (
                self.current.as_ref().map_or_else(|| json!({}), terminated),
                self.last.as_ref().map_or_else(|| json!({}), terminated),
                self.current.as_ref().map(|i| i.id.clone()),
            ),
            Stage::Exited {
                restart_at: Some(_),
            } => (
                waiting("CrashLoopBackOff"),
                self.current.as_ref().map_or_else(|| json!({}), terminated),
                self.current.as_ref().map(|i| i.id.clone()),
            ),
            Stage::Create { .. } | Stage::Pull { .. } => (
                waiting(default_reason),
                self.last.as_ref().map_or_else(|| json!({}), terminated),
                self.last.as_ref().map(|i| i.id.clone()),
            ),
        };
        let mut status = json!({
            "name": self.spec.name,
            "state": state,
            "lastState": last_state,
            "ready": self.status_ready(),
            "restartCount": self.restarts,
            "image": self.status_image(),
            "imageID": self.image_id.clone().unwrap_or_default(),
        });
        // The prober sets `started` for app containers only.
        if !self.init {
            status["started"] = json!(self.is_running() && self.started_flag);
        }
        if let Some(id) = container_id {
            status["containerID"] = json!(id);
        }
        status
    }

    /// Advances this container as far as `cx.now` allows.
    fn drive(&mut self, pod: &PodFacts<'_>, cx: &mut SyncCtx<'_>) {
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

    fn retry_later(&mut self, cx: &mut SyncCtx<'_>, reason: &'static str, message: String) {
        self.waiting = Some((reason, Some(message)));
        let at = cx.now + SYNC_RETRY;
        self.stage = Stage::Create { at };
        cx.wake_at(at);
    }

    /// Pulls the image (or finds it present) and creates the container. Returns whether the
    /// stage moved on (so `drive` should continue).
    fn try_create(&mut self, pod: &PodFacts<'_>, cx: &mut SyncCtx<'_>) -> bool {
        let now = cx.now;
        // A reference the config watch may not have delivered yet: wait a moment, quietly.
        if cx.configs.env_error(pod.ns, &self.spec.env).is_some() {
            cx.blocked = true;
            let since = *self.config_missing_since.get_or_insert(now);
            if now < since + CONFIG_GRACE {
                cx.wake_at(since + CONFIG_GRACE);
                return false;
            }
        } else {
            self.config_missing_since = None;
        }
        let image = self.spec.image.clone();
        let reference = match image::parse(&image) {
            Ok(r) => r,
            Err(e) => {
                let message = format!("Failed to apply default image tag \"{image}\": {e}");
                self.event(cx, true, "InspectFailed", message.clone());
                self.event(cx, true, "Failed", "Error: InvalidImageName".into());
                self.retry_later(cx, "InvalidImageName", message);
                return false;
            }
        };
        let present = cx.images.contains(&image);
        let pull = match self.spec.pull_policy {
            PullPolicy::Always => true,
            PullPolicy::IfNotPresent => !present,
            PullPolicy::Never if present => false,
            PullPolicy::Never => {
                let message =
                    format!("Container image \"{image}\" is not present with pull policy of Never");
                self.event(cx, true, "ErrImageNeverPull", message.clone());
                self.event(cx, true, "Failed", "Error: ErrImageNeverPull".into());
                self.retry_later(cx, "ErrImageNeverPull", message);
                return false;
            }
        };
        if !pull {
            self.event(
                cx,
                false,
                "Pulled",
                format!("Container image \"{image}\" already present on machine"),
            );
            self.image_id = Some(reference.image_id());
            return self.create(pod, cx);
        }
        if let Some(b) = self.pull_backoff
            && now < b.updated + b.delay
        {
            let message = format!("Back-off pulling image \"{image}\"");
            self.event(cx, false, "BackOff", message.clone());
            self.event(cx, true, "Failed", "Error: ImagePullBackOff".into());
            self.waiting = Some(("ImagePullBackOff", Some(message)));
            let at = b.updated + b.delay;
            self.stage = Stage::Create { at };
            cx.wake_at(at);
            return false;
        }
        self.event(cx, false, "Pulling", format!("Pulling image \"{image}\""));
        // 300–700 ms, stable per image, with nanoseconds so the message looks measured.
        let h = hash64(&[&image]);
        let took = Duration::from_millis(300 + h % 400) + Duration::from_nanos(h % 1_000_000);
        self.stage = Stage::Pull {
            at: now + took,
            began: now,
            result: reference.pull(),
        };
        true
    }

    fn finish_pull(&mut self, pod: &PodFacts<'_>, cx: &mut SyncCtx<'_>) -> bool {
        let Stage::Pull { began, result, .. } = &self.stage else {
            return false;
        };
        let (began, result) = (*began, result.clone());
        let image = self.spec.image.clone();
        match result {
            Ok(()) => {
                let took = cx.now.saturating_duration_since(began);
                self.event(
                    cx,
                    false,
                    "Pulled",
                    format!(
                        "Successfully pulled image \"{image}\" in {}",
                        go_duration(took)
                    ),
                );
                cx.images.insert(image.clone());
                self.pull_backoff = None;
                self.image_id = image::parse(&image).ok().map(|r: ImageRef| r.image_id());
                self.create(pod, cx)
            }
            Err(e) => {
                self.event(
                    cx,
                    true,
                    "Failed",
                    format!("Failed to pull image \"{image}\": {e}"),
                );
                self.event(cx, true, "Failed", "Error: ErrImagePull".into());
                Backoff::next(
                    &mut self.pull_backoff,
                    cx.now,
                    cx.backoff(BACKOFF_START),
                    cx.backoff(BACKOFF_MAX),
                );
                let delay = self.pull_backoff.map_or(SYNC_RETRY, |b| b.delay);
                self.waiting = Some(("ErrImagePull", Some(e)));
                // The next sync finds the pull in back-off (ImagePullBackOff); the one after
                // the back-off pulls again.
                let at = cx.now + delay / 2;
                self.stage = Stage::Create { at };
                cx.wake_at(at);
                false
            }
        }
    }

    /// Generates the container config (env) and starts it.
    fn create(&mut self, pod: &PodFacts<'_>, cx: &mut SyncCtx<'_>) -> bool {
        if let Some(e) = cx.configs.env_error(pod.ns, &self.spec.env) {
            cx.blocked = true;
            self.event(cx, true, "Failed", format!("Error: {e}"));
            self.retry_later(cx, "CreateContainerConfigError", e);
            return false;
        }
        let now = cx.now;
        let nanos = cx.clock.wall(now).as_nanosecond().to_string();
        let id = format!(
            "sim://{}",
            hex64(&[pod.uid, &self.spec.name, &self.restarts.to_string(), &nanos])
        );
        self.event(
            cx,
            false,
            "Created",
            format!("Created container {}", self.spec.name),
        );
        self.event(
            cx,
            false,
            "Started",
            format!("Started container {}", self.spec.name),
        );
        if self.current.is_some() || self.last.is_some() {
            self.restarts += 1;
        }
        if let Some(previous) = self.current.take() {
            self.last = Some(previous);
        }
        let behaviour = Behaviour::of(pod.annotations, &self.spec.name);
        self.current = Some(Instance {
            id,
            started: now,
            logs: behaviour.logs,
            exit: None,
        });
        self.waiting = None;
        self.stage = Stage::Running;
        self.ready = false;
        self.started_flag = false;
        self.ready_probe_at = None;
        self.ready_failures = 0;
        self.live_probe_at = None;
        self.live_failures = 0;
        true
    }

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
    fn run(&mut self, pod: &PodFacts<'_>, cx: &mut SyncCtx<'_>) -> bool {
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
    fn change_image(&mut self, image: String, cx_now: Instant) -> Option<PodEvent> {
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

    /// The log lines (timestamp, text) of `instance`.
    fn log_lines(&self, instance: &Instance, clock: &Clock) -> Vec<(Timestamp, String)> {
        let start = clock.wall(instance.started);
        let mut lines: Vec<(Timestamp, String)> = instance
            .logs
            .as_deref()
            .unwrap_or("")
            .lines()
            .enumerate()
            .map(|(i, l)| {
                let at = start
                    .checked_add(Duration::from_millis(u64::try_from(i).unwrap_or(0) + 1))
                    .unwrap_or(start);
                (at, l.to_owned())
            })
            .collect();
        if let Some(exit) = &instance.exit
            && let Some(note) = &exit.note
        {
            lines.push((clock.wall(exit.finished), note.clone()));
        }
        lines
    }

    /// Logs as the kubelet's `validateContainerLogStatus` picks the container: `Err` is
    /// (HTTP status, message).
    pub fn logs(
        &self,
        pod_name: &str,
        previous: bool,
        clock: &Clock,
    ) -> Result<Vec<(Timestamp, String)>, (u16, String)> {
        let name = &self.spec.name;
        let bad = |m: String| Err((400, m));
        // `lastState` and `state` as the status shows them.
        let (state_instance, last_instance) = match &self.stage {
            Stage::Running | Stage::Exited { restart_at: None } => {
                (self.current.as_ref(), self.last.as_ref())
            }
            Stage::Exited {
                restart_at: Some(_),
            } => (None, self.current.as_ref()),
            Stage::Create { .. } | Stage::Pull { .. } => (None, self.last.as_ref()),
        };
        if previous {
            return match last_instance {
                Some(i) if i.exit.is_some() => Ok(self.log_lines(i, clock)),
                _ => bad(format!(
                    "previous terminated container \"{name}\" in pod \"{pod_name}\" not found"
                )),
            };
        }
        if let Some(i) = state_instance {
            return Ok(self.log_lines(i, clock));
        }
        if let Some(i) = last_instance.filter(|i| i.exit.is_some()) {
            return Ok(self.log_lines(i, clock));
        }
        let reason = self
            .waiting
            .as_ref()
            .map_or("ContainerCreating", |(r, _)| *r);
        match reason {
            "ErrImagePull" => bad(format!(
                "container \"{name}\" in pod \"{pod_name}\" is waiting to start: image can't be pulled"
            )),
            "ImagePullBackOff" => bad(format!(
                "container \"{name}\" in pod \"{pod_name}\" is waiting to start: trying and failing to pull image"
            )),
            other => bad(format!(
                "container \"{name}\" in pod \"{pod_name}\" is waiting to start: {other}"
            )),
        }
    }
}

/// Failing mounts of a pod whose ConfigMap/Secret volumes are missing.
#[derive(Debug, Default)]
struct MountState {
    first_missing: Option<Instant>,
    next_attempt: Option<Instant>,
    backoff: Option<Duration>,
    last_timeout_event: Option<Instant>,
}

/// A change of a pod seen by the watch, reduced to what the simulation needs.
#[derive(Debug, Clone)]
pub(crate) struct PodUpdate {
    pub uid: String,
    pub ns: String,
    pub name: String,
    pub node: String,
    pub resource_version: String,
    pub annotations: BTreeMap<String, String>,
    pub deleting: bool,
    pub spec: super::spec::PodSpecLite,
    /// `(type, status)` of conditions the kubelet does not own (readiness gates).
    pub foreign_conditions: Vec<(String, String)>,
    pub has_scheduled_condition: bool,
    /// `status.phase` when already terminal (a pod this kubelet did not run).
    pub terminal_phase: Option<String>,
}

/// One pod on a simulated node.
#[derive(Debug)]
pub(crate) struct SimPod {
    pub uid: String,
    pub ns: String,
    pub name: String,
    pub node: String,
    pub resource_version: String,
    annotations: BTreeMap<String, String>,
    restart_policy: RestartPolicy,
    host_network: bool,
    grace: Duration,
    readiness_gates: Vec<String>,
    volumes: Vec<VolRef>,
    volume_names: Vec<String>,
    foreign_conditions: Vec<(String, String)>,
    has_scheduled_condition: bool,
    pub deleting: bool,
    init: Vec<Ctr>,
    main: Vec<Ctr>,
    start_time: Option<Instant>,
    /// The pod IP and its slot in the node's pool (None until the sandbox exists; no slot
    /// with hostNetwork).
    pub ip: Option<(String, Option<u32>)>,
    sandbox: bool,
    mount: MountState,
    terminal: Option<&'static str>,
    cond_since: HashMap<&'static str, (String, Timestamp)>,
    kill_at: Option<Instant>,
    delete_requested: bool,
    /// Hash of the last status written (None: write the next one whatever it is).
    pub last_status: Option<u64>,
    pub wake_at: Option<Instant>,
    pub blocked: bool,
}

/// A pod condition as `status.Generate*Condition` returns it.
struct Cond {
    status: &'static str,
    reason: Option<&'static str>,
    message: Option<String>,
}

impl SimPod {
    pub fn new(u: PodUpdate, now: Instant) -> Self {
        let terminal = match u.terminal_phase.as_deref() {
            Some("Succeeded") => Some("Succeeded"),
            Some("Failed") => Some("Failed"),
            _ => None,
        };
        let spec = u.spec;
        Self {
            uid: u.uid,
            ns: u.ns,
            name: u.name,
            node: u.node,
            resource_version: u.resource_version,
            annotations: u.annotations,
            restart_policy: spec.restart_policy,
            host_network: spec.host_network,
            grace: spec.grace,
            readiness_gates: spec.readiness_gates,
            volumes: spec.volumes,
            volume_names: spec.volume_names,
            foreign_conditions: u.foreign_conditions,
            has_scheduled_condition: u.has_scheduled_condition,
            deleting: u.deleting,
            init: spec
                .init
                .into_iter()
                .map(|c| Ctr::new(c, true, now))
                .collect(),
            main: spec
                .main
                .into_iter()
                .map(|c| Ctr::new(c, false, now))
                .collect(),
            start_time: None,
            ip: None,
            sandbox: false,
            mount: MountState::default(),
            terminal,
            cond_since: HashMap::new(),
            kill_at: None,
            delete_requested: false,
            last_status: None,
            wake_at: None,
            blocked: false,
        }
    }

    /// Applies a newer version of the pod; events it causes (a changed image) go to `events`.
    pub fn update(&mut self, u: PodUpdate, now: Instant, events: &mut Vec<PodEvent>) {
        self.resource_version = u.resource_version;
        self.annotations = u.annotations;
        self.deleting |= u.deleting;
        self.foreign_conditions = u.foreign_conditions;
        self.has_scheduled_condition = u.has_scheduled_condition;
        // Only images are mutable in a pod's spec.
        let specs = u.spec.init.into_iter().chain(u.spec.main);
        for (ctr, spec) in self.init.iter_mut().chain(self.main.iter_mut()).zip(specs) {
            if ctr.spec.image != spec.image
                && let Some(e) = ctr.change_image(spec.image, now)
            {
                events.push(e);
            }
        }
    }

    /// Advances the pod to `cx.now`.
    pub fn sync(&mut self, cx: &mut SyncCtx<'_>) -> SyncResult {
        let mut result = SyncResult::default();
        if self.delete_requested {
            return result;
        }
        if self.deleting {
            let kill_at = match self.kill_at {
                Some(t) => t,
                None => {
                    let running: Vec<(String, String)> = self
                        .init
                        .iter()
                        .chain(&self.main)
                        .filter(|c| c.is_running())
                        .map(|c| (c.field_path(), c.spec.name.clone()))
                        .collect();
                    for (field_path, name) in &running {
                        cx.event(
                            Some(field_path),
                            false,
                            "Killing",
                            format!("Stopping container {name}"),
                        );
                    }
                    let delay = if running.is_empty() {
                        Duration::ZERO
                    } else {
                        KILL_DELAY.min(self.grace)
                    };
                    let t = cx.now + delay;
                    self.kill_at = Some(t);
                    t
                }
            };
            if cx.now >= kill_at {
                self.delete_requested = true;
                result.delete = true;
            } else {
                cx.wake_at(kill_at);
            }
            return result;
        }
        if self.terminal.is_some() {
            return result;
        }
        self.start_time.get_or_insert(cx.now);
        cx.blocked = false;

        if !self.sandbox {
            let errors = cx.configs.volume_errors(&self.ns, &self.volumes);
            if errors.is_empty() {
                self.sandbox = true;
                self.mount = MountState::default();
                if self.ip.is_none() {
                    self.ip = Some(if self.host_network {
                        (super::node::NODE_IP.to_owned(), None)
                    } else {
                        let (ip, slot) = cx.ips.alloc();
                        (ip, Some(slot))
                    });
                }
            } else {
                cx.blocked = true;
                self.mount_failures(cx, &errors);
            }
        }

        if self.sandbox {
            let facts = PodFacts {
                ns: &self.ns,
                name: &self.name,
                uid: &self.uid,
                restart_policy: self.restart_policy,
                annotations: &self.annotations,
                pod_ip: self.ip.as_ref().map_or("", |(ip, _)| ip.as_str()),
            };
            let mut initialized = true;
            for c in &mut self.init {
                if c.completed() {
                    continue;
                }
                c.drive(&facts, cx);
                if !c.completed() {
                    initialized = false;
                    break;
                }
            }
            if initialized {
                for c in &mut self.main {
                    c.drive(&facts, cx);
                }
            }
        }
        self.blocked = cx.blocked;

        let status = self.status(cx.clock.wall(cx.now), &cx.clock);
        let digest = hash64(&[&status.to_string()]);
        if self.last_status != Some(digest) {
            self.last_status = Some(digest);
            result.status = Some(status);
        }
        result
    }

    fn mount_failures(&mut self, cx: &mut SyncCtx<'_>, errors: &[(String, String)]) {
        let now = cx.now;
        let first = *self.mount.first_missing.get_or_insert(now);
        if now < first + CONFIG_GRACE {
            cx.wake_at(first + CONFIG_GRACE);
            return;
        }
        if self.mount.next_attempt.is_none_or(|t| t <= now) {
            for (volume, error) in errors {
                cx.event(
                    None,
                    true,
                    "FailedMount",
                    format!("MountVolume.SetUp failed for volume \"{volume}\" : {error}"),
                );
            }
            let backoff = self
                .mount
                .backoff
                .map_or(MOUNT_BACKOFF_START, |b| (b * 2).min(MOUNT_BACKOFF_MAX));
            self.mount.backoff = Some(backoff);
            self.mount.next_attempt = Some(now + backoff);
        }
        let timeout_due = self
            .mount
            .last_timeout_event
            .map_or(first + MOUNT_TIMEOUT, |t| t + MOUNT_TIMEOUT);
        if now >= timeout_due {
            let unmounted: BTreeSet<&str> = errors.iter().map(|(v, _)| v.as_str()).collect();
            cx.event(
                None,
                true,
                "FailedMount",
                format!(
                    "Unable to attach or mount volumes: unmounted volumes=[{}], unattached volumes=[{}]: timed out waiting for the condition",
                    unmounted.into_iter().collect::<Vec<_>>().join(" "),
                    self.volume_names.join(" ")
                ),
            );
            self.mount.last_timeout_event = Some(now);
        }
        if let Some(t) = self.mount.next_attempt {
            cx.wake_at(t);
        }
        let timeout_due = self
            .mount
            .last_timeout_event
            .map_or(first + MOUNT_TIMEOUT, |t| t + MOUNT_TIMEOUT);
        cx.wake_at(timeout_due);
    }

    /// `getPhase` of the kubelet.
    fn phase(&self) -> &'static str {
        if let Some(p) = self.terminal {
            return p;
        }
        let mut pending_init = 0;
        let mut failed_init = 0;
        for c in &self.init {
            match c.summary() {
                Summary::Running => pending_init += 1,
                Summary::Terminated(code) => {
                    if code != 0 {
                        failed_init += 1;
                    }
                }
                Summary::Waiting {
                    last_exit: Some(code),
                } => {
                    if code != 0 {
                        failed_init += 1;
                    }
                }
                Summary::Waiting { last_exit: None } => pending_init += 1,
            }
        }
        let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
        for c in &self.main {
            match c.summary() {
                Summary::Running => running += 1,
                Summary::Terminated(code) => {
                    stopped += 1;
                    if code == 0 {
                        succeeded += 1;
                    }
                }
                Summary::Waiting { last_exit: Some(_) } => stopped += 1,
                Summary::Waiting { last_exit: None } => waiting += 1,
            }
        }
        if failed_init > 0 && self.restart_policy == RestartPolicy::Never {
            return "Failed";
        }
        if pending_init > 0 || waiting > 0 {
            return "Pending";
        }
        if running > 0 {
            return "Running";
        }
        if stopped > 0 {
            if self.restart_policy == RestartPolicy::Always {
                return "Running";
            }
            if stopped == succeeded {
                return "Succeeded";
            }
            if self.restart_policy == RestartPolicy::Never {
                return "Failed";
            }
            return "Running";
        }
        "Pending"
    }

    fn initialized_condition(&self, phase: &str) -> Cond {
        if phase == "Succeeded" {
            return Cond {
                status: "True",
                reason: Some("PodCompleted"),
                message: None,
            };
        }
        let unready: Vec<&str> = self
            .init
            .iter()
            .filter(|c| !c.status_ready())
            .map(|c| c.spec.name.as_str())
            .collect();
        if unready.is_empty() {
            Cond {
                status: "True",
                reason: None,
                message: None,
            }
        } else {
            Cond {
                status: "False",
                reason: Some("ContainersNotInitialized"),
                message: Some(format!(
                    "containers with incomplete status: [{}]",
                    unready.join(" ")
                )),
            }
        }
    }

    fn containers_ready_condition(&self, phase: &str) -> Cond {
        if phase == "Succeeded" {
            return Cond {
                status: "False",
                reason: Some("PodCompleted"),
                message: None,
            };
        }
        let unready: Vec<&str> = self
            .main
            .iter()
            .filter(|c| !c.status_ready())
            .map(|c| c.spec.name.as_str())
            .collect();
        if unready.is_empty() {
            Cond {
                status: "True",
                reason: None,
                message: None,
            }
        } else {
            Cond {
                status: "False",
                reason: Some("ContainersNotReady"),
                message: Some(format!(
                    "containers with unready status: [{}]",
                    unready.join(" ")
                )),
            }
        }
    }

    fn ready_condition(&self, containers_ready: &Cond) -> Cond {
        if containers_ready.status != "True" {
            return Cond {
                status: containers_ready.status,
                reason: containers_ready.reason,
                message: containers_ready.message.clone(),
            };
        }
        let mut unready = Vec::new();
        for gate in &self.readiness_gates {
            match self.foreign_conditions.iter().find(|(t, _)| t == gate) {
                None => unready.push(format!(
                    "corresponding condition of pod readiness gate \"{gate}\" does not exist."
                )),
                Some((_, s)) if s != "True" => unready.push(format!(
                    "the status of pod readiness gate \"{gate}\" is not \"True\", but {s}"
                )),
                Some(_) => {}
            }
        }
        if unready.is_empty() {
            Cond {
                status: "True",
                reason: None,
                message: None,
            }
        } else {
            Cond {
                status: "False",
                reason: Some("ReadinessGatesNotReady"),
                message: Some(unready.join(", ")),
            }
        }
    }

    fn condition_json(&mut self, type_: &'static str, c: Cond, now: Timestamp) -> Value {
        let since = match self.cond_since.get(type_) {
            Some((status, since)) if status == c.status => *since,
            _ => {
                self.cond_since.insert(type_, (c.status.to_owned(), now));
                now
            }
        };
        json!({
            "type": type_,
            "status": c.status,
            "reason": c.reason,
            "message": c.message,
            "lastProbeTime": null,
            "lastTransitionTime": time(since),
        })
    }

    /// The strategic-merge patch of `pods/status` the kubelet's status manager sends.
    fn status(&mut self, now: Timestamp, clock: &Clock) -> Value {
        let phase = self.phase();
        if matches!(phase, "Succeeded" | "Failed") {
            self.terminal = Some(phase);
        }
        let initialized = self.initialized_condition(phase);
        let containers_ready = self.containers_ready_condition(phase);
        let ready = self.ready_condition(&containers_ready);
        let mut conditions = vec![
            self.condition_json("Initialized", initialized, now),
            self.condition_json("Ready", ready, now),
            self.condition_json("ContainersReady", containers_ready, now),
        ];
        let mut scheduled = json!({"type": "PodScheduled", "status": "True"});
        if !self.has_scheduled_condition {
            scheduled["lastProbeTime"] = Value::Null;
            scheduled["lastTransitionTime"] = json!(time(now));
        }
        conditions.push(scheduled);
        let has_init = !self.init.is_empty();
        let mut status = json!({
            "phase": phase,
            "conditions": conditions,
            "hostIP": super::node::NODE_IP,
            "containerStatuses": self.main.iter().map(|c| c.status(clock, has_init)).collect::<Vec<_>>(),
        });
        if let Some(t) = self.start_time {
            status["startTime"] = json!(time(clock.wall(t)));
        }
        if has_init {
            status["initContainerStatuses"] = self
                .init
                .iter()
                .map(|c| c.status(clock, has_init))
                .collect();
        }
        if let Some((ip, _)) = &self.ip {
            status["podIP"] = json!(ip);
            status["podIPs"] = json!([{"ip": ip}]);
        }
        json!({"metadata": {"uid": self.uid}, "status": status})
    }

    /// Logs of `container` (see [`Ctr::logs`]).
    pub fn logs(
        &self,
        container: &str,
        previous: bool,
        clock: &Clock,
    ) -> Result<Vec<(Timestamp, String)>, (u16, String)> {
        match self
            .main
            .iter()
            .chain(&self.init)
            .find(|c| c.spec.name == container)
        {
            Some(c) => c.logs(&self.name, previous, clock),
            None => Err((
                400,
                format!(
                    "container \"{container}\" in pod \"{}\" is not available",
                    self.name
                ),
            )),
        }
    }
}
