//! `HealingPolicy` (namespaced) and `ClusterHealingPolicy` (cluster-scoped): which findings a
//! policy answers, what it may do about them, and the limits it does it within.

use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, Time};
use kaptain_model::{Category, Severity};
use kube_core::Duration;
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::schema::{CategorySchema, SeveritySchema, duration, optional_duration};

/// A healing policy: which findings it answers (`match`), the actions it may take in order of
/// preference, and the mode, rate limits, blast radius and verification window it acts within.
/// A namespaced `HealingPolicy` only answers findings on objects of its own namespace.
// kube-derive's repeated `printcolumn(type_ = ...)` arguments are not duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    crates(kube_core = "::kube_core"),
    group = "kaptain.dev",
    version = "v1alpha1",
    kind = "HealingPolicy",
    namespaced,
    status = "HealingPolicyStatus",
    shortname = "hp",
    category = "kaptain",
    doc = "Which findings Kaptain may heal in this namespace, how, and within which limits.",
    printcolumn(name = "Mode", type_ = "string", json_path = ".spec.mode"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Active",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Active\")].reason"
    ),
    printcolumn(
        name = "Actions/h",
        type_ = "integer",
        json_path = ".status.actionsInLastHour"
    ),
    printcolumn(
        name = "Last Action",
        type_ = "date",
        json_path = ".status.lastActionTime"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct HealingPolicySpec {
    /// Which findings this policy answers. Every given criterion must hold; an empty match
    /// answers every finding (within the policy's namespace for a HealingPolicy).
    #[serde(default, rename = "match")]
    pub selector: FindingMatch,
    /// The actions this policy may take, in order of preference: for each finding the first
    /// one that applies to it is proposed.
    pub actions: Vec<ActionTemplate>,
    /// `auto` acts on its own (above `minConfidence`), `approval` waits for a person,
    /// `dry-run` only records what it would do (the default), `paused` does nothing.
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub rate_limit: RateLimit,
    #[serde(default)]
    pub blast_radius: BlastRadius,
    #[serde(default)]
    pub verification: Verification,
    /// Findings at or above this confidence are acted on automatically in `auto` mode; below
    /// it, the action waits for approval.
    #[serde(default = "default_min_confidence")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub min_confidence: f64,
}

/// The spec of a cluster-wide policy: the same fields as a HealingPolicy's, answering findings
/// in every namespace (narrowed by `match.namespaces` / `match.namespaceSelector`) and on
/// cluster-scoped objects such as Nodes.
// kube-derive's repeated `printcolumn(type_ = ...)` arguments are not duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    crates(kube_core = "::kube_core"),
    group = "kaptain.dev",
    version = "v1alpha1",
    kind = "ClusterHealingPolicy",
    status = "HealingPolicyStatus",
    shortname = "chp",
    category = "kaptain",
    doc = "Which findings Kaptain may heal across the cluster, how, and within which limits.",
    printcolumn(name = "Mode", type_ = "string", json_path = ".spec.mode"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Active",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Active\")].reason"
    ),
    printcolumn(
        name = "Actions/h",
        type_ = "integer",
        json_path = ".status.actionsInLastHour"
    ),
    printcolumn(
        name = "Last Action",
        type_ = "date",
        json_path = ".status.lastActionTime"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(transparent)]
pub struct ClusterHealingPolicySpec(pub HealingPolicySpec);

fn default_min_confidence() -> f64 {
    0.9
}

impl Default for HealingPolicySpec {
    fn default() -> Self {
        HealingPolicySpec {
            selector: FindingMatch::default(),
            actions: Vec::new(),
            mode: Mode::default(),
            rate_limit: RateLimit::default(),
            blast_radius: BlastRadius::default(),
            verification: Verification::default(),
            min_confidence: default_min_confidence(),
        }
    }
}

impl HealingPolicySpec {
    /// The policy's template for an action kind, if it lists one.
    pub fn template(&self, kind: ActionKind) -> Option<&ActionTemplate> {
        self.actions.iter().find(|a| a.kind() == kind)
    }
}

/// Which findings a policy answers.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FindingMatch {
    /// Check ids (`pod.crash-loop`) or domains (`pod`); empty: any check.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<String>,
    /// Finding categories; empty: any category.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<CategorySchema>")]
    pub categories: Vec<Category>,
    /// The least severity a finding must have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "SeveritySchema")]
    pub min_severity: Option<Severity>,
    /// Namespaces of the finding's object; empty: any (findings on cluster-scoped objects
    /// only match when this and `namespaceSelector` are unset).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Labels the finding's namespace must carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Labels the finding's object must carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// How long a finding must have lasted (since Kaptain first saw it) before the policy
    /// answers it, e.g. `5m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "optional_duration")]
    pub for_duration: Option<Duration>,
}

/// One action a policy may take, with its bounds. Written as a one-key object, e.g.
/// `{raiseResources: {resource: memory, factor: 1.5, max: 2Gi}}` or `{rolloutRestart: {}}`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ActionTemplate {
    /// Delete one failing pod so its controller re-creates it.
    RestartPod {},
    /// Restart every pod of the owning Deployment, StatefulSet or DaemonSet, one by one.
    RolloutRestart {},
    /// Keep the owning workload's replicas within [min, max] (and add one to a workload whose
    /// PodDisruptionBudget allows no disruption).
    Scale {
        #[schemars(range(min = 0))]
        min: i32,
        #[schemars(range(min = 0))]
        max: i32,
    },
    /// Raise limits (and requests) of the affected container on its owning workload by
    /// `factor`, never above `max`.
    RaiseResources {
        resource: ResourceName,
        #[schemars(range(min = 1.0, max = 4.0))]
        factor: f64,
        max: String,
    },
    /// Roll a Deployment back to its previous ReplicaSet revision after a bad rollout.
    RollbackDeployment {},
    /// Mark a NotReady node unschedulable.
    CordonNode {},
    /// Force-delete a pod that has been Terminating for `graceSeconds` past its deletion.
    #[serde(rename_all = "camelCase")]
    ForceDeleteStuckPod {
        #[schemars(range(min = 0))]
        grace_seconds: i64,
    },
    /// Propose the manifest of a missing object; only a person can approve it.
    SuggestManifest {},
    /// Set the image of one container of a Deployment, StatefulSet or DaemonSet. Never
    /// proposed for a finding: only a person asks for a new image (`kaptain ask "set the image
    /// of web to nginx:1.27"`).
    SetImage {},
}

impl ActionTemplate {
    pub fn kind(&self) -> ActionKind {
        match self {
            ActionTemplate::RestartPod {} => ActionKind::RestartPod,
            ActionTemplate::RolloutRestart {} => ActionKind::RolloutRestart,
            ActionTemplate::Scale { .. } => ActionKind::Scale,
            ActionTemplate::RaiseResources { .. } => ActionKind::RaiseResources,
            ActionTemplate::RollbackDeployment {} => ActionKind::RollbackDeployment,
            ActionTemplate::CordonNode {} => ActionKind::CordonNode,
            ActionTemplate::ForceDeleteStuckPod { .. } => ActionKind::ForceDeleteStuckPod,
            ActionTemplate::SuggestManifest {} => ActionKind::SuggestManifest,
            ActionTemplate::SetImage {} => ActionKind::SetImage,
        }
    }
}

/// The kind of an action, as shown in `kubectl get healingactions` and used in metrics.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
pub enum ActionKind {
    RestartPod,
    RolloutRestart,
    Scale,
    RaiseResources,
    RollbackDeployment,
    CordonNode,
    ForceDeleteStuckPod,
    SuggestManifest,
    SetImage,
}

impl ActionKind {
    pub const ALL: [ActionKind; 9] = [
        ActionKind::RestartPod,
        ActionKind::RolloutRestart,
        ActionKind::Scale,
        ActionKind::RaiseResources,
        ActionKind::RollbackDeployment,
        ActionKind::CordonNode,
        ActionKind::ForceDeleteStuckPod,
        ActionKind::SuggestManifest,
        ActionKind::SetImage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::RestartPod => "RestartPod",
            ActionKind::RolloutRestart => "RolloutRestart",
            ActionKind::Scale => "Scale",
            ActionKind::RaiseResources => "RaiseResources",
            ActionKind::RollbackDeployment => "RollbackDeployment",
            ActionKind::CordonNode => "CordonNode",
            ActionKind::ForceDeleteStuckPod => "ForceDeleteStuckPod",
            ActionKind::SuggestManifest => "SuggestManifest",
            ActionKind::SetImage => "SetImage",
        }
    }

    /// Whether the executor can undo this kind of change when verification fails.
    pub fn reversible(self) -> bool {
        matches!(
            self,
            ActionKind::Scale
                | ActionKind::RaiseResources
                | ActionKind::RollbackDeployment
                | ActionKind::CordonNode
                | ActionKind::SetImage
        )
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A container resource Kaptain may raise.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ResourceName {
    Memory,
    Cpu,
}

impl ResourceName {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceName::Memory => "memory",
            ResourceName::Cpu => "cpu",
        }
    }
}

/// How a policy acts.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Act without asking when the finding's confidence reaches `minConfidence`.
    Auto,
    /// Propose, then wait for a person to approve each action.
    Approval,
    /// Record what would be done (server-side dry-run), never change anything.
    #[default]
    DryRun,
    /// Do nothing.
    Paused,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Approval => "approval",
            Mode::DryRun => "dry-run",
            Mode::Paused => "paused",
        }
    }
}

/// How often a policy may act. Counted from HealingAction objects, so it survives restarts.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    /// Real (not dry-run) actions this policy may start per rolling hour.
    #[serde(default = "default_actions_per_hour")]
    pub actions_per_hour: u32,
    /// How long after an action on an object before this policy may act on it again.
    #[serde(default = "default_cooldown")]
    #[schemars(schema_with = "duration")]
    pub cooldown_per_object: Duration,
}

fn default_actions_per_hour() -> u32 {
    5
}

fn default_cooldown() -> Duration {
    std::time::Duration::from_secs(30 * 60).into()
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            actions_per_hour: default_actions_per_hour(),
            cooldown_per_object: default_cooldown(),
        }
    }
}

/// How much one action may touch. Pods "touched" are those deleted or re-created: one for a
/// pod restart, every pod of the workload for a template change (rollout restart, resources,
/// rollback), the added or removed replicas for a scale, none for a cordon.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlastRadius {
    #[serde(default = "default_max_pods")]
    pub max_pods: u32,
    /// The most pods one action may touch, in percent of the workload's replicas. Template
    /// changes touch 100%; a lower value limits the policy to pod-level actions.
    #[serde(default = "default_max_percent")]
    #[schemars(range(min = 0, max = 100))]
    pub max_percent_of_replicas: u32,
}

fn default_max_pods() -> u32 {
    10
}

fn default_max_percent() -> u32 {
    100
}

impl Default for BlastRadius {
    fn default() -> Self {
        BlastRadius {
            max_pods: default_max_pods(),
            max_percent_of_replicas: default_max_percent(),
        }
    }
}

/// How an action is verified: the finding that triggered it must clear within `window`,
/// otherwise the change is reversed (where the kind allows) and the action fails.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    #[serde(default = "default_window")]
    #[schemars(schema_with = "duration")]
    pub window: Duration,
}

fn default_window() -> Duration {
    std::time::Duration::from_secs(5 * 60).into()
}

impl Default for Verification {
    fn default() -> Self {
        Verification {
            window: default_window(),
        }
    }
}

/// What the operator reports on a policy.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealingPolicyStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_action_time: Option<Time>,
    #[serde(default)]
    pub actions_in_last_hour: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Workloads on which this policy's circuit breaker is open or half-open: repeated failed
    /// actions there stop the policy's actions on them (and only on them) for a cool-off.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub open_circuits: Vec<OpenCircuit>,
}

/// A workload whose circuit breaker stops a policy's actions on it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OpenCircuit {
    /// `Kind/namespace/name`.
    pub workload: String,
    /// `open` (no action until `halfOpenAt`) or `half-open` (one trial action may run; its
    /// outcome closes or re-opens the breaker).
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub half_open_at: Option<Time>,
}

/// Whether a policy is namespaced or cluster-wide.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
pub enum PolicyKind {
    HealingPolicy,
    ClusterHealingPolicy,
    /// A person's one-off request (`kaptain ask "scale web to 5"`): no standing policy, the
    /// built-in limits of [`crate::request::policy`] and the asker's approval instead. The
    /// reference's name is the asker, so the per-policy rate limit is a per-asker one.
    Request,
}

/// Which policy (and which generation of it) proposed an action.
#[derive(
    Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRef {
    pub kind: PolicyKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    #[serde(default)]
    pub generation: i64,
}

impl PolicyRef {
    /// Same policy, whatever its generation.
    pub fn same_policy(&self, other: &PolicyRef) -> bool {
        self.kind == other.kind && self.namespace == other.namespace && self.name == other.name
    }

    pub fn display(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{:?}/{ns}/{}", self.kind, self.name),
            None => format!("{:?}/{}", self.kind, self.name),
        }
    }
}

/// A policy as the planner and the guard read it, whichever its scope.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    pub reference: PolicyRef,
    pub spec: HealingPolicySpec,
}

impl From<&HealingPolicy> for Policy {
    fn from(p: &HealingPolicy) -> Self {
        Policy {
            reference: PolicyRef {
                kind: PolicyKind::HealingPolicy,
                namespace: p.metadata.namespace.clone(),
                name: p.metadata.name.clone().unwrap_or_default(),
                generation: p.metadata.generation.unwrap_or(0),
            },
            spec: p.spec.clone(),
        }
    }
}

impl From<&ClusterHealingPolicy> for Policy {
    fn from(p: &ClusterHealingPolicy) -> Self {
        Policy {
            reference: PolicyRef {
                kind: PolicyKind::ClusterHealingPolicy,
                namespace: None,
                name: p.metadata.name.clone().unwrap_or_default(),
                generation: p.metadata.generation.unwrap_or(0),
            },
            spec: p.spec.0.clone(),
        }
    }
}
