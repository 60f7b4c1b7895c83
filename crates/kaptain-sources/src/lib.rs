//! Where a [`ClusterIndex`](kaptain_index::ClusterIndex) comes from, and where it goes.
//!
//! - [`live`]: a kube client ([`live::connect`] is the one way to reach a cluster: a
//!   kubeconfig context or the in-cluster service account); discovery decides which kinds are
//!   served, then concurrent, paginated LISTs fetch just the kinds asked for.
//! - [`offline`]: `kubectl get -o json|yaml` output, multi-document YAML, directories,
//!   `kubectl cluster-info dump` trees and Kaptain snapshots.
//! - [`snapshot`]: writes what a live scan read into files `offline` reads back, with every
//!   Secret value redacted.
//! - [`watch`]: reflectors that keep an index live (the operator and the server).

mod error;
pub mod incluster;
mod list;
pub mod live;
pub mod offline;
mod page;
pub mod snapshot;
pub mod watch;

pub use error::{Error, FileError};
