//! Kaptain's use cases, each in one place. The faces — the CLI, the server (REST, console,
//! MCP over HTTP), the operator and `kaptain mcp` — call these and never re-implement a
//! pipeline or depend on one another.
//!
//! - [`scan`]: a source's objects → [`ClusterIndex`](kaptain_index::ClusterIndex) → checks
//!   and correlation → [`Report`](kaptain_model::Report).
//! - [`live`]: [`LiveClusters`](live::LiveClusters), the hub — any number of clusters
//!   watched, each with a live index, the latest report, its changes and summaries.
//! - [`healing`]: list, plan, approve and reject HealingActions through the same guard as
//!   the operator, and what the operator shares with them.
//! - [`tools`]: the ToolRegistry — one typed definition of each capability (JSON schemas,
//!   read-only or proposing), used by MCP now and by the LLM loop, agents and chat next.

pub mod healing;
pub mod live;
pub mod scan;
pub mod tools;
