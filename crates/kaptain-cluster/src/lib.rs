//! The ClusterIndex every analyzer reads, and the sources that fill it.
//!
//! - [`offline`]: `kubectl get -o json|yaml` output, multi-document YAML, directories,
//!   `kubectl cluster-info dump` trees and Kaptain snapshots.
//! - [`live`]: a kube client; discovery decides which kinds are served, then concurrent,
//!   paginated LISTs fetch just the kinds asked for.
//! - [`snapshot`]: writes what a live scan read into files `offline` reads back, with every
//!   Secret value redacted.
//! - [`watch`]: reflectors that keep an index live (the operator and the server).

mod error;
pub mod incluster;
mod index;
mod kinds;
pub mod live;
pub mod offline;
mod page;
mod refs;
mod selector;
pub mod snapshot;
pub mod watch;

pub use error::{Error, FileError};
pub use index::{ClusterIndex, ObjKey, Store, event_time, labels_match, selector_matches};
pub use kinds::{AnyObject, Kind};
pub use refs::{RefKind, Reference};
pub use selector::LabelSelector;

/// Metadata that travels with an index: where it came from and what could not be read.
#[derive(Debug, Clone, Default)]
pub struct SourceInfo {
    pub context: Option<String>,
    pub server_version: Option<String>,
    pub skipped: Vec<kaptain_model::Skipped>,
    /// When a snapshot was captured (analysis of a snapshot runs as of that time).
    pub captured_at: Option<jiff::Timestamp>,
}
