//! Missing ConfigMaps: CreateContainerConfigError for env, FailedMount for volumes, until
//! they are created.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kaptain_testenv::{apply_yaml, eventually};
use kube::api::Api;

use crate::support::{
    TIMEOUT, TestResult, event_with, events, is_ready, namespace, phase, sim, statuses,
    waiting_message, waiting_reason,
};

#[tokio::test]
async fn missing_configmap_env_is_create_container_config_error_until_created() -> TestResult {
    let (_, _, client) = sim().await?;
    namespace(&client, "sim-config").await?;
    apply_yaml(
        &client,
        r#"
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: sim-config}
spec:
  containers:
  - name: api
    image: shop/api:1.0
    envFrom: [{configMapRef: {name: api-config}}]
---
apiVersion: v1
kind: Secret
metadata: {name: db, namespace: sim-config}
stringData: {user: shop}
---
apiVersion: v1
kind: Pod
metadata: {name: worker, namespace: sim-config}
spec:
  containers:
  - name: worker
    image: shop/worker:1.0
    env:
    - name: PASSWORD
      valueFrom: {secretKeyRef: {name: db, key: password}}
"#,
    )
    .await?;
    let api: Api<Pod> = Api::namespaced(client.clone(), "sim-config");
    let wait_for = |pod: &'static str| {
        let api = api.clone();
        async move {
            eventually(
                &format!("{pod}: CreateContainerConfigError"),
                TIMEOUT,
                || async {
                    let p = api.get(pod).await?;
                    Ok(statuses(&p)
                        .into_iter()
                        .find(|cs| {
                            waiting_reason(cs).as_deref() == Some("CreateContainerConfigError")
                        })
                        .and_then(|cs| waiting_message(&cs)))
                },
            )
            .await
        }
    };
    assert_eq!(wait_for("api").await?, "configmap \"api-config\" not found");
    assert_eq!(
        wait_for("worker").await?,
        "couldn't find key password in Secret sim-config/db"
    );
    let failed = event_with(
        &client,
        "sim-config",
        "Failed",
        "Error: configmap \"api-config\" not found",
    )
    .await?;
    assert_eq!(failed.type_.as_deref(), Some("Warning"));
    assert_eq!(
        failed.involved_object.field_path.as_deref(),
        Some("spec.containers{api}")
    );
    event_with(
        &client,
        "sim-config",
        "Failed",
        "Error: couldn't find key password in Secret sim-config/db",
    )
    .await?;

    // Creating the ConfigMap lets the pod start, as the kubelet's next sync would.
    apply_yaml(
        &client,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: api-config, namespace: sim-config}\ndata: {LOG_LEVEL: info}\n",
    )
    .await?;
    // At once, not at the kubelet's next periodic sync (10 s).
    eventually(
        "api Running after the ConfigMap appears",
        Duration::from_secs(8),
        || async {
            let p = api.get("api").await?;
            Ok((phase(&p) == "Running" && is_ready(&p)).then_some(()))
        },
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn missing_configmap_volume_stays_container_creating_with_failed_mount() -> TestResult {
    let (_, _, client) = sim().await?;
    namespace(&client, "sim-mount").await?;
    apply_yaml(
        &client,
        r#"
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: sim-mount}
spec:
  containers:
  - name: web
    image: shop/web:2.0
    volumeMounts: [{name: config, mountPath: /etc/web}]
  volumes:
  - name: config
    configMap: {name: web-config}
"#,
    )
    .await?;
    let event = event_with(
        &client,
        "sim-mount",
        "FailedMount",
        "MountVolume.SetUp failed for volume \"config\" : configmap \"web-config\" not found",
    )
    .await?;
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert_eq!(event.involved_object.field_path, None);
    // Statuses and events are written by separate queues: the pod's status may land a
    // moment after the event.
    let api: Api<Pod> = Api::namespaced(client.clone(), "sim-mount");
    eventually("web Pending in ContainerCreating", TIMEOUT, || async {
        let p = api.get("web").await?;
        Ok((phase(&p) == "Pending"
            && statuses(&p).first().and_then(waiting_reason).as_deref()
                == Some("ContainerCreating"))
        .then_some(()))
    })
    .await?;
    // Repeats are folded into the event's count.
    eventually("FailedMount count > 1", TIMEOUT, || async {
        Ok(events(&client, "sim-mount")
            .await?
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("FailedMount") && e.count.unwrap_or(0) > 1)
            .map(drop))
    })
    .await?;
    apply_yaml(
        &client,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web-config, namespace: sim-mount}\ndata: {a: b}\n",
    )
    .await?;
    eventually(
        "web Running after the ConfigMap appears",
        TIMEOUT,
        || async {
            let p = api.get("web").await?;
            Ok((phase(&p) == "Running").then_some(()))
        },
    )
    .await?;
    Ok(())
}
