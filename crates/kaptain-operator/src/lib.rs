//! Kaptain's healing operator.
//!
//! Every replica keeps reflectors warm for the kinds the analyzers need (those the server
//! serves) and for Kaptain's own resources. The replica holding the Lease
//! `kaptain-operator-leader` reconciles after each burst of changes: it builds a
//! [`kaptain_cluster::ClusterIndex`] from the stores, runs the analyzers, keeps first-seen
//! times per finding (persisted in the ConfigMap `kaptain-operator-state` with the circuit
//! breaker), plans with the HealingPolicies, passes every proposal through the safety guard
//! and records it as a HealingAction, then executes approved actions write-ahead, verifies
//! them and rolls back what did not help (see [`executor`]). Every decision is an Event on the
//! target and a structured log line; `/metrics`, `/healthz` and `/readyz` are served over HTTP.
//!
//! [`ops`] holds what the `kaptain heal` commands do without an operator running.

mod adopt;
mod config;
mod controller;
mod error;
pub mod executor;
mod http;
mod leader;
mod metrics;
mod operator;
pub mod ops;
mod policy_status;
mod proposals;
mod recorder;
mod rollback;
mod state;
mod target;
pub mod verify;
mod watch;

pub use config::{
    CONFIG_CONFIGMAP, FailPoint, INSTANCE_ANNOTATION, KEY_LABEL, LEASE_NAME, MANAGER,
    OperatorConfig, SAFETY_KEY, STATE_CONFIGMAP, default_identity, load_safety, parse_safety,
};
pub use controller::{GUARD_ACTOR, KAPTAIN_ACTOR};
pub use error::{Error, Result, one_line};
pub use leader::holder as lease_holder;
pub use metrics::{Metrics, count_lines};
pub use operator::{Handle, Operator, watched_kinds};
pub use state::PersistedState;
