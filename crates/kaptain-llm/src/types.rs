//! The provider-neutral types every provider and the loop share.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    /// A tool's result, answering the assistant's call `tool_call_id`.
    Tool,
}

/// A tool call the model made: the tool's name and its arguments (a JSON object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's id of the call (made up when the provider gives none).
    pub id: String,
    pub name: String,
    pub arguments: Value,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    #[serde(default)]
    pub content: String,
    /// The calls an assistant message makes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For a `Tool` message: the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// For a `Tool` message: the tool's name (some providers want it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Message {
    fn text(role: Role, content: impl Into<String>) -> Message {
        Message {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            name: None,
        }
    }
    pub fn system(content: impl Into<String>) -> Message {
        Message::text(Role::System, content)
    }
    pub fn user(content: impl Into<String>) -> Message {
        Message::text(Role::User, content)
    }
    pub fn assistant(content: impl Into<String>) -> Message {
        Message::text(Role::Assistant, content)
    }
    /// The result of call `call` (its id and tool name).
    pub fn tool_result(call: &ToolCall, content: impl Into<String>) -> Message {
        Message {
            role: Role::Tool,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: Some(call.id.clone()),
            name: Some(call.name.clone()),
        }
    }
}

/// A tool as a model sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    /// What the tool does, written for a model.
    pub description: String,
    /// JSON Schema of the arguments (an object schema).
    pub parameters: Value,
}

/// Whether and which tool the model must call.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolChoice {
    /// The model decides (the default).
    #[default]
    Auto,
    /// No tool call.
    None,
    /// Some tool call.
    Required,
    /// This tool.
    Named(String),
}

/// What a provider is asked.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ChatRequest {
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolSpec>,
    #[serde(default)]
    pub tool_choice: ToolChoice,
    /// When set, the answer's text must be JSON valid against this schema (the embedded runtime
    /// constrains decoding to it; server providers use their JSON mode and validate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_schema: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
}

/// Why the model stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FinishReason {
    /// A natural end (or a stop sequence).
    Stop,
    /// It made tool calls.
    ToolCalls,
    /// It hit `max_tokens` (or the context).
    Length,
    /// Something else the provider said (content filter, ...), or nothing.
    Other,
}

/// Tokens counted by the provider (or by the embedded tokenizer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, o: Usage) {
        self.input_tokens += o.input_tokens;
        self.output_tokens += o.output_tokens;
    }
}

/// What a provider answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The assistant's message: text and/or tool calls.
    pub message: Message,
    pub finish: FinishReason,
    pub usage: Usage,
    /// The model that answered, as the provider names it.
    pub model: String,
}

/// What a provider can do natively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Capabilities {
    /// Tool calls in the API (otherwise the loop uses a prompt shim with strict parsing).
    pub native_tools: bool,
    /// Decoding constrained to a JSON Schema (the embedded runtime).
    pub constrained: bool,
    /// Streamed text deltas.
    pub streaming: bool,
    /// The model's context window in tokens, when the provider knows it (the embedded
    /// runtime does; hosted APIs do not say). A small one gets a smaller investigation
    /// prompt (see [`crate::focus`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_tokens: Option<u32>,
}

/// Why a provider call failed; one clear line each.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The provider is not configured (no key, no URL, no model file).
    #[error("{0}")]
    Config(String),
    /// It could not be reached.
    #[error("{0}")]
    Unreachable(String),
    /// It answered with an error status.
    #[error("{provider} answered {status}: {message}")]
    Api {
        provider: String,
        status: u16,
        message: String,
    },
    /// Its answer could not be read (not the API's shape, a tool call that does not parse).
    #[error("{0}")]
    Malformed(String),
    /// The embedded model failed.
    #[error("{0}")]
    Model(String),
    /// Cancelled or past its deadline.
    #[error("{0}")]
    Timeout(String),
}

/// A chat model.
#[async_trait::async_trait]
pub trait Provider: Send + Sync {
    /// `openai`, `anthropic`, `embedded`, ...
    fn name(&self) -> &str;
    /// The model asked.
    fn model(&self) -> &str;
    fn capabilities(&self) -> Capabilities;
    /// One completion.
    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, LlmError>;
    /// One completion, text handed to `on_text` as it arrives. Providers that cannot stream
    /// hand the whole text at the end.
    async fn chat_stream(
        &self,
        req: &ChatRequest,
        on_text: &mut (dyn for<'t> FnMut(&'t str) + Send),
    ) -> Result<ChatResponse, LlmError> {
        let r = self.chat(req).await?;
        if !r.message.content.is_empty() {
            on_text(&r.message.content);
        }
        Ok(r)
    }
}

/// The tools the loop may call: names, schemas and a call function. The engine hands one over
/// its ToolRegistry with the asker's identity; this crate knows nothing else of them.
#[async_trait::async_trait]
pub trait ToolBox: Send + Sync {
    fn specs(&self) -> Vec<ToolSpec>;
    /// The tools worth offering a model with a small context window, a subset of
    /// [`ToolBox::specs`] (default: all of them).
    fn essentials(&self) -> Vec<ToolSpec> {
        self.specs()
    }
    /// Runs `name` with `args`; the result as JSON, or an error line the model may read.
    async fn call(&self, name: &str, args: Value) -> Result<Value, String>;
}
