//! The findings history recorder: the hub's [`ReportSink`] that records every cluster's
//! reports in the store ([`Store::record_scan`]).
//!
//! Several replicas of the server may share one database and watch the same clusters. Were
//! they all to record, a replica whose watch lags behind could record a view newer by time
//! but older in content, reopening for a moment what another replica had just cleared (a
//! flapping history, a wrong MTTR). So a replica records a cluster only while it holds the
//! cluster's lease in the store (`findings/<cluster>`, see [`Store::hold_lease`]): it takes or
//! renews the lease — one statement — before each recording, for
//! [`HubConfig::sink_lease_ttl`]. The hub calls the sink at every new report and at least
//! every `sink_interval` while nothing changes, so the holder keeps it; a replica that stops,
//! or whose cluster stops answering, stops renewing, and another takes over once the lease has
//! expired. Without the lease a replica skips the write; its hub still serves its own view
//! through the API. A single replica always gets the lease. [`ScanDiff::stale`] stays the
//! safety net for scans that reach the store out of order anyway (around a takeover).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::future::BoxFuture;
use jiff::Timestamp;
use kaptain_model::{Finding, Report};
use kaptain_store::{ScanDiff, Store};

use crate::hub::{HubConfig, ReportChange, ReportSink, SinkError};
use crate::metrics::Metrics;

/// Records the findings history of the clusters whose lease this replica holds.
pub struct Recorder {
    store: Store,
    holder: String,
    ttl: Duration,
    metrics: Metrics,
    /// Per cluster, whether the last attempt held the lease (for logs and [`Recorder::records`]).
    held: Mutex<BTreeMap<String, bool>>,
    /// Recordings hold it shared; [`Recorder::release`] takes it exclusively and sets it:
    /// nothing is recorded any more.
    closed: tokio::sync::RwLock<bool>,
}

/// The store lease that says who records `cluster`.
pub fn lease_name(cluster: &str) -> String {
    format!("findings/{cluster}")
}

impl Recorder {
    /// A recorder into `store` with a new holder id, holding leases for
    /// `hub.sink_lease_ttl()`, reporting in `metrics`.
    pub fn new(
        store: Store,
        hub: &HubConfig,
        metrics: Metrics,
    ) -> Result<Recorder, kaptain_store::Error> {
        Ok(Recorder {
            store,
            holder: kaptain_store::new_holder_id()?,
            ttl: hub.sink_lease_ttl(),
            metrics,
            held: Mutex::new(BTreeMap::new()),
            closed: tokio::sync::RwLock::new(false),
        })
    }

    /// This replica's holder id in the store's leases (`host/pid/random`).
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// How long a lease lasts without renewal.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Whether the last attempt to record `cluster` held its lease; `None` before the first.
    pub fn records(&self, cluster: &str) -> Option<bool> {
        self.held().get(cluster).copied()
    }

    /// Records one scan of `cluster` if this replica holds (or can take) its lease: the
    /// scan's diff, or `None` when another replica records the cluster (or this recorder was
    /// released).
    pub async fn record(
        &self,
        cluster: &str,
        findings: &[Finding],
    ) -> Result<Option<ScanDiff>, kaptain_store::Error> {
        let closed = self.closed.read().await;
        if *closed {
            return Ok(None);
        }
        let held = self
            .store
            .hold_lease(
                &lease_name(cluster),
                &self.holder,
                Timestamp::now(),
                self.ttl,
            )
            .await?;
        self.note(cluster, held).await;
        if !held {
            tracing::debug!(%cluster, "another replica records the findings history; skipped");
            return Ok(None);
        }
        let diff = self
            .store
            .record_scan(cluster, findings, Timestamp::now())
            .await?;
        drop(closed);
        Ok(Some(diff))
    }

    /// Stops recording (waiting for recordings in progress) and gives up every lease this
    /// replica holds, so that another replica takes over at its next report instead of after
    /// the time to live (on a clean shutdown).
    pub async fn release(&self) {
        let mut closed = self.closed.write().await;
        *closed = true;
        let clusters: Vec<String> = self
            .held()
            .iter()
            .filter(|(_, held)| **held)
            .map(|(c, _)| c.clone())
            .collect();
        for cluster in clusters {
            match self
                .store
                .release_lease(&lease_name(&cluster), &self.holder)
                .await
            {
                Ok(_) => {
                    self.held().insert(cluster.clone(), false);
                    self.metrics.set_findings_recorder(&cluster, false);
                }
                Err(e) => tracing::warn!(%cluster, "releasing the findings recorder lease: {e}"),
            }
        }
    }

    /// Keeps what the last attempt found, and says so when it changed.
    async fn note(&self, cluster: &str, held: bool) {
        let before = self.held().insert(cluster.to_owned(), held);
        self.metrics.set_findings_recorder(cluster, held);
        if before == Some(held) {
            return;
        }
        if held {
            tracing::info!(%cluster, holder = %self.holder, "this replica records the findings history");
            return;
        }
        let other = match self.store.lease(&lease_name(cluster)).await {
            Ok(Some(lease)) => lease.holder,
            Ok(None) => "another replica".to_owned(),
            Err(e) => format!("another replica ({e})"),
        };
        tracing::info!(%cluster, holder = %other, "another replica records the findings history");
    }

    fn held(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, bool>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("holder", &self.holder)
            .field("ttl", &self.ttl)
            .field("held", &*self.held())
            .finish_non_exhaustive()
    }
}

impl ReportSink for Recorder {
    fn report<'a>(
        &'a self,
        cluster: &'a str,
        _generation: u64,
        report: &'a Arc<Report>,
        _change: &'a ReportChange,
    ) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            self.record(cluster, &report.findings)
                .await
                .map(|_| ())
                .map_err(SinkError::from)
        })
    }
}
