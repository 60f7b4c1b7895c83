use kaptain_index::Kind;
use kaptain_model::{Category, Severity};

use crate::testutil::{index, run};

fn deployment(created: &str, replicas: i32, status: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: api, namespace: shop, uid: d1, creationTimestamp: "{created}"}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: api}}}}
  template:
    metadata: {{labels: {{app: api}}}}
    spec: {{containers: [{{name: api, image: shop/api:2}}]}}
status:
{status}
"#
    )
}

const RS_AND_POD: &str = r#"
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: api-7d9c
  namespace: shop
  annotations: {deployment.kubernetes.io/revision: "2"}
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: api, uid: d1, controller: true}]
spec: {replicas: 3, selector: {matchLabels: {app: api}}, template: {metadata: {labels: {app: api}}}}
status: {replicas: 3, readyReplicas: 0, availableReplicas: 0}
---
apiVersion: v1
kind: Pod
metadata:
  name: api-7d9c-x2
  namespace: shop
  labels: {app: api}
  creationTimestamp: "2026-01-01T11:00:00Z"
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: api-7d9c, uid: r2, controller: true}]
spec: {containers: [{name: api, image: shop/api:2}]}
status:
  phase: Running
  conditions: [{type: Ready, status: "False", lastTransitionTime: "2026-01-01T11:00:00Z"}]
  containerStatuses:
  - name: api
    ready: false
    restartCount: 9
    image: shop/api:2
    imageID: ""
    state: {waiting: {reason: CrashLoopBackOff}}
"#;

const DOWN: &str = r#"  replicas: 3
  availableReplicas: 0
  unavailableReplicas: 3
  updatedReplicas: 3
  conditions:
  - {type: Available, status: "False", reason: MinimumReplicasUnavailable, message: "Deployment does not have minimum availability.", lastTransitionTime: "2026-01-01T11:30:00Z", lastUpdateTime: "2026-01-01T11:30:00Z"}
  - {type: Progressing, status: "True", reason: ReplicaSetUpdated, lastTransitionTime: "2026-01-01T11:00:00Z", lastUpdateTime: "2026-01-01T11:58:00Z"}"#;

#[test]
fn deployment_with_no_available_replicas_is_critical_and_hints_pods_and_replicasets() {
    let yaml = format!(
        "{}{RS_AND_POD}",
        deployment("2026-01-01T10:00:00Z", 3, DOWN)
    );
    let f = run("deployment.unavailable", &index(&yaml, &[]));
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].title, "Deployment shop/api has 0/3 replicas available");
    assert_eq!(f[0].severity, Severity::Critical);
    assert_eq!(f[0].object.kind, "Deployment");
    assert!(
        f[0].evidence
            .iter()
            .any(|e| e.detail.contains("Available=False"))
    );
    assert!(
        f[0].evidence
            .iter()
            .any(|e| e.detail.contains("CrashLoopBackOff"))
    );
    let hints: Vec<String> = f[0].cause_hints.iter().map(|h| h.display()).collect();
    assert!(
        hints.contains(&"Pod/shop/api-7d9c-x2".to_string()),
        "{hints:?}"
    );
    assert!(
        hints.contains(&"ReplicaSet/shop/api-7d9c".to_string()),
        "{hints:?}"
    );
}

#[test]
fn deployment_short_without_recent_progress_is_high() {
    let status = r#"  replicas: 3
  availableReplicas: 2
  unavailableReplicas: 1
  conditions:
  - {type: Available, status: "True", reason: MinimumReplicasAvailable}
  - {type: Progressing, status: "True", reason: NewReplicaSetAvailable, lastUpdateTime: "2026-01-01T09:00:00Z"}"#;
    let f = run(
        "deployment.unavailable",
        &index(&deployment("2025-12-01T00:00:00Z", 3, status), &[]),
    );
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::High);
    assert!(f[0].title.contains("2/3"));
}

#[test]
fn fresh_healthy_or_rolling_deployments_are_not_flagged() {
    // Created a minute ago: still starting.
    let fresh = deployment("2026-01-01T11:59:00Z", 3, DOWN);
    assert!(run("deployment.unavailable", &index(&fresh, &[])).is_empty());
    // Old, but a rollout made progress 30 s ago and availability holds.
    let rolling = r#"  replicas: 4
  availableReplicas: 2
  unavailableReplicas: 1
  conditions:
  - {type: Available, status: "True", reason: MinimumReplicasAvailable}
  - {type: Progressing, status: "True", reason: ReplicaSetUpdated, lastUpdateTime: "2026-01-01T11:59:30Z"}"#;
    assert!(
        run(
            "deployment.unavailable",
            &index(&deployment("2025-12-01T00:00:00Z", 3, rolling), &[])
        )
        .is_empty()
    );
    let healthy = "  replicas: 3\n  availableReplicas: 3\n";
    assert!(
        run(
            "deployment.unavailable",
            &index(&deployment("2025-12-01T00:00:00Z", 3, healthy), &[])
        )
        .is_empty()
    );
    // Scaled to zero.
    assert!(
        run(
            "deployment.unavailable",
            &index(&deployment("2025-12-01T00:00:00Z", 0, "  replicas: 0"), &[])
        )
        .is_empty()
    );
}

#[test]
fn stuck_rollout_names_new_replicaset_and_old_one_serving() {
    let status = r#"  replicas: 4
  availableReplicas: 3
  conditions:
  - {type: Progressing, status: "False", reason: ProgressDeadlineExceeded, message: "ReplicaSet \"api-7d9c\" has timed out progressing."}"#;
    let old = r#"
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: api-5f6b
  namespace: shop
  annotations: {deployment.kubernetes.io/revision: "1"}
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: api, uid: d1, controller: true}]
spec: {replicas: 3, selector: {matchLabels: {app: api}}, template: {metadata: {labels: {app: api}}}}
status: {replicas: 3, readyReplicas: 3, availableReplicas: 3}
"#;
    let yaml = format!(
        "{}{RS_AND_POD}{old}",
        deployment("2025-12-01T00:00:00Z", 3, status)
    );
    let f = run("deployment.progress-deadline-exceeded", &index(&yaml, &[]));
    assert_eq!(f.len(), 1, "{f:#?}");
    assert!(
        f[0].message.contains("api-7d9c (revision 2)"),
        "{}",
        f[0].message
    );
    assert!(
        f[0].message.contains("api-5f6b (3 available)"),
        "{}",
        f[0].message
    );
    assert!(f[0].remediation.commands[0].contains("rollout undo deployment/api"));
    let hints: Vec<String> = f[0].cause_hints.iter().map(|h| h.display()).collect();
    assert_eq!(
        hints,
        vec!["Pod/shop/api-7d9c-x2", "ReplicaSet/shop/api-7d9c"]
    );
    // A progressing rollout is not stuck.
    let ok = format!(
        "{}{RS_AND_POD}",
        deployment("2025-12-01T00:00:00Z", 3, DOWN)
    );
    assert!(run("deployment.progress-deadline-exceeded", &index(&ok, &[])).is_empty());
}

fn statefulset(pod1_created: &str, pod1_ready_since: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: db, namespace: shop, creationTimestamp: "2025-12-01T00:00:00Z"}}
spec:
  replicas: 2
  serviceName: db
  selector: {{matchLabels: {{app: db}}}}
  template: {{metadata: {{labels: {{app: db}}}}, spec: {{containers: [{{name: db, image: pg}}]}}}}
status: {{replicas: 2, readyReplicas: 1}}
---
apiVersion: v1
kind: Pod
metadata:
  name: db-0
  namespace: shop
  labels: {{app: db}}
  creationTimestamp: "2025-12-01T00:00:00Z"
  ownerReferences: [{{apiVersion: apps/v1, kind: StatefulSet, name: db, uid: s1, controller: true}}]
spec: {{containers: [{{name: db, image: pg}}]}}
status: {{phase: Running, conditions: [{{type: Ready, status: "True"}}]}}
---
apiVersion: v1
kind: Pod
metadata:
  name: db-1
  namespace: shop
  labels: {{app: db}}
  creationTimestamp: "{pod1_created}"
  ownerReferences: [{{apiVersion: apps/v1, kind: StatefulSet, name: db, uid: s1, controller: true}}]
spec: {{containers: [{{name: db, image: pg}}]}}
status: {{phase: Running, conditions: [{{type: Ready, status: "False", lastTransitionTime: "{pod1_ready_since}"}}]}}
"#
    )
}

#[test]
fn statefulset_with_a_pod_unready_for_long_is_flagged() {
    let idx = index(
        &statefulset("2025-12-01T00:00:00Z", "2026-01-01T11:00:00Z"),
        &[],
    );
    let f = run("statefulset.unavailable", &idx);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].title, "StatefulSet shop/db has 1/2 replicas ready");
    assert!(f[0].cause_hints.iter().any(|h| h.name == "db-1"));
}

#[test]
fn statefulset_mid_update_is_not_flagged() {
    // db-1 was just recreated by a rolling update.
    let idx = index(
        &statefulset("2026-01-01T11:58:00Z", "2026-01-01T11:58:00Z"),
        &[],
    );
    assert!(run("statefulset.unavailable", &idx).is_empty());
    // Old pod that turned unready a minute ago.
    let idx = index(
        &statefulset("2025-12-01T00:00:00Z", "2026-01-01T11:59:00Z"),
        &[],
    );
    assert!(run("statefulset.unavailable", &idx).is_empty());
}

fn daemonset(ready: i32, misscheduled: i32) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: agent, namespace: ops, creationTimestamp: "2025-12-01T00:00:00Z"}}
spec:
  selector: {{matchLabels: {{app: agent}}}}
  template: {{metadata: {{labels: {{app: agent}}}}, spec: {{containers: [{{name: a, image: agent}}]}}}}
status:
  desiredNumberScheduled: 3
  currentNumberScheduled: 3
  numberReady: {ready}
  numberUnavailable: {}
  numberMisscheduled: {misscheduled}
"#,
        3 - ready
    )
}

#[test]
fn daemonset_unavailable_and_misscheduled() {
    // Pods not collected: the DaemonSet's own age and status decide.
    let f = run("daemonset.unavailable", &index(&daemonset(2, 0), &[]));
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].title, "DaemonSet ops/agent has 2/3 pods ready");
    assert!(run("daemonset.unavailable", &index(&daemonset(3, 0), &[])).is_empty());
    let m = run("daemonset.misscheduled", &index(&daemonset(3, 2), &[]));
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].severity, Severity::Low);
    assert!(m[0].title.contains("2 pod(s)"));
    assert!(run("daemonset.misscheduled", &index(&daemonset(3, 0), &[])).is_empty());
}

const QUOTA_RS: &str = r#"
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: api-7d9c, namespace: shop}
spec: {replicas: 3, selector: {matchLabels: {app: api}}, template: {metadata: {labels: {app: api}}}}
status:
  replicas: 1
  conditions:
  - type: ReplicaFailure
    status: "True"
    reason: FailedCreate
    message: 'pods "api-7d9c-zz" is forbidden: exceeded quota: compute-resources, requested: limits.cpu=2, used: limits.cpu=3, limited: limits.cpu=4'
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: compute-resources, namespace: shop}
spec: {hard: {limits.cpu: "4"}}
status: {hard: {limits.cpu: "4"}, used: {limits.cpu: "3"}}
"#;

#[test]
fn failed_create_names_the_quota() {
    let f = run("replicaset.failed-create", &index(QUOTA_RS, &[]));
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].object.kind, "ReplicaSet");
    assert_eq!(f[0].category, Category::Capacity);
    assert!(
        f[0].title
            .contains("exceeded ResourceQuota compute-resources"),
        "{}",
        f[0].title
    );
    assert!(
        f[0].evidence
            .iter()
            .any(|e| e.detail.contains("limits.cpu: used 3 of 4"))
    );
    assert!(f[0].cause_hints.is_empty());
}

#[test]
fn failed_create_for_a_job_hints_the_missing_serviceaccount() {
    let yaml = r#"
apiVersion: batch/v1
kind: Job
metadata: {name: migrate, namespace: shop}
spec: {template: {spec: {restartPolicy: Never, containers: [{name: m, image: m}]}}}
status: {}
---
apiVersion: v1
kind: Event
metadata: {name: migrate.1, namespace: shop}
involvedObject: {kind: Job, name: migrate, namespace: shop}
type: Warning
reason: FailedCreate
count: 4
lastTimestamp: "2026-01-01T11:55:00Z"
message: 'Error creating: pods "migrate-abc" is forbidden: error looking up service account shop/runner: serviceaccount "runner" not found'
"#;
    let f = run("replicaset.failed-create", &index(yaml, &[]));
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].object.kind, "Job");
    assert_eq!(
        f[0].title,
        "Job shop/migrate cannot create pods: ServiceAccount runner not found"
    );
    assert_eq!(f[0].cause_hints[0].display(), "ServiceAccount/shop/runner");
}

#[test]
fn resolved_create_failures_are_not_flagged() {
    let yaml = r#"
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web-1, namespace: shop}
spec: {replicas: 2, selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}}}
status: {replicas: 1}
---
apiVersion: v1
kind: Event
metadata: {name: web-1.a, namespace: shop}
involvedObject: {kind: ReplicaSet, name: web-1, namespace: shop}
type: Warning
reason: FailedCreate
lastTimestamp: "2026-01-01T11:40:00Z"
message: 'Error creating: pods "web-1-a" is forbidden: exceeded quota: q, requested: pods=1, used: pods=5, limited: pods=5'
---
apiVersion: v1
kind: Event
metadata: {name: web-1.b, namespace: shop}
involvedObject: {kind: ReplicaSet, name: web-1, namespace: shop}
type: Normal
reason: SuccessfulCreate
lastTimestamp: "2026-01-01T11:50:00Z"
message: 'Created pod: web-1-b'
"#;
    assert!(run("replicaset.failed-create", &index(yaml, &[Kind::Event])).is_empty());
    // And a ReplicaSet that has all its pods ignores old failure events.
    let full = QUOTA_RS.replace("replicas: 1\n", "replicas: 3\n");
    assert!(run("replicaset.failed-create", &index(&full, &[])).is_empty());
}

#[test]
fn unavailable_deployment_traces_back_to_the_quota_refusal() {
    let rs = QUOTA_RS.replace(
        "metadata: {name: api-7d9c, namespace: shop}",
        "metadata:\n  name: api-7d9c\n  namespace: shop\n  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: api, uid: d1, controller: true}]",
    );
    let yaml = format!("{}\n---\n{rs}", deployment("2026-01-01T10:00:00Z", 3, DOWN));
    let all = crate::testutil::run_all(&index(&yaml, &[]));
    let dep = all
        .iter()
        .find(|f| f.id == "deployment.unavailable")
        .expect("deployment finding");
    let rs = all
        .iter()
        .find(|f| f.id == "replicaset.failed-create")
        .expect("rs finding");
    assert!(dep.caused_by.contains(&rs.fingerprint), "{dep:#?}");
    assert!(rs.root_cause);
}
