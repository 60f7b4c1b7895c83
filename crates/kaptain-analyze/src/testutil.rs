//! Fixtures for analyzer unit tests: build an index from YAML text and run one check.

use kaptain_index::{ClusterIndex, Kind};
use kaptain_model::Finding;
use kaptain_sources::offline;

use crate::catalog::catalog;
use crate::check::Ctx;

/// A fixed "now" for tests: 2026-01-01T12:00:00Z. Fixture timestamps are relative to it.
pub fn now() -> jiff::Timestamp {
    "2026-01-01T12:00:00Z".parse().expect("valid timestamp")
}

/// [`now`] minus `secs`, as a fixture timestamp.
pub fn ago(secs: i64) -> String {
    jiff::Timestamp::from_second(now().as_second() - secs)
        .expect("valid")
        .to_string()
}

/// Builds an index from multi-document YAML. `loaded` adds kinds that count as collected
/// even with no object in the YAML (so "missing X" checks can reason about absence).
pub fn index(yaml: &str, loaded: &[Kind]) -> ClusterIndex {
    let l = offline::load_str("fixture.yaml", yaml);
    assert!(l.errors.is_empty(), "fixture errors: {:?}", l.errors);
    ClusterIndex::build(l.objects, loaded)
}

/// Runs one check (by id) on an index at [`now`].
pub fn run(id: &str, idx: &ClusterIndex) -> Vec<Finding> {
    let check = catalog()
        .iter()
        .find(|c| c.info.id == id)
        .unwrap_or_else(|| panic!("no check {id}"));
    let ctx = Ctx::new(idx, now());
    check.run_on(&ctx)
}

/// Runs every check and the correlator, as `kaptain diagnose` does.
pub fn run_all(idx: &ClusterIndex) -> Vec<Finding> {
    let all: Vec<_> = catalog().iter().collect();
    crate::analyze(idx, &all, now())
}
