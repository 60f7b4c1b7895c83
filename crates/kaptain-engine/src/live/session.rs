//! One connected session of a cluster: analyse after every burst of changes (debounced,
//! bounded), re-analyse periodically for time-based checks, probe the server, and end with
//! the error as soon as the cluster stops answering.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use jiff::Timestamp;
use kaptain_heal::crd::HealingAction;
use kaptain_model::Skipped;
use kaptain_sources::live::Cluster;
use kaptain_sources::watch::{KindReflectors, Reflected, Tasks};
use kube::runtime::watcher;
use tokio::time::sleep_until;

use super::analysis::{self, Analysis, diff, live_source};
use super::connect;
use super::state::{Shared, Slot};
use super::status::{ClusterStatus, LiveEvent, WatchError};
use super::summary::phase_of;
use kaptain_index::identity::is_own_event;

/// What a successful connection hands to the session.
pub(crate) struct Connected {
    pub cluster: Cluster,
    pub tasks: Tasks,
    pub reflectors: KindReflectors,
    pub actions: Option<Reflected<HealingAction>>,
    pub server_version: String,
    pub skipped: Vec<Skipped>,
}

pub(crate) struct Session {
    slot: Arc<Slot>,
    shared: Arc<Shared>,
    cluster: Cluster,
    tasks: Tasks,
    reflectors: Arc<KindReflectors>,
    actions: Option<Reflected<HealingAction>>,
    server_version: String,
    skipped: Vec<Skipped>,
    /// resourceVersion (or phase) of each HealingAction last seen, by `namespace/name`.
    seen_actions: HashMap<String, String>,
    /// When the sink last took a report.
    last_sink: Option<Instant>,
}

impl Session {
    pub fn new(slot: Arc<Slot>, shared: Arc<Shared>, c: Connected) -> Session {
        Session {
            slot,
            shared,
            cluster: c.cluster,
            tasks: c.tasks,
            reflectors: Arc::new(c.reflectors),
            actions: c.actions,
            server_version: c.server_version,
            skipped: c.skipped,
            seen_actions: HashMap::new(),
            last_sink: None,
        }
    }

    /// Runs until the cluster stops answering; returns that error (one line).
    pub async fn run(mut self) -> String {
        let shared = self.shared.clone();
        let cfg = &shared.cfg;
        // The previous session's actions (if any) are the baseline for change events.
        self.seen_actions = action_versions(&self.slot.read().actions);
        self.slot.set_status(
            &shared,
            ClusterStatus::Ready {
                since: Timestamp::now(),
            },
        );
        let signals = self.tasks.signals().clone();
        let mut next_probe = tokio::time::Instant::now() + cfg.probe_interval;
        loop {
            self.analyze().await;
            let next_resync = tokio::time::Instant::now() + cfg.resync;
            // Wait for a change, a failure, a probe or a resync.
            loop {
                tokio::select! {
                    _ = signals.changed().notified() => {
                        self.debounce().await;
                        break;
                    }
                    _ = signals.failed().notified() => {
                        // A watch failed: is the cluster still there? (The watch retries by
                        // itself; if the server answers, only that watch is in trouble.)
                        if let Err(e) = connect::probe(&self.cluster, cfg.request_timeout).await {
                            return e.to_string();
                        }
                        next_probe = tokio::time::Instant::now() + cfg.probe_interval;
                        self.record_watch_errors();
                    }
                    _ = sleep_until(next_probe) => {
                        if let Err(e) = connect::probe(&self.cluster, cfg.request_timeout).await {
                            return e.to_string();
                        }
                        next_probe = tokio::time::Instant::now() + cfg.probe_interval;
                        self.record_watch_errors();
                        self.watch_actions_if_served().await;
                    }
                    _ = sleep_until(next_resync) => break,
                }
            }
        }
    }

    /// Collects the rest of a burst: waits until `debounce` passes without a change, or
    /// `max_delay` after the first one.
    async fn debounce(&self) {
        let cfg = &self.shared.cfg;
        let signals = self.tasks.signals();
        let latest = tokio::time::Instant::now() + cfg.max_delay;
        loop {
            let quiet = (tokio::time::Instant::now() + cfg.debounce).min(latest);
            tokio::select! {
                _ = signals.changed().notified() => {
                    if tokio::time::Instant::now() >= latest {
                        return;
                    }
                }
                _ = sleep_until(quiet) => return,
            }
        }
    }

    fn record_watch_errors(&self) {
        let errors: Vec<WatchError> = self
            .tasks
            .signals()
            .failures()
            .into_iter()
            .map(|(watch, error)| WatchError { watch, error })
            .collect();
        self.slot.write().watch_errors = errors;
    }

    /// Starts watching HealingActions once Kaptain's CRDs are installed.
    async fn watch_actions_if_served(&mut self) {
        if self.actions.is_some()
            || connect::healing_api(&self.cluster.client, &self.shared.cfg.namespaces).await
                != connect::HealingApi::Readable
        {
            return;
        }
        tracing::info!(cluster = %self.slot.name, "HealingAction API served; watching it");
        let cfg = &self.shared.cfg;
        self.actions = Some(self.tasks.start(
            &self.cluster.client,
            &cfg.namespaces,
            watcher::Config::default(),
        ));
        self.slot.write().healing_served = true;
    }

    /// Snapshot → checks → report and summaries; publishes what changed.
    async fn analyze(&mut self) {
        let shared = self.shared.clone();
        let cfg = &shared.cfg;
        let began = Instant::now();
        let now = (cfg.now)();
        let reflectors = self.reflectors.clone();
        let checks = cfg.checks.clone();
        let source = live_source(&self.slot.name, Some(self.server_version.clone()));
        let skipped = self.skipped.clone();
        let kept = cfg.warning_events_kept;
        let data_as_of = Timestamp::now();
        let done = tokio::task::spawn_blocking(move || {
            // Shares the objects with the reflectors: no copy.
            let idx = reflectors.index_without_events(&is_own_event);
            let a = analysis::analyze(&idx, &checks, now, source, skipped, kept);
            (Arc::new(idx), a)
        })
        .await;
        let (idx, a) = match done {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(cluster = %self.slot.name, error = %e, "analysis failed");
                return;
            }
        };
        let took = began.elapsed();
        let actions = self
            .actions
            .as_ref()
            .map(Reflected::items)
            .unwrap_or_default();
        let action_events = self.action_changes(&actions);
        let Analysis {
            report,
            nodes,
            namespaces,
            warnings,
            objects,
        } = a;
        let (change, generation) = {
            let mut s = self.slot.write();
            let change = diff(s.report.as_deref(), &report);
            let first = s.report.is_none();
            s.report = Some(report.clone());
            s.counts = analysis::counts(&idx);
            s.index = Some(idx);
            s.nodes = nodes;
            s.namespaces = namespaces;
            s.warnings = warnings;
            s.actions = actions;
            s.objects = objects;
            s.data_as_of = Some(data_as_of);
            s.analyzed_as_of = Some(now);
            s.analysis_ms = Some(u64::try_from(took.as_millis()).unwrap_or(u64::MAX));
            let new_generation = first || !change.is_empty();
            if new_generation {
                s.generation += 1;
            }
            (new_generation.then_some(change), s.generation)
        };
        self.record_watch_errors();
        for e in action_events {
            shared.publish(e);
        }
        if let Some(change) = &change {
            tracing::debug!(
                cluster = %self.slot.name,
                generation,
                findings = report.findings.len(),
                appeared = change.appeared.len(),
                cleared = change.cleared.len(),
                ms = took.as_millis() as u64,
                "report updated"
            );
            shared.publish(LiveEvent::ReportUpdated {
                cluster: self.slot.name.clone(),
                generation,
                findings: report.findings.len(),
                appeared: change.appeared.len(),
                cleared: change.cleared.len(),
            });
        }
        // The sink gets every new generation, and the unchanged one now and then; after a
        // failure, the next analysis tries again (the report holds every finding, so a
        // history catches up).
        let due = change.is_some()
            || self
                .last_sink
                .is_none_or(|t| t.elapsed() >= cfg.sink_interval);
        if let Some(sink) = &shared.sink
            && due
        {
            let change = change.unwrap_or_default();
            match sink
                .report(&self.slot.name, generation, &report, &change)
                .await
            {
                Ok(()) => self.last_sink = Some(Instant::now()),
                Err(e) => {
                    self.last_sink = None;
                    tracing::warn!(cluster = %self.slot.name, error = %e, "report sink failed");
                }
            }
        }
    }

    /// Events for HealingActions created, changed or deleted since the last look.
    fn action_changes(&mut self, actions: &[Arc<HealingAction>]) -> Vec<LiveEvent> {
        let now = action_versions(actions);
        let mut events = Vec::new();
        for a in actions {
            let key = key_of(a);
            if self.seen_actions.get(&key) != now.get(&key) {
                events.push(LiveEvent::HealingActionChanged {
                    cluster: self.slot.name.clone(),
                    namespace: a.metadata.namespace.clone().unwrap_or_default(),
                    name: a.metadata.name.clone().unwrap_or_default(),
                    phase: Some(phase_of(a).as_str().to_string()),
                });
            }
        }
        for key in self.seen_actions.keys() {
            if !now.contains_key(key) {
                let (ns, name) = key.split_once('/').unwrap_or(("", key));
                events.push(LiveEvent::HealingActionChanged {
                    cluster: self.slot.name.clone(),
                    namespace: ns.to_string(),
                    name: name.to_string(),
                    phase: None,
                });
            }
        }
        self.seen_actions = now;
        events
    }
}

fn key_of(a: &HealingAction) -> String {
    format!(
        "{}/{}",
        a.metadata.namespace.as_deref().unwrap_or(""),
        a.metadata.name.as_deref().unwrap_or("")
    )
}

fn action_versions(actions: &[Arc<HealingAction>]) -> HashMap<String, String> {
    actions
        .iter()
        .map(|a| {
            let version = a
                .metadata
                .resource_version
                .clone()
                .unwrap_or_else(|| phase_of(a).as_str().to_string());
            (key_of(a), version)
        })
        .collect()
}
