//! Nodes: registration like a kubelet (labels, capacity, addresses, conditions, Lease),
//! a NotReady node freezing its pods, and pressure conditions.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kaptain_testenv::{apply_yaml, eventually};
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;

use crate::support::{TIMEOUT, TestResult, is_ready, namespace, sim};

#[tokio::test]
async fn nodes_register_like_a_kubelet() -> TestResult {
    let (_, sim, client) = sim().await?;
    let names = sim.node_names();
    assert!(names.len() >= 3, "{names:?}");
    assert!(names.iter().take(3).all(|n| n.starts_with("sim-node-")));
    let nodes: Api<Node> = Api::all(client.clone());
    let node = nodes.get(&names[0]).await?;
    let labels = node.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("kubernetes.io/hostname"), Some(&names[0]));
    assert_eq!(
        labels.get("kubernetes.io/os").map(String::as_str),
        Some("linux")
    );
    assert!(labels.contains_key("node-role.kubernetes.io/worker"));
    let status = node.status.clone().unwrap_or_default();
    let capacity = status.capacity.clone().unwrap_or_default();
    assert_eq!(capacity.get("cpu").map(|q| q.0.as_str()), Some("4"));
    assert_eq!(capacity.get("memory").map(|q| q.0.as_str()), Some("16Gi"));
    assert_eq!(capacity.get("pods").map(|q| q.0.as_str()), Some("110"));
    assert!(capacity.contains_key("ephemeral-storage"));
    let info = status.node_info.clone().unwrap_or_default();
    assert_eq!(info.kubelet_version, "v1.20.2");
    assert_eq!(info.container_runtime_version, "sim://1.0");
    assert_eq!(info.architecture, "amd64");
    let port = status
        .daemon_endpoints
        .as_ref()
        .and_then(|d| d.kubelet_endpoint.as_ref())
        .map(|e| e.port);
    assert_eq!(port, Some(i32::from(sim.log_port())));
    let addresses: Vec<(String, String)> = status
        .addresses
        .unwrap_or_default()
        .into_iter()
        .map(|a| (a.type_, a.address))
        .collect();
    assert!(addresses.contains(&("InternalIP".into(), "127.0.0.1".into())));
    assert!(addresses.contains(&("Hostname".into(), names[0].clone())));
    let types: Vec<(String, String)> = status
        .conditions
        .unwrap_or_default()
        .into_iter()
        .map(|c| (c.type_, c.status))
        .collect();
    for expected in [
        ("MemoryPressure", "False"),
        ("DiskPressure", "False"),
        ("PIDPressure", "False"),
        ("Ready", "True"),
    ] {
        assert!(
            types.contains(&(expected.0.into(), expected.1.into())),
            "{types:?}"
        );
    }
    let taints = node.spec.and_then(|s| s.taints).unwrap_or_default();
    assert!(
        !taints
            .iter()
            .any(|t| t.key == "node.kubernetes.io/not-ready"),
        "{taints:?}"
    );

    // The Lease is renewed every 10 s.
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let first = leases.get(&names[0]).await?;
    let spec = first.spec.clone().unwrap_or_default();
    assert_eq!(spec.holder_identity.as_deref(), Some(names[0].as_str()));
    assert_eq!(spec.lease_duration_seconds, Some(40));
    let renewed = spec.renew_time;
    eventually("the lease renewed", TIMEOUT, || async {
        let now = leases.get(&names[0]).await?;
        Ok((now.spec.and_then(|s| s.renew_time) != renewed).then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn not_ready_node_freezes_its_pods() -> TestResult {
    let (_, sim, client) = sim().await?;
    namespace(&client, "sim-notready").await?;
    let node = "sim-notready-0";
    // Created tainted, then taken over by the kubelet: no other test's pod ever lands there.
    let nodes: Api<Node> = Api::all(client.clone());
    let tainted: Node = serde_json::from_value(json!({
        "metadata": {"name": node},
        "spec": {"taints": [{"key": "pool", "value": "notready", "effect": "NoSchedule"}]},
    }))?;
    nodes.create(&PostParams::default(), &tainted).await?;
    sim.add_node(node, "2", "4Gi", &[("pool", "notready")])
        .await?;
    assert!(sim.node_names().iter().any(|n| n == node));
    let n = nodes.get(node).await?;
    let labels = n.metadata.labels.unwrap_or_default();
    assert_eq!(labels.get("pool").map(String::as_str), Some("notready"));
    assert_eq!(
        labels.get("kubernetes.io/hostname").map(String::as_str),
        Some(node)
    );
    let taints = n.spec.and_then(|s| s.taints).unwrap_or_default();
    assert_eq!(
        taints.iter().map(|t| t.key.as_str()).collect::<Vec<_>>(),
        ["pool"],
        "own taint kept, not-ready taint removed"
    );
    apply_yaml(
        &client,
        r#"
apiVersion: v1
kind: Pod
metadata: {name: gateway, namespace: sim-notready}
spec:
  nodeSelector: {pool: notready}
  tolerations: [{key: pool, operator: Equal, value: notready, effect: NoSchedule}]
  containers: [{name: gateway, image: "iot/gateway:1.12"}]
"#,
    )
    .await?;
    let api: Api<Pod> = Api::namespaced(client.clone(), "sim-notready");
    eventually("gateway Ready", TIMEOUT, || async {
        Ok(is_ready(&api.get("gateway").await?).then_some(()))
    })
    .await?;

    sim.set_node_ready(node, false).await?;
    let n = nodes.get(node).await?;
    let ready = n
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .ok_or("no Ready condition")?;
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_deref()),
        ("False", Some("KubeletNotReady"))
    );
    // The node lifecycle controller marks its pods not ready and taints it.
    eventually("gateway marked not ready", TIMEOUT, || async {
        Ok((!is_ready(&api.get("gateway").await?)).then_some(()))
    })
    .await?;
    eventually("not-ready taint", TIMEOUT, || async {
        let taints = nodes
            .get(node)
            .await?
            .spec
            .and_then(|s| s.taints)
            .unwrap_or_default();
        Ok(taints
            .iter()
            .any(|t| t.key == "node.kubernetes.io/not-ready")
            .then_some(()))
    })
    .await?;
    // A pod deleted there stays Terminating: nobody confirms its containers stopped.
    api.delete("gateway", &DeleteParams::default()).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let p = api.get("gateway").await?;
    assert!(p.metadata.deletion_timestamp.is_some());
    // The Lease is no longer renewed.
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let renewed = leases.get(node).await?.spec.and_then(|s| s.renew_time);

    sim.set_node_ready(node, true).await?;
    eventually("gateway gone once the node is back", TIMEOUT, || async {
        Ok(api.get_opt("gateway").await?.is_none().then_some(()))
    })
    .await?;
    let after = leases.get(node).await?.spec.and_then(|s| s.renew_time);
    assert_ne!(after, renewed, "renewed again once Ready");
    Ok(())
}

#[tokio::test]
async fn node_pressure_conditions() -> TestResult {
    let (_, sim, client) = sim().await?;
    let node = "sim-pressure-0";
    sim.add_node(node, "2", "4Gi", &[]).await?;
    sim.set_node_pressure(node, "Memory", true).await?;
    sim.set_node_pressure(node, "PID", true).await?;
    let nodes: Api<Node> = Api::all(client.clone());
    let conditions = nodes
        .get(node)
        .await?
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default();
    let find = |t: &str| {
        conditions
            .iter()
            .find(|c| c.type_ == t)
            .map(|c| (c.status.clone(), c.reason.clone()))
    };
    assert_eq!(
        find("MemoryPressure"),
        Some(("True".into(), Some("KubeletHasInsufficientMemory".into())))
    );
    assert_eq!(
        find("PIDPressure"),
        Some(("True".into(), Some("KubeletHasInsufficientPID".into())))
    );
    assert_eq!(
        find("DiskPressure"),
        Some(("False".into(), Some("KubeletHasNoDiskPressure".into())))
    );
    assert_eq!(find("Ready").map(|c| c.0).as_deref(), Some("True"));
    assert!(sim.set_node_pressure(node, "Cpu", true).await.is_err());
    assert!(sim.set_node_ready("not-a-sim-node", false).await.is_err());
    eventually("memory-pressure taint", TIMEOUT, || async {
        let taints = nodes
            .get(node)
            .await?
            .spec
            .and_then(|s| s.taints)
            .unwrap_or_default();
        Ok(taints
            .iter()
            .any(|t| t.key == "node.kubernetes.io/memory-pressure")
            .then_some(()))
    })
    .await?;
    sim.set_node_pressure(node, "Memory", false).await?;
    Ok(())
}
