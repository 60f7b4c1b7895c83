//! ConfigMap and Secret references: whether a pod's env and volumes resolve against the
//! ConfigMaps and Secrets that exist, and the kubelet's FailedMount events while they do not.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use tokio::time::Instant;

use super::{CONFIG_GRACE, SimPod, SyncCtx};
use crate::sim::spec::{EnvRef, VolRef, VolSource};

/// Back-off of failing mounts: 500 ms doubling up to 2m2s (nestedpendingoperations).
const MOUNT_BACKOFF_START: Duration = Duration::from_millis(500);
const MOUNT_BACKOFF_MAX: Duration = Duration::from_secs(122);
/// After this long without its volumes, the kubelet reports "Unable to attach or mount".
const MOUNT_TIMEOUT: Duration = Duration::from_secs(120);

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
    pub(super) fn env_error(&self, ns: &str, refs: &[EnvRef]) -> Option<String> {
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
    pub(super) fn volume_errors(&self, ns: &str, volumes: &[VolRef]) -> Vec<(String, String)> {
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

/// Failing mounts of a pod whose ConfigMap/Secret volumes are missing.
#[derive(Debug, Default)]
pub(super) struct MountState {
    first_missing: Option<Instant>,
    next_attempt: Option<Instant>,
    backoff: Option<Duration>,
    last_timeout_event: Option<Instant>,
}

impl SimPod {
    pub(super) fn mount_failures(&mut self, cx: &mut SyncCtx<'_>, errors: &[(String, String)]) {
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
}
