use std::collections::BTreeMap;

use kaptain_model::ObjectRef;
use serde_json::json;

use super::testkit::*;
use super::*;
use crate::crd::{ActionTemplate, Operation, ResourceName};

fn denied_by(d: &Decision) -> Option<SafetyRule> {
    match d {
        Decision::Deny { rule, .. } => Some(*rule),
        _ => None,
    }
}

fn approval_by(d: &Decision) -> Option<SafetyRule> {
    match d {
        Decision::NeedsApproval { rule, .. } => Some(*rule),
        _ => None,
    }
}

const ALLOW: Decision = Decision::Allow { dry_run: false };

#[test]
fn every_well_formed_action_is_allowed_in_auto_mode() {
    let w = World::new(Mode::Auto);
    for kind in ActionKind::ALL {
        let d = w.eval(&proposal(kind, "shop"));
        if kind == ActionKind::SuggestManifest {
            assert_eq!(approval_by(&d), Some(SafetyRule::HumanOnly), "{kind}");
        } else {
            assert_eq!(d, ALLOW, "{kind}");
        }
    }
}

#[test]
fn protected_namespaces_deny_target_and_finding() {
    let w = World::new(Mode::Auto);
    for ns in ["kube-system", "kube-public", "kube-node-lease"] {
        let d = w.eval(&proposal(ActionKind::RolloutRestart, ns));
        assert_eq!(denied_by(&d), Some(SafetyRule::ProtectedNamespace), "{ns}");
    }
    // A node cordon for a finding on a kube-system pod is refused too.
    let mut p = proposal(ActionKind::CordonNode, "shop");
    p.finding.object = ObjectRef::new("v1", "Pod", Some("kube-system"), "coredns");
    assert_eq!(denied_by(&w.eval(&p)), Some(SafetyRule::ProtectedNamespace));
    // And it is configurable.
    let mut w = World::new(Mode::Auto);
    w.config.protected_namespaces = vec!["payments".into()];
    let d = w.eval(&proposal(ActionKind::RolloutRestart, "payments"));
    assert_eq!(denied_by(&d), Some(SafetyRule::ProtectedNamespace));
    assert_eq!(
        w.eval(&proposal(ActionKind::RolloutRestart, "kube-system")),
        ALLOW
    );
}

#[test]
fn protected_kinds_are_denied_before_anything_else() {
    let w = World::new(Mode::Auto);
    for kind in [
        "CustomResourceDefinition",
        "PersistentVolume",
        "Namespace",
        "ClusterRoleBinding",
    ] {
        let mut p = proposal(ActionKind::RolloutRestart, "shop");
        p.change.target.kind = kind.into();
        assert_eq!(
            denied_by(&w.eval(&p)),
            Some(SafetyRule::ProtectedKind),
            "{kind}"
        );
    }
}

#[test]
fn the_protected_label_on_target_namespace_or_related_object_denies() {
    let protected = BTreeMap::from([(PROTECTED_LABEL.to_string(), "true".to_string())]);
    let p = proposal(ActionKind::RaiseResources, "shop");
    for which in 0..3 {
        let mut w = World::new(Mode::Auto);
        match which {
            0 => w.facts.target_labels = protected.clone(),
            1 => w.facts.namespace_labels = protected.clone(),
            _ => w.facts.related_labels = vec![BTreeMap::new(), protected.clone()],
        }
        assert_eq!(
            denied_by(&w.eval(&p)),
            Some(SafetyRule::ProtectedLabel),
            "{which}"
        );
    }
    let mut w = World::new(Mode::Auto);
    w.facts
        .target_labels
        .insert(PROTECTED_LABEL.into(), "false".into());
    assert_eq!(w.eval(&p), ALLOW);
}

#[test]
fn never_allow_covers_deletes_of_stateful_objects_and_any_rbac_change() {
    let mut w = World::new(Mode::Auto);
    // RBAC kinds are also protected kinds by default; take that layer away to see this one.
    w.config.protected_kinds.clear();
    for (kind, op) in [
        ("StatefulSet", Operation::Delete),
        ("PersistentVolumeClaim", Operation::Delete),
        ("Role", Operation::Patch),
        ("RoleBinding", Operation::Create),
    ] {
        let mut p = proposal(ActionKind::RestartPod, "shop");
        p.change.target.kind = kind.into();
        p.change.operation = op;
        assert_eq!(
            denied_by(&w.eval(&p)),
            Some(SafetyRule::NeverAllow),
            "{op:?} {kind}"
        );
    }
}

#[test]
fn a_change_that_does_not_fit_its_kind_is_refused() {
    let w = World::new(Mode::Auto);
    let mismatch = |p: &crate::Proposal| denied_by(&w.eval(p)) == Some(SafetyRule::ChangeMismatch);
    // "RestartPod" deleting a Deployment.
    let mut p = proposal(ActionKind::RestartPod, "shop");
    p.change.target = ObjectRef::new("apps/v1", "Deployment", Some("shop"), "api");
    assert!(mismatch(&p));
    // A restart without UID precondition, or forced.
    let mut p = proposal(ActionKind::RestartPod, "shop");
    p.change.precondition_uid = None;
    assert!(mismatch(&p));
    let mut p = proposal(ActionKind::RestartPod, "shop");
    p.change.grace_period_seconds = Some(0);
    assert!(mismatch(&p));
    // A resources patch that also swaps the image.
    let mut p = proposal(ActionKind::RaiseResources, "shop");
    p.change.patch = Some(json!({"spec": {"template": {"spec": {"containers": [
        {"name": "api", "image": "evil", "resources": {"limits": {"memory": "384Mi"}}}
    ]}}}}));
    assert!(mismatch(&p));
    // A resources patch setting a value the change does not list.
    let mut p = proposal(ActionKind::RaiseResources, "shop");
    p.change.resources[0].after = "300Mi".into();
    assert!(mismatch(&p));
    // A scale whose patch says something else than its replicas.
    let mut p = proposal(ActionKind::Scale, "shop");
    p.change.patch = Some(json!({"spec": {"replicas": 50}}));
    assert!(mismatch(&p));
    // A cordon that also touches taints.
    let mut p = proposal(ActionKind::CordonNode, "shop");
    p.change.patch = Some(json!({"spec": {"unschedulable": true, "taints": []}}));
    assert!(mismatch(&p));
    // A rollback that replaces more than the template.
    let mut p = proposal(ActionKind::RollbackDeployment, "shop");
    p.change.patch = Some(json!([{"op": "replace", "path": "/spec", "value": {}}]));
    assert!(mismatch(&p));
    // A suggestion whose manifest is another object.
    let mut p = proposal(ActionKind::SuggestManifest, "shop");
    p.change.manifest =
        Some(json!({"kind": "ConfigMap", "metadata": {"name": "other", "namespace": "shop"}}));
    assert!(mismatch(&p));
}

#[test]
fn only_actions_the_policy_lists_within_its_bounds() {
    let mut w = World::new(Mode::Auto);
    if let Some(p) = w.policy.as_mut() {
        p.actions = vec![ActionTemplate::RestartPod {}];
    }
    let d = w.eval(&proposal(ActionKind::RolloutRestart, "shop"));
    assert_eq!(denied_by(&d), Some(SafetyRule::NotInPolicy));

    let w = World::new(Mode::Auto);
    let oob =
        |p: &crate::Proposal, w: &World| denied_by(&w.eval(p)) == Some(SafetyRule::OutOfBounds);
    // 256Mi × 1.5 = 384Mi is the most; 400Mi is beyond.
    let mut p = proposal(ActionKind::RaiseResources, "shop");
    p.change.resources[0].after = "400Mi".into();
    p.change.patch = Some(json!({"spec": {"template": {"spec": {"containers": [
        {"name": "api", "resources": {"limits": {"memory": "400Mi"}}}
    ]}}}}));
    assert!(oob(&p, &w));
    // A lowering is not a raise.
    let mut low = p.clone();
    low.change.resources[0].after = "128Mi".into();
    low.change.patch = Some(json!({"spec": {"template": {"spec": {"containers": [
        {"name": "api", "resources": {"limits": {"memory": "128Mi"}}}
    ]}}}}));
    assert!(oob(&low, &w));
    // Above the policy's max.
    let mut w2 = World::new(Mode::Auto);
    if let Some(pol) = w2.policy.as_mut() {
        pol.actions = vec![ActionTemplate::RaiseResources {
            resource: ResourceName::Memory,
            factor: 2.0,
            max: "300Mi".into(),
        }];
    }
    assert!(oob(&proposal(ActionKind::RaiseResources, "shop"), &w2));
    // A factor above 4 (a policy that skipped schema validation) or the config's cap.
    if let Some(pol) = w2.policy.as_mut() {
        pol.actions = vec![ActionTemplate::RaiseResources {
            resource: ResourceName::Memory,
            factor: 8.0,
            max: "8Gi".into(),
        }];
    }
    assert!(oob(&proposal(ActionKind::RaiseResources, "shop"), &w2));
    // The other resource.
    if let Some(pol) = w2.policy.as_mut() {
        pol.actions = vec![ActionTemplate::RaiseResources {
            resource: ResourceName::Cpu,
            factor: 2.0,
            max: "8".into(),
        }];
    }
    assert!(oob(&proposal(ActionKind::RaiseResources, "shop"), &w2));
    // Scale outside [1, 5].
    let mut p = proposal(ActionKind::Scale, "shop");
    p.change.replicas = Some(crate::crd::ReplicaChange {
        before: 2,
        after: 6,
    });
    p.change.patch = Some(json!({"spec": {"replicas": 6}}));
    assert!(oob(&p, &w));
    // A force delete of a pod not terminating (long enough), a restart of a bare pod.
    let mut w3 = World::new(Mode::Auto);
    w3.facts.deletion_timestamp = Some(at(-60));
    assert!(oob(&proposal(ActionKind::ForceDeleteStuckPod, "shop"), &w3));
    w3.facts.deletion_timestamp = None;
    assert!(oob(&proposal(ActionKind::ForceDeleteStuckPod, "shop"), &w3));
    w3.facts.owner = None;
    assert!(oob(&proposal(ActionKind::RestartPod, "shop"), &w3));
}

#[test]
fn paused_policies_and_missing_policies_do_nothing() {
    let w = World::new(Mode::Paused);
    for kind in ActionKind::ALL {
        assert_eq!(
            denied_by(&w.eval(&proposal(kind, "shop"))),
            Some(SafetyRule::Paused)
        );
    }
    let mut w = World::new(Mode::Auto);
    w.policy = None;
    let d = w.eval(&proposal(ActionKind::RestartPod, "shop"));
    assert_eq!(denied_by(&d), Some(SafetyRule::NoPolicy));
}

#[test]
fn an_idempotency_key_runs_once() {
    let mut w = World::new(Mode::Auto);
    let p = proposal(ActionKind::RestartPod, "shop");
    let other = ObjectRef::new("v1", "Pod", Some("x"), "y");
    w.history
        .push(record("other", other, 86_400, &p.idempotency_key));
    assert_eq!(denied_by(&w.eval(&p)), Some(SafetyRule::Duplicate));
}

#[test]
fn dry_run_mode_allows_only_dry_runs_whatever_the_limits() {
    for global in [false, true] {
        let mut w = World::new(if global { Mode::Auto } else { Mode::DryRun });
        w.config.dry_run = global;
        // Limits that would deny a real change do not matter for a dry-run...
        w.breakers.global.state = BreakerState::Open;
        w.breakers.global.opened_at = Some(now());
        w.facts.pods_affected = 1000;
        for kind in ActionKind::ALL {
            assert_eq!(
                w.eval(&proposal(kind, "shop")),
                Decision::Allow { dry_run: true },
                "{kind}"
            );
        }
        // ...protections still do.
        let d = w.eval(&proposal(ActionKind::RestartPod, "kube-system"));
        assert_eq!(denied_by(&d), Some(SafetyRule::ProtectedNamespace));
    }
}

#[test]
fn an_open_breaker_stops_actions_until_it_half_opens() {
    let mut w = World::new(Mode::Auto);
    let p = proposal(ActionKind::RestartPod, "shop");
    let scope = breaker_scope(&p, &w.facts);
    let cfg = w.config.clone();
    for s in 0..3 {
        w.breakers.on_failure(&cfg, &scope, at(-100 + s));
    }
    assert_eq!(denied_by(&w.eval(&p)), Some(SafetyRule::CircuitOpen));
    // The same policy on another workload is not stopped.
    let mut elsewhere = proposal(ActionKind::RestartPod, "shop");
    elsewhere.change.target.name = "other-pod".into();
    let mut other = w.clone();
    other.facts.workload = Some(ObjectRef::new(
        "apps/v1",
        "Deployment",
        Some("shop"),
        "other",
    ));
    assert_eq!(other.eval(&elsewhere), ALLOW);
    w.now = at(900);
    assert_eq!(w.eval(&p), ALLOW, "half-open admits one trial");
    w.breakers.on_start(&cfg, &scope, w.now, "trial");
    assert_eq!(denied_by(&w.eval(&p)), Some(SafetyRule::CircuitOpen));
    // Approval does not bypass an open breaker.
    w.approved_by = Some("alice".into());
    assert_eq!(denied_by(&w.eval(&p)), Some(SafetyRule::CircuitOpen));
}

#[test]
fn rate_limits_count_the_last_hour_globally_and_per_policy() {
    let p = proposal(ActionKind::RestartPod, "shop");
    let elsewhere = |i: usize| ObjectRef::new("v1", "Pod", Some("other"), &format!("p{i}"));
    let mut w = World::new(Mode::Auto);
    // The policy's default is 5 per hour.
    for i in 0..4 {
        w.history
            .push(record("p", elsewhere(i), 600, &format!("k{i}")));
    }
    w.history.push(record("p", elsewhere(9), 3700, "old")); // outside the hour
    w.history.push(record("q", elsewhere(8), 60, "q1")); // another policy
    assert_eq!(w.eval(&p), ALLOW);
    w.history.push(record("p", elsewhere(5), 10, "k5"));
    let d = w.eval(&p);
    assert_eq!(denied_by(&d), Some(SafetyRule::RateLimit), "{d:?}");
    // The global cap counts every policy.
    let mut w = World::new(Mode::Auto);
    w.config.max_actions_per_hour = 2;
    w.history.push(record("q", elsewhere(1), 60, "q1"));
    assert_eq!(w.eval(&p), ALLOW);
    w.history.push(record("r", elsewhere(2), 60, "r1"));
    assert_eq!(denied_by(&w.eval(&p)), Some(SafetyRule::RateLimit));
}

#[test]
fn an_object_cools_down_after_any_action_on_it() {
    let p = proposal(ActionKind::RaiseResources, "shop");
    let mut w = World::new(Mode::Auto);
    w.history
        .push(record("other", p.change.target.clone(), 1799, "k"));
    assert_eq!(denied_by(&w.eval(&p)), Some(SafetyRule::Cooldown));
    w.history[0].started_at = at(-1800);
    assert_eq!(w.eval(&p), ALLOW);
}

#[test]
fn the_blast_radius_bounds_pods_and_share_of_replicas() {
    let p = proposal(ActionKind::RolloutRestart, "shop");
    let mut w = World::new(Mode::Auto);
    w.facts.pods_affected = 11;
    w.facts.workload_replicas = Some(11);
    assert_eq!(denied_by(&w.eval(&p)), Some(SafetyRule::BlastRadius));
    w.facts.pods_affected = 10;
    w.facts.workload_replicas = Some(10);
    assert_eq!(w.eval(&p), ALLOW);
    w.config.max_pods_per_action = 5;
    assert_eq!(denied_by(&w.eval(&p)), Some(SafetyRule::BlastRadius));
    let mut w = World::new(Mode::Auto);
    if let Some(pol) = w.policy.as_mut() {
        pol.blast_radius.max_percent_of_replicas = 50;
    }
    w.facts.pods_affected = 1;
    w.facts.workload_replicas = Some(1);
    let restart = proposal(ActionKind::RestartPod, "shop");
    assert_eq!(denied_by(&w.eval(&restart)), Some(SafetyRule::BlastRadius));
    w.facts.workload_replicas = Some(2);
    assert_eq!(w.eval(&restart), ALLOW);
}

#[test]
fn approvals_for_suggestions_approval_mode_and_low_confidence() {
    let w = World::new(Mode::Auto);
    let mut p = proposal(ActionKind::ForceDeleteStuckPod, "shop");
    p.requires_approval = Some("StatefulSet pod".into());
    assert_eq!(approval_by(&w.eval(&p)), Some(SafetyRule::HumanOnly));
    let w = World::new(Mode::Approval);
    let p = proposal(ActionKind::RestartPod, "shop");
    assert_eq!(approval_by(&w.eval(&p)), Some(SafetyRule::ApprovalMode));
    let w = World::new(Mode::Auto);
    for c in [0.5, f64::NAN] {
        let mut low = proposal(ActionKind::RestartPod, "shop");
        low.confidence = c;
        assert_eq!(
            approval_by(&w.eval(&low)),
            Some(SafetyRule::LowConfidence),
            "{c}"
        );
    }
    // Once a person approved, all of these may run.
    let mut w = World::new(Mode::Approval);
    w.approved_by = Some("alice".into());
    let mut low = proposal(ActionKind::RestartPod, "shop");
    low.confidence = 0.1;
    assert_eq!(w.eval(&low), ALLOW);
    assert_eq!(
        w.eval(&proposal(ActionKind::SuggestManifest, "shop")),
        ALLOW
    );
    // An empty approver is no approval.
    w.approved_by = Some(String::new());
    assert_eq!(approval_by(&w.eval(&low)), Some(SafetyRule::ApprovalMode));
}

#[test]
fn decisions_have_labels_and_verdicts() {
    let d = Decision::Deny {
        rule: SafetyRule::Cooldown,
        reason: "r".into(),
    };
    let v = d.verdict(now());
    assert_eq!(v.decision, "deny");
    assert_eq!(v.rule.as_deref(), Some("cooldown"));
    assert!(SafetyRule::Cooldown.is_transient());
    assert!(!SafetyRule::ProtectedKind.is_transient());
    assert_eq!(
        Decision::Allow { dry_run: true }.rule(),
        Some(SafetyRule::DryRunMode)
    );
    assert!(!Decision::Allow { dry_run: true }.allows_change());
    assert!(ALLOW.allows_change());
    assert_eq!(ALLOW.as_str(), "allow");
}

#[test]
fn history_records_come_from_executed_actions_only() {
    let p = proposal(ActionKind::RestartPod, "shop");
    let mut a = crate::crd::HealingAction::new("restart-x", p);
    assert_eq!(ActionRecord::from_action(&a), None);
    let mut status = crate::crd::HealingActionStatus::default();
    status
        .apply(crate::crd::PhaseEvent::Approve, now(), Some("alice"))
        .expect("approve");
    a.status = Some(status.clone());
    assert_eq!(ActionRecord::from_action(&a), None, "approved, not started");
    status
        .apply(crate::crd::PhaseEvent::Execute, at(5), None)
        .expect("execute");
    a.status = Some(status);
    let r = ActionRecord::from_action(&a).expect("record");
    assert_eq!(r.started_at, at(5));
    assert_eq!(r.action, ActionKind::RestartPod);
}

#[test]
fn any_listed_template_of_the_kind_may_allow_the_change() {
    let p = proposal(ActionKind::ForceDeleteStuckPod, "shop");
    let mut w = World::new(Mode::Auto);
    w.facts.deletion_timestamp = Some(at(-700));
    let grace = |g| ActionTemplate::ForceDeleteStuckPod { grace_seconds: g };
    if let Some(pol) = w.policy.as_mut() {
        pol.actions = vec![grace(3600), grace(600)];
    }
    assert_eq!(w.eval(&p), ALLOW);
    if let Some(pol) = w.policy.as_mut() {
        pol.actions = vec![grace(3600)];
    }
    assert_eq!(denied_by(&w.eval(&p)), Some(SafetyRule::OutOfBounds));
}
