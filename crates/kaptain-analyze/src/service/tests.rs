use kaptain_index::Kind;
use kaptain_model::Severity;

use crate::testutil::{ago, index, run};

const OLD: &str = "2025-12-01T00:00:00Z";

fn svc(name: &str, selector: &str, ports: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: shop, creationTimestamp: \"{OLD}\"}}\n\
         spec: {{selector: {{{selector}}}, ports: [{ports}]}}\n"
    )
}

fn pod(name: &str, labels: &str, ready: bool, created: &str, ports: &str) -> String {
    let state = if ready {
        "running: {}"
    } else {
        "waiting: {reason: CrashLoopBackOff}"
    };
    format!(
        "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: shop, labels: {{{labels}}}, creationTimestamp: \"{created}\"}}\n\
         spec: {{containers: [{{name: app, image: x, ports: [{ports}]}}]}}\n\
         status: {{phase: Running, podIP: 10.0.0.9, conditions: [{{type: Ready, status: \"{}\"}}], \
         containerStatuses: [{{name: app, image: x, imageID: '', ready: {ready}, restartCount: 4, state: {{{state}}}}}]}}\n",
        if ready { "True" } else { "False" }
    )
}

#[test]
fn selector_no_match_suggests_the_near_miss() {
    let yaml = format!(
        "{}{}{}{}",
        svc("web", "app: web-frontend", "{port: 80}"),
        pod("frontend-1", "app: frontend", true, OLD, ""),
        pod("frontend-2", "app: frontend", true, OLD, ""),
        pod("db-0", "app: db, tier: data", true, OLD, ""),
    );
    let f = run("service.selector-no-match", &index(&yaml, &[]));
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].object.name, "web");
    assert!(
        f[0].message
            .contains("Did you mean app=frontend? 2 pods carry it"),
        "{}",
        f[0].message
    );
    assert!(
        f[0].remediation
            .patch
            .as_deref()
            .is_some_and(|p| p.contains(r#""app":"frontend""#))
    );
    assert!(
        !f[0].message.contains("app=db"),
        "unrelated apps are not suggested"
    );
    assert!(
        f[0].cause_hints.is_empty(),
        "a selector typo is a root cause"
    );
}

#[test]
fn selector_no_match_is_quiet_when_pods_match_or_a_workload_is_scaled_to_zero() {
    let ok = format!(
        "{}{}",
        svc("web", "app: web", "{port: 80}"),
        pod("web-1", "app: web", true, OLD, "")
    );
    assert!(run("service.selector-no-match", &index(&ok, &[])).is_empty());
    // Pods not collected: absence proves nothing.
    assert!(
        run(
            "service.selector-no-match",
            &index(&svc("web", "app: web", "{port: 80}"), &[])
        )
        .is_empty()
    );
    let scaled = format!(
        "{}---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: shop}}\n\
         spec: {{replicas: 0, selector: {{matchLabels: {{app: web}}}}, template: {{metadata: {{labels: {{app: web}}}}, spec: {{containers: [{{name: a, image: x}}]}}}}}}\n",
        svc("web", "app: web", "{port: 80}")
    );
    assert!(run("service.selector-no-match", &index(&scaled, &[Kind::Pod])).is_empty());
    assert!(
        run("service.no-ready-endpoints", &index(&scaled, &[Kind::Pod])).is_empty(),
        "scaled to zero on purpose"
    );
}

#[test]
fn no_ready_endpoints_is_critical_and_hints_the_pods() {
    let yaml = format!(
        "{}{}{}{}",
        svc("api", "app: api", "{port: 80, targetPort: 8080}"),
        pod("api-1", "app: api", false, OLD, ""),
        pod("api-2", "app: api", false, OLD, ""),
        pod("api-3", "app: api", false, OLD, ""),
    );
    let f = run("service.no-ready-endpoints", &index(&yaml, &[]));
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].severity, Severity::Critical);
    assert_eq!(
        f[0].title,
        "Service shop/api has no ready endpoints (3 pods match, 0 ready)"
    );
    assert_eq!(f[0].cause_hints.len(), 3);
    assert!(
        f[0].evidence
            .iter()
            .any(|e| e.detail.contains("CrashLoopBackOff"))
    );
}

#[test]
fn no_ready_endpoints_from_endpoints_object_and_partial_is_high() {
    let ep = "---\napiVersion: v1\nkind: Endpoints\nmetadata: {name: api, namespace: shop}\n\
              subsets: [{addresses: [{ip: 10.0.0.1, targetRef: {kind: Pod, name: api-1}}], \
              notReadyAddresses: [{ip: 10.0.0.2, targetRef: {kind: Pod, name: api-2}}], ports: [{port: 8080}]}]\n";
    let yaml = format!(
        "{}{}{}{ep}",
        svc("api", "app: api", "{port: 80, targetPort: 8080}"),
        pod("api-1", "app: api", true, OLD, ""),
        pod("api-2", "app: api", false, OLD, ""),
    );
    let f = run("service.no-ready-endpoints", &index(&yaml, &[]));
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].severity, Severity::High);
    assert!(
        f[0].title.contains("1 of 2 endpoints not ready"),
        "{}",
        f[0].title
    );
    assert_eq!(f[0].cause_hints.len(), 1);
    assert_eq!(f[0].cause_hints[0].name, "api-2");
}

#[test]
fn no_ready_endpoints_quiet_for_healthy_and_fresh_pods() {
    let healthy = format!(
        "{}{}",
        svc("api", "app: api", "{port: 80}"),
        pod("api-1", "app: api", true, OLD, "")
    );
    assert!(run("service.no-ready-endpoints", &index(&healthy, &[])).is_empty());
    let fresh = format!(
        "{}{}",
        svc("api", "app: api", "{port: 80}"),
        pod("api-1", "app: api", false, "2026-01-01T11:59:30Z", "")
    );
    assert!(run("service.no-ready-endpoints", &index(&fresh, &[])).is_empty());
}

#[test]
fn no_ready_endpoints_points_at_a_workload_without_pods() {
    let yaml = format!(
        "{}---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: api, namespace: shop, creationTimestamp: \"{OLD}\"}}\n\
         spec: {{replicas: 3, selector: {{matchLabels: {{app: api}}}}, template: {{metadata: {{labels: {{app: api}}}}, spec: {{containers: [{{name: a, image: x}}]}}}}}}\n",
        svc("api", "app: api", "{port: 80}")
    );
    let f = run("service.no-ready-endpoints", &index(&yaml, &[Kind::Pod]));
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].cause_hints[0].kind, "Deployment");
    assert!(
        f[0].title.contains("Deployment/shop/api wants 3"),
        "{}",
        f[0].title
    );
}

#[test]
fn target_port_mismatch_numeric_and_named() {
    let yaml = format!(
        "{}{}{}",
        svc("api", "app: api", "{port: 80, targetPort: 8080}"),
        svc(
            "named",
            "app: api",
            "{name: web, port: 81, targetPort: web}"
        ),
        pod(
            "api-1",
            "app: api",
            true,
            OLD,
            "{name: http, containerPort: 3000}"
        ),
    );
    let f = run("service.target-port-mismatch", &index(&yaml, &[]));
    assert_eq!(f.len(), 2, "{f:#?}");
    let num = f.iter().find(|f| f.object.name == "api").expect("numeric");
    assert!(num.title.contains("targets port 8080"), "{}", num.title);
    assert!(
        num.evidence
            .iter()
            .any(|e| e.detail.contains("http:3000 (container app)"))
    );
    assert!(
        num.remediation
            .patch
            .as_deref()
            .is_some_and(|p| p.contains(r#""targetPort":3000"#))
    );
    let named = f.iter().find(|f| f.object.name == "named").expect("named");
    assert!(
        named.title.contains(r#"named port "web""#),
        "{}",
        named.title
    );
}

#[test]
fn target_port_mismatch_quiet_when_declared_or_nothing_declared() {
    let yaml = format!(
        "{}{}{}{}",
        svc(
            "api",
            "app: api",
            "{port: 80, targetPort: 3000}, {port: 81, targetPort: http}"
        ),
        pod(
            "api-1",
            "app: api",
            true,
            OLD,
            "{name: http, containerPort: 3000}"
        ),
        // Another service whose pods declare no ports: numeric targetPort is fine.
        svc("bare", "app: bare", "{port: 80, targetPort: 9999}"),
        pod("bare-1", "app: bare", true, OLD, ""),
    );
    assert!(run("service.target-port-mismatch", &index(&yaml, &[])).is_empty());
}

#[test]
fn lb_pending_after_ten_minutes_only() {
    let lb = |name: &str, created: &str| {
        format!(
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: shop, creationTimestamp: \"{created}\"}}\n\
             spec: {{type: LoadBalancer, selector: {{app: web}}, ports: [{{port: 80}}]}}\n"
        )
    };
    let yaml = format!(
        "{}{}---\napiVersion: v1\nkind: Event\nmetadata: {{name: e1, namespace: shop}}\n\
         involvedObject: {{kind: Service, name: old, namespace: shop}}\ntype: Warning\nreason: SyncLoadBalancerFailed\n\
         message: quota exceeded\nlastTimestamp: \"2026-01-01T11:50:00Z\"\n",
        lb("old", "2026-01-01T10:00:00Z"),
        lb("new", "2026-01-01T11:55:00Z")
    );
    let f = run("service.lb-pending", &index(&yaml, &[]));
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].object.name, "old");
    assert!(f[0].title.contains("2h0m"), "{}", f[0].title);
    assert!(
        f[0].evidence
            .iter()
            .any(|e| e.detail.contains("SyncLoadBalancerFailed"))
    );
}

#[test]
fn similar_label_values() {
    assert!(crate::certain::similar("web-frontend", "frontend"));
    assert!(crate::certain::similar("api", "apii"));
    assert!(!crate::certain::similar("web-frontend", "db"));
}

#[test]
fn a_selector_no_pod_or_template_can_match_is_reported_at_30_seconds() {
    let young_svc = |selector: &str| {
        format!(
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: checkout, namespace: shop, creationTimestamp: \"{}\"}}\n\
             spec: {{selector: {{{selector}}}, ports: [{{port: 80}}]}}\n",
            ago(30)
        )
    };
    let deploy = |labels: &str, created: &str| {
        format!(
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: checkout, namespace: shop, creationTimestamp: \"{created}\"}}\n\
             spec: {{replicas: 2, selector: {{matchLabels: {{{labels}}}}}, template: {{metadata: {{labels: {{{labels}}}}}, spec: {{containers: [{{name: a, image: x}}]}}}}}}\n"
        )
    };
    // Certain now: the typo matches no pod and no template, and a pod one edit away exists.
    let typo = format!(
        "{}{}{}",
        young_svc("app: check-out"),
        deploy("app: checkout", &ago(60)),
        pod("checkout-1", "app: checkout", true, &ago(60), ""),
    );
    let f = run("service.selector-no-match", &index(&typo, &[]));
    assert_eq!(f.len(), 1, "{f:#?}");
    assert!(
        f[0].message.contains("Did you mean app=checkout?"),
        "{}",
        f[0].message
    );
    assert!(
        f[0].evidence
            .iter()
            .any(|e| e.detail.starts_with("certain now")),
        "{:#?}",
        f[0].evidence
    );
    // May resolve: the Deployment's template carries the labels, its pods are starting.
    let starting = format!(
        "{}{}",
        young_svc("app: checkout"),
        deploy("app: checkout", &ago(30)),
    );
    assert!(run("service.selector-no-match", &index(&starting, &[Kind::Pod])).is_empty());
    assert!(
        run(
            "service.no-ready-endpoints",
            &index(&starting, &[Kind::Pod])
        )
        .is_empty(),
        "pods still starting are held back by the grace period"
    );
    // A CronJob's pods carry the labels: not a typo either.
    let cron = format!(
        "{}---\napiVersion: batch/v1\nkind: CronJob\nmetadata: {{name: report, namespace: shop}}\n\
         spec: {{schedule: \"0 * * * *\", jobTemplate: {{spec: {{template: {{metadata: {{labels: {{app: report}}}}, spec: {{restartPolicy: Never, containers: [{{name: a, image: x}}]}}}}}}}}}}\n",
        young_svc("app: report")
    );
    assert!(run("service.selector-no-match", &index(&cron, &[Kind::Pod])).is_empty());
    // The first seconds after creation are still held back.
    let just_created = typo.replace(&ago(30), &ago(5));
    assert!(run("service.selector-no-match", &index(&just_created, &[])).is_empty());
}
