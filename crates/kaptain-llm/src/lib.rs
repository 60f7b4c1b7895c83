//! Kaptain's LLM layer.
//!
//! A [`Provider`] turns a [`ChatRequest`] (messages, tools as name + JSON Schema, optional
//! response schema) into a [`ChatResponse`] (an assistant message with text and/or tool
//! calls, a finish reason, token usage). Providers: OpenAI-compatible chat completions (OpenAI,
//! Azure OpenAI, Ollama, vLLM, llama.cpp's server, LiteLLM), Anthropic's Messages API, and an
//! embedded GGUF model run in-process (crate `kaptain-gguf`).
//!
//! This crate knows tools only as names, JSON Schemas and a `call` function handed to it
//! ([`ToolBox`]); it knows nothing of clusters or healing.

pub mod anthropic;
pub mod check;
pub mod config;
pub mod config_file;
mod http;
pub mod openai;
mod openai_stream;
pub mod schema;
pub mod shim;
mod sse;
#[cfg(feature = "testing")]
pub mod testing;
pub mod textcalls;
mod types;

pub use http::host_port;
pub use schema::validate;
pub use shim::{PromptShim, ToolMode};
pub use types::*;
