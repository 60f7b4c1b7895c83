//! Controllers reacting to what the kubelet writes: a Deployment's pods and Endpoints, Jobs
//! completing or failing, and `apply_yaml` itself.

use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Endpoints, Pod};
use kaptain_testenv::{WaitError, apply_yaml, eventually};
use kube::api::Api;

use crate::support::{
    TIMEOUT, TestResult, condition, event_with, is_ready, namespace, phase, pods, sim, statuses,
};

#[tokio::test]
async fn healthy_deployment_runs_and_fills_endpoints() -> TestResult {
    let (_, sim, client) = sim().await?;
    namespace(&client, "sim-healthy").await?;
    let applied = apply_yaml(
        &client,
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: sim-healthy}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: shop/web:2.0
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {httpGet: {path: /healthz, port: http}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: sim-healthy}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
"#,
    )
    .await?;
    assert_eq!(
        applied,
        ["Deployment/sim-healthy/web", "Service/sim-healthy/web"]
    );

    let ready = eventually("2 Running and Ready pods", TIMEOUT, || async {
        let list = pods(&client, "sim-healthy").await?;
        let ready: Vec<Pod> = list
            .into_iter()
            .filter(|p| phase(p) == "Running" && is_ready(p))
            .collect();
        Ok((ready.len() == 2).then_some(ready))
    })
    .await?;
    let mut ips = BTreeSet::new();
    for p in &ready {
        let status = p.status.clone().unwrap_or_default();
        assert_eq!(status.host_ip.as_deref(), Some("127.0.0.1"));
        let ip = status.pod_ip.clone().unwrap_or_default();
        assert!(ip.starts_with("10."), "{ip}");
        ips.insert(ip);
        assert!(status.start_time.is_some());
        assert!(
            sim.node_names().contains(
                &p.spec
                    .clone()
                    .unwrap_or_default()
                    .node_name
                    .unwrap_or_default()
            )
        );
        for type_ in ["Initialized", "Ready", "ContainersReady", "PodScheduled"] {
            assert_eq!(
                condition(p, type_).map(|c| c.0).as_deref(),
                Some("True"),
                "{type_}"
            );
        }
        let cs = &statuses(p)[0];
        assert_eq!(cs.name, "web");
        assert!(cs.ready);
        assert_eq!(cs.started, Some(true));
        assert_eq!(cs.restart_count, 0);
        assert_eq!(cs.image, "shop/web:2.0");
        assert!(
            cs.image_id
                .starts_with("docker-pullable://shop/web@sha256:"),
            "{}",
            cs.image_id
        );
        assert!(
            cs.container_id
                .as_deref()
                .is_some_and(|id| id.starts_with("sim://"))
        );
        assert!(cs.state.as_ref().and_then(|s| s.running.as_ref()).is_some());
    }
    assert_eq!(ips.len(), 2, "distinct pod IPs");

    // The endpoints controller publishes both pods.
    let endpoints: Api<Endpoints> = Api::namespaced(client.clone(), "sim-healthy");
    let published = eventually("Endpoints with 2 ready addresses", TIMEOUT, || async {
        let ep = endpoints.get_opt("web").await?;
        let addrs: BTreeSet<String> = ep
            .and_then(|e| e.subsets)
            .unwrap_or_default()
            .into_iter()
            .flat_map(|s| s.addresses.unwrap_or_default())
            .map(|a| a.ip)
            .collect();
        Ok((addrs.len() == 2).then_some(addrs))
    })
    .await?;
    assert_eq!(published, ips);

    // Kubelet events with the container's field path.
    let started = event_with(&client, "sim-healthy", "Started", "Started container web").await?;
    let involved = &started.involved_object;
    assert_eq!(involved.kind.as_deref(), Some("Pod"));
    assert_eq!(involved.api_version.as_deref(), Some("v1"));
    assert_eq!(involved.field_path.as_deref(), Some("spec.containers{web}"));
    assert!(involved.uid.is_some() && involved.resource_version.is_some());
    let host = started
        .source
        .as_ref()
        .and_then(|s| s.host.clone())
        .unwrap_or_default();
    assert!(sim.node_names().contains(&host), "{host}");
    event_with(&client, "sim-healthy", "Pulled", "shop/web:2.0").await?;
    event_with(&client, "sim-healthy", "Created", "Created container web").await?;
    Ok(())
}

fn job_manifest(name: &str, exit_code: i32) -> String {
    format!(
        r#"
apiVersion: batch/v1
kind: Job
metadata: {{name: {name}, namespace: sim-jobs}}
spec:
  backoffLimit: 1
  template:
    metadata:
      annotations:
        sim.kaptain.dev/exit-code: "{exit_code}"
        sim.kaptain.dev/run-seconds: "1"
    spec:
      restartPolicy: Never
      containers: [{{name: main, image: "shop/report:1.0"}}]
"#
    )
}

async fn job_condition(
    client: &kube::Client,
    name: &str,
    type_: &str,
) -> Result<(String, Option<String>), WaitError> {
    let jobs: Api<Job> = Api::namespaced(client.clone(), "sim-jobs");
    eventually(&format!("Job {name} {type_}"), TIMEOUT, || async {
        let job = jobs.get(name).await?;
        Ok(job
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.type_ == type_ && c.status == "True")
            .map(|c| (c.type_, c.reason)))
    })
    .await
}

#[tokio::test]
async fn jobs_complete_or_exceed_their_backoff_limit() -> TestResult {
    let (_, _, client) = sim().await?;
    namespace(&client, "sim-jobs").await?;
    apply_yaml(
        &client,
        &(job_manifest("ok", 0) + "---" + &job_manifest("broken", 1)),
    )
    .await?;
    let (_, reason) = job_condition(&client, "broken", "Failed").await?;
    assert_eq!(reason.as_deref(), Some("BackoffLimitExceeded"));
    job_condition(&client, "ok", "Complete").await?;

    let list = pods(&client, "sim-jobs").await?;
    let failed: Vec<&Pod> = list
        .iter()
        .filter(|p| {
            p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("job-name"))
                .map(String::as_str)
                == Some("broken")
        })
        .collect();
    assert_eq!(failed.len(), 2, "backoffLimit 1 = two pods");
    for p in failed {
        assert_eq!(phase(p), "Failed");
        let term = statuses(p)[0]
            .state
            .as_ref()
            .and_then(|s| s.terminated.clone())
            .ok_or("not terminated")?;
        assert_eq!((term.exit_code, term.reason.as_deref()), (1, Some("Error")));
    }
    let ok = list
        .iter()
        .find(|p| {
            p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("job-name"))
                .map(String::as_str)
                == Some("ok")
        })
        .ok_or("no pod of Job ok")?;
    assert_eq!(phase(ok), "Succeeded");
    assert_eq!(
        condition(ok, "Ready").and_then(|c| c.1).as_deref(),
        Some("PodCompleted")
    );
    let term = statuses(ok)[0]
        .state
        .as_ref()
        .and_then(|s| s.terminated.clone())
        .ok_or("not terminated")?;
    assert_eq!(
        (term.exit_code, term.reason.as_deref()),
        (0, Some("Completed"))
    );
    Ok(())
}

#[tokio::test]
async fn apply_yaml_creates_then_updates() -> TestResult {
    let (_, _, client) = sim().await?;
    let yaml = |value: &str| {
        format!(
            "---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: sim-apply}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings, namespace: sim-apply}}\ndata: {{mode: {value}}}\n---\n"
        )
    };
    let first = apply_yaml(&client, &yaml("a")).await?;
    assert_eq!(
        first,
        ["Namespace/sim-apply", "ConfigMap/sim-apply/settings"]
    );
    apply_yaml(&client, &yaml("b")).await?;
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(client.clone(), "sim-apply");
    let cm = cms.get("settings").await?;
    assert_eq!(
        cm.data.unwrap_or_default().get("mode").map(String::as_str),
        Some("b")
    );
    assert!(
        apply_yaml(
            &client,
            "apiVersion: example.com/v1\nkind: Nope\nmetadata: {name: x}\n"
        )
        .await
        .is_err()
    );
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "sim-apply");
    assert!(deployments.get_opt("none").await?.is_none());
    Ok(())
}
