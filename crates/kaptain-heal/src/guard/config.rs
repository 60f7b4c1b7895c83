//! The operator-wide safety configuration: what is protected, what is never allowed, global
//! caps and the circuit breaker's thresholds. Read from a ConfigMap or flags; every field has
//! the default DESIGN.md names.

use std::collections::BTreeMap;

use kaptain_model::ObjectRef;
use kube_core::Duration;
use serde::{Deserialize, Serialize};

use crate::crd::Operation;

/// The label that protects an object (or every object of a namespace) from any action.
pub const PROTECTED_LABEL: &str = "kaptain.dev/protected";

/// What the safety guard protects and how far any action may go, whatever the policies say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SafetyConfig {
    /// Objects in these namespaces are never changed.
    pub protected_namespaces: Vec<String>,
    /// Objects of these kinds are never changed.
    pub protected_kinds: Vec<String>,
    /// Objects carrying any of these labels (or in a namespace carrying one) are never changed.
    pub protected_labels: BTreeMap<String, String>,
    /// Operations never allowed on a kind.
    pub never_allow: Vec<NeverAllow>,
    /// Make every action a dry-run, whatever the policies' modes.
    pub dry_run: bool,
    /// Real actions all policies together may start per rolling hour.
    pub max_actions_per_hour: u32,
    /// The most pods any single action may touch, whatever a policy allows.
    pub max_pods_per_action: u32,
    /// The largest factor by which any action may raise a resource.
    pub max_resource_factor: f64,
    /// The breaker of each scope: one policy acting on one workload.
    pub breaker: BreakerConfig,
    /// The operator-wide breaker, for systemic failure (many workloads failing at once).
    pub global_breaker: BreakerConfig,
}

impl Default for SafetyConfig {
    fn default() -> Self {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let delete = |kind: &str| NeverAllow {
            operation: Some(Operation::Delete),
            kind: kind.to_string(),
        };
        let any = |kind: &str| NeverAllow {
            operation: None,
            kind: kind.to_string(),
        };
        SafetyConfig {
            protected_namespaces: s(&["kube-system", "kube-public", "kube-node-lease"]),
            protected_kinds: s(&[
                "CustomResourceDefinition",
                "PersistentVolume",
                "Namespace",
                "Role",
                "ClusterRole",
                "RoleBinding",
                "ClusterRoleBinding",
            ]),
            protected_labels: BTreeMap::from([(PROTECTED_LABEL.to_string(), "true".to_string())]),
            never_allow: vec![
                delete("StatefulSet"),
                delete("PersistentVolumeClaim"),
                delete("PersistentVolume"),
                delete("Namespace"),
                any("Role"),
                any("ClusterRole"),
                any("RoleBinding"),
                any("ClusterRoleBinding"),
            ],
            dry_run: false,
            max_actions_per_hour: 30,
            max_pods_per_action: 25,
            max_resource_factor: 4.0,
            breaker: BreakerConfig::default(),
            global_breaker: BreakerConfig {
                failure_threshold: 10,
                ..BreakerConfig::default()
            },
        }
    }
}

/// An operation never allowed on a kind; `operation: null` forbids every change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NeverAllow {
    #[serde(default)]
    pub operation: Option<Operation>,
    pub kind: String,
}

/// When the circuit breaker opens and how long it stays open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BreakerConfig {
    /// Failed actions within `window` that open the breaker.
    pub failure_threshold: u32,
    pub window: Duration,
    /// How long the breaker stays open before one trial action may run (half-open).
    pub cool_off: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_threshold: 3,
            window: std::time::Duration::from_secs(10 * 60).into(),
            cool_off: std::time::Duration::from_secs(15 * 60).into(),
        }
    }
}

/// Whole seconds of a Kubernetes duration; negative durations count as zero.
pub(crate) fn secs(d: &Duration) -> i64 {
    if d.is_negative() {
        return 0;
    }
    i64::try_from(std::time::Duration::from(*d).as_secs()).unwrap_or(i64::MAX)
}

impl SafetyConfig {
    pub fn namespace_protected(&self, ns: Option<&str>) -> bool {
        ns.is_some_and(|ns| self.protected_namespaces.iter().any(|p| p == ns))
    }

    pub fn kind_protected(&self, kind: &str) -> bool {
        self.protected_kinds
            .iter()
            .any(|k| k.eq_ignore_ascii_case(kind))
    }

    /// The protected label an object's labels carry, if any.
    pub fn protected_label<'a>(&'a self, labels: &BTreeMap<String, String>) -> Option<&'a str> {
        self.protected_labels
            .iter()
            .find(|(k, v)| labels.get(*k) == Some(*v))
            .map(|(k, _)| k.as_str())
    }

    /// The never-allow rule an operation on a target breaks, if any.
    pub fn never_allowed(&self, op: Operation, target: &ObjectRef) -> Option<&NeverAllow> {
        self.never_allow.iter().find(|n| {
            n.kind.eq_ignore_ascii_case(&target.kind) && n.operation.is_none_or(|o| o == op)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_design_defaults() {
        let c = SafetyConfig::default();
        for ns in ["kube-system", "kube-public", "kube-node-lease"] {
            assert!(c.namespace_protected(Some(ns)), "{ns}");
        }
        assert!(!c.namespace_protected(Some("shop")));
        assert!(!c.namespace_protected(None));
        for k in [
            "CustomResourceDefinition",
            "PersistentVolume",
            "Namespace",
            "ClusterRole",
        ] {
            assert!(c.kind_protected(k), "{k}");
        }
        assert!(!c.kind_protected("Deployment"));
        let labels = BTreeMap::from([(PROTECTED_LABEL.to_string(), "true".to_string())]);
        assert_eq!(c.protected_label(&labels), Some(PROTECTED_LABEL));
        let off = BTreeMap::from([(PROTECTED_LABEL.to_string(), "false".to_string())]);
        assert_eq!(c.protected_label(&off), None);
        let sts = ObjectRef::new("apps/v1", "StatefulSet", Some("db"), "pg");
        assert!(c.never_allowed(Operation::Delete, &sts).is_some());
        assert!(c.never_allowed(Operation::Patch, &sts).is_none());
        let role = ObjectRef::new("rbac.authorization.k8s.io/v1", "Role", Some("a"), "r");
        assert!(c.never_allowed(Operation::Patch, &role).is_some());
        let pvc = ObjectRef::new("v1", "PersistentVolumeClaim", Some("a"), "data");
        assert!(c.never_allowed(Operation::Delete, &pvc).is_some());
    }

    #[test]
    fn config_reads_from_partial_yaml_with_defaults() {
        let c: SafetyConfig = serde_yaml_ng::from_str(
            "protectedNamespaces: [payments]\ndryRun: true\nbreaker:\n  failureThreshold: 5\n",
        )
        .expect("parse");
        assert_eq!(c.protected_namespaces, vec!["payments"]);
        assert!(c.dry_run);
        assert_eq!(c.breaker.failure_threshold, 5);
        assert_eq!(secs(&c.breaker.cool_off), 900);
        assert_eq!(c.max_resource_factor, 4.0);
        let back: SafetyConfig =
            serde_json::from_value(serde_json::to_value(&c).expect("ser")).expect("de");
        assert_eq!(back, c);
    }
}
