//! The findings history recorder: the hub's [`ReportSink`] that records every cluster's
//! reports in the store ([`Store::record_scan`]).
//!
//! Several replicas of the server may share one database and watch the same clusters. Were
//! they all to record, a replica whose watch lags behind could record a view newer by time
//! but older in content, reopening for a moment what another replica had just cleared (a
//! flapping history, a wrong MTTR). So a replica records a cluster only while it holds the
//! cluster's claim in the store (`findings/<cluster>`, see [`Store::hold_claim`]): it takes or
//! renews the claim — one statement — before each recording, for
//! [`LiveConfig::sink_claim_ttl`]. The hub calls the sink at every new report and at least
//! every `sink_interval` while nothing changes, so the holder keeps it; a replica that stops,
//! or whose cluster stops answering, stops renewing, and another takes over once the claim has
//! expired. Without the claim a replica skips the write; its hub still serves its own view
//! through the API. A single replica always gets the claim. [`ScanDiff::stale`] stays the
//! safety net for scans that reach the store out of order anyway (around a takeover).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::future::BoxFuture;
use jiff::Timestamp;
use kaptain_model::{Finding, Report};
use kaptain_store::{ScanDiff, Store};

use crate::metrics::Metrics;
use kaptain_engine::live::{LiveConfig, ReportChange, ReportSink, SinkError};

/// Records the findings history of the clusters whose claim this replica holds.
pub struct HistoryRecorder {
    store: Store,
    holder: String,
    ttl: Duration,
    metrics: Metrics,
    /// Per cluster, what happened so far (for logs, [`HistoryRecorder::records`], [`HistoryRecorder::tally`]).
    tallies: Mutex<BTreeMap<String, Tally>>,
    /// Recordings hold it shared; [`HistoryRecorder::release`] takes it exclusively and sets it:
    /// nothing is recorded any more.
    closed: tokio::sync::RwLock<bool>,
}

/// What a recorder did with one cluster's reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Whether the last attempt held the cluster's claim.
    pub holds: bool,
    /// Scans recorded.
    pub recorded: u64,
    /// Scans left out because another replica held the claim.
    pub skipped: u64,
}

/// The store claim that says who records `cluster`.
pub fn claim_name(cluster: &str) -> String {
    format!("findings/{cluster}")
}

impl HistoryRecorder {
    /// A recorder into `store` with a new holder id, holding claims for
    /// `hub.sink_claim_ttl()`, reporting in `metrics`.
    pub fn new(
        store: Store,
        hub: &LiveConfig,
        metrics: Metrics,
    ) -> Result<HistoryRecorder, kaptain_store::Error> {
        Ok(HistoryRecorder {
            store,
            holder: kaptain_store::new_holder_id()?,
            ttl: hub.sink_claim_ttl(),
            metrics,
            tallies: Mutex::new(BTreeMap::new()),
            closed: tokio::sync::RwLock::new(false),
        })
    }

    /// This replica's holder id in the store's claims (`host/pid/random`).
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// How long a claim lasts without renewal.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Whether the last attempt to record `cluster` held its claim; `None` before the first.
    pub fn records(&self, cluster: &str) -> Option<bool> {
        self.tally(cluster).map(|t| t.holds)
    }

    /// What this recorder did with `cluster`'s reports; `None` before the first.
    pub fn tally(&self, cluster: &str) -> Option<Tally> {
        self.tallies().get(cluster).copied()
    }

    /// Records one scan of `cluster` if this replica holds (or can take) its claim: the
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
            .hold_claim(
                &claim_name(cluster),
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
        self.tallies()
            .entry(cluster.to_owned())
            .or_default()
            .recorded += 1;
        Ok(Some(diff))
    }

    /// Stops recording (waiting for recordings in progress) and gives up every claim this
    /// replica holds, so that another replica takes over at its next report instead of after
    /// the time to live (on a clean shutdown).
    pub async fn release(&self) {
        let mut closed = self.closed.write().await;
        *closed = true;
        let clusters: Vec<String> = self
            .tallies()
            .iter()
            .filter(|(_, t)| t.holds)
            .map(|(c, _)| c.clone())
            .collect();
        for cluster in clusters {
            match self
                .store
                .release_claim(&claim_name(&cluster), &self.holder)
                .await
            {
                Ok(_) => {
                    self.tallies().entry(cluster.clone()).or_default().holds = false;
                    self.metrics.set_findings_recorder(&cluster, false);
                }
                Err(e) => tracing::warn!(%cluster, "releasing the findings recorder claim: {e}"),
            }
        }
    }

    /// Keeps what the last attempt found, and says so when it changed.
    async fn note(&self, cluster: &str, held: bool) {
        let before = {
            let mut tallies = self.tallies();
            let before = tallies.get(cluster).map(|t| t.holds);
            let t = tallies.entry(cluster.to_owned()).or_default();
            t.holds = held;
            if !held {
                t.skipped += 1;
            }
            before
        };
        self.metrics.set_findings_recorder(cluster, held);
        if before == Some(held) {
            return;
        }
        if held {
            tracing::info!(%cluster, holder = %self.holder, "this replica records the findings history");
            return;
        }
        let other = match self.store.claim(&claim_name(cluster)).await {
            Ok(Some(claim)) => claim.holder,
            Ok(None) => "another replica".to_owned(),
            Err(e) => format!("another replica ({e})"),
        };
        tracing::info!(%cluster, holder = %other, "another replica records the findings history");
    }

    fn tallies(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Tally>> {
        self.tallies.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for HistoryRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HistoryRecorder")
            .field("holder", &self.holder)
            .field("ttl", &self.ttl)
            .field("tallies", &*self.tallies())
            .finish_non_exhaustive()
    }
}

impl ReportSink for HistoryRecorder {
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

#[cfg(test)]
mod tests {
    use kaptain_model::{Category, ObjectRef, Severity};

    use super::*;

    fn finding(name: &str) -> Finding {
        let object = ObjectRef::new("v1", "Pod", Some("shop"), name);
        Finding {
            fingerprint: format!("fp-{name}"),
            confidence: 1.0,
            ..Finding::new(
                "pod.crash-loop",
                Severity::High,
                Category::Reliability,
                object,
            )
        }
    }

    fn hub(claim: Duration) -> LiveConfig {
        LiveConfig {
            sink_claim: Some(claim),
            ..LiveConfig::default()
        }
    }

    /// Two replicas on one SQLite file: the first to record a cluster keeps recording it, the
    /// other skips it (and records clusters nobody holds), until the first releases.
    #[tokio::test]
    async fn one_replica_records_a_cluster_until_it_releases() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("k.db").display());
        let (sa, sb) = (
            Store::open(&url).await.expect("store"),
            Store::open(&url).await.expect("store"),
        );
        let ttl = Duration::from_secs(3600);
        let (ma, mb) = (Metrics::new(), Metrics::new());
        let a = HistoryRecorder::new(sa.clone(), &hub(ttl), ma.clone()).expect("recorder");
        let b = HistoryRecorder::new(sb, &hub(ttl), mb.clone()).expect("recorder");
        assert_eq!(a.ttl(), ttl);
        assert_eq!(a.records("prod"), None);

        let first = a.record("prod", &[finding("x")]).await.expect("record");
        assert_eq!(first.map(|d| d.appeared.len()), Some(1));
        // B's view differs (x cleared, y new): it is not recorded.
        assert_eq!(
            b.record("prod", &[finding("y")]).await.expect("record"),
            None
        );
        // A renews and records again; B records a cluster nobody holds.
        let again = a.record("prod", &[finding("x")]).await.expect("record");
        assert_eq!(again.map(|d| (d.appeared.len(), d.open)), Some((0, 1)));
        assert!(b.record("dev", &[]).await.expect("record").is_some());
        assert_eq!(
            (a.records("prod"), b.records("prod")),
            (Some(true), Some(false))
        );
        let tally = |holds, recorded, skipped| Tally {
            holds,
            recorded,
            skipped,
        };
        assert_eq!(a.tally("prod"), Some(tally(true, 2, 0)));
        assert_eq!(b.tally("prod"), Some(tally(false, 0, 1)));
        assert_eq!(b.tally("dev"), Some(tally(true, 1, 0)));
        assert!(
            ma.encode()
                .contains("kaptain_server_findings_recorder{cluster=\"prod\"} 1")
        );
        assert!(
            mb.encode()
                .contains("kaptain_server_findings_recorder{cluster=\"prod\"} 0")
        );
        let claim = sa.claim(&claim_name("prod")).await.expect("claim");
        assert_eq!(claim.map(|l| l.holder), Some(a.holder().to_owned()));

        // A releases (clean shutdown): it records nothing more, B takes over at once.
        a.release().await;
        assert_eq!(a.records("prod"), Some(false));
        assert!(
            ma.encode()
                .contains("kaptain_server_findings_recorder{cluster=\"prod\"} 0")
        );
        assert_eq!(a.record("prod", &[]).await.expect("record"), None);
        let taken = b.record("prod", &[finding("y")]).await.expect("record");
        let diff = taken.expect("B records after the release");
        assert_eq!((diff.appeared.len(), diff.cleared.len()), (1, 1));
        assert_eq!(b.records("prod"), Some(true));
    }

    #[test]
    fn the_default_lease_outlives_a_missed_renewal() {
        let cfg = LiveConfig::default();
        // A ready cluster goes at most sink_interval + resync between sink calls.
        assert!(cfg.sink_claim_ttl() > cfg.sink_interval + cfg.resync);
        let slow = LiveConfig {
            sink_interval: Duration::from_secs(600),
            ..LiveConfig::default()
        };
        assert!(slow.sink_claim_ttl() > slow.sink_interval + slow.resync);
        assert_eq!(
            hub(Duration::from_secs(7)).sink_claim_ttl(),
            Duration::from_secs(7)
        );
    }
}
