use kaptain_index::Kind;
use kaptain_model::{ObjectRef, Severity, fingerprint};

use crate::pod::fixtures::pod;
use crate::testutil::{index, run_all};

/// A container OOM-killed on every start (CrashLoopBackOff after exit 137).
const OOM: &str = r#"  phase: Running
  conditions:
  - {type: Ready, status: "False", lastTransitionTime: "2026-01-01T11:10:00Z"}
  containerStatuses:
  - name: api
    image: shop/api:1.0
    imageID: ""
    ready: false
    restartCount: 9
    state:
      waiting: {reason: CrashLoopBackOff, message: "back-off 5m0s restarting failed container=api"}
    lastState:
      terminated:
        exitCode: 137
        reason: OOMKilled
        startedAt: "2026-01-01T11:57:00Z"
        finishedAt: "2026-01-01T11:57:03Z""#;

const EVICTED: &str = r#"  phase: Failed
  reason: Evicted
  message: "The node was low on resource: memory.""#;

/// ReplicaSet `api-7d9c` of Deployment `api`, and the Deployment.
const OWNERS: &str = r#"
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: api-7d9c
  namespace: shop
  ownerReferences:
  - {apiVersion: apps/v1, kind: Deployment, name: api, uid: d1, controller: true}
spec:
  selector: {matchLabels: {app: api}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop, uid: d1}
spec:
  replicas: 3
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
      - {name: api, image: "shop/api:1.0"}
"#;

fn pod_ref(name: &str) -> ObjectRef {
    ObjectRef::new("v1", "Pod", Some("shop"), name)
}

fn loaded() -> [Kind; 5] {
    [
        Kind::Event,
        Kind::Node,
        Kind::ReplicaSet,
        Kind::Deployment,
        Kind::Job,
    ]
}

#[test]
fn three_oom_killed_pods_of_a_deployment_are_one_finding_on_it() {
    let yaml = ["api-1", "api-2", "api-3"]
        .iter()
        .map(|n| pod(n, OOM))
        .collect::<Vec<_>>()
        .join("---")
        + OWNERS;
    let all = run_all(&index(&yaml, &loaded()));
    let oom: Vec<_> = all.iter().filter(|f| f.id == "pod.oom-killed").collect();
    assert_eq!(oom.len(), 1, "{all:#?}");
    let f = oom[0];
    let deploy = ObjectRef::new("apps/v1", "Deployment", Some("shop"), "api");
    assert_eq!(f.object, deploy);
    assert_eq!(f.key, "api");
    assert_eq!(f.fingerprint, fingerprint("pod.oom-killed", &deploy, "api"));
    assert!(f.root_cause, "{f:#?}");
    assert!(f.title.ends_with("— 3 of 3 pods"), "{}", f.title);
    // Every pod is evidence, and keeps the fingerprint it had alone.
    let fps: Vec<(String, String)> = f
        .instances
        .iter()
        .map(|i| (i.object.name.clone(), i.fingerprint.clone()))
        .collect();
    let want: Vec<(String, String)> = ["api-1", "api-2", "api-3"]
        .iter()
        .map(|n| {
            (
                n.to_string(),
                fingerprint("pod.oom-killed", &pod_ref(n), "api"),
            )
        })
        .collect();
    assert_eq!(fps, want);
    assert!(
        f.evidence[0]
            .detail
            .starts_with("3 of 3 pods of Deployment api: api-1, api-2, api-3"),
        "{:?}",
        f.evidence
    );
    for n in ["api-1", "api-2", "api-3"] {
        assert!(f.answers_to(&fingerprint("pod.oom-killed", &pod_ref(n), "api")));
    }
    // No finding of a grouped check is left on a pod of the Deployment.
    assert!(
        all.iter()
            .all(|x| x.object.kind != "Pod" || x.id == "pod.not-ready"),
        "{all:#?}"
    );
}

#[test]
fn one_failing_pod_of_three_is_still_the_workload_finding() {
    let yaml = [
        pod("api-1", OOM),
        pod("api-2", crate::pod::fixtures::RUNNING),
        pod("api-3", crate::pod::fixtures::RUNNING),
    ]
    .join("---")
        + OWNERS;
    let all = run_all(&index(&yaml, &loaded()));
    let f = all
        .iter()
        .find(|f| f.id == "pod.oom-killed")
        .expect("an OOM finding");
    assert_eq!(f.object.kind, "Deployment");
    assert!(f.title.ends_with("— 1 of 3 pods"), "{}", f.title);
    assert_eq!(f.instances.len(), 1);
}

#[test]
fn evictions_and_pods_without_a_controller_stay_per_pod() {
    let orphan = pod("solo", OOM).replace(
        "  ownerReferences:\n  - {apiVersion: apps/v1, kind: ReplicaSet, name: api-7d9c, uid: u1, controller: true}\n",
        "",
    );
    let yaml = [pod("api-1", EVICTED), pod("api-2", EVICTED), orphan].join("---") + OWNERS;
    let all = run_all(&index(&yaml, &loaded()));
    let evicted: Vec<_> = all.iter().filter(|f| f.id == "pod.evicted").collect();
    assert_eq!(evicted.len(), 2, "{all:#?}");
    assert!(evicted.iter().all(|f| f.object.kind == "Pod"));
    assert!(evicted.iter().all(|f| f.instances.is_empty()));
    let solo = all
        .iter()
        .find(|f| f.id == "pod.oom-killed")
        .expect("the orphan's OOM");
    assert_eq!(solo.object, pod_ref("solo"));
    assert!(solo.instances.is_empty());
    assert_eq!(
        solo.fingerprint,
        fingerprint("pod.oom-killed", &pod_ref("solo"), "api")
    );
}

#[test]
fn a_cause_carries_the_severity_of_what_it_breaks_and_comes_first() {
    // A missing ConfigMap (high) keeps the pods of a Deployment from starting (critical).
    let status = "  phase: Pending\n  containerStatuses:\n  - {name: api, image: x, imageID: \"\", ready: false, restartCount: 0, state: {waiting: {reason: CreateContainerConfigError, message: 'configmap \"api-config\" not found'}}}";
    let yaml = ["api-1", "api-2"]
        .iter()
        .map(|n| {
            pod(n, status).replace(
                "    readinessProbe:",
                "    envFrom:\n    - configMapRef: {name: api-config}\n    readinessProbe:",
            )
        })
        .collect::<Vec<_>>()
        .join("---")
        + &OWNERS.replace(
            "- {name: api, image: \"shop/api:1.0\"}",
            "- name: api\n        image: shop/api:1.0\n        envFrom:\n        - configMapRef: {name: api-config}",
        );
    let mut l = loaded().to_vec();
    l.extend([Kind::ConfigMap, Kind::Secret]);
    let all = run_all(&index(&yaml, &l));
    let cm = all
        .iter()
        .find(|f| f.id == "config.missing-configmap")
        .expect("the missing ConfigMap");
    let pods = all
        .iter()
        .find(|f| f.id == "pod.create-container-config-error")
        .unwrap_or_else(|| panic!("the pods' config error: {all:#?}"));
    assert!(cm.root_cause && !pods.root_cause, "{all:#?}");
    assert_eq!(pods.caused_by, vec![cm.fingerprint.clone()]);
    assert!(cm.severity < pods.severity, "{cm:#?} {pods:#?}");
    assert_eq!(cm.urgency(), pods.severity);
    assert_eq!(cm.chain_severity, Some(pods.severity));
    assert_eq!(
        all[0].fingerprint, cm.fingerprint,
        "the most urgent cause first"
    );
    assert!(pods.severity >= Severity::High);
}

#[test]
fn a_title_about_one_pod_speaks_of_the_pods() {
    let pending = "  phase: Pending\n  conditions:\n  - {type: PodScheduled, status: \"False\", reason: Unschedulable, message: '0/2 nodes are available: 2 Insufficient memory.', lastTransitionTime: \"2026-01-01T11:00:00Z\"}";
    let yaml = ["api-1", "api-2"]
        .iter()
        .map(|n| pod(n, pending).replace("  nodeName: n1\n", ""))
        .collect::<Vec<_>>()
        .join("---")
        + OWNERS;
    let all = run_all(&index(&yaml, &loaded()));
    let f = all
        .iter()
        .find(|f| f.id == "pod.unschedulable")
        .unwrap_or_else(|| panic!("unschedulable: {all:#?}"));
    assert!(
        f.title.starts_with("2 of 2 pods cannot be scheduled"),
        "{}",
        f.title
    );
    assert!(!f.title.contains("api-1"), "{}", f.title);
}
