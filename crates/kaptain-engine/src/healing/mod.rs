//! Healing without the operator's loop: what `kaptain heal`, the server's approvals and the
//! tools do (list, plan now, approve, reject — [`ops`]), and what they share with the
//! operator: the safety configuration in the cluster, the persisted guard state, the
//! recorder of Kubernetes Events, and the errors.

mod error;
pub mod ops;
mod recorder;
pub mod request;
mod state;

use k8s_openapi::api::core::v1::ConfigMap;
use kaptain_heal::guard::SafetyConfig;
use kaptain_index::Kind;

pub use error::{Error, Result, one_line};
pub use recorder::{Level, Recorder};
pub use state::{PersistedState, load as load_state, save as save_state};

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

/// The kinds healing reads: what every check needs (Secrets only when their values may be
/// read).
pub fn watched_kinds(read_secrets: bool) -> Vec<Kind> {
    let checks: Vec<_> = kaptain_analyze::catalog().iter().collect();
    kaptain_analyze::needed_kinds(&checks)
        .into_iter()
        .filter(|k| read_secrets || *k != Kind::Secret)
        .collect()
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
}
