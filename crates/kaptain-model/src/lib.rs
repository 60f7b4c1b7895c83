//! Pure types shared by every Kaptain crate. Nothing here talks to a cluster.
//!
//! The JSON shape of [`Report`] is the `kaptain.report/v1` contract: fields may be added,
//! never renamed or removed without a schema bump.

mod finding;
mod report;
pub mod scrub;
mod select;

pub use finding::{
    Category, Evidence, EvidenceSource, Finding, Instance, ObjectRef, Remediation, Severity,
    fingerprint,
};
pub use report::{Report, ReportSource, SCHEMA, Skipped, SourceKind, Summary};
pub use scrub::scrub_text;
pub use select::with_causes;
