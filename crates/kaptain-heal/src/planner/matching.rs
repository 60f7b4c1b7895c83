//! Whether a policy answers a finding.

use std::collections::BTreeMap;

use jiff::Timestamp;
use kaptain_index::{ClusterIndex, selector_matches};
use kaptain_model::Finding;

use super::resolve::{labels_of, namespace_labels};
use crate::crd::{FindingMatch, Policy, PolicyKind};
use crate::guard::duration_secs;

/// How a policy relates to a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// The policy answers the finding now.
    Yes,
    /// It will once the finding has lasted long enough (the reason says how long).
    NotYet(String),
    /// It does not answer it.
    No,
}

/// Whether `policy` answers `finding`. `first_seen` holds when Kaptain first saw each finding
/// (by fingerprint); a finding not in it counts as first seen `now`.
pub fn matches(
    policy: &Policy,
    finding: &Finding,
    idx: &ClusterIndex,
    first_seen: &BTreeMap<String, Timestamp>,
    now: Timestamp,
) -> Match {
    let ns = finding.object.namespace.as_deref();
    if policy.reference.kind == PolicyKind::HealingPolicy
        && (ns.is_none() || ns != policy.reference.namespace.as_deref())
    {
        return Match::No;
    }
    if !criteria_hold(&policy.spec.selector, finding, idx) {
        return Match::No;
    }
    if let Some(d) = &policy.spec.selector.for_duration {
        let wait = duration_secs(d);
        let since = first_seen.get(&finding.fingerprint).copied().unwrap_or(now);
        let lasted = now.as_second().saturating_sub(since.as_second());
        if lasted < wait {
            return Match::NotYet(format!(
                "the finding has lasted {lasted}s of the {wait}s the policy waits for"
            ));
        }
    }
    Match::Yes
}

/// Every criterion of a match except the duration.
fn criteria_hold(m: &FindingMatch, f: &Finding, idx: &ClusterIndex) -> bool {
    let ns = f.object.namespace.as_deref();
    if !m.checks.is_empty()
        && !m.checks.iter().any(|c| {
            let c = c.trim();
            f.id == c
                || f.id
                    .strip_prefix(c)
                    .is_some_and(|rest| rest.starts_with('.'))
        })
    {
        return false;
    }
    if !m.categories.is_empty() && !m.categories.contains(&f.category) {
        return false;
    }
    if m.min_severity.is_some_and(|s| f.severity < s) {
        return false;
    }
    if !m.namespaces.is_empty() && !ns.is_some_and(|ns| m.namespaces.iter().any(|n| n == ns)) {
        return false;
    }
    if let Some(sel) = &m.namespace_selector {
        if ns.is_none() {
            return false;
        }
        if !selector_matches(sel, Some(&namespace_labels(idx, ns))) {
            return false;
        }
    }
    if let Some(sel) = &m.selector
        && !selector_matches(sel, Some(&labels_of(idx, &f.object)))
    {
        return false;
    }
    true
}
