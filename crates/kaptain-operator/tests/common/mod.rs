//! Shared helpers for the operator's integration tests: the real control plane (v1.20) with
//! the simulated kubelet, Kaptain's CRDs installed, one namespace and one operator per test.

#![allow(dead_code)]

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kaptain_heal::crd::{HealingAction, Phase};
use kaptain_operator::{Handle, Operator, OperatorConfig};
pub use kaptain_testenv::eventually;
use kaptain_testenv::{ControlPlane, apply_yaml};
use kube::Api;
use kube::api::{ListParams, PostParams};

pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub const TIMEOUT: Duration = Duration::from_secs(120);

/// The shared control plane and kubelet (back-offs shrunk tenfold), a client, and the CRDs.
pub async fn setup() -> Result<kube::Client, BoxError> {
    let cp = ControlPlane::shared();
    let sim = cp.shared_kubelet().await?;
    sim.set_backoff_scale(0.1);
    let client = cp.client().await?;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in kaptain_heal::crd::crds() {
        match crds.create(&PostParams::default(), &crd).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
    }
    eventually("the kaptain.dev API to be served", TIMEOUT, || async {
        Ok(client
            .list_api_group_resources("kaptain.dev/v1alpha1")
            .await
            .ok()
            .filter(|r| r.resources.len() >= 3)
            .map(|_| ()))
    })
    .await?;
    Ok(client)
}

/// Creates namespace `name` with `labels` (YAML flow map, e.g. `{a: b}`).
pub async fn namespace(client: &kube::Client, name: &str, labels: &str) -> TestResult {
    apply_yaml(
        client,
        &format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}, labels: {labels}}}\n"),
    )
    .await?;
    Ok(())
}

/// A Deployment whose pods use `usage` of memory under a `limit`.
pub fn oom_deployment(ns: &str, name: &str, usage: &str, limit: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {ns}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata:
      labels: {{app: {name}}}
      annotations: {{sim.kaptain.dev/memory-usage: {usage}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: {name}
        image: shop/{name}:1.0
        resources: {{limits: {{memory: {limit}}}}}
"#
    )
}

/// A HealingPolicy answering OOM kills by raising memory.
pub fn raise_policy(ns: &str, mode: &str, factor: f64, max: &str, window: &str) -> String {
    format!(
        r#"
apiVersion: kaptain.dev/v1alpha1
kind: HealingPolicy
metadata: {{name: oom, namespace: {ns}}}
spec:
  mode: {mode}
  minConfidence: 0.5
  match: {{checks: [pod.oom-killed]}}
  actions:
    - raiseResources: {{resource: memory, factor: {factor}, max: {max}}}
  verification: {{window: {window}}}
  rateLimit: {{actionsPerHour: 10, cooldownPerObject: 10m}}
"#
    )
}

/// An operator for namespace `ns` only (its state, Lease and actions live there too).
pub fn operator(client: &kube::Client, ns: &str, identity: &str) -> OperatorConfig {
    let _ = client;
    let mut cfg = OperatorConfig::new(ns);
    cfg.watch_namespaces = vec![ns.to_string()];
    cfg.identity = identity.to_string();
    cfg.metrics_addr = "127.0.0.1:0".parse().ok();
    cfg
}

pub fn start(client: &kube::Client, cfg: OperatorConfig) -> Handle {
    Operator::new(client.clone(), cfg).spawn()
}

pub async fn actions(client: &kube::Client, ns: &str) -> Result<Vec<HealingAction>, kube::Error> {
    let api: Api<HealingAction> = Api::namespaced(client.clone(), ns);
    Ok(api.list(&ListParams::default()).await?.items)
}

pub fn phase(a: &HealingAction) -> Phase {
    a.status.as_ref().map(|s| s.phase).unwrap_or_default()
}

/// Waits for an action of `ns` in `want` and returns it.
pub async fn action_in(
    client: &kube::Client,
    ns: &str,
    want: Phase,
    timeout: Duration,
) -> Result<HealingAction, BoxError> {
    let last = std::cell::RefCell::new(String::new());
    let r = eventually(
        &format!("a HealingAction in {ns} reaching {want}"),
        timeout,
        || {
            let last = &last;
            async move {
                let all = actions(client, ns).await?;
                *last.borrow_mut() = all
                    .iter()
                    .map(|a| {
                        format!(
                            "{} {} ({})",
                            a.metadata.name.as_deref().unwrap_or(""),
                            phase(a),
                            a.status
                                .as_ref()
                                .and_then(|s| s.message.clone())
                                .unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                Ok(all.into_iter().find(|a| phase(a) == want))
            }
        },
    )
    .await;
    r.map_err(|e| format!("{e}; actions: [{}]", last.borrow()).into())
}

/// The memory limit of a Deployment's first container.
pub async fn memory_limit(
    client: &kube::Client,
    ns: &str,
    name: &str,
) -> Result<String, kube::Error> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let d = api.get(name).await?;
    Ok(d.spec
        .and_then(|s| s.template.spec)
        .and_then(|s| s.containers.into_iter().next())
        .and_then(|c| c.resources)
        .and_then(|r| r.limits)
        .and_then(|l| l.get("memory").map(|q| q.0.clone()))
        .unwrap_or_default())
}

pub async fn generation(client: &kube::Client, ns: &str, name: &str) -> Result<i64, kube::Error> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    Ok(api.get(name).await?.metadata.generation.unwrap_or(0))
}

/// Whether a pod of `ns` has been OOM-killed (now or last time).
pub fn oom_killed(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .any(|cs| {
            let t = |s: &Option<k8s_openapi::api::core::v1::ContainerState>| {
                s.as_ref()
                    .and_then(|s| s.terminated.as_ref())
                    .and_then(|t| t.reason.as_deref())
                    == Some("OOMKilled")
            };
            t(&cs.state) || t(&cs.last_state)
        })
}

pub async fn pods(client: &kube::Client, ns: &str) -> Result<Vec<Pod>, kube::Error> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    Ok(api.list(&ListParams::default()).await?.items)
}

/// Reasons of the Events Kaptain recorded in `ns`.
pub async fn kaptain_events(client: &kube::Client, ns: &str) -> Result<Vec<Event>, kube::Error> {
    let api: Api<Event> = Api::namespaced(client.clone(), ns);
    Ok(api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|e| e.reporting_component.as_deref() == Some(kaptain_operator::MANAGER))
        .collect())
}

pub fn reasons(events: &[Event]) -> Vec<String> {
    events.iter().filter_map(|e| e.reason.clone()).collect()
}

/// Waits until Kaptain's Events in `ns` include every reason in `want`, and returns the
/// reasons of all of them. The operator records an Event right after the status write it
/// describes, so a phase read from the API may be seen a moment before its Event exists.
pub async fn events_with(
    client: &kube::Client,
    ns: &str,
    want: &[&str],
) -> Result<Vec<String>, BoxError> {
    let what = format!("Kaptain's Events {want:?} in {ns}");
    Ok(eventually(&what, TIMEOUT, || async {
        let have = reasons(&kaptain_events(client, ns).await?);
        Ok(want
            .iter()
            .all(|w| have.iter().any(|r| r == w))
            .then_some(have))
    })
    .await?)
}

/// Waits until the operator's metrics text contains `line`, and returns the text. The
/// operator counts an action's end after writing its phase and recording its Event.
pub async fn metrics_with(op: &Handle, line: &str) -> Result<String, BoxError> {
    Ok(
        eventually(&format!("{line} in the metrics"), TIMEOUT, || async {
            let text = op.metrics.encode();
            text.contains(line).then_some(text)
        })
        .await?,
    )
}

/// The operator's RBAC, bound to the test user `viewer` (webhook configurations left out on
/// purpose). NAMESPACE is the operator's namespace.
pub const OPERATOR_RBAC: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: kaptain-operator-test}
rules:
  - apiGroups: [""]
    resources: [pods, nodes, namespaces, services, endpoints, configmaps, serviceaccounts,
                persistentvolumeclaims, persistentvolumes, events, resourcequotas]
    verbs: [get, list, watch]
  - apiGroups: [apps]
    resources: [deployments, replicasets, statefulsets, daemonsets]
    verbs: [get, list, watch, patch]
  - apiGroups: [batch]
    resources: [jobs, cronjobs]
    verbs: [get, list, watch]
  - apiGroups: [networking.k8s.io]
    resources: [ingresses, ingressclasses, networkpolicies]
    verbs: [get, list, watch]
  - apiGroups: [storage.k8s.io]
    resources: [storageclasses]
    verbs: [get, list, watch]
  - apiGroups: [autoscaling]
    resources: [horizontalpodautoscalers]
    verbs: [get, list, watch]
  - apiGroups: [policy]
    resources: [poddisruptionbudgets]
    verbs: [get, list, watch]
  - apiGroups: [""]
    resources: [pods]
    verbs: [delete]
  - apiGroups: [""]
    resources: [nodes]
    verbs: [patch]
  - apiGroups: [""]
    resources: [events]
    verbs: [create]
  - apiGroups: [kaptain.dev]
    resources: [healingpolicies, clusterhealingpolicies]
    verbs: [get, list, watch]
  - apiGroups: [kaptain.dev]
    resources: [healingpolicies/status, clusterhealingpolicies/status]
    verbs: [patch]
  - apiGroups: [kaptain.dev]
    resources: [healingactions]
    verbs: [get, list, watch, create]
  - apiGroups: [kaptain.dev]
    resources: [healingactions/status]
    verbs: [update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: kaptain-operator-test}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: kaptain-operator-test}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: viewer}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: kaptain-operator-test, namespace: NAMESPACE}
rules:
  - apiGroups: [coordination.k8s.io]
    resources: [leases]
    verbs: [get, create, update]
  - apiGroups: [""]
    resources: [configmaps]
    verbs: [create, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: kaptain-operator-test, namespace: NAMESPACE}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: kaptain-operator-test}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: viewer}]
"#;
