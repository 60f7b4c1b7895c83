//! The operator's main loop: watches stay warm on every replica; the leader reconciles after
//! each burst of changes (debounced) and, while something waits on time, every second.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kaptain_sources::live::Cluster;
use kaptain_sources::watch::Signals;
use tokio::sync::{Notify, watch};

use crate::config::{LEASE_NAME, OperatorConfig};
use crate::controller::Controller;
use crate::http::{self, Health};
use crate::leader::Elector;
use crate::metrics::Metrics;
use crate::watch::Reflectors;
use kaptain_engine::healing::watched_kinds;
use kaptain_engine::healing::{Error, Result};

/// A healing operator instance.
pub struct Operator {
    client: kube::Client,
    cfg: OperatorConfig,
    metrics: Metrics,
    health: Arc<Health>,
}

/// A running operator (see [`Operator::spawn`]).
pub struct Handle {
    pub metrics: Metrics,
    /// Whether this instance leads.
    pub leader: watch::Receiver<bool>,
    /// The bound metrics address, once serving.
    pub metrics_addr: watch::Receiver<Option<SocketAddr>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<()>>,
}

impl Handle {
    /// Stops the operator gracefully (the Lease is released) and returns how it ended.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        match (&mut self.task).await {
            Ok(r) => r,
            Err(e) => Err(Error::Invalid(format!("the operator task failed: {e}"))),
        }
    }

    /// Whether the operator has ended (e.g. at a fail point).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Waits for the operator to end by itself.
    pub async fn join(mut self) -> Result<()> {
        match (&mut self.task).await {
            Ok(r) => r,
            Err(e) => Err(Error::Invalid(format!("the operator task failed: {e}"))),
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Operator {
    pub fn new(client: kube::Client, cfg: OperatorConfig) -> Self {
        Operator {
            client,
            cfg,
            metrics: Metrics::new(),
            health: Arc::new(Health::default()),
        }
    }

    pub fn metrics(&self) -> Metrics {
        self.metrics.clone()
    }

    /// Runs in a background task until [`Handle::stop`].
    pub fn spawn(self) -> Handle {
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let (leader_tx, leader) = watch::channel(false);
        let (addr_tx, metrics_addr) = watch::channel(None);
        let metrics = self.metrics.clone();
        let task = tokio::spawn(async move {
            self.run_with(
                async {
                    let _ = stopped.await;
                },
                leader_tx,
                addr_tx,
            )
            .await
        });
        Handle {
            metrics,
            leader,
            metrics_addr,
            stop: Some(stop),
            task,
        }
    }

    /// Runs until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let (leader_tx, _leader) = watch::channel(false);
        let (addr_tx, _addr) = watch::channel(None);
        self.run_with(shutdown, leader_tx, addr_tx).await
    }

    async fn run_with(
        self,
        shutdown: impl Future<Output = ()>,
        leader_tx: watch::Sender<bool>,
        addr_tx: watch::Sender<Option<SocketAddr>>,
    ) -> Result<()> {
        let Operator {
            client,
            cfg,
            metrics,
            health,
        } = self;
        if let Err(e) = client
            .list_api_group_resources(&format!(
                "{}/{}",
                kaptain_heal::crd::GROUP,
                kaptain_heal::crd::VERSION
            ))
            .await
        {
            return Err(Error::CrdsMissing(kaptain_engine::healing::one_line(&e)));
        }
        let cluster = Cluster {
            client: client.clone(),
            context: None,
            default_namespace: cfg.namespace.clone(),
        };
        let (kinds, skipped) = cluster.served(&watched_kinds(cfg.read_secrets)).await?;
        for s in &skipped {
            tracing::info!(api = %s.api, reason = %s.reason, "not watched");
        }
        // A forbidden kind would keep its watch retrying and the operator never ready.
        let (kinds, forbidden) =
            kaptain_sources::watch::readable(&client, &kinds, &cfg.watch_namespaces).await;
        for s in &forbidden {
            tracing::warn!(api = %s.api, "not watched: forbidden");
        }
        let _http = match cfg.metrics_addr {
            Some(addr) => {
                let (bound, task) = http::serve(addr, metrics.clone(), health.clone()).await?;
                tracing::info!(%bound, "serving /metrics, /healthz, /readyz");
                addr_tx.send_replace(Some(bound));
                Some(AbortOnDrop(task))
            }
            None => None,
        };
        health.beat();
        let signals = Arc::new(Signals::default());
        let refl = Reflectors::start(&client, &cfg, &kinds, &signals);
        tracing::info!(
            identity = %cfg.identity,
            namespace = %cfg.namespace,
            kinds = kinds.len(),
            watch_namespaces = ?cfg.watch_namespaces,
            "operator started; waiting for the watches to sync"
        );

        // Leader election in its own task, so a slow reconcile never delays renewal.
        let leader = leader_tx.subscribe();
        let (elector_stop, mut elector_stopped) = watch::channel(false);
        let mut elector = Elector::new(
            client.clone(),
            &cfg.namespace,
            LEASE_NAME,
            &cfg.identity,
            cfg.lease_duration,
        );
        let renew = cfg.renew_every;
        let leader_metric = metrics.leader.clone();
        let election = tokio::spawn(async move {
            loop {
                let leading = elector.tick().await;
                leader_metric.set(i64::from(leading));
                leader_tx.send_if_modified(|l| {
                    let changed = *l != leading;
                    *l = leading;
                    changed
                });
                tokio::select! {
                    _ = tokio::time::sleep(renew) => {}
                    _ = elector_stopped.wait_for(|s| *s) => break,
                }
            }
            elector.release().await;
            leader_tx.send_replace(false);
        });

        let mut ctl = Controller::new(client.clone(), cfg.clone(), metrics.clone());
        let result = main_loop(
            &mut ctl,
            &health,
            &refl,
            signals.changed(),
            leader,
            shutdown,
        )
        .await;
        if let Err(Error::FailPoint(_)) = &result {
            // A simulated crash: the Lease is not released.
            election.abort();
        } else {
            let _ = elector_stop.send(true);
            let _ = tokio::time::timeout(Duration::from_secs(5), election).await;
        }
        result
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn main_loop(
    ctl: &mut Controller,
    health: &Health,
    refl: &Reflectors,
    notify: &Notify,
    mut leader: watch::Receiver<bool>,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let mut shutdown = std::pin::pin!(shutdown);
    // Wait for every watch to list once: analysing a half-filled index would see missing
    // ConfigMaps and pods that are not there.
    loop {
        health.beat();
        if refl.is_ready() {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = &mut shutdown => return Ok(()),
        }
    }
    health
        .ready
        .store(true, std::sync::atomic::Ordering::Relaxed);
    tracing::info!("watches synced");
    let debounce = ctl.cfg.debounce;
    let mut waiting = true;
    let mut was_leader = false;
    loop {
        health.beat();
        let idle = if waiting && *leader.borrow() {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(15)
        };
        tokio::select! {
            _ = notify.notified() => {
                // Collect the rest of the burst.
                tokio::time::sleep(debounce).await;
            }
            _ = tokio::time::sleep(idle) => {}
            r = leader.changed() => {
                if r.is_err() {
                    return Ok(());
                }
            }
            _ = &mut shutdown => return Ok(()),
        }
        let leading = *leader.borrow();
        if !leading {
            if was_leader {
                tracing::info!("lost the leader Lease; standing by");
                ctl.step_down();
            }
            was_leader = false;
            continue;
        }
        if !was_leader {
            tracing::info!(identity = %ctl.cfg.identity, "leading: planning and acting");
        }
        was_leader = true;
        let began = Instant::now();
        let r = ctl.reconcile(refl).await;
        let secs = began.elapsed().as_secs_f64();
        match r {
            Ok(w) => {
                waiting = w;
                ctl.metrics.reconciled(secs, "ok");
            }
            Err(Error::FailPoint(p)) => return Err(Error::FailPoint(p)),
            Err(e) => {
                waiting = true;
                ctl.metrics.reconciled(secs, e.category());
                tracing::warn!(error = %kaptain_engine::healing::one_line(&e), category = e.category(), "reconcile failed");
            }
        }
    }
}
