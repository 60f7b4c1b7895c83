//! Kaptain's conversation layer, with no LLM.
//!
//! A question in plain words ("why is checkout failing in shop?") becomes a structured
//! [`Request`] ([`parse`]): an intent (diagnose, why, fix, findings, explain, help) and filters
//! (cluster, namespace, object, severity, category, check). [`answer`] answers a request from a
//! report's findings with the same data the CLI prints — root causes, cause chains, remediations,
//! the check catalog — and names the `kaptain` command that shows the same findings, so the chat
//! teaches the CLI. Nothing here acts on a cluster: chat may look, never change.
//!
//! The CLI (`kaptain ask`), the REST API (`POST /api/v1/ask`) and the web console's chat box all
//! go through these two functions. An LLM, when one is configured later, is meant to produce the
//! same [`Request`] (tool calling) and to phrase the same [`Answer`].

mod answer;
mod parse;
mod problems;
mod request;
mod text;
mod words;

pub use answer::{Answer, AnswerItem, Link, answer};
pub use parse::{Known, parse};
pub use request::{Intent, Request};
pub use text::render_text;
