//! `kaptain serve`: open the store, start watching the clusters, serve HTTP until Ctrl-C or
//! SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use kaptain_store::{Store, StoreOptions};

use crate::api::AppState;
use crate::auth::{Auth, Oidc, OidcConfig};
use crate::history::HistoryRecorder;
use crate::metrics::Metrics;
use crate::tasks::Tasks;
use kaptain_engine::live::{ClusterSource, LiveClusters, LiveConfig};

/// Everything `kaptain serve` is told.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    pub clusters: Vec<ClusterSource>,
    pub database_url: String,
    /// The key file for secret settings (created 0600 when missing), unless
    /// `KAPTAIN_SECRET_KEY` is set.
    pub secret_key_file: PathBuf,
    pub no_auth: bool,
    pub oidc: Option<OidcConfig>,
    pub operator_namespace: String,
    pub workers: usize,
    /// Serve HTTPS with this certificate chain and key (PEM files).
    pub tls: Option<crate::listen::TlsFiles>,
    /// Failed authentications a client address may have before it gets 429.
    pub auth_throttle: crate::auth::throttle::ThrottleLimit,
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("--no-auth is only allowed on a loopback address, not {0}")]
    NoAuthNotLoopback(SocketAddr),
    #[error("{0}")]
    Store(#[from] kaptain_store::Error),
    #[error("OIDC: {0}")]
    Oidc(#[from] crate::auth::OidcError),
    #[error("cluster: {0}")]
    LiveClusters(#[from] kaptain_engine::live::LiveError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("--tls-cert/--tls-key: {0}")]
    Tls(String),
    #[error("serving HTTP: {0}")]
    Serve(std::io::Error),
}

/// The parts of a running server, for tests and for `serve`.
pub struct Server {
    pub state: AppState,
    pub router: axum::Router,
}

impl Server {
    /// Opens the store, starts the hub on `opts.clusters` (recording every analysis in the
    /// findings history while this replica holds the cluster's claim, see
    /// [`crate::history`]) and builds the application.
    pub async fn build(opts: &ServeOptions, hub_config: LiveConfig) -> Result<Server, ServeError> {
        if opts.no_auth && !opts.listen.ip().is_loopback() {
            return Err(ServeError::NoAuthNotLoopback(opts.listen));
        }
        let key = match kaptain_store::SecretKey::from_env()? {
            Some(k) => k,
            None => kaptain_store::load_or_create_key(&opts.secret_key_file)?,
        };
        let store = Store::open_with(StoreOptions {
            secret_key: Some(key),
            ..StoreOptions::new(opts.database_url.clone())
        })
        .await?;
        let metrics = Metrics::new();
        let history = Arc::new(HistoryRecorder::new(
            store.clone(),
            &hub_config,
            metrics.clone(),
        )?);
        let sink: Arc<dyn kaptain_engine::live::ReportSink> = history.clone();
        let hub = Arc::new(LiveClusters::with_sink(hub_config, Some(sink)));
        for c in &opts.clusters {
            hub.add_cluster(c.clone())?;
        }
        let auth = if opts.no_auth {
            Auth::disabled(store.clone())
        } else {
            let oidc = match &opts.oidc {
                Some(c) => Some(Arc::new(Oidc::new(c.clone()).await?)),
                None => None,
            };
            Auth::new(store.clone(), oidc).with_throttle(
                crate::auth::throttle::Throttle::with_limit(opts.auth_throttle),
            )
        };
        let events = crate::feed::channel(&hub, 1024);
        let state = AppState {
            hub,
            store,
            history,
            auth,
            metrics,
            tasks: Tasks::new(opts.workers),
            events,
            operator_namespace: opts.operator_namespace.clone(),
            hardening: crate::harden::Hardening {
                no_auth: opts.no_auth,
                tls: opts.tls.is_some(),
                ..Default::default()
            },
        };
        let router = crate::app::router(state.clone());
        Ok(Server { state, router })
    }
}

/// Runs the server until Ctrl-C or SIGTERM.
pub async fn serve(opts: ServeOptions) -> Result<(), ServeError> {
    let tls = match &opts.tls {
        Some(files) => Some(files.server_config().map_err(ServeError::Tls)?),
        None => None,
    };
    let server = Server::build(&opts, LiveConfig::default()).await?;
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: opts.listen,
            source,
        })?;
    let addr = listener.local_addr().unwrap_or(opts.listen);
    let scheme = if tls.is_some() { "https" } else { "http" };
    if opts.no_auth {
        tracing::warn!("--no-auth: every request is served as admin (loopback only)");
    }
    tracing::info!(
        %addr,
        store = server.state.store.backend(),
        clusters = opts.clusters.len(),
        "serving: console {scheme}://{addr}/console, API {scheme}://{addr}/api/v1 (docs /api/v1/docs)"
    );
    let listen = crate::listen::Listen {
        tls,
        header_read_timeout: crate::harden::HEADER_READ_TIMEOUT,
    };
    let served = crate::listen::serve(listener, server.router, listen, shutdown())
        .await
        .map_err(ServeError::Serve);
    // Another replica takes over recording at once instead of after the claim expires.
    server.state.history.release().await;
    served
}

async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    tracing::info!("shutting down");
}
