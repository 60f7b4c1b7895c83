//! Kaptain's LLM layer.
//!
//! A [`Provider`] turns a [`ChatRequest`] (messages, tools as name + JSON Schema, optional
//! response schema) into a [`ChatResponse`] (an assistant message with text and/or tool
//! calls, a finish reason, token usage). Providers: OpenAI-compatible chat completions (OpenAI,
//! Azure OpenAI, Ollama, vLLM, llama.cpp's server, LiteLLM), Anthropic's Messages API, and an
//! embedded GGUF model run in-process ([`embedded`], cargo feature `embedded`, on by default).
//!
//! This crate knows tools only as names, JSON Schemas and a `call` function handed to it
//! ([`ToolBox`]); it knows nothing of clusters or healing.

pub mod config;
#[cfg(feature = "embedded")]
pub mod embedded;
mod types;

pub use types::*;
