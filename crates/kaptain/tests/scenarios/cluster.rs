//! The shared control plane and simulated kubelet, running `kaptain`, and waiting for a
//! scenario's state.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Pod, ResourceQuota};
use kaptain_testenv::{ControlPlane, SimKubelet, apply_yaml};
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

use crate::expected::{Match, Scenario, Wait, all_scenario_names, load};
use crate::report::{findings, summarize};
use crate::{POLL, WAIT_TIMEOUT};

// ---- the shared cluster ----------------------------------------------------------------------

/// Starts the control plane and the simulated kubelet, adds every scenario's own nodes (with
/// their taints, before any pod exists, so that no other pod lands there) and applies the first
/// phase of every scenario. Once per test binary.
pub(crate) async fn setup() -> (&'static ControlPlane, &'static SimKubelet) {
    static READY: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    let cp = ControlPlane::shared();
    let kubelet = cp.shared_kubelet().await.expect("simulated kubelet");
    READY
        .get_or_init(|| async {
            let client = cp.client().await.expect("client");
            let scenarios: Vec<Scenario> = all_scenario_names().iter().map(|n| load(n)).collect();
            let nodes: Api<Node> = Api::all(client.clone());
            for s in &scenarios {
                for n in &s.expected.nodes {
                    let labels: Vec<(&str, &str)> = n
                        .labels
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect();
                    // The Node is created with its taints before the kubelet takes it over,
                    // so that no pod of another scenario is ever scheduled there.
                    let taints: Vec<Value> = n
                        .taints
                        .iter()
                        .map(|t| json!({"key": t.key, "value": t.value, "effect": t.effect}))
                        .collect();
                    let node: Node = serde_json::from_value(json!({
                        "metadata": {"name": n.name, "labels": n.labels},
                        "spec": {"taints": taints},
                    }))
                    .expect("node");
                    nodes
                        .create(&PostParams::default(), &node)
                        .await
                        .unwrap_or_else(|e| panic!("{}: creating node {}: {e}", s.name, n.name));
                    kubelet
                        .add_node(&n.name, &n.cpu, &n.memory, &labels)
                        .await
                        .unwrap_or_else(|e| panic!("{}: adding node {}: {e}", s.name, n.name));
                }
            }
            // Give every scenario a head start; failures here are reported by the scenario's
            // own apply.
            for s in &scenarios {
                if let Some(path) = s.first_manifest()
                    && let Ok(yaml) = std::fs::read_to_string(&path)
                    && let Err(e) = apply_yaml(&client, &yaml).await
                {
                    eprintln!("{}: early apply of {}: {e}", s.name, path.display());
                }
            }
        })
        .await;
    (cp, kubelet)
}

// ---- running kaptain -------------------------------------------------------------------------

/// Checks hold back on objects younger than a few minutes (a pod Pending for 20 s is normal):
/// analyze as of [`NOW_OFFSET_MINS`] from now, as if the state had lasted that long. Seven
/// minutes is past every 5-minute grace period, and short of the 10-minute windows after which
/// a failure that stopped is considered over (a liveness probe that failed 15 "minutes" ago on
/// a container that is ready now is history, not a problem).
pub(crate) const NOW_OFFSET_MINS: i64 = 7;

pub(crate) fn later() -> String {
    (jiff::Timestamp::now() + jiff::SignedDuration::from_mins(NOW_OFFSET_MINS)).to_string()
}

pub(crate) fn run_kaptain(args: Vec<String>) -> (i32, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kaptain"))
        .args(&args)
        .output()
        .expect("run kaptain");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let code = out.status.code().unwrap_or(-1);
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "kaptain {}: exit {code}, stdout is not JSON ({e})\nstderr: {stderr}",
            args.join(" ")
        )
    });
    (code, v, stderr)
}

pub(crate) async fn kaptain_json(args: Vec<String>) -> Value {
    let shown = args.join(" ");
    let (code, v, stderr) = tokio::task::spawn_blocking(move || run_kaptain(args))
        .await
        .expect("join");
    assert!(
        code == 0 || code == 1,
        "kaptain {shown}: exit {code}\nstderr: {stderr}"
    );
    v
}

pub(crate) async fn diagnose_live(cp: &ControlPlane, ns: &str, now: &str) -> Value {
    kaptain_json(vec![
        "diagnose".into(),
        "-n".into(),
        ns.into(),
        "-o".into(),
        "json".into(),
        "--min-severity".into(),
        "medium".into(),
        "--now".into(),
        now.into(),
        "--kubeconfig".into(),
        cp.kubeconfig_path().display().to_string(),
    ])
    .await
}

pub(crate) async fn diagnose_files(files: &[PathBuf], now: &str) -> Value {
    let mut args: Vec<String> = vec![
        "diagnose".into(),
        "-o".into(),
        "json".into(),
        "--min-severity".into(),
        "medium".into(),
        "--now".into(),
        now.into(),
    ];
    for f in files {
        args.push("--from".into());
        args.push(f.display().to_string());
    }
    kaptain_json(args).await
}

pub(crate) async fn snapshot(cp: &ControlPlane, ns: &str, dir: &Path) {
    let args = vec![
        "snapshot".to_string(),
        "-n".into(),
        ns.into(),
        "-o".into(),
        dir.display().to_string(),
        "--kubeconfig".into(),
        cp.kubeconfig_path().display().to_string(),
    ];
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_kaptain"))
            .args(&args)
            .output()
            .expect("run kaptain snapshot")
    })
    .await
    .expect("join");
    assert!(
        out.status.success(),
        "kaptain snapshot -n {ns}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---- waiting ---------------------------------------------------------------------------------

/// Whether an object is ready in the sense of `ready: true`; a description of its state.
pub(crate) async fn object_ready(
    client: &kube::Client,
    ns: &str,
    kind: &str,
    name: &str,
) -> (bool, String) {
    fn cond<'a>(conds: impl IntoIterator<Item = (&'a str, &'a str)>, t: &str) -> bool {
        conds.into_iter().any(|(ty, st)| ty == t && st == "True")
    }
    let got = match kind {
        "Deployment" => Api::<Deployment>::namespaced(client.clone(), ns)
            .get_opt(name)
            .await
            .map(|d| {
                d.map(|d| {
                    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                    let st = d.status.unwrap_or_default();
                    let ok = st.observed_generation >= d.metadata.generation
                        && st.updated_replicas.unwrap_or(0) == want
                        && st.available_replicas.unwrap_or(0) == want
                        && st.replicas.unwrap_or(0) == want;
                    (
                        ok,
                        format!(
                            "replicas={want} updated={:?} available={:?} total={:?}",
                            st.updated_replicas, st.available_replicas, st.replicas
                        ),
                    )
                })
            }),
        "StatefulSet" => Api::<StatefulSet>::namespaced(client.clone(), ns)
            .get_opt(name)
            .await
            .map(|d| {
                d.map(|d| {
                    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                    let st = d.status.unwrap_or_default();
                    let ok = st.ready_replicas.unwrap_or(0) == want && st.replicas == want;
                    (ok, format!("replicas={want} ready={:?}", st.ready_replicas))
                })
            }),
        "ReplicaSet" => Api::<ReplicaSet>::namespaced(client.clone(), ns)
            .get_opt(name)
            .await
            .map(|d| {
                d.map(|d| {
                    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                    let st = d.status.unwrap_or_default();
                    let ok = st.available_replicas.unwrap_or(0) == want;
                    (
                        ok,
                        format!("replicas={want} available={:?}", st.available_replicas),
                    )
                })
            }),
        "Job" => Api::<Job>::namespaced(client.clone(), ns)
            .get_opt(name)
            .await
            .map(|j| {
                j.map(|j| {
                    let st = j.status.unwrap_or_default();
                    let conds = st.conditions.unwrap_or_default();
                    let ok = cond(
                        conds.iter().map(|c| (c.type_.as_str(), c.status.as_str())),
                        "Complete",
                    );
                    (
                        ok,
                        format!("succeeded={:?} failed={:?}", st.succeeded, st.failed),
                    )
                })
            }),
        "Pod" => Api::<Pod>::namespaced(client.clone(), ns)
            .get_opt(name)
            .await
            .map(|p| {
                p.map(|p| {
                    let st = p.status.unwrap_or_default();
                    let conds = st.conditions.unwrap_or_default();
                    let ok = cond(
                        conds.iter().map(|c| (c.type_.as_str(), c.status.as_str())),
                        "Ready",
                    );
                    (ok, format!("phase={:?}", st.phase))
                })
            }),
        "ResourceQuota" => Api::<ResourceQuota>::namespaced(client.clone(), ns)
            .get_opt(name)
            .await
            .map(|q| {
                q.map(|q| {
                    let hard = q.status.and_then(|s| s.hard);
                    (hard.is_some(), format!("status.hard={hard:?}"))
                })
            }),
        other => panic!("ready: true is not supported for kind {other}"),
    };
    match got {
        Ok(Some(x)) => x,
        Ok(None) => (false, "does not exist".into()),
        Err(e) => (false, format!("error: {e}")),
    }
}

/// The namespace's pods in a few lines (phase, node, Ready, container states), for failures.
pub(crate) async fn pod_states(client: &kube::Client, ns: &str) -> String {
    let pods = match Api::<Pod>::namespaced(client.clone(), ns)
        .list(&Default::default())
        .await
    {
        Ok(l) => l.items,
        Err(e) => return format!("  (listing pods: {e})\n"),
    };
    let mut out = String::new();
    for p in &pods {
        let st = p.status.clone().unwrap_or_default();
        let ready = st
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "Ready")
            .map(|c| {
                format!(
                    "{}{}",
                    c.status,
                    c.reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                )
            })
            .unwrap_or_else(|| "-".into());
        let containers: Vec<String> = st
            .container_statuses
            .iter()
            .flatten()
            .map(|c| {
                let state = c.state.as_ref().map_or("?".to_string(), |s| {
                    if let Some(w) = &s.waiting {
                        format!("waiting {}", w.reason.as_deref().unwrap_or(""))
                    } else if let Some(t) = &s.terminated {
                        format!(
                            "terminated {} ({})",
                            t.exit_code,
                            t.reason.as_deref().unwrap_or("")
                        )
                    } else {
                        "running".to_string()
                    }
                });
                format!(
                    "{}: {state}, ready={}, restarts={}",
                    c.name, c.ready, c.restart_count
                )
            })
            .collect();
        out.push_str(&format!(
            "  pod {} phase={} node={} Ready={} [{}]\n",
            p.metadata.name.as_deref().unwrap_or("?"),
            st.phase.as_deref().unwrap_or("?"),
            p.spec
                .as_ref()
                .and_then(|s| s.node_name.as_deref())
                .unwrap_or("-"),
            ready,
            containers.join("; ")
        ));
    }
    if out.is_empty() {
        out.push_str("  (no pods)\n");
    }
    out
}

/// Polls until every `wait_for` entry holds; panics with the last report on timeout.
pub(crate) async fn wait_for(
    cp: &ControlPlane,
    client: &kube::Client,
    s: &Scenario,
    waits: &[Wait],
    what: &str,
) {
    let deadline = Instant::now() + WAIT_TIMEOUT;
    loop {
        let mut pending = Vec::new();
        let findings_wanted: Vec<Match> = waits.iter().filter_map(Wait::finding).collect();
        let mut report = Value::Null;
        if !findings_wanted.is_empty() {
            report = diagnose_live(cp, &s.name, &later()).await;
            for m in &findings_wanted {
                if !findings(&report).iter().any(|f| m.matches(f, &s.name)) {
                    pending.push(format!("finding {}", m.display()));
                }
            }
        }
        for w in waits.iter().filter(|w| w.ready) {
            let name = w.name.as_deref().unwrap_or("");
            let (ok, state) = object_ready(client, &s.name, &w.kind, name).await;
            if !ok {
                pending.push(format!("{} {name} ready ({state})", w.kind));
            }
        }
        if pending.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            if report.is_null() {
                report = diagnose_live(cp, &s.name, &later()).await;
            }
            panic!(
                "scenario {}: {what}: still waiting after {}s for:\n  {}\nlast report:\n{}pods:\n{}",
                s.name,
                WAIT_TIMEOUT.as_secs(),
                pending.join("\n  "),
                summarize(&report),
                pod_states(client, &s.name).await
            );
        }
        tokio::time::sleep(POLL).await;
    }
}
