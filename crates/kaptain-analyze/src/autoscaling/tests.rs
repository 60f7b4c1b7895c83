use kaptain_index::Kind;

use crate::testutil::{index, run};
use kaptain_index::quantity::parse as quantity;

fn hpa(target: &str, status: &str) -> String {
    format!(
        r#"
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {{name: api, namespace: shop, creationTimestamp: "2025-12-01T00:00:00Z"}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: {target}}}
  minReplicas: 2
  maxReplicas: 10
  metrics:
  - type: Resource
    resource: {{name: cpu, target: {{type: Utilization, averageUtilization: 70}}}}
status:
{status}
"#
    )
}

fn deployment(resources: &str) -> String {
    format!(
        r#"
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: api, namespace: shop}}
spec:
  selector: {{matchLabels: {{app: api}}}}
  template:
    metadata: {{labels: {{app: api}}}}
    spec:
      containers:
      - name: api
        image: shop/api:1
        resources: {resources}
      - name: sidecar
        image: envoy
        resources: {{requests: {{cpu: 50m}}}}
"#
    )
}

const STEADY: &str = "  currentReplicas: 2\n  desiredReplicas: 2";

#[test]
fn missing_target_only_when_deployments_were_collected() {
    let idx = index(&hpa("api-v2", STEADY), &[Kind::Deployment]);
    let f = run("hpa.missing-target", &idx);
    assert_eq!(f.len(), 1);
    assert_eq!(
        f[0].title,
        "HPA shop/api scales Deployment api-v2, which does not exist"
    );
    assert!(f[0].cause_hints.is_empty());
    assert!(run("hpa.missing-target", &index(&hpa("api-v2", STEADY), &[])).is_empty());
    let ok = format!(
        "{}{}",
        hpa("api", STEADY),
        deployment("{requests: {cpu: 100m}}")
    );
    assert!(run("hpa.missing-target", &index(&ok, &[])).is_empty());
}

#[test]
fn missing_cpu_request_is_flagged_with_a_patch() {
    let yaml = format!("{}{}", hpa("api", STEADY), deployment("{}"));
    let f = run("hpa.missing-requests", &index(&yaml, &[]));
    assert_eq!(f.len(), 1, "{f:#?}");
    assert!(f[0].title.contains("container api"), "{}", f[0].title);
    assert!(!f[0].title.contains("sidecar"));
    assert!(
        f[0].remediation
            .patch
            .as_deref()
            .is_some_and(|p| p.contains("cpu: 100m"))
    );
    // A limit alone is defaulted into a request; a request is fine.
    for ok in ["{limits: {cpu: 500m}}", "{requests: {cpu: 100m}}"] {
        let yaml = format!("{}{}", hpa("api", STEADY), deployment(ok));
        assert!(
            run("hpa.missing-requests", &index(&yaml, &[])).is_empty(),
            "{ok}"
        );
    }
}

#[test]
fn at_max_with_load_above_target_is_flagged() {
    let status = r#"  currentReplicas: 10
  desiredReplicas: 10
  currentMetrics:
  - type: Resource
    resource: {name: cpu, current: {averageUtilization: 180, averageValue: 900m}}
  conditions:
  - {type: ScalingLimited, status: "True", reason: TooManyReplicas, message: "the desired replica count is more than the maximum replica count"}"#;
    let f = run("hpa.at-max", &index(&hpa("api", status), &[]));
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(
        f[0].title,
        "HPA shop/api is at maxReplicas (10) and wants more"
    );
    assert!(
        f[0].evidence
            .iter()
            .any(|e| e.detail.contains("cpu: 180% of requests (target 70%)"))
    );
    assert!(
        f[0].remediation
            .patch
            .as_deref()
            .is_some_and(|p| p.contains("maxReplicas: 15"))
    );
}

#[test]
fn hpa_at_min_or_calm_at_max_is_not_flagged() {
    let at_min = r#"  currentReplicas: 2
  desiredReplicas: 2
  currentMetrics:
  - type: Resource
    resource: {name: cpu, current: {averageUtilization: 5}}
  conditions:
  - {type: ScalingLimited, status: "True", reason: TooFewReplicas, message: "the desired replica count is less than the minimum replica count"}"#;
    assert!(run("hpa.at-max", &index(&hpa("api", at_min), &[])).is_empty());
    // At max but load within target: nothing to add.
    let calm = r#"  currentReplicas: 10
  desiredReplicas: 10
  currentMetrics:
  - type: Resource
    resource: {name: cpu, current: {averageUtilization: 72}}
  conditions:
  - {type: ScalingLimited, status: "False", reason: DesiredWithinRange}"#;
    assert!(run("hpa.at-max", &index(&hpa("api", calm), &[])).is_empty());
}

#[test]
fn unable_to_scale_hints_target_and_respects_grace() {
    let status = |since: &str| {
        format!(
            r#"  currentReplicas: 2
  desiredReplicas: 2
  conditions:
  - {{type: AbleToScale, status: "True", reason: SucceededGetScale}}
  - {{type: ScalingActive, status: "False", reason: FailedGetResourceMetric, lastTransitionTime: "{since}", message: "the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get metrics for resource cpu"}}"#
        )
    };
    let f = run(
        "hpa.unable-to-scale",
        &index(&hpa("api", &status("2026-01-01T11:00:00Z")), &[]),
    );
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(
        f[0].title,
        "HPA shop/api cannot scale Deployment api: FailedGetResourceMetric"
    );
    assert!(
        f[0].cause_hints
            .iter()
            .any(|h| h.display() == "Deployment/shop/api")
    );
    assert!(
        run(
            "hpa.unable-to-scale",
            &index(&hpa("api", &status("2026-01-01T11:58:00Z")), &[])
        )
        .is_empty()
    );
    assert!(run("hpa.unable-to-scale", &index(&hpa("api", STEADY), &[])).is_empty());
}

#[test]
fn quantities_parse() {
    assert_eq!(quantity("250m"), Some(0.25));
    assert_eq!(quantity("1Gi"), Some(1024.0 * 1024.0 * 1024.0));
    assert_eq!(quantity("2k"), Some(2000.0));
    assert_eq!(quantity("1e3"), Some(1000.0));
    assert_eq!(quantity("abc"), None);
}
