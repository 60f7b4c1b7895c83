//! Links symptoms to causes and marks root causes.
//!
//! Analyzers know where a finding's cause may lie and say so with cause hints (a Service's
//! selected pods, a Deployment's pods, the ConfigMap a pod misses, the node a pod runs on).
//! The correlator turns a hint into a `caused_by` link when a finding exists on the hinted
//! object. A finding with no cause is a root cause. Links that would close a cycle are
//! dropped, so every chain ends in a root cause.

use std::collections::HashMap;

use kaptain_model::{Finding, Severity};

pub fn correlate(findings: &mut [Finding]) {
    // Findings by object identity (kind, namespace, name; apiVersion ignored).
    let mut by_object: HashMap<(&str, Option<&str>, &str), Vec<usize>> = HashMap::new();
    for (i, f) in findings.iter().enumerate() {
        by_object
            .entry((
                f.object.kind.as_str(),
                f.object.namespace.as_deref(),
                f.object.name.as_str(),
            ))
            .or_default()
            .push(i);
    }
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); findings.len()];
    for (i, f) in findings.iter().enumerate() {
        for h in &f.cause_hints {
            let Some(cands) =
                by_object.get(&(h.kind.as_str(), h.namespace.as_deref(), h.name.as_str()))
            else {
                continue;
            };
            for &j in cands {
                if j == i || findings[j].severity == Severity::Info || edges[i].contains(&j) {
                    continue;
                }
                // A finding on the same object is only a cause if the hint says so and the
                // other finding does not itself point back at this object.
                if !reaches(&edges, j, i) {
                    edges[i].push(j);
                }
            }
        }
    }
    for (i, e) in edges.iter().enumerate() {
        let mut causes: Vec<String> = e.iter().map(|&j| findings[j].fingerprint.clone()).collect();
        causes.sort();
        causes.dedup();
        findings[i].root_cause = causes.is_empty();
        findings[i].caused_by = causes;
    }
}

/// Whether `to` is reachable from `from` along cause edges.
fn reaches(edges: &[Vec<usize>], from: usize, to: usize) -> bool {
    let mut stack = vec![from];
    let mut seen = vec![false; edges.len()];
    while let Some(n) = stack.pop() {
        if n == to {
            return true;
        }
        if std::mem::replace(&mut seen[n], true) {
            continue;
        }
        stack.extend(edges[n].iter().copied());
    }
    false
}

/// The root causes a finding ultimately traces back to (itself if it is one).
#[cfg(test)]
pub fn roots_of<'a>(findings: &'a [Finding], f: &'a Finding) -> Vec<&'a Finding> {
    let by_fp: HashMap<&str, &Finding> = findings
        .iter()
        .map(|f| (f.fingerprint.as_str(), f))
        .collect();
    let mut out: Vec<&Finding> = Vec::new();
    let mut stack = vec![f];
    let mut seen = std::collections::HashSet::new();
    while let Some(n) = stack.pop() {
        if !seen.insert(n.fingerprint.as_str()) {
            continue;
        }
        if n.caused_by.is_empty() {
            out.push(n);
        }
        for c in &n.caused_by {
            if let Some(x) = by_fp.get(c.as_str()) {
                stack.push(x);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaptain_model::{Category, ObjectRef};

    fn f(id: &str, kind: &str, name: &str, hints: &[(&str, &str)]) -> Finding {
        let object = ObjectRef::new("v1", kind, Some("ns"), name);
        Finding {
            cause_hints: hints
                .iter()
                .map(|(k, n)| ObjectRef::new("v1", k, Some("ns"), n))
                .collect(),
            ..Finding::new(id, Severity::High, Category::Reliability, object)
        }
    }

    #[test]
    fn chain_service_pod_configmap() {
        let mut v = vec![
            f(
                "service.no-ready-endpoints",
                "Service",
                "api",
                &[("Pod", "api-1")],
            ),
            f(
                "pod.create-container-config-error",
                "Pod",
                "api-1",
                &[("ConfigMap", "cfg")],
            ),
            f("config.missing-configmap", "ConfigMap", "cfg", &[]),
            f("node.not-ready", "Node", "n1", &[]),
        ];
        correlate(&mut v);
        assert!(!v[0].root_cause && v[0].caused_by == vec![v[1].fingerprint.clone()]);
        assert!(!v[1].root_cause && v[1].caused_by == vec![v[2].fingerprint.clone()]);
        assert!(v[2].root_cause && v[3].root_cause);
        let roots = roots_of(&v, &v[0]);
        assert_eq!(roots.len(), 1);
        assert_eq!(roots[0].id, "config.missing-configmap");
    }

    #[test]
    fn cycles_are_broken_and_info_is_never_a_cause() {
        let mut v = vec![
            f("a", "Pod", "p", &[("Pod", "q")]),
            f("b", "Pod", "q", &[("Pod", "p")]),
            f("c", "Service", "s", &[("CronJob", "cj")]),
            f("d", "CronJob", "cj", &[]),
        ];
        v[3].severity = Severity::Info;
        correlate(&mut v);
        assert!(!v[0].root_cause, "a is caused by b");
        assert!(v[1].root_cause, "b's link back to a would close a cycle");
        assert!(v[2].root_cause, "info findings are not causes");
    }
}
