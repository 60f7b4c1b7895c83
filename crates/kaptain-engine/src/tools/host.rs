//! What the engine gives the tools: [`ToolHost`].

use std::sync::Arc;

use jiff::Timestamp;
use kaptain_heal::crd::{ClusterHealingPolicy, HealingAction, HealingPolicy, Policy};
use kaptain_heal::guard::SafetyConfig;
use kaptain_index::ClusterIndex;
use kaptain_model::Report;
use kube::Api;
use kube::api::{ListParams, PostParams};
use schemars::JsonSchema;
use serde::Serialize;

use super::error::ToolError;

/// A cluster as tools may show it: no server URL, no kubeconfig path, no credential.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ClusterFacts {
    /// The name tools take as `cluster` (the kubeconfig context, or `in-cluster`).
    pub name: String,
    /// `connecting`, `ready` or `unreachable`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_version: Option<String>,
    /// When the index was last refreshed (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_as_of: Option<String>,
    /// Objects indexed.
    pub objects: usize,
    pub nodes: usize,
    pub namespaces: usize,
    pub pods: usize,
    /// APIs the cluster does not serve or the credentials may not list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
    /// Whether the HealingAction API is installed (proposals need it).
    pub healing_installed: bool,
}

/// What the healing policies would do now (`heal_plan`).
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct HealPlan {
    pub findings: usize,
    pub policies: usize,
    pub actions: Vec<PlannedAction>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<PlanSkip>,
    /// What could not be read (the plan fell back to defaults).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// One action the policies would propose, with the safety guard's verdict.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PlannedAction {
    /// The HealingAction name the operator would use.
    pub name: String,
    pub action: String,
    pub target: String,
    pub finding: String,
    pub policy: String,
    pub mode: String,
    /// `allow`, `allow-dry-run`, `needs-approval` or `deny`.
    pub verdict: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    pub reason: String,
    pub reasoning: String,
    /// The phase of the HealingAction that already exists for this proposal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existing_phase: Option<String>,
}

/// A finding a policy matched that gets no action, and why.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PlanSkip {
    pub check: String,
    pub object: String,
    pub policy: String,
    pub reason: String,
}

/// The engine side of the tools: the clusters, their live index and latest report, their
/// HealingActions, a client (for logs, policies and proposals). Implemented over the live
/// clusters the engine keeps (today `kaptain_engine::live::LiveClusters`) and, in tests, over files.
#[async_trait::async_trait]
pub trait ToolHost: Send + Sync {
    /// Every cluster the host knows (tools narrow this to the caller's scopes).
    fn clusters(&self) -> Vec<ClusterFacts>;

    /// The cluster a tool uses when none is named: the only one, or the kubeconfig's current
    /// context.
    fn default_cluster(&self) -> Option<String> {
        let all = self.clusters();
        match all.as_slice() {
            [only] => Some(only.name.clone()),
            _ => None,
        }
    }

    /// The index of the latest analysis.
    fn index(&self, cluster: &str) -> Option<Arc<ClusterIndex>>;

    /// The latest report (root causes marked).
    fn report(&self, cluster: &str) -> Option<Arc<Report>>;

    /// The HealingActions as watched; `None` for an unknown cluster.
    fn healing_actions(&self, cluster: &str) -> Option<Vec<Arc<HealingAction>>>;

    /// A client with the host's credentials (logs, policies, proposals). `None` when not
    /// connected or not a live cluster.
    fn client(&self, cluster: &str) -> Option<kube::Client>;

    /// The analysis clock.
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    /// What the policies would do now (the operator's plan with the guard's verdicts).
    async fn heal_plan(
        &self,
        cluster: &str,
        namespace: Option<&str>,
    ) -> Result<HealPlan, ToolError>;

    /// The safety configuration the operator of `cluster` decides with.
    async fn safety(&self, cluster: &str) -> SafetyConfig {
        let _ = cluster;
        SafetyConfig::default()
    }

    /// HealingPolicies (all namespaces the client may list) and ClusterHealingPolicies.
    async fn policies(&self, cluster: &str) -> Result<Vec<Policy>, ToolError> {
        let client = self.connected(cluster)?;
        let hp: Api<HealingPolicy> = Api::all(client.clone());
        let mut out: Vec<Policy> = hp
            .list(&ListParams::default())
            .await
            .map_err(|e| ToolError::from_kube("listing HealingPolicies", &e))?
            .items
            .iter()
            .map(Policy::from)
            .collect();
        let chp: Api<ClusterHealingPolicy> = Api::all(client);
        match chp.list(&ListParams::default()).await {
            Ok(l) => out.extend(l.items.iter().map(Policy::from)),
            Err(kube::Error::Api(s)) if s.code == 403 => {}
            Err(e) => return Err(ToolError::from_kube("listing ClusterHealingPolicies", &e)),
        }
        Ok(out)
    }

    /// Records a proposal: creates the HealingAction (no status; the operator's guard
    /// decides it). Never changes anything else.
    async fn submit(
        &self,
        cluster: &str,
        action: &HealingAction,
    ) -> Result<HealingAction, ToolError> {
        let client = self.connected(cluster)?;
        let ns = action.metadata.namespace.clone().unwrap_or_default();
        let api: Api<HealingAction> = Api::namespaced(client, &ns);
        api.create(&PostParams::default(), action)
            .await
            .map_err(|e| ToolError::from_kube("creating the HealingAction", &e))
    }

    /// The client of `cluster`, or why there is none.
    fn connected(&self, cluster: &str) -> Result<kube::Client, ToolError> {
        self.client(cluster).ok_or_else(|| {
            ToolError::Unavailable(format!(
                "cluster {cluster} is not connected (or is not a live cluster)"
            ))
        })
    }
}
