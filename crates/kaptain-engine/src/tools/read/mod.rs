//! The read-only tools, and the [`Ctx`] every tool runs in.

mod cluster;
mod findings;
mod resources;

use std::sync::Arc;

use kaptain_index::ClusterIndex;
use kaptain_model::{Finding, Report};

use super::access::Caller;
use super::error::ToolError;
use super::host::ToolHost;
use super::registry::Tool;

/// Every read-only tool.
pub(crate) fn all() -> Vec<Arc<dyn Tool>> {
    vec![
        Arc::new(findings::Diagnose),
        Arc::new(findings::Why),
        Arc::new(findings::ExplainCheck),
        Arc::new(findings::ListFindings),
        Arc::new(resources::GetResource),
        Arc::new(resources::ListResources),
        Arc::new(resources::Describe),
        Arc::new(resources::Events),
        Arc::new(cluster::Logs),
        Arc::new(cluster::ListContexts),
        Arc::new(cluster::ClusterInfoTool),
        Arc::new(cluster::HealPlanTool),
        Arc::new(cluster::ListActions),
    ]
}

/// What a tool runs with: the host and the caller.
pub struct Ctx<'a> {
    pub host: &'a dyn ToolHost,
    pub caller: &'a Caller,
}

impl Ctx<'_> {
    /// The names of the clusters the caller may see.
    pub fn visible_clusters(&self) -> Vec<String> {
        self.host
            .clusters()
            .into_iter()
            .map(|c| c.name)
            .filter(|c| self.caller.touches(c))
            .collect()
    }

    /// The cluster a tool works on: the one named (if the caller may see it), else the
    /// host's default, else the only one the caller may see.
    pub fn cluster(&self, requested: Option<&str>) -> Result<String, ToolError> {
        let visible = self.visible_clusters();
        let name = match requested.map(str::trim).filter(|s| !s.is_empty()) {
            Some(c) => c.to_string(),
            None => match self.host.default_cluster() {
                Some(d) if visible.contains(&d) => d,
                _ => match visible.as_slice() {
                    [only] => only.clone(),
                    [] => {
                        return Err(ToolError::NotFound(
                            "no cluster is visible to this caller".into(),
                        ));
                    }
                    many => {
                        return Err(ToolError::InvalidInput(format!(
                            "several clusters: name one with `cluster` ({})",
                            many.join(", ")
                        )));
                    }
                },
            },
        };
        if !visible.contains(&name) {
            return Err(ToolError::NotFound(format!(
                "no cluster {name:?} among those this caller may see (list_contexts lists them)"
            )));
        }
        Ok(name)
    }

    /// Forbidden unless the caller's scopes cover `namespace` of `cluster` (a cluster-scoped
    /// object or a whole-cluster view when `None`).
    pub fn ensure(&self, cluster: &str, namespace: Option<&str>) -> Result<(), ToolError> {
        if self.caller.covers(cluster, namespace) {
            return Ok(());
        }
        Err(ToolError::Forbidden(match namespace {
            Some(ns) => format!(
                "{} is not scoped to namespace {ns} of cluster {cluster}",
                self.caller.actor
            ),
            None => format!(
                "{} is not scoped to the whole cluster {cluster} (name a namespace it may see)",
                self.caller.actor
            ),
        }))
    }

    pub fn index(&self, cluster: &str) -> Result<Arc<ClusterIndex>, ToolError> {
        self.host.index(cluster).ok_or_else(|| {
            ToolError::Unavailable(format!(
                "cluster {cluster} has not been indexed yet (connecting or unreachable)"
            ))
        })
    }

    pub fn report(&self, cluster: &str) -> Result<Arc<Report>, ToolError> {
        self.host.report(cluster).ok_or_else(|| {
            ToolError::Unavailable(format!(
                "cluster {cluster} has not been analyzed yet (connecting or unreachable)"
            ))
        })
    }

    /// The findings of the latest report the caller may see: namespaced ones in its
    /// namespaces, cluster-scoped ones with a whole-cluster scope.
    pub fn visible_findings(&self, cluster: &str) -> Result<Vec<Finding>, ToolError> {
        let report = self.report(cluster)?;
        Ok(report
            .findings
            .iter()
            .filter(|f| self.caller.covers(cluster, f.object.namespace.as_deref()))
            .cloned()
            .collect())
    }

    /// Whether an object in `namespace` (cluster-scoped when `None`) is visible.
    pub fn sees(&self, cluster: &str, namespace: Option<&str>) -> bool {
        self.caller.covers(cluster, namespace)
    }
}

/// Trims and drops an empty string.
pub(crate) fn given(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}
