//! The ClusterIndex every analyzer reads: one typed store per kind, addressable by namespace
//! and name, with owner chains, who selects whom, who references which ConfigMap, Secret, PVC
//! or ServiceAccount, and the events of each object.
//!
//! Pure: it knows nothing of how objects arrive. `kaptain-sources` fills it from live
//! clusters (LIST and watch) and from files; analyzers, the healing planner and chat read it.

pub mod identity;
mod index;
mod kinds;
pub mod quantity;
mod refs;
mod selector;

pub use index::{ClusterIndex, Iter, ObjKey, Table, event_time, labels_match, selector_matches};
pub use kinds::{AnyObject, Kind, Listed, Tables};
pub use refs::{RefKind, Reference, pod_spec_refs};
pub use selector::LabelSelector;

#[doc(hidden)]
pub use k8s_openapi as __k8s;

/// Event reasons no check reads and every pod start writes (four Normal events per pod):
/// live sources leave them out on the server side (a field selector), which keeps the
/// largest store of a big cluster small. `Pulling`, `Killing` and `SuccessfulCreate`, which
/// checks do read, stay.
pub const UNREAD_EVENT_REASONS: &[&str] = &["Scheduled", "Pulled", "Created", "Started"];

/// Metadata that travels with an index: where it came from and what could not be read.
#[derive(Debug, Clone, Default)]
pub struct SourceInfo {
    pub context: Option<String>,
    pub server_version: Option<String>,
    pub skipped: Vec<kaptain_model::Skipped>,
    /// When a snapshot was captured (analysis of a snapshot runs as of that time).
    pub captured_at: Option<jiff::Timestamp>,
}
