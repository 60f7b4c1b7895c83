//! One pod on a simulated node: its containers' life cycle and the status the kubelet
//! (v1.20) writes for it.
//!
//! Everything here is synchronous and driven by [`SimPod::sync`], which the engine calls when
//! the pod changes, when something it waits for (a ConfigMap, a Secret) changes, and at the
//! deadline the previous sync asked for. A sync never blocks: pulls, run times, probes and
//! back-offs are deadlines.

mod config_refs;
mod container;
mod container_logs;
mod context;
mod run;
mod start;
mod status;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use tokio::time::Instant;

pub(crate) use config_refs::ConfigStore;
pub(crate) use context::{Clock, IpPool, PodEvent, SyncCtx};

use super::spec::{RestartPolicy, VolRef};
use super::util::hash64;
use config_refs::MountState;
use container::Ctr;
use context::{PodFacts, SyncResult};

/// How long a missing ConfigMap/Secret must stay missing before it is reported (the watch
/// of ConfigMaps can lag behind the watch of Pods when both are created together).
const CONFIG_GRACE: Duration = Duration::from_secs(1);
/// The kubelet's pod worker retries a failed sync after about this long.
const SYNC_RETRY: Duration = Duration::from_secs(10);
/// How long a deleted pod's containers take to stop (capped by the grace period).
const KILL_DELAY: Duration = Duration::from_secs(1);
/// Crash-loop and image-pull back-off: 10 s doubling up to 5 min (before scaling).
const BACKOFF_START: Duration = Duration::from_secs(10);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

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
}
