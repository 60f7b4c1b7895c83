//! Kaptain's use cases, each in one place. The faces — the CLI, the server (REST, console,
//! MCP over HTTP), the operator and `kaptain mcp` — call these and never re-implement a
//! pipeline or depend on one another.
//!
//! - [`scan`]: a source's objects → [`ClusterIndex`](kaptain_index::ClusterIndex) → checks
//!   and correlation → [`Report`](kaptain_model::Report).

pub mod scan;
