//! `kaptain llm test`: checks the configured LLM — the server is reachable and takes the key,
//! a plain completion comes back, a trivial tool is called with valid arguments — one line
//! per check. Settings: flags over env vars over the config file's `llm:` section.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use kaptain_llm::LlmError;
use kaptain_llm::config::{ProviderKind, ProviderSettings, Task};

use crate::cli::{EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS};

#[derive(Args, Debug, Clone)]
pub struct LlmArgs {
    #[command(subcommand)]
    pub command: LlmCommand,
}

#[derive(Subcommand, Debug, Clone)]
pub enum LlmCommand {
    /// Check the LLM settings: reachable, a completion, a tool call.
    #[command(
        long_about = "Check the configured LLM: the server is reachable and takes the key, a plain \
            completion comes back, and a trivial tool (add) is called with arguments valid \
            against its schema. One line per check: ok, or the problem and what to do.\n\n\
            Settings come from the flags, then env vars (KAPTAIN_LLM_PROVIDER, KAPTAIN_LLM_MODEL, \
            KAPTAIN_LLM_BASE_URL, OLLAMA_HOST, OPENAI_API_KEY, ANTHROPIC_API_KEY, ...), then the \
            `llm:` section of the config file (--config, else $XDG_CONFIG_HOME/kaptain/config.yaml \
            or ~/.config/kaptain/config.yaml).\n\n\
            Exit codes: 0 every check passed, 1 a check failed, 2 bad configuration.",
        after_help = "Examples:\n  \
            kaptain llm test\n  \
            kaptain llm test --provider ollama --model qwen2.5:7b\n  \
            kaptain llm test --provider openai --base-url http://127.0.0.1:8080/v1 --model local\n  \
            kaptain llm test --task explain --json"
    )]
    Test(LlmTestArgs),
}

#[derive(Args, Debug, Clone)]
pub struct LlmTestArgs {
    /// openai (any OpenAI-compatible server), anthropic, ollama, embedded.
    #[arg(long, value_name = "NAME")]
    pub provider: Option<String>,
    /// The model name the provider knows.
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
    /// The API's base URL (e.g. http://127.0.0.1:8080/v1).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// The config file (default: $XDG_CONFIG_HOME/kaptain/config.yaml, ~/.config/kaptain/config.yaml).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// The task whose route to check: investigate or explain.
    #[arg(long, value_name = "TASK", default_value = "investigate")]
    pub task: String,
    /// Seconds each call may take.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: LlmArgs) -> u8 {
    match a.command {
        LlmCommand::Test(t) => test(&t),
    }
}

fn config_error(e: &str) -> u8 {
    eprintln!("error: {e}");
    EXIT_ERROR
}

fn test(a: &LlmTestArgs) -> u8 {
    let env = |k: &str| std::env::var(k).ok();
    let provider = match a.provider.as_deref().map(ProviderKind::parse).transpose() {
        Ok(p) => p,
        Err(e) => return config_error(&e.to_string()),
    };
    let task = match a.task.as_str() {
        "investigate" => Task::Investigate,
        "explain" => Task::Explain,
        other => {
            return config_error(&format!(
                "unknown task {other:?}: use investigate or explain"
            ));
        }
    };
    let flags = ProviderSettings {
        provider,
        model: a.model.clone(),
        base_url: a.base_url.clone(),
        timeout_secs: a.timeout,
        ..ProviderSettings::default()
    };
    let (settings, file) =
        match kaptain_llm::config_file::resolve(&flags, a.config.as_deref(), &env) {
            Ok(s) => s,
            Err(e) => return config_error(&e.to_string()),
        };
    // The task's route, with the flags over it too.
    let settings = settings.for_task(task).overlay(&flags);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return config_error(&format!("cannot start the async runtime: {e}")),
    };
    let report = match runtime.block_on(kaptain_llm::check::run(&settings, &env)) {
        Ok(r) => r,
        Err(LlmError::Config(e)) => {
            let from = file
                .map(|f| format!(" (settings from {})", f.display()))
                .unwrap_or_default();
            return config_error(&format!("{e}{from}"));
        }
        Err(e) => return config_error(&e.to_string()),
    };
    if a.json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => return config_error(&format!("encoding the report: {e}")),
        }
    } else {
        println!(
            "{} {}{}",
            report.provider,
            report.model,
            report
                .server
                .as_deref()
                .map(|s| format!(" at {s}"))
                .unwrap_or_default()
        );
        for c in &report.checks {
            let status = if c.ok { "ok  " } else { "FAIL" };
            let hint = c
                .hint
                .as_deref()
                .map(|h| format!(" — {h}"))
                .unwrap_or_default();
            println!("{status} {:<11} {}{hint}", c.name, c.detail);
        }
    }
    if report.ok { EXIT_CLEAN } else { EXIT_FINDINGS }
}
