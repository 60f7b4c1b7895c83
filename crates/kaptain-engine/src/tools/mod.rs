//! The ToolRegistry: one definition of each capability, used by MCP now and by the LLM loop,
//! agents and chat next.
//!
//! A [`Tool`] has a name, a description written for a model, typed input and output (serde +
//! schemars JSON Schemas), a [`Mark`] (read-only or proposing), and runs against a
//! [`ToolHost`] — what the engine knows about the clusters: their live index, latest report,
//! HealingActions, a client for logs and for proposing — with the [`Caller`]'s identity, role
//! and scopes.
//!
//! Rules every tool keeps:
//! - No tool writes to a cluster directly. The one proposing tool, `propose_action`, creates a
//!   HealingAction that the operator's safety guard decides like its own proposals.
//! - No tool returns a kubeconfig, a token or a Secret value: Secrets show their keys and type
//!   only, and objects lose `managedFields` and the last-applied annotation.
//! - Outputs are bounded: row caps and byte caps, with a note saying what was cut.
//! - A caller sees only the clusters and namespaces its scopes cover; cluster-scoped objects
//!   (nodes, persistent volumes) need a whole-cluster scope.

mod access;
mod bound;
mod error;
mod host;
mod live_host;
mod objects;
mod propose;
mod read;
mod redact;
mod registry;
mod scan_host;
mod toolbox;
mod view;

#[cfg(test)]
mod fixture;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod toolbox_tests;

pub use access::{Caller, Grant, Role};
pub use bound::{Bounded, DEFAULT_ROWS, MAX_ROWS};
pub use error::ToolError;
pub use host::{ClusterFacts, HealPlan, PlanSkip, PlannedAction, ToolHost};
pub use live_host::LiveHost;
pub use propose::{PROPOSED_BY_ANNOTATION, ProposeInput, ProposeKind, ProposeOutput};
pub use redact::{redact_object, scrub_text};
pub use registry::{Mark, Tool, ToolRegistry, TypedTool};
pub use scan_host::ScanHost;
pub use toolbox::{
    EngineToolBox, InvestigationInputs, MAX_HYPOTHESES, PROPOSE, investigation_inputs,
};
pub use view::{FindingView, ObjectView};
