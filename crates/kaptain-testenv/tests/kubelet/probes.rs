//! Failing readiness and liveness probes.

use k8s_openapi::api::core::v1::Pod;
use kaptain_testenv::{apply_yaml, eventually};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::support::{
    TIMEOUT, TestResult, condition, event_with, events, is_ready, namespace, phase, sim, statuses,
};

#[tokio::test]
async fn failing_readiness_probe_keeps_pod_unready_with_unhealthy_events() -> TestResult {
    let (_, _, client) = sim().await?;
    namespace(&client, "sim-ready").await?;
    apply_yaml(
        &client,
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: checkout
  namespace: sim-ready
  annotations: {sim.kaptain.dev/ready: "false"}
spec:
  containers:
  - name: checkout
    image: shop/checkout:5.2.0
    ports: [{name: http, containerPort: 8080}]
    readinessProbe:
      httpGet: {path: /ready, port: http}
      periodSeconds: 1
"#,
    )
    .await?;
    let event = event_with(
        &client,
        "sim-ready",
        "Unhealthy",
        "Readiness probe failed: HTTP probe failed with statuscode: 503",
    )
    .await?;
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert_eq!(
        event.involved_object.field_path.as_deref(),
        Some("spec.containers{checkout}")
    );
    // Statuses and events are written by separate queues: the Running status may land a
    // moment after the probe's event.
    let api: Api<Pod> = Api::namespaced(client.clone(), "sim-ready");
    let p = eventually("checkout Running", TIMEOUT, || async {
        let p = api.get("checkout").await?;
        Ok((phase(&p) == "Running").then_some(p))
    })
    .await?;
    let cs = &statuses(&p)[0];
    assert!(!cs.ready);
    assert!(cs.state.as_ref().and_then(|s| s.running.as_ref()).is_some());
    assert_eq!(
        condition(&p, "ContainersReady")
            .and_then(|c| c.2)
            .as_deref(),
        Some("containers with unready status: [checkout]")
    );
    // Repeated every period: one event, counting.
    eventually("Unhealthy count >= 3", TIMEOUT, || async {
        Ok(events(&client, "sim-ready")
            .await?
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("Unhealthy") && e.count.unwrap_or(0) >= 3)
            .map(drop))
    })
    .await?;

    // The annotation is read at every probe: the pod becomes ready once it is removed.
    let patch = json!({"metadata": {"annotations": {"sim.kaptain.dev/ready": null}}});
    api.patch("checkout", &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    eventually("checkout Ready", TIMEOUT, || async {
        Ok(is_ready(&api.get("checkout").await?).then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn failing_liveness_probe_restarts_the_container() -> TestResult {
    let (_, _, client) = sim().await?;
    namespace(&client, "sim-live").await?;
    apply_yaml(
        &client,
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: inventory
  namespace: sim-live
  annotations: {sim.kaptain.dev/liveness: fail}
spec:
  containers:
  - name: inventory
    image: shop/inventory:6.0
    livenessProbe:
      tcpSocket: {port: 8080}
      periodSeconds: 1
      failureThreshold: 2
"#,
    )
    .await?;
    let api: Api<Pod> = Api::namespaced(client.clone(), "sim-live");
    let cs = eventually("restartCount >= 2", TIMEOUT, || async {
        let p = api.get("inventory").await?;
        Ok(statuses(&p).into_iter().find(|cs| cs.restart_count >= 2))
    })
    .await?;
    let last = cs
        .last_state
        .and_then(|s| s.terminated)
        .ok_or("no lastState.terminated")?;
    assert_eq!(last.exit_code, 137);
    let unhealthy = event_with(
        &client,
        "sim-live",
        "Unhealthy",
        "Liveness probe failed: dial tcp 10.",
    )
    .await?;
    assert!(
        unhealthy
            .message
            .unwrap_or_default()
            .ends_with(":8080: connect: connection refused")
    );
    event_with(
        &client,
        "sim-live",
        "Killing",
        "Container inventory failed liveness probe, will be restarted",
    )
    .await?;
    Ok(())
}
