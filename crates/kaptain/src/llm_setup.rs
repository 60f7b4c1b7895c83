//! The LLM the CLI uses for a task: settings (the config file's `llm:` section, then env
//! vars), the provider they build, every call recorded as a `tracing` info event, and the
//! privacy (names, Secret values) for what is sent.

use std::path::PathBuf;
use std::sync::Arc;

use kaptain_llm::config::{LlmSettings, ProviderSettings, Task};
use kaptain_llm::{Anonymizer, CallObserver, CallRecord, NamedObject, Observed, Privacy, Provider};

/// The config file: `$KAPTAIN_CONFIG`, else `${XDG_CONFIG_HOME:-~/.config}/kaptain/config.yaml`.
fn config_path() -> Option<PathBuf> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    if let Some(p) = env("KAPTAIN_CONFIG") {
        return Some(PathBuf::from(p));
    }
    let base = env("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("kaptain").join("config.yaml"))
}

/// The LLM settings: the config file's `llm:` section (when the file exists), with the
/// environment's `KAPTAIN_LLM_*` over its defaults.
pub fn settings() -> Result<LlmSettings, String> {
    let mut s = LlmSettings::default();
    if let Some(path) = config_path()
        && path.is_file()
    {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let doc: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if let Some(llm) = doc.get("llm") {
            s = serde_yaml_ng::from_value(llm.clone())
                .map_err(|e| format!("{}: llm: {e}", path.display()))?;
        }
    }
    let env = ProviderSettings::from_env(&|k| std::env::var(k).ok()).map_err(|e| e.to_string())?;
    s.default = s.default.overlay(&env);
    Ok(s)
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

/// What is done to everything sent: Secret values and credentials removed always; names
/// replaced when the settings ask for it (by default for cloud providers).
pub fn privacy(s: &ProviderSettings, names: Vec<NamedObject>, secrets: Vec<String>) -> Privacy {
    let p = Privacy::new().with_secrets(secrets);
    if kaptain_llm::anonymize::wanted(s) {
        p.with_anonymizer(Anonymizer::new(names))
    } else {
        p
    }
}

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
