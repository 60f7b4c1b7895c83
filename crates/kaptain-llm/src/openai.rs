//! The OpenAI-compatible chat completions provider: one provider for OpenAI, Azure OpenAI,
//! Ollama, vLLM, llama.cpp's server and LiteLLM, at a configurable base URL.
//!
//! Requests are written and answers read with serde over `reqwest` rather than through a
//! typed client crate: the servers of the field answer with an empty `finish_reason`, with
//! `arguments` as an object instead of a string, with tool calls written into `content`, or
//! with a partial `usage` — a typed response struct rejects exactly the answers this provider
//! must read. Answers are read leniently ([`crate::textcalls`], [`crate::openai_stream`]).
//!
//! Optional request fields a server rejects are dropped in one retry: `stream_options`
//! (older servers), and `response_format: json_schema`, which falls back to `json_object`
//! plus the schema in the system prompt; the answer is validated against the schema either way.

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::http::{self, DEFAULT_TIMEOUT};
use crate::openai_stream::{StreamAssembler, TextGate, usage_of};
use crate::shim::with_system_note;
use crate::textcalls::{extract_tool_calls, new_call_id, normalize_arguments};
use crate::{
    Capabilities, ChatRequest, ChatResponse, FinishReason, LlmError, Message, Provider, Role,
    ToolChoice, Usage,
};

/// OpenAI's API.
pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
/// Ollama's OpenAI-compatible API on this machine.
pub const OLLAMA_BASE_URL: &str = "http://127.0.0.1:11434/v1";

/// What an [`OpenAiCompat`] is made from.
#[derive(Clone, Default)]
pub struct OpenAiConfig {
    /// The provider's name in messages and audits (`openai`, `ollama`).
    pub name: String,
    pub model: String,
    /// E.g. `https://api.openai.com/v1`; `/chat/completions` is appended.
    pub base_url: String,
    /// Sent as `Authorization: Bearer` (Azure: `api-key`); none for local servers.
    pub api_key: Option<String>,
    pub timeout: Option<Duration>,
    /// Defaults for requests that set none.
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
}

/// An OpenAI-compatible chat completions API.
pub struct OpenAiCompat {
    name: String,
    model: String,
    base: String,
    api_key: Option<String>,
    azure: bool,
    /// api.openai.com wants `max_completion_tokens`; the other servers know `max_tokens`.
    max_tokens_field: &'static str,
    temperature: Option<f32>,
    max_tokens: Option<u32>,
    timeout: Duration,
    client: reqwest::Client,
}

/// Optional request parts dropped after a server rejected them.
#[derive(Debug, Default, Clone, Copy)]
struct Downgrade {
    no_stream_options: bool,
    json_object: bool,
}

impl OpenAiCompat {
    pub fn new(cfg: OpenAiConfig) -> Result<OpenAiCompat, LlmError> {
        let base = http::base_url(&cfg.base_url)?;
        let host = http::host_port(&base);
        let timeout = cfg.timeout.unwrap_or(DEFAULT_TIMEOUT);
        Ok(OpenAiCompat {
            name: if cfg.name.is_empty() {
                "openai".to_string()
            } else {
                cfg.name
            },
            model: cfg.model,
            azure: host.contains(".openai.azure.com")
                || host.contains(".cognitiveservices.azure.com"),
            max_tokens_field: if host.starts_with("api.openai.com:") {
                "max_completion_tokens"
            } else {
                "max_tokens"
            },
            base,
            api_key: cfg.api_key.filter(|k| !k.trim().is_empty()),
            temperature: cfg.temperature,
            max_tokens: cfg.max_tokens,
            timeout,
            client: http::client(timeout)?,
        })
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        match &self.api_key {
            Some(k) if self.azure => vec![("api-key", k.clone())],
            Some(k) => vec![("authorization", format!("Bearer {k}"))],
            None => Vec::new(),
        }
    }

    /// The models the server lists (`GET /models`).
    pub async fn list_models(&self) -> Result<Vec<String>, LlmError> {
        let url = http::join(&self.base, "models");
        let resp = http::get(
            &self.client,
            &self.name,
            &url,
            &self.headers(),
            self.timeout,
        )
        .await?;
        let v = http::read_json(&self.name, &url, self.timeout, resp).await?;
        let list = v
            .get("data")
            .or_else(|| v.get("models"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        Ok(list
            .iter()
            .filter_map(|m| {
                m.get("id")
                    .or_else(|| m.get("name"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect())
    }

    /// The request body (public for tests of the exact bytes sent).
    pub fn request_body(&self, req: &ChatRequest, stream: bool) -> Value {
        self.body(req, stream, Downgrade::default())
    }

    fn body(&self, req: &ChatRequest, stream: bool, dg: Downgrade) -> Value {
        let mut messages = req.messages.clone();
        let mut body = Map::new();
        body.insert("model".into(), json!(self.model));
        if let Some(schema) = &req.response_schema {
            if dg.json_object {
                messages = with_system_note(&messages, &schema_note(schema));
                body.insert("response_format".into(), json!({"type": "json_object"}));
            } else {
                body.insert(
                    "response_format".into(),
                    json!({"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}),
                );
            }
        }
        body.insert(
            "messages".into(),
            Value::Array(messages.iter().map(message_json).collect()),
        );
        if !req.tools.is_empty() {
            let tools: Vec<Value> = req
                .tools
                .iter()
                .map(|t| {
                    json!({"type": "function", "function": {
                        "name": t.name, "description": t.description, "parameters": t.parameters}})
                })
                .collect();
            body.insert("tools".into(), Value::Array(tools));
            let choice = match &req.tool_choice {
                ToolChoice::Auto => json!("auto"),
                ToolChoice::None => json!("none"),
                ToolChoice::Required => json!("required"),
                ToolChoice::Named(n) => json!({"type": "function", "function": {"name": n}}),
            };
            body.insert("tool_choice".into(), choice);
        }
        if let Some(m) = req.max_tokens.or(self.max_tokens) {
            body.insert(self.max_tokens_field.into(), json!(m));
        }
        if let Some(t) = req.temperature.or(self.temperature) {
            body.insert("temperature".into(), json!(t));
        }
        if stream {
            body.insert("stream".into(), json!(true));
            if !dg.no_stream_options {
                body.insert("stream_options".into(), json!({"include_usage": true}));
            }
        }
        Value::Object(body)
    }

    /// Sends the request, dropping an optional field the server rejects (once each).
    async fn send(&self, req: &ChatRequest, stream: bool) -> Result<reqwest::Response, LlmError> {
        let url = http::join(&self.base, "chat/completions");
        let mut dg = Downgrade::default();
        loop {
            let body = self.body(req, stream, dg);
            match http::post_json(
                &self.client,
                &self.name,
                &url,
                &self.headers(),
                &body,
                self.timeout,
            )
            .await
            {
                Err(LlmError::Api {
                    provider,
                    status,
                    message,
                }) if matches!(status, 400 | 422 | 500) => {
                    let m = message.to_ascii_lowercase();
                    if stream && !dg.no_stream_options && m.contains("stream_options") {
                        dg.no_stream_options = true;
                    } else if req.response_schema.is_some()
                        && !dg.json_object
                        && (m.contains("response_format") || m.contains("json_schema"))
                    {
                        dg.json_object = true;
                    } else {
                        return Err(LlmError::Api {
                            provider,
                            status,
                            message,
                        });
                    }
                    tracing::debug!(provider = %self.name, %message, "retrying without an optional request field");
                }
                other => return other,
            }
        }
    }

    fn url(&self) -> String {
        http::join(&self.base, "chat/completions")
    }
}

/// The system-prompt note that carries a response schema when the server has no JSON-schema
/// mode.
fn schema_note(schema: &Value) -> String {
    format!(
        "Answer with one JSON object only, no other text, valid against this JSON Schema:\n{schema}"
    )
}

/// One message as the chat completions API takes it.
fn message_json(m: &Message) -> Value {
    match m.role {
        Role::System => json!({"role": "system", "content": m.content}),
        Role::User => json!({"role": "user", "content": m.content}),
        Role::Assistant => {
            let mut o = Map::new();
            o.insert("role".into(), json!("assistant"));
            if m.tool_calls.is_empty() {
                o.insert("content".into(), json!(m.content));
            } else {
                o.insert(
                    "content".into(),
                    if m.content.is_empty() {
                        Value::Null
                    } else {
                        json!(m.content)
                    },
                );
                let calls: Vec<Value> = m
                    .tool_calls
                    .iter()
                    .map(|c| {
                        let args = match &c.arguments {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        json!({"id": c.id, "type": "function",
                               "function": {"name": c.name, "arguments": args}})
                    })
                    .collect();
                o.insert("tool_calls".into(), Value::Array(calls));
            }
            Value::Object(o)
        }
        Role::Tool => json!({
            "role": "tool",
            "tool_call_id": m.tool_call_id.clone().unwrap_or_default(),
            "content": m.content,
        }),
    }
}

/// A finish reason as the API names it (`""` and absent are none).
fn finish_of(s: Option<&str>) -> Option<FinishReason> {
    match s.map(str::trim) {
        None | Some("") => None,
        Some("stop") | Some("end_turn") | Some("eos") | Some("stop_sequence") => {
            Some(FinishReason::Stop)
        }
        Some("tool_calls") | Some("function_call") | Some("tool_use") => {
            Some(FinishReason::ToolCalls)
        }
        Some("length") | Some("max_tokens") => Some(FinishReason::Length),
        Some(_) => Some(FinishReason::Other),
    }
}

/// The finish reason, inferred when the server gave none or said `stop` after calls.
pub(crate) fn settle_finish(given: Option<FinishReason>, made_calls: bool) -> FinishReason {
    match given {
        Some(FinishReason::Length) => FinishReason::Length,
        _ if made_calls => FinishReason::ToolCalls,
        Some(f) => f,
        None => FinishReason::Stop,
    }
}

/// The text of a `content` that is a string, null, or a list of parts.
fn content_text(c: Option<&Value>) -> String {
    match c {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

/// Reads a whole (non-streamed) completion. `offered` names the request's tools.
pub(crate) fn parse_completion(
    provider: &str,
    v: &Value,
    offered: &[&str],
) -> Result<(Message, Option<FinishReason>, Usage, Option<String>), LlmError> {
    if let Some(e) = v.get("error").filter(|e| !e.is_null()) {
        return Err(LlmError::Api {
            provider: provider.to_string(),
            status: 200,
            message: http::error_message(&json!({"error": e}).to_string()),
        });
    }
    let choice = v.get("choices").and_then(|c| c.get(0)).ok_or_else(|| {
        LlmError::Malformed(format!(
            "{provider} answered without choices: {}",
            http::one_line(&v.to_string(), 200)
        ))
    })?;
    let msg = choice.get("message").or_else(|| choice.get("delta"));
    let mut content = content_text(msg.and_then(|m| m.get("content")));
    // Older servers: `text` as in completions.
    if content.is_empty()
        && let Some(t) = choice.get("text").and_then(Value::as_str)
    {
        content = t.to_string();
    }
    let mut calls = Vec::new();
    if let Some(list) = msg
        .and_then(|m| m.get("tool_calls"))
        .and_then(Value::as_array)
    {
        for c in list {
            let f = c.get("function").unwrap_or(c);
            let Some(name) = f
                .get("name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
            else {
                continue;
            };
            calls.push(crate::ToolCall {
                id: c
                    .get("id")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .unwrap_or_else(new_call_id),
                name: name.to_string(),
                arguments: normalize_arguments(f.get("arguments").unwrap_or(&Value::Null)),
            });
        }
    }
    if calls.is_empty()
        && let Some(fc) = msg
            .and_then(|m| m.get("function_call"))
            .filter(|f| f.is_object())
        && let Some(name) = fc.get("name").and_then(Value::as_str)
    {
        calls.push(crate::ToolCall {
            id: new_call_id(),
            name: name.to_string(),
            arguments: normalize_arguments(fc.get("arguments").unwrap_or(&Value::Null)),
        });
    }
    if calls.is_empty() {
        let (rest, found) = extract_tool_calls(&content, offered);
        if !found.is_empty() {
            content = rest;
            calls = found;
        }
    }
    let finish = finish_of(choice.get("finish_reason").and_then(Value::as_str));
    let usage = v.get("usage").and_then(usage_of).unwrap_or_default();
    let model = v
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .map(str::to_string);
    let message = Message {
        role: Role::Assistant,
        content,
        tool_calls: calls,
        tool_call_id: None,
        name: None,
    };
    Ok((message, finish, usage, model))
}

/// A JSON answer checked against the request's response schema; its text made the bare JSON
/// (a fenced block unwrapped).
pub(crate) fn check_json_answer(
    provider: &str,
    req: &ChatRequest,
    message: &mut Message,
) -> Result<(), LlmError> {
    let Some(schema) = &req.response_schema else {
        return Ok(());
    };
    if !message.tool_calls.is_empty() {
        return Ok(());
    }
    let text = crate::shim::json_text(&message.content);
    let value: Value = serde_json::from_str(text).map_err(|e| {
        LlmError::Malformed(format!(
            "{provider}'s answer is not the JSON asked for ({e}): {}",
            http::one_line(&message.content, 200)
        ))
    })?;
    crate::schema::validate(schema, &value).map_err(|e| {
        LlmError::Malformed(format!(
            "{provider}'s answer does not match the response schema: {e}"
        ))
    })?;
    message.content = text.to_string();
    Ok(())
}

#[async_trait::async_trait]
impl Provider for OpenAiCompat {
    fn name(&self) -> &str {
        &self.name
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            native_tools: true,
            constrained: false,
            streaming: true,
            context_tokens: None,
        }
    }

    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, LlmError> {
        let resp = self.send(req, false).await?;
        let v = http::read_json(&self.name, &self.url(), self.timeout, resp).await?;
        let offered: Vec<&str> = req.tools.iter().map(|t| t.name.as_str()).collect();
        let (mut message, finish, usage, model) = parse_completion(&self.name, &v, &offered)?;
        check_json_answer(&self.name, req, &mut message)?;
        let finish = settle_finish(finish, !message.tool_calls.is_empty());
        Ok(ChatResponse {
            message,
            finish,
            usage,
            model: model.unwrap_or_else(|| self.model.clone()),
        })
    }

    async fn chat_stream(
        &self,
        req: &ChatRequest,
        on_text: &mut (dyn for<'t> FnMut(&'t str) + Send),
    ) -> Result<ChatResponse, LlmError> {
        let resp = self.send(req, true).await?;
        let offered: Vec<&str> = req.tools.iter().map(|t| t.name.as_str()).collect();
        let mut asm = StreamAssembler::default();
        let mut gate = TextGate::new(!offered.is_empty());
        let url = self.url();
        let name = self.name.clone();
        http::read_sse(&self.name, &url, self.timeout, resp, &mut |ev| {
            let data = ev.data.trim();
            if data == "[DONE]" {
                return Ok(false);
            }
            if data.is_empty() {
                return Ok(true);
            }
            let chunk: Value = serde_json::from_str(data).map_err(|e| {
                LlmError::Malformed(format!(
                    "{name} streamed a chunk that is not JSON ({e}): {}",
                    http::one_line(data, 200)
                ))
            })?;
            if let Some(e) = chunk.get("error").filter(|e| !e.is_null()) {
                return Err(LlmError::Api {
                    provider: name.clone(),
                    status: 200,
                    message: http::error_message(&json!({"error": e}).to_string()),
                });
            }
            if let Some(text) = asm.push(&chunk) {
                gate.push(&text, &mut *on_text);
            }
            Ok(true)
        })
        .await?;
        let (content, text_calls) = gate.finish(&offered, on_text);
        // Native calls first; calls written as text (if any) after them.
        let mut calls = asm.calls();
        calls.extend(text_calls);
        let mut message = Message {
            role: Role::Assistant,
            content,
            tool_calls: calls,
            tool_call_id: None,
            name: None,
        };
        check_json_answer(&self.name, req, &mut message)?;
        let finish = settle_finish(
            finish_of(asm.finish.as_deref()),
            !message.tool_calls.is_empty(),
        );
        Ok(ChatResponse {
            message,
            finish,
            usage: asm.usage.unwrap_or_default(),
            model: asm.model.unwrap_or_else(|| self.model.clone()),
        })
    }
}

/// Ollama's `OLLAMA_HOST` (`host:port`, `http://host:port`, `0.0.0.0` meaning this machine)
/// as the base URL of its OpenAI-compatible API (`.../v1`).
pub fn ollama_base_url(host: &str) -> String {
    let h = host.trim().trim_end_matches('/');
    let with_scheme = if h.contains("://") {
        h.to_string()
    } else {
        format!("http://{h}")
    };
    let local = with_scheme.replace("://0.0.0.0", "://127.0.0.1");
    if local.ends_with("/v1") {
        local
    } else {
        format!("{local}/v1")
    }
}

/// The provider `settings` describe (kind `openai` or `ollama`); keys from `env`.
///
/// The key: `api_key` if a face set one, else the variable `api_key_env` names. The default
/// variable `OPENAI_API_KEY` is read only for OpenAI's own API — another server (a gateway,
/// vLLM) gets a key only from a variable named in `api_key_env`, so that an OpenAI key is never
/// sent elsewhere by accident.
pub fn from_settings(
    kind: crate::config::ProviderKind,
    s: &crate::config::ProviderSettings,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<OpenAiCompat, LlmError> {
    use crate::config::ProviderKind;
    let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let ollama = kind == ProviderKind::Ollama;
    let base = match (&s.base_url, ollama) {
        (Some(b), true) => ollama_base_url(b),
        (Some(b), false) => b.clone(),
        (None, true) => get("OLLAMA_HOST")
            .map(|h| ollama_base_url(&h))
            .unwrap_or_else(|| OLLAMA_BASE_URL.to_string()),
        (None, false) => get("OPENAI_BASE_URL").unwrap_or_else(|| OPENAI_BASE_URL.to_string()),
    };
    let openai_itself = http::host_port(&base).starts_with("api.openai.com:");
    let api_key = match (&s.api_key, &s.api_key_env) {
        (Some(k), _) => Some(k.clone()),
        (None, Some(var)) => Some(get(var).ok_or_else(|| {
            LlmError::Config(format!(
                "the API key variable {var} (llm.api_key_env) is not set"
            ))
        })?),
        (None, None) if openai_itself => Some(get("OPENAI_API_KEY").ok_or_else(|| {
            LlmError::Config(
                "no API key for OpenAI: set OPENAI_API_KEY (or llm.api_key_env to the variable \
                 that holds it)"
                    .to_string(),
            )
        })?),
        (None, None) => None,
    };
    let model = match (&s.model, ollama, openai_itself) {
        (Some(m), _, _) if !m.trim().is_empty() => m.trim().to_string(),
        (_, true, _) => "llama3.2".to_string(),
        (_, false, true) => "gpt-4o-mini".to_string(),
        _ => {
            return Err(LlmError::Config(format!(
                "no model for the server at {}: set llm.model (or --model, KAPTAIN_LLM_MODEL) to \
                 a model it serves",
                http::host_port(&base)
            )));
        }
    };
    OpenAiCompat::new(OpenAiConfig {
        name: if ollama { "ollama" } else { "openai" }.to_string(),
        model,
        base_url: base,
        api_key,
        timeout: s.timeout_secs.map(Duration::from_secs),
        temperature: s.temperature,
        max_tokens: s.max_tokens,
    })
}
