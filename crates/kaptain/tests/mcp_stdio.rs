//! `kaptain mcp` over stdio, driven by rmcp's own client, against a real control plane with
//! the simulated kubelet: the tools are listed with their annotations, `diagnose` and `why`
//! find the missing ConfigMap as the root cause, `--read-only` hides the proposing tool, and a
//! canary Secret value and the kubeconfig's token never appear in any response of any tool
//! called with arguments generated from the cluster.

use std::time::Duration;

use kaptain_testenv::{ControlPlane, apply_yaml, eventually};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ReadResourceRequestParams};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

const NS: &str = "mcp-stdio";
/// Planted in a Secret (data, stringData and the last-applied annotation).
const CANARY: &str = "kaptain-canary-value-5d1e0b";
const DEADLINE: Duration = Duration::from_secs(180);

fn scenario() -> String {
    include_str!("../../../tests/scenarios/missing-configmap/manifests.yaml")
        .replace("missing-configmap", NS)
}

fn canary_secret() -> String {
    format!(
        r#"apiVersion: v1
kind: Secret
metadata:
  name: db-credentials
  namespace: {NS}
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{{"stringData":{{"password":"{CANARY}"}}}}'
type: Opaque
stringData:
  password: {CANARY}
"#
    )
}

async fn cluster() -> Result<&'static ControlPlane, Box<dyn std::error::Error + Send + Sync>> {
    static READY: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    let cp = tokio::task::spawn_blocking(ControlPlane::shared).await?;
    READY
        .get_or_try_init(|| async {
            cp.shared_kubelet().await?;
            let client = cp.client().await?;
            apply_yaml(&client, &scenario()).await?;
            apply_yaml(&client, &canary_secret()).await?;
            Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
        })
        .await?;
    Ok(cp)
}

async fn start(
    cp: &ControlPlane,
    extra: &[&str],
) -> Result<RunningService<RoleClient, ()>, Box<dyn std::error::Error + Send + Sync>> {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_kaptain"));
    cmd.arg("mcp")
        .arg("--kubeconfig")
        .arg(cp.kubeconfig_path())
        .args(["--analyze-ahead", "15m"])
        .args(extra);
    let transport = TokioChildProcess::new(cmd)?;
    Ok(().serve(transport).await?)
}

async fn call(
    c: &RunningService<RoleClient, ()>,
    tool: &str,
    args: Value,
) -> Result<(bool, Value, String), Box<dyn std::error::Error + Send + Sync>> {
    let Value::Object(args) = args else {
        return Err("arguments must be an object".into());
    };
    let r = c
        .call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(args))
        .await?;
    let text: String = r
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n");
    Ok((
        r.is_error == Some(true),
        r.structured_content.unwrap_or(Value::Null),
        text,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_diagnose_and_why_find_the_missing_configmap() -> TestResult {
    let cp = cluster().await?;
    let c = start(cp, &[]).await?;
    let tools = c.list_all_tools().await?;
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for want in [
        "diagnose",
        "why",
        "describe",
        "logs",
        "list_resources",
        "propose_action",
    ] {
        assert!(names.contains(&want), "{want} not in {names:?}");
    }
    for t in &tools {
        let a = t.annotations.as_ref().expect("annotations");
        if t.name == "propose_action" {
            assert_eq!(a.read_only_hint, Some(false));
            assert_eq!(a.destructive_hint, Some(false));
        } else {
            assert_eq!(a.read_only_hint, Some(true), "{}", t.name);
        }
        assert!(t.output_schema.is_some(), "{}", t.name);
    }

    // The deployment controller and the kubelet act on their own schedule: wait until the
    // chain Deployment → pod → ConfigMap is in the report.
    let why = eventually("why names the missing ConfigMap", DEADLINE, || async {
        let (err, v, _) = call(
            &c,
            "why",
            json!({"kind": "Deployment", "namespace": NS, "name": "api"}),
        )
        .await?;
        let hit = !err
            && v["causes"].as_array().is_some_and(|cs| {
                cs.iter().any(|x| {
                    x["root"]["check"] == "config.missing-configmap"
                        && x["root"]["object"]["name"] == "api-config"
                        && x["via"].as_array().is_some_and(|v| !v.is_empty())
                })
            });
        Ok(hit.then_some(v))
    })
    .await?;
    assert!(
        why["headline"]
            .as_str()
            .unwrap_or_default()
            .contains("api-config"),
        "{why:#}"
    );

    let (err, d, _) = call(&c, "diagnose", json!({"namespace": NS})).await?;
    assert!(!err, "{d:#}");
    let first = &d["findings"]["items"][0];
    assert_eq!(first["root_cause"], true, "{d:#}");
    assert_eq!(first["check"], "config.missing-configmap", "{d:#}");
    assert!(d["root_causes"].as_u64().unwrap_or(0) >= 1);

    // Resources and prompts.
    let res = c.list_all_resources().await?;
    assert!(res.iter().any(|r| r.uri == "kaptain://checks"));
    let report = res
        .iter()
        .find(|r| r.uri.ends_with("/report"))
        .expect("a report resource");
    let read = c
        .read_resource(ReadResourceRequestParams::new(report.uri.clone()))
        .await?;
    let body = serde_json::to_string(&read.contents)?;
    assert!(body.contains("config.missing-configmap"), "{body}");
    let prompts = c.list_all_prompts().await?;
    assert_eq!(prompts.len(), 4);
    c.cancel().await?;

    // --read-only hides the proposing tool and refuses it.
    let ro = start(cp, &["--read-only"]).await?;
    let names: Vec<String> = ro
        .list_all_tools()
        .await?
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    assert!(!names.iter().any(|n| n == "propose_action"), "{names:?}");
    let (err, _, text) = call(&ro, "propose_action",
        json!({"action": "suggest-manifest", "kind": "ConfigMap", "namespace": NS, "name": "api-config"})).await?;
    assert!(err, "{text}");
    assert!(
        text.contains("unknown-tool") || text.contains("forbidden"),
        "{text}"
    );
    ro.cancel().await?;
    Ok(())
}

/// Values for one tool's arguments, from its input schema's property names and the cluster.
fn generated(schema: &serde_json::Map<String, Value>, pods: &[String]) -> Vec<Value> {
    let props: Vec<String> = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let mut targets: Vec<(&str, Option<&str>, String)> = vec![
        ("Secret", Some(NS), "db-credentials".into()),
        ("Deployment", Some(NS), "api".into()),
        ("Service", Some(NS), "api".into()),
        ("ConfigMap", Some(NS), "api-config".into()),
        ("Namespace", None, NS.into()),
    ];
    for p in pods {
        targets.push(("Pod", Some(NS), p.clone()));
    }
    let mut out = vec![json!({})];
    for (kind, ns, name) in targets {
        let mut a = serde_json::Map::new();
        for p in &props {
            let v = match p.as_str() {
                "kind" => json!(kind),
                "namespace" => match ns {
                    Some(n) => json!(n),
                    None => continue,
                },
                "name" | "pod" => json!(name),
                "check" => json!("config.missing-configmap"),
                "action" => json!("suggest-manifest"),
                "field_selector" => json!(format!("metadata.name={name}")),
                "wait_seconds" => json!(0),
                "previous" => json!(false),
                _ => continue,
            };
            a.insert(p.clone(), v);
        }
        out.push(Value::Object(a));
    }
    for kind in ["Secret", "Pod", "Event", "ConfigMap", "Namespace", "Node"] {
        out.push(json!({"kind": kind}));
        out.push(json!({"kind": kind, "namespace": NS}));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_tool_returns_the_canary_or_the_kubeconfig_token() -> TestResult {
    let cp = cluster().await?;
    let token = cp.admin_token().to_string();
    let c = start(cp, &[]).await?;
    // The Secret is indexed (its keys are visible) before the sweep starts.
    eventually("the canary Secret indexed", DEADLINE, || async {
        let (err, v, _) = call(
            &c,
            "get_resource",
            json!({"kind": "Secret", "namespace": NS, "name": "db-credentials"}),
        )
        .await?;
        Ok((!err && v["object"]["keys"] == json!(["password"])).then_some(()))
    })
    .await?;
    let (_, pods, _) = call(
        &c,
        "list_resources",
        json!({"kind": "Pod", "namespace": NS}),
    )
    .await?;
    let pods: Vec<String> = pods["items"]
        .as_array()
        .map(|v| {
            v.iter()
                .filter_map(|p| p["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut calls = 0;
    let mut answered = 0;
    for tool in c.list_all_tools().await? {
        for args in generated(&tool.input_schema, &pods) {
            let (err, v, text) = call(&c, &tool.name, args.clone()).await?;
            calls += 1;
            if !err {
                answered += 1;
            }
            for secret in [CANARY, token.as_str()] {
                assert!(
                    !text.contains(secret) && !v.to_string().contains(secret),
                    "{} {args} returned a secret: {text}",
                    tool.name
                );
            }
        }
    }
    // Resources too.
    for r in c.list_all_resources().await? {
        let read = c
            .read_resource(ReadResourceRequestParams::new(r.uri.clone()))
            .await?;
        let body = serde_json::to_string(&read.contents)?;
        assert!(
            !body.contains(CANARY) && !body.contains(&token),
            "{} leaked",
            r.uri
        );
    }
    assert!(
        calls > 100 && answered > 50,
        "{calls} calls, {answered} answered"
    );
    c.cancel().await?;
    Ok(())
}
