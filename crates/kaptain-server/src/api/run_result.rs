//! What a finished diagnose run keeps as its result (`Run.summary`): the report's counts and
//! its root causes, each with the symptoms that trace back to it — enough to answer "what is
//! broken and why" without reading the whole findings history.

use std::collections::{HashMap, HashSet};

use kaptain_model::{Finding, Report};
use kaptain_store::ScanDiff;
use serde_json::{Value, json};

/// Root causes kept in a run's result, worst first (the findings history has every one).
pub const MAX_ROOT_CAUSES: usize = 100;
/// Symptoms kept per root cause.
pub const MAX_SYMPTOMS: usize = 50;

/// The result of a run whose analysis produced `report` and whose recording changed the
/// history by `diff` — `None` when another replica records the cluster's history (then
/// `recorded` is false and `appeared`/`cleared` are absent: that replica's next scan records
/// what this run saw).
pub fn summary(report: &Report, diff: Option<&ScanDiff>) -> Value {
    let findings = &report.findings;
    let symptoms = symptoms_by_root(findings);
    let mut roots: Vec<&Finding> = findings.iter().filter(|f| f.root_cause).collect();
    roots.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.fingerprint.cmp(&b.fingerprint))
    });
    let total_roots = roots.len();
    let root_causes: Vec<Value> = roots
        .into_iter()
        .take(MAX_ROOT_CAUSES)
        .map(|r| {
            let of_root = symptoms
                .get(r.fingerprint.as_str())
                .map(Vec::as_slice)
                .unwrap_or_default();
            json!({
                "id": r.id,
                "fingerprint": r.fingerprint,
                "severity": r.severity,
                "object": r.object,
                "title": r.title,
                "symptom_count": of_root.len(),
                "symptoms": of_root.iter().take(MAX_SYMPTOMS).map(|s| json!({
                    "id": s.id,
                    "fingerprint": s.fingerprint,
                    "severity": s.severity,
                    "object": s.object,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut v = json!({
        "summary": report.summary,
        "recorded": diff.is_some(),
        "findings": findings.len(),
        "root_cause_count": total_roots,
        "root_causes": root_causes,
    });
    if let Some(diff) = diff {
        v["appeared"] = json!(diff.appeared.len());
        v["cleared"] = json!(diff.cleared.len());
    }
    v
}

/// For each root cause (by fingerprint), the findings that trace back to it through
/// `caused_by` links, in report order.
fn symptoms_by_root(findings: &[Finding]) -> HashMap<&str, Vec<&Finding>> {
    let by_fp: HashMap<&str, &Finding> = findings
        .iter()
        .map(|f| (f.fingerprint.as_str(), f))
        .collect();
    let mut out: HashMap<&str, Vec<&Finding>> = HashMap::new();
    for f in findings.iter().filter(|f| !f.caused_by.is_empty()) {
        let mut stack: Vec<&str> = f.caused_by.iter().map(String::as_str).collect();
        let mut seen = HashSet::new();
        let mut roots = HashSet::new();
        while let Some(fp) = stack.pop() {
            if !seen.insert(fp) {
                continue;
            }
            let Some(cause) = by_fp.get(fp) else { continue };
            if cause.root_cause {
                roots.insert(cause.fingerprint.as_str());
            }
            stack.extend(cause.caused_by.iter().map(String::as_str));
        }
        for root in roots {
            out.entry(root).or_default().push(f);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaptain_model::{Category, ObjectRef, Severity, SourceKind};

    fn finding(id: &str, kind: &str, name: &str, caused_by: &[&str]) -> Finding {
        let object = ObjectRef::new("v1", kind, Some("shop"), name);
        Finding {
            title: format!("{kind} {name}"),
            ..Finding::new(id, Severity::High, Category::Config, object)
                .caused_by(caused_by.iter().copied())
        }
    }

    #[test]
    fn symptoms_are_traced_through_chains_to_their_root() {
        let root = finding("config.missing-configmap", "ConfigMap", "cfg", &[]);
        let pod = finding(
            "pod.create-container-config-error",
            "Pod",
            "api-1",
            &[&root.fingerprint],
        );
        let svc = finding(
            "service.no-ready-endpoints",
            "Service",
            "api",
            &[&pod.fingerprint],
        );
        let other = finding("pod.crash-loop", "Pod", "x", &[]);
        let report = Report::new(
            kaptain_model::ReportSource {
                kind: SourceKind::Live,
                context: Some("c".into()),
                server_version: None,
            },
            vec![],
            vec![root.clone(), pod, svc, other],
        );
        let v = summary(&report, Some(&ScanDiff::default()));
        assert_eq!(
            (v["recorded"].as_bool(), v["appeared"].as_u64()),
            (Some(true), Some(0))
        );
        let elsewhere = summary(&report, None);
        assert_eq!(elsewhere["recorded"], false);
        assert!(elsewhere.get("appeared").is_none() && elsewhere.get("cleared").is_none());
        assert_eq!(v["root_cause_count"], 2);
        let roots = v["root_causes"].as_array().expect("array");
        let cfg = roots
            .iter()
            .find(|r| r["id"] == "config.missing-configmap")
            .expect("the ConfigMap root");
        let ids: Vec<&str> = cfg["symptoms"]
            .as_array()
            .expect("symptoms")
            .iter()
            .filter_map(|s| s["id"].as_str())
            .collect();
        assert_eq!(
            ids,
            vec![
                "pod.create-container-config-error",
                "service.no-ready-endpoints"
            ]
        );
        let crash = roots
            .iter()
            .find(|r| r["id"] == "pod.crash-loop")
            .expect("the other root");
        assert_eq!(crash["symptom_count"], 0);
    }
}
