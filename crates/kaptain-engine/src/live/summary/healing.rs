//! HealingActions (Kaptain's CRD) as rows: phase, target, action, finding, age.

use std::sync::Arc;

use jiff::Timestamp;
use kaptain_heal::crd::{HealingAction, Phase};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One HealingAction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HealingActionRow {
    pub namespace: String,
    pub name: String,
    /// `Proposed`, `Approved`, `Rejected`, `Executing`, `Verifying`, `Succeeded`, `Failed`,
    /// `RolledBack`.
    pub phase: String,
    /// e.g. `RestartPod`, `Scale`.
    pub action: String,
    /// The changed object, `Kind/namespace/name`.
    pub target: String,
    /// The finding that triggered it.
    pub finding_id: String,
    pub finding_title: String,
    pub severity: String,
    /// The policy that proposed it.
    pub policy: String,
    /// Why a person must approve it, when they must.
    pub requires_approval: Option<String>,
    pub approved_by: Option<String>,
    pub rejected_by: Option<String>,
    pub message: Option<String>,
    pub confidence: f64,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub created_at: Option<Timestamp>,
    /// Seconds since creation, at the time of the call.
    pub age_seconds: Option<i64>,
    /// For optimistic concurrency when approving or rejecting.
    pub resource_version: Option<String>,
}

impl HealingActionRow {
    /// Waiting for a person.
    pub fn is_pending(&self) -> bool {
        self.phase == Phase::Proposed.as_str()
    }
}

/// The phase an action is in (an action without status is `Proposed`).
pub fn phase_of(a: &HealingAction) -> Phase {
    a.status.as_ref().map(|s| s.phase).unwrap_or_default()
}

/// Rows for `actions`, newest first (then by namespace and name).
pub fn healing_rows(actions: &[Arc<HealingAction>], now: Timestamp) -> Vec<HealingActionRow> {
    let mut rows: Vec<HealingActionRow> = actions.iter().map(|a| row(a, now)).collect();
    rows.sort_by(|a, b| {
        b.created_at
            .cmp(&a.created_at)
            .then_with(|| a.namespace.cmp(&b.namespace))
            .then_with(|| a.name.cmp(&b.name))
    });
    rows
}

fn row(a: &HealingAction, now: Timestamp) -> HealingActionRow {
    let created_at = a.metadata.creation_timestamp.as_ref().map(|t| t.0);
    let status = a.status.as_ref();
    HealingActionRow {
        namespace: a.metadata.namespace.clone().unwrap_or_default(),
        name: a.metadata.name.clone().unwrap_or_default(),
        phase: phase_of(a).as_str().to_string(),
        action: serde_json::to_value(a.spec.action)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| format!("{:?}", a.spec.action)),
        target: a.spec.target.clone(),
        finding_id: a.spec.finding.id.clone(),
        finding_title: a.spec.finding.title.clone(),
        severity: a.spec.finding.severity.as_str().to_string(),
        policy: a.spec.policy.display(),
        requires_approval: a.spec.requires_approval.clone(),
        approved_by: status.and_then(|s| s.approved_by.clone()),
        rejected_by: status.and_then(|s| s.rejected_by.clone()),
        message: status.and_then(|s| s.message.clone()),
        confidence: a.spec.confidence,
        created_at,
        age_seconds: created_at.map(|c| now.duration_since(c).as_secs().max(0)),
        resource_version: a.metadata.resource_version.clone(),
    }
}
