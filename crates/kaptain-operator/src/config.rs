//! How an operator instance runs, and where it keeps what must survive restarts.

use std::net::SocketAddr;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kaptain_heal::guard::SafetyConfig;

use crate::error::{Error, Result};

/// The Lease only the leader renews.
pub const LEASE_NAME: &str = "kaptain-operator-leader";
/// The ConfigMap holding what must survive restarts: first-seen times and the breaker.
pub const STATE_CONFIGMAP: &str = "kaptain-operator-state";
/// The ConfigMap people edit: the safety configuration under [`SAFETY_KEY`].
pub const CONFIG_CONFIGMAP: &str = "kaptain-operator-config";
/// Key of [`CONFIG_CONFIGMAP`] holding a YAML [`SafetyConfig`].
pub const SAFETY_KEY: &str = "safety.yaml";
/// The field manager of every change, and the reporting component of every Event.
pub use kaptain_index::identity::MANAGER;
/// Label carrying a HealingAction's idempotency key.
pub const KEY_LABEL: &str = "kaptain.dev/idempotency-key";
/// Annotation naming the operator instance that created a HealingAction.
pub const INSTANCE_ANNOTATION: &str = "kaptain.dev/operator-instance";

/// Where a test makes the operator stop as if it had crashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailPoint {
    /// Right after the intent (phase Executing, observedBefore, dry-run) is recorded, before
    /// the change is made.
    AfterIntent,
    /// Right after the change is made, before the action moves to Verifying.
    AfterApply,
}

/// An operator instance's settings.
#[derive(Debug, Clone)]
pub struct OperatorConfig {
    /// The operator's own namespace: Lease, state and configuration ConfigMaps, and the
    /// HealingActions of cluster-scoped targets or protected namespaces.
    pub namespace: String,
    /// Only watch (and heal in) these namespaces; empty: all. Cluster-scoped kinds are
    /// always watched.
    pub watch_namespaces: Vec<String>,
    /// Who this instance is in the Lease (unique per replica).
    pub identity: String,
    /// `/metrics`, `/healthz`, `/readyz`; `None`: no HTTP server.
    pub metrics_addr: Option<SocketAddr>,
    /// Watch Secrets (their values stay in the process; off by default, as reading Secret
    /// values is opt-in in the RBAC).
    pub read_secrets: bool,
    /// Overrides the ConfigMap's safety configuration.
    pub safety_override: Option<SafetyConfig>,
    /// How long changes are collected before one reconcile runs.
    pub debounce: Duration,
    /// Lease duration; a leader that cannot renew for this long is replaced.
    pub lease_duration: Duration,
    /// How often the leader renews (and followers retry).
    pub renew_every: Duration,
    /// The longest a cleared finding must stay cleared before an action succeeds (the
    /// actual settle time is the smaller of this and a third of the verification window).
    pub max_settle: Duration,
    /// How long a Proposed action whose finding disappeared waits before it is rejected.
    pub stale_after: Duration,
    /// How many times the reverse patch of a change that was not verified is tried before
    /// the action ends Failed with reason RollbackFailed.
    pub rollback_attempts: u32,
    /// The wait after the first failed reverse patch; it doubles after each failure.
    pub rollback_backoff: Duration,
    #[doc(hidden)]
    pub fail_point: Option<FailPoint>,
    /// Analyzes as if this much more time had passed, as `kaptain diagnose --now` does: lets
    /// tests meet findings behind the analyzers' grace periods (a node NotReady for 5 minutes,
    /// a pod Terminating 5 minutes past its grace period) without waiting for them. Only the
    /// analysis moves; first-seen times, rate limits and verification keep the real clock.
    #[doc(hidden)]
    pub analyze_ahead: Duration,
}

impl OperatorConfig {
    /// Defaults for an operator in `namespace`: all namespaces watched, identity from the
    /// host name and process id, no HTTP server.
    pub fn new(namespace: &str) -> Self {
        OperatorConfig {
            namespace: namespace.to_string(),
            watch_namespaces: Vec::new(),
            identity: default_identity(),
            metrics_addr: None,
            read_secrets: false,
            safety_override: None,
            debounce: Duration::from_millis(200),
            lease_duration: Duration::from_secs(10),
            renew_every: Duration::from_secs(2),
            max_settle: Duration::from_secs(30),
            stale_after: Duration::from_secs(60),
            rollback_attempts: 5,
            rollback_backoff: Duration::from_secs(2),
            fail_point: None,
            analyze_ahead: Duration::ZERO,
        }
    }

    /// Whether objects of namespace `ns` are watched.
    pub fn watches(&self, ns: &str) -> bool {
        self.watch_namespaces.is_empty() || self.watch_namespaces.iter().any(|n| n == ns)
    }
}

/// `POD_NAME` (set through the downward API), else `HOSTNAME`, plus the process id.
pub fn default_identity() -> String {
    let host = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "kaptain".to_string());
    format!("{host}-{}", std::process::id())
}

/// Reads the safety configuration from the operator's ConfigMap (defaults when it is absent
/// or has no `safety.yaml`).
pub fn safety_from_configmap(cm: Option<&ConfigMap>) -> Result<SafetyConfig> {
    let Some(yaml) = cm
        .and_then(|c| c.data.as_ref())
        .and_then(|d| d.get(SAFETY_KEY))
    else {
        return Ok(SafetyConfig::default());
    };
    parse_safety(yaml)
}

/// Parses a YAML [`SafetyConfig`]; unset fields keep their defaults.
pub fn parse_safety(yaml: &str) -> Result<SafetyConfig> {
    if yaml.trim().is_empty() {
        return Ok(SafetyConfig::default());
    }
    serde_yaml_ng::from_str(yaml).map_err(|e| Error::Config(e.to_string()))
}

/// Reads the safety configuration of the operator in `namespace` from the cluster.
pub async fn load_safety(client: &kube::Client, namespace: &str) -> Result<SafetyConfig> {
    let api: kube::Api<ConfigMap> = kube::Api::namespaced(client.clone(), namespace);
    let cm = api.get_opt(CONFIG_CONFIGMAP).await?;
    safety_from_configmap(cm.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn safety_comes_from_the_configmap_with_defaults() {
        assert_eq!(
            safety_from_configmap(None).expect("none"),
            SafetyConfig::default()
        );
        let cm = ConfigMap {
            data: Some(BTreeMap::from([(
                SAFETY_KEY.to_string(),
                "protectedNamespaces: [payments]\n".to_string(),
            )])),
            ..ConfigMap::default()
        };
        let c = safety_from_configmap(Some(&cm)).expect("parse");
        assert_eq!(c.protected_namespaces, vec!["payments"]);
        assert_eq!(
            c.max_actions_per_hour,
            SafetyConfig::default().max_actions_per_hour
        );
        assert!(parse_safety("protectedNamespaces: 3").is_err());
    }

    #[test]
    fn watches_all_namespaces_unless_told() {
        let mut c = OperatorConfig::new("kaptain-system");
        assert!(c.watches("shop"));
        c.watch_namespaces = vec!["shop".into()];
        assert!(c.watches("shop"));
        assert!(!c.watches("other"));
    }
}
