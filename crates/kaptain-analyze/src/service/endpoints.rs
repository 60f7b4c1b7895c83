//! Whether a Service has ready endpoints, from its Endpoints object when collected and from
//! the readiness of the pods it selects otherwise. Shared by the Service, Ingress and webhook
//! checks, so that all three agree on what "no ready endpoints" means.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kaptain_index::Kind;

use super::selection::{TemplateMatch, workloads_matching};
use crate::certain::{pods_blocked, settled};
use crate::check::Ctx;

/// How long a not-ready backend (or a Service that selects nothing) may be new before it
/// counts as a problem: rollouts and fresh deployments are normal for a few minutes.
pub(crate) const GRACE_SECS: i64 = 300;

/// One backend that is not ready.
pub(crate) struct NotReady<'a> {
    /// Pod name, or the address when the Endpoints entry names no pod.
    pub name: String,
    pub pod: Option<&'a Pod>,
    /// Why, in a few words (`container api: CrashLoopBackOff`).
    pub reason: String,
    /// How old the backend is (the pod's age, or the Service's when the pod is unknown).
    pub age: Option<i64>,
}

impl NotReady<'_> {
    /// What in the backend pod's spec keeps it from ever becoming ready, for certain (a
    /// missing ConfigMap, Secret or claim, an invalid image): see [`spec_blockers`].
    pub fn blocked(&self, ctx: &Ctx) -> Vec<String> {
        pods_blocked(ctx, self.pod)
    }
}

/// What a Service's endpoints look like.
pub(crate) struct Health<'a> {
    /// Counted from the Endpoints object (else from the selected pods).
    pub from_endpoints: bool,
    pub ready: usize,
    pub not_ready: Vec<NotReady<'a>>,
    /// Pods the selector matches (empty when pods were not collected).
    pub matched: Vec<&'a Pod>,
}

impl<'a> Health<'a> {
    pub fn total(&self) -> usize {
        self.ready + self.not_ready.len()
    }

    /// Not-ready backends older than the grace period (unknown age counts as old), and those
    /// certain never to become ready (see [`NotReady::blocked`]) once settled.
    pub fn stale<'s>(&'s self, ctx: &'s Ctx) -> impl Iterator<Item = &'s NotReady<'a>> {
        self.not_ready.iter().filter(move |n| {
            n.age.is_none_or(|a| a > GRACE_SECS) || (settled(n.age) && !n.blocked(ctx).is_empty())
        })
    }

    /// Certain-now reasons the Service stays without ready endpoints: its not-ready backends
    /// are blocked for certain, or nothing backs it and nothing will (every workload whose
    /// template matches wants 0 replicas and no HPA scales it, or none matches).
    pub fn certain(&self, ctx: &Ctx, svc: &Service) -> Vec<String> {
        if !self.not_ready.is_empty() {
            return self.blocked(ctx);
        }
        let (Some(sel), true) = (selector(svc), ctx.idx.has(Kind::Pod)) else {
            return Vec::new();
        };
        if self.ready > 0 || !self.matched.is_empty() {
            return Vec::new();
        }
        let ns = svc.metadata.namespace.as_deref().unwrap_or("");
        let ws = workloads_matching(ctx, ns, sel);
        let autoscaled = |w: &TemplateMatch| {
            ctx.idx.objects.hpas.in_namespace(ns).any(|h| {
                h.spec.as_ref().is_some_and(|s| {
                    s.scale_target_ref.kind == w.obj.kind && s.scale_target_ref.name == w.obj.name
                })
            })
        };
        let wanting: Vec<&TemplateMatch> = ws.iter().filter(|w| w.desired > 0).collect();
        let mut v: Vec<String> = if wanting.is_empty() {
            if ws.iter().any(autoscaled) {
                return Vec::new();
            }
            let sel_s: Vec<String> = sel.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let why = if ws.is_empty() {
                "no pod template in the namespace carries them".to_string()
            } else {
                let names: Vec<String> = ws.iter().map(|w| w.obj.display()).collect();
                format!(
                    "{} want{} 0 replicas and no HPA scales them",
                    names.join(", "),
                    if ws.len() == 1 { "s" } else { "" }
                )
            };
            vec![format!("no pod carries {} and {why}", sel_s.join(","))]
        } else if wanting.iter().all(|w| !w.blocked.is_empty()) {
            wanting
                .iter()
                .flat_map(|w| w.blocked.iter().cloned())
                .collect()
        } else {
            Vec::new()
        };
        v.truncate(3);
        v
    }

    /// Certain-now reasons the not-ready backends stay so (deduplicated, at most 3).
    pub fn blocked(&self, ctx: &Ctx) -> Vec<String> {
        pods_blocked(ctx, self.not_ready.iter().filter_map(|n| n.pod))
    }

    /// `0 of 3 ready (Endpoints)`.
    pub fn summary(&self) -> String {
        format!(
            "{} of {} endpoints ready (from {})",
            self.ready,
            self.total(),
            if self.from_endpoints {
                "its Endpoints object"
            } else {
                "the selected pods' Ready condition"
            }
        )
    }
}

/// Service types that route to pods (not ExternalName).
pub(crate) fn routes_to_pods(svc: &Service) -> bool {
    matches!(
        svc.spec.as_ref().and_then(|s| s.type_.as_deref()),
        None | Some("ClusterIP" | "NodePort" | "LoadBalancer")
    )
}

/// The Service's selector when it has a non-empty one.
pub(crate) fn selector(svc: &Service) -> Option<&BTreeMap<String, String>> {
    svc.spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .filter(|s| !s.is_empty())
}

/// Seconds since an object was created.
pub(crate) fn age_of(ctx: &Ctx, meta: &ObjectMeta) -> Option<i64> {
    meta.creation_timestamp.as_ref().map(|t| ctx.age_secs(t.0))
}

/// Created less than the grace period ago.
pub(crate) fn fresh(ctx: &Ctx, meta: &ObjectMeta) -> bool {
    age_of(ctx, meta).is_some_and(|a| a <= GRACE_SECS)
}

pub(crate) fn pod_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Not finished and not being deleted: a pod that should be serving.
pub(crate) fn pod_active(p: &Pod) -> bool {
    let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
    p.metadata.deletion_timestamp.is_none() && !matches!(phase, Some("Succeeded" | "Failed"))
}

/// Why a pod is not ready, in a few words.
pub(crate) fn pod_reason(p: &Pod) -> String {
    let Some(st) = p.status.as_ref() else {
        return "no status".into();
    };
    for cs in st.container_statuses.iter().flatten() {
        let state = cs.state.as_ref();
        if let Some(r) = state
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.as_deref())
        {
            return format!("container {}: {r}", cs.name);
        }
        if let Some(r) = state
            .and_then(|s| s.terminated.as_ref())
            .and_then(|t| t.reason.as_deref())
        {
            return format!("container {}: terminated ({r})", cs.name);
        }
        if !cs.ready && state.is_some_and(|s| s.running.is_some()) {
            return format!(
                "container {}: running but not ready (readiness probe failing?)",
                cs.name
            );
        }
    }
    let phase = st.phase.as_deref().unwrap_or("Unknown");
    let sched = st
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False");
    match sched {
        Some(c) => format!(
            "{phase}, unschedulable ({})",
            c.reason.as_deref().unwrap_or("not scheduled")
        ),
        None => format!("{phase}, Ready=False"),
    }
}

/// The Service's endpoint health, or `None` when nothing collected can tell (ExternalName,
/// selector-less without an Endpoints object, or neither Endpoints nor Pods collected).
pub(crate) fn health<'a>(ctx: &Ctx<'a>, svc: &'a Service) -> Option<Health<'a>> {
    if !routes_to_pods(svc) {
        return None;
    }
    let idx = ctx.idx;
    let (ns, name) = (
        svc.metadata.namespace.as_deref().unwrap_or(""),
        svc.metadata.name.as_deref().unwrap_or(""),
    );
    let publish_not_ready = svc
        .spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false);
    let svc_age = age_of(ctx, &svc.metadata);
    let matched: Vec<&'a Pod> = match selector(svc) {
        Some(sel) if idx.has(Kind::Pod) => idx.pods_matching_labels(ns, sel),
        _ => Vec::new(),
    };
    let pod_age = |p: &Pod| age_of(ctx, &p.metadata).or(svc_age);
    let ep = if idx.has(Kind::Endpoints) {
        idx.objects.endpoints.get(ns, name)
    } else {
        None
    };

    if let Some(ep) = ep {
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut ready = 0;
        let mut not_ready = Vec::new();
        for s in ep.subsets.iter().flatten() {
            for a in s.addresses.iter().flatten() {
                let key = a
                    .target_ref
                    .as_ref()
                    .and_then(|r| r.name.clone())
                    .unwrap_or_else(|| a.ip.clone());
                if seen.insert(key) {
                    ready += 1;
                }
            }
        }
        for s in ep.subsets.iter().flatten() {
            for a in s.not_ready_addresses.iter().flatten() {
                let pod_name = a
                    .target_ref
                    .as_ref()
                    .filter(|r| r.kind.as_deref() == Some("Pod"))
                    .and_then(|r| r.name.clone());
                let key = pod_name.clone().unwrap_or_else(|| a.ip.clone());
                if !seen.insert(key.clone()) {
                    continue;
                }
                let pod = pod_name.and_then(|n| idx.objects.pods.get(ns, &n));
                not_ready.push(NotReady {
                    name: key,
                    pod,
                    reason: pod.map_or_else(|| "listed under notReadyAddresses".into(), pod_reason),
                    age: pod.map_or(svc_age, pod_age),
                });
            }
        }
        // Selected pods the Endpoints object does not list at all (no IP yet: Pending).
        for p in matched
            .iter()
            .copied()
            .filter(|p| pod_active(p) && !pod_ready(p))
        {
            let pname = p.metadata.name.clone().unwrap_or_default();
            if seen.insert(pname.clone()) {
                not_ready.push(NotReady {
                    name: pname,
                    pod: Some(p),
                    reason: pod_reason(p),
                    age: pod_age(p),
                });
            }
        }
        return Some(Health {
            from_endpoints: true,
            ready,
            not_ready,
            matched,
        });
    }

    if selector(svc).is_none() || !idx.has(Kind::Pod) {
        return None;
    }
    let mut ready = 0;
    let mut not_ready = Vec::new();
    for p in matched.iter().copied().filter(|p| pod_active(p)) {
        let has_ip = p.status.as_ref().and_then(|s| s.pod_ip.as_ref()).is_some();
        if pod_ready(p) || (publish_not_ready && has_ip) {
            ready += 1;
        } else {
            let name = p.metadata.name.clone().unwrap_or_default();
            not_ready.push(NotReady {
                name,
                pod: Some(p),
                reason: pod_reason(p),
                age: pod_age(p),
            });
        }
    }
    Some(Health {
        from_endpoints: false,
        ready,
        not_ready,
        matched,
    })
}

/// No ready endpoint, and not only because things are new: either some backend has been
/// not ready past the grace period (or can never become ready), or nothing backs the Service
/// and it is not new (or nothing will ever back it).
pub(crate) fn down(ctx: &Ctx, svc: &Service, h: &Health) -> bool {
    let age = age_of(ctx, &svc.metadata);
    h.ready == 0
        && (h.stale(ctx).next().is_some()
            || (h.not_ready.is_empty()
                && (age.is_none_or(|a| a > GRACE_SECS)
                    || (settled(age) && !h.certain(ctx, svc).is_empty()))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{index, now};

    const SVC: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop, creationTimestamp: "2025-12-01T00:00:00Z"}
spec:
  selector: {app: api}
  ports: [{port: 80, targetPort: 8080}]
"#;

    fn pod(name: &str, ready: bool, created: &str) -> String {
        format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: shop, labels: {{app: api}}, creationTimestamp: \"{created}\"}}\n\
             spec: {{containers: [{{name: api, image: x}}]}}\n\
             status: {{phase: Running, podIP: 10.0.0.1, conditions: [{{type: Ready, status: \"{}\"}}]}}\n",
            if ready { "True" } else { "False" }
        )
    }

    #[test]
    fn counts_from_pods_and_from_endpoints() {
        let yaml = format!(
            "{SVC}{}{}",
            pod("a", true, "2025-12-01T00:00:00Z"),
            pod("b", false, "2025-12-01T00:00:00Z")
        );
        let idx = index(&yaml, &[]);
        let ctx = Ctx::new(&idx, now());
        let svc = idx.objects.services.get("shop", "api").expect("svc");
        let h = health(&ctx, svc).expect("health");
        assert!(!h.from_endpoints);
        assert_eq!((h.ready, h.not_ready.len(), h.matched.len()), (1, 1, 2));
        assert!(!down(&ctx, svc, &h));

        let ep = "---\napiVersion: v1\nkind: Endpoints\nmetadata: {name: api, namespace: shop}\n\
                  subsets: [{notReadyAddresses: [{ip: 10.0.0.1, targetRef: {kind: Pod, name: a}}, {ip: 10.0.0.2, targetRef: {kind: Pod, name: b}}]}]\n";
        let idx = index(&format!("{yaml}{ep}"), &[]);
        let ctx = Ctx::new(&idx, now());
        let svc = idx.objects.services.get("shop", "api").expect("svc");
        let h = health(&ctx, svc).expect("health");
        assert!(h.from_endpoints);
        assert_eq!((h.ready, h.not_ready.len()), (0, 2));
        assert!(down(&ctx, svc, &h));
    }

    #[test]
    fn fresh_pods_are_not_down_and_unknown_without_data() {
        let yaml = format!("{SVC}{}", pod("a", false, "2026-01-01T11:59:00Z"));
        let idx = index(&yaml, &[]);
        let ctx = Ctx::new(&idx, now());
        let svc = idx.objects.services.get("shop", "api").expect("svc");
        let h = health(&ctx, svc).expect("health");
        assert!(
            !down(&ctx, svc, &h),
            "a pod created a minute ago may still be starting"
        );

        let idx = index(SVC, &[]);
        let ctx = Ctx::new(&idx, now());
        let svc = idx.objects.services.get("shop", "api").expect("svc");
        assert!(
            health(&ctx, svc).is_none(),
            "neither Pods nor Endpoints collected"
        );
    }
}
