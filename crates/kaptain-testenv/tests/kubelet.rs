//! The simulated kubelet against the real control plane: the scheduler binds pods to its nodes,
//! the controllers (ReplicaSet, endpoints, job, node lifecycle) react to what it writes.
//! One test per behaviour; every wait polls with a timeout.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ContainerStatus, Endpoints, Event, Node, Pod};
use kaptain_testenv::{ControlPlane, SimKubelet, WaitError, apply_yaml, eventually};
use kube::api::{Api, DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams};
use serde_json::json;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

const TIMEOUT: Duration = Duration::from_secs(90);

/// The shared control plane and kubelet, with back-offs shrunk tenfold (1 s, 2 s, 4 s ...).
async fn sim()
-> Result<(&'static ControlPlane, &'static SimKubelet, kube::Client), kaptain_testenv::Error> {
    let cp = ControlPlane::shared();
    let sim = cp.shared_kubelet().await?;
    sim.set_backoff_scale(0.1);
    Ok((cp, sim, cp.client().await?))
}

async fn namespace(client: &kube::Client, name: &str) -> TestResult {
    apply_yaml(
        client,
        &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"),
    )
    .await?;
    Ok(())
}

async fn pods(client: &kube::Client, ns: &str) -> Result<Vec<Pod>, kube::Error> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    Ok(api.list(&ListParams::default()).await?.items)
}

/// The first pod of `ns` not being deleted.
async fn live_pod(client: &kube::Client, ns: &str) -> Result<Option<Pod>, kube::Error> {
    Ok(pods(client, ns)
        .await?
        .into_iter()
        .find(|p| p.metadata.deletion_timestamp.is_none()))
}

fn statuses(p: &Pod) -> Vec<ContainerStatus> {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.clone())
        .unwrap_or_default()
}

fn init_statuses(p: &Pod) -> Vec<ContainerStatus> {
    p.status
        .as_ref()
        .and_then(|s| s.init_container_statuses.clone())
        .unwrap_or_default()
}

fn waiting_reason(cs: &ContainerStatus) -> Option<String> {
    cs.state
        .as_ref()
        .and_then(|s| s.waiting.as_ref())
        .and_then(|w| w.reason.clone())
}

fn waiting_message(cs: &ContainerStatus) -> Option<String> {
    cs.state
        .as_ref()
        .and_then(|s| s.waiting.as_ref())
        .and_then(|w| w.message.clone())
}

fn phase(p: &Pod) -> String {
    p.status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_default()
}

fn condition(p: &Pod, type_: &str) -> Option<(String, Option<String>, Option<String>)> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

fn is_ready(p: &Pod) -> bool {
    condition(p, "Ready").is_some_and(|c| c.0 == "True")
}

/// One line per pod, for failure messages.
async fn describe(client: &kube::Client, ns: &str) -> Result<String, kube::Error> {
    let mut out = String::new();
    for p in pods(client, ns).await? {
        out.push_str(&format!(
            "{} uid={:?} phase={} deleting={} ready={} containers={}\n",
            p.metadata.name.clone().unwrap_or_default(),
            p.metadata.uid,
            phase(&p),
            p.metadata.deletion_timestamp.is_some(),
            is_ready(&p),
            serde_json::to_string(&statuses(&p)).unwrap_or_default()
        ));
    }
    Ok(out)
}

async fn events(client: &kube::Client, ns: &str) -> Result<Vec<Event>, kube::Error> {
    let api: Api<Event> = Api::namespaced(client.clone(), ns);
    Ok(api.list(&ListParams::default()).await?.items)
}

/// Waits for a kubelet event with `reason` whose message contains `text`.
async fn event_with(
    client: &kube::Client,
    ns: &str,
    reason: &str,
    text: &str,
) -> Result<Event, WaitError> {
    eventually(
        &format!("event {reason} {text:?} in {ns}"),
        TIMEOUT,
        || async {
            Ok(events(client, ns).await?.into_iter().find(|e| {
                e.reason.as_deref() == Some(reason)
                    && e.message.as_deref().is_some_and(|m| m.contains(text))
                    && e.source.as_ref().and_then(|s| s.component.as_deref()) == Some("kubelet")
            }))
        },
    )
    .await
}

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

#[tokio::test]
async fn bad_image_err_image_pull_then_image_pull_backoff() -> TestResult {
    let (_, _, client) = sim().await?;
    namespace(&client, "sim-image").await?;
    apply_yaml(
        &client,
        r#"
apiVersion: v1
kind: Pod
metadata: {name: unreachable, namespace: sim-image}
spec:
  containers: [{name: app, image: "registry.example.invalid/shop/app:1.0"}]
---
apiVersion: v1
kind: Pod
metadata: {name: no-tag, namespace: sim-image}
spec:
  containers: [{name: app, image: "shop/app:does-not-exist"}]
---
apiVersion: v1
kind: Pod
metadata: {name: bad-name, namespace: sim-image}
spec:
  containers: [{name: app, image: "shop/App:1.0"}]
"#,
    )
    .await?;
    let api: Api<Pod> = Api::namespaced(client.clone(), "sim-image");
    // Each waiting reason seen, with its message.
    let seen = RefCell::new(BTreeMap::new());
    eventually(
        "no-tag: ErrImagePull then ImagePullBackOff",
        TIMEOUT,
        || async {
            let p = api.get("no-tag").await?;
            let Some(cs) = statuses(&p).into_iter().next() else {
                return Ok(None);
            };
            let mut seen = seen.borrow_mut();
            if let Some(r) = waiting_reason(&cs) {
                seen.insert(r, waiting_message(&cs).unwrap_or_default());
            }
            Ok(
                (seen.contains_key("ErrImagePull") && seen.contains_key("ImagePullBackOff"))
                    .then_some(()),
            )
        },
    )
    .await?;
    let seen = seen.into_inner();
    assert_eq!(
        seen["ErrImagePull"],
        "rpc error: code = Unknown desc = Error response from daemon: manifest for \
         shop/app:does-not-exist not found: manifest unknown: manifest unknown"
    );
    let message = &seen["ImagePullBackOff"];
    assert_eq!(
        message,
        "Back-off pulling image \"shop/app:does-not-exist\""
    );
    let p = api.get("no-tag").await?;
    assert_eq!(phase(&p), "Pending");
    assert_eq!(
        condition(&p, "Ready").map(|c| (c.0, c.1, c.2)),
        Some((
            "False".into(),
            Some("ContainersNotReady".into()),
            Some("containers with unready status: [app]".into())
        ))
    );
    event_with(
        &client,
        "sim-image",
        "Pulling",
        "Pulling image \"shop/app:does-not-exist\"",
    )
    .await?;
    event_with(
        &client,
        "sim-image",
        "Failed",
        "manifest for shop/app:does-not-exist not found",
    )
    .await?;
    event_with(&client, "sim-image", "Failed", "Error: ErrImagePull").await?;
    event_with(
        &client,
        "sim-image",
        "BackOff",
        "Back-off pulling image \"shop/app:does-not-exist\"",
    )
    .await?;
    event_with(&client, "sim-image", "Failed", "Error: ImagePullBackOff").await?;
    event_with(
        &client,
        "sim-image",
        "Failed",
        "lookup registry.example.invalid: no such host",
    )
    .await?;

    let invalid = eventually("bad-name: InvalidImageName", TIMEOUT, || async {
        let p = api.get("bad-name").await?;
        Ok(statuses(&p)
            .into_iter()
            .find(|cs| waiting_reason(cs).as_deref() == Some("InvalidImageName"))
            .and_then(|cs| waiting_message(&cs)))
    })
    .await?;
    assert!(
        invalid
            .contains("couldn't parse image reference \"shop/App:1.0\": invalid reference format"),
        "{invalid}"
    );
    event_with(
        &client,
        "sim-image",
        "InspectFailed",
        "Failed to apply default image tag",
    )
    .await?;
    Ok(())
}

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

#[tokio::test]
async fn oom_killed_crash_loop_recovers_after_raising_the_limit() -> TestResult {
    let (_, _, client) = sim().await?;
    namespace(&client, "sim-oom").await?;
    let manifest = |limit: &str| {
        format!(
            r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: search, namespace: sim-oom}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: search}}}}
  template:
    metadata:
      labels: {{app: search}}
      annotations: {{sim.kaptain.dev/memory-usage: 600Mi}}
    spec:
      containers:
      - name: search
        image: shop/search:1.0
        resources: {{limits: {{memory: {limit}}}}}
"#
        )
    };
    apply_yaml(&client, &manifest("256Mi")).await?;
    let saw_backoff = RefCell::new(None);
    let crashed = eventually(
        "OOMKilled, restarted twice, CrashLoopBackOff seen",
        TIMEOUT,
        || async {
            let Some(p) = live_pod(&client, "sim-oom").await? else {
                return Ok(None);
            };
            let Some(cs) = statuses(&p).into_iter().next() else {
                return Ok(None);
            };
            if waiting_reason(&cs).as_deref() == Some("CrashLoopBackOff") {
                *saw_backoff.borrow_mut() = waiting_message(&cs);
            }
            Ok((cs.restart_count >= 2 && saw_backoff.borrow().is_some()).then_some(cs))
        },
    )
    .await?;
    let last = crashed
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.clone())
        .ok_or("no lastState.terminated")?;
    assert_eq!(last.reason.as_deref(), Some("OOMKilled"));
    assert_eq!(last.exit_code, 137);
    assert!(
        last.container_id
            .as_deref()
            .is_some_and(|id| id.starts_with("sim://"))
    );
    let message = saw_backoff.into_inner().unwrap_or_default();
    assert!(
        message.starts_with("back-off ")
            && message.contains("restarting failed container=search pod=search-"),
        "{message}"
    );
    assert!(message.contains("_sim-oom("), "{message}");
    event_with(
        &client,
        "sim-oom",
        "BackOff",
        "Back-off restarting failed container",
    )
    .await?;

    // Raising the limit rolls the Deployment: the new pod runs, the old one is deleted.
    let old = live_pod(&client, "sim-oom")
        .await?
        .and_then(|p| p.metadata.uid);
    apply_yaml(&client, &manifest("1Gi")).await?;
    let rolled = eventually(
        "the new pod Ready and the old one gone",
        TIMEOUT,
        || async {
            let list = pods(&client, "sim-oom").await?;
            let only_new = list.len() == 1 && list[0].metadata.uid != old;
            Ok(
                (only_new && is_ready(&list[0]) && statuses(&list[0])[0].restart_count == 0)
                    .then_some(()),
            )
        },
    )
    .await;
    if let Err(e) = rolled {
        return Err(format!("{e}\n{}", describe(&client, "sim-oom").await?).into());
    }
    event_with(&client, "sim-oom", "Killing", "Stopping container search").await?;
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

#[tokio::test]
async fn init_containers_run_in_order_and_a_failing_one_blocks() -> TestResult {
    let (_, _, client) = sim().await?;
    namespace(&client, "sim-init").await?;
    apply_yaml(
        &client,
        r#"
apiVersion: v1
kind: Pod
metadata: {name: ok, namespace: sim-init}
spec:
  initContainers:
  - {name: first, image: "shop/tool:1"}
  - {name: second, image: "shop/tool:1"}
  containers: [{name: app, image: "shop/app:1"}]
---
apiVersion: v1
kind: Pod
metadata:
  name: blocked
  namespace: sim-init
  annotations:
    sim.kaptain.dev/container: check-schema
    sim.kaptain.dev/exit-code: "1"
    sim.kaptain.dev/run-seconds: "0.2"
spec:
  initContainers: [{name: check-schema, image: "shop/tool:1"}]
  containers: [{name: app, image: "shop/app:1"}]
"#,
    )
    .await?;
    let api: Api<Pod> = Api::namespaced(client.clone(), "sim-init");
    let p = eventually("ok Running", TIMEOUT, || async {
        let p = api.get("ok").await?;
        Ok((phase(&p) == "Running" && is_ready(&p)).then_some(p))
    })
    .await?;
    let inits = init_statuses(&p);
    assert_eq!(inits.len(), 2);
    for cs in &inits {
        let term = cs
            .state
            .as_ref()
            .and_then(|s| s.terminated.clone())
            .ok_or("init not terminated")?;
        assert_eq!(
            (term.exit_code, term.reason.as_deref()),
            (0, Some("Completed"))
        );
        assert!(cs.ready);
    }
    let first_done = inits[0]
        .state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .map(|t| t.finished_at.clone());
    let second_start = inits[1]
        .state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .map(|t| t.started_at.clone());
    assert!(first_done <= second_start, "init containers ran in order");
    assert_eq!(
        condition(&p, "Initialized").map(|c| c.0).as_deref(),
        Some("True")
    );

    let p = eventually("blocked: Init:CrashLoopBackOff", TIMEOUT, || async {
        let p = api.get("blocked").await?;
        let crash = init_statuses(&p).first().is_some_and(|cs| {
            waiting_reason(cs).as_deref() == Some("CrashLoopBackOff") && cs.restart_count >= 1
        });
        Ok(crash.then_some(p))
    })
    .await?;
    assert_eq!(phase(&p), "Pending");
    assert_eq!(
        condition(&p, "Initialized").map(|c| (c.1, c.2)),
        Some((
            Some("ContainersNotInitialized".into()),
            Some("containers with incomplete status: [check-schema]".into())
        ))
    );
    assert_eq!(
        statuses(&p).first().and_then(waiting_reason).as_deref(),
        Some("PodInitializing")
    );
    Ok(())
}

#[tokio::test]
async fn logs_are_served_through_the_api_server() -> TestResult {
    let (_, _, client) = sim().await?;
    namespace(&client, "sim-logs").await?;
    apply_yaml(
        &client,
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: orders
  namespace: sim-logs
  annotations:
    sim.kaptain.dev/container: orders
    sim.kaptain.dev/exit-code: "3"
    sim.kaptain.dev/run-seconds: "0.5"
    sim.kaptain.dev/logs: |
      starting orders
      FATAL: invalid DATABASE_URL: missing host
spec:
  containers:
  - {name: orders, image: "shop/orders:3.3"}
  - {name: sidecar, image: "shop/proxy:1"}
"#,
    )
    .await?;
    let api: Api<Pod> = Api::namespaced(client.clone(), "sim-logs");
    eventually("orders restarted", TIMEOUT, || async {
        let p = api.get("orders").await?;
        Ok(statuses(&p)
            .into_iter()
            .find(|cs| cs.name == "orders" && cs.restart_count >= 1)
            .map(drop))
    })
    .await?;
    let params = |previous: bool| LogParams {
        container: Some("orders".into()),
        previous,
        ..LogParams::default()
    };
    let previous = api.logs("orders", &params(true)).await?;
    assert_eq!(
        previous,
        "starting orders\nFATAL: invalid DATABASE_URL: missing host\nsim.kaptain.dev: process exited with code 3\n"
    );
    let current = api.logs("orders", &params(false)).await?;
    assert!(
        current.starts_with("starting orders\nFATAL: invalid DATABASE_URL"),
        "{current:?}"
    );
    let tail = api
        .logs(
            "orders",
            &LogParams {
                tail_lines: Some(1),
                timestamps: true,
                ..params(true)
            },
        )
        .await?;
    let (stamp, line) = tail.trim_end().split_once(' ').ok_or("no timestamp")?;
    assert!(
        stamp.parse::<k8s_openapi::jiff::Timestamp>().is_ok(),
        "{stamp}"
    );
    assert_eq!(line, "sim.kaptain.dev: process exited with code 3");
    let sidecar = api
        .logs(
            "orders",
            &LogParams {
                container: Some("sidecar".into()),
                ..LogParams::default()
            },
        )
        .await?;
    assert_eq!(sidecar, "", "the annotations apply to `orders` only");
    // A raw request, as `kubectl logs` sends it.
    let request = http::Request::get(
        "/api/v1/namespaces/sim-logs/pods/orders/log?container=orders&previous=true&tailLines=1",
    )
    .body(Vec::new())?;
    assert_eq!(
        client.request_text(request).await?,
        "sim.kaptain.dev: process exited with code 3\n"
    );
    // No previous instance of the sidecar: the kubelet's error comes through as 400.
    match api
        .logs(
            "orders",
            &LogParams {
                container: Some("sidecar".into()),
                previous: true,
                ..LogParams::default()
            },
        )
        .await
    {
        Err(kube::Error::Api(e)) => {
            assert_eq!(e.code, 400);
            assert!(
                e.message.contains(
                    "previous terminated container \"sidecar\" in pod \"orders\" not found"
                ),
                "{}",
                e.message
            );
        }
        other => panic!("expected a 400, got {other:?}"),
    }
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
