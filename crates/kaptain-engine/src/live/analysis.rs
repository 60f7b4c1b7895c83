//! One analysis of a cluster: index → checks and correlation → report, plus the summaries
//! that depend on them; and what changed since the previous report.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use kaptain_analyze::Check;
use kaptain_index::{ClusterIndex, Kind};
use kaptain_model::{Finding, Report, ReportSource, Skipped, SourceKind};

use super::status::ReportChange;
use super::summary::{
    NamespaceRow, NodeRow, WarningEvent, namespace_table, node_table, warning_events,
};

/// Everything one analysis produces.
pub(crate) struct Analysis {
    pub report: Arc<Report>,
    pub nodes: Arc<Vec<NodeRow>>,
    pub namespaces: Arc<Vec<NamespaceRow>>,
    pub warnings: Arc<Vec<WarningEvent>>,
    pub objects: usize,
}

/// Runs `checks` on `idx` as of `now` (with correlation, as `kaptain diagnose` does) and
/// builds the summaries.
pub(crate) fn analyze(
    idx: &ClusterIndex,
    checks: &[&Check],
    now: Timestamp,
    source: ReportSource,
    skipped: Vec<Skipped>,
    warnings_kept: usize,
) -> Analysis {
    let report = crate::scan::report(idx, source, skipped, checks, now);
    Analysis {
        nodes: Arc::new(node_table(idx, Some(&report))),
        namespaces: Arc::new(namespace_table(idx, Some(&report))),
        warnings: Arc::new(warning_events(idx, warnings_kept)),
        objects: idx.loaded_kinds().iter().map(|&k| idx.count(k)).sum(),
        report: Arc::new(report),
    }
}

/// The source block of a live cluster's report.
pub(crate) fn live_source(cluster: &str, server_version: Option<String>) -> ReportSource {
    ReportSource {
        kind: SourceKind::Live,
        context: Some(cluster.to_string()),
        server_version,
    }
}

/// What changed from `prev` to `next` (everything appeared when there is no `prev`).
pub fn diff(prev: Option<&Report>, next: &Report) -> ReportChange {
    let before: HashMap<&str, &Finding> = prev
        .map(|r| r.findings.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|f| (f.fingerprint.as_str(), f))
        .collect();
    let after: HashMap<&str, &Finding> = next
        .findings
        .iter()
        .map(|f| (f.fingerprint.as_str(), f))
        .collect();
    let mut change = ReportChange::default();
    for f in &next.findings {
        match before.get(f.fingerprint.as_str()) {
            None => change.appeared.push(f.fingerprint.clone()),
            Some(b) => {
                if b.severity != f.severity
                    || b.root_cause != f.root_cause
                    || b.caused_by != f.caused_by
                {
                    change.changed += 1;
                }
            }
        }
    }
    for f in prev.map(|r| r.findings.as_slice()).unwrap_or_default() {
        if !after.contains_key(f.fingerprint.as_str()) {
            change.cleared.push(f.fingerprint.clone());
        }
    }
    change
}

/// Counts used by the cluster view.
pub(crate) fn counts(idx: &ClusterIndex) -> (usize, usize, usize) {
    (
        idx.count(Kind::Node),
        idx.count(Kind::Namespace),
        idx.count(Kind::Pod),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::summary::tests::{finding, index, report};
    use kaptain_index::identity::is_own_event;
    use kaptain_model::Severity;

    #[test]
    fn diff_reports_appeared_cleared_and_changed() {
        let a = finding("pod.a", Severity::High, Some("s"), "Pod", "a", true);
        let b = finding("pod.b", Severity::High, Some("s"), "Pod", "b", true);
        let c = finding("pod.c", Severity::Low, Some("s"), "Pod", "c", false);
        let first = report(vec![a.clone(), b.clone()]);
        let initial = diff(None, &first);
        assert_eq!(initial.appeared.len(), 2);
        assert!(initial.cleared.is_empty());

        let mut b2 = b.clone();
        b2.severity = Severity::Critical;
        let second = report(vec![b2, c.clone()]);
        let d = diff(Some(&first), &second);
        assert_eq!(d.appeared, vec![c.fingerprint.clone()]);
        assert_eq!(d.cleared, vec![a.fingerprint.clone()]);
        assert_eq!(d.changed, 1);
        assert!(!d.is_empty());

        // Same findings with other wording (ages in messages change every run): no change.
        let mut c2 = c.clone();
        c2.message = "stuck for 5m".into();
        let third = report(vec![c2]);
        let fourth = report(vec![c]);
        assert!(diff(Some(&third), &fourth).is_empty());
    }

    #[test]
    fn kaptains_own_events_are_not_evidence() {
        let idx = index(
            r#"
apiVersion: v1
kind: Event
metadata: {name: ours, namespace: shop}
type: Warning
reason: ActionFailed
reportingComponent: kaptain-operator
involvedObject: {kind: Pod, namespace: shop, name: a}
---
apiVersion: v1
kind: Event
metadata: {name: theirs, namespace: shop}
type: Warning
reason: BackOff
source: {component: kubelet}
involvedObject: {kind: Pod, namespace: shop, name: a}
"#,
        );
        let kept: Vec<String> = idx
            .objects
            .events
            .iter()
            .filter(|e| !is_own_event(e))
            .map(|e| e.metadata.name.clone().unwrap_or_default())
            .collect();
        assert_eq!(kept, vec!["theirs"]);
    }
}
