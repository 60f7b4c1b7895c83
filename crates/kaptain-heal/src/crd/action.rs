//! `HealingAction`: one proposed or executed action, the finding that triggered it, the exact
//! change, and where it stands in its life (see [`super::phase`]).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kaptain_model::{Category, Evidence, Finding, ObjectRef, Severity};
use kube_core::Duration;
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::phase::{InvalidTransition, Phase, PhaseEvent, transition};
use super::policy::{ActionKind, PolicyRef, ResourceName};
use super::schema::{
    CategorySchema, EvidenceSchema, ObjectRefSchema, SeveritySchema, any_json, duration,
};

/// One action Kaptain proposes or takes, with the finding and evidence behind it, its
/// reasoning, the exact change (before/after, patch) and its phase.
// kube-derive's repeated `printcolumn(type_ = ...)` arguments are not duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    crates(kube_core = "::kube_core"),
    group = "kaptain.dev",
    version = "v1alpha1",
    kind = "HealingAction",
    namespaced,
    status = "HealingActionStatus",
    shortname = "ha",
    category = "kaptain",
    doc = "One action Kaptain proposes or takes to heal a finding, and its outcome.",
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Target", type_ = "string", json_path = ".spec.target"),
    printcolumn(name = "Action", type_ = "string", json_path = ".spec.action"),
    printcolumn(
        name = "Finding",
        type_ = "string",
        json_path = ".spec.finding.id",
        priority = 1
    ),
    printcolumn(
        name = "Confidence",
        type_ = "number",
        json_path = ".spec.confidence",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct HealingActionSpec {
    /// The finding that triggered the action.
    pub finding: FindingRef,
    /// The policy that proposed it, at the generation it had then.
    pub policy: PolicyRef,
    pub action: ActionKind,
    /// The changed object, as `Kind/namespace/name` (for people and `kubectl get`).
    pub target: String,
    /// Exactly what changes.
    pub change: Change,
    /// Why this action, in plain words.
    pub reasoning: String,
    /// How sure Kaptain is of the finding (0..1).
    pub confidence: f64,
    /// Higher runs first.
    pub priority: i32,
    /// Stable over re-plans of the same finding by the same policy generation: the operator
    /// never creates or executes two actions with one key.
    pub idempotency_key: String,
    /// Set when the action must wait for a person whatever the policy's mode (suggested
    /// manifests, risky force deletions), with the reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_approval: Option<String>,
    /// How long the finding has to clear after the change before the action fails.
    #[schemars(schema_with = "duration")]
    pub verify_within: Duration,
}

/// The finding behind an action, as reported by the analyzers (`kaptain.report/v1` names).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FindingRef {
    pub id: String,
    pub fingerprint: String,
    pub title: String,
    #[schemars(with = "SeveritySchema")]
    pub severity: Severity,
    #[schemars(with = "CategorySchema")]
    pub category: Category,
    #[schemars(with = "ObjectRefSchema")]
    pub object: ObjectRef,
    #[serde(default)]
    #[schemars(with = "Vec<EvidenceSchema>")]
    pub evidence: Vec<Evidence>,
    pub confidence: f64,
    #[serde(default)]
    pub root_cause: bool,
}

impl From<&Finding> for FindingRef {
    fn from(f: &Finding) -> Self {
        FindingRef {
            id: f.id.clone(),
            fingerprint: f.fingerprint.clone(),
            title: f.title.clone(),
            severity: f.severity,
            category: f.category,
            object: f.object.clone(),
            evidence: f.evidence.clone(),
            confidence: f.confidence,
            root_cause: f.root_cause,
        }
    }
}

/// What the executor does to the target.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    Patch,
    Delete,
    Create,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Patch => "patch",
            Operation::Delete => "delete",
            Operation::Create => "create",
        }
    }
}

/// How a patch is applied (the Content-Type the executor sends).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PatchType {
    /// `application/strategic-merge-patch+json`
    Strategic,
    /// `application/merge-patch+json`
    Merge,
    /// `application/json-patch+json`
    Json,
}

/// The exact change: the operation on the target, the patch (and the one that undoes it),
/// the relevant state before and after, and the bounded quantities it moves.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    #[schemars(with = "ObjectRefSchema")]
    pub target: ObjectRef,
    pub operation: Operation,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<PatchType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "any_json")]
    pub patch: Option<Value>,
    /// The patch (same type) that restores the state before; absent when the change cannot
    /// be undone (a deleted pod).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "any_json")]
    pub reverse_patch: Option<Value>,
    /// For deletes: the grace period to delete with (0 forces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period_seconds: Option<i64>,
    /// For deletes: the UID the object must still have (a delete precondition), so a pod
    /// re-created under the same name is never deleted by a repeated step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precondition_uid: Option<String>,
    /// For creates: the object to create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "any_json")]
    pub manifest: Option<Value>,
    /// The relevant part of the target before the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "any_json")]
    pub before: Option<Value>,
    /// The same part after the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "any_json")]
    pub after: Option<Value>,
    /// Container resources the change moves (checked against the policy's bounds).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceChange>,
    /// Replicas the change moves (checked against the policy's bounds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<ReplicaChange>,
}

impl Change {
    /// A change of `operation` on `target` with nothing else set.
    pub fn new(target: ObjectRef, operation: Operation) -> Self {
        Change {
            target,
            operation,
            patch_type: None,
            patch: None,
            reverse_patch: None,
            grace_period_seconds: None,
            precondition_uid: None,
            manifest: None,
            before: None,
            after: None,
            resources: Vec::new(),
            replicas: None,
        }
    }
}

/// Which side of a container's resources a resource change moves.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ResourceField {
    Limits,
    Requests,
}

/// One container resource quantity, before and after.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceChange {
    pub container: String,
    pub resource: ResourceName,
    pub field: ResourceField,
    pub before: String,
    pub after: String,
}

/// Replicas before and after.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub struct ReplicaChange {
    pub before: i32,
    pub after: i32,
}

/// Where an action stands.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealingActionStatus {
    #[serde(default)]
    pub phase: Phase,
    /// The safety guard's last verdict on the action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<GuardVerdict>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_by: Option<String>,
    /// The server-side dry-run of the change (every real change is dry-run first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run_result: Option<DryRunResult>,
    /// The target as read just before the change (write-ahead: recorded before acting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "any_json")]
    pub observed_before: Option<Value>,
    #[serde(default)]
    pub times: PhaseTimes,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// A stable label for what went wrong (for metrics and Events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_category: Option<String>,
    /// Why the action is Failed (or RolledBack), as one CamelCase word: `DryRunFailed`,
    /// `ChangeFailed`, `NotVerified` (a rollback follows when the kind allows), `RolledBack`,
    /// `RollbackFailed` (the reverse patch kept failing: the change is still in place).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Every attempt to apply the reverse patch, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollback_attempts: Vec<RollbackAttempt>,
}

/// One attempt to reverse a change that was not verified.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RollbackAttempt {
    pub time: Time,
    pub succeeded: bool,
    /// The API server's answer when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl HealingActionStatus {
    /// Moves the phase by `event` at `now`, stamping the phase's time, and for approvals and
    /// rejections who did it. On an invalid transition nothing changes.
    pub fn apply(
        &mut self,
        event: PhaseEvent,
        now: jiff::Timestamp,
        actor: Option<&str>,
    ) -> Result<Phase, InvalidTransition> {
        let next = transition(self.phase, event)?;
        self.phase = next;
        let t = Some(Time(now));
        let times = &mut self.times;
        match next {
            Phase::Proposed => times.proposed = t,
            Phase::Approved => {
                times.approved = t;
                self.approved_by = actor.map(str::to_string);
            }
            Phase::Rejected => {
                times.rejected = t;
                self.rejected_by = actor.map(str::to_string);
            }
            Phase::Executing => times.executing = t,
            Phase::Verifying => times.verifying = t,
            Phase::Succeeded => times.succeeded = t,
            Phase::Failed => times.failed = t,
            Phase::RolledBack => times.rolled_back = t,
        }
        Ok(next)
    }
}

/// When the action entered each phase.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PhaseTimes {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposed: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executing: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verifying: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub succeeded: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_back: Option<Time>,
}

/// The outcome of the server-side dry-run of a change.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DryRunResult {
    pub succeeded: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The object as the server would have it after the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "any_json")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Time>,
}

/// The safety guard's decision, as recorded on an action.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GuardVerdict {
    /// `allow`, `allow-dry-run`, `needs-approval` or `deny`.
    pub decision: String,
    /// The safety rule that decided (for denials and approvals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Time>,
}
