//! Kaptain's server (`kaptain serve`).
//!
//! The clusters themselves are watched by [`kaptain_engine::live::LiveClusters`] (the hub:
//! per cluster a live index, the latest report and the summaries the REST API and the
//! console read); the server puts HTTP in front of it.
//!
//! - [`api`]: the REST API under `/api/v1` with its generated OpenAPI document; [`auth`]:
//!   API tokens, OIDC JWTs, roles and scopes; every state-changing request is recorded in the
//!   store's hash-chained audit log.
//! - [`console`]: the web console (server-rendered, htmx, assets embedded by [`assets`]).
//! - [`serve`]: wires store, hub and HTTP together; [`history`]: records the findings
//!   history, one replica per cluster; [`tasks`]: the queue of diagnose runs.

pub mod api;
pub mod app;
pub mod assets;
pub mod auth;
pub mod console;
pub mod feed;
pub mod harden;
pub mod history;
pub mod listen;
pub mod llm;
pub mod mcp;
pub mod metrics;
pub mod serve;
pub mod tasks;
