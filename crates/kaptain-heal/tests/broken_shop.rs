//! The planner and the guard on the `examples/broken-shop` snapshot, analyzed by the real
//! analyzers, under one broad auto-mode ClusterHealingPolicy.

use std::collections::BTreeMap;
use std::path::PathBuf;

use kaptain_analyze::{analyze, catalog};
use kaptain_heal::crd::{ActionKind, ClusterHealingPolicy, Policy, from_yaml};
use kaptain_heal::guard::{Breakers, Decision, GuardContext, SafetyConfig, SafetyRule, evaluate};
use kaptain_heal::planner::{PlanInput, observe, plan};
use kaptain_sources::offline;

const POLICY: &str = r#"
apiVersion: kaptain.dev/v1alpha1
kind: ClusterHealingPolicy
metadata: {name: everything, generation: 1}
spec:
  mode: auto
  minConfidence: 0.9
  actions:
    - raiseResources: {resource: memory, factor: 1.5, max: 1Gi}
    - rollbackDeployment: {}
    - restartPod: {}
    - cordonNode: {}
    - forceDeleteStuckPod: {graceSeconds: 600}
    - suggestManifest: {}
"#;

#[test]
fn broken_shop_gets_bounded_fixes_and_nothing_unsafe() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/broken-shop");
    let loaded = offline::load_paths(&[dir]).expect("load the snapshot");
    let now = loaded.info.captured_at.expect("captured_at");
    let (idx, _, errors) = loaded.into_index();
    assert!(errors.is_empty(), "{errors:?}");
    let checks: Vec<_> = catalog().iter().collect();
    let findings = analyze(&idx, &checks, now);

    let policy: ClusterHealingPolicy = from_yaml(POLICY).expect("policy");
    let policies = [Policy::from(&policy)];
    let plan = plan(&PlanInput {
        findings: &findings,
        policies: &policies,
        index: &idx,
        first_seen: &BTreeMap::new(),
        now,
    });
    for p in &plan.proposals {
        println!("{} {} — {}", p.action, p.target, p.reasoning);
    }
    let config = SafetyConfig::default();
    let breakers = Breakers::default();
    let decide = |target: &str| {
        let p = plan
            .proposals
            .iter()
            .find(|p| p.target == target)
            .unwrap_or_else(|| panic!("no proposal for {target}: {:#?}", plan.proposals));
        let facts = observe(&idx, p);
        let d = evaluate(
            &GuardContext {
                now,
                config: &config,
                policy: Some(&policies[0].spec),
                history: &[],
                breakers: &breakers,
                facts: &facts,
                approved_by: None,
            },
            p,
        );
        (p, d)
    };

    // payments/ledger is OOMKilled at 128Mi: raise to 192Mi on the Deployment.
    let (p, d) = decide("Deployment/payments/ledger");
    assert_eq!(p.action, ActionKind::RaiseResources);
    assert_eq!(p.change.resources[0].before, "128Mi");
    assert_eq!(p.change.resources[0].after, "192Mi");
    assert_eq!(d, Decision::Allow { dry_run: false });

    // The missing ConfigMap gets a suggestion only a person may apply.
    let (p, d) = decide("ConfigMap/shop/checkout-config");
    assert_eq!(p.action, ActionKind::SuggestManifest);
    assert_eq!(d.rule(), Some(SafetyRule::HumanOnly));

    // worker-3 is NotReady: cordon it.
    let (p, d) = decide("Node/worker-3");
    assert_eq!(p.action, ActionKind::CordonNode);
    assert_eq!(d, Decision::Allow { dry_run: false });

    // prometheus-0 (a StatefulSet pod) is stuck Terminating on the dead node: a force delete
    // waits for a person.
    let (p, d) = decide("Pod/monitoring/prometheus-0");
    assert_eq!(p.action, ActionKind::ForceDeleteStuckPod);
    assert_eq!(d.rule(), Some(SafetyRule::HumanOnly));

    // The not-Ready DaemonSet pod on the dead node is not restarted (it could not be).
    assert!(
        !plan
            .proposals
            .iter()
            .any(|p| p.target.contains("node-exporter")),
        "{:#?}",
        plan.proposals
    );
    let skip = plan
        .skipped
        .iter()
        .find(|s| s.object.name.starts_with("node-exporter-"))
        .expect("skipped");
    assert!(skip.reason.contains("NotReady"), "{}", skip.reason);

    // Nothing is ever proposed twice for one change, and every proposal is well-formed for
    // the guard.
    let mut keys: Vec<&str> = plan
        .proposals
        .iter()
        .map(|p| p.idempotency_key.as_str())
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), plan.proposals.len());
    for p in &plan.proposals {
        let facts = observe(&idx, p);
        let ctx = GuardContext {
            now,
            config: &config,
            policy: Some(&policies[0].spec),
            history: &[],
            breakers: &breakers,
            facts: &facts,
            approved_by: Some("alice"),
        };
        let d = evaluate(&ctx, p);
        assert!(
            !matches!(
                d.rule(),
                Some(SafetyRule::ChangeMismatch | SafetyRule::OutOfBounds)
            ),
            "{}: {d:?}",
            p.target
        );
    }
    // The planner's choices are stable: the same input plans the same actions.
    let again = kaptain_heal::planner::plan(&PlanInput {
        findings: &findings,
        policies: &policies,
        index: &idx,
        first_seen: &BTreeMap::new(),
        now,
    });
    assert_eq!(again, plan);
}
