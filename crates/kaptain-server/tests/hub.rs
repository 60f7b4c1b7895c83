//! The hub against the real control plane (etcd, kube-apiserver, controller manager and
//! scheduler v1.20.2) with the simulated kubelet: live findings that appear and clear, the
//! node table, two clusters of which one is unreachable, recovery through a TCP forwarder
//! that refuses and cuts connections, and HealingActions once their CRD is installed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kaptain_heal::crd::{HealingAction, HealingActionStatus, Phase};
use kaptain_model::Finding;
use kaptain_server::hub::{
    ClusterSource, ClusterStatus, Hub, HubConfig, HubEvent, ReportChange, sink_fn,
};
use kaptain_testenv::{ControlPlane, apply_yaml};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

mod support;

use support::{DEADLINE, Error, TestResult, eventually, fast_hub, install_crds, proposed_restart};

/// Analyses run 15 minutes ahead, so that grace periods (young pods are not yet flagged)
/// have passed, as the live CLI tests do with `--now`.
fn config() -> HubConfig {
    HubConfig {
        probe_interval: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        backoff_initial: Duration::from_millis(200),
        backoff_max: Duration::from_secs(2),
        ..fast_hub()
    }
}

async fn wait_state(hub: &Hub, cluster: &str, state: &str) -> Result<ClusterStatus, Error> {
    eventually(&format!("cluster {cluster} {state}"), || async {
        hub.cluster(cluster)
            .map(|v| v.info.status)
            .filter(|s| s.state() == state)
    })
    .await
}

/// A kubeconfig with the admin token, one context per `(name, server)`, in `dir`.
fn kubeconfig(dir: &Path, contexts: &[(&str, &str)]) -> std::io::Result<PathBuf> {
    let token = ControlPlane::shared().admin_token();
    let mut clusters = String::new();
    let mut ctxs = String::new();
    for (name, server) in contexts {
        clusters.push_str(&format!(
            "- name: {name}\n  cluster: {{server: \"{server}\", insecure-skip-tls-verify: true}}\n"
        ));
        ctxs.push_str(&format!(
            "- name: {name}\n  context: {{cluster: {name}, user: admin, namespace: default}}\n"
        ));
    }
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n{clusters}users:\n- name: admin\n  user: {{token: {token}}}\ncontexts:\n{ctxs}current-context: {}\n",
        contexts.first().map_or("none", |c| c.0)
    );
    let path = dir.join("kubeconfig");
    std::fs::write(&path, text)?;
    Ok(path)
}

fn findings_in<'a>(
    report: &'a kaptain_model::Report,
    namespace: &'a str,
    ids: &'a [&str],
) -> impl Iterator<Item = &'a Finding> + 'a {
    report.findings.iter().filter(move |f| {
        f.object.namespace.as_deref() == Some(namespace) && ids.contains(&f.id.as_str())
    })
}

const BROKEN: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: hub-a}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: shop, namespace: hub-a}
spec:
  replicas: 2
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      nodeSelector: {hub: a}
      containers:
      - name: shop
        image: hub/shop:1.0
        envFrom: [{configMapRef: {name: shop-config}}]
        resources: {requests: {cpu: 250m, memory: 128Mi}}
"#;

const FIX: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: shop-config, namespace: hub-a}
data: {MODE: live}
"#;

const MISSING_CONFIG: &[&str] = &[
    "config.missing-configmap",
    "pod.create-container-config-error",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_app_appears_in_the_report_and_clears_when_fixed() -> TestResult {
    let cp = ControlPlane::shared();
    let sim = cp.shared_kubelet().await?;
    sim.add_node("hub-a-node", "2", "4Gi", &[("hub", "a")])
        .await?;
    let client = cp.client().await?;

    let sunk: Arc<Mutex<Vec<(u64, ReportChange)>>> = Arc::default();
    let sink = {
        let sunk = sunk.clone();
        sink_fn(move |cluster, generation, _report, change| {
            let sunk = sunk.clone();
            async move {
                assert_eq!(cluster, "kaptain-test");
                sunk.lock().expect("lock").push((generation, change));
                Ok(())
            }
        })
    };
    let cfg = HubConfig {
        sink_interval: Duration::from_secs(1),
        resync: Duration::from_secs(2),
        ..config()
    };
    let hub = Hub::with_sink(cfg, Some(sink));
    let mut events = hub.subscribe();
    let name = hub.add_cluster(ClusterSource::context(
        Some(cp.kubeconfig_path().to_owned()),
        "kaptain-test",
    ))?;
    assert_eq!(name, "kaptain-test");
    wait_state(&hub, &name, "ready").await?;
    let view = hub.cluster(&name).ok_or("no view")?;
    assert_eq!(view.info.server_version.as_deref(), Some("v1.20.2"));
    // What v1.20 does not serve is skipped, as one-shot scans report it.
    for api in [
        "batch/v1 CronJob",
        "policy/v1 PodDisruptionBudget",
        "autoscaling/v2 HorizontalPodAutoscaler",
    ] {
        let s = view.skipped.iter().find(|s| s.api == api);
        assert_eq!(
            s.map(|s| s.reason.as_str()),
            Some("not served"),
            "{api}: {view:?}"
        );
    }
    assert!(
        view.watched.iter().any(|k| k == "v1 Pod"),
        "{:?}",
        view.watched
    );

    let applied = Instant::now();
    apply_yaml(&client, BROKEN).await?;
    let report = eventually("the missing ConfigMap in the hub's report", || async {
        hub.report(&name).filter(|r| {
            MISSING_CONFIG
                .iter()
                .all(|id| findings_in(r, "hub-a", &[id]).next().is_some())
        })
    })
    .await?;
    let appeared_after = applied.elapsed();
    let generation = hub.generation(&name).ok_or("no generation")?;
    eprintln!(
        "broken app in the hub's report {:.2}s after apply (generation {generation}, {} findings)",
        appeared_after.as_secs_f64(),
        report.findings.len()
    );
    let view = hub.cluster(&name).ok_or("no view")?;
    eprintln!(
        "latest analysis: {} objects, {} ms (snapshot, checks, correlation, summaries)",
        view.objects,
        view.analysis_ms.unwrap_or_default()
    );
    let root = findings_in(&report, "hub-a", &["config.missing-configmap"])
        .next()
        .ok_or("no root cause")?;
    assert!(root.root_cause, "{root:?}");
    assert_eq!(report.source.context.as_deref(), Some("kaptain-test"));

    // The sink saw that generation, and the root cause among the findings that appeared in
    // it or an earlier one.
    let fp = root.fingerprint.clone();
    eventually("the sink to receive the generation", || async {
        let sunk = sunk.lock().expect("lock");
        (sunk.iter().any(|(g, _)| *g == generation)
            && sunk
                .iter()
                .any(|(g, c)| *g <= generation && c.appeared.contains(&fp)))
        .then_some(())
    })
    .await?;
    // While nothing changes, the sink hears again that the findings are still there.
    eventually("the unchanged report again", || async {
        let sunk = sunk.lock().expect("lock");
        sunk.windows(2)
            .any(|w| w[1].0 == w[0].0 && w[1].1.is_empty())
            .then_some(())
    })
    .await?;
    let generations: Vec<u64> = sunk.lock().expect("lock").iter().map(|(g, _)| *g).collect();
    assert!(
        generations
            .windows(2)
            .all(|w| w[1] == w[0] + 1 || w[1] == w[0]),
        "every generation, in order: {generations:?}"
    );
    // And subscribers heard of it.
    let mut heard = false;
    while let Ok(e) = events.try_recv() {
        if let HubEvent::ReportUpdated {
            cluster,
            generation: g,
            ..
        } = e
        {
            assert_eq!(cluster, name);
            heard |= g == generation;
        }
    }
    assert!(heard, "no ReportUpdated for generation {generation}");

    // The node table shows the simulated nodes, with what the pods on them request.
    let nodes = eventually("both pods counted on hub-a-node", || async {
        hub.nodes(&name)
            .filter(|n| n.iter().any(|r| r.name == "hub-a-node" && r.pods == 2))
    })
    .await?;
    let node = nodes
        .iter()
        .find(|n| n.name == "hub-a-node")
        .ok_or("no hub-a-node")?;
    assert_eq!(node.allocatable_cpu_millicores, Some(2000));
    assert_eq!(node.allocatable_memory_bytes, Some(4 << 30));
    assert_eq!(node.requested_cpu_millicores, 500);
    assert_eq!(node.requested_memory_bytes, 256 << 20);
    assert_eq!(node.ready, Some(true));
    assert_eq!(node.kubelet_version.as_deref(), Some("v1.20.2"));
    assert!(node.roles.iter().any(|r| r == "worker"), "{node:?}");
    let shared_node = nodes
        .iter()
        .find(|n| n.name == "sim-node-0")
        .ok_or("no sim-node-0")?;
    assert_eq!(shared_node.allocatable_cpu_millicores, Some(4000));
    assert_eq!(shared_node.allocatable_memory_bytes, Some(16 << 30));

    // Namespace breakdown and warning events.
    let namespaces = hub.namespaces(&name).ok_or("no namespaces")?;
    let ns = namespaces
        .iter()
        .find(|n| n.name == "hub-a")
        .ok_or("no hub-a")?;
    assert_eq!(ns.workloads.deployments, 1);
    assert_eq!(ns.pods.total(), 2);
    assert!(ns.findings.total() >= 2, "{ns:?}");
    let warnings = eventually("the kubelet's warning about the ConfigMap", || async {
        hub.warning_events(&name, 50).filter(|w| {
            w.iter().any(|e| {
                e.namespace == "hub-a" && e.message.as_deref().unwrap_or("").contains("shop-config")
            })
        })
    })
    .await?;
    assert!(warnings.len() <= 50);
    assert!(
        warnings
            .windows(2)
            .all(|w| w[0].last_seen >= w[1].last_seen),
        "not newest first"
    );

    // Fixed: the findings clear.
    apply_yaml(&client, FIX).await?;
    eventually("the findings to clear", || async {
        hub.report(&name)
            .filter(|r| findings_in(r, "hub-a", MISSING_CONFIG).count() == 0)
    })
    .await?;
    assert!(hub.generation(&name).ok_or("no generation")? > generation);
    assert!(hub.cluster(&name).ok_or("no view")?.info.status.is_ready());
    Ok(())
}

const SELECTS_NOTHING: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: hub-b}
---
apiVersion: v1
kind: Service
metadata: {name: orphan, namespace: hub-b}
spec:
  selector: {app: nothing-has-this-label}
  ports: [{port: 80, targetPort: 8080}]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_cluster_does_not_affect_the_others() -> TestResult {
    let cp = ControlPlane::shared();
    let client = cp.client().await?;
    apply_yaml(&client, SELECTS_NOTHING).await?;
    // A loopback port nobody listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let dir = tempfile::tempdir()?;
    let dead = format!("https://127.0.0.1:{closed}");
    let path = kubeconfig(dir.path(), &[("good", cp.server_url()), ("dead", &dead)])?;

    let hub = Hub::new(config());
    // `--all-contexts`.
    let sources = ClusterSource::all_contexts(Some(path.clone()))?;
    assert_eq!(sources.len(), 2);
    for s in sources {
        hub.add_cluster(s)?;
    }
    let names: Vec<String> = hub.clusters().into_iter().map(|c| c.name).collect();
    assert_eq!(names, vec!["dead", "good"]);
    // Adding a context again, or one that does not exist, is bad input.
    let again = hub.add_cluster(ClusterSource::context(Some(path.clone()), "good"));
    assert!(again.is_err());
    let unknown = hub.add_cluster(ClusterSource::context(Some(path.clone()), "nope"));
    assert_eq!(
        unknown.map_err(|e| e.to_string()).err().as_deref(),
        Some("context \"nope\" not found in kubeconfig")
    );

    wait_state(&hub, "good", "ready").await?;
    let report = eventually("the Service that selects nothing", || async {
        hub.report("good").filter(|r| {
            r.findings.iter().any(|f| {
                f.object.namespace.as_deref() == Some("hub-b") && f.object.name == "orphan"
            })
        })
    })
    .await?;
    assert!(!report.findings.is_empty());

    let status = wait_state(&hub, "dead", "unreachable").await?;
    let ClusterStatus::Unreachable {
        error,
        since,
        retry_at,
        attempts,
    } = status
    else {
        return Err("not unreachable".into());
    };
    eprintln!("unreachable cluster: {error}");
    assert!(!error.contains('\n'), "{error}");
    assert!(error.contains("context dead"), "{error}");
    assert!(error.to_lowercase().contains("refused"), "{error}");
    assert!(attempts >= 1 && retry_at > since);
    assert!(hub.report("dead").is_none());
    assert!(hub.nodes("dead").is_none());
    // It keeps retrying, with growing delays, and the good one stays ready meanwhile.
    eventually("more attempts", || async {
        match hub.cluster("dead").map(|v| v.info.status) {
            Some(ClusterStatus::Unreachable { attempts: a, .. }) if a >= attempts + 2 => Some(()),
            _ => None,
        }
    })
    .await?;
    assert!(hub.cluster("good").ok_or("no good")?.info.status.is_ready());
    assert!(hub.remove_cluster("dead"));
    assert_eq!(hub.clusters().len(), 1);
    Ok(())
}

/// A TCP forwarder to the API server that can refuse (accept and close at once) and cut
/// every open connection.
struct Forwarder {
    addr: SocketAddr,
    /// (forwarding, epoch): a new epoch closes every connection of the previous ones.
    mode: watch::Sender<(bool, u64)>,
    _task: tokio::task::JoinHandle<()>,
}

impl Forwarder {
    async fn start(target: SocketAddr) -> std::io::Result<Forwarder> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (mode, _) = watch::channel((false, 0u64));
        let modes = mode.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut down, _)) = listener.accept().await {
                let mut rx = modes.subscribe();
                let (forwarding, epoch) = *rx.borrow_and_update();
                if !forwarding {
                    drop(down);
                    continue;
                }
                tokio::spawn(async move {
                    let Ok(mut up) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut down, &mut up) => {}
                        _ = rx.wait_for(|(_, e)| *e != epoch) => {}
                    }
                });
            }
        });
        Ok(Forwarder {
            addr,
            mode,
            _task: task,
        })
    }

    fn set(&self, forwarding: bool) {
        self.mode.send_modify(|(f, e)| {
            *f = forwarding;
            *e += 1;
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_recovers_by_itself_when_its_server_returns() -> TestResult {
    let cp = ControlPlane::shared();
    let target: SocketAddr = cp.server_url().trim_start_matches("https://").parse()?;
    let fwd = Forwarder::start(target).await?;
    let dir = tempfile::tempdir()?;
    let path = kubeconfig(dir.path(), &[("flaky", &format!("https://{}", fwd.addr))])?;
    let hub = Hub::new(config());
    let mut events = hub.subscribe();
    let name = hub.add_cluster(ClusterSource::Kubeconfig {
        path: Some(path),
        context: None,
    })?;
    assert_eq!(name, "flaky");

    let down = wait_state(&hub, &name, "unreachable").await?;
    eprintln!("refusing: {}", down.error().unwrap_or_default());
    assert!(hub.client(&name).is_none(), "never connected");

    fwd.set(true);
    let began = Instant::now();
    wait_state(&hub, &name, "ready").await?;
    eventually("a first report", || async { hub.report(&name) }).await?;
    eprintln!(
        "ready {:.2}s after forwarding",
        began.elapsed().as_secs_f64()
    );
    let generation = hub.generation(&name).ok_or("no generation")?;
    assert!(generation >= 1);

    fwd.set(false);
    let began = Instant::now();
    let cut = wait_state(&hub, &name, "unreachable").await?;
    eprintln!(
        "cut noticed after {:.2}s: {}",
        began.elapsed().as_secs_f64(),
        cut.error().unwrap_or_default()
    );
    assert!(!cut.error().unwrap_or_default().is_empty());
    // The last data stays readable while unreachable.
    assert!(hub.report(&name).is_some());
    assert!(hub.nodes(&name).is_some_and(|n| !n.is_empty()));

    fwd.set(true);
    let began = Instant::now();
    wait_state(&hub, &name, "ready").await?;
    eprintln!(
        "recovered {:.2}s after forwarding again",
        began.elapsed().as_secs_f64()
    );
    eventually("an analysis after recovery", || async {
        hub.cluster(&name).filter(|v| {
            v.data_as_of.is_some_and(|t| match &v.info.status {
                ClusterStatus::Ready { since } => t >= *since,
                _ => false,
            })
        })
    })
    .await?;

    // Subscribers saw every transition, in order.
    let mut states = Vec::new();
    while let Ok(e) = events.try_recv() {
        if let HubEvent::ClusterStatusChanged { cluster, status } = e {
            assert_eq!(cluster, name);
            if states.last() != Some(&status.state()) {
                states.push(status.state());
            }
        }
    }
    assert_eq!(
        states,
        vec!["unreachable", "ready", "unreachable", "ready"],
        "status changes seen"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healing_actions_are_watched_once_their_crd_is_installed() -> TestResult {
    let cp = ControlPlane::shared();
    let client = cp.client().await?;
    let hub = Hub::new(config());
    let mut events = hub.subscribe();
    let name = hub.add_cluster(ClusterSource::context(
        Some(cp.kubeconfig_path().to_owned()),
        "kaptain-test",
    ))?;
    wait_state(&hub, &name, "ready").await?;

    // Installed after the hub started (or already there from another test binary run).
    install_crds(&client).await?;
    eventually("the hub to watch HealingActions", || async {
        hub.cluster(&name).filter(|v| v.healing_served)
    })
    .await?;
    apply_yaml(
        &client,
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: hub-d}\n",
    )
    .await?;
    let api: Api<HealingAction> = Api::namespaced(client.clone(), "hub-d");
    eventually("the HealingAction to be created", || async {
        match api
            .create(
                &PostParams::default(),
                &proposed_restart("hub-d", "restart-api", "api-1", None),
            )
            .await
        {
            Ok(_) => Some(()),
            Err(kube::Error::Api(s)) if s.code == 409 => Some(()),
            Err(_) => None, // the CRD may not be established yet
        }
    })
    .await?;
    let rows = eventually("the action in the hub", || async {
        hub.healing_actions(&name)
            .filter(|rows| rows.iter().any(|r| r.namespace == "hub-d"))
    })
    .await?;
    let row = rows
        .iter()
        .find(|r| r.namespace == "hub-d")
        .ok_or("no row")?;
    assert_eq!(row.name, "restart-api");
    assert_eq!(row.phase, "Proposed");
    assert_eq!(row.action, "RestartPod");
    assert_eq!(row.target, "Pod/hub-d/api-1");
    assert!(hub.cluster(&name).ok_or("no view")?.healing_pending >= 1);

    // A person rejects it through the hub's client, as the API will.
    let hub_client = hub.client(&name).ok_or("no client")?;
    let actions: Api<HealingAction> = Api::namespaced(hub_client, "hub-d");
    let status = HealingActionStatus {
        phase: Phase::Rejected,
        rejected_by: Some("alice".into()),
        ..Default::default()
    };
    actions
        .patch_status(
            "restart-api",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({ "status": status })),
        )
        .await?;
    eventually("the rejection in the hub", || async {
        hub.healing_action(&name, "hub-d", "restart-api")
            .filter(|a| {
                a.status
                    .as_ref()
                    .is_some_and(|s| s.phase == Phase::Rejected)
            })
    })
    .await?;
    // Subscribers heard of its creation and of the rejection.
    let mut phases = Vec::new();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !phases.contains(&Some("Rejected".to_string())) {
        let e = tokio::time::timeout_at(deadline, events.recv()).await??;
        if let HubEvent::HealingActionChanged {
            namespace,
            name: action,
            phase,
            ..
        } = e
            && namespace == "hub-d"
            && action == "restart-api"
        {
            phases.push(phase);
        }
    }
    assert_eq!(
        phases.first(),
        Some(&Some("Proposed".to_string())),
        "{phases:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_identity_may_not_read_is_skipped_as_forbidden() -> TestResult {
    let cp = ControlPlane::shared();
    let client = cp.client().await?;
    // The built-in `view` role: namespaced objects but Secrets; no Nodes, PersistentVolumes,
    // StorageClasses or webhook configurations.
    apply_yaml(
        &client,
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: hub-viewer-view}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: viewer}]
"#,
    )
    .await?;
    // Kaptain's CRDs installed: `view` does not cover HealingActions. A watch the identity
    // may not make would never sync (this kept the cluster from ever being ready).
    install_crds(&client).await?;
    eventually("HealingActions served", || async {
        client
            .list_api_group_resources("kaptain.dev/v1alpha1")
            .await
            .ok()
            .filter(|l| l.resources.iter().any(|r| r.name == "healingactions"))
    })
    .await?;
    let path = cp.kubeconfig_for(kaptain_testenv::VIEWER_TOKEN)?;
    let hub = Hub::new(config());
    let name = hub.add_cluster(ClusterSource::context(Some(path), "kaptain-test-viewer"))?;
    wait_state(&hub, &name, "ready").await?;
    let view = eventually("a first report", || async {
        hub.report(&name)?;
        hub.cluster(&name)
    })
    .await?;
    let reason = |api: &str| {
        view.skipped
            .iter()
            .find(|s| s.api == api)
            .map(|s| s.reason.clone())
    };
    for api in [
        "v1 Secret",
        "v1 Node",
        "v1 PersistentVolume",
        "kaptain.dev/v1alpha1 HealingAction",
    ] {
        let r = reason(api).ok_or_else(|| format!("{api} not skipped: {:?}", view.skipped))?;
        assert!(r.starts_with("forbidden"), "{api}: {r}");
        assert!(!view.watched.iter().any(|w| w == api), "{api} watched");
    }
    assert_eq!(reason("batch/v1 CronJob").as_deref(), Some("not served"));
    assert!(
        view.watched.iter().any(|w| w == "v1 Pod"),
        "{:?}",
        view.watched
    );
    assert!(view.watch_errors.is_empty(), "{:?}", view.watch_errors);
    assert_eq!(view.nodes, 0);
    assert!(
        !view.healing_served,
        "HealingActions watched without permission"
    );
    // What it may read, it reads.
    apply_yaml(
        &client,
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: hub-e}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: seen, namespace: hub-e}\nspec: {ports: [{port: 80}]}\n",
    )
    .await?;
    eventually("the Service in the viewer's index", || async {
        hub.index(&name)
            .filter(|i| i.objects.services.get("hub-e", "seen").is_some())
    })
    .await?;
    Ok(())
}
