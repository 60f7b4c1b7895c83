//! One scan: objects from a source → index → every selected check and the correlator →
//! report. The CLI's `diagnose`, the server's live clusters and on-demand runs, and the
//! healing planner all analyze through here.

use std::path::PathBuf;

use jiff::Timestamp;
use kaptain_analyze::Check;
use kaptain_index::{AnyObject, ClusterIndex, LabelSelector, SourceInfo};
use kaptain_model::{Finding, Report, ReportSource, Severity, Skipped, SourceKind};
use kaptain_sources::live::{Cluster, LiveOptions, Progress, selector_applies};
use kaptain_sources::{Error, FileError, offline};

/// The findings of `checks` on `idx` as of `now`, correlated (root causes marked, symptoms
/// linked to them).
pub fn findings(idx: &ClusterIndex, checks: &[&Check], now: Timestamp) -> Vec<Finding> {
    kaptain_analyze::analyze(idx, checks, now)
}

/// A report of `checks` on `idx` as of `now`.
pub fn report(
    idx: &ClusterIndex,
    source: ReportSource,
    skipped: Vec<Skipped>,
    checks: &[&Check],
    now: Timestamp,
) -> Report {
    Report::new(source, skipped, findings(idx, checks, now))
}

/// The source block of a report from `info`.
pub fn source(kind: SourceKind, info: &SourceInfo) -> ReportSource {
    ReportSource {
        kind,
        context: info.context.clone(),
        server_version: info.server_version.clone(),
    }
}

/// Keeps findings at or above `min` (in `namespace`, plus cluster-scoped ones), and every
/// finding they trace back to, so no `caused_by` dangles.
pub fn keep(findings: Vec<Finding>, min: Severity, namespace: Option<&str>) -> Vec<Finding> {
    let in_namespace = |f: &Finding| match (namespace, f.object.namespace.as_deref()) {
        (Some(ns), Some(o)) => ns == o,
        _ => true,
    };
    kaptain_model::with_causes(
        &findings,
        |f| f.severity >= min && in_namespace(f),
        |_| true,
    )
}

/// An index read from files, with what could not be read.
pub struct FilesIndex {
    pub index: ClusterIndex,
    pub info: SourceInfo,
    /// One per file or object that could not be read; the rest was still read.
    pub errors: Vec<FileError>,
}

/// Reads `paths` (snapshots, `kubectl get -o json|yaml` output, YAML, directories,
/// `cluster-info dump` trees) into an index, keeping only the objects `selector` matches
/// (of the kinds a selector applies to). Fails only when nothing at all could be read.
pub fn files(paths: &[PathBuf], selector: Option<&LabelSelector>) -> Result<FilesIndex, Error> {
    let loaded = offline::load_paths(paths)?;
    if loaded.objects.is_empty() {
        let shown = paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(Error::NothingLoaded(shown.into()));
    }
    let objects = filter_by_selector(loaded.objects, selector);
    Ok(FilesIndex {
        index: ClusterIndex::build(objects, &loaded.declared_kinds),
        info: loaded.info,
        errors: loaded.errors,
    })
}

fn filter_by_selector(objects: Vec<AnyObject>, sel: Option<&LabelSelector>) -> Vec<AnyObject> {
    match sel {
        None => objects,
        Some(sel) => objects
            .into_iter()
            .filter(|o| !selector_applies(o.kind()) || sel.matches(o.metadata().labels.as_ref()))
            .collect(),
    }
}

/// Reads what `checks` need from a connected cluster (discovery, then concurrent paginated
/// LISTs; kinds not served or forbidden go to `skipped`).
pub async fn live(
    cluster: &Cluster,
    opts: &LiveOptions,
    checks: &[&Check],
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<(ClusterIndex, SourceInfo), Error> {
    let kinds = kaptain_analyze::needed_kinds(checks);
    cluster.load(&kinds, opts, progress).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop() -> Vec<PathBuf> {
        vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/broken-shop")]
    }

    #[test]
    fn files_to_report_finds_the_missing_configmap_as_a_root_cause() {
        let f = files(&shop(), None).expect("broken-shop loads");
        assert!(f.errors.is_empty(), "{:?}", f.errors);
        let now = f.info.captured_at.expect("snapshot time");
        let checks: Vec<&Check> = kaptain_analyze::catalog().iter().collect();
        let r = report(
            &f.index,
            source(SourceKind::Snapshot, &f.info),
            Vec::new(),
            &checks,
            now,
        );
        let root = r
            .findings
            .iter()
            .find(|x| x.id == "config.missing-configmap")
            .expect("missing ConfigMap found");
        assert!(root.root_cause);
        assert!(
            r.findings
                .iter()
                .any(|x| x.caused_by.contains(&root.fingerprint)),
            "something is a symptom of the missing ConfigMap"
        );
    }

    #[test]
    fn keep_keeps_the_causes_of_what_it_keeps() {
        let f = files(&shop(), None).expect("broken-shop loads");
        let now = f.info.captured_at.expect("snapshot time");
        let checks: Vec<&Check> = kaptain_analyze::catalog().iter().collect();
        let all = findings(&f.index, &checks, now);
        let kept = keep(all.clone(), Severity::Critical, None);
        assert!(!kept.is_empty() && kept.len() < all.len());
        for k in &kept {
            for c in &k.caused_by {
                assert!(
                    kept.iter().any(|x| &x.fingerprint == c),
                    "dangling cause {c}"
                );
            }
        }
    }

    #[test]
    fn a_selector_filters_only_the_kinds_it_applies_to() {
        let sel = LabelSelector::parse("app=nothing-has-this").expect("selector");
        let f = files(&shop(), Some(&sel)).expect("broken-shop loads");
        assert_eq!(f.index.count(kaptain_index::Kind::Pod), 0);
        assert!(
            f.index.count(kaptain_index::Kind::Node) > 0,
            "nodes are never filtered"
        );
    }

    #[test]
    fn nothing_readable_is_one_error() {
        let d = tempfile::tempdir().expect("tempdir");
        let e = files(&[d.path().to_path_buf()], None)
            .err()
            .expect("an error");
        assert!(e.to_string().contains("no Kubernetes objects"), "{e}");
    }
}
