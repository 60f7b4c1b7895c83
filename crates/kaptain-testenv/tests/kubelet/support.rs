//! What every test here uses: the shared control plane and kubelet, namespaces, and
//! readers of pods, their statuses and conditions, and kubelet events.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ContainerStatus, Event, Pod};
use kaptain_testenv::{ControlPlane, SimKubelet, WaitError, apply_yaml, eventually};
use kube::api::{Api, ListParams};

pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

pub const TIMEOUT: Duration = Duration::from_secs(90);

/// The shared control plane and kubelet, with back-offs shrunk tenfold (1 s, 2 s, 4 s ...).
pub async fn sim()
-> Result<(&'static ControlPlane, &'static SimKubelet, kube::Client), kaptain_testenv::Error> {
    let cp = ControlPlane::shared();
    let sim = cp.shared_kubelet().await?;
    sim.set_backoff_scale(0.1);
    Ok((cp, sim, cp.client().await?))
}

pub async fn namespace(client: &kube::Client, name: &str) -> TestResult {
    apply_yaml(
        client,
        &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"),
    )
    .await?;
    Ok(())
}

pub async fn pods(client: &kube::Client, ns: &str) -> Result<Vec<Pod>, kube::Error> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    Ok(api.list(&ListParams::default()).await?.items)
}

/// The first pod of `ns` not being deleted.
pub async fn live_pod(client: &kube::Client, ns: &str) -> Result<Option<Pod>, kube::Error> {
    Ok(pods(client, ns)
        .await?
        .into_iter()
        .find(|p| p.metadata.deletion_timestamp.is_none()))
}

pub fn statuses(p: &Pod) -> Vec<ContainerStatus> {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.clone())
        .unwrap_or_default()
}

pub fn init_statuses(p: &Pod) -> Vec<ContainerStatus> {
    p.status
        .as_ref()
        .and_then(|s| s.init_container_statuses.clone())
        .unwrap_or_default()
}

pub fn waiting_reason(cs: &ContainerStatus) -> Option<String> {
    cs.state
        .as_ref()
        .and_then(|s| s.waiting.as_ref())
        .and_then(|w| w.reason.clone())
}

pub fn waiting_message(cs: &ContainerStatus) -> Option<String> {
    cs.state
        .as_ref()
        .and_then(|s| s.waiting.as_ref())
        .and_then(|w| w.message.clone())
}

pub fn phase(p: &Pod) -> String {
    p.status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_default()
}

pub fn condition(p: &Pod, type_: &str) -> Option<(String, Option<String>, Option<String>)> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

pub fn is_ready(p: &Pod) -> bool {
    condition(p, "Ready").is_some_and(|c| c.0 == "True")
}

/// One line per pod, for failure messages.
pub async fn describe(client: &kube::Client, ns: &str) -> Result<String, kube::Error> {
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

pub async fn events(client: &kube::Client, ns: &str) -> Result<Vec<Event>, kube::Error> {
    let api: Api<Event> = Api::namespaced(client.clone(), ns);
    Ok(api.list(&ListParams::default()).await?.items)
}

/// Waits for a kubelet event with `reason` whose message contains `text`.
pub async fn event_with(
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
