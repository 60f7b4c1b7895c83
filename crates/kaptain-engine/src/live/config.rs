//! How the hub runs ([`LiveConfig`]).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use kaptain_analyze::Check;

/// The time analyses measure ages against (grace periods, "stuck for").
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// Tuning of the hub. `LiveConfig::default()` suits a server.
#[derive(Clone)]
pub struct LiveConfig {
    /// The checks to run (default: every check in the catalog).
    pub checks: Vec<&'static Check>,
    /// Watch Secrets (their values are emptied as they arrive, except public certificates;
    /// see [`kaptain_sources::watch::strip`]). Default true.
    pub read_secrets: bool,
    /// Namespaces to watch; empty for all. Cluster-scoped kinds are always watched whole.
    pub namespaces: Vec<String>,
    /// Quiet time after a change before the analysis runs (collects a burst). Default 500 ms.
    pub debounce: Duration,
    /// Longest time from a change to its analysis while changes keep coming. Default 3 s.
    pub max_delay: Duration,
    /// Re-analysis without changes (time-based checks: grace periods, expiries). Default 30 s.
    pub resync: Duration,
    /// How often a ready cluster is probed (`GET /version`), and how often a missing
    /// HealingAction API is looked for again. Default 15 s.
    pub probe_interval: Duration,
    /// How long a probe (`GET /version`) may take. Default 10 s.
    pub request_timeout: Duration,
    /// How long one connection attempt may take: discovery and the first full list of every
    /// watch. Default 120 s.
    pub sync_timeout: Duration,
    /// The [`super::ReportSink`] gets every new generation, and the unchanged report again
    /// when this long has passed without one (so a history knows its open findings are
    /// still there). Default 60 s.
    pub sink_interval: Duration,
    /// How long the sink's claim on a cluster lasts without renewal: the server's findings
    /// recorder holds a claim per cluster in its store for this long, renewed at every sink
    /// call, so that of several replicas sharing one database one records a cluster (another
    /// takes over once the holder has stopped renewing for this long). Default `None`:
    /// 2 × (`sink_interval` + `resync`), the longest a ready cluster goes between sink calls
    /// twice over; see [`LiveConfig::sink_claim_ttl`].
    pub sink_claim: Option<Duration>,
    /// First retry delay after a failure; doubles per failure up to `backoff_max`. Default 1 s.
    pub backoff_initial: Duration,
    /// Default 60 s.
    pub backoff_max: Duration,
    /// Capacity of the event channel (slow subscribers lose the oldest events). Default 1024.
    pub event_capacity: usize,
    /// Warning events kept per cluster (newest first). Default 500.
    pub warning_events_kept: usize,
    /// The analysis clock. Default: the system clock.
    pub now: Clock,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            checks: kaptain_analyze::catalog().iter().collect(),
            read_secrets: true,
            namespaces: Vec::new(),
            debounce: Duration::from_millis(500),
            max_delay: Duration::from_secs(3),
            resync: Duration::from_secs(30),
            probe_interval: Duration::from_secs(15),
            request_timeout: Duration::from_secs(10),
            sync_timeout: Duration::from_secs(120),
            sink_interval: Duration::from_secs(60),
            sink_claim: None,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            event_capacity: 1024,
            warning_events_kept: 500,
            now: Arc::new(Timestamp::now),
        }
    }
}

impl LiveConfig {
    /// The sink's claim time to live: `sink_claim` when set, else
    /// 2 × (`sink_interval` + `resync`) (default 180 s).
    pub fn sink_claim_ttl(&self) -> Duration {
        self.sink_claim
            .unwrap_or_else(|| (self.sink_interval + self.resync) * 2)
    }

    /// Analyses run as of the system time plus `offset` (tests use a later time so that
    /// grace periods have passed).
    pub fn with_clock_offset(mut self, offset: SignedDuration) -> Self {
        self.now = Arc::new(move || {
            Timestamp::now()
                .saturating_add(offset)
                .unwrap_or_else(|_| Timestamp::now())
        });
        self
    }
}

impl fmt::Debug for LiveConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveConfig")
            .field("checks", &self.checks.len())
            .field("read_secrets", &self.read_secrets)
            .field("namespaces", &self.namespaces)
            .field("debounce", &self.debounce)
            .field("max_delay", &self.max_delay)
            .field("resync", &self.resync)
            .field("probe_interval", &self.probe_interval)
            .field("request_timeout", &self.request_timeout)
            .field("sync_timeout", &self.sync_timeout)
            .field("sink_interval", &self.sink_interval)
            .field("sink_claim", &self.sink_claim_ttl())
            .field("backoff_initial", &self.backoff_initial)
            .field("backoff_max", &self.backoff_max)
            .finish_non_exhaustive()
    }
}
