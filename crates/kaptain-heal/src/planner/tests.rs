use std::collections::BTreeMap;

use serde_json::json;

use super::fixtures::*;
use super::*;
use crate::crd::{Operation, PatchType, ResourceField, ResourceName};
use crate::guard::{Breakers, Decision, GuardContext, SafetyConfig, SafetyRule, evaluate};

fn run(
    idx: &ClusterIndex,
    findings: &[Finding],
    policies: &[Policy],
    first_seen: &BTreeMap<String, Timestamp>,
) -> Plan {
    plan(&PlanInput {
        findings,
        policies,
        index: idx,
        first_seen,
        now: now(),
    })
}

fn plan_all(
    objects: Vec<serde_json::Value>,
    checks: &[&str],
    policies: &[Policy],
) -> (ClusterIndex, Plan) {
    let idx = index(objects);
    let f = findings(&idx, checks);
    assert!(!f.is_empty(), "the fixture produces no {checks:?} finding");
    let p = run(&idx, &f, policies, &BTreeMap::new());
    (idx, p)
}

/// The guard's decision on a proposal, with facts observed from the index and a clean slate.
fn guard(idx: &ClusterIndex, p: &Proposal, policy: &Policy) -> Decision {
    let facts = observe(idx, p);
    let config = SafetyConfig::default();
    let breakers = Breakers::default();
    evaluate(
        &GuardContext {
            now: now(),
            config: &config,
            policy: Some(&policy.spec),
            history: &[],
            breakers: &breakers,
            facts: &facts,
            approved_by: None,
        },
        p,
    )
}

fn raise(max: &str) -> ActionTemplate {
    ActionTemplate::RaiseResources {
        resource: ResourceName::Memory,
        factor: 1.5,
        max: max.into(),
    }
}

#[test]
fn oom_raises_memory_limit_and_request_on_the_owning_deployment() {
    let policies = [cluster_policy(vec![
        raise("1Gi"),
        ActionTemplate::RolloutRestart {},
    ])];
    let (idx, plan) = plan_all(oom_cluster(), &["pod.oom-killed"], &policies);
    assert_eq!(plan.proposals.len(), 1, "{plan:#?}");
    let p = &plan.proposals[0];
    assert_eq!(p.action, ActionKind::RaiseResources);
    assert_eq!(p.target, "Deployment/shop/api");
    let c = &p.change;
    assert_eq!(
        (c.operation, c.patch_type),
        (Operation::Patch, Some(PatchType::Strategic))
    );
    let moved: Vec<(ResourceField, &str, &str)> = c
        .resources
        .iter()
        .map(|r| (r.field, r.before.as_str(), r.after.as_str()))
        .collect();
    assert_eq!(
        moved,
        [
            (ResourceField::Limits, "256Mi", "384Mi"),
            (ResourceField::Requests, "128Mi", "192Mi")
        ]
    );
    assert_eq!(
        c.patch,
        Some(
            json!({"spec": {"template": {"spec": {"containers": [{"name": "api",
            "resources": {"limits": {"memory": "384Mi"}, "requests": {"memory": "192Mi"}}}]}}}})
        )
    );
    assert_eq!(
        c.reverse_patch,
        Some(
            json!({"spec": {"template": {"spec": {"containers": [{"name": "api",
            "resources": {"limits": {"memory": "256Mi"}, "requests": {"memory": "128Mi"}}}]}}}})
        )
    );
    assert_eq!(
        c.before
            .as_ref()
            .map(|b| b["resources"]["limits"]["memory"].clone()),
        Some(json!("256Mi"))
    );
    assert!(p.reasoning.contains("×1.5"), "{}", p.reasoning);
    assert_eq!(p.confidence, 0.95);
    assert_eq!(p.priority, 75, "high severity, root cause");
    assert_eq!(p.verify_within, policies[0].spec.verification.window);
    // The two pods' OOM kills are one finding on the Deployment: one proposal, none skipped.
    assert!(plan.skipped.is_empty(), "{:?}", plan.skipped);
    assert_eq!(p.finding.object.kind, "Deployment");
    // Two pods of two replicas are touched; the guard lets it through in auto mode.
    let facts = observe(&idx, p);
    assert_eq!((facts.pods_affected, facts.workload_replicas), (2, Some(2)));
    assert_eq!(
        guard(&idx, p, &policies[0]),
        Decision::Allow { dry_run: false }
    );
}

#[test]
fn raises_stop_at_the_policy_max_or_do_not_apply() {
    let policies = [cluster_policy(vec![raise("300Mi")])];
    let (_, plan) = plan_all(oom_cluster(), &["pod.oom-killed"], &policies);
    let r = &plan.proposals[0].change.resources;
    assert_eq!(
        (r[0].after.as_str(), r[1].after.as_str()),
        ("300Mi", "192Mi")
    );
    // Already at the max: no raise, and a rollout restart does not answer an OOM kill.
    let policies = [cluster_policy(vec![
        raise("256Mi"),
        ActionTemplate::RolloutRestart {},
    ])];
    let (_, plan) = plan_all(oom_cluster(), &["pod.oom-killed"], &policies);
    assert!(plan.proposals.is_empty());
    assert!(
        plan.skipped[0]
            .reason
            .contains("no memory limit below 256Mi"),
        "{:?}",
        plan.skipped
    );
    assert!(
        plan.skipped[0].reason.contains("RolloutRestart"),
        "{:?}",
        plan.skipped
    );
}

#[test]
fn a_bad_rollout_rolls_back_to_the_previous_revision() {
    let policies = [cluster_policy(vec![ActionTemplate::RollbackDeployment {}])];
    let (idx, plan) = plan_all(
        bad_rollout_cluster(),
        &["pod.image-pull", "deployment.progress-deadline-exceeded"],
        &policies,
    );
    assert_eq!(
        plan.proposals.len(),
        1,
        "one rollback for both findings: {plan:#?}"
    );
    let c = &plan.proposals[0].change;
    assert_eq!(c.target.display(), "Deployment/shop/web");
    assert_eq!(c.patch_type, Some(PatchType::Json));
    let ops = c.patch.as_ref().expect("patch");
    assert_eq!(ops[0]["path"], "/spec/template");
    assert_eq!(ops[0]["value"]["spec"]["containers"][0]["image"], "web:1");
    assert!(
        ops[0]["value"]["metadata"]["labels"]
            .get("pod-template-hash")
            .is_none()
    );
    let rev = c.reverse_patch.as_ref().expect("reverse");
    assert_eq!(
        rev[0]["value"]["spec"]["containers"][0]["image"],
        "web:typo"
    );
    assert_eq!(
        c.before.as_ref().map(|b| b["revision"].clone()),
        Some(json!(2))
    );
    assert_eq!(
        c.after.as_ref().map(|a| a["revision"].clone()),
        Some(json!(1))
    );
    assert_eq!(
        guard(&idx, &plan.proposals[0], &policies[0]),
        Decision::Allow { dry_run: false }
    );
}

/// During a rollout the surge pod makes more pods than replicas; a rollback (a template
/// change) still touches 100% of the replicas, which the default blast radius allows.
#[test]
fn a_rollback_during_a_surge_is_within_the_default_blast_radius() {
    let mut objs = bad_rollout_cluster();
    for o in objs.iter_mut() {
        if o["kind"] == "Deployment" {
            o["spec"]["replicas"] = json!(1);
        }
    }
    let policies = [cluster_policy(vec![ActionTemplate::RollbackDeployment {}])];
    let (idx, plan) = plan_all(objs, &["pod.image-pull"], &policies);
    let p = &plan.proposals[0];
    let facts = observe(&idx, p);
    assert_eq!((facts.pods_affected, facts.workload_replicas), (1, Some(1)));
    assert_eq!(
        guard(&idx, p, &policies[0]),
        Decision::Allow { dry_run: false }
    );
}

/// A rollback may only put back a template the Deployment really ran: the planner's own passes
/// (its revision is known), one whose template was swapped for another does not, and neither
/// does one "back" to the newest revision's template.
#[test]
fn a_rollback_to_a_template_no_earlier_revision_had_is_denied() {
    let policies = [cluster_policy(vec![ActionTemplate::RollbackDeployment {}])];
    let (idx, plan) = plan_all(bad_rollout_cluster(), &["pod.image-pull"], &policies);
    let p = &plan.proposals[0];
    assert_eq!(observe(&idx, p).rollback_revision, Some(1));
    assert_eq!(
        guard(&idx, p, &policies[0]),
        Decision::Allow { dry_run: false }
    );
    let mut evil = p.clone();
    let patch = evil.change.patch.as_mut().expect("patch");
    patch[0]["value"]["spec"]["containers"][0]["image"] = json!("evil/miner:1");
    assert_eq!(observe(&idx, &evil).rollback_revision, None);
    match guard(&idx, &evil, &policies[0]) {
        Decision::Deny { rule, reason } => {
            assert_eq!(rule, SafetyRule::ChangeMismatch);
            assert!(reason.contains("earlier revision"), "{reason}");
        }
        other => panic!("a forged template passed: {other:?}"),
    }
    let mut newest = p.clone();
    let patch = newest.change.patch.as_mut().expect("patch");
    patch[0]["value"]["spec"]["containers"][0]["image"] = json!("web:typo");
    assert_eq!(observe(&idx, &newest).rollback_revision, None);
}

#[test]
fn no_rollback_without_a_previous_revision_or_for_old_pods() {
    let mut objs = bad_rollout_cluster();
    objs.retain(|o| o["metadata"]["name"] != "web-old1" && o["metadata"]["name"] != "web-old1-a");
    let policies = [cluster_policy(vec![ActionTemplate::RollbackDeployment {}])];
    let (_, plan) = plan_all(objs, &["pod.image-pull"], &policies);
    assert!(plan.proposals.is_empty());
    assert!(
        plan.skipped[0].reason.contains("no previous revision"),
        "{:?}",
        plan.skipped
    );
    // A crash-looping pod of the older revision is no sign of a bad rollout.
    let mut objs = bad_rollout_cluster();
    for o in objs.iter_mut() {
        if o["metadata"]["name"] == "web-old1-a" {
            o["status"]["containerStatuses"] = json!([crash_status("web")]);
        }
    }
    let (_, plan) = plan_all(objs, &["pod.crash-loop"], &policies);
    assert!(plan.proposals.is_empty(), "{plan:#?}");
    assert!(
        plan.skipped[0].reason.contains("not the newest revision"),
        "{:?}",
        plan.skipped
    );
}

fn crash_cluster(ns: &str) -> Vec<serde_json::Value> {
    let ctrs = json!([container("api", "api:1", None, None)]);
    vec![
        namespace(ns, json!({})),
        deployment(ns, "api", 3, ctrs.clone()),
        replicaset(ns, "api", "7d9c", 1, 3, ctrs.clone()),
        pod(
            ns,
            "api-7d9c-x2",
            "api",
            ("ReplicaSet", "api-7d9c"),
            ctrs,
            json!([crash_status("api")]),
        ),
    ]
}

#[test]
fn a_crash_loop_gets_the_first_applicable_action_in_policy_order() {
    let both = [cluster_policy(vec![
        ActionTemplate::RolloutRestart {},
        ActionTemplate::RestartPod {},
    ])];
    let (_, plan) = plan_all(crash_cluster("shop"), &["pod.crash-loop"], &both);
    let p = &plan.proposals[0];
    assert_eq!(
        (p.action, p.target.as_str()),
        (ActionKind::RolloutRestart, "Deployment/shop/api")
    );
    let patch = p.change.patch.as_ref().expect("patch");
    assert_eq!(
        patch["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"],
        json!(now().to_string())
    );
    let pod_only = [cluster_policy(vec![ActionTemplate::RestartPod {}])];
    let (idx, plan) = plan_all(crash_cluster("shop"), &["pod.crash-loop"], &pod_only);
    let p = &plan.proposals[0];
    assert_eq!(
        (p.action, p.target.as_str()),
        (ActionKind::RestartPod, "Pod/shop/api-7d9c-x2")
    );
    assert_eq!(p.change.operation, Operation::Delete);
    assert_eq!(
        p.change.precondition_uid.as_deref(),
        Some("uid-api-7d9c-x2")
    );
    assert_eq!(p.change.grace_period_seconds, None);
    let facts = observe(&idx, p);
    assert_eq!((facts.pods_affected, facts.workload_replicas), (1, Some(3)));
    assert_eq!(
        facts.owner.map(|o| o.display()),
        Some("ReplicaSet/shop/api-7d9c".into())
    );
    assert_eq!(
        guard(&idx, p, &pod_only[0]),
        Decision::Allow { dry_run: false }
    );
}

#[test]
fn protected_namespaces_get_proposals_the_guard_refuses() {
    let policies = [cluster_policy(vec![ActionTemplate::RestartPod {}])];
    let (idx, plan) = plan_all(crash_cluster("kube-system"), &["pod.crash-loop"], &policies);
    let d = guard(&idx, &plan.proposals[0], &policies[0]);
    assert_eq!(d.rule(), Some(SafetyRule::ProtectedNamespace), "{d:?}");
    // A namespace labelled protected, likewise.
    let mut objs = crash_cluster("shop");
    objs[0] = namespace("shop", json!({"kaptain.dev/protected": "true"}));
    let (idx, plan) = plan_all(objs, &["pod.crash-loop"], &policies);
    assert_eq!(
        guard(&idx, &plan.proposals[0], &policies[0]).rule(),
        Some(SafetyRule::ProtectedLabel)
    );
    // And a Deployment labelled protected protects its pods.
    let mut objs = crash_cluster("shop");
    objs[1]["metadata"]["labels"]["kaptain.dev/protected"] = json!("true");
    let (idx, plan) = plan_all(objs, &["pod.crash-loop"], &policies);
    assert_eq!(
        guard(&idx, &plan.proposals[0], &policies[0]).rule(),
        Some(SafetyRule::ProtectedLabel)
    );
}

#[test]
fn a_not_ready_node_is_cordoned_once() {
    let policies = [cluster_policy(vec![ActionTemplate::CordonNode {}])];
    let (idx, plan) = plan_all(
        vec![node("node-1", "Unknown")],
        &["node.not-ready"],
        &policies,
    );
    let p = &plan.proposals[0];
    assert_eq!(p.target, "Node/node-1");
    assert_eq!(
        p.change.patch,
        Some(json!({"spec": {"unschedulable": true}}))
    );
    assert_eq!(
        p.change.reverse_patch,
        Some(json!({"spec": {"unschedulable": false}}))
    );
    assert_eq!(observe(&idx, p).pods_affected, 0);
    assert_eq!(
        guard(&idx, p, &policies[0]),
        Decision::Allow { dry_run: false }
    );
    let mut cordoned = node("node-1", "Unknown");
    cordoned["spec"] = json!({"unschedulable": true});
    let (_, plan) = plan_all(vec![cordoned], &["node.not-ready"], &policies);
    assert!(plan.proposals.is_empty());
    assert!(plan.skipped[0].reason.contains("already cordoned"));
}

fn stuck_cluster(owner: (&str, &str)) -> Vec<serde_json::Value> {
    let ctrs = json!([container("db", "db:1", None, None)]);
    let mut p = pod(
        "shop",
        "db-0",
        "db",
        owner,
        ctrs,
        json!([running_status("db")]),
    );
    p["metadata"]["deletionTimestamp"] = json!(ago(3600));
    p["metadata"]["deletionGracePeriodSeconds"] = json!(30);
    vec![namespace("shop", json!({})), p]
}

#[test]
fn a_stuck_pod_is_force_deleted_after_the_grace_and_statefulset_pods_need_a_person() {
    let policies = [cluster_policy(vec![ActionTemplate::ForceDeleteStuckPod {
        grace_seconds: 600,
    }])];
    let (idx, plan) = plan_all(
        stuck_cluster(("ReplicaSet", "db-1")),
        &["pod.stuck-terminating"],
        &policies,
    );
    let p = &plan.proposals[0];
    assert_eq!(p.change.grace_period_seconds, Some(0));
    assert_eq!(p.requires_approval, None);
    assert_eq!(
        guard(&idx, p, &policies[0]),
        Decision::Allow { dry_run: false }
    );
    let (idx, plan) = plan_all(
        stuck_cluster(("StatefulSet", "db")),
        &["pod.stuck-terminating"],
        &policies,
    );
    let p = &plan.proposals[0];
    assert!(p.requires_approval.is_some());
    assert_eq!(
        guard(&idx, p, &policies[0]).rule(),
        Some(SafetyRule::HumanOnly)
    );
    let later = [cluster_policy(vec![ActionTemplate::ForceDeleteStuckPod {
        grace_seconds: 7200,
    }])];
    let (_, plan) = plan_all(
        stuck_cluster(("ReplicaSet", "db-1")),
        &["pod.stuck-terminating"],
        &later,
    );
    assert!(plan.proposals.is_empty());
    assert!(
        plan.skipped[0].reason.contains("waits 7200s"),
        "{:?}",
        plan.skipped
    );
}

#[test]
fn missing_configuration_only_gets_a_suggested_manifest_for_a_person() {
    let mut ctrs = json!([container("api", "api:1", None, None)]);
    ctrs[0]["env"] = json!([{"name": "DB", "valueFrom": {"configMapKeyRef": {"name": "api-config", "key": "DB_URL"}}}]);
    let objs = vec![
        namespace("shop", json!({})),
        deployment("shop", "api", 1, ctrs),
    ];
    let policies = [cluster_policy(vec![
        ActionTemplate::RolloutRestart {},
        ActionTemplate::SuggestManifest {},
    ])];
    let (idx, plan) = plan_all(objs, &["config.missing-configmap"], &policies);
    let p = &plan.proposals[0];
    assert_eq!(p.action, ActionKind::SuggestManifest);
    assert_eq!(p.change.operation, Operation::Create);
    let m = p.change.manifest.as_ref().expect("manifest");
    assert_eq!(m["kind"], "ConfigMap");
    assert_eq!(m["metadata"]["name"], "api-config");
    assert_eq!(
        m["data"],
        json!({"DB_URL": ""}),
        "the keys asked for, no invented values"
    );
    assert!(p.requires_approval.is_some());
    let d = guard(&idx, p, &policies[0]);
    assert_eq!(
        d.rule(),
        Some(SafetyRule::HumanOnly),
        "auto mode does not apply it: {d:?}"
    );
}

#[test]
fn a_pdb_that_allows_no_disruption_scales_its_workload_within_bounds() {
    let ctrs = json!([container("api", "api:1", None, None)]);
    let pdb = json!({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "api", "namespace": "shop"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "api"}}},
        "status": {"disruptionsAllowed": 0, "expectedPods": 1, "currentHealthy": 1, "desiredHealthy": 1},
    });
    let objs = vec![
        namespace("shop", json!({})),
        deployment("shop", "api", 1, ctrs.clone()),
        replicaset("shop", "api", "7d9c", 1, 1, ctrs.clone()),
        pod(
            "shop",
            "api-7d9c-x2",
            "api",
            ("ReplicaSet", "api-7d9c"),
            ctrs,
            json!([running_status("api")]),
        ),
        pdb,
    ];
    let policies = [cluster_policy(vec![ActionTemplate::Scale {
        min: 1,
        max: 3,
    }])];
    let (idx, plan) = plan_all(objs.clone(), &["pdb.zero-disruptions"], &policies);
    let p = &plan.proposals[0];
    assert_eq!(p.target, "Deployment/shop/api");
    assert_eq!(p.change.replicas.map(|r| (r.before, r.after)), Some((1, 2)));
    assert_eq!(
        p.change.reverse_patch,
        Some(json!({"spec": {"replicas": 1}}))
    );
    assert_eq!(observe(&idx, p).pods_affected, 1);
    assert_eq!(
        guard(&idx, p, &policies[0]),
        Decision::Allow { dry_run: false }
    );
    // Not past max, not against an HPA.
    let capped = [cluster_policy(vec![ActionTemplate::Scale {
        min: 1,
        max: 1,
    }])];
    assert!(
        plan_all(objs.clone(), &["pdb.zero-disruptions"], &capped)
            .1
            .proposals
            .is_empty()
    );
    let mut with_hpa = objs;
    with_hpa.push(json!({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "api", "namespace": "shop"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
                 "minReplicas": 1, "maxReplicas": 4},
    }));
    let (_, plan) = plan_all(with_hpa, &["pdb.zero-disruptions"], &policies);
    assert!(plan.proposals.is_empty());
    assert!(plan.skipped[0].reason.contains("HorizontalPodAutoscaler"));
}

#[test]
fn a_pod_on_a_not_ready_node_is_not_restarted() {
    let mut objs = crash_cluster("shop");
    objs.push(node("node-1", "Unknown"));
    let policies = [cluster_policy(vec![ActionTemplate::RestartPod {}])];
    let (_, plan) = plan_all(objs, &["pod.crash-loop"], &policies);
    assert!(plan.proposals.is_empty(), "{plan:#?}");
    assert!(
        plan.skipped[0].reason.contains("node node-1 is NotReady"),
        "{:?}",
        plan.skipped
    );
}
