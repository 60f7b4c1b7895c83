//! Live findings that appear in the report and clear when the app is fixed, and the node
//! table.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kaptain_engine::live::{
    ClusterSource, LiveClusters, LiveConfig, LiveEvent, ReportChange, sink_fn,
};
use kaptain_testenv::{ControlPlane, apply_yaml};

use super::{config, findings_in, wait_state};
use crate::support::{TestResult, eventually};

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
    let cfg = LiveConfig {
        sink_interval: Duration::from_secs(1),
        resync: Duration::from_secs(2),
        ..config()
    };
    let hub = LiveClusters::with_sink(cfg, Some(sink));
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
        if let LiveEvent::ReportUpdated {
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
