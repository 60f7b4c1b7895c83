//! The cluster hub: watches any number of clusters, each independently, and keeps per
//! cluster a live [`ClusterIndex`], the latest [`Report`] and the summaries the REST API and
//! the console read.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kaptain_engine::live::LiveError> {
//! use kaptain_engine::live::{ClusterSource, LiveClusters, LiveConfig};
//! let hub = LiveClusters::new(LiveConfig::default());
//! hub.add_cluster(ClusterSource::context(None, "prod"))?;
//! for source in ClusterSource::all_contexts(None)? {
//!     let _ = hub.add_cluster(source); // a duplicate name is an error; skip it
//! }
//! let mut events = hub.subscribe();
//! while let Ok(event) = events.recv().await {
//!     println!("{event:?}");
//! }
//! # Ok(()) }
//! ```
//!
//! How a cluster is watched (one tokio task per cluster, see `worker`):
//!
//! 1. **Connecting**: a client from the kubeconfig context (read again at every attempt) or
//!    the in-cluster service account; discovery (server version, which needed kinds are
//!    served and may be listed — the others are reported under `skipped` — and whether the
//!    HealingAction CRD is installed); one reflector per kind
//!    ([`kaptain_sources::watch`]); wait until each has listed once.
//! 2. **Ready**: after every burst of changes (quiet for `debounce`, at most `max_delay`
//!    after the first change) and every `resync`, the reflectors are snapshot into a
//!    `ClusterIndex`, every check runs as of [`LiveConfig::now`] with correlation, and the
//!    report and summaries replace the previous ones. When the findings changed, the
//!    generation increases, [`LiveEvent::ReportUpdated`] is broadcast and the
//!    [`ReportSink`] is called. The server is probed (`GET /version`) every
//!    `probe_interval` and whenever a watch fails.
//! 3. **Unreachable**: when a connection attempt or a probe fails, the watches are dropped
//!    and the cluster retries after `backoff_initial`, doubling up to `backoff_max`. The
//!    last data stays readable. Other clusters are not affected.

mod analysis;
mod backoff;
mod config;
mod connect;
mod error;
mod session;
mod sink;
mod state;
mod status;
pub mod summary;
mod worker;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use kaptain_heal::crd::HealingAction;
use kaptain_index::ClusterIndex;
use kaptain_model::Report;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

pub use analysis::diff;
pub use config::{Clock, LiveConfig};
pub use error::LiveError;
pub use kaptain_sources::live::ClusterSource;
pub use sink::{ReportSink, SinkError, sink_fn};
pub use status::{
    ClusterInfo, ClusterStatus, ClusterView, LiveEvent, ReportChange, SeverityCounts, SkippedApi,
    WatchError,
};
pub use summary::{HealingActionRow, NamespaceRow, NodeRow, WarningEvent};

use state::{Shared, Slot};

/// Watches clusters; see the [module documentation](self). Dropping it stops every watch.
pub struct LiveClusters {
    shared: Arc<Shared>,
    clusters: RwLock<BTreeMap<String, Entry>>,
}

struct Entry {
    slot: Arc<Slot>,
    task: JoinHandle<()>,
}

impl LiveClusters {
    /// A hub with no clusters yet.
    pub fn new(config: LiveConfig) -> LiveClusters {
        LiveClusters::with_sink(config, None)
    }

    /// A hub that hands every new report generation to `sink` (e.g. the findings history).
    pub fn with_sink(config: LiveConfig, sink: Option<Arc<dyn ReportSink>>) -> LiveClusters {
        let (events, _) = broadcast::channel(config.event_capacity.max(1));
        LiveClusters {
            shared: Arc::new(Shared {
                cfg: config,
                events,
                sink,
            }),
            clusters: RwLock::new(BTreeMap::new()),
        }
    }

    pub fn config(&self) -> &LiveConfig {
        &self.shared.cfg
    }

    /// Starts watching a cluster in its own task and returns its name (the context name, or
    /// `in-cluster`). Fails — without starting anything — when the kubeconfig cannot be read,
    /// has no such context, or the name is already watched. Connection problems are not
    /// errors: the cluster shows as [`ClusterStatus::Unreachable`] and keeps retrying. Must be
    /// called inside a tokio runtime.
    pub fn add_cluster(&self, source: ClusterSource) -> Result<String, LiveError> {
        let name = source.resolve_name()?;
        self.add_named(name, source)
    }

    /// Like [`LiveClusters::add_cluster`] with a name of your choice (e.g. two in-cluster sources
    /// cannot share `in-cluster`).
    pub fn add_named(&self, name: String, source: ClusterSource) -> Result<String, LiveError> {
        let rt = tokio::runtime::Handle::try_current().map_err(|_| LiveError::NoRuntime)?;
        let mut clusters = self.write();
        if clusters.contains_key(&name) {
            return Err(LiveError::Duplicate(name));
        }
        let slot = Arc::new(Slot::new(name.clone(), source));
        let task = rt.spawn(worker::run(slot.clone(), self.shared.clone()));
        clusters.insert(name.clone(), Entry { slot, task });
        Ok(name)
    }

    /// Stops watching a cluster and forgets it. `false` if it was not watched.
    pub fn remove_cluster(&self, name: &str) -> bool {
        match self.write().remove(name) {
            Some(e) => {
                e.task.abort();
                true
            }
            None => false,
        }
    }

    /// Every cluster, by name.
    pub fn clusters(&self) -> Vec<ClusterInfo> {
        self.read().values().map(|e| e.slot.info()).collect()
    }

    /// One cluster in detail.
    pub fn cluster(&self, name: &str) -> Option<ClusterView> {
        self.slot(name).map(|s| s.view())
    }

    /// The latest report (kept while the cluster is unreachable); `None` for an unknown
    /// cluster or before the first analysis.
    pub fn report(&self, name: &str) -> Option<Arc<Report>> {
        self.slot(name)?.read().report.clone()
    }

    /// The generation of the latest report (0 before the first).
    pub fn generation(&self, name: &str) -> Option<u64> {
        Some(self.slot(name)?.read().generation)
    }

    /// The node table, by name. `None` for an unknown cluster or before the first analysis.
    pub fn nodes(&self, name: &str) -> Option<Vec<NodeRow>> {
        self.with_data(name, |s| s.nodes.as_ref().clone())
    }

    /// The namespace breakdown, by name.
    pub fn namespaces(&self, name: &str) -> Option<Vec<NamespaceRow>> {
        self.with_data(name, |s| s.namespaces.as_ref().clone())
    }

    /// The newest `limit` Warning events, newest first (at most
    /// [`LiveConfig::warning_events_kept`]).
    pub fn warning_events(&self, name: &str, limit: usize) -> Option<Vec<WarningEvent>> {
        self.with_data(name, |s| s.warnings.iter().take(limit).cloned().collect())
    }

    /// HealingActions, newest first, with ages as of now. Empty when the CRD is not
    /// installed.
    pub fn healing_actions(&self, name: &str) -> Option<Vec<HealingActionRow>> {
        let now = (self.shared.cfg.now)();
        self.with_data(name, |s| summary::healing_rows(&s.actions, now))
    }

    /// One HealingAction as watched (for approving or rejecting it through
    /// [`LiveClusters::client`] with its resourceVersion).
    pub fn healing_action(
        &self,
        cluster: &str,
        namespace: &str,
        name: &str,
    ) -> Option<Arc<HealingAction>> {
        let slot = self.slot(cluster)?;
        let s = slot.read();
        s.actions
            .iter()
            .find(|a| {
                a.metadata.namespace.as_deref() == Some(namespace)
                    && a.metadata.name.as_deref() == Some(name)
            })
            .cloned()
    }

    /// Every HealingAction as watched (for the engine's tools). Empty when the CRD is not
    /// installed; `None` for an unknown cluster.
    pub fn healing_action_objects(&self, cluster: &str) -> Option<Vec<Arc<HealingAction>>> {
        Some(self.slot(cluster)?.read().actions.clone())
    }

    /// The index of the latest analysis.
    pub fn index(&self, name: &str) -> Option<Arc<ClusterIndex>> {
        self.slot(name)?.read().index.clone()
    }

    /// A client for the cluster (from its latest successful connection), e.g. to patch a
    /// HealingAction. `None` before the first connection.
    pub fn client(&self, name: &str) -> Option<kube::Client> {
        self.slot(name)?.read().client.clone()
    }

    /// Events from now on. A receiver that falls more than
    /// [`LiveConfig::event_capacity`] behind gets `RecvError::Lagged` and continues.
    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.shared.events.subscribe()
    }

    fn slot(&self, name: &str) -> Option<Arc<Slot>> {
        self.read().get(name).map(|e| e.slot.clone())
    }

    fn with_data<T>(&self, name: &str, f: impl FnOnce(&state::ClusterState) -> T) -> Option<T> {
        let slot = self.slot(name)?;
        let s = slot.read();
        s.data_as_of?;
        Some(f(&s))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Entry>> {
        self.clusters
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Entry>> {
        self.clusters
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for LiveClusters {
    fn drop(&mut self) {
        for e in self.read().values() {
            e.task.abort();
        }
    }
}

impl std::fmt::Debug for LiveClusters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveClusters")
            .field("clusters", &self.read().keys().collect::<Vec<_>>())
            .field("config", &self.shared.cfg)
            .finish()
    }
}
