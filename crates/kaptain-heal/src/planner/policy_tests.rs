//! Which policy answers which finding, in which order; idempotency keys and names.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kaptain_model::{Category, Severity};
use serde_json::json;

use super::fixtures::*;
use super::*;
use crate::crd::{FindingMatch, Mode, PolicyKind};

fn crash() -> (ClusterIndex, Vec<Finding>) {
    let ctrs = json!([container("api", "api:1", None, None)]);
    let mut objs = vec![
        namespace("shop", json!({"env": "prod"})),
        namespace("dev", json!({"env": "dev"})),
    ];
    for ns in ["shop", "dev"] {
        objs.push(deployment(ns, "api", 3, ctrs.clone()));
        objs.push(replicaset(ns, "api", "7d9c", 1, 3, ctrs.clone()));
        objs.push(pod(
            ns,
            "api-7d9c-x2",
            "api",
            ("ReplicaSet", "api-7d9c"),
            ctrs.clone(),
            json!([crash_status("api")]),
        ));
    }
    let idx = index(objs);
    let f = findings(&idx, &["pod.crash-loop"]);
    assert_eq!(f.len(), 2);
    (idx, f)
}

fn restart_policy(kind: PolicyKind, ns: Option<&str>, name: &str, m: FindingMatch) -> Policy {
    let mut p = policy(
        kind,
        ns,
        name,
        Mode::Auto,
        vec![ActionTemplate::RestartPod {}],
    );
    p.spec.selector = m;
    p
}

/// Namespaces of the findings `m` (in a cluster policy) answers.
fn answered(m: FindingMatch) -> Vec<String> {
    let (idx, f) = crash();
    let p = restart_policy(PolicyKind::ClusterHealingPolicy, None, "p", m);
    let mut v: Vec<String> = f
        .iter()
        .filter(|f| matches(&p, f, &idx, &BTreeMap::new(), now()) == Match::Yes)
        .filter_map(|f| f.object.namespace.clone())
        .collect();
    v.sort();
    v
}

#[test]
fn match_criteria_each_narrow_the_findings() {
    let all = vec!["dev".to_string(), "shop".to_string()];
    assert_eq!(answered(FindingMatch::default()), all);
    let m = |f: fn(&mut FindingMatch)| {
        let mut m = FindingMatch::default();
        f(&mut m);
        answered(m)
    };
    assert_eq!(m(|m| m.checks = vec!["pod".into()]), all);
    assert_eq!(m(|m| m.checks = vec!["pod.crash-loop".into()]), all);
    assert!(
        m(|m| m.checks = vec!["po".into()]).is_empty(),
        "prefixes stop at dots"
    );
    assert!(m(|m| m.checks = vec!["pod.crash".into()]).is_empty());
    assert_eq!(m(|m| m.categories = vec![Category::Reliability]), all);
    assert!(m(|m| m.categories = vec![Category::Cost]).is_empty());
    assert_eq!(m(|m| m.min_severity = Some(Severity::Critical)), all);
    assert_eq!(m(|m| m.namespaces = vec!["shop".into()]), ["shop"]);
    assert_eq!(
        m(|m| {
            m.namespace_selector = Some(LabelSelector {
                match_labels: Some(BTreeMap::from([("env".into(), "dev".into())])),
                ..LabelSelector::default()
            })
        }),
        ["dev"]
    );
    assert_eq!(
        m(|m| {
            m.selector = Some(LabelSelector {
                match_labels: Some(BTreeMap::from([("app".into(), "api".into())])),
                ..LabelSelector::default()
            })
        }),
        all
    );
    assert!(
        m(|m| {
            m.selector = Some(LabelSelector {
                match_labels: Some(BTreeMap::from([("app".into(), "web".into())])),
                ..LabelSelector::default()
            })
        })
        .is_empty()
    );
}

#[test]
fn a_namespaced_policy_only_answers_its_namespace() {
    let (idx, f) = crash();
    let p = restart_policy(
        PolicyKind::HealingPolicy,
        Some("dev"),
        "p",
        FindingMatch::default(),
    );
    let got: Vec<Match> = f
        .iter()
        .map(|f| matches(&p, f, &idx, &BTreeMap::new(), now()))
        .collect();
    let want: Vec<Match> = f
        .iter()
        .map(|f| {
            if f.object.namespace.as_deref() == Some("dev") {
                Match::Yes
            } else {
                Match::No
            }
        })
        .collect();
    assert_eq!(got, want);
}

#[test]
fn for_duration_waits_from_first_seen() {
    let (idx, f) = crash();
    let m = FindingMatch {
        for_duration: Some(std::time::Duration::from_secs(300).into()),
        ..FindingMatch::default()
    };
    let p = restart_policy(PolicyKind::ClusterHealingPolicy, None, "p", m);
    let seen = |secs: i64| {
        BTreeMap::from([(
            f[0].fingerprint.clone(),
            Timestamp::from_second(now().as_second() - secs).expect("time"),
        )])
    };
    assert!(matches!(
        matches(&p, &f[0], &idx, &BTreeMap::new(), now()),
        Match::NotYet(_)
    ));
    assert!(matches!(
        matches(&p, &f[0], &idx, &seen(299), now()),
        Match::NotYet(_)
    ));
    assert_eq!(matches(&p, &f[0], &idx, &seen(300), now()), Match::Yes);
    // A waiting policy holds the finding: a later policy does not jump in.
    let eager = restart_policy(
        PolicyKind::ClusterHealingPolicy,
        None,
        "z-eager",
        FindingMatch::default(),
    );
    let plan = plan(&PlanInput {
        findings: &f[..1],
        policies: &[eager, p],
        index: &idx,
        first_seen: &seen(10),
        now: now(),
    });
    assert!(plan.proposals.is_empty(), "{plan:#?}");
    assert!(plan.skipped[0].reason.contains("lasted 10s of the 300s"));
}

#[test]
fn namespaced_policies_go_before_cluster_policies_then_by_name() {
    let (idx, f) = crash();
    let mk = |kind, ns: Option<&str>, name: &str| {
        restart_policy(kind, ns, name, FindingMatch::default())
    };
    let policies = [
        mk(PolicyKind::ClusterHealingPolicy, None, "a-cluster"),
        mk(PolicyKind::HealingPolicy, Some("shop"), "z-shop"),
        mk(PolicyKind::HealingPolicy, Some("shop"), "b-shop"),
    ];
    let plan = plan(&PlanInput {
        findings: &f,
        policies: &policies,
        index: &idx,
        first_seen: &BTreeMap::new(),
        now: now(),
    });
    let by_ns: BTreeMap<String, String> = plan
        .proposals
        .iter()
        .map(|p| {
            (
                p.finding.object.namespace.clone().unwrap_or_default(),
                p.policy.name.clone(),
            )
        })
        .collect();
    assert_eq!(by_ns["shop"], "b-shop");
    assert_eq!(by_ns["dev"], "a-cluster");
}

#[test]
fn a_policy_without_an_applicable_action_lets_the_next_one_answer() {
    let (idx, f) = crash();
    let cordon_only = policy(
        PolicyKind::HealingPolicy,
        Some("shop"),
        "cordon",
        Mode::Auto,
        vec![ActionTemplate::CordonNode {}],
    );
    let restart = restart_policy(
        PolicyKind::ClusterHealingPolicy,
        None,
        "restart",
        FindingMatch::default(),
    );
    let plan = plan(&PlanInput {
        findings: &f,
        policies: &[cordon_only, restart],
        index: &idx,
        first_seen: &BTreeMap::new(),
        now: now(),
    });
    assert_eq!(plan.proposals.len(), 2);
    assert!(plan.proposals.iter().all(|p| p.policy.name == "restart"));
    assert_eq!(plan.skipped.len(), 1);
    assert!(
        plan.skipped[0]
            .reason
            .contains("CordonNode: a cordon does not answer pod.crash-loop")
    );
}

#[test]
fn keys_are_stable_and_change_with_generation_and_state() {
    let (idx, f) = crash();
    let p = restart_policy(
        PolicyKind::ClusterHealingPolicy,
        None,
        "p",
        FindingMatch::default(),
    );
    let input = |policies: &[Policy]| {
        plan(&PlanInput {
            findings: &f,
            policies,
            index: &idx,
            first_seen: &BTreeMap::new(),
            now: now(),
        })
    };
    let a = input(std::slice::from_ref(&p));
    let b = input(std::slice::from_ref(&p));
    assert_eq!(a, b, "planning is deterministic");
    let keys: Vec<&str> = a
        .proposals
        .iter()
        .map(|p| p.idempotency_key.as_str())
        .collect();
    assert_eq!(keys.len(), 2);
    assert_ne!(keys[0], keys[1]);
    let mut p2 = p.clone();
    p2.reference.generation = 2;
    let c = input(&[p2]);
    assert_ne!(
        c.proposals[0].idempotency_key,
        a.proposals[0].idempotency_key
    );
    // Another state before the change (another pod UID) is another key.
    let q = &a.proposals[0];
    let mut change = q.change.clone();
    change.before = Some(json!({"uid": "other"}));
    assert_ne!(
        idempotency_key(&q.finding.fingerprint, q.action, &change, &q.policy),
        q.idempotency_key
    );
    for p in &a.proposals {
        let name = object_name(p);
        assert!(name.len() <= 63, "{name}");
        assert!(name.starts_with("restart-api-7d9c-x2-"), "{name}");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{name}"
        );
    }
}

#[test]
fn proposals_come_highest_priority_first() {
    let mut f = crash().1;
    f[1].severity = Severity::Low;
    f[1].root_cause = false;
    assert_eq!(priority(&f[0]), 95);
    assert_eq!(priority(&f[1]), 30);
    let (idx, _) = crash();
    f.reverse();
    let p = restart_policy(
        PolicyKind::ClusterHealingPolicy,
        None,
        "p",
        FindingMatch::default(),
    );
    let plan = plan(&PlanInput {
        findings: &f,
        policies: &[p],
        index: &idx,
        first_seen: &BTreeMap::new(),
        now: now(),
    });
    let prios: Vec<i32> = plan.proposals.iter().map(|p| p.priority).collect();
    assert_eq!(prios, [95, 30]);
}
