//! The task of one cluster: connect (discovery, start the watches, wait until each has
//! listed once), run the session until the cluster stops answering, then retry with capped
//! exponential backoff — forever, until the hub drops the task.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use kaptain_sources::watch::{KindReflectors, Signals, Tasks};
use kube::runtime::watcher;

use super::backoff::Backoff;
use super::connect::{self, Discovery, HealingApi};
use super::session::{Connected, Session};
use super::state::{Shared, Slot};
use super::status::{ClusterStatus, SkippedApi};

/// Runs until aborted.
pub(crate) async fn run(slot: Arc<Slot>, shared: Arc<Shared>) {
    let cfg = &shared.cfg;
    let mut backoff = Backoff::new(cfg.backoff_initial, cfg.backoff_max);
    let mut down_since: Option<Timestamp> = None;
    loop {
        let error = match connect_and_sync(&slot, &shared).await {
            Ok(session) => {
                backoff.reset();
                down_since = None;
                session.run().await
            }
            Err(e) => e,
        };
        let delay = backoff.next_delay();
        let now = Timestamp::now();
        let since = *down_since.get_or_insert(now);
        let retry_at = now
            .checked_add(jiff::SignedDuration::try_from(delay).unwrap_or_default())
            .unwrap_or(now);
        slot.set_status(
            &shared,
            ClusterStatus::Unreachable {
                error,
                since,
                retry_at,
                attempts: backoff.failures(),
            },
        );
        tokio::time::sleep(delay).await;
    }
}

/// Connects and waits until every watch has listed once. The error is one line.
async fn connect_and_sync(slot: &Arc<Slot>, shared: &Arc<Shared>) -> Result<Session, String> {
    let cfg = &shared.cfg;
    let signals = Arc::new(Signals::default());
    let limit = cfg.sync_timeout;
    let attempt = async {
        let cluster = connect::client(&slot.name, &slot.source)
            .await
            .map_err(|e| e.to_string())?;
        let needed = needed_kinds(&cfg.checks, cfg.read_secrets);
        let Discovery {
            server_version,
            kinds,
            skipped,
            healing,
        } = connect::discover(&cluster, &needed, &cfg.namespaces)
            .await
            .map_err(|e| e.to_string())?;
        let mut tasks = Tasks::new(signals.clone(), Some(slot.name.clone()));
        let reflectors =
            KindReflectors::start(&mut tasks, &cluster.client, &kinds, &cfg.namespaces);
        let healing_served = healing == HealingApi::Readable;
        let actions = healing_served
            .then(|| tasks.start(&cluster.client, &cfg.namespaces, watcher::Config::default()));
        // Wait for the first list of every watch; a failing watch makes us ask whether the
        // cluster is still there.
        while !tasks.is_ready() {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                _ = signals.failed().notified() => {
                    connect::probe(&cluster, cfg.request_timeout)
                        .await
                        .map_err(|e| e.to_string())?;
                }
            }
        }
        {
            let mut s = slot.write();
            s.server_version = Some(server_version.clone());
            s.client = Some(cluster.client.clone());
            s.watched = kinds.iter().map(|k| k.api_label()).collect();
            s.skipped = skipped
                .iter()
                .map(|s| SkippedApi {
                    api: s.api.clone(),
                    reason: s.reason.clone(),
                })
                .collect();
            if let HealingApi::Forbidden(reason) = healing {
                s.skipped.push(SkippedApi {
                    api: connect::HEALING_API.to_string(),
                    reason,
                });
            }
            s.healing_served = healing_served;
        }
        Ok(Session::new(
            slot.clone(),
            shared.clone(),
            Connected {
                cluster,
                tasks,
                reflectors,
                actions,
                server_version,
                skipped,
            },
        ))
    };
    match tokio::time::timeout(limit, attempt).await {
        Ok(r) => r,
        Err(_) => {
            let failing = signals.failures();
            Err(match failing.first() {
                Some((watch, error)) => format!("{error} (watch {watch} did not sync)"),
                None => format!(
                    "cannot reach the cluster (context {}): not connected and synced within {}s",
                    slot.name,
                    limit.as_secs()
                ),
            })
        }
    }
}

/// The kinds the checks need (Secrets only when reading them is enabled).
fn needed_kinds(
    checks: &[&'static kaptain_analyze::Check],
    read_secrets: bool,
) -> Vec<kaptain_index::Kind> {
    kaptain_analyze::needed_kinds(checks)
        .into_iter()
        .filter(|k| read_secrets || *k != kaptain_index::Kind::Secret)
        .collect()
}
