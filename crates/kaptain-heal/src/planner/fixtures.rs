//! Small clusters as JSON objects, and the real analyzers' findings on them.

use jiff::Timestamp;
use kaptain_analyze::{Selection, analyze, select};
use kaptain_index::{AnyObject, ClusterIndex, Kind};
use kaptain_model::Finding;
use serde_json::{Value, json};

use crate::crd::{ActionTemplate, HealingPolicySpec, Mode, Policy, PolicyKind, PolicyRef};

pub fn now() -> Timestamp {
    "2026-01-01T12:00:00Z".parse().expect("valid timestamp")
}

/// `now` minus `secs`, as RFC 3339.
pub fn ago(secs: i64) -> String {
    Timestamp::from_second(now().as_second() - secs)
        .expect("valid")
        .to_string()
}

pub fn index(objects: Vec<Value>) -> ClusterIndex {
    let objs = objects.into_iter().map(|v| {
        let kind = v["kind"]
            .as_str()
            .and_then(Kind::parse)
            .expect("fixture kind");
        AnyObject::from_value(kind, v).expect("fixture object")
    });
    ClusterIndex::build(objs, Kind::ALL)
}

/// The findings of the named checks (ids or domains), as `kaptain diagnose` reports them.
pub fn findings(idx: &ClusterIndex, only: &[&str]) -> Vec<Finding> {
    let checks = select(&Selection {
        only: only.iter().map(|s| s.to_string()).collect(),
    })
    .expect("known checks");
    analyze(idx, &checks, now())
}

pub fn namespace(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})
}

pub fn container(name: &str, image: &str, limit: Option<&str>, request: Option<&str>) -> Value {
    let mut c = json!({"name": name, "image": image});
    if let Some(l) = limit {
        c["resources"]["limits"] = json!({"memory": l});
    }
    if let Some(r) = request {
        c["resources"]["requests"] = json!({"memory": r});
    }
    c
}

fn template(app: &str, containers: &Value, hash: Option<&str>) -> Value {
    let mut labels = json!({"app": app});
    if let Some(h) = hash {
        labels["pod-template-hash"] = json!(h);
    }
    json!({"metadata": {"labels": labels}, "spec": {"containers": containers}})
}

pub fn deployment(ns: &str, name: &str, replicas: i32, containers: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}"),
                     "labels": {"app": name}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": template(name, &containers, None)},
        "status": {"replicas": replicas},
    })
}

pub fn replicaset(
    ns: &str,
    dep: &str,
    hash: &str,
    revision: i64,
    replicas: i32,
    containers: Value,
) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {
            "name": format!("{dep}-{hash}"), "namespace": ns, "uid": format!("uid-{dep}-{hash}"),
            "labels": {"app": dep, "pod-template-hash": hash},
            "annotations": {"deployment.kubernetes.io/revision": revision.to_string()},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": dep,
                                 "uid": format!("uid-{dep}"), "controller": true}],
        },
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": dep}},
                 "template": template(dep, &containers, Some(hash))},
        "status": {"replicas": replicas, "availableReplicas": replicas, "readyReplicas": replicas},
    })
}

pub fn pod(
    ns: &str,
    name: &str,
    app: &str,
    owner: (&str, &str),
    containers: Value,
    statuses: Value,
) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": name, "namespace": ns, "uid": format!("uid-{name}"), "labels": {"app": app},
            "creationTimestamp": ago(7200),
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": owner.0, "name": owner.1,
                                 "uid": format!("uid-{}", owner.1), "controller": true}],
        },
        "spec": {"nodeName": "node-1", "containers": containers},
        "status": {"phase": "Running", "containerStatuses": statuses},
    })
}

pub fn oom_status(c: &str) -> Value {
    json!({"name": c, "ready": false, "restartCount": 5, "image": "x", "imageID": "",
           "state": {"waiting": {"reason": "CrashLoopBackOff"}},
           "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137,
                                        "startedAt": ago(120), "finishedAt": ago(60)}}})
}

pub fn crash_status(c: &str) -> Value {
    json!({"name": c, "ready": false, "restartCount": 7, "image": "x", "imageID": "",
           "state": {"waiting": {"reason": "CrashLoopBackOff"}},
           "lastState": {"terminated": {"reason": "Error", "exitCode": 1,
                                        "startedAt": ago(120), "finishedAt": ago(60)}}})
}

pub fn pull_status(c: &str) -> Value {
    json!({"name": c, "ready": false, "restartCount": 0, "image": "x", "imageID": "",
           "state": {"waiting": {"reason": "ImagePullBackOff",
                                 "message": "Back-off pulling image \"api:typo\""}}})
}

pub fn running_status(c: &str) -> Value {
    json!({"name": c, "ready": true, "restartCount": 0, "image": "x", "imageID": "",
           "state": {"running": {"startedAt": ago(3600)}}})
}

pub fn node(name: &str, ready: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "creationTimestamp": ago(86_400)},
        "status": {"conditions": [{"type": "Ready", "status": ready, "reason": "NodeStatusUnknown",
                                   "lastTransitionTime": ago(1500), "lastHeartbeatTime": ago(1500)}]},
    })
}

/// The OOM scenario: Deployment shop/api (2 replicas, api limit 256Mi request 128Mi) whose
/// pod's `api` container was OOMKilled.
pub fn oom_cluster() -> Vec<Value> {
    let ctrs = json!([
        container("api", "api:1", Some("256Mi"), Some("128Mi")),
        container("sidecar", "side:1", None, None)
    ]);
    vec![
        namespace("shop", json!({"team": "a"})),
        deployment("shop", "api", 2, ctrs.clone()),
        replicaset("shop", "api", "7d9c", 1, 2, ctrs.clone()),
        pod(
            "shop",
            "api-7d9c-x2",
            "api",
            ("ReplicaSet", "api-7d9c"),
            ctrs.clone(),
            json!([oom_status("api"), running_status("sidecar")]),
        ),
        pod(
            "shop",
            "api-7d9c-y3",
            "api",
            ("ReplicaSet", "api-7d9c"),
            ctrs,
            json!([oom_status("api"), running_status("sidecar")]),
        ),
    ]
}

/// A bad rollout: Deployment shop/web, revision 1 (web:1) serving, revision 2 (web:typo) whose
/// pod cannot pull its image and whose rollout passed its progress deadline.
pub fn bad_rollout_cluster() -> Vec<Value> {
    let good = json!([container("web", "web:1", None, None)]);
    let bad = json!([container("web", "web:typo", None, None)]);
    let mut dep = deployment("shop", "web", 2, bad.clone());
    dep["status"]["conditions"] = json!([{"type": "Progressing", "status": "False",
        "reason": "ProgressDeadlineExceeded", "lastUpdateTime": ago(600), "lastTransitionTime": ago(600)}]);
    vec![
        namespace("shop", json!({})),
        dep,
        replicaset("shop", "web", "old1", 1, 2, good.clone()),
        replicaset("shop", "web", "new2", 2, 1, bad.clone()),
        pod(
            "shop",
            "web-old1-a",
            "web",
            ("ReplicaSet", "web-old1"),
            good,
            json!([running_status("web")]),
        ),
        pod(
            "shop",
            "web-new2-b",
            "web",
            ("ReplicaSet", "web-new2"),
            bad,
            json!([pull_status("web")]),
        ),
    ]
}

pub fn policy(
    kind: PolicyKind,
    ns: Option<&str>,
    name: &str,
    mode: Mode,
    actions: Vec<ActionTemplate>,
) -> Policy {
    Policy {
        reference: PolicyRef {
            kind,
            namespace: ns.map(str::to_string),
            name: name.to_string(),
            generation: 1,
        },
        spec: HealingPolicySpec {
            actions,
            mode,
            ..HealingPolicySpec::default()
        },
    }
}

pub fn cluster_policy(actions: Vec<ActionTemplate>) -> Policy {
    policy(
        PolicyKind::ClusterHealingPolicy,
        None,
        "all",
        Mode::Auto,
        actions,
    )
}
