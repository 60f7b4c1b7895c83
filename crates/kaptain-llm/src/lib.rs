//! Kaptain's LLM layer.
//!
//! A [`Provider`] turns a [`ChatRequest`] (messages, tools as name + JSON Schema, optional
//! response schema) into a [`ChatResponse`] (an assistant message with text and/or tool
//! calls, a finish reason, token usage). Providers: OpenAI-compatible chat completions (OpenAI,
//! Azure OpenAI, Ollama, vLLM, llama.cpp's server, LiteLLM), Anthropic's Messages API, and an
//! embedded GGUF model run in-process ([`embedded`], cargo feature `embedded`, on by default).
//!
//! On top of them: the investigator ([`investigate`]: a tool-calling loop with a step limit, a
//! token budget and compaction), short explanations of findings ([`explain`]), and what is
//! done to everything sent ([`anonymize`]: secrets and credentials removed, object names
//! replaced by placeholders and restored).
//!
//! This crate knows tools only as names, JSON Schemas and a `call` function handed to it
//! ([`ToolBox`]); it knows nothing of clusters or healing.

pub mod anonymize;
pub mod anthropic;
mod arguments;
pub mod check;
pub mod compact;
pub mod config;
pub mod config_file;
#[cfg(feature = "embedded")]
pub mod embedded;
pub mod explain;
pub mod focus;
mod http;
pub mod investigate;
#[cfg(test)]
mod investigate_tests;
pub mod observe;
pub mod openai;
mod openai_stream;
pub mod prompts;
pub mod schema;
pub mod shim;
mod sse;
#[cfg(feature = "testing")]
pub mod testing;
pub mod textcalls;
mod types;

pub use anonymize::{Anonymizer, NamedObject, Privacy};
pub use http::host_port;
pub use investigate::{
    Hypothesis, Investigator, Limits, Step, StopReason, ToolRun, Transcript, investigate,
};
pub use observe::{CallObserver, CallRecord, Observed};
pub use schema::validate;
pub use shim::{PromptShim, ToolMode};
pub use types::*;
