//! Kaptain's server (`kaptain serve`).
//!
//! - [`hub`]: watches any number of clusters, each independently, and keeps per cluster a
//!   live [`kaptain_cluster::ClusterIndex`], the latest analysis and the summaries the REST
//!   API and the console read.
//! - [`api`]: the REST API under `/api/v1` with its generated OpenAPI document; [`auth`]:
//!   API tokens, OIDC JWTs, roles and scopes; every state-changing request is recorded in the
//!   store's hash-chained audit log.
//! - [`console`]: the web console (server-rendered, htmx, assets embedded by [`assets`]).
//! - [`serve`]: wires store, hub and HTTP together; [`recorder`]: records the findings
//!   history, one replica per cluster; [`tasks`]: the queue of diagnose runs.

pub mod api;
pub mod app;
pub mod assets;
pub mod auth;
pub mod console;
pub mod events;
pub mod hub;
pub mod mcp;
pub mod metrics;
pub mod recorder;
pub mod serve;
pub mod tasks;
pub mod tool_host;
