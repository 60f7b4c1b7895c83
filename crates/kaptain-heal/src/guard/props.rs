//! Property tests: for arbitrary configurations, policies, proposals, histories, breaker
//! states and facts, the guard never lets a real change through that a rule forbids. The
//! oracles below restate each rule independently of the guard's code. Cases: `PROPTEST_CASES`
//! when set (CI runs 10,000; `scripts/prop-guard.sh` 100,000), else 3,000. Sequences of
//! decisions are in `seq_props`.

use std::collections::BTreeMap;

use kaptain_model::ObjectRef;
use proptest::prelude::*;
use proptest::sample::{select, subsequence};

use super::testkit::*;
use super::*;
use crate::crd::{ActionTemplate, Operation, ResourceName};

const NAMESPACES: &[&str] = &[
    "shop",
    "payments",
    "default",
    "kube-system",
    "kube-public",
    "kube-node-lease",
];

/// Mostly ordinary namespaces, sometimes a protected one.
fn arb_ns() -> impl Strategy<Value = &'static str> {
    prop_oneof![3 => select(NAMESPACES[..3].to_vec()), 1 => select(NAMESPACES.to_vec())]
}

fn arb_labels() -> impl Strategy<Value = BTreeMap<String, String>> {
    let some = prop::collection::btree_map(
        select(vec![PROTECTED_LABEL, "app", "tier"]).prop_map(String::from),
        select(vec!["true", "false", "critical", "api"]).prop_map(String::from),
        1..3,
    );
    prop_oneof![3 => Just(BTreeMap::new()), 1 => some]
}

fn arb_op() -> impl Strategy<Value = Operation> {
    select(vec![Operation::Patch, Operation::Delete, Operation::Create])
}

fn arb_config() -> impl Strategy<Value = SafetyConfig> {
    let nss = subsequence(
        vec!["kube-system", "kube-public", "kube-node-lease", "payments"],
        0..=4,
    );
    // The default protected kinds, sometimes plus a kind actions do target.
    let extra_kind = prop::option::weighted(0.2, select(vec!["Deployment", "pod", "Node"]));
    let labels = subsequence(vec![(PROTECTED_LABEL, "true"), ("tier", "critical")], 0..=2);
    let extra_never = prop::option::weighted(
        0.2,
        select(vec![
            (Some(Operation::Delete), "Pod"),
            (Some(Operation::Patch), "deployment"),
            (None, "Node"),
            (None, "ConfigMap"),
        ]),
    );
    (
        (nss, extra_kind, labels, extra_never),
        prop::bool::weighted(0.1),
        (0u32..40, 0u32..30, 0.5f64..6.0),
        (1u32..5, 60u64..1200, 60u64..1800),
    )
        .prop_map(
            |((nss, kind, labels, never), dry_run, (per_hour, pods, factor), (n, win, cool))| {
                let mut c = SafetyConfig {
                    protected_namespaces: nss.into_iter().map(String::from).collect(),
                    protected_labels: labels
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                    dry_run,
                    max_actions_per_hour: per_hour,
                    max_pods_per_action: pods,
                    max_resource_factor: factor,
                    // The world's breaker is the operator-wide one (see `arb_world`).
                    global_breaker: BreakerConfig {
                        failure_threshold: n,
                        window: std::time::Duration::from_secs(win).into(),
                        cool_off: std::time::Duration::from_secs(cool).into(),
                    },
                    ..SafetyConfig::default()
                };
                c.protected_kinds.extend(kind.map(String::from));
                c.never_allow
                    .extend(never.map(|(operation, kind)| NeverAllow {
                        operation,
                        kind: kind.to_string(),
                    }));
                c
            },
        )
}

fn arb_template() -> impl Strategy<Value = ActionTemplate> {
    prop_oneof![
        Just(ActionTemplate::RestartPod {}),
        Just(ActionTemplate::RolloutRestart {}),
        (0i32..4, 0i32..8).prop_map(|(min, max)| ActionTemplate::Scale { min, max }),
        (
            select(vec![ResourceName::Memory, ResourceName::Cpu]),
            0.5f64..6.0,
            select(vec!["300Mi", "2Gi", "1", "nonsense"]),
        )
            .prop_map(|(resource, factor, max)| ActionTemplate::RaiseResources {
                resource,
                factor,
                max: max.into(),
            }),
        Just(ActionTemplate::RollbackDeployment {}),
        Just(ActionTemplate::CordonNode {}),
        (-10i64..4000).prop_map(|g| ActionTemplate::ForceDeleteStuckPod { grace_seconds: g }),
        Just(ActionTemplate::SuggestManifest {}),
    ]
}

fn arb_policy() -> impl Strategy<Value = Option<HealingPolicySpec>> {
    let spec = (
        prop_oneof![
            4 => Just(Mode::Auto),
            1 => Just(Mode::Approval),
            1 => Just(Mode::DryRun),
            1 => Just(Mode::Paused),
        ],
        prop_oneof![
            3 => Just(templates()),
            2 => prop::collection::vec(arb_template(), 0..5),
        ],
        (0u32..8, 0u64..7200),
        (0u32..20, prop_oneof![1 => 0u32..=100, 1 => Just(100u32)]),
        prop_oneof![9 => 0.0f64..=1.0, 1 => Just(f64::NAN)],
    )
        .prop_map(|(mode, actions, (per_hour, cool), (pods, pct), conf)| {
            let mut p = HealingPolicySpec {
                actions,
                mode,
                min_confidence: conf,
                ..HealingPolicySpec::default()
            };
            p.rate_limit.actions_per_hour = per_hour;
            p.rate_limit.cooldown_per_object = std::time::Duration::from_secs(cool).into();
            p.blast_radius.max_pods = pods;
            p.blast_radius.max_percent_of_replicas = pct;
            p
        });
    prop_oneof![19 => spec.prop_map(Some), 1 => Just(None)]
}

fn arb_target_kind() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![
        6 => Just(None),
        1 => select(vec![
            "StatefulSet",
            "PersistentVolumeClaim",
            "Namespace",
            "Role",
            "CustomResourceDefinition",
            "Pod",
            "Deployment",
        ])
        .prop_map(Some),
    ]
}

fn arb_proposal() -> impl Strategy<Value = crate::Proposal> {
    (
        select(ActionKind::ALL.to_vec()),
        arb_ns(),
        prop::option::weighted(0.2, arb_ns()),
        arb_target_kind(),
        prop::option::weighted(0.1, arb_op()),
        prop_oneof![9 => 0.0f64..=1.0, 1 => Just(f64::NAN)],
        prop::option::weighted(0.1, Just("risky".to_string())),
        select(vec!["k1", "k2", "fresh"]),
    )
        .prop_map(|(kind, ns, finding_ns, tkind, op, conf, approval, key)| {
            let mut p = proposal(kind, ns);
            if let Some(ns) = finding_ns
                && p.finding.object.namespace.is_some()
            {
                p.finding.object.namespace = Some(ns.to_string());
            }
            if let Some(k) = tkind {
                p.change.target.kind = k.to_string();
            }
            if let Some(op) = op {
                p.change.operation = op;
            }
            p.confidence = conf;
            p.requires_approval = approval;
            p.idempotency_key = key.to_string();
            p
        })
}

fn arb_history() -> impl Strategy<Value = Vec<ActionRecord>> {
    let targets = vec![
        target_for(ActionKind::RestartPod, "shop"),
        target_for(ActionKind::RolloutRestart, "shop"),
        target_for(ActionKind::CordonNode, "shop"),
        ObjectRef::new("v1", "Pod", Some("other"), "x"),
    ];
    prop::collection::vec(
        (
            select(vec!["p", "q"]),
            select(targets),
            prop_oneof![1 => -60i64..3600, 2 => 3600i64..7200],
            select(vec!["k1", "h1", "h2"]),
        )
            .prop_map(|(policy, target, ago, key)| record(policy, target, ago, key)),
        0..8,
    )
}

fn arb_breaker() -> impl Strategy<Value = CircuitBreaker> {
    (
        prop_oneof![
            4 => Just(BreakerState::Closed),
            1 => Just(BreakerState::Open),
            1 => Just(BreakerState::HalfOpen),
        ],
        prop::option::of(-3000i64..60),
        prop::option::weighted(0.3, Just("probe".to_string())),
    )
        .prop_map(|(state, opened, probe)| CircuitBreaker {
            state,
            failures: Vec::new(),
            opened_at: opened.map(at),
            probe,
        })
}

fn arb_facts() -> impl Strategy<Value = TargetFacts> {
    (
        (
            arb_labels(),
            arb_labels(),
            prop::collection::vec(arb_labels(), 0..3),
        ),
        prop::bool::weighted(0.9),
        (0u32..12, prop::option::of(0u32..20)),
        prop::option::of(-7200i64..60),
    )
        .prop_map(
            |((t, n, r), owned, (pods, replicas), deleted)| TargetFacts {
                target_labels: t,
                namespace_labels: n,
                related_labels: r,
                owner: owned.then(|| ObjectRef::new("apps/v1", "ReplicaSet", Some("shop"), "rs")),
                pods_affected: pods,
                workload_replicas: replicas,
                deletion_timestamp: deleted.map(at),
                rollback_revision: Some(1),
                workload: None,
            },
        )
}

fn arb_world() -> impl Strategy<Value = World> {
    (
        arb_config(),
        arb_policy(),
        arb_history(),
        arb_breaker(),
        arb_facts(),
        prop::option::of(select(vec!["alice", "alice", ""]).prop_map(String::from)),
    )
        .prop_map(
            |(config, policy, history, breaker, facts, approved_by)| World {
                config,
                policy,
                history,
                breakers: Breakers {
                    global: breaker,
                    ..Breakers::default()
                },
                facts,
                approved_by,
                now: now(),
            },
        )
}

// ---- oracles, restating each rule independently ----------------------------------------

fn label_protected(cfg: &SafetyConfig, l: &BTreeMap<String, String>) -> bool {
    cfg.protected_labels
        .iter()
        .any(|(k, v)| l.get(k).is_some_and(|x| x == v))
}

fn is_protected(w: &World, p: &crate::Proposal) -> bool {
    let cfg = &w.config;
    let t = &p.change.target;
    let ns_protected = |ns: &Option<String>| {
        ns.as_ref()
            .is_some_and(|ns| cfg.protected_namespaces.contains(ns))
    };
    let f = &w.facts;
    ns_protected(&t.namespace)
        || ns_protected(&p.finding.object.namespace)
        || cfg
            .protected_kinds
            .iter()
            .any(|k| k.to_lowercase() == t.kind.to_lowercase())
        || label_protected(cfg, &f.target_labels)
        || label_protected(cfg, &f.namespace_labels)
        || f.related_labels.iter().any(|l| label_protected(cfg, l))
        || cfg.never_allow.iter().any(|n| {
            n.kind.to_lowercase() == t.kind.to_lowercase()
                && (n.operation.is_none() || n.operation == Some(p.change.operation))
        })
}

fn secs(d: &kube_core::Duration) -> i64 {
    std::time::Duration::from(*d).as_secs() as i64
}

/// Every limit a real change must respect, checked after the fact.
fn real_change_respects_limits(w: &World, p: &crate::Proposal) -> Result<(), String> {
    let policy = w.policy.as_ref().ok_or("allowed without a policy")?;
    let now = w.now.as_second();
    let in_hour: Vec<&ActionRecord> = w
        .history
        .iter()
        .filter(|r| now - r.started_at.as_second() < 3600)
        .collect();
    if in_hour.len() >= w.config.max_actions_per_hour as usize {
        return Err(format!("global rate: {} in the hour", in_hour.len()));
    }
    let mine = in_hour
        .iter()
        .filter(|r| r.policy.name == p.policy.name)
        .count();
    if mine >= policy.rate_limit.actions_per_hour as usize {
        return Err(format!("policy rate: {mine} in the hour"));
    }
    let cool = secs(&policy.rate_limit.cooldown_per_object);
    if w.history.iter().any(|r| {
        r.target.kind == p.change.target.kind
            && r.target.namespace == p.change.target.namespace
            && r.target.name == p.change.target.name
            && now - r.started_at.as_second() < cool
    }) {
        return Err("inside the cool-down".into());
    }
    let f = &w.facts;
    if f.pods_affected > policy.blast_radius.max_pods
        || f.pods_affected > w.config.max_pods_per_action
    {
        return Err(format!("{} pods", f.pods_affected));
    }
    if let Some(r) = f.workload_replicas
        && f.pods_affected as u64 * 100
            > policy.blast_radius.max_percent_of_replicas as u64 * r as u64
    {
        return Err(format!("{} of {r} replicas", f.pods_affected));
    }
    let (breaker, breaker_cfg) = (&w.breakers.global, &w.config.global_breaker);
    if !breaker.admits(breaker_cfg, w.now) {
        return Err("breaker does not admit".into());
    }
    if matches!(breaker.state, BreakerState::Open)
        && breaker
            .opened_at
            .is_some_and(|t| now - t.as_second() < secs(&breaker_cfg.cool_off))
    {
        return Err("breaker open".into());
    }
    if w.config.dry_run || matches!(policy.mode, Mode::DryRun | Mode::Paused) {
        return Err(format!("mode {:?} / global dry-run", policy.mode));
    }
    if w.history
        .iter()
        .any(|r| r.idempotency_key == p.idempotency_key)
    {
        return Err("duplicate key".into());
    }
    let approved = w.approved_by.as_deref().is_some_and(|a| !a.is_empty());
    if !approved {
        if policy.mode == Mode::Approval {
            return Err("approval mode without approval".into());
        }
        if p.action == ActionKind::SuggestManifest || p.requires_approval.is_some() {
            return Err("human-only without approval".into());
        }
        if p.confidence.is_nan()
            || policy.min_confidence.is_nan()
            || p.confidence < policy.min_confidence
        {
            return Err("low confidence without approval".into());
        }
    }
    if policy.template(p.action).is_none() {
        return Err("not in policy".into());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(super::seq_props::cases(3000)))]

    /// Protected namespaces, kinds and labels and the never-allow list are never allowed,
    /// not even as a dry-run.
    #[test]
    fn protected_objects_are_never_allowed(w in arb_world(), p in arb_proposal()) {
        let d = w.eval(&p);
        if is_protected(&w, &p) {
            prop_assert!(!matches!(d, Decision::Allow { .. }), "{d:?} for {p:?}");
        }
    }

    /// A real change respects the rate limits, cool-downs, blast radius, breaker, mode,
    /// idempotency and approval rules.
    #[test]
    fn real_changes_respect_every_limit(w in arb_world(), p in arb_proposal()) {
        let d = w.eval(&p);
        if d.allows_change() {
            prop_assert!(!is_protected(&w, &p));
            if let Err(why) = real_change_respects_limits(&w, &p) {
                prop_assert!(false, "allowed although {why}: {p:?}");
            }
        }
    }

    /// A paused policy never allows anything; dry-run never allows a real change.
    #[test]
    fn paused_and_dry_run_modes(w in arb_world(), p in arb_proposal()) {
        let d = w.eval(&p);
        let mode = w.policy.as_ref().map(|p| p.mode);
        if mode == Some(Mode::Paused) {
            prop_assert!(!matches!(d, Decision::Allow { .. }), "{d:?}");
        }
        if mode == Some(Mode::DryRun) || w.config.dry_run {
            prop_assert!(!d.allows_change(), "{d:?}");
        }
    }

    /// In dry-run mode, a well-formed proposal the policy lists is allowed as a dry-run,
    /// whatever the limits (which protect against changes), unless its object is protected.
    #[test]
    fn dry_run_of_a_valid_proposal_is_allowed_as_dry_run(
        mut w in arb_world(),
        kind in select(ActionKind::ALL.to_vec()),
        ns in select(NAMESPACES.to_vec()),
    ) {
        let p = proposal(kind, ns);
        w.config.max_resource_factor = 4.0;
        w.facts.owner = Some(ObjectRef::new("apps/v1", "ReplicaSet", Some(ns), "rs"));
        w.facts.deletion_timestamp = Some(at(-3600));
        w.history.retain(|r| r.idempotency_key != p.idempotency_key);
        w.policy = Some(policy(Mode::DryRun));
        let d = w.eval(&p);
        if is_protected(&w, &p) {
            let hard = matches!(
                d.rule(),
                Some(
                    SafetyRule::ProtectedNamespace
                        | SafetyRule::ProtectedKind
                        | SafetyRule::ProtectedLabel
                        | SafetyRule::NeverAllow
                )
            );
            prop_assert!(hard && !matches!(d, Decision::Allow { .. }), "{d:?}");
        } else {
            prop_assert_eq!(d, Decision::Allow { dry_run: true });
        }
    }

    /// The breaker's admission never lets an action through while it is open, and opens
    /// after the configured number of failures within the window.
    #[test]
    fn breaker_opens_after_threshold_failures(
        n in 1u32..6,
        gaps in prop::collection::vec(0i64..120, 1..12),
    ) {
        let cfg = BreakerConfig {
            failure_threshold: n,
            window: std::time::Duration::from_secs(600).into(),
            cool_off: std::time::Duration::from_secs(900).into(),
        };
        let mut b = CircuitBreaker::default();
        let mut t = 0;
        for (i, g) in gaps.iter().enumerate() {
            t += g;
            b.on_failure(&cfg, at(t));
            // All failures so far are within 600s of each other only if the sum of gaps is.
            if i + 1 >= n as usize && gaps[i + 1 - n as usize..=i].iter().skip(1).sum::<i64>() < 600 {
                prop_assert_eq!(b.state_at(&cfg, at(t)), BreakerState::Open);
            }
            if b.state_at(&cfg, at(t)) == BreakerState::Open {
                prop_assert!(!b.admits(&cfg, at(t)));
            }
        }
    }
}

/// The generators reach every outcome, so the properties above are not vacuous.
#[test]
fn generators_reach_every_decision() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = (arb_world(), arb_proposal());
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for _ in 0..5000 {
        let (w, p) = strategy.new_tree(&mut runner).expect("generate").current();
        let d = w.eval(&p);
        let label = match d.rule() {
            Some(r) => format!("{}:{}", d.as_str(), r.as_str()),
            None => d.as_str().to_string(),
        };
        *seen.entry(label).or_default() += 1;
    }
    let has = |l: &str| {
        seen.keys()
            .any(|k| k == l || k.starts_with(&format!("{l}:")) || k.ends_with(&format!(":{l}")))
    };
    for l in ["allow", "allow-dry-run"].into_iter().chain(
        SafetyRule::ALL
            .iter()
            .map(|r| r.as_str())
            .filter(|r| *r != "dry-run-mode"),
    ) {
        assert!(has(l), "never reached {l}: {seen:?}");
    }
    assert!(seen.get("allow").copied().unwrap_or(0) >= 100, "{seen:?}");
    println!("{seen:?}");
}
