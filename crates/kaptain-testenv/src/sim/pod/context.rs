//! What one sync of a pod works with: the engine's clock, the node's IP pool, the events it
//! records, what it asks of the engine, and the pod facts its containers read.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use serde_json::Value;
use tokio::time::Instant;

use super::ConfigStore;
use crate::sim::spec::RestartPolicy;

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

    pub(super) fn alloc(&mut self) -> (String, u32) {
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
    pub(super) fn wake_at(&mut self, at: Instant) {
        if self.wake.is_none_or(|w| at < w) {
            self.wake = Some(at);
        }
    }

    pub(super) fn event(
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

    pub(super) fn backoff(&self, base: Duration) -> Duration {
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
pub(super) struct PodFacts<'a> {
    pub ns: &'a str,
    pub name: &'a str,
    pub uid: &'a str,
    pub restart_policy: RestartPolicy,
    pub annotations: &'a BTreeMap<String, String>,
    pub pod_ip: &'a str,
}
