//! Kaptain's healing operator.
//!
//! Every replica keeps reflectors warm for the kinds the analyzers need (those the server
//! serves) and for Kaptain's own resources. The replica holding the Lease
//! `kaptain-operator-leader` reconciles after each burst of changes: it builds a
//! [`kaptain_index::ClusterIndex`] from the reflectors, runs the analyzers, keeps first-seen
//! times per finding (persisted in the ConfigMap `kaptain-operator-state` with the circuit
//! breaker), plans with the HealingPolicies, passes every proposal through the safety guard
//! and records it as a HealingAction, then executes approved actions write-ahead, verifies
//! them and rolls back what did not help (see [`executor`]). Every decision is an Event on the
//! target and a structured log line; `/metrics`, `/healthz` and `/readyz` are served over HTTP.
//!
//! What the `kaptain heal` commands do without an operator running is in
//! [`kaptain_engine::healing::ops`], with what it shares with this loop.

mod adopt;
mod config;
mod controller;
pub mod executor;
mod http;
mod leader;
mod metrics;
mod operator;
mod policy_status;
mod proposals;
mod rollback;
mod target;
pub mod verify;
mod watch;

pub use config::{
    CONFIG_CONFIGMAP, FailPoint, INSTANCE_ANNOTATION, KEY_LABEL, LEASE_NAME, MANAGER,
    OperatorConfig, SAFETY_KEY, STATE_CONFIGMAP, default_identity, load_safety, parse_safety,
};
pub use controller::{GUARD_ACTOR, KAPTAIN_ACTOR};
pub use kaptain_engine::healing::watched_kinds;
pub use kaptain_engine::healing::{Error, PersistedState, Result, one_line};
pub use leader::{holder as lease_holder, live_holder as live_lease_holder};
pub use metrics::{Metrics, count_lines};
pub use operator::{Handle, Operator};
