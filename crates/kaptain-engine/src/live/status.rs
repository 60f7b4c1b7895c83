//! What the hub says about each cluster: its connection state, a list row, a detailed view,
//! and the events it broadcasts.

use jiff::Timestamp;
use kaptain_model::{Finding, Severity};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The connection state of one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ClusterStatus {
    /// Connecting for the first time: discovery and the first full list of every watch.
    Connecting {
        #[schema(value_type = String, format = DateTime)]
        since: Timestamp,
    },
    /// Every watch has listed once and the cluster answers; the report is live.
    Ready {
        #[schema(value_type = String, format = DateTime)]
        since: Timestamp,
    },
    /// The cluster does not answer (or rejects the credentials); the hub retries with capped
    /// exponential backoff. The last known data stays readable.
    Unreachable {
        /// One line, e.g. `cannot reach the cluster (context prod): ... Connection refused`.
        error: String,
        /// When it became unreachable (the first failure in a row).
        #[schema(value_type = String, format = DateTime)]
        since: Timestamp,
        /// When the next attempt starts.
        #[schema(value_type = String, format = DateTime)]
        retry_at: Timestamp,
        /// Failed attempts in a row.
        attempts: u32,
    },
}

impl ClusterStatus {
    pub fn is_ready(&self) -> bool {
        matches!(self, ClusterStatus::Ready { .. })
    }

    pub fn is_unreachable(&self) -> bool {
        matches!(self, ClusterStatus::Unreachable { .. })
    }

    /// `connecting`, `ready` or `unreachable`.
    pub fn state(&self) -> &'static str {
        match self {
            ClusterStatus::Connecting { .. } => "connecting",
            ClusterStatus::Ready { .. } => "ready",
            ClusterStatus::Unreachable { .. } => "unreachable",
        }
    }

    /// The error of an unreachable cluster.
    pub fn error(&self) -> Option<&str> {
        match self {
            ClusterStatus::Unreachable { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Findings by severity (and how many are root causes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SeverityCounts {
    pub critical: usize,
    pub high: usize,
    pub medium: usize,
    pub low: usize,
    pub info: usize,
    pub root_causes: usize,
}

impl SeverityCounts {
    pub fn add(&mut self, f: &Finding) {
        match f.severity {
            Severity::Critical => self.critical += 1,
            Severity::High => self.high += 1,
            Severity::Medium => self.medium += 1,
            Severity::Low => self.low += 1,
            Severity::Info => self.info += 1,
        }
        if f.root_cause {
            self.root_causes += 1;
        }
    }

    pub fn of<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Self {
        let mut c = SeverityCounts::default();
        for f in findings {
            c.add(f);
        }
        c
    }

    pub fn total(&self) -> usize {
        self.critical + self.high + self.medium + self.low + self.info
    }
}

/// An API the hub wanted to watch but does not, and why (`not served`, `forbidden: ...`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SkippedApi {
    /// e.g. `batch/v1 CronJob`.
    pub api: String,
    pub reason: String,
}

/// A watch that is failing now while the cluster itself answers (e.g. forbidden after an
/// RBAC change); it retries by itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WatchError {
    /// e.g. `v1 Pod`.
    pub watch: String,
    pub error: String,
}

/// One cluster, as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClusterInfo {
    /// The hub's name for it: the kubeconfig context, or `in-cluster`.
    pub name: String,
    /// Where its credentials come from, e.g. `kubeconfig /home/a/.kube/config, context prod`.
    pub source: String,
    pub status: ClusterStatus,
    /// The server's version (`v1.29.3`), from discovery; kept while unreachable.
    pub server_version: Option<String>,
    /// Increases when the findings change (see [`ReportChange`]); 0 before the first report.
    pub generation: u64,
    /// Findings of the latest report.
    pub findings: SeverityCounts,
}

/// One cluster in detail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClusterView {
    #[serde(flatten)]
    pub info: ClusterInfo,
    /// When the data shown (index, report, summaries) was taken; older than `status.since`
    /// while the cluster is unreachable.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub data_as_of: Option<Timestamp>,
    /// The time the latest analysis measured ages against (the hub's clock).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub analyzed_as_of: Option<Timestamp>,
    /// How long the latest snapshot and analysis took, in milliseconds.
    pub analysis_ms: Option<u64>,
    pub nodes: usize,
    pub namespaces: usize,
    pub pods: usize,
    /// Objects held by the watches at the latest analysis.
    pub objects: usize,
    /// Kinds watched, e.g. `apps/v1 Deployment`.
    pub watched: Vec<String>,
    /// APIs not watched: not served by this server, or forbidden.
    pub skipped: Vec<SkippedApi>,
    /// Watches failing now while the cluster answers.
    pub watch_errors: Vec<WatchError>,
    /// Whether Kaptain's HealingAction API is served (and watched).
    pub healing_served: bool,
    /// HealingActions waiting for a person (phase Proposed).
    pub healing_pending: usize,
}

/// What changed between two reports of a cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReportChange {
    /// Fingerprints of findings that are new.
    pub appeared: Vec<String>,
    /// Fingerprints of findings that are gone.
    pub cleared: Vec<String>,
    /// Findings present before and now whose severity or root-cause links changed.
    pub changed: usize,
}

impl ReportChange {
    pub fn is_empty(&self) -> bool {
        self.appeared.is_empty() && self.cleared.is_empty() && self.changed == 0
    }
}

/// What the hub broadcasts (for Server-Sent Events and the console).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEvent {
    /// A cluster connected, became unreachable, or scheduled another attempt.
    ClusterStatusChanged {
        cluster: String,
        status: ClusterStatus,
    },
    /// A cluster's findings changed; the new report is at `generation`.
    ReportUpdated {
        cluster: String,
        generation: u64,
        findings: usize,
        appeared: usize,
        cleared: usize,
    },
    /// A HealingAction was created, changed phase or was deleted (`phase` is `None`).
    HealingActionChanged {
        cluster: String,
        namespace: String,
        name: String,
        phase: Option<String>,
    },
}

impl LiveEvent {
    /// The cluster the event is about.
    pub fn cluster(&self) -> &str {
        match self {
            LiveEvent::ClusterStatusChanged { cluster, .. }
            | LiveEvent::ReportUpdated { cluster, .. }
            | LiveEvent::HealingActionChanged { cluster, .. } => cluster,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::summary::{HealingActionRow, NamespaceRow, NodeRow, WarningEvent};
    use utoipa::openapi::ComponentsBuilder;

    #[test]
    fn status_serializes_with_a_state_tag() {
        let t: Timestamp = "2026-01-01T12:00:00Z".parse().expect("time");
        let s = ClusterStatus::Unreachable {
            error: "cannot reach the cluster (context a): refused".into(),
            since: t,
            retry_at: t,
            attempts: 3,
        };
        let v = serde_json::to_value(&s).expect("json");
        assert_eq!(v["state"], "unreachable");
        assert_eq!(v["since"], "2026-01-01T12:00:00Z");
        assert_eq!(v["attempts"], 3);
        let back: ClusterStatus = serde_json::from_value(v).expect("back");
        assert_eq!(back, s);
        let e = LiveEvent::ClusterStatusChanged {
            cluster: "a".into(),
            status: ClusterStatus::Ready { since: t },
        };
        let v = serde_json::to_value(&e).expect("json");
        assert_eq!(v["type"], "cluster_status_changed");
        assert_eq!(v["status"]["state"], "ready");
        assert_eq!(e.cluster(), "a");
    }

    #[test]
    fn openapi_schemas_describe_every_type_the_api_returns() {
        let c = ComponentsBuilder::new()
            .schema_from::<ClusterInfo>()
            .schema_from::<ClusterView>()
            .schema_from::<ClusterStatus>()
            .schema_from::<LiveEvent>()
            .schema_from::<NodeRow>()
            .schema_from::<NamespaceRow>()
            .schema_from::<WarningEvent>()
            .schema_from::<HealingActionRow>()
            .build();
        let v = serde_json::to_value(&c).expect("json");
        let s = &v["schemas"];
        for name in [
            "ClusterInfo",
            "ClusterView",
            "ClusterStatus",
            "LiveEvent",
            "NodeRow",
            "NamespaceRow",
            "WarningEvent",
            "HealingActionRow",
        ] {
            assert!(s[name].is_object(), "{name} missing: {s}");
        }
        let node = &s["NodeRow"]["properties"];
        assert_eq!(node["requested_cpu_millicores"]["type"], "integer");
        assert_eq!(node["created_at"]["format"], "date-time");
        assert!(
            s["ClusterStatus"]["oneOf"].is_array(),
            "{}",
            s["ClusterStatus"]
        );
    }
}
