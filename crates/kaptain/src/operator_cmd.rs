//! `kaptain operator`: runs the healing operator until SIGINT or SIGTERM.

use kaptain_operator::{Operator, OperatorConfig};
use kaptain_sources::live::{self, ClusterSource, Timeouts};

use crate::cli::{EXIT_CLEAN, EXIT_ERROR, LogFormat, OperatorArgs};

/// Logs to stderr: text (colored on a terminal), or one JSON object per line with the
/// event's fields at the top level next to timestamp, level and message (the module path is
/// left out: the operator's `target` is the changed object's field). `filter` is the
/// `--log` filter, `RUST_LOG` wins.
pub fn init_logs(filter: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(filter))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .with_target(false)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
}

pub fn run(a: OperatorArgs) -> u8 {
    init_logs(&a.log, a.log_format);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kaptain: error: cannot start the async runtime: {e}");
            return EXIT_ERROR;
        }
    };
    match rt.block_on(run_inner(a)) {
        Ok(()) => EXIT_CLEAN,
        Err(e) => {
            eprintln!("kaptain: error: {e}");
            EXIT_ERROR
        }
    }
}

async fn run_inner(a: OperatorArgs) -> Result<(), String> {
    let safety = match &a.config {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            Some(
                kaptain_engine::healing::parse_safety(&text)
                    .map_err(|e| format!("{}: {e}", path.display()))?,
            )
        }
        None => None,
    };
    let source = ClusterSource::kubeconfig(a.kubeconfig.clone(), a.context.clone());
    let cluster = live::connect(&source, Timeouts::REQUESTS)
        .await
        .map_err(|e| e.to_string())?;
    let mut cfg = OperatorConfig::new(&a.namespace);
    cfg.watch_namespaces = a.watch_namespaces.clone();
    cfg.metrics_addr = Some(a.metrics_addr);
    cfg.read_secrets = a.read_secrets;
    cfg.safety_override = safety;
    if let Some(id) = &a.identity {
        cfg.identity = id.clone();
    }
    Operator::new(cluster.client, cfg)
        .run(shutdown_signal())
        .await
        .map_err(|e| kaptain_engine::healing::one_line(&e))
}

/// Completes on SIGINT or SIGTERM (what Kubernetes sends before killing a pod).
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
    tracing::info!("shutting down: releasing the leader Lease");
}
