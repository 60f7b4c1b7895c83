//! Pod analyzers: containers that crash, are OOM-killed, cannot pull their image or read their
//! configuration; pods that cannot be scheduled, are stuck creating or terminating, fail their
//! probes, were evicted or failed. Pod findings hint the objects their cause may be found on
//! (node, missing ConfigMap/Secret, PVC) and never their owners.

mod crash;
mod creating;
mod lifecycle;
mod probes;
mod scheduling;
mod startup;

use k8s_openapi::api::core::v1::{
    Container, ContainerStateTerminated, ContainerStatus, Event, Pod, PodCondition,
};
use kaptain_index::{Kind, ObjKey};
use kaptain_model::{Category, Severity};

use crate::check::{Check, CheckInfo, Ctx};
use crate::util::parse_quantity;

const CRASH_LOOP: CheckInfo = CheckInfo::new(
    "pod.crash-loop",
    Category::Reliability,
    Severity::Critical,
    "A container is in CrashLoopBackOff: it keeps exiting and the kubelet backs off restarting it",
    &[Kind::Pod, Kind::Event],
)
.confidence(0.97)
.per_workload();

const OOM_KILLED: CheckInfo = CheckInfo::new(
    "pod.oom-killed",
    Category::Reliability,
    Severity::High,
    "A container was killed for exceeding its memory (OOMKilled)",
    &[Kind::Pod, Kind::ReplicaSet, Kind::Job],
)
.confidence(0.95)
.per_workload();

const IMAGE_PULL: CheckInfo = CheckInfo::new(
    "pod.image-pull",
    Category::Reliability,
    Severity::High,
    "A container cannot start because its image cannot be pulled (ErrImagePull, ImagePullBackOff, ...)",
    &[Kind::Pod, Kind::Event],
)
.confidence(0.95)
.per_workload();

const CONFIG_ERROR: CheckInfo = CheckInfo::new(
    "pod.create-container-config-error",
    Category::Config,
    Severity::Critical,
    "A container cannot be created: a ConfigMap, Secret or key it needs is missing (CreateContainerConfigError)",
    &[Kind::Pod, Kind::Event],
)
.confidence(0.97)
.per_workload();

const UNSCHEDULABLE: CheckInfo = CheckInfo::new(
    "pod.unschedulable",
    Category::Scheduling,
    Severity::High,
    "A pod stays Pending because the scheduler finds no node for it (resources, taints, affinity, PVCs)",
    &[Kind::Pod, Kind::Event, Kind::Node, Kind::PersistentVolumeClaim],
)
.confidence(0.95)
.per_workload();

const READINESS: CheckInfo = CheckInfo::new(
    "pod.readiness-probe-failing",
    Category::Reliability,
    Severity::High,
    "A running pod is not Ready because its readiness probe fails (it receives no Service traffic)",
    &[Kind::Pod, Kind::Event],
)
.confidence(0.9)
.per_workload();

const LIVENESS: CheckInfo = CheckInfo::new(
    "pod.liveness-probe-failing",
    Category::Reliability,
    Severity::High,
    "A container's liveness probe fails, so the kubelet kills and restarts it",
    &[Kind::Pod, Kind::Event],
)
.confidence(0.9)
.per_workload();

const INIT_FAILED: CheckInfo = CheckInfo::new(
    "pod.init-container-failed",
    Category::Reliability,
    Severity::High,
    "An init container fails, so the pod's main containers never start (Init:Error, Init:CrashLoopBackOff)",
    &[Kind::Pod, Kind::Event],
)
.confidence(0.95)
.per_workload();

const EVICTED: CheckInfo = CheckInfo::new(
    "pod.evicted",
    Category::Reliability,
    Severity::Medium,
    "A pod was evicted by the kubelet because its node ran low on a resource",
    &[Kind::Pod],
)
.confidence(0.95);

const STUCK_TERMINATING: CheckInfo = CheckInfo::new(
    "pod.stuck-terminating",
    Category::Reliability,
    Severity::Medium,
    "A pod has been Terminating for long past its grace period (finalizers or an unreachable node)",
    &[Kind::Pod, Kind::Node],
)
.confidence(0.9);

const CONTAINER_CREATING: CheckInfo = CheckInfo::new(
    "pod.container-creating",
    Category::Reliability,
    Severity::High,
    "A pod is stuck in ContainerCreating for more than 5 minutes (volume mount/attach or sandbox failures)",
    &[Kind::Pod, Kind::Event],
)
.confidence(0.9)
.per_workload();

const NOT_READY: CheckInfo = CheckInfo::new(
    "pod.not-ready",
    Category::Reliability,
    Severity::Medium,
    "A running pod has been not Ready for more than 5 minutes with no other explanation found",
    &[Kind::Pod, Kind::Event, Kind::Node],
)
.confidence(0.7)
.post();

const RESTARTS: CheckInfo = CheckInfo::new(
    "pod.restarts",
    Category::Reliability,
    Severity::Low,
    "A running container restarts often (>= 5 restarts, the last within an hour): it is flapping",
    &[Kind::Pod],
)
.confidence(0.8)
.per_workload();

const FAILED: CheckInfo = CheckInfo::new(
    "pod.failed",
    Category::Reliability,
    Severity::Medium,
    "A pod not owned by a Job is in phase Failed",
    &[Kind::Pod],
)
.confidence(0.9);

pub(crate) fn checks() -> Vec<Check> {
    vec![
        Check::new(CRASH_LOOP, crash::crash_loop),
        Check::new(OOM_KILLED, crash::oom_killed),
        Check::new(IMAGE_PULL, startup::image_pull),
        Check::new(CONFIG_ERROR, startup::config_error),
        Check::new(UNSCHEDULABLE, scheduling::unschedulable),
        Check::new(READINESS, probes::readiness),
        Check::new(LIVENESS, probes::liveness),
        Check::new(INIT_FAILED, crash::init_failed),
        Check::new(EVICTED, lifecycle::evicted),
        Check::new(STUCK_TERMINATING, lifecycle::stuck_terminating),
        Check::new(CONTAINER_CREATING, creating::container_creating),
        Check::new(NOT_READY, lifecycle::not_ready),
        Check::new(RESTARTS, crash::restarts),
        Check::new(FAILED, lifecycle::failed),
    ]
}

// ---- shared helpers -------------------------------------------------------------------------

const PULL_REASONS: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
];

/// `status.containerStatuses[api]` or `status.initContainerStatuses[init]`.
fn status_path(cs: &ContainerStatus, init: bool) -> String {
    let list = if init {
        "initContainerStatuses"
    } else {
        "containerStatuses"
    };
    format!("status.{list}[{}]", cs.name)
}

/// The pods worth looking at: everything but Succeeded pods (they did their job).
fn live_pods<'a>(ctx: &Ctx<'a>) -> impl Iterator<Item = &'a Pod> + 'a {
    ctx.idx
        .objects
        .pods
        .iter()
        .filter(|p| phase(p) != "Succeeded")
}

fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

/// Container statuses, init containers first, with `true` for init containers.
fn statuses(p: &Pod) -> impl Iterator<Item = (&ContainerStatus, bool)> {
    let s = p.status.as_ref();
    let init = s
        .and_then(|s| s.init_container_statuses.as_ref())
        .into_iter()
        .flatten();
    let main = s
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten();
    init.map(|c| (c, true)).chain(main.map(|c| (c, false)))
}

/// The spec of a container (or init container) by name.
fn container_spec<'a>(p: &'a Pod, name: &str) -> Option<&'a Container> {
    let spec = p.spec.as_ref()?;
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.name == name)
}

/// A sidecar: an init container with `restartPolicy: Always` that runs alongside the others.
fn is_sidecar(p: &Pod, name: &str) -> bool {
    p.spec
        .as_ref()
        .and_then(|s| s.init_containers.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.name == name && c.restart_policy.as_deref() == Some("Always"))
}

fn waiting_reason(cs: &ContainerStatus) -> Option<&str> {
    cs.state.as_ref()?.waiting.as_ref()?.reason.as_deref()
}

fn waiting_message(cs: &ContainerStatus) -> Option<&str> {
    cs.state
        .as_ref()?
        .waiting
        .as_ref()?
        .message
        .as_deref()
        .filter(|m| !m.trim().is_empty())
}

fn last_terminated(cs: &ContainerStatus) -> Option<&ContainerStateTerminated> {
    cs.last_state.as_ref()?.terminated.as_ref()
}

fn current_terminated(cs: &ContainerStatus) -> Option<&ContainerStateTerminated> {
    cs.state.as_ref()?.terminated.as_ref()
}

fn condition<'a>(p: &'a Pod, type_: &str) -> Option<&'a PodCondition> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// The kind of the pod's controller owner, as written in its ownerReferences.
fn owner_kind(p: &Pod) -> Option<&str> {
    p.metadata
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
        .map(|r| r.kind.as_str())
}

fn node_of(p: &Pod) -> Option<&str> {
    p.spec
        .as_ref()?
        .node_name
        .as_deref()
        .filter(|n| !n.is_empty())
}

/// Whether a node is NotReady (Ready condition not True); `None` if unknown.
fn node_not_ready(ctx: &Ctx, node: &str) -> Option<bool> {
    if !ctx.idx.has(Kind::Node) {
        return None;
    }
    let n = ctx.idx.objects.nodes.get("", node)?;
    let ready = n
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")?;
    Some(ready.status != "True")
}

/// The container an event is about, from `involvedObject.fieldPath` (`spec.containers{api}`).
fn event_container(e: &Event) -> Option<&str> {
    let fp = e.involved_object.field_path.as_deref()?;
    let start = fp.find('{')? + 1;
    let end = fp[start..].find('}')? + start;
    Some(&fp[start..end])
}

/// Events of a pod with one of `reasons` that are about `container` (or no container in
/// particular), oldest first.
fn container_events<'a>(
    ctx: &Ctx<'a>,
    p: &Pod,
    reasons: &[&str],
    container: &str,
) -> Vec<&'a Event> {
    crate::util::events_with(ctx.idx, Kind::Pod, &p.metadata, reasons)
        .into_iter()
        .filter(|e| event_container(e).is_none_or(|c| c == container))
        .collect()
}

/// `exit code 1 (Error)`, with the signal when there is one.
fn exit_desc(t: &ContainerStateTerminated) -> String {
    let reason = t.reason.as_deref().unwrap_or("no reason");
    match t.signal {
        Some(s) if s != 0 => format!("exit code {} ({reason}, signal {s})", t.exit_code),
        _ => format!("exit code {} ({reason})", t.exit_code),
    }
}

/// What a well-known exit code usually means, as a sentence.
fn exit_hint(code: i32) -> Option<&'static str> {
    Some(match code {
        126 => {
            "Exit code 126 means the command could not be executed: permissions, or not an executable."
        }
        127 => "Exit code 127 means the command was not found in the image.",
        128 => "Exit code 128 usually means the container runtime could not start the process.",
        137 => {
            "Exit code 137 means the process was killed with SIGKILL: a failed liveness probe, an OOM kill or a forced stop."
        }
        139 => "Exit code 139 means the process crashed with a segmentation fault.",
        143 => "Exit code 143 means the process was stopped with SIGTERM.",
        1 | 2 => {
            "Such a small exit code usually means the application itself gave up: bad configuration, a missing file, an unreachable dependency."
        }
        _ => return None,
    })
}

/// The last `n` characters of a text, trimmed, prefixed with `…` when cut.
fn tail(s: &str, n: usize) -> String {
    let s = s.trim();
    let count = s.chars().count();
    if count <= n {
        return s.to_string();
    }
    let cut: String = s.chars().skip(count - n).collect();
    format!("…{}", cut.trim_start())
}

/// The text inside the first pair of double quotes following `prefix` (case-insensitive
/// search for the prefix), e.g. `configmap "` → the ConfigMap name.
fn quoted_after<'a>(msg: &'a str, prefix: &str) -> Option<&'a str> {
    let lower = msg.to_ascii_lowercase();
    let start = lower.find(&prefix.to_ascii_lowercase())? + prefix.len();
    let rest = msg.get(start..)?;
    let end = rest.find('"')?;
    Some(&rest[..end])
}

/// PVC claim names the pod mounts.
fn pod_claims(p: &Pod) -> Vec<&str> {
    p.spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|v| {
            v.persistent_volume_claim
                .as_ref()
                .map(|c| c.claim_name.as_str())
        })
        .collect()
}

/// `deployment/api`, the kubectl name of a workload key.
fn kubectl_name(k: &ObjKey) -> String {
    format!("{}/{}", k.kind.name().to_ascii_lowercase(), k.name)
}

/// Bytes as `512Mi` / `2Gi` (rounded up to a whole Mi).
fn fmt_mem(bytes: f64) -> String {
    let mi = (bytes / 1_048_576.0).ceil().max(1.0) as u64;
    if mi.rem_euclid(1024) == 0 {
        format!("{}Gi", mi / 1024)
    } else {
        format!("{mi}Mi")
    }
}

/// Cores as `250m` or `2`.
fn fmt_cpu(cores: f64) -> String {
    let m = (cores * 1000.0).round() as u64;
    if m.rem_euclid(1000) == 0 {
        format!("{}", m / 1000)
    } else {
        format!("{m}m")
    }
}

/// `pods` or `pod` with a count.
fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_and_format() {
        assert_eq!(parse_quantity("500m"), Some(0.5));
        assert_eq!(parse_quantity("2"), Some(2.0));
        assert_eq!(parse_quantity("256Mi"), Some(268_435_456.0));
        assert_eq!(parse_quantity("1e3"), Some(1000.0));
        assert_eq!(parse_quantity("x"), None);
        assert_eq!(fmt_mem(536_870_912.0), "512Mi");
        assert_eq!(fmt_mem(2.0 * 1_073_741_824.0), "2Gi");
        assert_eq!(fmt_cpu(0.25), "250m");
        assert_eq!(fmt_cpu(4.0), "4");
    }

    #[test]
    fn text_helpers() {
        assert_eq!(tail("abcdef", 3), "…def");
        assert_eq!(tail(" ab ", 3), "ab");
        assert_eq!(
            quoted_after(r#"configmap "api-config" not found"#, "configmap \""),
            Some("api-config")
        );
        assert_eq!(quoted_after("nothing here", "secret \""), None);
    }

    #[test]
    fn healthy_pod_is_quiet_and_config_error_links_to_the_missing_configmap() {
        use crate::testutil::{index, run_all};
        let loaded = [Kind::Event, Kind::Node, Kind::ConfigMap, Kind::Secret];
        let healthy = run_all(&index(&fixtures::pod("api-1", fixtures::RUNNING), &loaded));
        assert!(
            healthy.iter().all(|f| !f.id.starts_with("pod.")),
            "{healthy:#?}"
        );

        let status = "  phase: Pending\n  containerStatuses:\n  - {name: api, image: x, imageID: \"\", ready: false, restartCount: 0, state: {waiting: {reason: CreateContainerConfigError, message: 'configmap \"api-config\" not found'}}}";
        let yaml = fixtures::pod("api-2", status).replace(
            "    readinessProbe:",
            "    envFrom:\n    - configMapRef: {name: api-config}\n    readinessProbe:",
        );
        let all = run_all(&index(&yaml, &loaded));
        let pod = all
            .iter()
            .find(|f| f.id == "pod.create-container-config-error");
        let cm = all.iter().find(|f| f.id == "config.missing-configmap");
        let (Some(pod), Some(cm)) = (pod, cm) else {
            panic!("{all:#?}")
        };
        assert_eq!(pod.caused_by, vec![cm.fingerprint.clone()]);
        assert!(cm.root_cause && !pod.root_cause);
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    /// A pod in `shop` named `name`, owned by ReplicaSet `api-7d9c` (no ReplicaSet object),
    /// with one container `api`, created 1h before test now; `status` is YAML indented by 2.
    pub(crate) fn pod(name: &str, status: &str) -> String {
        format!(
            r#"
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: shop
  creationTimestamp: "2026-01-01T11:00:00Z"
  ownerReferences:
  - {{apiVersion: apps/v1, kind: ReplicaSet, name: api-7d9c, uid: u1, controller: true}}
spec:
  nodeName: n1
  containers:
  - name: api
    image: shop/api:1.0
    resources:
      requests: {{cpu: 500m, memory: 256Mi}}
      limits: {{memory: 256Mi}}
    readinessProbe:
      httpGet: {{path: /ready, port: 8080}}
    livenessProbe:
      httpGet: {{path: /healthz, port: 8080}}
status:
{status}
"#
        )
    }

    /// Status of a healthy running pod.
    pub(crate) const RUNNING: &str = r#"  phase: Running
  conditions:
  - {type: Ready, status: "True", lastTransitionTime: "2026-01-01T11:01:00Z"}
  containerStatuses:
  - name: api
    image: shop/api:1.0
    imageID: ""
    ready: true
    restartCount: 0
    state:
      running: {startedAt: "2026-01-01T11:01:00Z"}"#;

    /// A running pod whose container `api` is not ready since `ready_since`.
    pub(crate) fn running(ready_since: &str, restarts: i32) -> String {
        pod(
            "api-1",
            &format!(
                r#"  phase: Running
  conditions:
  - {{type: Ready, status: "False", reason: ContainersNotReady, lastTransitionTime: "{ready_since}"}}
  containerStatuses:
  - {{name: api, image: shop/api:1.0, imageID: "", ready: false, restartCount: {restarts}, state: {{running: {{startedAt: "2026-01-01T11:05:00Z"}}}}}}"#
            ),
        )
    }

    /// An event about pod `pod` in `shop` (container `api` when `container`).
    pub(crate) fn event(pod: &str, reason: &str, message: &str, count: i32, last: &str) -> String {
        let message = message.replace('\'', "''");
        format!(
            r#"
---
apiVersion: v1
kind: Event
metadata: {{name: {pod}.{reason}, namespace: shop}}
involvedObject: {{kind: Pod, namespace: shop, name: {pod}, fieldPath: "spec.containers{{api}}"}}
reason: {reason}
message: '{message}'
type: Warning
count: {count}
lastTimestamp: "{last}"
"#
        )
    }
}
