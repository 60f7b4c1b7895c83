//! LLM settings: which provider and model, per task, from a config file's `llm:` section and
//! environment variables; [`build`] makes the provider.
//!
//! Precedence (highest first): command-line flags (the face sets them on the settings), env
//! vars, the config file (`~/.config/kaptain/config.yaml` or `--config`), defaults. On
//! `kaptain serve` the same settings live in the store's encrypted settings.
//!
//! ```yaml
//! llm:
//!   provider: openai          # openai | anthropic | ollama | embedded | none
//!   model: gpt-4o-mini
//!   base_url: https://my-gateway.example/v1   # any OpenAI-compatible server
//!   api_key_env: OPENAI_API_KEY               # where the key is read from (never stored here)
//!   routes:                   # per-task routing: small/local for routine explanation
//!     explain: { provider: embedded, model_file: ~/models/SmolLM2-135M-Instruct.Q4_1.gguf }
//!     investigate: { provider: anthropic, model: claude-sonnet-4-5 }
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::shim::{PromptShim, ToolMode};
use crate::{LlmError, Provider};

/// Which API speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Any OpenAI-compatible chat completions API (OpenAI, Azure OpenAI, vLLM, llama.cpp's
    /// server, LiteLLM), at `base_url`.
    #[serde(alias = "openai-compatible")]
    OpenAi,
    /// Anthropic's Messages API.
    Anthropic,
    /// Ollama's OpenAI-compatible API at `OLLAMA_HOST` (default `http://127.0.0.1:11434`).
    Ollama,
    /// A GGUF model file run in-process on the CPU.
    Embedded,
    /// No LLM: the deterministic answers only.
    None,
}

impl ProviderKind {
    pub fn parse(s: &str) -> Result<ProviderKind, LlmError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "openai" | "openai-compatible" | "vllm" | "llamacpp" | "llama.cpp" | "litellm" => {
                Ok(ProviderKind::OpenAi)
            }
            "anthropic" | "claude" => Ok(ProviderKind::Anthropic),
            "ollama" => Ok(ProviderKind::Ollama),
            "embedded" | "gguf" | "local" => Ok(ProviderKind::Embedded),
            "none" | "off" | "" => Ok(ProviderKind::None),
            other => Err(LlmError::Config(format!(
                "unknown LLM provider {other:?}: use openai, anthropic, ollama, embedded or none"
            ))),
        }
    }
}

/// What an LLM is used for; each may be routed to its own model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// A short explanation per root cause (`diagnose --explain`).
    Explain,
    /// The tool-calling investigator (`ask`, `chat`).
    Investigate,
}

/// One provider's settings. Every field is optional so that a route can override a few.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The env var holding the API key (defaults: `OPENAI_API_KEY`, `ANTHROPIC_API_KEY`).
    /// Keys are read from the environment (or the server's encrypted settings), never from
    /// this file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// The embedded provider's GGUF file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Seconds one call may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// How tools reach the model: `auto` (native where the provider has them), `native`, or
    /// `prompt` (described in the system prompt, parsed strictly, one repair round) for
    /// servers and models whose native tool calls do not work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_mode: Option<ToolMode>,
    /// Replace object names by placeholders before anything is sent (default: on for cloud
    /// providers, off for local ones; see `anonymize::wanted`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anonymize: Option<bool>,
    /// The API key itself, when a face was given one (the server's encrypted settings). Never
    /// serialized.
    #[serde(skip)]
    pub api_key: Option<String>,
}

impl ProviderSettings {
    /// `self` with every field `over` sets replaced.
    pub fn overlay(&self, over: &ProviderSettings) -> ProviderSettings {
        ProviderSettings {
            provider: over.provider.or(self.provider),
            model: over.model.clone().or_else(|| self.model.clone()),
            base_url: over.base_url.clone().or_else(|| self.base_url.clone()),
            api_key_env: over
                .api_key_env
                .clone()
                .or_else(|| self.api_key_env.clone()),
            model_file: over.model_file.clone().or_else(|| self.model_file.clone()),
            temperature: over.temperature.or(self.temperature),
            max_tokens: over.max_tokens.or(self.max_tokens),
            timeout_secs: over.timeout_secs.or(self.timeout_secs),
            tool_mode: over.tool_mode.or(self.tool_mode),
            anonymize: over.anonymize.or(self.anonymize),
            api_key: over.api_key.clone().or_else(|| self.api_key.clone()),
        }
    }

    /// The settings env vars give: `KAPTAIN_LLM_PROVIDER`, `KAPTAIN_LLM_MODEL`,
    /// `KAPTAIN_LLM_BASE_URL`, `KAPTAIN_LLM_MODEL_FILE`; `OLLAMA_HOST` and `OPENAI_BASE_URL`
    /// give the base URL of their provider. `env` reads one variable.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<ProviderSettings, LlmError> {
        let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        let provider = get("KAPTAIN_LLM_PROVIDER")
            .map(|p| ProviderKind::parse(&p))
            .transpose()?;
        let base_url = get("KAPTAIN_LLM_BASE_URL").or_else(|| match provider {
            Some(ProviderKind::Ollama) => get("OLLAMA_HOST"),
            Some(ProviderKind::OpenAi) => get("OPENAI_BASE_URL"),
            _ => None,
        });
        Ok(ProviderSettings {
            provider,
            model: get("KAPTAIN_LLM_MODEL"),
            base_url,
            model_file: get("KAPTAIN_LLM_MODEL_FILE").map(PathBuf::from),
            ..ProviderSettings::default()
        })
    }
}

/// The `llm:` section of the config file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmSettings {
    #[serde(flatten)]
    pub default: ProviderSettings,
    /// Per-task overrides.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub routes: BTreeMap<Task, ProviderSettings>,
}

impl LlmSettings {
    /// The settings for `task`: the route's fields over the defaults.
    pub fn for_task(&self, task: Task) -> ProviderSettings {
        match self.routes.get(&task) {
            Some(r) => self.default.overlay(r),
            None => self.default.clone(),
        }
    }

    /// Whether any task has a provider other than `none`.
    pub fn enabled(&self) -> bool {
        let on = |s: &ProviderSettings| s.provider.is_some_and(|p| p != ProviderKind::None);
        on(&self.default) || self.routes.values().any(|r| on(&self.default.overlay(r)))
    }
}

/// Makes the provider `settings` describe; `Ok(None)` for `none` or no provider at all.
/// API keys are read from the environment variable `api_key_env` names (see
/// [`build_with_env`]).
pub fn build(settings: &ProviderSettings) -> Result<Option<Arc<dyn Provider>>, LlmError> {
    build_with_env(settings, &|k| std::env::var(k).ok())
}

/// [`build`] with the environment read through `env`.
pub fn build_with_env(
    settings: &ProviderSettings,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Arc<dyn Provider>>, LlmError> {
    let provider: Arc<dyn Provider> = match settings.provider {
        None | Some(ProviderKind::None) => return Ok(None),
        Some(kind @ (ProviderKind::OpenAi | ProviderKind::Ollama)) => {
            Arc::new(crate::openai::from_settings(kind, settings, env)?)
        }
        Some(ProviderKind::Anthropic) => Arc::new(crate::anthropic::from_settings(settings, env)?),
        Some(ProviderKind::Embedded) => match build_embedded(settings)? {
            Some(p) => p,
            None => return Ok(None),
        },
    };
    Ok(Some(PromptShim::wrap(
        provider,
        settings.tool_mode.unwrap_or_default(),
    )))
}

#[cfg(feature = "embedded")]
fn build_embedded(settings: &ProviderSettings) -> Result<Option<Arc<dyn Provider>>, LlmError> {
    let Some(file) = settings.model_file.as_deref() else {
        return Err(LlmError::Config(
            "the embedded provider needs a GGUF model file: set model_file in the llm: section or KAPTAIN_LLM_MODEL_FILE"
                .into(),
        ));
    };
    let file = crate::embedded::expand_home(file);
    let opts = crate::embedded::EmbeddedOptions {
        temperature: settings.temperature,
        max_tokens: settings.max_tokens,
        ..crate::embedded::EmbeddedOptions::default()
    };
    Ok(Some(crate::embedded::shared(&file, opts)?))
}

#[cfg(not(feature = "embedded"))]
fn build_embedded(_: &ProviderSettings) -> Result<Option<Arc<dyn Provider>>, LlmError> {
    Err(LlmError::Config(
        "this kaptain was built without the embedded runtime (cargo feature `embedded`)".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_override_the_defaults_field_by_field() {
        let s: LlmSettings = serde_yaml_ng::from_str(
            "provider: openai\nmodel: big\nroutes:\n  explain: { provider: embedded, model_file: /m.gguf }\n",
        )
        .expect("parses");
        let e = s.for_task(Task::Explain);
        assert_eq!(e.provider, Some(ProviderKind::Embedded));
        assert_eq!(e.model.as_deref(), Some("big"));
        let i = s.for_task(Task::Investigate);
        assert_eq!(i.provider, Some(ProviderKind::OpenAi));
        assert!(i.model_file.is_none());
        assert!(s.enabled());
    }

    #[test]
    fn unknown_fields_and_providers_are_named() {
        let e = serde_yaml_ng::from_str::<LlmSettings>("provder: openai\n").expect_err("rejected");
        assert!(e.to_string().contains("provder"), "{e}");
        let e = ProviderKind::parse("gpt").expect_err("rejected");
        assert!(e.to_string().contains("\"gpt\""), "{e}");
    }

    #[test]
    fn env_gives_the_provider_and_its_base_url() {
        let env = |k: &str| match k {
            "KAPTAIN_LLM_PROVIDER" => Some("ollama".to_string()),
            "OLLAMA_HOST" => Some("http://10.0.0.1:11434".to_string()),
            _ => None,
        };
        let s = ProviderSettings::from_env(&env).expect("valid");
        assert_eq!(s.provider, Some(ProviderKind::Ollama));
        assert_eq!(s.base_url.as_deref(), Some("http://10.0.0.1:11434"));
    }
}
