//! Every LLM call, seen: [`Observed`] wraps a provider and hands a [`CallRecord`] (provider,
//! model, tokens in/out, tools the model called, duration, error) to a [`CallObserver`] after
//! each call. The faces record them: the CLI as a `tracing` event, the server in its audit log
//! and `/metrics`.

use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::{Capabilities, ChatRequest, ChatResponse, LlmError, Provider};

/// One model call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    pub provider: String,
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// The tools the model called in this reply.
    pub tools: Vec<String>,
    pub duration_ms: u64,
    /// Why it failed (one line), when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Receives a record of every call.
pub trait CallObserver: Send + Sync {
    fn record(&self, call: &CallRecord);
}

/// A provider whose every call is observed.
pub struct Observed {
    inner: Arc<dyn Provider>,
    observer: Arc<dyn CallObserver>,
}

impl Observed {
    pub fn new(inner: Arc<dyn Provider>, observer: Arc<dyn CallObserver>) -> Observed {
        Observed { inner, observer }
    }

    /// `inner` wrapped, as a provider.
    pub fn wrap(inner: Arc<dyn Provider>, observer: Arc<dyn CallObserver>) -> Arc<dyn Provider> {
        Arc::new(Observed::new(inner, observer))
    }

    fn record(&self, t0: Instant, r: &Result<ChatResponse, LlmError>) {
        let duration_ms = u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX);
        let rec = match r {
            Ok(resp) => CallRecord {
                provider: self.inner.name().to_string(),
                model: if resp.model.is_empty() {
                    self.inner.model().to_string()
                } else {
                    resp.model.clone()
                },
                input_tokens: resp.usage.input_tokens,
                output_tokens: resp.usage.output_tokens,
                tools: resp
                    .message
                    .tool_calls
                    .iter()
                    .map(|c| c.name.clone())
                    .collect(),
                duration_ms,
                error: None,
            },
            Err(e) => CallRecord {
                provider: self.inner.name().to_string(),
                model: self.inner.model().to_string(),
                input_tokens: 0,
                output_tokens: 0,
                tools: Vec::new(),
                duration_ms,
                error: Some(kaptain_model::scrub_text(&e.to_string())),
            },
        };
        self.observer.record(&rec);
    }
}

#[async_trait::async_trait]
impl Provider for Observed {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn model(&self) -> &str {
        self.inner.model()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let t0 = Instant::now();
        let r = self.inner.chat(req).await;
        self.record(t0, &r);
        r
    }
    async fn chat_stream(
        &self,
        req: &ChatRequest,
        on_text: &mut (dyn for<'t> FnMut(&'t str) + Send),
    ) -> Result<ChatResponse, LlmError> {
        let t0 = Instant::now();
        let r = self.inner.chat_stream(req, on_text).await;
        self.record(t0, &r);
        r
    }
}
