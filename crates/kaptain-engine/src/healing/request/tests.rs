//! Requests read from words, proposed on small clusters: the HealingAction, the diff, the
//! guard's verdict and the verification, and the questions asked back.

use kaptain_chat::{Known, parse};
use kaptain_heal::crd::{HealingActionStatus, PolicyKind};
use kaptain_index::AnyObject;
use serde_json::json;

use super::*;

fn now() -> Timestamp {
    "2026-01-01T12:00:00Z".parse().expect("time")
}

fn index(objects: Vec<Value>) -> ClusterIndex {
    let objs = objects.into_iter().map(|v| {
        let kind = v["kind"].as_str().and_then(Kind::parse).expect("kind");
        AnyObject::from_value(kind, v).expect("object")
    });
    ClusterIndex::build(objs, Kind::ALL)
}

fn deployment(ns: &str, name: &str, replicas: i32, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{ns}-{name}"), "generation": 1},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": name, "image": image}]}}},
        "status": {"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas,
                   "updatedReplicas": replicas, "observedGeneration": 1},
    })
}

fn ns(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

fn node(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
           "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
}

fn cluster() -> ClusterIndex {
    index(vec![
        ns("shop"),
        ns("staging"),
        ns("scale-test"),
        ns("kube-system"),
        deployment("shop", "web", 2, "nginx:1.25"),
        deployment("staging", "web", 1, "nginx:1.25"),
        deployment("scale-test", "web-app", 3, "web:1"),
        deployment("kube-system", "coredns", 2, "coredns:1.7"),
        node("n1"),
    ])
}

struct World {
    idx: ClusterIndex,
    findings: Vec<Finding>,
    actions: Vec<HealingAction>,
    safety: SafetyConfig,
    breakers: Breakers,
}

impl World {
    fn new(idx: ClusterIndex) -> Self {
        let checks: Vec<_> = kaptain_analyze::catalog().iter().collect();
        let findings = crate::scan::findings(&idx, &checks, now());
        World {
            idx,
            findings,
            actions: Vec::new(),
            safety: SafetyConfig::default(),
            breakers: Breakers::default(),
        }
    }

    fn ask(&self, actor: &str, text: &str) -> Result<Proposed, AskError> {
        let r = parse(text, &Known::default()).map_err(AskError::Unclear)?;
        let act = r
            .act
            .ok_or_else(|| AskError::Unclear(format!("{text}: not a request")))?;
        let scene = Scene {
            idx: &self.idx,
            findings: &self.findings,
            actions: &self.actions,
            safety: &self.safety,
            breakers: &self.breakers,
            operator_namespace: "kaptain-system",
        };
        propose(
            &scene,
            &act,
            &Asker {
                actor,
                text,
                now: now(),
            },
        )
    }
}

#[test]
fn scale_by_a_percentage_is_a_scale_action_the_asker_may_apply() {
    let w = World::new(cluster());
    let p = w
        .ask("alice", "scale web-app in scale-test by 100%")
        .expect("proposal");
    assert_eq!(
        (p.action.as_str(), p.target.as_str()),
        ("Scale", "Deployment/scale-test/web-app")
    );
    assert_eq!(p.namespace, "scale-test");
    assert_eq!(
        p.diff,
        vec![FieldChange {
            field: "spec.replicas".into(),
            before: json!(3),
            after: json!(6),
        }]
    );
    assert!(p.verdict.allows(), "{:?}", p.verdict);
    assert!(p.reversible);
    assert!(
        p.verification.contains("runs all its replicas"),
        "{}",
        p.verification
    );
    let o = &p.object;
    assert_eq!(o.spec.policy.kind, PolicyKind::Request);
    assert_eq!(o.spec.policy.name, "alice");
    let ann = o.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(
        ann.get(req::PROPOSED_BY_ANNOTATION).map(String::as_str),
        Some("alice")
    );
    assert!(
        o.status.is_none(),
        "created without a status: the guard decides"
    );
}

#[test]
fn an_ambiguous_name_is_asked_back() {
    let w = World::new(cluster());
    let e = w.ask("alice", "restart web").expect_err("two webs");
    assert_eq!(
        e,
        AskError::Unclear("which web? Deployment web in shop or Deployment web in staging".into())
    );
    let p = w.ask("alice", "restart web in staging").expect("one web");
    assert_eq!(p.target, "Deployment/staging/web");
    assert_eq!(
        p.diff[0].field,
        format!(
            "spec.template.metadata.annotations[{}]",
            kaptain_heal::guard::RESTARTED_AT
        )
    );
    assert!(!p.reversible);
    let e = w.ask("alice", "scale nothing-here to 3").expect_err("none");
    assert!(
        matches!(e, AskError::Unclear(ref m) if m.contains("no Deployment or StatefulSet named nothing-here")),
        "{e:?}"
    );
}

#[test]
fn a_protected_namespace_is_denied_by_the_guard() {
    let w = World::new(cluster());
    let p = w
        .ask("alice", "restart coredns in kube-system")
        .expect("proposal");
    assert_eq!(p.verdict.decision, "deny");
    assert_eq!(p.verdict.rule.as_deref(), Some("protected-namespace"));
}

#[test]
fn set_image_and_cordon() {
    let w = World::new(cluster());
    let p = w
        .ask("bob", "set the image of web in shop to nginx:1.27")
        .expect("set image");
    assert_eq!(p.action, "SetImage");
    assert_eq!(
        p.diff,
        vec![FieldChange {
            field: "containers[web].image".into(),
            before: json!("nginx:1.25"),
            after: json!("nginx:1.27"),
        }]
    );
    assert!(p.verdict.allows());
    let p = w.ask("bob", "cordon node n1").expect("cordon");
    assert_eq!(
        (p.action.as_str(), p.namespace.as_str()),
        ("CordonNode", "kaptain-system")
    );
    assert_eq!(p.diff[0].field, "spec.unschedulable");
    assert!(p.verification.contains("unschedulable"));
}

#[test]
fn undo_reverses_the_askers_last_change_only() {
    let mut w = World::new(cluster());
    let first = w.ask("alice", "scale web in shop to 4").expect("scale");
    let mut done = first.object.clone();
    done.status = Some(HealingActionStatus {
        phase: Phase::Succeeded,
        ..Default::default()
    });
    w.actions.push(done);
    // The cluster now runs 4.
    w.idx = index(vec![ns("shop"), deployment("shop", "web", 4, "nginx:1.25")]);
    let back = w.ask("alice", "undo that").expect("undo");
    assert_eq!(back.action, "Scale");
    assert_eq!(back.diff[0].before, json!(4));
    assert_eq!(back.diff[0].after, json!(2));
    let ann = back.object.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(
        ann.get(req::UNDOES_ANNOTATION),
        Some(&format!("shop/{}", first.name))
    );
    // Bob did nothing: nothing to undo for him.
    assert!(matches!(
        w.ask("bob", "undo that"),
        Err(AskError::Cannot(_))
    ));
}

#[test]
fn fix_with_nothing_wrong_says_so() {
    let w = World::new(cluster());
    let e = w.ask("alice", "fix web in shop").expect_err("healthy");
    assert!(
        matches!(e, AskError::Cannot(ref m) if m.contains("nothing to fix")),
        "{e:?}"
    );
}

#[test]
fn fix_raises_memory_after_oom_kills() {
    let mut objects = vec![ns("shop")];
    let mut dep = deployment("shop", "api", 1, "api:1");
    dep["spec"]["template"]["spec"]["containers"][0]["resources"] =
        json!({"limits": {"memory": "256Mi"}});
    objects.push(dep);
    objects.push(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "api-1", "namespace": "shop", "uid": "uid-rs",
                     "labels": {"app": "api", "pod-template-hash": "1"},
                     "annotations": {"deployment.kubernetes.io/revision": "1"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "api",
                                          "uid": "uid-shop-api", "controller": true}]},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "api"}},
                 "template": {"metadata": {"labels": {"app": "api", "pod-template-hash": "1"}},
                              "spec": {"containers": [{"name": "api", "image": "api:1",
                                        "resources": {"limits": {"memory": "256Mi"}}}]}}},
    }));
    objects.push(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "api-1-x", "namespace": "shop", "uid": "uid-pod",
                     "labels": {"app": "api", "pod-template-hash": "1"},
                     "creationTimestamp": "2026-01-01T10:00:00Z",
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "api-1",
                                          "uid": "uid-rs", "controller": true}]},
        "spec": {"nodeName": "n1", "containers": [{"name": "api", "image": "api:1",
                  "resources": {"limits": {"memory": "256Mi"}}}]},
        "status": {"phase": "Running", "containerStatuses": [{
            "name": "api", "ready": false, "restartCount": 5, "image": "api:1", "imageID": "",
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137,
                          "startedAt": "2026-01-01T11:58:00Z", "finishedAt": "2026-01-01T11:59:00Z"}}}]},
    }));
    let w = World::new(index(objects));
    let p = w.ask("alice", "fix the api deployment").expect("fix");
    assert_eq!(p.action, "RaiseResources");
    assert_eq!(p.target, "Deployment/shop/api");
    assert!(p.finding.starts_with("pod.oom-killed"), "{}", p.finding);
    assert_eq!(p.diff[0].field, "containers[api].resources.limits.memory");
    assert_eq!(p.diff[0].before, json!("256Mi"));
    assert!(p.verdict.allows(), "{:?}", p.verdict);
    // "fix it" with one problem in scope finds the same fix.
    let it = w.ask("alice", "fix it in shop").expect("fix it");
    assert_eq!(it.name, p.name);
}
