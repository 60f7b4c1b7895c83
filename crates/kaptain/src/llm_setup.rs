//! The LLM the CLI uses for a task: settings (the config file's `llm:` section, then env
//! vars), the provider they build, every call recorded as a `tracing` info event, and the
//! privacy (names, Secret values) for what is sent.

use std::path::PathBuf;
use std::sync::Arc;

use kaptain_llm::config::{LlmSettings, ProviderSettings, Task};
use kaptain_llm::{CallObserver, CallRecord, Observed, Provider};

/// The LLM settings: the config file's `llm:` section (`$KAPTAIN_CONFIG`, else the default
/// file when it exists), with the environment's `KAPTAIN_LLM_*` over its defaults — the same
/// loader as `kaptain llm test` ([`kaptain_llm::config_file::resolve`]).
pub fn settings() -> Result<LlmSettings, String> {
    let env = |k: &str| std::env::var(k).ok();
    let path = env("KAPTAIN_CONFIG")
        .filter(|p| !p.trim().is_empty())
        .map(PathBuf::from);
    kaptain_llm::config_file::resolve(&ProviderSettings::default(), path.as_deref(), &env)
        .map(|(s, _)| s)
        .map_err(|e| e.to_string())
}

/// A provider and the settings it was built from.
pub type Llm = (Arc<dyn Provider>, ProviderSettings);

/// The provider for `task`, its settings, or `None` when no LLM is configured for it. Every
/// call it makes is recorded as a `tracing` info event with `actor`.
pub fn provider_for(task: Task, actor: &str) -> Result<Option<Llm>, String> {
    let all = settings()?;
    let s = all.for_task(task);
    let Some(p) = kaptain_llm::config::build(&s).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let observer = Arc::new(TraceCalls {
        actor: actor.to_string(),
        task,
    });
    Ok(Some((Observed::wrap(p, observer), s)))
}

/// Who asks, for the audit events: `cli:$USER`.
pub fn actor() -> String {
    format!(
        "cli:{}",
        std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "unknown".into())
    )
}

/// The one line printed when a command needs an LLM and none is configured.
pub const NOT_CONFIGURED: &str = "no LLM is configured: set `llm.provider` in ~/.config/kaptain/config.yaml or KAPTAIN_LLM_PROVIDER (see `kaptain llm test`)";

/// Records each LLM call as a `tracing` event (target `kaptain::llm`).
struct TraceCalls {
    actor: String,
    task: Task,
}

impl CallObserver for TraceCalls {
    fn record(&self, c: &CallRecord) {
        let task = match self.task {
            Task::Explain => "explain",
            Task::Investigate => "investigate",
        };
        match &c.error {
            None => tracing::info!(
                target: "kaptain::llm",
                actor = %self.actor,
                task,
                provider = %c.provider,
                model = %c.model,
                input_tokens = c.input_tokens,
                output_tokens = c.output_tokens,
                tools = %c.tools.join(","),
                duration_ms = c.duration_ms,
                "llm call"
            ),
            Some(e) => tracing::warn!(
                target: "kaptain::llm",
                actor = %self.actor,
                task,
                provider = %c.provider,
                model = %c.model,
                duration_ms = c.duration_ms,
                error = %e,
                "llm call failed"
            ),
        }
    }
}

/// Shows the LLM audit events on stderr when `KAPTAIN_LOG` or `RUST_LOG` asks (e.g.
/// `KAPTAIN_LOG=kaptain::llm=info`); quiet otherwise.
pub fn init_tracing() {
    let filter = std::env::var("KAPTAIN_LOG")
        .ok()
        .and_then(|f| tracing_subscriber::EnvFilter::try_new(f).ok())
        .or_else(|| tracing_subscriber::EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
