//! What the SSE stream carries: the hub's events and the server's own (diagnose runs).

use serde::Serialize;
use tokio::sync::broadcast;
use utoipa::ToSchema;

use kaptain_engine::live::{LiveClusters, LiveEvent};

/// One change.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ServerEvent {
    /// A cluster's status, report or healing actions changed.
    LiveClusters(LiveEvent),
    /// A diagnose run changed (`GET /api/v1/runs/{id}` has the rest).
    Run {
        /// The run's id.
        #[serde(rename = "run")]
        id: i64,
        /// The cluster it diagnoses (only principals scoped to it hear of the run).
        cluster: String,
    },
}

impl ServerEvent {
    /// The cluster the event is about, if it names one.
    pub fn cluster(&self) -> Option<&str> {
        match self {
            ServerEvent::LiveClusters(e) => Some(e.cluster()),
            ServerEvent::Run { cluster, .. } => Some(cluster),
        }
    }

    /// The SSE `event:` name: `cluster`, `report`, `healing` or `run`.
    pub fn kind(&self) -> &'static str {
        match self {
            ServerEvent::LiveClusters(LiveEvent::ClusterStatusChanged { .. }) => "cluster",
            ServerEvent::LiveClusters(LiveEvent::ReportUpdated { .. }) => "report",
            ServerEvent::LiveClusters(LiveEvent::HealingActionChanged { .. }) => "healing",
            ServerEvent::Run { .. } => "run",
        }
    }
}

/// A channel for [`ServerEvent`]s fed with every event of `hub` (by a task that ends when
/// the hub's channel closes).
pub fn channel(hub: &LiveClusters, capacity: usize) -> broadcast::Sender<ServerEvent> {
    let (tx, _) = broadcast::channel(capacity);
    let mut from_hub = hub.subscribe();
    let forward = tx.clone();
    tokio::spawn(async move {
        loop {
            match from_hub.recv().await {
                Ok(e) => {
                    let _ = forward.send(ServerEvent::LiveClusters(e));
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!("event forwarder lagged behind the hub by {n} events");
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    });
    tx
}
