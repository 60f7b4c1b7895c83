//! Kaptain's healing core, pure: no I/O, no clocks, no cluster.
//!
//! - [`crd`]: the `kaptain.dev/v1alpha1` custom resources (HealingPolicy,
//!   ClusterHealingPolicy, HealingAction), the HealingAction phase machine, and the YAML of
//!   their definitions.
//! - [`planner`]: findings + policies (+ a [`kaptain_index::ClusterIndex`] for workload
//!   facts) → [`Proposal`]s, each with the exact change, reasoning and an idempotency key.
//! - [`guard`]: the safety guard every proposal passes, whoever made it: protected objects,
//!   never-allow list, bounds, rate limits, cool-downs, blast radius, circuit breaker,
//!   approval and dry-run.
//! - [`request`]: a person's one-off request ("scale web to 5") as a proposal under
//!   built-in limits, for the same guard.
//!
//! The operator reads state from the API (policies, HealingActions, the breaker), calls these
//! functions with the current time, and writes the results back.

pub mod crd;
mod error;
pub mod guard;
pub mod planner;
pub mod request;

pub use error::Error;

/// A proposed action: what a HealingAction's spec holds. The planner makes them; so may a
/// person or an LLM — the guard checks them all the same.
pub type Proposal = crd::HealingActionSpec;
