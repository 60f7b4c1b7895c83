//! Requests on small clusters, and the guard's verdicts on what they propose.

use serde_json::json;

use super::*;
use crate::crd::{HealingActionStatus, Phase};
use crate::guard::{
    ActionRecord, Breakers, Decision, GuardContext, SafetyConfig, SafetyRule, evaluate,
};
use crate::planner::fixtures::{
    bad_rollout_cluster, container, deployment, findings, index, namespace, node, now, oom_cluster,
};
use crate::planner::observe;

fn who() -> Asker<'static> {
    Asker {
        actor: "alice",
        text: "the request",
        now: now(),
    }
}

fn dep(ns: &str, name: &str) -> ObjKey {
    ObjKey::new(Kind::Deployment, ns, name)
}

fn web(replicas: i32) -> ClusterIndex {
    index(vec![
        namespace("shop", json!({})),
        deployment(
            "shop",
            "web",
            replicas,
            json!([container("web", "nginx:1.25", None, None)]),
        ),
        node("n1", "True"),
    ])
}

/// The guard's decision on `p`, as the operator makes it: built-in request limits, `history`,
/// approved by the asker or not.
fn decide(idx: &ClusterIndex, p: &Proposal, approved: bool, history: &[ActionRecord]) -> Decision {
    decide_with(idx, p, approved, history, &SafetyConfig::default())
}

fn decide_with(
    idx: &ClusterIndex,
    p: &Proposal,
    approved: bool,
    history: &[ActionRecord],
    cfg: &SafetyConfig,
) -> Decision {
    let pol = policy(&p.policy);
    evaluate(
        &GuardContext {
            now: now(),
            config: cfg,
            policy: Some(&pol.spec),
            history,
            breakers: &Breakers::default(),
            facts: &observe(idx, p),
            approved_by: approved.then_some("alice"),
        },
        p,
    )
}

#[test]
fn replicas_by_percent_round_away_from_zero() {
    assert_eq!(Replicas::Percent(100).apply(5), Ok(10));
    assert_eq!(Replicas::Percent(50).apply(3), Ok(5));
    assert_eq!(Replicas::Percent(-50).apply(3), Ok(1));
    assert_eq!(Replicas::By(-2).apply(5), Ok(3));
    assert_eq!(Replicas::To(0).apply(5), Ok(0));
    assert!(Replicas::By(-6).apply(5).is_err());
}

#[test]
fn a_scale_request_is_the_exact_change_and_waits_for_the_asker() {
    let idx = web(5);
    let p = build(
        &idx,
        &dep("shop", "web"),
        &Want::Scale(Replicas::Percent(100)),
        &who(),
    )
    .expect("proposal");
    assert_eq!(p.action, ActionKind::Scale);
    assert_eq!(p.policy.kind, PolicyKind::Request);
    assert_eq!(p.policy.name, "alice");
    assert_eq!(p.change.patch, Some(json!({"spec": {"replicas": 10}})));
    assert_eq!(
        p.change.reverse_patch,
        Some(json!({"spec": {"replicas": 5}}))
    );
    assert_eq!(p.change.before, Some(json!({"replicas": 5})));
    assert_eq!(p.change.after, Some(json!({"replicas": 10})));
    assert!(own_finding(&p));
    assert_eq!(p.finding.id, "request.scale");
    assert!(p.reasoning.contains("alice asked"), "{}", p.reasoning);
    // Not approved: a person must say yes. Approved by the asker: allowed.
    assert!(matches!(
        decide(&idx, &p, false, &[]),
        Decision::NeedsApproval {
            rule: SafetyRule::ApprovalMode,
            ..
        }
    ));
    assert_eq!(
        decide(&idx, &p, true, &[]),
        Decision::Allow { dry_run: false }
    );
}

#[test]
fn the_blast_radius_bounds_a_scale_request() {
    let idx = web(5);
    // 5 → 15 touches 10 pods: 200% of the replicas.
    let p = build(
        &idx,
        &dep("shop", "web"),
        &Want::Scale(Replicas::By(10)),
        &who(),
    )
    .expect("p");
    let d = decide(&idx, &p, true, &[]);
    assert!(
        matches!(
            &d,
            Decision::Deny {
                rule: SafetyRule::BlastRadius,
                ..
            }
        ),
        "{d:?}"
    );
}

#[test]
fn protected_namespaces_and_dry_run_apply_to_requests() {
    let idx = index(vec![
        namespace("kube-system", json!({})),
        deployment(
            "kube-system",
            "coredns",
            2,
            json!([container("c", "coredns:1", None, None)]),
        ),
    ]);
    let p = build(
        &idx,
        &dep("kube-system", "coredns"),
        &Want::RolloutRestart,
        &who(),
    )
    .expect("p");
    assert!(matches!(
        decide(&idx, &p, true, &[]),
        Decision::Deny {
            rule: SafetyRule::ProtectedNamespace,
            ..
        }
    ));
    let idx = web(2);
    let p = build(&idx, &dep("shop", "web"), &Want::RolloutRestart, &who()).expect("p");
    let cfg = SafetyConfig {
        dry_run: true,
        ..SafetyConfig::default()
    };
    assert_eq!(
        decide_with(&idx, &p, true, &[], &cfg),
        Decision::Allow { dry_run: true }
    );
}

#[test]
fn the_asker_rate_limit_counts_only_their_requests() {
    let idx = web(2);
    let p = build(&idx, &dep("shop", "web"), &Want::RolloutRestart, &who()).expect("p");
    let record = |actor: &str, i: i64| ActionRecord {
        idempotency_key: format!("k{actor}{i}"),
        policy: reference(actor),
        action: ActionKind::RolloutRestart,
        target: ObjectRef::new("apps/v1", "Deployment", Some("other"), &format!("x{i}")),
        started_at: Timestamp::from_second(now().as_second() - 60).expect("time"),
    };
    let bob: Vec<ActionRecord> = (0..i64::from(ACTIONS_PER_HOUR))
        .map(|i| record("bob", i))
        .collect();
    assert_eq!(
        decide(&idx, &p, true, &bob),
        Decision::Allow { dry_run: false }
    );
    let mine: Vec<ActionRecord> = (0..i64::from(ACTIONS_PER_HOUR))
        .map(|i| record("alice", i))
        .collect();
    assert!(matches!(
        decide(&idx, &p, true, &mine),
        Decision::Deny {
            rule: SafetyRule::RateLimit,
            ..
        }
    ));
}

#[test]
fn set_image_changes_one_container_and_the_guard_checks_the_patch() {
    let idx = web(2);
    let want = Want::SetImage {
        container: None,
        image: "nginx:1.27".into(),
    };
    let p = build(&idx, &dep("shop", "web"), &want, &who()).expect("p");
    assert_eq!(p.action, ActionKind::SetImage);
    assert_eq!(
        p.change.patch,
        Some(
            json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}})
        )
    );
    assert_eq!(
        p.change.before,
        Some(json!({"images": [{"name": "web", "image": "nginx:1.25"}]}))
    );
    assert_eq!(
        decide(&idx, &p, true, &[]),
        Decision::Allow { dry_run: false }
    );
    // A patch that does more than set an image is refused whoever made it.
    let mut sneaky = p.clone();
    sneaky.change.patch = Some(json!({"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "nginx:1.27", "securityContext": {"privileged": true}}
    ]}}}}));
    assert!(matches!(
        decide(&idx, &sneaky, true, &[]),
        Decision::Deny {
            rule: SafetyRule::ChangeMismatch,
            ..
        }
    ));
    // The same image, a missing container, an ambiguous one: said back.
    let same = Want::SetImage {
        container: None,
        image: "nginx:1.25".into(),
    };
    assert!(build(&idx, &dep("shop", "web"), &same, &who()).is_err());
    let idx2 = index(vec![deployment(
        "shop",
        "api",
        1,
        json!([
            container("api", "api:1", None, None),
            container("side", "side:1", None, None)
        ]),
    )]);
    let e = build(
        &idx2,
        &dep("shop", "api"),
        &Want::SetImage {
            container: None,
            image: "api:2".into(),
        },
        &who(),
    )
    .expect_err("ambiguous");
    assert!(e.contains("several containers (api, side)"), "{e}");
}

#[test]
fn cordon_and_rollback_requests() {
    let idx = web(1);
    let p = build(
        &idx,
        &ObjKey::new(Kind::Node, "", "n1"),
        &Want::Cordon,
        &who(),
    )
    .expect("p");
    assert_eq!(
        p.change.patch,
        Some(json!({"spec": {"unschedulable": true}}))
    );
    assert_eq!(
        decide(&idx, &p, true, &[]),
        Decision::Allow { dry_run: false }
    );
    assert!(
        build(
            &idx,
            &ObjKey::new(Kind::Node, "", "n9"),
            &Want::Cordon,
            &who()
        )
        .is_err()
    );

    let idx = index(bad_rollout_cluster());
    let d = idx.objects.deployments.iter().next().map(|d| {
        (
            d.metadata.namespace.clone().unwrap_or_default(),
            d.metadata.name.clone().unwrap_or_default(),
        )
    });
    let (ns, name) = d.expect("a deployment");
    let p = build(&idx, &dep(&ns, &name), &Want::Rollback, &who()).expect("rollback");
    assert_eq!(p.action, ActionKind::RollbackDeployment);
    assert!(p.change.reverse_patch.is_some());
    assert_eq!(
        decide(&idx, &p, true, &[]),
        Decision::Allow { dry_run: false }
    );
    // A Deployment with one revision has nothing to roll back to.
    assert!(build(&web(1), &dep("shop", "web"), &Want::Rollback, &who()).is_err());
}

#[test]
fn fix_takes_the_remedy_of_the_root_cause() {
    let idx = index(oom_cluster());
    let f = findings(&idx, &["pod.oom-killed"]);
    let oom = f.first().expect("an OOM finding");
    let p = fix(&idx, oom, &who()).expect("a fix");
    assert_eq!(p.action, ActionKind::RaiseResources);
    assert_eq!(p.policy.kind, PolicyKind::Request);
    assert_eq!(p.finding.fingerprint, oom.fingerprint);
    assert!(!own_finding(&p), "a fix answers the real finding");
    assert_eq!(
        decide(&idx, &p, true, &[]),
        Decision::Allow { dry_run: false }
    );
}

#[test]
fn undo_reverses_a_scale_and_an_image_but_not_a_restart() {
    let idx = web(10);
    let first = build(
        &index(vec![
            namespace("shop", json!({})),
            deployment(
                "shop",
                "web",
                5,
                json!([container("web", "nginx:1.25", None, None)]),
            ),
        ]),
        &dep("shop", "web"),
        &Want::Scale(Replicas::To(10)),
        &who(),
    )
    .expect("scale");
    let done = HealingAction {
        metadata: kube_core::ObjectMeta {
            name: Some("scale-web-1".into()),
            namespace: Some("shop".into()),
            ..Default::default()
        },
        spec: first,
        status: Some(HealingActionStatus {
            phase: Phase::Succeeded,
            ..Default::default()
        }),
    };
    let back = undo(&idx, &done, &who()).expect("undo");
    assert_eq!(back.action, ActionKind::Scale);
    assert_eq!(back.change.patch, Some(json!({"spec": {"replicas": 5}})));
    assert_ne!(back.idempotency_key, done.spec.idempotency_key);
    assert!(
        back.reasoning.contains("undoes scale-web-1"),
        "{}",
        back.reasoning
    );

    let mut restart = done.clone();
    restart.spec = build(&idx, &dep("shop", "web"), &Want::RolloutRestart, &who()).expect("r");
    let e = undo(&idx, &restart, &who()).expect_err("a restart cannot be undone");
    assert!(e.contains("cannot undo"), "{e}");
}
