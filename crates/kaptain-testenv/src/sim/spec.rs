//! What the simulated kubelet needs from a Pod's spec and annotations, extracted once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::util::parse_quantity;

/// Annotation prefix of the runtime-behaviour contract (see the crate README).
pub(crate) const ANNOTATION_PREFIX: &str = "sim.kaptain.dev/";
const A_CONTAINER: &str = "sim.kaptain.dev/container";
const A_EXIT_CODE: &str = "sim.kaptain.dev/exit-code";
const A_RUN_SECONDS: &str = "sim.kaptain.dev/run-seconds";
const A_MEMORY: &str = "sim.kaptain.dev/memory-usage";
const A_READY: &str = "sim.kaptain.dev/ready";
const A_LIVENESS: &str = "sim.kaptain.dev/liveness";
const A_LOGS: &str = "sim.kaptain.dev/logs";

/// How long a container with `exit-code` but no `run-seconds` runs.
pub(crate) const DEFAULT_RUN: Duration = Duration::from_secs(2);
/// How long an init container without annotations runs before exiting 0.
pub(crate) const DEFAULT_INIT_RUN: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EnvRef {
    ConfigMap {
        name: String,
        optional: bool,
    },
    Secret {
        name: String,
        optional: bool,
    },
    ConfigMapKey {
        name: String,
        key: String,
        optional: bool,
    },
    SecretKey {
        name: String,
        key: String,
        optional: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProbeKind {
    Http,
    Tcp(String),
    Exec,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProbeSpec {
    pub kind: ProbeKind,
    pub initial_delay: Duration,
    pub period: Duration,
    pub failure_threshold: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CtrSpec {
    pub name: String,
    pub image: String,
    pub pull_policy: PullPolicy,
    pub env: Vec<EnvRef>,
    pub memory_limit: Option<f64>,
    pub readiness: Option<ProbeSpec>,
    pub liveness: Option<ProbeSpec>,
    pub startup: Option<ProbeSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum VolSource {
    ConfigMap,
    Secret,
}

/// A ConfigMap or Secret a volume needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VolRef {
    pub volume: String,
    pub source: VolSource,
    pub name: String,
    pub optional: bool,
    pub keys: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct PodSpecLite {
    pub restart_policy: RestartPolicy,
    pub host_network: bool,
    pub grace: Duration,
    pub readiness_gates: Vec<String>,
    pub volumes: Vec<VolRef>,
    pub volume_names: Vec<String>,
    pub init: Vec<CtrSpec>,
    pub main: Vec<CtrSpec>,
}

fn probe(p: Option<&Probe>, ports: &[(String, i32)]) -> Option<ProbeSpec> {
    let p = p?;
    let port = |v: &IntOrString| match v {
        IntOrString::Int(i) => i.to_string(),
        IntOrString::String(name) => ports
            .iter()
            .find(|(n, _)| n == name)
            .map_or_else(|| name.clone(), |(_, port)| port.to_string()),
    };
    let kind = if p.http_get.is_some() {
        ProbeKind::Http
    } else if let Some(tcp) = &p.tcp_socket {
        ProbeKind::Tcp(port(&tcp.port))
    } else {
        ProbeKind::Exec
    };
    let secs = |v: Option<i32>, default: i32| {
        Duration::from_secs(u64::try_from(v.unwrap_or(default)).unwrap_or(0))
    };
    Some(ProbeSpec {
        kind,
        initial_delay: secs(p.initial_delay_seconds, 0),
        period: secs(p.period_seconds, 10).max(Duration::from_secs(1)),
        failure_threshold: u32::try_from(p.failure_threshold.unwrap_or(3))
            .unwrap_or(3)
            .max(1),
    })
}

fn container(c: &Container) -> CtrSpec {
    let image = c.image.clone().unwrap_or_default();
    let pull_policy = match c.image_pull_policy.as_deref() {
        Some("Always") => PullPolicy::Always,
        Some("Never") => PullPolicy::Never,
        Some(_) => PullPolicy::IfNotPresent,
        // The apiserver defaults it; mirror its rule in case it did not.
        None if image.ends_with(":latest")
            || !image.rsplit('/').next().unwrap_or("").contains(':') =>
        {
            PullPolicy::Always
        }
        None => PullPolicy::IfNotPresent,
    };
    let mut env = Vec::new();
    for from in c.env_from.iter().flatten() {
        if let Some(r) = &from.config_map_ref {
            env.push(EnvRef::ConfigMap {
                name: r.name.clone(),
                optional: r.optional.unwrap_or(false),
            });
        }
        if let Some(r) = &from.secret_ref {
            env.push(EnvRef::Secret {
                name: r.name.clone(),
                optional: r.optional.unwrap_or(false),
            });
        }
    }
    for var in c.env.iter().flatten() {
        let Some(from) = &var.value_from else {
            continue;
        };
        if let Some(r) = &from.config_map_key_ref {
            env.push(EnvRef::ConfigMapKey {
                name: r.name.clone(),
                key: r.key.clone(),
                optional: r.optional.unwrap_or(false),
            });
        }
        if let Some(r) = &from.secret_key_ref {
            env.push(EnvRef::SecretKey {
                name: r.name.clone(),
                key: r.key.clone(),
                optional: r.optional.unwrap_or(false),
            });
        }
    }
    let ports: Vec<(String, i32)> = c
        .ports
        .iter()
        .flatten()
        .filter_map(|p| p.name.clone().map(|n| (n, p.container_port)))
        .collect();
    let memory_limit = c
        .resources
        .as_ref()
        .and_then(|r| r.limits.as_ref())
        .and_then(|l| l.get("memory"))
        .and_then(|q| parse_quantity(&q.0));
    CtrSpec {
        name: c.name.clone(),
        image,
        pull_policy,
        env,
        memory_limit,
        readiness: probe(c.readiness_probe.as_ref(), &ports),
        liveness: probe(c.liveness_probe.as_ref(), &ports),
        startup: probe(c.startup_probe.as_ref(), &ports),
    }
}

impl PodSpecLite {
    pub fn from_pod(pod: &Pod) -> Self {
        let Some(spec) = pod.spec.as_ref() else {
            return Self {
                restart_policy: RestartPolicy::Always,
                host_network: false,
                grace: Duration::from_secs(30),
                readiness_gates: Vec::new(),
                volumes: Vec::new(),
                volume_names: Vec::new(),
                init: Vec::new(),
                main: Vec::new(),
            };
        };
        let restart_policy = match spec.restart_policy.as_deref() {
            Some("Never") => RestartPolicy::Never,
            Some("OnFailure") => RestartPolicy::OnFailure,
            _ => RestartPolicy::Always,
        };
        let mut volumes = Vec::new();
        let mut volume_names = Vec::new();
        for v in spec.volumes.iter().flatten() {
            volume_names.push(v.name.clone());
            let keys = |items: &Option<Vec<k8s_openapi::api::core::v1::KeyToPath>>| {
                items
                    .iter()
                    .flatten()
                    .map(|i| i.key.clone())
                    .collect::<Vec<_>>()
            };
            if let Some(cm) = &v.config_map {
                volumes.push(VolRef {
                    volume: v.name.clone(),
                    source: VolSource::ConfigMap,
                    name: cm.name.clone(),
                    optional: cm.optional.unwrap_or(false),
                    keys: keys(&cm.items),
                });
            }
            if let Some(s) = &v.secret {
                volumes.push(VolRef {
                    volume: v.name.clone(),
                    source: VolSource::Secret,
                    name: s.secret_name.clone().unwrap_or_default(),
                    optional: s.optional.unwrap_or(false),
                    keys: keys(&s.items),
                });
            }
            if let Some(p) = &v.projected {
                for source in p.sources.iter().flatten() {
                    if let Some(cm) = &source.config_map {
                        volumes.push(VolRef {
                            volume: v.name.clone(),
                            source: VolSource::ConfigMap,
                            name: cm.name.clone(),
                            optional: cm.optional.unwrap_or(false),
                            keys: keys(&cm.items),
                        });
                    }
                    if let Some(s) = &source.secret {
                        volumes.push(VolRef {
                            volume: v.name.clone(),
                            source: VolSource::Secret,
                            name: s.name.clone(),
                            optional: s.optional.unwrap_or(false),
                            keys: keys(&s.items),
                        });
                    }
                }
            }
        }
        Self {
            restart_policy,
            host_network: spec.host_network.unwrap_or(false),
            grace: Duration::from_secs(
                u64::try_from(spec.termination_grace_period_seconds.unwrap_or(30)).unwrap_or(0),
            ),
            readiness_gates: spec
                .readiness_gates
                .iter()
                .flatten()
                .map(|g| g.condition_type.clone())
                .collect(),
            volumes,
            volume_names,
            init: spec
                .init_containers
                .iter()
                .flatten()
                .map(container)
                .collect(),
            main: spec.containers.iter().map(container).collect(),
        }
    }
}

/// The runtime behaviour the `sim.kaptain.dev/*` annotations ask of one container.
#[derive(Debug, Clone, Default)]
pub(crate) struct Behaviour {
    pub exit_code: Option<i32>,
    pub run_for: Option<Duration>,
    pub memory_usage: Option<f64>,
    pub not_ready: bool,
    pub liveness_fails: bool,
    pub logs: Option<Arc<str>>,
}

impl Behaviour {
    /// Reads the annotations for `container`; `sim.kaptain.dev/container` (a name or a
    /// comma-separated list) restricts them to the containers it names.
    pub fn of(annotations: &BTreeMap<String, String>, container: &str) -> Self {
        if let Some(target) = annotations.get(A_CONTAINER)
            && !target.split(',').any(|t| t.trim() == container)
        {
            return Self::default();
        }
        let get = |k: &str| annotations.get(k).map(|v| v.trim());
        let exit_code = get(A_EXIT_CODE).and_then(|v| v.parse::<i32>().ok());
        let run_seconds = get(A_RUN_SECONDS)
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64);
        let run_for = match (exit_code, run_seconds) {
            (_, Some(d)) => Some(d),
            (Some(_), None) => Some(DEFAULT_RUN),
            (None, None) => None,
        };
        Self {
            exit_code,
            run_for,
            memory_usage: get(A_MEMORY).and_then(parse_quantity),
            not_ready: get(A_READY).is_some_and(|v| v.eq_ignore_ascii_case("false")),
            liveness_fails: get(A_LIVENESS).is_some_and(|v| v.eq_ignore_ascii_case("fail")),
            logs: annotations.get(A_LOGS).map(|v| Arc::from(v.as_str())),
        }
    }
}

/// The `sim.kaptain.dev/*` annotations only (what behaviour depends on).
pub(crate) fn sim_annotations(pod: &Pod) -> BTreeMap<String, String> {
    pod.metadata
        .annotations
        .iter()
        .flatten()
        .filter(|(k, _)| k.starts_with(ANNOTATION_PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn behaviour_from_annotations() {
        let a = annotations(&[(A_EXIT_CODE, "1")]);
        let b = Behaviour::of(&a, "app");
        assert_eq!(b.exit_code, Some(1));
        assert_eq!(b.run_for, Some(DEFAULT_RUN));
        let a = annotations(&[(A_RUN_SECONDS, "0.5"), (A_CONTAINER, "sidecar, app")]);
        assert_eq!(
            Behaviour::of(&a, "app").run_for,
            Some(Duration::from_millis(500))
        );
        assert_eq!(Behaviour::of(&a, "other").run_for, None);
        let a = annotations(&[
            (A_MEMORY, "600Mi"),
            (A_READY, "false"),
            (A_LIVENESS, "fail"),
        ]);
        let b = Behaviour::of(&a, "x");
        assert_eq!(b.memory_usage, Some(600.0 * 1024.0 * 1024.0));
        assert!(b.not_ready && b.liveness_fails && b.exit_code.is_none());
    }
}
