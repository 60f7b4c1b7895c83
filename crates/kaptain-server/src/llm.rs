//! The LLM on the server: settings from the store's settings (setting `llm`, the `llm:`
//! section of the config file as YAML or JSON; `llm.api_key`, encrypted, the API key), the
//! investigator behind `/api/v1/ask`, and every call counted in `/metrics` and recorded in the
//! audit log with the asker as actor.

use std::sync::{Arc, Mutex};

use kaptain_engine::tools::{EngineToolBox, LiveHost, investigation_inputs};
use kaptain_llm::config::{LlmSettings, ProviderSettings, Task};
use kaptain_llm::{
    CallObserver, CallRecord, Investigator, Limits, Observed, Privacy, Provider, Transcript,
};
use kaptain_store::{NewAudit, Store};
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::AppState;
use crate::auth::Principal;
use crate::metrics::Metrics;

/// The setting holding the `llm:` section (YAML or JSON).
pub const SETTING: &str = "llm";
/// The (secret) setting holding the API key.
pub const KEY_SETTING: &str = "llm.api_key";

/// The LLM settings in the store; `None` when none are set.
pub async fn settings(store: &Store) -> Result<Option<LlmSettings>, String> {
    let Some(text) = store.setting(SETTING).await.map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let mut s = kaptain_llm::config_file::parse_section(&text)
        .map_err(|e| format!("setting {SETTING}: {e}"))?;
    if let Some(key) = store
        .setting(KEY_SETTING)
        .await
        .map_err(|e| e.to_string())?
    {
        s.default.api_key = Some(key);
    }
    Ok(Some(s))
}

/// A provider and the settings it was built from.
pub type Llm = (Arc<dyn Provider>, ProviderSettings);

/// The provider for `task`, when the store configures one.
pub async fn provider_for(store: &Store, task: Task) -> Result<Option<Llm>, String> {
    let Some(all) = settings(store).await? else {
        return Ok(None);
    };
    if !all.enabled() {
        return Ok(None);
    }
    let s = all.for_task(task);
    Ok(kaptain_llm::config::build(&s)
        .map_err(|e| e.to_string())?
        .map(|p| (p, s)))
}

/// Counts every call in `/metrics` and keeps it for the audit record.
pub struct Recorder {
    metrics: Metrics,
    calls: Mutex<Vec<CallRecord>>,
}

impl Recorder {
    pub fn new(metrics: Metrics) -> Recorder {
        Recorder {
            metrics,
            calls: Mutex::new(Vec::new()),
        }
    }

    /// The calls recorded so far (and forgets them).
    pub fn take(&self) -> Vec<CallRecord> {
        self.calls
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
    }
}

impl CallObserver for Recorder {
    fn record(&self, c: &CallRecord) {
        self.metrics.record_llm_call(c);
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(c.clone());
        }
    }
}

/// The audit record of an investigation: provider, model, tokens in/out, tools called,
/// duration, the calls that failed; the question is not kept (it may name things).
pub fn audit_entry(
    actor: &str,
    cluster: &str,
    calls: &[CallRecord],
    transcript: Option<&Transcript>,
) -> NewAudit {
    let input: u64 = calls.iter().map(|c| c.input_tokens).sum();
    let output: u64 = calls.iter().map(|c| c.output_tokens).sum();
    let errors: Vec<&str> = calls.iter().filter_map(|c| c.error.as_deref()).collect();
    let first = calls.first();
    let tools: Vec<String> = transcript
        .map(|t| t.tools_called().iter().map(|r| r.tool.clone()).collect())
        .unwrap_or_default();
    let duration: u64 = calls.iter().map(|c| c.duration_ms).sum();
    NewAudit {
        actor: actor.to_owned(),
        action: "llm.investigate".to_owned(),
        target: format!("cluster/{cluster}"),
        cluster: Some(cluster.to_owned()),
        details: serde_json::json!({
            "provider": first.map(|c| c.provider.clone()),
            "model": first.map(|c| c.model.clone()),
            "calls": calls.len(),
            "input_tokens": input,
            "output_tokens": output,
            "tools": tools,
            "duration_ms": duration,
            "stop": transcript.map(|t| t.stop.as_str()),
            "errors": errors,
        }),
        outcome: if errors.is_empty() && transcript.is_some() {
            "success".to_owned()
        } else {
            "failure".to_owned()
        },
    }
}

/// What the investigator answered about one cluster.
#[derive(Debug, Serialize, ToSchema)]
pub struct Investigation {
    pub cluster: String,
    /// The model's answer (names restored); empty when it gave none or failed.
    pub answer: String,
    /// Why the investigator could not answer, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The whole transcript: steps, tools called with their arguments, result sizes and
    /// durations, token use, stop reason (`answered`, `step-limit`, `budget`,
    /// `invalid-calls`), the fingerprints cited and what was not checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub transcript: Option<Transcript>,
}

/// Investigates `question` on `cluster` for `principal` with `provider`: the engine's tools
/// over the hub with the principal's role and scopes (a viewer only looks; an operator may
/// propose actions the guard decides), the cluster's root causes first. Audited.
pub async fn investigate(
    state: &AppState,
    principal: &Principal,
    cluster: &str,
    question: &str,
    provider: Arc<dyn Provider>,
    settings: &ProviderSettings,
) -> Investigation {
    let caller = crate::mcp::caller_of(principal);
    let host = Arc::new(LiveHost::new(
        state.hub.clone(),
        state.operator_namespace.clone(),
    ));
    let inputs = investigation_inputs(host.as_ref(), &caller, Some(cluster));
    let privacy = Privacy::for_settings(settings, inputs.names, inputs.secrets);
    let recorder = Arc::new(Recorder::new(state.metrics.clone()));
    let observed = Observed::wrap(provider, recorder.clone());
    let tools = Arc::new(EngineToolBox::new(host, caller));
    let result = Investigator::new(observed, tools)
        .with_privacy(privacy)
        .with_limits(Limits::for_settings(settings))
        .ask(question, &inputs.hypotheses)
        .await;
    let calls = recorder.take();
    let entry = audit_entry(&principal.actor, cluster, &calls, result.as_ref().ok());
    if let Err(e) = state.store.append_audit(entry).await {
        tracing::error!("the audit record of an LLM investigation could not be written: {e}");
    }
    match result {
        Ok(t) => Investigation {
            cluster: cluster.to_owned(),
            answer: t.answer.clone(),
            error: None,
            transcript: Some(t),
        },
        Err(e) => Investigation {
            cluster: cluster.to_owned(),
            answer: String::new(),
            error: Some(kaptain_engine::tools::scrub_text(&e.to_string())),
            transcript: None,
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn call(provider: &str, i: u64, o: u64, err: Option<&str>) -> CallRecord {
        CallRecord {
            provider: provider.into(),
            model: "m1".into(),
            input_tokens: i,
            output_tokens: o,
            tools: vec!["why".into()],
            duration_ms: 5,
            error: err.map(str::to_string),
        }
    }

    #[test]
    fn calls_are_counted_by_provider_and_model() {
        let m = Metrics::new();
        let r = Recorder::new(m.clone());
        r.record(&call("openai", 100, 20, None));
        r.record(&call("openai", 50, 5, Some("openai answered 500: boom")));
        let text = m.encode();
        for want in [
            "kaptain_server_llm_calls_total{provider=\"openai\",model=\"m1\"} 2",
            "kaptain_server_llm_input_tokens_total{provider=\"openai\",model=\"m1\"} 150",
            "kaptain_server_llm_output_tokens_total{provider=\"openai\",model=\"m1\"} 25",
            "kaptain_server_llm_errors_total{provider=\"openai\",model=\"m1\"} 1",
        ] {
            assert!(text.contains(want), "{want} missing from\n{text}");
        }
        let calls = r.take();
        assert_eq!(calls.len(), 2);
        let e = audit_entry("token:ci", "prod", &calls, None);
        assert_eq!(e.actor, "token:ci");
        assert_eq!(e.action, "llm.investigate");
        assert_eq!(e.outcome, "failure");
        assert_eq!(e.details["input_tokens"], 150);
        assert_eq!(e.details["output_tokens"], 25);
        assert_eq!(e.details["provider"], "openai");
        assert!(r.take().is_empty());
    }
}
