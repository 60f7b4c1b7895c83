//! `kaptain mcp`: Kaptain's tools over MCP on stdio (crates/kaptain-mcp), answering from a
//! hub that watches the kubeconfig's contexts with the kubeconfig's own rights.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use kaptain_engine::live::{ClusterSource, ClusterStatus, LiveClusters, LiveConfig};
use kaptain_engine::tools::LiveHost;
use kaptain_engine::tools::{Caller, Role, ToolRegistry};
use kaptain_mcp::{Callers, KaptainMcp};

use crate::cli::EXIT_ERROR;

#[derive(Args, Debug, Clone)]
pub struct McpArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// A kubeconfig context to watch (repeat for several; default: the current context).
    #[arg(long = "context", value_name = "NAME")]
    pub contexts: Vec<String>,
    /// Watch every context of the kubeconfig.
    #[arg(long, conflicts_with = "contexts")]
    pub all_contexts: bool,
    /// Offer only the read-only tools (no propose_action).
    #[arg(long)]
    pub read_only: bool,
    /// Where the healing operator keeps its safety configuration.
    #[arg(long, value_name = "NS", default_value = "kaptain-system")]
    pub operator_namespace: String,
    /// How long to wait for the first analysis of each cluster before serving (seconds).
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub wait_ready: u64,
    /// Log filter for stderr (RUST_LOG overrides).
    #[arg(long, value_name = "FILTER", default_value = "warn")]
    pub log: String,
    /// Analyze this far ahead of now (tests: grace periods pass at once), e.g. 15m.
    #[arg(long, value_name = "DURATION", hide = true)]
    pub analyze_ahead: Option<jiff::SignedDuration>,
}

pub fn run(a: McpArgs) -> u8 {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&a.log))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    match runtime.block_on(serve(a)) {
        Ok(()) => 0,
        Err(e) => fail(&e),
    }
}

fn fail(message: &str) -> u8 {
    eprintln!("kaptain mcp: {message}");
    EXIT_ERROR
}

async fn serve(a: McpArgs) -> Result<(), String> {
    let sources = ClusterSource::select(a.kubeconfig.clone(), &a.contexts, a.all_contexts)
        .map_err(|e| e.to_string())?;
    let mut config = LiveConfig::default();
    if let Some(ahead) = a.analyze_ahead {
        config = config.with_clock_offset(ahead);
    }
    let hub = Arc::new(LiveClusters::new(config));
    let mut names = Vec::new();
    for s in sources {
        names.push(hub.add_cluster(s).map_err(|e| e.to_string())?);
    }
    // The current context (or the first named) is the default cluster.
    let current = ClusterSource::Kubeconfig {
        path: a.kubeconfig.clone(),
        context: a.contexts.first().cloned(),
    }
    .resolve_name()
    .ok()
    .filter(|n| names.contains(n))
    .or_else(|| names.first().cloned());
    wait_ready(&hub, &names, Duration::from_secs(a.wait_ready)).await;

    let role = if a.read_only {
        Role::Viewer
    } else {
        Role::Operator
    };
    let actor = format!(
        "kubeconfig:{}",
        current.clone().unwrap_or_else(|| "unknown".into())
    );
    let registry = if a.read_only {
        ToolRegistry::standard().read_only()
    } else {
        ToolRegistry::standard()
    };
    let host = LiveHost::new(hub.clone(), a.operator_namespace.clone()).with_default(current);
    let server = KaptainMcp::new(
        registry,
        Arc::new(host),
        Callers::Fixed(Caller::unrestricted(actor, role)),
    );
    tracing::info!(clusters = ?names, read_only = a.read_only, "serving MCP on stdio");
    kaptain_mcp::serve_stdio(server)
        .await
        .map_err(|e| format!("MCP over stdio: {e}"))
}

/// Waits until every cluster has a first report or is unreachable, at most `max`.
async fn wait_ready(hub: &LiveClusters, names: &[String], max: Duration) {
    let deadline = tokio::time::Instant::now() + max;
    loop {
        let pending: Vec<&String> = names
            .iter()
            .filter(|n| {
                hub.report(n).is_none()
                    && !matches!(
                        hub.cluster(n).map(|c| c.info.status),
                        Some(ClusterStatus::Unreachable { .. })
                    )
            })
            .collect();
        if pending.is_empty() || tokio::time::Instant::now() >= deadline {
            if !pending.is_empty() {
                tracing::warn!(
                    ?pending,
                    "serving before the first analysis of these clusters"
                );
            }
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
