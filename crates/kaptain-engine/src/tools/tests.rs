//! Every tool on the example broken shop (examples/broken-shop) through the registry, with
//! callers of different roles and scopes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};

use super::fixture::{CLUSTER, FixtureHost};
use super::*;

const CANARY: &str = "kaptain-canary-7f3a9c1e";

fn canary_secret() -> Value {
    // base64 of the canary, as the API stores it, and the plain value in stringData and in
    // the last-applied annotation kubectl would leave.
    let b64 = "a2FwdGFpbi1jYW5hcnktN2YzYTljMWU=";
    json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": "db-password", "namespace": "shop",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration":
                format!("{{\"stringData\":{{\"password\":\"{CANARY}\"}}}}")},
            "managedFields": [{"manager": "kubectl", "operation": "Apply"}]},
        "data": {"password": b64}, "stringData": {"note": CANARY}})
}

fn host() -> FixtureHost {
    FixtureHost::shop(vec![canary_secret()])
}

fn admin() -> Caller {
    Caller::unrestricted("test:admin", Role::Operator)
}

fn viewer_in(ns: &str) -> Caller {
    Caller {
        actor: format!("test:viewer-{ns}"),
        role: Role::Viewer,
        grants: vec![Grant {
            cluster: CLUSTER.into(),
            namespace: Some(ns.into()),
        }],
    }
}

async fn call(h: &FixtureHost, c: &Caller, tool: &str, args: Value) -> Result<Value, ToolError> {
    ToolRegistry::standard().call(h, c, tool, args).await
}

#[test]
fn every_tool_has_a_name_description_schemas_and_mark() {
    let r = ToolRegistry::standard();
    let names: Vec<&str> = r.all().map(|t| t.name()).collect();
    for want in [
        "diagnose",
        "why",
        "explain_check",
        "list_findings",
        "get_resource",
        "list_resources",
        "describe",
        "events",
        "logs",
        "list_contexts",
        "cluster_info",
        "heal_plan",
        "list_actions",
        "propose_action",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    for t in r.all() {
        assert!(
            t.description().len() > 40,
            "{} needs a real description",
            t.name()
        );
        assert_eq!(t.input_schema()["type"], "object", "{}", t.name());
        assert_eq!(t.output_schema()["type"], "object", "{}", t.name());
        let expected = if t.name() == "propose_action" {
            Mark::Proposes
        } else {
            Mark::ReadOnly
        };
        assert_eq!(t.mark(), expected, "{}", t.name());
    }
    let viewer = viewer_in("shop");
    assert!(
        r.visible(&viewer)
            .iter()
            .all(|t| t.mark() == Mark::ReadOnly)
    );
    assert_eq!(r.visible(&admin()).len(), r.all().count());
    assert!(r.clone().read_only().get("propose_action").is_none());
    // Every property schema is an object (MCP clients reject the boolean schema `true`).
    fn no_true(v: &Value) -> bool {
        match v {
            Value::Object(m) => m.iter().all(|(k, v)| {
                let sub = matches!(k.as_str(), "properties" | "definitions" | "$defs");
                (!sub
                    || v.as_object()
                        .is_none_or(|p| p.values().all(|x| x.is_object())))
                    && no_true(v)
            }),
            Value::Array(a) => a.iter().all(no_true),
            _ => true,
        }
    }
    for t in r.all() {
        assert!(no_true(&Value::Object(t.output_schema())), "{}", t.name());
        assert!(no_true(&Value::Object(t.input_schema())), "{}", t.name());
    }
    // A schema describes its fields for a model.
    let s = r.get("list_resources").unwrap().input_schema();
    assert!(
        s["properties"]["label_selector"]["description"].is_string(),
        "{s:?}"
    );
    assert_eq!(s["required"], json!(["kind"]));
}

#[tokio::test]
async fn diagnose_puts_the_missing_configmap_first_among_root_causes() {
    let h = host();
    let out = call(&h, &admin(), "diagnose", json!({"namespace": "shop"}))
        .await
        .unwrap();
    let items = out["findings"]["items"].as_array().unwrap();
    assert!(!items.is_empty());
    // Root causes come first, then symptoms.
    let first_symptom = items.iter().position(|f| f["root_cause"] == false).unwrap();
    assert!(
        items[first_symptom..]
            .iter()
            .all(|f| f["root_cause"] == false)
    );
    assert!(
        items[..first_symptom]
            .iter()
            .any(|f| f["check"] == "config.missing-configmap"
                && f["object"]["name"] == "checkout-config"),
        "{out:#}"
    );
    assert!(items.iter().all(|f| f["object"]["namespace"] == "shop"));
    assert_eq!(out["root_causes"].as_u64().unwrap() as usize, first_symptom);

    let capped = call(&h, &admin(), "diagnose", json!({"limit": 2}))
        .await
        .unwrap();
    assert_eq!(capped["findings"]["items"].as_array().unwrap().len(), 2);
    assert!(
        capped["findings"]["note"]
            .as_str()
            .unwrap()
            .contains("2 of")
    );
    let high = call(
        &h,
        &admin(),
        "diagnose",
        json!({"min_severity": "critical", "checks": ["pod"]}),
    )
    .await
    .unwrap();
    for f in high["findings"]["items"].as_array().unwrap() {
        assert_eq!(f["severity"], "critical");
        assert!(f["check"].as_str().unwrap().starts_with("pod."));
    }
    let bad = call(&h, &admin(), "diagnose", json!({"checks": ["nope"]})).await;
    assert!(matches!(bad, Err(ToolError::InvalidInput(_))), "{bad:?}");
}

#[tokio::test]
async fn why_follows_the_chain_to_the_missing_configmap() {
    let h = host();
    let out = call(
        &h,
        &admin(),
        "why",
        json!({"kind": "deploy", "namespace": "shop", "name": "checkout"}),
    )
    .await
    .unwrap();
    let causes = out["causes"].as_array().unwrap();
    assert_eq!(causes.len(), 1, "{out:#}");
    assert_eq!(causes[0]["root"]["check"], "config.missing-configmap");
    assert_eq!(causes[0]["root"]["object"]["name"], "checkout-config");
    assert_eq!(causes[0]["via"][0]["object"]["kind"], "Deployment");
    assert!(
        out["headline"]
            .as_str()
            .unwrap()
            .contains("checkout-config")
    );
    // A viewer of another namespace may not ask about shop.
    let denied = call(
        &h,
        &viewer_in("payments"),
        "why",
        json!({"kind": "Deployment", "namespace": "shop", "name": "checkout"}),
    )
    .await;
    assert!(matches!(denied, Err(ToolError::Forbidden(_))), "{denied:?}");
}

#[tokio::test]
async fn explain_and_list_findings() {
    let h = host();
    let e = call(
        &h,
        &admin(),
        "explain_check",
        json!({"check": "config.missing-configmap"}),
    )
    .await
    .unwrap();
    assert_eq!(e["category"], "config");
    assert!(e["firing_now"].as_u64().unwrap() >= 1);
    assert!(matches!(
        call(&h, &admin(), "explain_check", json!({"check": "pod.nope"})).await,
        Err(ToolError::NotFound(_))
    ));
    let l = call(
        &h,
        &admin(),
        "list_findings",
        json!({"root_causes_only": true, "min_severity": "high"}),
    )
    .await
    .unwrap();
    for f in l["items"].as_array().unwrap() {
        assert_eq!(f["root_cause"], true);
        assert!(["high", "critical"].contains(&f["severity"].as_str().unwrap()));
    }
    let ns = call(&h, &viewer_in("payments"), "list_findings", json!({}))
        .await
        .unwrap();
    assert!(ns["total"].as_u64().unwrap() > 0);
    for f in ns["items"].as_array().unwrap() {
        assert_eq!(f["object"]["namespace"], "payments", "{f:#}");
    }
}

#[tokio::test]
async fn secrets_show_keys_and_type_only() {
    let h = host();
    let out = call(
        &h,
        &admin(),
        "get_resource",
        json!({"kind": "Secret", "namespace": "shop", "name": "db-password"}),
    )
    .await
    .unwrap();
    let text = out.to_string();
    assert!(
        !text.contains(CANARY) && !text.contains("a2FwdGFpbi1jYW5hcnk"),
        "{text}"
    );
    assert_eq!(out["object"]["keys"], json!(["note", "password"]));
    assert_eq!(out["object"]["type"], "Opaque");
    assert!(out["object"]["metadata"].get("managedFields").is_none());
    let d = call(
        &h,
        &admin(),
        "get_resource",
        json!({"kind": "Deployment", "namespace": "shop", "name": "checkout"}),
    )
    .await
    .unwrap();
    assert_eq!(d["object"]["kind"], "Deployment");
    assert!(d["object"]["spec"]["template"].is_object());
    assert!(matches!(
        call(
            &h,
            &admin(),
            "get_resource",
            json!({"kind": "Deployment", "name": "checkout"})
        )
        .await,
        Err(ToolError::InvalidInput(_))
    ));
    assert!(matches!(
        call(
            &h,
            &admin(),
            "get_resource",
            json!({"kind": "Deployment", "namespace": "shop", "name": "nope"})
        )
        .await,
        Err(ToolError::NotFound(_))
    ));
}

#[tokio::test]
async fn listings_filter_by_labels_fields_scope_and_cap() {
    let h = host();
    let all = call(&h, &admin(), "list_resources", json!({"kind": "pods"}))
        .await
        .unwrap();
    let total = all["total"].as_u64().unwrap();
    assert!(total > 10, "{all:#}");
    let shop = call(
        &h,
        &admin(),
        "list_resources",
        json!({"kind": "Pod", "field_selector": "metadata.namespace=shop"}),
    )
    .await
    .unwrap();
    let rows = shop["items"].as_array().unwrap();
    assert!(!rows.is_empty() && rows.len() < total as usize);
    assert!(rows.iter().all(|r| r["namespace"] == "shop"));
    let not_shop = call(
        &h,
        &admin(),
        "list_resources",
        json!({"kind": "Pod", "field_selector": "metadata.namespace!=shop"}),
    )
    .await
    .unwrap();
    assert_eq!(
        shop["total"].as_u64().unwrap() + not_shop["total"].as_u64().unwrap(),
        total
    );
    let pending = call(
        &h,
        &admin(),
        "list_resources",
        json!({"kind": "Pod", "field_selector": "status.phase=Pending"}),
    )
    .await
    .unwrap();
    assert!(pending["total"].as_u64().unwrap() >= 1);
    assert!(pending["total"].as_u64().unwrap() < total);
    let labelled = call(
        &h,
        &admin(),
        "list_resources",
        json!({"kind": "Pod", "namespace": "shop", "label_selector": "app=checkout"}),
    )
    .await
    .unwrap();
    let lrows = labelled["items"].as_array().unwrap();
    assert!(!lrows.is_empty());
    assert!(
        lrows.iter().all(|r| r["labels"]["app"] == "checkout"
            && r["name"].as_str().unwrap().starts_with("checkout"))
    );
    let capped = call(
        &h,
        &admin(),
        "list_resources",
        json!({"kind": "Pod", "limit": 3}),
    )
    .await
    .unwrap();
    assert_eq!(capped["items"].as_array().unwrap().len(), 3);
    assert_eq!(capped["total"], total);
    assert!(capped["note"].is_string());
    // A namespace-scoped viewer sees only its namespace, and no nodes.
    let v = viewer_in("shop");
    let mine = call(&h, &v, "list_resources", json!({"kind": "Pod"}))
        .await
        .unwrap();
    assert_eq!(mine["total"], shop["total"]);
    assert!(matches!(
        call(
            &h,
            &v,
            "list_resources",
            json!({"kind": "Pod", "namespace": "payments"})
        )
        .await,
        Err(ToolError::Forbidden(_))
    ));
    assert!(matches!(
        call(&h, &v, "list_resources", json!({"kind": "Node"})).await,
        Err(ToolError::Forbidden(_))
    ));
    assert!(matches!(
        call(
            &h,
            &v,
            "get_resource",
            json!({"kind": "Pod", "namespace": "payments", "name": "x"})
        )
        .await,
        Err(ToolError::Forbidden(_))
    ));
    assert!(matches!(
        call(
            &h,
            &admin(),
            "list_resources",
            json!({"kind": "Pod", "field_selector": "bad"})
        )
        .await,
        Err(ToolError::InvalidInput(_))
    ));
}

#[tokio::test]
async fn describe_shows_pods_events_and_findings() {
    let h = host();
    let d = call(
        &h,
        &admin(),
        "describe",
        json!({"kind": "Deployment", "namespace": "shop", "name": "checkout"}),
    )
    .await
    .unwrap();
    let pods = d["pods"].as_array().unwrap();
    assert!(!pods.is_empty(), "{d:#}");
    assert!(
        pods.iter()
            .all(|p| p["name"].as_str().unwrap().starts_with("checkout-"))
    );
    let checks: Vec<&str> = d["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["check"].as_str().unwrap())
        .collect();
    assert!(checks.contains(&"deployment.unavailable"), "{checks:?}");
    // A pod's owner chain reaches the Deployment.
    let pod = pods[0]["name"].as_str().unwrap();
    let p = call(
        &h,
        &admin(),
        "describe",
        json!({"kind": "Pod", "namespace": "shop", "name": pod}),
    )
    .await
    .unwrap();
    let owners: Vec<&str> = p["owners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(owners, ["ReplicaSet", "Deployment"], "{p:#}");
    // A missing ConfigMap's referrers are not known (it does not exist); a Secret's are.
    let ev = call(
        &h,
        &admin(),
        "events",
        json!({"namespace": "shop", "type": "Warning"}),
    )
    .await
    .unwrap();
    let rows = ev["items"].as_array().unwrap();
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|e| e["type"] == "Warning"));
    let times: Vec<&str> = rows.iter().filter_map(|e| e["time"].as_str()).collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");
}

#[tokio::test]
async fn contexts_and_info_name_no_credentials() {
    let h = host();
    let c = call(&h, &admin(), "list_contexts", json!({}))
        .await
        .unwrap();
    assert_eq!(c["clusters"][0]["name"], CLUSTER);
    assert_eq!(c["default"], CLUSTER);
    let i = call(&h, &viewer_in("shop"), "cluster_info", json!({}))
        .await
        .unwrap();
    assert_eq!(i["your_namespaces"], json!(["shop"]));
    assert!(matches!(
        call(&h, &admin(), "cluster_info", json!({"cluster": "other"})).await,
        Err(ToolError::NotFound(_))
    ));
    // No live client here: logs say so instead of failing obscurely.
    let l = call(
        &h,
        &admin(),
        "logs",
        json!({"namespace": "shop", "pod": "x", "container": "c"}),
    )
    .await;
    assert!(matches!(l, Err(ToolError::Unavailable(_))), "{l:?}");
}

const APPROVAL_POLICY: &str = r#"
apiVersion: kaptain.dev/v1alpha1
kind: ClusterHealingPolicy
metadata: {name: memory, generation: 1}
spec:
  mode: approval
  actions:
    - raiseResources: {resource: memory, factor: 1.5, max: 1Gi}
"#;

fn with_policy(yaml: &str) -> FixtureHost {
    let mut h = host();
    let p: kaptain_heal::crd::ClusterHealingPolicy = kaptain_heal::crd::from_yaml(yaml).unwrap();
    h.policies = vec![kaptain_heal::crd::Policy::from(&p)];
    h
}

#[tokio::test]
async fn proposals_become_healing_actions_the_guard_decides() {
    let h = with_policy(APPROVAL_POLICY);
    // A viewer may not propose.
    let denied = call(&h, &viewer_in("payments"), "propose_action",
        json!({"action": "raise-resources", "kind": "Deployment", "namespace": "payments", "name": "ledger"})).await;
    assert!(matches!(denied, Err(ToolError::Forbidden(_))), "{denied:?}");
    assert!(h.actions.lock().unwrap().is_empty());

    let out = call(
        &h,
        &admin(),
        "propose_action",
        json!({"action": "raise-resources",
        "kind": "Deployment", "namespace": "payments", "name": "ledger",
        "reason": "it keeps running out of memory", "wait_seconds": 0}),
    )
    .await
    .unwrap();
    assert_eq!(out["outcome"], "created", "{out:#}");
    assert_eq!(out["target"], "Deployment/payments/ledger");
    assert_eq!(out["guard_preview"], "needs-approval");
    assert_eq!(out["guard_rule"], "approval-mode");
    let created = h.actions.lock().unwrap().clone();
    assert_eq!(created.len(), 1);
    let a = &created[0];
    assert!(a.status.is_none(), "the operator decides, not the tool");
    assert_eq!(
        a.metadata.annotations.as_ref().unwrap()[PROPOSED_BY_ANNOTATION],
        "test:admin"
    );
    assert_eq!(a.spec.change.resources[0].after, "192Mi");
    assert!(a.spec.reasoning.contains("keeps running out of memory"));
    // The same request again finds it instead of proposing twice.
    let again = call(
        &h,
        &admin(),
        "propose_action",
        json!({"action": "raise-resources",
        "kind": "Deployment", "namespace": "payments", "name": "ledger", "wait_seconds": 0}),
    )
    .await
    .unwrap();
    assert_eq!(again["outcome"], "exists");
    assert_eq!(h.actions.lock().unwrap().len(), 1);
    let listed = call(&h, &admin(), "list_actions", json!({})).await.unwrap();
    assert_eq!(listed["items"][0]["proposed_by"], "test:admin");

    // An action no policy lists is refused, and nothing is created.
    let refused = call(
        &h,
        &admin(),
        "propose_action",
        json!({"action": "rollout-restart",
        "kind": "Deployment", "namespace": "payments", "name": "ledger"}),
    )
    .await;
    assert!(
        matches!(&refused, Err(ToolError::Refused { rule, .. }) if rule == "no-policy"),
        "{refused:?}"
    );
    // An operator scoped to shop may not act in payments.
    let scoped = Caller {
        role: Role::Operator,
        ..viewer_in("shop")
    };
    assert!(matches!(
        call(
            &h,
            &scoped,
            "propose_action",
            json!({"action": "raise-resources",
            "kind": "Deployment", "namespace": "payments", "name": "ledger"})
        )
        .await,
        Err(ToolError::Forbidden(_))
    ));
    assert_eq!(h.actions.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn protected_namespaces_are_refused_before_anything_is_created() {
    let mut h = with_policy(APPROVAL_POLICY);
    let p: kaptain_heal::crd::ClusterHealingPolicy = kaptain_heal::crd::from_yaml(
        "apiVersion: kaptain.dev/v1alpha1\nkind: ClusterHealingPolicy\nmetadata: {name: nodes}\nspec:\n  mode: auto\n  actions: [{cordonNode: {}}]\n",
    ).unwrap();
    h.policies.push(kaptain_heal::crd::Policy::from(&p));
    // worker-3 is NotReady in the shop: cordoning it is allowed by the auto policy.
    let out = call(
        &h,
        &admin(),
        "propose_action",
        json!({"action": "cordon", "kind": "Node", "name": "worker-3", "wait_seconds": 0}),
    )
    .await
    .unwrap();
    assert_eq!(out["guard_preview"], "allow", "{out:#}");
    assert_eq!(out["healing_action"]["namespace"], "kaptain-system");
}

/// Arguments for a tool built from its input schema: every property it declares gets values
/// drawn from the index (kinds, namespaces, names of real objects, the canary Secret).
fn generated_arguments(tool: &dyn Tool, h: &FixtureHost) -> Vec<Value> {
    let schema = tool.input_schema();
    let props: Vec<String> = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let mut targets: Vec<(String, Option<String>, String)> = vec![
        ("Secret".into(), Some("shop".into()), "db-password".into()),
        ("Secret".into(), Some("payments".into()), "ledger-db".into()),
        ("Deployment".into(), Some("shop".into()), "checkout".into()),
        (
            "Deployment".into(),
            Some("payments".into()),
            "ledger".into(),
        ),
        ("Node".into(), None, "worker-3".into()),
        (
            "ConfigMap".into(),
            Some("shop".into()),
            "checkout-config".into(),
        ),
    ];
    for p in h.index.objects.pods.iter().take(5) {
        targets.push((
            "Pod".into(),
            p.metadata.namespace.clone(),
            p.metadata.name.clone().unwrap(),
        ));
    }
    let mut out = vec![json!({})];
    for (kind, ns, name) in &targets {
        let mut a = serde_json::Map::new();
        for p in &props {
            let v = match p.as_str() {
                "kind" => json!(kind),
                "namespace" => ns.as_ref().map_or(Value::Null, |n| json!(n)),
                "name" | "pod" => json!(name),
                "check" => json!("config.missing-secret"),
                "action" => json!("suggest-manifest"),
                "label_selector" => json!(""),
                "field_selector" => json!(format!("metadata.name={name}")),
                "wait_seconds" => json!(0),
                "container" => json!("app"),
                _ => continue,
            };
            if !v.is_null() {
                a.insert(p.clone(), v);
            }
        }
        out.push(Value::Object(a));
    }
    for kind in kaptain_index::Kind::ALL {
        out.push(json!({"kind": kind.name()}));
        out.push(json!({"kind": kind.name(), "namespace": "shop", "check": "pod"}));
    }
    out
}

#[tokio::test]
async fn no_tool_ever_returns_the_canary() {
    let h = with_policy(APPROVAL_POLICY);
    let r = ToolRegistry::standard();
    let mut calls = 0;
    let mut ok = 0;
    for tool in r.all() {
        for args in generated_arguments(tool, &h) {
            let res = r.call(&h, &admin(), tool.name(), args.clone()).await;
            let text = match &res {
                Ok(v) => {
                    ok += 1;
                    v.to_string()
                }
                Err(e) => e.to_string(),
            };
            calls += 1;
            assert!(
                !text.contains(CANARY),
                "{} {args} leaked: {text}",
                tool.name()
            );
            assert!(
                !text.contains("a2FwdGFpbi1jYW5hcnk"),
                "{} {args} leaked base64: {text}",
                tool.name()
            );
        }
    }
    assert!(calls > 200 && ok > 100, "{calls} calls, {ok} answered");
}
