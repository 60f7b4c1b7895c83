//! How an operator instance runs, and where it keeps what must survive restarts.

use std::net::SocketAddr;
use std::time::Duration;

use kaptain_heal::guard::SafetyConfig;

/// The Lease only the leader renews.
pub const LEASE_NAME: &str = "kaptain-operator-leader";
pub use kaptain_engine::healing::{
    CONFIG_CONFIGMAP, FailPoint, INSTANCE_ANNOTATION, KEY_LABEL, MANAGER, SAFETY_KEY,
    STATE_CONFIGMAP, load_safety, parse_safety, safety_from_configmap,
};
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watches_all_namespaces_unless_told() {
        let mut c = OperatorConfig::new("kaptain-system");
        assert!(c.watches("shop"));
        c.watch_namespaces = vec!["shop".into()];
        assert!(c.watches("shop"));
        assert!(!c.watches("other"));
    }
}
