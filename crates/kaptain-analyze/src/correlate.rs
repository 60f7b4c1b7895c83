//! Links symptoms to causes and marks root causes.
//!
//! Analyzers know where a finding's cause may lie and say so with cause hints (a Service's
//! selected pods, a Deployment's pods, the ConfigMap a pod misses, the node a pod runs on).
//! The correlator turns a hint into a `caused_by` link when a finding exists on the hinted
//! object. A finding with no cause is a root cause. Links that would close a cycle are
//! dropped, so every chain ends in a root cause. A finding grouped under its workload stands
//! for its pods too: a hint at one of them finds it. Last, every finding gets the worst
//! severity of the chain it starts (`chain_severity`).

use std::collections::HashMap;

use kaptain_model::{Finding, Severity};

pub fn correlate(findings: &mut [Finding]) {
    // Findings by object identity (kind, namespace, name; apiVersion ignored).
    let mut by_object: HashMap<(&str, Option<&str>, &str), Vec<usize>> = HashMap::new();
    for (i, f) in findings.iter().enumerate() {
        for o in std::iter::once(&f.object).chain(f.instances.iter().map(|x| &x.object)) {
            let at = by_object
                .entry((o.kind.as_str(), o.namespace.as_deref(), o.name.as_str()))
                .or_default();
            if at.last() != Some(&i) {
                at.push(i);
            }
        }
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
    let chain = chain_severities(findings, &edges);
    for (i, e) in edges.iter().enumerate() {
        let mut causes: Vec<String> = e.iter().map(|&j| findings[j].fingerprint.clone()).collect();
        causes.sort();
        causes.dedup();
        findings[i].root_cause = causes.is_empty();
        findings[i].caused_by = causes;
        findings[i].chain_severity = Some(chain[i]);
    }
}

/// For each finding, the worst severity among it and everything it causes, directly or not
/// (`edges[i]` are the causes of `i`; the graph has no cycle).
fn chain_severities(findings: &[Finding], edges: &[Vec<usize>]) -> Vec<Severity> {
    let mut chain: Vec<Severity> = findings.iter().map(|f| f.severity).collect();
    // Chains are a few links long: pushing severities up the links until nothing changes
    // takes as many rounds as the longest chain (bounded by the count for safety).
    for _ in 0..findings.len() {
        let mut changed = false;
        for (i, causes) in edges.iter().enumerate() {
            for &j in causes {
                if chain[i] > chain[j] {
                    chain[j] = chain[i];
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    chain
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

    #[test]
    fn a_hint_at_a_pod_finds_the_finding_grouped_under_its_workload() {
        let mut group = f("pod.oom-killed", "Deployment", "api", &[]);
        group.severity = Severity::Critical;
        group.instances = ["api-1", "api-2"]
            .iter()
            .map(|n| kaptain_model::Instance {
                object: ObjectRef::new("v1", "Pod", Some("ns"), n),
                fingerprint: format!("fp-{n}"),
            })
            .collect();
        let mut v = vec![
            f(
                "service.no-ready-endpoints",
                "Service",
                "api",
                &[("Pod", "api-2")],
            ),
            f(
                "deployment.unavailable",
                "Deployment",
                "api",
                &[("Pod", "api-1")],
            ),
            group,
        ];
        v[0].severity = Severity::Medium;
        correlate(&mut v);
        assert_eq!(v[0].caused_by, vec![v[2].fingerprint.clone()]);
        assert_eq!(v[1].caused_by, vec![v[2].fingerprint.clone()]);
        assert!(v[2].root_cause);
        assert_eq!(v[0].chain_severity, Some(Severity::Medium));
        assert_eq!(v[2].chain_severity, Some(Severity::Critical));
    }

    #[test]
    fn chain_severity_climbs_every_link() {
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
        ];
        v[0].severity = Severity::Critical;
        v[1].severity = Severity::Medium;
        v[2].severity = Severity::Low;
        correlate(&mut v);
        assert_eq!(v[2].chain_severity, Some(Severity::Critical));
        assert_eq!(v[1].chain_severity, Some(Severity::Critical));
        assert_eq!(
            v[2].severity,
            Severity::Low,
            "the check's own severity stays"
        );
        assert_eq!(v[2].urgency(), Severity::Critical);
    }
}
