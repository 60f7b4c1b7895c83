use std::collections::BTreeMap;

use jiff::Timestamp;
use kaptain_analyze::{analyze, catalog};
use kaptain_heal::crd::{ActionKind, ClusterHealingPolicy, Policy, from_yaml};
use kaptain_heal::planner::{PlanInput, plan};
use kaptain_index::{AnyObject, ClusterIndex, Kind};
use kaptain_model::Finding;
use serde_json::{Value, json};

use super::*;

fn now() -> Timestamp {
    "2026-01-01T12:00:00Z".parse().expect("valid")
}

fn index(objects: Vec<Value>) -> ClusterIndex {
    let objs = objects.into_iter().map(|v| {
        let kind = v["kind"].as_str().and_then(Kind::parse).expect("kind");
        AnyObject::from_value(kind, v).expect("object")
    });
    ClusterIndex::build(objs, Kind::ALL)
}

fn findings(idx: &ClusterIndex) -> Vec<Finding> {
    let all: Vec<_> = catalog().iter().collect();
    analyze(idx, &all, now())
}

fn deployment(generation: i64, observed: i64, updated: i32, available: i32, total: i32) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "api", "namespace": "shop", "uid": "d1", "generation": generation},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "api"}},
            "template": {"metadata": {"labels": {"app": "api"}}, "spec": {"containers": [
                {"name": "api", "image": "api:1", "resources": {"limits": {"memory": "256Mi"}}}]}}},
        "status": {"observedGeneration": observed, "replicas": total, "updatedReplicas": updated,
            "availableReplicas": available}})
}

fn replicaset(name: &str, revision: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": "shop", "uid": format!("u-{name}"),
            "annotations": {"deployment.kubernetes.io/revision": revision},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "api",
                "uid": "d1", "controller": true}]},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "api"}},
            "template": {"metadata": {"labels": {"app": "api"}}, "spec": {"containers": [
                {"name": "api", "image": "api:1", "resources": {"limits": {"memory": "256Mi"}}}]}}}})
}

fn pod(name: &str, rs: &str, oom: bool, terminating: bool) -> Value {
    let status = if oom {
        json!({"name": "api", "ready": false, "restartCount": 3, "image": "api:1", "imageID": "",
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
            "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled",
                "startedAt": "2026-01-01T11:59:00Z", "finishedAt": "2026-01-01T11:59:01Z"}}})
    } else {
        json!({"name": "api", "ready": true, "restartCount": 0, "image": "api:1", "imageID": "",
            "state": {"running": {"startedAt": "2026-01-01T11:59:00Z"}}})
    };
    let mut meta = json!({"name": name, "namespace": "shop", "uid": format!("u-{name}"),
        "labels": {"app": "api"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs,
            "uid": format!("u-{rs}"), "controller": true}]});
    if terminating {
        meta["deletionTimestamp"] = json!("2026-01-01T11:59:30Z");
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta,
        "spec": {"nodeName": "n1", "containers": [
            {"name": "api", "image": "api:1", "resources": {"limits": {"memory": "256Mi"}}}]},
        "status": {"phase": "Running", "containerStatuses": [status],
            "conditions": [{"type": "Ready", "status": if oom { "False" } else { "True" }}]}})
}

fn namespace() -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
}

const POLICY: &str = r#"
apiVersion: kaptain.dev/v1alpha1
kind: ClusterHealingPolicy
metadata: {name: all, generation: 1}
spec:
  mode: auto
  actions:
    - raiseResources: {resource: memory, factor: 3, max: 1Gi}
"#;

fn raise_spec() -> HealingActionSpec {
    let idx = index(vec![
        namespace(),
        deployment(1, 1, 1, 0, 1),
        replicaset("api-a", "1"),
        pod("api-a-1", "api-a", true, false),
    ]);
    let f = findings(&idx);
    let policy: ClusterHealingPolicy = from_yaml(POLICY).expect("policy");
    let p = plan(&PlanInput {
        findings: &f,
        policies: &[Policy::from(&policy)],
        index: &idx,
        first_seen: &BTreeMap::new(),
        now: now(),
    });
    let spec = p
        .proposals
        .into_iter()
        .find(|p| p.action == ActionKind::RaiseResources)
        .expect("a raise proposal");
    assert!(matches!(check(&idx, &f, &spec, None), Check::NotYet(_)));
    spec
}

fn verdict(objects: Vec<Value>, spec: &HealingActionSpec) -> Check {
    let idx = index(objects);
    let f = findings(&idx);
    let w = workload_scope(spec, None);
    check(&idx, &f, spec, w.as_ref())
}

#[test]
fn a_healthy_completed_rollout_clears_the_finding() {
    let spec = raise_spec();
    let got = verdict(
        vec![
            namespace(),
            deployment(2, 2, 1, 1, 1),
            replicaset("api-a", "1"),
            replicaset("api-b", "2"),
            pod("api-b-1", "api-b", false, false),
        ],
        &spec,
    );
    assert_eq!(got, Check::Cleared);
}

#[test]
fn the_same_failure_on_the_new_pod_is_not_cleared() {
    let spec = raise_spec();
    let got = verdict(
        vec![
            namespace(),
            deployment(2, 2, 1, 0, 1),
            replicaset("api-a", "1"),
            replicaset("api-b", "2"),
            pod("api-b-1", "api-b", true, false),
        ],
        &spec,
    );
    let Check::NotYet(why) = got else {
        panic!("cleared although the new pod is OOMKilled")
    };
    assert!(
        // The new pod's OOM kill is grouped under the Deployment the action changed.
        why.contains("pod.oom-killed") && why.contains("holds on Deployment/shop/api"),
        "{why}"
    );
}

#[test]
fn a_rollout_in_progress_is_not_cleared() {
    let spec = raise_spec();
    // The old pod is gone from the findings' view only once it is deleted; while it
    // terminates the rollout is not complete.
    let got = verdict(
        vec![
            namespace(),
            deployment(2, 2, 1, 1, 1),
            replicaset("api-a", "1"),
            replicaset("api-b", "2"),
            pod("api-b-1", "api-b", false, false),
            pod("api-a-2", "api-a", false, true),
        ],
        &spec,
    );
    assert!(
        matches!(&got, Check::NotYet(w) if w.contains("terminating")),
        "{got:?}"
    );
    let got = verdict(
        vec![
            namespace(),
            deployment(2, 1, 0, 1, 1),
            replicaset("api-a", "1"),
            pod("api-a-3", "api-a", false, false),
        ],
        &spec,
    );
    assert!(
        matches!(&got, Check::NotYet(w) if w.contains("rolling out")),
        "{got:?}"
    );
}

#[test]
fn pod_actions_are_scoped_to_the_recorded_owner() {
    let mut spec = raise_spec();
    spec.action = ActionKind::RestartPod;
    assert_eq!(workload_scope(&spec, None), None);
    let owner = kaptain_model::ObjectRef::new("apps/v1", "Deployment", Some("shop"), "api");
    assert_eq!(
        workload_scope(&spec, Some(&owner)),
        Some(ObjKey::new(Kind::Deployment, "shop", "api"))
    );
}
