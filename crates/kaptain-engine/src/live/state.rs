//! What the hub holds per cluster, shared between the cluster's task (the only writer) and
//! the readers (API requests).

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use jiff::Timestamp;
use kaptain_heal::crd::HealingAction;
use kaptain_index::ClusterIndex;
use kaptain_model::Report;
use tokio::sync::broadcast;

use super::config::LiveConfig;
use super::sink::ReportSink;
use super::status::{
    ClusterInfo, ClusterStatus, ClusterView, LiveEvent, SeverityCounts, SkippedApi, WatchError,
};
use super::summary::{NamespaceRow, NodeRow, WarningEvent, phase_of};
use kaptain_sources::live::ClusterSource;

/// What every cluster task shares.
pub(crate) struct Shared {
    pub cfg: LiveConfig,
    pub events: broadcast::Sender<LiveEvent>,
    pub sink: Option<Arc<dyn ReportSink>>,
}

impl Shared {
    pub fn publish(&self, e: LiveEvent) {
        // No subscriber is not an error.
        let _ = self.events.send(e);
    }
}

/// One cluster.
pub(crate) struct Slot {
    pub name: String,
    pub source: ClusterSource,
    state: RwLock<ClusterState>,
}

/// Everything known about a cluster now. The data (index, report, summaries) of the last
/// successful analysis stays while the cluster is unreachable.
pub(crate) struct ClusterState {
    pub status: ClusterStatus,
    pub server_version: Option<String>,
    pub client: Option<kube::Client>,
    pub watched: Vec<String>,
    pub skipped: Vec<SkippedApi>,
    pub watch_errors: Vec<WatchError>,
    pub healing_served: bool,
    pub index: Option<Arc<ClusterIndex>>,
    pub report: Option<Arc<Report>>,
    pub generation: u64,
    pub nodes: Arc<Vec<NodeRow>>,
    pub namespaces: Arc<Vec<NamespaceRow>>,
    pub warnings: Arc<Vec<WarningEvent>>,
    pub actions: Vec<Arc<HealingAction>>,
    pub data_as_of: Option<Timestamp>,
    pub analyzed_as_of: Option<Timestamp>,
    pub analysis_ms: Option<u64>,
    pub objects: usize,
    pub counts: (usize, usize, usize),
}

impl Slot {
    pub fn new(name: String, source: ClusterSource) -> Slot {
        Slot {
            name,
            source,
            state: RwLock::new(ClusterState {
                status: ClusterStatus::Connecting {
                    since: Timestamp::now(),
                },
                server_version: None,
                client: None,
                watched: Vec::new(),
                skipped: Vec::new(),
                watch_errors: Vec::new(),
                healing_served: false,
                index: None,
                report: None,
                generation: 0,
                nodes: Arc::default(),
                namespaces: Arc::default(),
                warnings: Arc::default(),
                actions: Vec::new(),
                data_as_of: None,
                analyzed_as_of: None,
                analysis_ms: None,
                objects: 0,
                counts: (0, 0, 0),
            }),
        }
    }

    pub fn read(&self) -> RwLockReadGuard<'_, ClusterState> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, ClusterState> {
        self.state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sets the status and broadcasts it when it changed.
    pub fn set_status(&self, shared: &Shared, status: ClusterStatus) {
        {
            let mut s = self.write();
            if s.status == status {
                return;
            }
            s.status = status.clone();
        }
        match &status {
            ClusterStatus::Unreachable {
                error, retry_at, ..
            } => {
                tracing::warn!(cluster = %self.name, %error, %retry_at, "cluster unreachable")
            }
            other => tracing::info!(cluster = %self.name, state = other.state(), "cluster status"),
        }
        shared.publish(LiveEvent::ClusterStatusChanged {
            cluster: self.name.clone(),
            status,
        });
    }

    pub fn info(&self) -> ClusterInfo {
        let s = self.read();
        self.info_of(&s)
    }

    fn info_of(&self, s: &ClusterState) -> ClusterInfo {
        ClusterInfo {
            name: self.name.clone(),
            source: self.source.describe(),
            status: s.status.clone(),
            server_version: s.server_version.clone(),
            generation: s.generation,
            findings: s
                .report
                .as_ref()
                .map(|r| SeverityCounts::of(&r.findings))
                .unwrap_or_default(),
        }
    }

    pub fn view(&self) -> ClusterView {
        let s = self.read();
        let (nodes, namespaces, pods) = s.counts;
        ClusterView {
            info: self.info_of(&s),
            data_as_of: s.data_as_of,
            analyzed_as_of: s.analyzed_as_of,
            analysis_ms: s.analysis_ms,
            nodes,
            namespaces,
            pods,
            objects: s.objects,
            watched: s.watched.clone(),
            skipped: s.skipped.clone(),
            watch_errors: s.watch_errors.clone(),
            healing_served: s.healing_served,
            healing_pending: s
                .actions
                .iter()
                .filter(|a| phase_of(a) == kaptain_heal::crd::Phase::Proposed)
                .count(),
        }
    }
}
