use serde_json::{Value, json};

use super::*;

fn schema_of(crd: &CustomResourceDefinition) -> Value {
    let v = crd.spec.versions.first().expect("one version");
    serde_json::to_value(
        v.schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .expect("schema"),
    )
    .expect("serialize")
}

#[test]
fn three_crds_in_group_kaptain_dev_with_the_right_scope() {
    let crds = crds();
    let got: Vec<(String, String)> = crds
        .iter()
        .map(|c| {
            (
                c.metadata.name.clone().unwrap_or_default(),
                c.spec.scope.clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("healingpolicies.kaptain.dev".into(), "Namespaced".into()),
            (
                "clusterhealingpolicies.kaptain.dev".into(),
                "Cluster".into()
            ),
            ("healingactions.kaptain.dev".into(), "Namespaced".into()),
        ]
    );
    for c in &crds {
        assert_eq!(c.spec.group, GROUP);
        assert_eq!(c.spec.versions.len(), 1);
        assert_eq!(c.spec.versions[0].name, VERSION);
        assert!(
            c.spec.versions[0]
                .subresources
                .as_ref()
                .is_some_and(|s| s.status.is_some())
        );
    }
}

#[test]
fn healing_actions_print_phase_target_action_and_age() {
    let crd = HealingAction::crd();
    let cols: Vec<(String, String, i32)> = crd.spec.versions[0]
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| (c.name.clone(), c.json_path.clone(), c.priority.unwrap_or(0)))
        .filter(|c| c.2 == 0)
        .collect();
    assert_eq!(
        cols,
        vec![
            ("Phase".into(), ".status.phase".into(), 0),
            ("Target".into(), ".spec.target".into(), 0),
            ("Action".into(), ".spec.action".into(), 0),
            ("Age".into(), ".metadata.creationTimestamp".into(), 0),
        ]
    );
    // Every column path exists in the schema.
    let schema = schema_of(&crd);
    for c in crd.spec.versions[0]
        .additional_printer_columns
        .iter()
        .flatten()
    {
        if c.json_path.starts_with(".metadata") {
            continue;
        }
        let mut node = &schema;
        for part in c.json_path.trim_start_matches('.').split('.') {
            node = &node["properties"][part];
        }
        assert!(node.is_object(), "{} not in the schema", c.json_path);
    }
}

/// Kubernetes accepts only structural schemas: every field typed (or explicitly free-form),
/// and `oneOf`/`anyOf` branches that only constrain, never declare properties or types.
fn assert_structural(v: &Value, path: &str) {
    let Some(o) = v.as_object() else { return };
    for key in ["oneOf", "anyOf", "allOf"] {
        for (i, branch) in o
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            for bad in ["properties", "type", "items", "additionalProperties"] {
                assert!(
                    branch.get(bad).is_none(),
                    "{path}.{key}[{i}] declares {bad}"
                );
            }
        }
    }
    assert!(o.get("$ref").is_none(), "{path} uses $ref");
    let free = o.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true))
        || o.get("x-kubernetes-int-or-string") == Some(&json!(true));
    if !free {
        assert!(o.get("type").is_some(), "{path} has no type");
    }
    if let Some(props) = o.get("properties").and_then(Value::as_object) {
        assert_eq!(o.get("type"), Some(&json!("object")), "{path}");
        for (k, p) in props {
            assert_structural(p, &format!("{path}.{k}"));
        }
    }
    if let Some(items) = o.get("items") {
        assert_structural(items, &format!("{path}[]"));
    }
    if let Some(ap) = o.get("additionalProperties")
        && ap.is_object()
    {
        assert_structural(ap, &format!("{path}{{}}"));
    }
}

#[test]
fn schemas_are_structural() {
    for crd in crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        assert_structural(&schema_of(&crd), &name);
    }
}

#[test]
fn both_policy_kinds_share_one_spec_schema() {
    let ns = schema_of(&HealingPolicy::crd());
    let cl = schema_of(&ClusterHealingPolicy::crd());
    assert_eq!(
        ns["properties"]["spec"]["properties"],
        cl["properties"]["spec"]["properties"]
    );
    assert_eq!(ns["properties"]["status"], cl["properties"]["status"]);
}

#[test]
fn action_templates_are_one_of_their_kinds() {
    let schema = schema_of(&HealingPolicy::crd());
    let items = &schema["properties"]["spec"]["properties"]["actions"]["items"];
    let alts = items["oneOf"].as_array().expect("oneOf");
    assert_eq!(alts.len(), ActionKind::ALL.len());
    let factor = &items["properties"]["raiseResources"]["properties"]["factor"];
    assert_eq!(factor["maximum"], json!(4.0));
}

const POLICY: &str = r#"
apiVersion: kaptain.dev/v1alpha1
kind: HealingPolicy
metadata: {name: oom, namespace: shop, generation: 3}
spec:
  match:
    checks: [pod.oom-killed, pod]
    categories: [reliability]
    minSeverity: high
    selector: {matchLabels: {app: api}}
    forDuration: 5m
  actions:
    - raiseResources: {resource: memory, factor: 1.5, max: 2Gi}
    - rolloutRestart: {}
    - scale: {min: 2, max: 5}
    - forceDeleteStuckPod: {graceSeconds: 600}
  mode: auto
  rateLimit: {actionsPerHour: 3}
"#;

#[test]
fn a_policy_reads_from_yaml_with_defaults() {
    let p: HealingPolicy = from_yaml(POLICY).expect("parse");
    let s = &p.spec;
    assert_eq!(s.mode, Mode::Auto);
    assert_eq!(s.min_confidence, 0.9);
    assert_eq!(s.rate_limit.actions_per_hour, 3);
    assert_eq!(
        std::time::Duration::from(s.rate_limit.cooldown_per_object).as_secs(),
        1800
    );
    assert_eq!(s.blast_radius, BlastRadius::default());
    assert_eq!(
        std::time::Duration::from(s.selector.for_duration.expect("duration")).as_secs(),
        300
    );
    assert_eq!(s.selector.min_severity, Some(kaptain_model::Severity::High));
    let kinds: Vec<ActionKind> = s.actions.iter().map(ActionTemplate::kind).collect();
    assert_eq!(
        kinds,
        [
            ActionKind::RaiseResources,
            ActionKind::RolloutRestart,
            ActionKind::Scale,
            ActionKind::ForceDeleteStuckPod
        ]
    );
    assert_eq!(
        s.template(ActionKind::RaiseResources),
        Some(&ActionTemplate::RaiseResources {
            resource: ResourceName::Memory,
            factor: 1.5,
            max: "2Gi".into()
        })
    );
    let policy = Policy::from(&p);
    assert_eq!(policy.reference.generation, 3);
    assert_eq!(policy.reference.namespace.as_deref(), Some("shop"));
    // Round trips, through JSON and through YAML (one-key maps, no YAML tags).
    let back: HealingPolicy =
        serde_json::from_value(serde_json::to_value(&p).expect("ser")).expect("de");
    assert_eq!(back.spec, p.spec);
    let yaml = to_yaml(&p).expect("yaml");
    assert!(yaml.contains("- raiseResources:"), "{yaml}");
    assert!(!yaml.contains('!'), "{yaml}");
    let back: HealingPolicy = from_yaml(&yaml).expect("parse back");
    assert_eq!(back.spec, p.spec);
}

#[test]
fn a_minimal_policy_defaults_to_dry_run() {
    let s: HealingPolicySpec =
        serde_json::from_value(json!({"actions": [{"restartPod": {}}]})).expect("parse");
    assert_eq!(s.mode, Mode::DryRun);
    assert_eq!(s.selector, FindingMatch::default());
    assert!(
        serde_json::from_value::<HealingPolicySpec>(json!({"actions": ["restartPod"]})).is_err()
    );
    assert!(
        serde_json::from_value::<HealingPolicySpec>(
            json!({"actions": [{"restartPod": {}, "cordonNode": {}}]})
        )
        .is_err(),
        "an action is exactly one kind"
    );
}

#[test]
fn a_cluster_policy_has_the_same_spec_on_the_wire() {
    let yaml = POLICY
        .replace("kind: HealingPolicy", "kind: ClusterHealingPolicy")
        .replace("namespace: shop, ", "");
    let p: ClusterHealingPolicy = from_yaml(&yaml).expect("parse");
    let n: HealingPolicy = from_yaml(POLICY).expect("parse");
    assert_eq!(p.spec.0, n.spec);
    let policy = Policy::from(&p);
    assert_eq!(policy.reference.kind, PolicyKind::ClusterHealingPolicy);
    assert_eq!(policy.reference.namespace, None);
    assert_eq!(
        serde_json::to_value(&p.spec).expect("ser"),
        serde_json::to_value(&n.spec).expect("ser")
    );
}

#[test]
fn status_apply_stamps_times_and_actors() {
    let t0: jiff::Timestamp = "2026-01-01T12:00:00Z".parse().expect("time");
    let mut s = HealingActionStatus::default();
    assert_eq!(s.phase, Phase::Proposed);
    s.apply(PhaseEvent::Approve, t0, Some("alice"))
        .expect("approve");
    assert_eq!(s.approved_by.as_deref(), Some("alice"));
    assert_eq!(s.times.approved.as_ref().map(|t| t.0), Some(t0));
    s.apply(PhaseEvent::Execute, t0, None).expect("execute");
    let before = s.clone();
    let err = s
        .apply(PhaseEvent::Verified, t0, None)
        .expect_err("skips Verifying");
    assert_eq!(err.from, Phase::Executing);
    assert_eq!(s, before, "a refused event changes nothing");
    s.apply(PhaseEvent::Applied, t0, None).expect("applied");
    s.apply(PhaseEvent::Fail, t0, None).expect("fail");
    s.apply(PhaseEvent::RollBack, t0, None).expect("roll back");
    assert_eq!(s.phase, Phase::RolledBack);
    assert!(s.times.rolled_back.is_some() && s.times.failed.is_some());
    let v = serde_json::to_value(&s).expect("ser");
    assert_eq!(v["phase"], "RolledBack");
    assert_eq!(v["approvedBy"], "alice");
    assert!(v["times"]["rolledBack"].is_string());
}

#[test]
fn yaml_stream_holds_the_three_crds() {
    let yaml = crds_yaml().expect("yaml");
    assert!(yaml.starts_with("# Generated by"));
    let docs: Vec<CustomResourceDefinition> = yaml
        .split("\n---\n")
        .skip(1)
        .map(|d| from_yaml(d).expect("a CRD"))
        .collect();
    assert_eq!(docs, crds());
}

#[test]
fn the_duration_pattern_admits_exactly_what_the_operator_can_read() {
    let re = regex::Regex::new(super::schema::DURATION_PATTERN).expect("pattern");
    for ok in [
        "0", "5m", "1h30m", "1.5h", "300ms", "-5m", "+2s", ".5s", "1µs", "1μs", "10us", "2ns",
        "1h0m0s",
    ] {
        assert!(re.is_match(ok), "the pattern refuses {ok:?}");
        assert!(
            ok.parse::<kube_core::Duration>().is_ok(),
            "kube refuses {ok:?}"
        );
    }
    for bad in [
        "banana", "5", "5 m", "m", "", "1d", "5m3", "1.2.3s", "--5m", "5M",
    ] {
        assert!(!re.is_match(bad), "the pattern admits {bad:?}");
    }
    // Every Duration field of a policy carries the pattern in the generated schema.
    let yaml = super::crds_yaml().expect("yaml");
    let patterns = yaml.matches("pattern: ").count();
    assert_eq!(patterns, 2 * 3 + 1, "{yaml}");
}
