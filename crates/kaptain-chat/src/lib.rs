//! Kaptain's conversation layer, with no LLM.
//!
//! A question in plain words ("why is checkout failing in shop?") becomes a structured
//! [`Request`] ([`parse`]): an intent (diagnose, why, fix, findings, explain, help) and filters
//! (cluster, namespace, object, severity, category, check). [`answer`] answers a request from a
//! report's findings with the same data the CLI prints — root causes, cause chains, remediations,
//! the check catalog — and names the `kaptain` command that shows the same findings, so the chat
//! teaches the CLI. Requests to act ("scale web to 5", "roll back checkout", "fix it") are
//! read too ([`Intent::Act`], [`ActRequest`]), but nothing here acts on a cluster: the engine
//! turns them into HealingActions that the safety guard decides.
//!
//! The CLI (`kaptain ask`), the REST API (`POST /api/v1/ask`) and the web console's chat box all
//! go through these two functions. An LLM, when one is configured later, is meant to produce the
//! same [`Request`] (tool calling) and to phrase the same [`Answer`].

mod act;
mod answer;
mod parse;
mod problems;
mod request;
mod text;
mod words;

pub use act::{ActRequest, Amount, Verb, parse_act};
pub use answer::{Answer, AnswerItem, Link, answer};
pub use parse::{Known, parse};
pub use request::{Intent, Request};
pub use text::render_text;
