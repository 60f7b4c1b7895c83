//! Stopping a simulated kubelet, in its own test binary (its own control plane): a stopped
//! kubelet's nodes would otherwise receive other tests' pods until they are tainted.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use kaptain_testenv::{ControlPlane, KubeletConfig, apply_yaml};
use kube::api::Api;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

#[tokio::test]
async fn stopping_leaves_no_threads_or_tasks() -> TestResult {
    let cp = ControlPlane::shared();
    let sim = cp
        .start_kubelet(KubeletConfig {
            nodes: 2,
            name_prefix: "sim-stop-".into(),
            ..KubeletConfig::default()
        })
        .await?;
    assert_eq!(sim.node_names(), ["sim-stop-0", "sim-stop-1"]);
    assert!(sim.is_running());
    assert!(sim.thread_count() >= 2, "{}", sim.thread_count());

    let client = cp.client().await?;
    apply_yaml(
        &client,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: before-stop}\nspec:\n  containers: [{name: c, image: \"shop/app:1\"}]\n",
    )
    .await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let deadline = Instant::now() + Duration::from_secs(60);
    while pods
        .get("before-stop")
        .await?
        .status
        .and_then(|s| s.phase)
        .as_deref()
        != Some("Running")
    {
        assert!(Instant::now() < deadline, "pod not Running");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    sim.stop();
    assert!(!sim.is_running());
    assert_eq!(sim.thread_count(), 0, "no thread of the simulation left");
    assert!(sim.add_node("sim-stop-x", "1", "1Gi", &[]).await.is_err());
    assert!(sim.set_node_ready("sim-stop-0", false).await.is_err());
    // The log endpoint is gone too.
    let refused = tokio::net::TcpStream::connect(("127.0.0.1", sim.log_port())).await;
    assert!(refused.is_err());

    // The nodes are left as the node lifecycle controller finds a silent kubelet's: Unknown,
    // then tainted unreachable.
    let nodes: Api<Node> = Api::all(client.clone());
    let ready = nodes
        .get("sim-stop-0")
        .await?
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .ok_or("no Ready condition")?;
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_deref()),
        ("Unknown", Some("NodeStatusUnknown"))
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let taints = nodes
            .get("sim-stop-1")
            .await?
            .spec
            .and_then(|s| s.taints)
            .unwrap_or_default();
        if taints
            .iter()
            .any(|t| t.key == "node.kubernetes.io/unreachable")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no unreachable taint: {taints:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}
