//! Planner + guard, end to end: whatever policies are written, no finding ever yields an
//! allowed action on a protected object.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use serde_json::json;

use super::fixtures::*;
use super::*;
use crate::crd::{FindingMatch, Mode, ResourceName};
use crate::guard::{Breakers, Decision, GuardContext, SafetyConfig, SafetyRule, evaluate};

const NAMESPACES: [&str; 3] = ["shop", "ops", "kube-system"];

/// Every namespace has a crash-looping and an OOM-killed Deployment, a pod stuck
/// Terminating (on NotReady node-1), and a Deployment missing its ConfigMap; `ops` is labelled protected; in `shop`
/// Deployment `guarded` is labelled protected; node-1 is NotReady.
fn world() -> &'static (ClusterIndex, Vec<Finding>) {
    static W: OnceLock<(ClusterIndex, Vec<Finding>)> = OnceLock::new();
    W.get_or_init(|| {
        let mut objs = vec![node("node-1", "Unknown"), node("node-2", "True")];
        for ns in NAMESPACES {
            let labels = if ns == "ops" {
                json!({"kaptain.dev/protected": "true"})
            } else {
                json!({})
            };
            objs.push(namespace(ns, labels));
            let mut apps = vec![("api", crash_status("api")), ("mem", oom_status("mem"))];
            if ns == "shop" {
                apps.push(("guarded", crash_status("guarded")));
            }
            for (app, status) in apps {
                let ctrs = json!([container(app, "img:1", Some("256Mi"), Some("128Mi"))]);
                let mut d = deployment(ns, app, 2, ctrs.clone());
                if app == "guarded" {
                    d["metadata"]["labels"]["kaptain.dev/protected"] = json!("true");
                }
                objs.push(d);
                objs.push(replicaset(ns, app, "7d9c", 1, 2, ctrs.clone()));
                let rs = format!("{app}-7d9c");
                let mut p = pod(
                    ns,
                    &format!("{app}-7d9c-x"),
                    app,
                    ("ReplicaSet", &rs),
                    ctrs,
                    json!([status]),
                );
                p["spec"]["nodeName"] = json!("node-2");
                objs.push(p);
            }
            let ctrs = json!([container("db", "db:1", None, None)]);
            let mut stuck = pod(
                ns,
                "db-0",
                "db",
                ("ReplicaSet", "db-1"),
                ctrs,
                json!([running_status("db")]),
            );
            stuck["metadata"]["deletionTimestamp"] = json!(ago(3600));
            objs.push(stuck);
            let mut ctrs = json!([container("cfg", "cfg:1", None, None)]);
            ctrs[0]["envFrom"] = json!([{"configMapRef": {"name": "cfg-config"}}]);
            objs.push(deployment(ns, "cfg", 1, ctrs));
        }
        let idx = index(objs);
        let f = findings(
            &idx,
            &[
                "pod.crash-loop",
                "pod.oom-killed",
                "pod.stuck-terminating",
                "node.not-ready",
                "config.missing-configmap",
            ],
        );
        (idx, f)
    })
}

fn arb_template() -> impl Strategy<Value = ActionTemplate> {
    prop_oneof![
        Just(ActionTemplate::RestartPod {}),
        Just(ActionTemplate::RolloutRestart {}),
        (0i32..3, 0i32..5).prop_map(|(min, max)| ActionTemplate::Scale { min, max }),
        (1.0f64..4.0, select(vec!["300Mi", "1Gi"])).prop_map(|(factor, max)| {
            ActionTemplate::RaiseResources {
                resource: ResourceName::Memory,
                factor,
                max: max.into(),
            }
        }),
        Just(ActionTemplate::RollbackDeployment {}),
        Just(ActionTemplate::CordonNode {}),
        (0i64..5000).prop_map(|g| ActionTemplate::ForceDeleteStuckPod { grace_seconds: g }),
        Just(ActionTemplate::SuggestManifest {}),
    ]
}

fn arb_policy() -> impl Strategy<Value = Policy> {
    (
        prop::option::of(select(NAMESPACES.to_vec())),
        subsequence(
            vec!["pod", "pod.crash-loop", "pod.oom-killed", "node", "config"],
            0..=2,
        ),
        subsequence(NAMESPACES.to_vec(), 0..=2),
        select(vec![
            Mode::Auto,
            Mode::Auto,
            Mode::Approval,
            Mode::DryRun,
            Mode::Paused,
        ]),
        prop::collection::vec(arb_template(), 1..5),
        0.0f64..1.0,
        "[a-d]",
    )
        .prop_map(|(ns, checks, namespaces, mode, actions, conf, name)| {
            let kind = if ns.is_some() {
                PolicyKind::HealingPolicy
            } else {
                PolicyKind::ClusterHealingPolicy
            };
            let mut p = policy(kind, ns, &name, mode, actions);
            p.spec.selector = FindingMatch {
                checks: checks.into_iter().map(String::from).collect(),
                namespaces: namespaces.into_iter().map(String::from).collect(),
                ..FindingMatch::default()
            };
            p.spec.min_confidence = conf;
            p.spec.blast_radius.max_pods = 50;
            p
        })
}

/// Protected by the fixture's construction, restated without the guard's code.
fn protected(p: &Proposal) -> bool {
    let in_protected_ns = |o: &kaptain_model::ObjectRef| {
        matches!(o.namespace.as_deref(), Some("kube-system" | "ops"))
    };
    let guarded = |o: &kaptain_model::ObjectRef| {
        o.namespace.as_deref() == Some("shop") && o.name.starts_with("guarded")
    };
    let (t, f) = (&p.change.target, &p.finding.object);
    in_protected_ns(t) || in_protected_ns(f) || guarded(t) || guarded(f)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn no_policy_yields_an_allowed_action_on_a_protected_object(
        mut policies in prop::collection::vec(arb_policy(), 1..4),
        approved in prop::bool::ANY,
    ) {
        // One object per policy identity, as in a cluster.
        let mut seen = std::collections::HashSet::new();
        policies.retain(|p| seen.insert(p.reference.clone()));
        let (idx, findings) = world();
        let plan = plan(&PlanInput {
            findings,
            policies: &policies,
            index: idx,
            first_seen: &BTreeMap::new(),
            now: now(),
        });
        let config = SafetyConfig::default();
        let breakers = Breakers::default();
        for p in &plan.proposals {
            let spec = policies
                .iter()
                .find(|x| x.reference == p.policy)
                .map(|x| &x.spec);
            let facts = observe(idx, p);
            let d = evaluate(
                &GuardContext {
                    now: now(),
                    config: &config,
                    policy: spec,
                    history: &[],
                    breakers: &breakers,
                    facts: &facts,
                    approved_by: approved.then_some("alice"),
                },
                p,
            );
            if protected(p) {
                prop_assert!(!matches!(d, Decision::Allow { .. }), "{d:?} for {}", p.target);
            } else {
                // Planner output is well-formed: it never trips the guard's shape or bounds
                // checks.
                let rule = d.rule();
                prop_assert!(
                    !matches!(rule, Some(SafetyRule::ChangeMismatch | SafetyRule::OutOfBounds | SafetyRule::NotInPolicy)),
                    "{d:?} for {p:?}"
                );
            }
        }
    }
}

/// The generated policies do produce proposals on protected objects (for the guard to
/// refuse) and allowed ones elsewhere, so the property above is not vacuous.
#[test]
fn generated_policies_reach_protected_and_allowed_proposals() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let (idx, findings) = world();
    let mut runner = TestRunner::deterministic();
    let (mut on_protected, mut allowed, mut kinds) = (0, 0, std::collections::BTreeSet::new());
    for _ in 0..300 {
        let policies = prop::collection::vec(arb_policy(), 1..4)
            .new_tree(&mut runner)
            .expect("generate")
            .current();
        let mut seen = std::collections::HashSet::new();
        let policies: Vec<Policy> = policies
            .into_iter()
            .filter(|p| seen.insert(p.reference.clone()))
            .collect();
        let plan = plan(&PlanInput {
            findings,
            policies: &policies,
            index: idx,
            first_seen: &BTreeMap::new(),
            now: now(),
        });
        let config = SafetyConfig::default();
        let breakers = Breakers::default();
        for p in &plan.proposals {
            let spec = policies
                .iter()
                .find(|x| x.reference == p.policy)
                .map(|x| &x.spec);
            let facts = observe(idx, p);
            let ctx = GuardContext {
                now: now(),
                config: &config,
                policy: spec,
                history: &[],
                breakers: &breakers,
                facts: &facts,
                approved_by: None,
            };
            if protected(p) {
                on_protected += 1;
            } else if evaluate(&ctx, p).allows_change() {
                allowed += 1;
                kinds.insert(p.action);
            }
        }
    }
    println!("on protected objects: {on_protected}, allowed: {allowed}, kinds: {kinds:?}");
    assert!(
        on_protected >= 50 && allowed >= 50,
        "{on_protected} {allowed}"
    );
    assert!(kinds.len() >= 5, "allowed kinds: {kinds:?}");
}
