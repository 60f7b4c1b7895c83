//! `kaptain operator` and `kaptain heal` as people run them: the built binary against the real
//! control plane (v1.20) with the simulated kubelet. The operator runs as a child process.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kaptain_heal::crd::{HealingAction, Phase};
use kaptain_testenv::{ControlPlane, apply_yaml, eventually};
use kube::Api;
use kube::api::ListParams;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;
#[path = "support/healing_env.rs"]
mod healing_env;
use healing_env::{BoxError, TIMEOUT, setup};

/// The operator process; killed when the test ends, however it ends.
struct OperatorProcess(Child);

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn kaptain(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kaptain"))
        .args(args)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "250")
        .output()
        .expect("run kaptain")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn free_port() -> Result<u16, BoxError> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A plain HTTP GET; returns (status line, body).
fn http_get(port: u16, path: &str) -> Result<(String, String), BoxError> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = String::new();
    s.read_to_string(&mut buf)?;
    let status = buf.lines().next().unwrap_or("").to_string();
    let body = buf.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    Ok((status, body))
}

/// An approval-mode policy and an OOM-killed Deployment in `ns`, and an operator for it
/// (logging to stderr, or as JSON lines to `json_log`).
async fn scenario(
    cp: &ControlPlane,
    client: &kube::Client,
    ns: &str,
    metrics_port: u16,
    json_log: Option<&Path>,
) -> Result<OperatorProcess, BoxError> {
    apply_yaml(
        client,
        &format!(
            r#"
apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: kaptain.dev/v1alpha1
kind: HealingPolicy
metadata: {{name: oom, namespace: {ns}}}
spec:
  mode: approval
  match: {{checks: [pod.oom-killed]}}
  actions:
    - raiseResources: {{resource: memory, factor: 3, max: 1Gi}}
  verification: {{window: 30s}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: search, namespace: {ns}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: search}}}}
  template:
    metadata:
      labels: {{app: search}}
      annotations: {{sim.kaptain.dev/memory-usage: 600Mi}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: search
        image: shop/search:1.0
        resources: {{limits: {{memory: 256Mi}}}}
"#
        ),
    )
    .await?;
    let kc = cp.kubeconfig_path().to_string_lossy().into_owned();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kaptain"));
    match json_log {
        Some(path) => {
            cmd.env("KAPTAIN_LOG_FORMAT", "json")
                .stderr(std::fs::File::create(path)?);
        }
        None => {
            cmd.stderr(Stdio::inherit());
        }
    }
    let child = cmd
        .args([
            "operator",
            "--kubeconfig",
            &kc,
            "--namespace",
            ns,
            "--watch-namespace",
            ns,
            "--metrics-addr",
            &format!("127.0.0.1:{metrics_port}"),
            "--identity",
            &format!("{ns}-operator"),
        ])
        .stdout(Stdio::null())
        .spawn()?;
    Ok(OperatorProcess(child))
}

async fn only_action(client: &kube::Client, ns: &str) -> Result<Option<HealingAction>, BoxError> {
    let api: Api<HealingAction> = Api::namespaced(client.clone(), ns);
    let mut all = api.list(&ListParams::default()).await?.items;
    Ok(if all.len() == 1 { all.pop() } else { None })
}

/// Waits until the namespace's only action is Proposed with the guard's `decision` by
/// `rule`, as the operator last evaluated it.
async fn wait_decision(
    client: &kube::Client,
    ns: &str,
    decision: &str,
    rule: &str,
) -> Result<HealingAction, BoxError> {
    let what = format!("the operator's decision {decision} ({rule})");
    Ok(eventually(&what, TIMEOUT, || async {
        Ok(only_action(client, ns).await?.filter(|a| {
            phase(a) == Phase::Proposed
                && a.status
                    .as_ref()
                    .and_then(|s| s.decision.as_ref())
                    .is_some_and(|d| d.decision == decision && d.rule.as_deref() == Some(rule))
        }))
    })
    .await?)
}

fn phase(a: &HealingAction) -> Phase {
    a.status.as_ref().map(|s| s.phase).unwrap_or_default()
}

async fn limit(client: &kube::Client, ns: &str) -> Result<String, BoxError> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let d = api.get("search").await?;
    Ok(d.spec
        .and_then(|s| s.template.spec)
        .and_then(|s| s.containers.into_iter().next())
        .and_then(|c| c.resources)
        .and_then(|r| r.limits)
        .and_then(|l| l.get("memory").map(|q| q.0.clone()))
        .unwrap_or_default())
}

/// Approval mode: the action waits in Proposed until `kaptain heal approve`; an approval the
/// guard would deny (namespace protected meanwhile) fails naming the rule; then the approved
/// action runs to Succeeded. `heal plan`, `list`, `history` and the metrics endpoint agree.
#[tokio::test]
async fn approval_mode_waits_for_kaptain_heal_approve() -> TestResult {
    let (cp, client) = setup().await?;
    let ns = "cli-approve";
    let port = free_port()?;
    let _op = scenario(cp, &client, ns, port, None).await?;
    let kc = cp.kubeconfig_path().to_string_lossy().into_owned();
    let k = |extra: &[&str]| {
        let mut args: Vec<&str> = extra.to_vec();
        args.extend(["--kubeconfig", kc.as_str(), "--operator-namespace", ns]);
        kaptain(&args)
    };

    let a = eventually(
        "a Proposed action waiting for approval",
        TIMEOUT,
        || async {
            Ok(only_action(&client, ns).await?.filter(|a| {
                phase(a) == Phase::Proposed
                    && a.status
                        .as_ref()
                        .and_then(|s| s.decision.as_ref())
                        .is_some_and(|d| {
                            d.decision == "needs-approval"
                                && d.rule.as_deref() == Some("approval-mode")
                        })
            }))
        },
    )
    .await?;
    let name = a.metadata.name.clone().unwrap_or_default();

    // heal list and heal plan show it.
    let (out, errs) = text(&k(&["heal", "list", "-n", ns]));
    assert!(
        out.contains(&name) && out.contains("Proposed") && out.contains("RaiseResources"),
        "{out}{errs}"
    );
    let o = k(&["heal", "plan", "-n", ns, "-o", "json"]);
    let (out, errs) = text(&o);
    assert!(o.status.success(), "{errs}");
    let plan: serde_json::Value = serde_json::from_str(&out)?;
    let row = plan["actions"]
        .as_array()
        .and_then(|v| v.iter().find(|r| r["name"] == name.as_str()))
        .ok_or_else(|| format!("{name} not in the plan: {out}"))?;
    assert_eq!(row["verdict"]["decision"], "needs-approval");
    assert_eq!(row["existing"], format!("{ns}/{name}"));
    let (table, _) = text(&k(&["heal", "plan", "-n", ns]));
    assert!(table.contains("needs-approval (approval-mode)"), "{table}");

    // Nothing happens without approval.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(limit(&client, ns).await?, "256Mi");
    assert_eq!(
        only_action(&client, ns).await?.map(|a| phase(&a)),
        Some(Phase::Proposed)
    );

    // An approval the guard would deny fails and names the rule.
    apply_yaml(
        &client,
        &format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}, labels: {{kaptain.dev/protected: \"true\"}}}}\n"),
    )
    .await?;
    // The operator sees the namespace protected too (it re-evaluates the waiting action).
    wait_decision(&client, ns, "deny", "protected-label").await?;
    let o = k(&["heal", "approve", &name, "-n", ns]);
    let (out, errs) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}{errs}");
    assert!(errs.contains("protected-label"), "{errs}");
    assert_eq!(
        only_action(&client, ns).await?.map(|a| phase(&a)),
        Some(Phase::Proposed)
    );
    apply_yaml(
        &client,
        &format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}, labels: {{kaptain.dev/protected: \"false\"}}}}\n"),
    )
    .await?;
    // Approved before the operator's watch has the label off, the guard in the operator
    // would still see the namespace protected and reject the action: wait until it has
    // re-evaluated the action with the namespace unprotected.
    wait_decision(&client, ns, "needs-approval", "approval-mode").await?;

    // Approved by the kubeconfig user, it runs.
    let o = k(&["heal", "approve", &name, "-n", ns]);
    let (out, errs) = text(&o);
    assert!(o.status.success(), "{out}{errs}");
    assert!(
        out.contains("Approved") && out.contains("as admin"),
        "{out}"
    );
    let done = eventually("the approved action to succeed", TIMEOUT, || async {
        Ok(only_action(&client, ns)
            .await?
            .filter(|a| phase(a) == Phase::Succeeded))
    })
    .await?;
    assert_eq!(
        done.status.as_ref().and_then(|s| s.approved_by.as_deref()),
        Some("admin")
    );
    assert_eq!(limit(&client, ns).await?, "768Mi");
    let (out, _) = text(&k(&["heal", "history", "-n", ns]));
    assert!(
        out.contains(&name) && out.contains("Succeeded") && out.contains("admin"),
        "{out}"
    );

    // The operator's endpoints. It counts the success after writing the Succeeded phase
    // (and recording its Event), so the counter may follow the phase by a moment.
    let succeeded = "kaptain_heal_actions_total{action=\"RaiseResources\",result=\"succeeded\",mode=\"approval\"} 1";
    let body = eventually("the success counted in /metrics", TIMEOUT, || async {
        let (status, body) = http_get(port, "/metrics")?;
        assert!(status.contains("200"), "{status}");
        Ok(body.contains(succeeded).then_some(body))
    })
    .await?;
    assert!(
        body.contains("kaptain_heal_rejections_total{rule=\"approval-mode\"}"),
        "{body}"
    );
    assert!(http_get(port, "/healthz")?.0.contains("200"));
    assert!(http_get(port, "/readyz")?.0.contains("200"));
    Ok(())
}

/// `kaptain heal reject` ends a Proposed action (recording who); it can no longer be approved
/// and the workload is never changed.
#[tokio::test]
async fn rejected_actions_never_run() -> TestResult {
    let (cp, client) = setup().await?;
    let ns = "cli-reject";
    let _op = scenario(cp, &client, ns, free_port()?, None).await?;
    let kc = cp.kubeconfig_path().to_string_lossy().into_owned();
    let k = |extra: &[&str]| {
        let mut args: Vec<&str> = extra.to_vec();
        args.extend(["--kubeconfig", kc.as_str(), "--operator-namespace", ns]);
        kaptain(&args)
    };
    let a = eventually("a Proposed action", TIMEOUT, || async {
        Ok(only_action(&client, ns)
            .await?
            .filter(|a| phase(a) == Phase::Proposed))
    })
    .await?;
    let name = a.metadata.name.clone().unwrap_or_default();
    let o = k(&[
        "heal",
        "reject",
        &name,
        "--as-user",
        "alice",
        "--reason",
        "fix the leak",
    ]);
    let (out, errs) = text(&o);
    assert!(o.status.success(), "{out}{errs}");
    let a = only_action(&client, ns)
        .await?
        .ok_or("the action is gone")?;
    let st = a.status.clone().unwrap_or_default();
    assert_eq!(st.phase, Phase::Rejected);
    assert_eq!(st.rejected_by.as_deref(), Some("alice"));
    assert!(st.message.unwrap_or_default().contains("fix the leak"));
    let o = k(&["heal", "approve", &name]);
    let (_, errs) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(errs.contains("Rejected"), "{errs}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(limit(&client, ns).await?, "256Mi");
    let (out, _) = text(&k(&["heal", "history", "-n", ns, "-o", "json"]));
    let v: serde_json::Value = serde_json::from_str(&out)?;
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{out}");
    Ok(())
}

/// `kaptain operator` with `KAPTAIN_LOG_FORMAT=json`: every line it logs is one JSON object,
/// and its decision on the proposed action is a line carrying the action, target, policy,
/// decision, rule and phase as fields.
#[tokio::test]
async fn the_operator_logs_every_decision_as_a_json_line() -> TestResult {
    let (cp, client) = setup().await?;
    let ns = "cli-json-log";
    let log = std::env::temp_dir().join(format!("kaptain-{ns}-{}.log", std::process::id()));
    let _op = scenario(cp, &client, ns, free_port()?, Some(&log)).await?;
    let decision = eventually("the decision's log line", TIMEOUT, || async {
        let text = std::fs::read_to_string(&log)?;
        let mut found = None;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value =
                serde_json::from_str(line).map_err(|e| format!("not a JSON line ({e}): {line}"))?;
            if v["reason"] == "HealingNeedsApproval" {
                found = Some(v);
            }
        }
        Ok(found)
    })
    .await?;
    let _ = std::fs::remove_file(&log);
    let a = only_action(&client, ns).await?.ok_or("no HealingAction")?;
    for (field, want) in [
        ("action", "RaiseResources".to_string()),
        ("target", format!("Deployment/{ns}/search")),
        ("policy", format!("HealingPolicy/{ns}/oom")),
        ("decision", "needs-approval".to_string()),
        ("rule", "approval-mode".to_string()),
        ("phase", "Proposed".to_string()),
        ("finding", "pod.oom-killed".to_string()),
        (
            "healing_action",
            format!("{ns}/{}", a.metadata.name.as_deref().unwrap_or("")),
        ),
        ("level", "INFO".to_string()),
    ] {
        assert_eq!(decision[field], want.as_str(), "{field} in {decision}");
    }
    assert!(
        decision["message"]
            .as_str()
            .is_some_and(|m| m.contains("waiting for approval")),
        "{decision}"
    );
    assert!(decision["timestamp"].is_string(), "{decision}");
    Ok(())
}
