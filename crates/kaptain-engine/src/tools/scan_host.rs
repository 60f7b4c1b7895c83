//! A [`ToolHost`] over one scan: the index and report a face already made (the CLI's `ask`
//! and `chat` from files or a live cluster), with the cluster's client when it is live (for
//! logs, policies, proposals and the healing plan).

use std::sync::Arc;

use jiff::Timestamp;
use kaptain_heal::crd::HealingAction;
use kaptain_heal::guard::SafetyConfig;
use kaptain_index::{ClusterIndex, Kind};
use kaptain_model::Report;
use kube::Api;
use kube::api::ListParams;

use super::host::{ClusterFacts, HealPlan, ToolHost};
use super::live_host::heal_plan_view;
use super::{ToolError, scrub_text};

/// One scanned cluster, as the tools see it.
pub struct ScanHost {
    name: String,
    index: Arc<ClusterIndex>,
    report: Arc<Report>,
    now: Timestamp,
    client: Option<kube::Client>,
    operator_namespace: String,
    actions: Vec<Arc<HealingAction>>,
    healing_installed: bool,
}

impl ScanHost {
    /// A scan of files (no client): `name` is what tools call the cluster.
    pub fn new(
        name: impl Into<String>,
        index: Arc<ClusterIndex>,
        report: Arc<Report>,
        now: Timestamp,
    ) -> ScanHost {
        ScanHost {
            name: name.into(),
            index,
            report,
            now,
            client: None,
            operator_namespace: "kaptain-system".into(),
            actions: Vec::new(),
            healing_installed: false,
        }
    }

    /// A live scan: the cluster's client, and where its operator keeps its state. Reads the
    /// HealingActions (for the guard's history); without the CRD there are none.
    pub async fn with_client(
        mut self,
        client: kube::Client,
        operator_namespace: impl Into<String>,
    ) -> ScanHost {
        let api: Api<HealingAction> = Api::all(client.clone());
        if let Ok(list) = api.list(&ListParams::default()).await {
            self.actions = list.items.into_iter().map(Arc::new).collect();
            self.healing_installed = true;
        }
        self.client = Some(client);
        self.operator_namespace = operator_namespace.into();
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn index(&self) -> &Arc<ClusterIndex> {
        &self.index
    }

    pub fn report(&self) -> &Arc<Report> {
        &self.report
    }
}

#[async_trait::async_trait]
impl ToolHost for ScanHost {
    fn clusters(&self) -> Vec<ClusterFacts> {
        vec![ClusterFacts {
            name: self.name.clone(),
            status: "ready".into(),
            server_version: self.report.source.server_version.clone(),
            data_as_of: Some(self.now.to_string()),
            objects: Kind::ALL.iter().map(|k| self.index.count(*k)).sum(),
            nodes: self.index.count(Kind::Node),
            namespaces: self.index.count(Kind::Namespace),
            pods: self.index.count(Kind::Pod),
            skipped: self
                .report
                .skipped
                .iter()
                .map(|s| scrub_text(&format!("{}: {}", s.api, s.reason)))
                .collect(),
            healing_installed: self.healing_installed,
        }]
    }

    fn default_cluster(&self) -> Option<String> {
        Some(self.name.clone())
    }

    fn index(&self, cluster: &str) -> Option<Arc<ClusterIndex>> {
        (cluster == self.name).then(|| self.index.clone())
    }

    fn report(&self, cluster: &str) -> Option<Arc<Report>> {
        (cluster == self.name).then(|| self.report.clone())
    }

    fn healing_actions(&self, cluster: &str) -> Option<Vec<Arc<HealingAction>>> {
        (cluster == self.name).then(|| self.actions.clone())
    }

    fn client(&self, cluster: &str) -> Option<kube::Client> {
        (cluster == self.name)
            .then(|| self.client.clone())
            .flatten()
    }

    fn now(&self) -> Timestamp {
        self.now
    }

    async fn heal_plan(
        &self,
        cluster: &str,
        namespace: Option<&str>,
    ) -> Result<HealPlan, ToolError> {
        let client = self.connected(cluster)?;
        let p = crate::healing::ops::plan_with_index(
            &client,
            &self.index,
            self.report.findings.clone(),
            namespace,
            &self.operator_namespace,
        )
        .await
        .map_err(|e| ToolError::Unavailable(scrub_text(&format!("planning: {e}"))))?;
        Ok(heal_plan_view(p))
    }

    async fn safety(&self, cluster: &str) -> SafetyConfig {
        match self.client(cluster) {
            Some(c) => crate::healing::load_safety(&c, &self.operator_namespace)
                .await
                .unwrap_or_default(),
            None => SafetyConfig::default(),
        }
    }
}
