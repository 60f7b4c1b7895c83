//! Anthropic's Messages API: the system prompt apart, tools as `{name, description,
//! input_schema}`, `tool_use` / `tool_result` content blocks for calls and results
//! (consecutive results merged into one user message, as the API requires), streaming with
//! `content_block_delta` text and `input_json_delta` reassembly.
//!
//! A response schema is asked for in the system prompt and the answer validated against it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::http::{self, DEFAULT_TIMEOUT};
use crate::openai::{check_json_answer, settle_finish};
use crate::textcalls::{new_call_id, parse_arguments};
use crate::{
    Capabilities, ChatRequest, ChatResponse, FinishReason, LlmError, Message, Provider, Role,
    ToolCall, ToolChoice, Usage,
};

/// Anthropic's API.
pub const ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com";
/// The `anthropic-version` header sent.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// `max_tokens` is required by the API; this when neither the request nor the settings say.
const DEFAULT_MAX_TOKENS: u32 = 4096;

/// What an [`Anthropic`] is made from.
#[derive(Clone, Default)]
pub struct AnthropicConfig {
    pub model: String,
    /// `https://api.anthropic.com` (with or without `/v1`).
    pub base_url: String,
    /// Sent as `x-api-key`.
    pub api_key: String,
    pub timeout: Option<Duration>,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
}

/// Anthropic's Messages API.
pub struct Anthropic {
    model: String,
    base: String,
    api_key: String,
    temperature: Option<f32>,
    max_tokens: Option<u32>,
    timeout: Duration,
    client: reqwest::Client,
}

impl Anthropic {
    pub fn new(cfg: AnthropicConfig) -> Result<Anthropic, LlmError> {
        let base = http::base_url(&cfg.base_url)?;
        let base = base.strip_suffix("/v1").unwrap_or(&base).to_string();
        let timeout = cfg.timeout.unwrap_or(DEFAULT_TIMEOUT);
        Ok(Anthropic {
            model: cfg.model,
            base,
            api_key: cfg.api_key,
            temperature: cfg.temperature,
            max_tokens: cfg.max_tokens,
            timeout,
            client: http::client(timeout)?,
        })
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        vec![
            ("x-api-key", self.api_key.clone()),
            ("anthropic-version", ANTHROPIC_VERSION.to_string()),
        ]
    }

    fn url(&self) -> String {
        format!("{}/v1/messages", self.base)
    }

    /// Posts the request (streamed or not); the URL comes back for error messages.
    async fn send(
        &self,
        req: &ChatRequest,
        stream: bool,
    ) -> Result<(String, reqwest::Response), LlmError> {
        let url = self.url();
        let body = self.request_body(req, stream);
        let resp = http::post_json(
            &self.client,
            "anthropic",
            &url,
            &self.headers(),
            &body,
            self.timeout,
        )
        .await?;
        Ok((url, resp))
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The models the API lists (`GET /v1/models`).
    pub async fn list_models(&self) -> Result<Vec<String>, LlmError> {
        let url = format!("{}/v1/models", self.base);
        let resp = http::get(
            &self.client,
            "anthropic",
            &url,
            &self.headers(),
            self.timeout,
        )
        .await?;
        let v = http::read_json("anthropic", &url, self.timeout, resp).await?;
        Ok(v.get("data")
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .filter_map(|m| m.get("id").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The request body (public for tests of the exact bytes sent).
    pub fn request_body(&self, req: &ChatRequest, stream: bool) -> Value {
        let mut system: Vec<String> = req
            .messages
            .iter()
            .filter(|m| m.role == Role::System && !m.content.is_empty())
            .map(|m| m.content.clone())
            .collect();
        if let Some(schema) = &req.response_schema {
            system.push(format!(
                "Answer with one JSON object only, no other text, valid against this JSON Schema:\n{schema}"
            ));
        }
        let mut body = Map::new();
        body.insert("model".into(), json!(self.model));
        body.insert(
            "max_tokens".into(),
            json!(
                req.max_tokens
                    .or(self.max_tokens)
                    .unwrap_or(DEFAULT_MAX_TOKENS)
            ),
        );
        if !system.is_empty() {
            body.insert("system".into(), json!(system.join("\n\n")));
        }
        body.insert(
            "messages".into(),
            Value::Array(messages_json(&req.messages)),
        );
        if !req.tools.is_empty() {
            let tools: Vec<Value> = req
                .tools
                .iter()
                .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}))
                .collect();
            body.insert("tools".into(), Value::Array(tools));
            let choice = match &req.tool_choice {
                ToolChoice::Auto => json!({"type": "auto"}),
                ToolChoice::None => json!({"type": "none"}),
                ToolChoice::Required => json!({"type": "any"}),
                ToolChoice::Named(n) => json!({"type": "tool", "name": n}),
            };
            body.insert("tool_choice".into(), choice);
        }
        if let Some(t) = req.temperature.or(self.temperature) {
            body.insert("temperature".into(), json!(t));
        }
        if stream {
            body.insert("stream".into(), json!(true));
        }
        Value::Object(body)
    }
}

/// The conversation as content blocks: assistant calls as `tool_use`, tool results as
/// `tool_result` in user messages; consecutive messages of one role merged into one.
fn messages_json(messages: &[Message]) -> Vec<Value> {
    let mut out: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for m in messages {
        let (role, blocks): (&'static str, Vec<Value>) = match m.role {
            Role::System => continue,
            Role::User => ("user", vec![json!({"type": "text", "text": m.content})]),
            Role::Assistant => {
                let mut b = Vec::new();
                if !m.content.trim().is_empty() {
                    b.push(json!({"type": "text", "text": m.content}));
                }
                for c in &m.tool_calls {
                    let input = match &c.arguments {
                        Value::Object(_) => c.arguments.clone(),
                        _ => json!({}),
                    };
                    b.push(json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input}));
                }
                if b.is_empty() {
                    continue;
                }
                ("assistant", b)
            }
            Role::Tool => (
                "user",
                vec![json!({"type": "tool_result",
                            "tool_use_id": m.tool_call_id.clone().unwrap_or_default(),
                            "content": m.content})],
            ),
        };
        match out.last_mut() {
            Some((r, b)) if *r == role => {
                // Tool results go before any text of the same user turn.
                if role == "user" && blocks.iter().any(|x| x["type"] == "tool_result") {
                    let at = b.iter().take_while(|x| x["type"] == "tool_result").count();
                    for (k, x) in blocks.into_iter().enumerate() {
                        b.insert(at + k, x);
                    }
                } else {
                    b.extend(blocks);
                }
            }
            _ => out.push((role, blocks)),
        }
    }
    out.into_iter()
        .map(|(role, blocks)| {
            // A lone text block is sent as a plain string.
            if blocks.len() == 1 && blocks[0]["type"] == "text" {
                json!({"role": role, "content": blocks[0]["text"]})
            } else {
                json!({"role": role, "content": blocks})
            }
        })
        .collect()
}

fn finish_of(s: Option<&str>) -> Option<FinishReason> {
    match s {
        None | Some("") => None,
        Some("end_turn") | Some("stop_sequence") => Some(FinishReason::Stop),
        Some("tool_use") => Some(FinishReason::ToolCalls),
        Some("max_tokens") | Some("model_context_window_exceeded") => Some(FinishReason::Length),
        Some(_) => Some(FinishReason::Other),
    }
}

fn usage_of(u: &Value) -> Usage {
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    Usage {
        input_tokens: n("input_tokens")
            + n("cache_creation_input_tokens")
            + n("cache_read_input_tokens"),
        output_tokens: n("output_tokens"),
    }
}

fn api_error(status: u16, v: &Value) -> LlmError {
    LlmError::Api {
        provider: "anthropic".to_string(),
        status,
        message: http::error_message(&v.to_string()),
    }
}

/// Reads a whole (non-streamed) message.
fn parse_message(
    v: &Value,
) -> Result<(Message, Option<FinishReason>, Usage, Option<String>), LlmError> {
    if v.get("type").and_then(Value::as_str) == Some("error") {
        return Err(api_error(200, v));
    }
    let blocks = v.get("content").and_then(Value::as_array).ok_or_else(|| {
        LlmError::Malformed(format!(
            "anthropic answered without content: {}",
            http::one_line(&v.to_string(), 200)
        ))
    })?;
    let mut text = String::new();
    let mut calls = Vec::new();
    for b in blocks {
        match b.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(b.get("text").and_then(Value::as_str).unwrap_or("")),
            Some("tool_use") => calls.push(ToolCall {
                id: b
                    .get("id")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(new_call_id),
                name: b
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                arguments: b.get("input").cloned().unwrap_or_else(|| json!({})),
            }),
            _ => {} // thinking, redacted_thinking, server tools
        }
    }
    let message = Message {
        role: Role::Assistant,
        content: text,
        tool_calls: calls,
        tool_call_id: None,
        name: None,
    };
    Ok((
        message,
        finish_of(v.get("stop_reason").and_then(Value::as_str)),
        v.get("usage").map(usage_of).unwrap_or_default(),
        v.get("model").and_then(Value::as_str).map(str::to_string),
    ))
}

/// One content block being streamed.
#[derive(Debug)]
enum Block {
    Text,
    Tool {
        id: String,
        name: String,
        json: String,
        start_input: Value,
    },
    Other,
}

#[async_trait::async_trait]
impl Provider for Anthropic {
    fn name(&self) -> &str {
        "anthropic"
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
        let (url, resp) = self.send(req, false).await?;
        let v = http::read_json("anthropic", &url, self.timeout, resp).await?;
        let (mut message, finish, usage, model) = parse_message(&v)?;
        check_json_answer("anthropic", req, &mut message)?;
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
        let (url, resp) = self.send(req, true).await?;
        let mut blocks: BTreeMap<u64, Block> = BTreeMap::new();
        let mut text = String::new();
        let mut usage = Usage::default();
        let mut finish = None;
        let mut model = None;
        http::read_sse("anthropic", &url, self.timeout, resp, &mut |ev| {
            if ev.data.trim().is_empty() {
                return Ok(true);
            }
            let v: Value = serde_json::from_str(&ev.data).map_err(|e| {
                LlmError::Malformed(format!(
                    "anthropic streamed an event that is not JSON ({e}): {}",
                    http::one_line(&ev.data, 200)
                ))
            })?;
            let kind = v
                .get("type")
                .and_then(Value::as_str)
                .or(ev.event.as_deref())
                .unwrap_or("");
            let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
            match kind {
                "message_start" => {
                    let m = v.get("message").unwrap_or(&Value::Null);
                    model = m.get("model").and_then(Value::as_str).map(str::to_string);
                    if let Some(u) = m.get("usage") {
                        usage = usage_of(u);
                    }
                }
                "content_block_start" => {
                    let b = v.get("content_block").unwrap_or(&Value::Null);
                    let block = match b.get("type").and_then(Value::as_str) {
                        Some("text") => {
                            if let Some(t) = b
                                .get("text")
                                .and_then(Value::as_str)
                                .filter(|t| !t.is_empty())
                            {
                                text.push_str(t);
                                on_text(t);
                            }
                            Block::Text
                        }
                        Some("tool_use") => Block::Tool {
                            id: b
                                .get("id")
                                .and_then(Value::as_str)
                                .map(str::to_string)
                                .unwrap_or_else(new_call_id),
                            name: b
                                .get("name")
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_string(),
                            json: String::new(),
                            start_input: b.get("input").cloned().unwrap_or_else(|| json!({})),
                        },
                        _ => Block::Other,
                    };
                    blocks.insert(index, block);
                }
                "content_block_delta" => {
                    let d = v.get("delta").unwrap_or(&Value::Null);
                    match d.get("type").and_then(Value::as_str) {
                        Some("text_delta") => {
                            if let Some(t) = d
                                .get("text")
                                .and_then(Value::as_str)
                                .filter(|t| !t.is_empty())
                            {
                                text.push_str(t);
                                on_text(t);
                            }
                        }
                        Some("input_json_delta") => {
                            if let Some(Block::Tool { json, .. }) = blocks.get_mut(&index) {
                                json.push_str(
                                    d.get("partial_json").and_then(Value::as_str).unwrap_or(""),
                                );
                            }
                        }
                        _ => {}
                    }
                }
                "message_delta" => {
                    if let Some(r) = v
                        .get("delta")
                        .and_then(|d| d.get("stop_reason"))
                        .and_then(Value::as_str)
                    {
                        finish = finish_of(Some(r));
                    }
                    if let Some(o) = v
                        .get("usage")
                        .and_then(|u| u.get("output_tokens"))
                        .and_then(Value::as_u64)
                    {
                        usage.output_tokens = o;
                    }
                }
                "message_stop" => return Ok(false),
                "error" => return Err(api_error(200, &v)),
                _ => {} // ping, content_block_stop, unknown events
            }
            Ok(true)
        })
        .await?;
        let calls: Vec<ToolCall> = blocks
            .into_values()
            .filter_map(|b| match b {
                Block::Tool {
                    id,
                    name,
                    json,
                    start_input,
                } if !name.is_empty() => Some(ToolCall {
                    id,
                    name,
                    arguments: if json.trim().is_empty() {
                        start_input
                    } else {
                        parse_arguments(&json)
                    },
                }),
                _ => None,
            })
            .collect();
        let mut message = Message {
            role: Role::Assistant,
            content: text,
            tool_calls: calls,
            tool_call_id: None,
            name: None,
        };
        check_json_answer("anthropic", req, &mut message)?;
        let finish = settle_finish(finish, !message.tool_calls.is_empty());
        Ok(ChatResponse {
            message,
            finish,
            usage,
            model: model.unwrap_or_else(|| self.model.clone()),
        })
    }
}

/// The provider `settings` describe; the key from `api_key`, else the variable `api_key_env`
/// names (default `ANTHROPIC_API_KEY`).
pub fn from_settings(
    s: &crate::config::ProviderSettings,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Anthropic, LlmError> {
    let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let var = s.api_key_env.as_deref().unwrap_or("ANTHROPIC_API_KEY");
    let api_key = match &s.api_key {
        Some(k) => k.clone(),
        None => get(var).ok_or_else(|| {
            LlmError::Config(format!(
                "no API key for Anthropic: set {var}{}",
                if s.api_key_env.is_none() {
                    " (or llm.api_key_env to the variable that holds it)"
                } else {
                    " (llm.api_key_env)"
                }
            ))
        })?,
    };
    Anthropic::new(AnthropicConfig {
        model: s
            .model
            .clone()
            .filter(|m| !m.trim().is_empty())
            .unwrap_or_else(|| "claude-sonnet-4-5".to_string()),
        base_url: s
            .base_url
            .clone()
            .or_else(|| get("ANTHROPIC_BASE_URL"))
            .unwrap_or_else(|| ANTHROPIC_BASE_URL.to_string()),
        api_key,
        timeout: s.timeout_secs.map(Duration::from_secs),
        temperature: s.temperature,
        max_tokens: s.max_tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_and_consecutive_results_become_blocks_in_alternating_turns() {
        let a = ToolCall {
            id: "tu_1".into(),
            name: "get_pods".into(),
            arguments: json!({"namespace": "shop"}),
        };
        let b = ToolCall {
            id: "tu_2".into(),
            name: "get_events".into(),
            arguments: json!({}),
        };
        let m = messages_json(&[
            Message::system("sys"),
            Message::user("why?"),
            Message {
                tool_calls: vec![a.clone(), b.clone()],
                ..Message::assistant("Looking.")
            },
            Message::tool_result(&a, "[]"),
            Message::tool_result(&b, "no events"),
            Message::user("and in staging?"),
        ]);
        assert_eq!(
            Value::Array(m),
            json!([
                {"role": "user", "content": "why?"},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "Looking."},
                    {"type": "tool_use", "id": "tu_1", "name": "get_pods", "input": {"namespace": "shop"}},
                    {"type": "tool_use", "id": "tu_2", "name": "get_events", "input": {}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "tu_1", "content": "[]"},
                    {"type": "tool_result", "tool_use_id": "tu_2", "content": "no events"},
                    {"type": "text", "text": "and in staging?"}]}
            ])
        );
    }

    #[test]
    fn a_whole_message_is_read() {
        let (m, f, u, model) = parse_message(&json!({
            "type": "message", "model": "claude-x", "stop_reason": "tool_use",
            "content": [{"type": "text", "text": "Checking."},
                        {"type": "tool_use", "id": "tu", "name": "get_pods", "input": {"namespace": "a"}}],
            "usage": {"input_tokens": 10, "cache_read_input_tokens": 5, "output_tokens": 3}
        }))
        .expect("reads");
        assert_eq!(m.content, "Checking.");
        assert_eq!(m.tool_calls[0].arguments, json!({"namespace": "a"}));
        assert_eq!(f, Some(FinishReason::ToolCalls));
        assert_eq!((u.input_tokens, u.output_tokens), (15, 3));
        assert_eq!(model.as_deref(), Some("claude-x"));
    }
}
