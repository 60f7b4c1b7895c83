//! Integration tests of the real control plane: scheduling, users/RBAC, node conditions, and
//! that no process outlives its owner.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::api::rbac::v1::RoleBinding;
use kaptain_testenv::{ControlPlane, NOBODY_TOKEN, VIEWER_TOKEN, eventually};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// A generous deadline for the controllers and the API server to act (a loaded 2-core CI
/// machine runs this beside other test binaries); no test measures against it.
const TIMEOUT: Duration = Duration::from_secs(120);

async fn create_namespace(client: &kube::Client, name: &str) -> TestResult {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    namespaces.create(&PostParams::default(), &ns).await?;
    Ok(())
}

async fn label_nodes(
    client: &kube::Client,
    nodes: &[String],
    key: &str,
    value: &str,
) -> TestResult {
    let api: Api<Node> = Api::all(client.clone());
    for node in nodes {
        let patch = json!({"metadata": {"labels": {key: value}}});
        api.patch(node, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
    }
    Ok(())
}

#[tokio::test]
async fn deployment_becomes_replicaset_and_pods_bound_to_nodes() -> TestResult {
    let cp = ControlPlane::shared();
    assert!(
        cp.has_controllers(),
        "this test needs the controller manager and scheduler"
    );
    eprintln!(
        "control plane at {} ready in {:?}",
        cp.server_url(),
        cp.startup_time()
    );
    let client = cp.client().await?;
    create_namespace(&client, "deploy-test").await?;

    let nodes = cp.add_nodes(2, "4", "8Gi").await?;
    assert_eq!(nodes.len(), 2);
    // Other tests add nodes to the shared control plane too: pin our pods to ours.
    label_nodes(&client, &nodes, "kaptain.test/pool", "deploy").await?;

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "deploy-test");
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "nodeSelector": {"kaptain.test/pool": "deploy"},
                    "containers": [{
                        "name": "web",
                        "image": "nginx:1.19",
                        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                    }],
                },
            },
        },
    }))?;
    deployments
        .create(&PostParams::default(), &deployment)
        .await?;

    let replicasets: Api<ReplicaSet> = Api::namespaced(client.clone(), "deploy-test");
    let rs_name = eventually("a ReplicaSet owned by deployment web", TIMEOUT, || {
        let replicasets = replicasets.clone();
        async move {
            let list = replicasets
                .list(&ListParams::default().labels("app=web"))
                .await?;
            Ok(list.items.into_iter().find_map(|rs| {
                let owned = rs
                    .metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|o| o.kind == "Deployment" && o.name == "web");
                owned.then(|| rs.metadata.name.unwrap_or_default())
            }))
        }
    })
    .await?;

    let pods: Api<Pod> = Api::namespaced(client.clone(), "deploy-test");
    let placement = eventually("3 pods bound to our nodes", TIMEOUT, || {
        let pods = pods.clone();
        let rs_name = rs_name.clone();
        async move {
            let list = pods.list(&ListParams::default().labels("app=web")).await?;
            let owned_by_rs = |p: &Pod| {
                p.metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|o| o.kind == "ReplicaSet" && o.name == rs_name)
            };
            let bound: BTreeMap<String, String> = list
                .items
                .iter()
                .filter(|p| owned_by_rs(p))
                .filter_map(|p| {
                    let node = p.spec.as_ref()?.node_name.clone()?;
                    Some((p.metadata.name.clone()?, node))
                })
                .collect();
            Ok((list.items.len() == 3 && bound.len() == 3).then_some(bound))
        }
    })
    .await?;
    let ours: BTreeSet<&String> = nodes.iter().collect();
    for (pod, node) in &placement {
        assert!(
            ours.contains(node),
            "pod {pod} bound to {node}, not one of {nodes:?}"
        );
    }
    eprintln!("ReplicaSet {rs_name}; pods bound: {placement:?}");
    Ok(())
}

#[tokio::test]
async fn token_users_authenticate_and_rbac_applies() -> TestResult {
    let cp = ControlPlane::shared();
    let admin = cp.client().await?;
    create_namespace(&admin, "rbac-test").await?;

    // The kubeconfigs carry the documented context names.
    let viewer_config = kube::config::Kubeconfig::read_from(cp.kubeconfig_for(VIEWER_TOKEN)?)?;
    assert_eq!(
        viewer_config.current_context.as_deref(),
        Some("kaptain-test-viewer")
    );
    let admin_config = kube::config::Kubeconfig::read_from(cp.kubeconfig_path())?;
    assert_eq!(
        admin_config.current_context.as_deref(),
        Some("kaptain-test")
    );

    // Authenticated but without bindings: 403 for both users.
    for token in [VIEWER_TOKEN, NOBODY_TOKEN] {
        let pods: Api<Pod> = Api::namespaced(cp.client_for(token).await?, "rbac-test");
        match pods.list(&ListParams::default()).await {
            Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{token}: {status:?}"),
            other => panic!("{token}: expected 403, got {other:?}"),
        }
    }
    // An unknown token is not authenticated at all: 401.
    let strangers: Api<Pod> = Api::namespaced(cp.client_for("no-such-token").await?, "rbac-test");
    match strangers.list(&ListParams::default()).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 401, "{status:?}"),
        other => panic!("unknown token: expected 401, got {other:?}"),
    }

    // Bind viewer to the built-in `view` ClusterRole in rbac-test only.
    let bindings: Api<RoleBinding> = Api::namespaced(admin.clone(), "rbac-test");
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "viewer-view"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "viewer"}],
    }))?;
    bindings.create(&PostParams::default(), &binding).await?;
    let viewer = cp.client_for(VIEWER_TOKEN).await?;
    let viewer_pods: Api<Pod> = Api::namespaced(viewer.clone(), "rbac-test");
    eventually("viewer may list pods in rbac-test", TIMEOUT, || {
        let viewer_pods = viewer_pods.clone();
        async move {
            Ok(viewer_pods
                .list(&ListParams::default())
                .await
                .ok()
                .map(drop))
        }
    })
    .await?;
    let elsewhere: Api<Pod> = Api::namespaced(viewer, "default");
    match elsewhere.list(&ListParams::default()).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{status:?}"),
        other => panic!("viewer in default: expected 403, got {other:?}"),
    }
    Ok(())
}

fn taint_keys(node: &Node) -> Vec<String> {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .map(|t| {
            t.iter()
                .map(|t| format!("{}:{}", t.key, t.effect))
                .collect()
        })
        .unwrap_or_default()
}

fn condition_status(node: &Node, type_: &str) -> Option<String> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| c.status.clone())
}

#[tokio::test]
async fn node_conditions_drive_the_node_lifecycle_controller() -> TestResult {
    let cp = ControlPlane::shared();
    let client = cp.client().await?;
    let nodes = cp.add_nodes(1, "2", "4Gi").await?;
    let name = nodes.first().ok_or("no node")?.clone();
    let api: Api<Node> = Api::all(client);

    let node = api.get(&name).await?;
    assert_eq!(condition_status(&node, "Ready").as_deref(), Some("True"));
    assert_eq!(
        condition_status(&node, "MemoryPressure").as_deref(),
        Some("False")
    );
    let status = node.status.as_ref().ok_or("no status")?;
    let info = status.node_info.as_ref().ok_or("no nodeInfo")?;
    assert_eq!(info.kubelet_version, "v1.20.2");
    let capacity = status.capacity.as_ref().ok_or("no capacity")?;
    assert_eq!(capacity.get("pods").map(|q| q.0.as_str()), Some("110"));
    assert_eq!(capacity.get("cpu").map(|q| q.0.as_str()), Some("2"));
    let labels = node.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("kubernetes.io/hostname"), Some(&name));
    assert_eq!(
        labels
            .get("node-role.kubernetes.io/worker")
            .map(String::as_str),
        Some("")
    );
    assert!(
        !taint_keys(&node)
            .iter()
            .any(|t| t.starts_with("node.kubernetes.io/not-ready")),
        "fresh node is tainted: {:?}",
        taint_keys(&node)
    );

    cp.set_node_condition(
        &name,
        "MemoryPressure",
        "True",
        "KubeletHasInsufficientMemory",
        "low",
    )
    .await?;
    cp.set_node_condition(&name, "Ready", "False", "KubeletNotReady", "runtime down")
        .await?;
    let node = api.get(&name).await?;
    assert_eq!(condition_status(&node, "Ready").as_deref(), Some("False"));
    assert_eq!(
        condition_status(&node, "MemoryPressure").as_deref(),
        Some("True")
    );
    assert_eq!(
        condition_status(&node, "DiskPressure").as_deref(),
        Some("False")
    );

    if cp.has_controllers() {
        let taints = eventually("not-ready and memory-pressure taints", TIMEOUT, || {
            let api = api.clone();
            let name = name.clone();
            async move {
                let taints = taint_keys(&api.get(&name).await?);
                let has = |k: &str| taints.iter().any(|t| t == k);
                Ok((has("node.kubernetes.io/not-ready:NoSchedule")
                    && has("node.kubernetes.io/memory-pressure:NoSchedule"))
                .then_some(taints))
            }
        })
        .await?;
        eprintln!("{name} tainted: {taints:?}");

        cp.set_node_condition(&name, "Ready", "True", "KubeletReady", "back")
            .await?;
        cp.set_node_condition(
            &name,
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "ok",
        )
        .await?;
        eventually("taints removed again", TIMEOUT, || {
            let api = api.clone();
            let name = name.clone();
            async move { Ok(taint_keys(&api.get(&name).await?).is_empty().then_some(())) }
        })
        .await?;
    }
    Ok(())
}

/// Whether a process with this pid and command name still runs (zombies count as gone; a
/// different command name means the pid was reused).
fn running(pid: u32, name: &str) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
        return false;
    };
    let comm = &stat[open + 1..close];
    let state = stat[close + 1..].trim_start().chars().next();
    // /proc's comm is truncated to 15 bytes.
    state != Some('Z') && name.starts_with(comm)
}

fn wait_gone(pids: &[(String, u32)], dir: &Path, within: Duration) -> Result<Duration, String> {
    let start = Instant::now();
    loop {
        let alive: Vec<_> = pids.iter().filter(|(n, p)| running(*p, n)).collect();
        if alive.is_empty() && !dir.exists() {
            return Ok(start.elapsed());
        }
        if start.elapsed() > within {
            return Err(format!(
                "after {within:?}: still running {alive:?}; dir {} exists: {}",
                dir.display(),
                dir.exists()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

const ABORT_HELPER_ENV: &str = "KAPTAIN_TESTENV_ABORT_HELPER";

/// Not a test on its own: when re-executed by `no_orphans_when_the_test_binary_aborts` with
/// KAPTAIN_TESTENV_ABORT_HELPER set, it starts a control plane, prints its pids and aborts.
#[test]
fn abort_helper() -> TestResult {
    if std::env::var_os(ABORT_HELPER_ENV).is_none() {
        return Ok(());
    }
    let cp = ControlPlane::start()?;
    let mut out = std::io::stdout().lock();
    for (name, pid) in cp.pids() {
        writeln!(out, "\n@@ PID {name} {pid}")?;
    }
    writeln!(out, "\n@@ DIR {}", cp.dir().display())?;
    out.flush()?;
    std::process::abort();
}

#[test]
fn no_orphans_when_the_test_binary_aborts() -> TestResult {
    let exe = std::env::current_exe()?;
    // No core dump for the deliberate abort.
    let mut child = Command::new("sh")
        .args(["-c", "ulimit -c 0; exec \"$0\" \"$@\""])
        .arg(exe)
        .args(["--exact", "abort_helper", "--nocapture", "--test-threads=1"])
        .env(ABORT_HELPER_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stderr = child.stderr.take().ok_or("no stderr")?;
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
    let mut pids = Vec::new();
    let mut dir = None;
    for line in stdout.lines() {
        let line = line?;
        // The harness's "test abort_helper ... " may precede a marker on the same line.
        let Some(at) = line.find("@@ ") else { continue };
        let words: Vec<&str> = line[at + 3..].split_whitespace().collect();
        match words.as_slice() {
            ["PID", name, pid] => pids.push(((*name).to_owned(), pid.parse::<u32>()?)),
            ["DIR", path] => dir = Some(PathBuf::from(path)),
            _ => {}
        }
    }
    let status = child.wait()?;
    let helper_stderr = stderr_reader.join().unwrap_or_default();
    let dir =
        dir.ok_or_else(|| format!("helper printed no DIR ({status}); stderr:\n{helper_stderr}"))?;
    assert!(!status.success(), "helper should have aborted: {status}");
    let names: Vec<&str> = pids.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.contains(&"etcd") && names.contains(&"kube-apiserver"),
        "helper pids: {pids:?}"
    );
    let took = wait_gone(&pids, &dir, Duration::from_secs(60))?;
    eprintln!(
        "after abort: {pids:?} gone and {} removed within {took:?}",
        dir.display()
    );
    Ok(())
}

#[test]
fn drop_stops_processes_and_removes_the_temp_dir() -> TestResult {
    let cp = ControlPlane::start()?;
    eprintln!("own control plane ready in {:?}", cp.startup_time());
    let pids: Vec<(String, u32)> = cp
        .pids()
        .into_iter()
        .map(|(n, p)| (n.to_owned(), p))
        .collect();
    assert!(pids.iter().all(|(n, p)| running(*p, n)), "{pids:?}");
    assert!(cp.log_dir().join("kube-apiserver.log").is_file());
    let dir = cp.dir().to_path_buf();
    let start = Instant::now();
    drop(cp);
    let took = start.elapsed();
    wait_gone(&pids, &dir, Duration::ZERO)?;
    eprintln!("drop stopped {pids:?} and removed the dir in {took:?}");
    Ok(())
}
