//! The [`ToolHost`] over [`LiveClusters`] (the hub): the tools read its live index, report,
//! HealingActions and client per cluster; healing goes through [`crate::healing`].

use std::sync::Arc;

use crate::tools::{
    ClusterFacts, HealPlan, PlanSkip, PlannedAction, ToolError, ToolHost, scrub_text,
};
use jiff::Timestamp;
use kaptain_heal::crd::HealingAction;
use kaptain_heal::guard::SafetyConfig;
use kaptain_index::ClusterIndex;
use kaptain_model::Report;

use crate::live::LiveClusters;

/// The tools' view of a hub.
#[derive(Clone)]
pub struct LiveHost {
    hub: Arc<LiveClusters>,
    operator_namespace: String,
    default_cluster: Option<String>,
}

impl LiveHost {
    /// `operator_namespace`: where the operator keeps its safety configuration and state.
    pub fn new(hub: Arc<LiveClusters>, operator_namespace: impl Into<String>) -> LiveHost {
        LiveHost {
            hub,
            operator_namespace: operator_namespace.into(),
            default_cluster: None,
        }
    }

    /// The cluster tools use when none is named (e.g. the kubeconfig's current context).
    pub fn with_default(mut self, cluster: Option<String>) -> LiveHost {
        self.default_cluster = cluster;
        self
    }

    pub fn hub(&self) -> &Arc<LiveClusters> {
        &self.hub
    }
}

#[async_trait::async_trait]
impl ToolHost for LiveHost {
    fn clusters(&self) -> Vec<ClusterFacts> {
        self.hub
            .clusters()
            .into_iter()
            .filter_map(|c| self.hub.cluster(&c.name))
            .map(|v| ClusterFacts {
                name: v.info.name.clone(),
                status: v.info.status.state().to_string(),
                server_version: v.info.server_version.clone(),
                data_as_of: v.data_as_of.map(|t| t.to_string()),
                objects: v.objects,
                nodes: v.nodes,
                namespaces: v.namespaces,
                pods: v.pods,
                skipped: v
                    .skipped
                    .iter()
                    .map(|s| scrub_text(&format!("{}: {}", s.api, s.reason)))
                    .collect(),
                healing_installed: v.healing_served,
            })
            .collect()
    }

    fn default_cluster(&self) -> Option<String> {
        if let Some(d) = &self.default_cluster {
            return Some(d.clone());
        }
        match self.hub.clusters().as_slice() {
            [only] => Some(only.name.clone()),
            _ => None,
        }
    }

    fn index(&self, cluster: &str) -> Option<Arc<ClusterIndex>> {
        self.hub.index(cluster)
    }

    fn report(&self, cluster: &str) -> Option<Arc<Report>> {
        self.hub.report(cluster)
    }

    fn healing_actions(&self, cluster: &str) -> Option<Vec<Arc<HealingAction>>> {
        self.hub.healing_action_objects(cluster)
    }

    fn client(&self, cluster: &str) -> Option<kube::Client> {
        self.hub.client(cluster)
    }

    fn now(&self) -> Timestamp {
        (self.hub.config().now)()
    }

    async fn heal_plan(
        &self,
        cluster: &str,
        namespace: Option<&str>,
    ) -> Result<HealPlan, ToolError> {
        let client = self.connected(cluster)?;
        // The hub's live index and current report: no second LIST of the cluster per call.
        let (Some(idx), Some(report)) = (self.hub.index(cluster), self.hub.report(cluster)) else {
            return Err(ToolError::Unavailable(format!(
                "cluster {cluster} has no data yet (still connecting)"
            )));
        };
        let findings = report.findings.clone();
        let p = crate::healing::ops::plan_with_index(
            &client,
            &idx,
            findings,
            namespace,
            &self.operator_namespace,
        )
        .await
        .map_err(|e| ToolError::Unavailable(scrub_text(&format!("planning: {e}"))))?;
        Ok(heal_plan_view(p))
    }

    async fn safety(&self, cluster: &str) -> SafetyConfig {
        let Some(client) = self.hub.client(cluster) else {
            return SafetyConfig::default();
        };
        crate::healing::load_safety(&client, &self.operator_namespace)
            .await
            .unwrap_or_default()
    }
}

/// The tools' view of a healing plan.
pub(crate) fn heal_plan_view(p: crate::healing::ops::PlanReport) -> HealPlan {
    HealPlan {
        findings: p.findings,
        policies: p.policies,
        actions: p
            .actions
            .into_iter()
            .map(|a| PlannedAction {
                name: a.name,
                action: a.proposal.action.as_str().to_string(),
                target: a.proposal.target.clone(),
                finding: format!(
                    "{} on {}",
                    a.proposal.finding.id,
                    a.proposal.finding.object.display()
                ),
                policy: a.proposal.policy.display(),
                mode: a.mode,
                verdict: a.verdict.decision,
                rule: a.verdict.rule,
                reason: a.verdict.reason,
                reasoning: a.proposal.reasoning,
                existing_phase: a.existing_phase.map(|p| p.as_str().to_string()),
            })
            .collect(),
        skipped: p
            .skipped
            .into_iter()
            .map(|s| PlanSkip {
                check: s.check,
                object: s.object,
                policy: s.policy,
                reason: s.reason,
            })
            .collect(),
        notes: p.notes.iter().map(|n| scrub_text(n)).collect(),
    }
}
