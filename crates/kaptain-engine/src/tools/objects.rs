//! Generic reads of the index by kind: metadata of every object of a kind, one object as
//! JSON, and a one-line status per kind for listings.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kaptain_index::{ClusterIndex, Kind};
use serde_json::Value;

/// Runs `$body` with `$s` bound to the typed store of `$kind`.
macro_rules! on_store {
    ($idx:expr, $kind:expr, $s:ident => $body:expr) => {{
        let o = &$idx.objects;
        match $kind {
            Kind::Pod => {
                let $s = &o.pods;
                $body
            }
            Kind::Node => {
                let $s = &o.nodes;
                $body
            }
            Kind::Namespace => {
                let $s = &o.namespaces;
                $body
            }
            Kind::Service => {
                let $s = &o.services;
                $body
            }
            Kind::Endpoints => {
                let $s = &o.endpoints;
                $body
            }
            Kind::ConfigMap => {
                let $s = &o.configmaps;
                $body
            }
            Kind::Secret => {
                let $s = &o.secrets;
                $body
            }
            Kind::ServiceAccount => {
                let $s = &o.serviceaccounts;
                $body
            }
            Kind::PersistentVolumeClaim => {
                let $s = &o.pvcs;
                $body
            }
            Kind::PersistentVolume => {
                let $s = &o.pvs;
                $body
            }
            Kind::Event => {
                let $s = &o.events;
                $body
            }
            Kind::ResourceQuota => {
                let $s = &o.resourcequotas;
                $body
            }
            Kind::Deployment => {
                let $s = &o.deployments;
                $body
            }
            Kind::ReplicaSet => {
                let $s = &o.replicasets;
                $body
            }
            Kind::StatefulSet => {
                let $s = &o.statefulsets;
                $body
            }
            Kind::DaemonSet => {
                let $s = &o.daemonsets;
                $body
            }
            Kind::Job => {
                let $s = &o.jobs;
                $body
            }
            Kind::CronJob => {
                let $s = &o.cronjobs;
                $body
            }
            Kind::Ingress => {
                let $s = &o.ingresses;
                $body
            }
            Kind::IngressClass => {
                let $s = &o.ingressclasses;
                $body
            }
            Kind::NetworkPolicy => {
                let $s = &o.networkpolicies;
                $body
            }
            Kind::StorageClass => {
                let $s = &o.storageclasses;
                $body
            }
            Kind::HorizontalPodAutoscaler => {
                let $s = &o.hpas;
                $body
            }
            Kind::PodDisruptionBudget => {
                let $s = &o.pdbs;
                $body
            }
            Kind::ValidatingWebhookConfiguration => {
                let $s = &o.validating_webhooks;
                $body
            }
            Kind::MutatingWebhookConfiguration => {
                let $s = &o.mutating_webhooks;
                $body
            }
        }
    }};
}

/// The metadata of every object of `kind`, in the store's order.
pub fn metas(idx: &ClusterIndex, kind: Kind) -> Vec<&ObjectMeta> {
    on_store!(idx, kind, s => s.iter().map(|o| &o.metadata).collect())
}

/// The metadata of one object.
pub fn meta_of<'a>(
    idx: &'a ClusterIndex,
    kind: Kind,
    namespace: &str,
    name: &str,
) -> Option<&'a ObjectMeta> {
    let ns = if kind.namespaced() { namespace } else { "" };
    on_store!(idx, kind, s => s.get(ns, name).map(|o| &o.metadata))
}

/// One object as JSON with its `apiVersion` and `kind` set (stores may hold objects without
/// them).
pub fn value(idx: &ClusterIndex, kind: Kind, namespace: &str, name: &str) -> Option<Value> {
    let ns = if kind.namespaced() { namespace } else { "" };
    let v = on_store!(idx, kind, s => s.get(ns, name).and_then(|o| serde_json::to_value(o).ok()));
    v.map(|mut v| {
        if let Some(m) = v.as_object_mut() {
            m.insert("apiVersion".into(), Value::String(kind.api_version()));
            m.insert("kind".into(), Value::String(kind.name().into()));
        }
        v
    })
}

/// Parses a kind as people and models write it: `Deployment`, `deployments`, `deploy`,
/// `svc`, `po`, ...
pub fn parse_kind(s: &str) -> Option<Kind> {
    let s = s.trim();
    let short = match s.to_ascii_lowercase().as_str() {
        "po" => Some(Kind::Pod),
        "no" => Some(Kind::Node),
        "ns" => Some(Kind::Namespace),
        "svc" => Some(Kind::Service),
        "ep" => Some(Kind::Endpoints),
        "cm" => Some(Kind::ConfigMap),
        "sa" => Some(Kind::ServiceAccount),
        "pvc" => Some(Kind::PersistentVolumeClaim),
        "pv" => Some(Kind::PersistentVolume),
        "ev" => Some(Kind::Event),
        "quota" => Some(Kind::ResourceQuota),
        "deploy" => Some(Kind::Deployment),
        "rs" => Some(Kind::ReplicaSet),
        "sts" => Some(Kind::StatefulSet),
        "ds" => Some(Kind::DaemonSet),
        "cj" => Some(Kind::CronJob),
        "ing" => Some(Kind::Ingress),
        "netpol" => Some(Kind::NetworkPolicy),
        "sc" => Some(Kind::StorageClass),
        "hpa" => Some(Kind::HorizontalPodAutoscaler),
        "pdb" => Some(Kind::PodDisruptionBudget),
        _ => None,
    };
    short.or_else(|| Kind::parse(s)).or_else(|| {
        // Singular lower-case forms: `deployment`, `configmap`.
        Kind::ALL
            .iter()
            .copied()
            .find(|k| k.name().eq_ignore_ascii_case(s.trim_end_matches('s')))
    })
}

fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    v.pointer(path)
}

fn num(v: &Value, path: &str) -> i64 {
    at(v, path).and_then(Value::as_i64).unwrap_or(0)
}

fn text<'a>(v: &'a Value, path: &str) -> &'a str {
    at(v, path).and_then(Value::as_str).unwrap_or("")
}

/// A one-line status like `kubectl get` prints (empty for kinds without one).
pub fn status_line(kind: Kind, v: &Value) -> String {
    match kind {
        Kind::Pod => {
            let statuses = at(v, "/status/containerStatuses")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let ready = statuses
                .iter()
                .filter(|c| c.get("ready").and_then(Value::as_bool) == Some(true))
                .count();
            let restarts: i64 = statuses
                .iter()
                .filter_map(|c| c.get("restartCount").and_then(Value::as_i64))
                .sum();
            let waiting = statuses.iter().find_map(|c| {
                c.pointer("/state/waiting/reason")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            });
            let total = at(v, "/spec/containers")
                .and_then(Value::as_array)
                .map_or(statuses.len(), Vec::len);
            let phase = waiting.unwrap_or_else(|| text(v, "/status/phase").to_string());
            let node = text(v, "/spec/nodeName");
            let mut s = format!("{phase} ready {ready}/{total} restarts {restarts}");
            if !node.is_empty() {
                s.push_str(&format!(" node {node}"));
            }
            s
        }
        Kind::Deployment | Kind::StatefulSet | Kind::ReplicaSet => format!(
            "ready {}/{}",
            num(v, "/status/readyReplicas"),
            at(v, "/spec/replicas").and_then(Value::as_i64).unwrap_or(1)
        ),
        Kind::DaemonSet => format!(
            "ready {}/{}",
            num(v, "/status/numberReady"),
            num(v, "/status/desiredNumberScheduled")
        ),
        Kind::Node => {
            let ready = at(v, "/status/conditions")
                .and_then(Value::as_array)
                .and_then(|cs| {
                    cs.iter()
                        .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
                })
                .and_then(|c| c.get("status").and_then(Value::as_str))
                .unwrap_or("Unknown");
            let mut s = format!("Ready={ready}");
            if at(v, "/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
                s.push_str(" SchedulingDisabled");
            }
            s
        }
        Kind::Service => format!("{} {}", text(v, "/spec/type"), text(v, "/spec/clusterIP"))
            .trim()
            .to_string(),
        Kind::PersistentVolumeClaim | Kind::PersistentVolume | Kind::Namespace => {
            text(v, "/status/phase").to_string()
        }
        Kind::Job => format!(
            "succeeded {} failed {}",
            num(v, "/status/succeeded"),
            num(v, "/status/failed")
        ),
        Kind::Event => format!("{} {}", text(v, "/type"), text(v, "/reason")),
        Kind::Secret => text(v, "/type").to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_as_people_write_them() {
        assert_eq!(parse_kind("deploy"), Some(Kind::Deployment));
        assert_eq!(parse_kind("Deployment"), Some(Kind::Deployment));
        assert_eq!(parse_kind("configmaps"), Some(Kind::ConfigMap));
        assert_eq!(parse_kind("svc"), Some(Kind::Service));
        assert_eq!(parse_kind("pod"), Some(Kind::Pod));
        assert_eq!(parse_kind("widget"), None);
    }
}
