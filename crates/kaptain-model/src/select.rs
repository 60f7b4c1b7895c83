//! Selecting findings without breaking cause chains.

use std::collections::{HashMap, HashSet};

use crate::Finding;

/// The findings `wanted` accepts, plus — transitively — the causes they link to through
/// `caused_by` that `allowed` accepts, in their original order. A kept symptom therefore never
/// points at a cause that was filtered out (unless `allowed` hides it, e.g. outside a scope).
pub fn with_causes(
    findings: &[Finding],
    wanted: impl Fn(&Finding) -> bool,
    allowed: impl Fn(&Finding) -> bool,
) -> Vec<Finding> {
    let by_fp: HashMap<&str, &Finding> = findings
        .iter()
        .map(|f| (f.fingerprint.as_str(), f))
        .collect();
    let mut keep: HashSet<&str> = HashSet::new();
    let mut stack: Vec<&Finding> = findings.iter().filter(|f| wanted(f)).collect();
    while let Some(f) = stack.pop() {
        if keep.insert(f.fingerprint.as_str()) {
            stack.extend(
                f.caused_by
                    .iter()
                    .filter_map(|c| by_fp.get(c.as_str()).copied())
                    .filter(|c| allowed(c)),
            );
        }
    }
    findings
        .iter()
        .filter(|f| keep.contains(f.fingerprint.as_str()))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Category, ObjectRef, Severity};

    fn f(fp: &str, sev: Severity, ns: &str, causes: &[&str]) -> Finding {
        let object = ObjectRef::new("v1", "Pod", Some(ns), fp);
        Finding {
            fingerprint: fp.into(),
            confidence: 1.0,
            ..Finding::new("x.y", sev, Category::Reliability, object)
                .caused_by(causes.iter().copied())
        }
    }

    #[test]
    fn keeps_causes_of_kept_findings_transitively() {
        let all = vec![
            f("a", Severity::Low, "x", &[]),
            f("b", Severity::Medium, "x", &["a"]),
            f("c", Severity::High, "x", &["b"]),
            f("d", Severity::Low, "y", &[]),
        ];
        let kept = with_causes(&all, |f| f.severity >= Severity::High, |_| true);
        let fps: Vec<&str> = kept.iter().map(|f| f.fingerprint.as_str()).collect();
        assert_eq!(fps, ["a", "b", "c"]);
        // A cause that `allowed` hides is not pulled in, nor anything behind it.
        let kept = with_causes(
            &all,
            |f| f.severity >= Severity::High,
            |f| f.fingerprint != "b",
        );
        let fps: Vec<&str> = kept.iter().map(|f| f.fingerprint.as_str()).collect();
        assert_eq!(fps, ["c"]);
    }

    #[test]
    fn cycles_terminate() {
        let all = vec![
            f("a", Severity::High, "x", &["b"]),
            f("b", Severity::Low, "x", &["a"]),
        ];
        assert_eq!(
            with_causes(&all, |f| f.fingerprint == "a", |_| true).len(),
            2
        );
    }
}
