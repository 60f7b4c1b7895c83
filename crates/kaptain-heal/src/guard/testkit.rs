//! Well-formed proposals of every kind, for the guard's tests.

use std::collections::BTreeMap;

use jiff::Timestamp;
use kaptain_model::{Category, ObjectRef, Severity};
use serde_json::json;

use super::{Breakers, GuardContext, RESTARTED_AT, SafetyConfig, TargetFacts};
use crate::Proposal;
use crate::crd::{
    ActionKind, ActionTemplate, Change, FindingRef, HealingPolicySpec, Mode, Operation, PatchType,
    PolicyKind, PolicyRef, ReplicaChange, ResourceChange, ResourceField, ResourceName,
};

pub fn now() -> Timestamp {
    "2026-01-01T12:00:00Z".parse().expect("valid timestamp")
}

pub fn at(offset_secs: i64) -> Timestamp {
    Timestamp::from_second(now().as_second() + offset_secs).expect("valid timestamp")
}

/// One template per kind, with the bounds [`proposal`] stays within.
pub fn templates() -> Vec<ActionTemplate> {
    vec![
        ActionTemplate::RestartPod {},
        ActionTemplate::RolloutRestart {},
        ActionTemplate::Scale { min: 1, max: 5 },
        ActionTemplate::RaiseResources {
            resource: ResourceName::Memory,
            factor: 1.5,
            max: "2Gi".into(),
        },
        ActionTemplate::RollbackDeployment {},
        ActionTemplate::CordonNode {},
        ActionTemplate::ForceDeleteStuckPod { grace_seconds: 600 },
        ActionTemplate::SuggestManifest {},
        ActionTemplate::SetImage {},
    ]
}

pub fn policy(mode: Mode) -> HealingPolicySpec {
    HealingPolicySpec {
        actions: templates(),
        mode,
        min_confidence: 0.8,
        ..HealingPolicySpec::default()
    }
}

pub fn policy_ref(name: &str) -> PolicyRef {
    PolicyRef {
        kind: PolicyKind::ClusterHealingPolicy,
        namespace: None,
        name: name.into(),
        generation: 1,
    }
}

/// The object an action of `kind` targets, in namespace `ns`.
pub fn target_for(kind: ActionKind, ns: &str) -> ObjectRef {
    match kind {
        ActionKind::RestartPod | ActionKind::ForceDeleteStuckPod => {
            ObjectRef::new("v1", "Pod", Some(ns), "api-7d9c-x2")
        }
        ActionKind::CordonNode => ObjectRef::new("v1", "Node", None, "node-1"),
        ActionKind::SuggestManifest => ObjectRef::new("v1", "ConfigMap", Some(ns), "api-config"),
        _ => ObjectRef::new("apps/v1", "Deployment", Some(ns), "api"),
    }
}

/// A well-formed change of `kind` on `target`, within [`templates`]' bounds.
pub fn change_for(kind: ActionKind, target: ObjectRef) -> Change {
    let mut c = Change::new(target.clone(), Operation::Patch);
    match kind {
        ActionKind::RestartPod => {
            c.operation = Operation::Delete;
            c.precondition_uid = Some("uid-1".into());
        }
        ActionKind::ForceDeleteStuckPod => {
            c.operation = Operation::Delete;
            c.grace_period_seconds = Some(0);
            c.precondition_uid = Some("uid-1".into());
        }
        ActionKind::RolloutRestart => {
            c.patch_type = Some(PatchType::Strategic);
            c.patch = Some(
                json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now().to_string()}}}}}),
            );
        }
        ActionKind::Scale => {
            c.patch_type = Some(PatchType::Merge);
            c.patch = Some(json!({"spec": {"replicas": 3}}));
            c.replicas = Some(ReplicaChange {
                before: 2,
                after: 3,
            });
        }
        ActionKind::RaiseResources => {
            c.patch_type = Some(PatchType::Strategic);
            c.patch = Some(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "api", "resources": {"limits": {"memory": "384Mi"}}}
            ]}}}}));
            c.resources = vec![ResourceChange {
                container: "api".into(),
                resource: ResourceName::Memory,
                field: ResourceField::Limits,
                before: "256Mi".into(),
                after: "384Mi".into(),
            }];
        }
        ActionKind::RollbackDeployment => {
            c.patch_type = Some(PatchType::Json);
            c.patch =
                Some(json!([{"op": "replace", "path": "/spec/template", "value": {"spec": {}}}]));
        }
        ActionKind::CordonNode => {
            c.patch_type = Some(PatchType::Merge);
            c.patch = Some(json!({"spec": {"unschedulable": true}}));
        }
        ActionKind::SetImage => {
            c.patch_type = Some(PatchType::Strategic);
            c.patch = Some(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "api", "image": "shop/api:2.0"}
            ]}}}}));
        }
        ActionKind::SuggestManifest => {
            c.operation = Operation::Create;
            c.manifest = Some(json!({
                "apiVersion": "v1", "kind": target.kind,
                "metadata": {"name": target.name, "namespace": target.namespace},
            }));
        }
    }
    c
}

pub fn proposal(kind: ActionKind, ns: &str) -> Proposal {
    let target = target_for(kind, ns);
    let object = match kind {
        ActionKind::CordonNode | ActionKind::SuggestManifest => target.clone(),
        _ => ObjectRef::new("v1", "Pod", Some(ns), "api-7d9c-x2"),
    };
    Proposal {
        finding: FindingRef {
            id: "pod.crash-loop".into(),
            fingerprint: "fp-1".into(),
            title: "crash".into(),
            severity: Severity::Critical,
            category: Category::Reliability,
            object,
            evidence: Vec::new(),
            confidence: 0.95,
            root_cause: true,
        },
        policy: policy_ref("p"),
        action: kind,
        target: target.display(),
        change: change_for(kind, target),
        reasoning: "because".into(),
        confidence: 0.95,
        priority: 95,
        idempotency_key: format!("key-{kind}"),
        requires_approval: None,
        verify_within: std::time::Duration::from_secs(300).into(),
    }
}

/// Facts under which every [`proposal`] passes the bounds.
pub fn facts() -> TargetFacts {
    TargetFacts {
        target_labels: BTreeMap::from([("app".into(), "api".into())]),
        owner: Some(ObjectRef::new(
            "apps/v1",
            "ReplicaSet",
            Some("shop"),
            "api-7d9c",
        )),
        pods_affected: 1,
        workload_replicas: Some(3),
        deletion_timestamp: Some(at(-3600)),
        rollback_revision: Some(1),
        ..TargetFacts::default()
    }
}

/// Owns what a [`GuardContext`] borrows.
#[derive(Debug, Clone)]
pub struct World {
    pub config: SafetyConfig,
    pub policy: Option<HealingPolicySpec>,
    pub history: Vec<super::ActionRecord>,
    pub breakers: Breakers,
    pub facts: TargetFacts,
    pub approved_by: Option<String>,
    pub now: Timestamp,
}

impl World {
    pub fn new(mode: Mode) -> World {
        World {
            config: SafetyConfig::default(),
            policy: Some(policy(mode)),
            history: Vec::new(),
            breakers: Breakers::default(),
            facts: facts(),
            approved_by: None,
            now: now(),
        }
    }

    pub fn ctx(&self) -> GuardContext<'_> {
        GuardContext {
            now: self.now,
            config: &self.config,
            policy: self.policy.as_ref(),
            history: &self.history,
            breakers: &self.breakers,
            facts: &self.facts,
            approved_by: self.approved_by.as_deref(),
        }
    }

    pub fn eval(&self, p: &Proposal) -> super::Decision {
        super::evaluate(&self.ctx(), p)
    }
}

/// A past action on `target` by policy `policy`, `ago` seconds ago.
pub fn record(policy: &str, target: ObjectRef, ago: i64, key: &str) -> super::ActionRecord {
    super::ActionRecord {
        idempotency_key: key.into(),
        policy: policy_ref(policy),
        action: ActionKind::RestartPod,
        target,
        started_at: at(-ago),
    }
}
