//! Services that route to pods: a selector that matches nothing, no ready endpoints, a
//! targetPort no selected container declares, and LoadBalancers still waiting for an address.
//! ExternalName and selector-less Services are skipped: their endpoints are managed by hand.

pub(crate) mod endpoints;
mod selection;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kaptain_index::Kind;
use kaptain_model::{Category, Evidence, Finding, Severity};

use crate::certain::{certain_now, settled, which};
use crate::check::{Check, CheckInfo, Ctx};
use crate::util::{human_duration, latest_events, obj_ref, pod_ref};
use endpoints::{GRACE_SECS, age_of, fresh, health, routes_to_pods, selector};
use selection::{TemplateMatch, near_misses, workloads_matching};

const SELECTOR_NO_MATCH: CheckInfo = CheckInfo::new(
    "service.selector-no-match",
    Category::Network,
    Severity::High,
    "A Service's selector matches no pod in its namespace (often a typo in a label value)",
    &[
        Kind::Service,
        Kind::Pod,
        Kind::Deployment,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::ReplicaSet,
    ],
)
.confidence(0.9);

const NO_READY_ENDPOINTS: CheckInfo = CheckInfo::new(
    "service.no-ready-endpoints",
    Category::Network,
    Severity::Critical,
    "A Service's selected pods exist but are not Ready, so it has no (or too few) endpoints",
    &[
        Kind::Service,
        Kind::Endpoints,
        Kind::Pod,
        Kind::Deployment,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::ReplicaSet,
    ],
)
.confidence(0.95);

const TARGET_PORT_MISMATCH: CheckInfo = CheckInfo::new(
    "service.target-port-mismatch",
    Category::Network,
    Severity::High,
    "A Service's targetPort is not a port (number or name) the selected pods' containers declare",
    &[Kind::Service, Kind::Pod],
)
.confidence(0.8);

const LB_PENDING: CheckInfo = CheckInfo::new(
    "service.lb-pending",
    Category::Network,
    Severity::Low,
    "A LoadBalancer Service has had no external address for more than 10 minutes",
    &[Kind::Service, Kind::Event],
)
.confidence(0.85);

pub(crate) fn checks() -> Vec<Check> {
    vec![
        Check::new(SELECTOR_NO_MATCH, selector_no_match),
        Check::new(NO_READY_ENDPOINTS, no_ready_endpoints),
        Check::new(TARGET_PORT_MISMATCH, target_port_mismatch),
        Check::new(LB_PENDING, lb_pending),
    ]
}

/// Services that route to pods through a non-empty selector.
fn selecting<'a>(
    ctx: &Ctx<'a>,
) -> impl Iterator<Item = (&'a Service, &'a BTreeMap<String, String>)> + 'a {
    let idx = ctx.idx;
    idx.objects
        .services
        .iter()
        .filter(|s| routes_to_pods(s))
        .filter_map(|s| selector(s).map(|sel| (s, sel)))
}

fn ns_name(svc: &Service) -> (&str, &str) {
    crate::util::ns_name(&svc.metadata)
}

fn fmt_selector(sel: &BTreeMap<String, String>) -> String {
    sel.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `1 pod carries` / `3 pods carry`.
fn carry(n: usize) -> String {
    if n == 1 {
        "1 pod carries".into()
    } else {
        format!("{n} pods carry")
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// The distinct workloads the pods belong to, for messages (`Deployment/shop/frontend`).
fn owners(ctx: &Ctx, pods: &[&Pod]) -> String {
    let mut v: Vec<String> = pods
        .iter()
        .map(|p| ctx.idx.workload_of_pod(p).to_ref().display())
        .collect();
    v.sort();
    v.dedup();
    v.truncate(3);
    v.join(", ")
}

fn selector_no_match(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    if !ctx.idx.has(Kind::Pod) {
        return;
    }
    for (svc, sel) in selecting(ctx) {
        let (ns, name) = ns_name(svc);
        // Certain now, not after a grace period: no pod matches and (below) no pod template
        // in the namespace would make one, so waiting cannot fix it. Only the first seconds
        // after creation are held back (the rest of an applied directory may still arrive).
        if !settled(age_of(ctx, &svc.metadata)) || !ctx.idx.pods_matching_labels(ns, sel).is_empty()
        {
            continue;
        }
        // A workload whose template carries these labels: the selector is right, the pods
        // are missing (scaled to zero or failing to be created) — not a selector problem.
        if !workloads_matching(ctx, ns, sel).is_empty() {
            continue;
        }
        let sel_s = fmt_selector(sel);
        let misses = near_misses(ctx, ns, sel);
        let mut hints: Vec<String> = Vec::new();
        for (k, val, pods) in misses.iter().take(3) {
            let from = owners(ctx, pods);
            hints.push(match val {
                Some(v) => format!("Did you mean {k}={v}? {} it ({from})", carry(pods.len())),
                None => format!(
                    "{} match all but {k}={} (they have no {k} label; {from})",
                    plural(pods.len(), "pod"),
                    sel.get(k).map_or("", String::as_str)
                ),
            });
        }
        let pods_in_ns = ctx.idx.objects.pods.in_namespace(ns).count();
        let mut message = format!(
            "Service {name} selects pods labelled {sel_s}, but none of the {} in namespace {ns} carries those labels, \
             so it has no endpoints and every connection to it fails.",
            plural(pods_in_ns, "pod")
        );
        if !hints.is_empty() {
            message.push(' ');
            message.push_str(&hints.join("; "));
            message.push('.');
        }
        let mut evidence = vec![
            Evidence::spec(format!("spec.selector: {sel_s}")),
            Evidence::reference(format!(
                "no pod in namespace {ns} matches {sel_s} ({} checked)",
                plural(pods_in_ns, "pod")
            )),
            certain_now(format!(
                "no Deployment, StatefulSet, DaemonSet, ReplicaSet, Job or CronJob pod template \
                 in namespace {ns} carries {sel_s}"
            )),
        ];
        for (k, val, pods) in misses.iter().take(3) {
            let names: Vec<&str> = pods
                .iter()
                .take(3)
                .filter_map(|p| p.metadata.name.as_deref())
                .collect();
            let have = val
                .as_ref()
                .map_or_else(|| format!("no {k} label"), |v| format!("{k}={v}"));
            evidence.push(Evidence::reference(format!(
                "{} with {have}: {}",
                plural(pods.len(), "pod"),
                names.join(", ")
            )));
        }
        let mut cmds = vec![
            format!("kubectl -n {ns} get pods --show-labels"),
            format!("kubectl -n {ns} get service {name} -o yaml"),
        ];
        let mut f = ctx
            .finding(info, obj_ref(Kind::Service, &svc.metadata), "")
            .title(format!(
                "Service {ns}/{name} selects no pods: no pod carries {sel_s}"
            ))
            .message(message)
            .evidences(evidence);
        if let Some((k, Some(v), _)) = misses.first() {
            let patch = format!(r#"{{"spec":{{"selector":{{"{k}":"{v}"}}}}}}"#);
            cmds.push(format!("kubectl -n {ns} patch service {name} -p '{patch}'"));
            f = f.patch(patch);
        }
        f.fix(
            "Make the Service selector match the pods' labels (or fix the labels in the pod template).",
            cmds,
        )
        .push(out);
    }
}

fn no_ready_endpoints(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    for (svc, sel) in selecting(ctx) {
        let (ns, name) = ns_name(svc);
        let Some(h) = health(ctx, svc) else { continue };
        let obj = obj_ref(Kind::Service, &svc.metadata);
        let sel_s = fmt_selector(sel);
        let cmds = |extra: Vec<String>| {
            let mut v = vec![
                format!("kubectl -n {ns} get endpoints {name}"),
                format!("kubectl -n {ns} get pods -l {sel_s} -o wide"),
            ];
            v.extend(extra);
            v
        };
        if h.not_ready.is_empty() {
            // Nothing backs the Service. If a workload should provide pods but has none,
            // the workload is where the cause lies; a selector typo is selector-no-match.
            if h.ready > 0 || !h.matched.is_empty() || !ctx.idx.has(Kind::Pod) {
                continue;
            }
            // Past the grace period, or certain now: the workload's template cannot produce
            // pods that become ready (a missing ServiceAccount, ConfigMap, ...).
            let svc_old = !fresh(ctx, &svc.metadata);
            let wanted: Vec<TemplateMatch> = workloads_matching(ctx, ns, sel)
                .into_iter()
                .filter(|w| {
                    w.desired > 0
                        && ((svc_old && w.age.is_none_or(|a| a > GRACE_SECS))
                            || (!w.blocked.is_empty()
                                && settled(w.age)
                                && settled(age_of(ctx, &svc.metadata))))
                })
                .collect();
            if wanted.is_empty() {
                continue;
            }
            let names: Vec<String> = wanted
                .iter()
                .map(|w| format!("{} (wants {})", w.obj.display(), w.desired))
                .collect();
            ctx.finding(info, obj, "")
                .title(format!("Service {ns}/{name} has no ready endpoints (0 pods match, {} wants {})", wanted[0].obj.display(), wanted[0].desired))
                .message(format!(
                    "Service {name} selects {sel_s} and {} would provide such pods, but none exist, so the Service has no endpoints \
                     and every connection to it fails. The workload cannot create its pods; see its findings and events.",
                    names.join(", ")
                ))
                .evidence(Evidence::status(format!("0 pods in namespace {ns} match {sel_s}")))
                .evidences(wanted.iter().map(|w| Evidence::reference(format!("{} pod template carries {sel_s}; wants {} pods", w.obj.display(), w.desired))))
                .evidence(which(
                    &wanted.iter().flat_map(|w| w.blocked.iter().cloned()).collect::<Vec<_>>(),
                    "the workload may still be creating its pods",
                    GRACE_SECS,
                ))
                .cause_hints(wanted.iter().map(|w| w.obj.clone()))
                .fix(
                    "Find out why the workload has no pods (kubectl describe shows FailedCreate events).",
                    cmds(wanted.iter().map(|w| format!("kubectl -n {ns} describe {}", w.obj.kubectl_name())).collect()),
                )
                .push(out);
            continue;
        }
        let stale: Vec<_> = h.stale(ctx).collect();
        if stale.is_empty() {
            continue;
        }
        let total = h.total();
        let nr = h.not_ready.len();
        let (severity, title) = if h.ready == 0 {
            (
                Severity::Critical,
                format!(
                    "Service {ns}/{name} has no ready endpoints ({} match, 0 ready)",
                    plural(total, "pod")
                ),
            )
        } else {
            (
                Severity::High,
                format!(
                    "Service {ns}/{name} has {nr} of {total} endpoints not ready ({} ready)",
                    h.ready
                ),
            )
        };
        let oldest = stale
            .iter()
            .filter_map(|n| n.age)
            .max()
            .map(|a| format!(" (pods up to {} old)", human_duration(a)))
            .unwrap_or_default();
        let impact = if h.ready == 0 {
            "every connection to it fails".to_string()
        } else {
            format!("only {} serve its traffic", plural(h.ready, "pod"))
        };
        ctx.finding(info, obj, "")
            .severity(severity)
            .title(title)
            .message(format!(
                "Service {name} selects {sel_s}; {nr} of its {total} backends {} not Ready{oldest}, so {impact}. \
                 Pods leave the endpoints while their readiness fails; the cause is on the pods: {}.",
                if nr == 1 { "is" } else { "are" },
                stale.iter().take(3).map(|n| format!("{} ({})", n.name, n.reason)).collect::<Vec<_>>().join(", ")
            ))
            .evidence(Evidence::status(h.summary()))
            .evidences(stale.iter().take(5).map(|n| Evidence::status(format!("{} not ready: {}", n.name, n.reason))))
            .evidence(which(&h.blocked(ctx), "pods starting or endpoints not ready yet", GRACE_SECS))
            .cause_hints(h.not_ready.iter().filter_map(|n| n.pod).map(pod_ref))
            .fix(
                "Fix the pods so they become Ready (see their findings): crash loops, image pulls, failing readiness probes.",
                cmds(h.not_ready.iter().take(2).map(|n| format!("kubectl -n {ns} describe pod {}", n.name)).collect()),
            )
            .push(out);
    }
}

/// One declared container port: `(pod, container, name, number)`.
type Declared<'a> = (&'a str, &'a str, Option<&'a str>, i32);

fn declared_ports<'a>(pods: &[&'a Pod]) -> Vec<Declared<'a>> {
    let mut v = Vec::new();
    for p in pods {
        let pname = p.metadata.name.as_deref().unwrap_or("");
        let Some(spec) = p.spec.as_ref() else {
            continue;
        };
        // Native sidecars (init containers that keep running) serve ports too.
        let sidecars = spec
            .init_containers
            .iter()
            .flatten()
            .filter(|c| c.restart_policy.as_deref() == Some("Always"));
        for c in spec.containers.iter().chain(sidecars) {
            for cp in c.ports.iter().flatten() {
                v.push((
                    pname,
                    c.name.as_str(),
                    cp.name.as_deref(),
                    cp.container_port,
                ));
            }
        }
    }
    v
}

fn target_port_mismatch(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    if !ctx.idx.has(Kind::Pod) {
        return;
    }
    for (svc, sel) in selecting(ctx) {
        let (ns, name) = ns_name(svc);
        let pods = ctx.idx.pods_matching_labels(ns, sel);
        if pods.is_empty() {
            continue;
        }
        let declared = declared_ports(&pods);
        // Distinct `container name:port` across the selected pods, for messages.
        let mut shown: Vec<String> = declared
            .iter()
            .map(|(_, c, n, p)| match n {
                Some(n) => format!("{n}:{p} (container {c})"),
                None => format!("{p} (container {c})"),
            })
            .collect();
        shown.sort();
        shown.dedup();
        let mut numbers: Vec<i32> = declared.iter().map(|d| d.3).collect();
        numbers.sort_unstable();
        numbers.dedup();
        for (i, sp) in svc
            .spec
            .iter()
            .flat_map(|s| s.ports.iter().flatten())
            .enumerate()
        {
            let target = sp.target_port.clone().unwrap_or(IntOrString::Int(sp.port));
            let proto = sp.protocol.as_deref().unwrap_or("TCP");
            let (ok, what, confidence) = match &target {
                // Undeclared ports are legal: only judge when the containers declare ports.
                IntOrString::Int(n) => (
                    declared.is_empty() || declared.iter().any(|d| d.3 == *n),
                    format!("port {n}"),
                    0.75,
                ),
                IntOrString::String(s) => (
                    declared.iter().any(|d| d.2 == Some(s.as_str())),
                    format!("named port {s:?}"),
                    0.95,
                ),
            };
            if ok {
                continue;
            }
            let declares = if shown.is_empty() {
                "no ports".to_string()
            } else {
                shown.join(", ")
            };
            let port_label = sp
                .name
                .as_deref()
                .map_or_else(|| sp.port.to_string(), |n| format!("{} ({n})", sp.port));
            let mut f = ctx
                .finding(info, obj_ref(Kind::Service, &svc.metadata), &sp.port.to_string())
                .confidence(confidence)
                .title(format!("Service {ns}/{name} port {port_label} targets {what}, which no selected container declares"))
                .message(match &target {
                    IntOrString::Int(_) => format!(
                        "Service {name} forwards port {} to {what} of its pods, but their containers declare only {declares}. \
                         Unless the application also listens on {what} without declaring it, connections are refused.",
                        sp.port
                    ),
                    IntOrString::String(_) => format!(
                        "Service {name} forwards port {} to the {what}, but no container of the {} it selects names a port so \
                         (they declare {declares}); the port cannot be resolved and gets no endpoints.",
                        sp.port,
                        plural(pods.len(), "pod")
                    ),
                })
                .evidence(Evidence::spec(format!(
                    "spec.ports[{i}]: port {}/{proto} → targetPort {}",
                    sp.port,
                    match &target {
                        IntOrString::Int(n) => n.to_string(),
                        IntOrString::String(s) => s.clone(),
                    }
                )))
                .evidence(Evidence::spec(format!("selected pods ({}) declare: {declares}", pods.len())));
            let mut cmds = vec![format!(
                "kubectl -n {ns} get pods -l {} -o jsonpath='{{.items[0].spec.containers[*].ports}}'",
                fmt_selector(sel)
            )];
            if let [only] = numbers.as_slice() {
                let patch = format!(
                    r#"{{"spec":{{"ports":[{{"port":{},"targetPort":{only}}}]}}}}"#,
                    sp.port
                );
                cmds.push(format!("kubectl -n {ns} patch service {name} -p '{patch}'"));
                f = f.patch(patch);
            } else {
                cmds.push(format!("kubectl -n {ns} edit service {name}"));
            }
            f.fix("Point targetPort at a port the containers listen on (or declare the port in the pod template).", cmds).push(out);
        }
    }
}

fn lb_pending(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    for svc in ctx.idx.objects.services.iter() {
        if svc.spec.as_ref().and_then(|s| s.type_.as_deref()) != Some("LoadBalancer") {
            continue;
        }
        let has_addr = svc
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|l| l.ingress.as_ref())
            .is_some_and(|i| !i.is_empty());
        let Some(age) = age_of(ctx, &svc.metadata) else {
            continue;
        };
        if has_addr || age <= 600 {
            continue;
        }
        let (ns, name) = ns_name(svc);
        let events = crate::util::events_with(ctx.idx, Kind::Service, &svc.metadata, &[]);
        let class = svc
            .spec
            .as_ref()
            .and_then(|s| s.load_balancer_class.as_deref());
        ctx.finding(info, obj_ref(Kind::Service, &svc.metadata), "")
            .title(format!("LoadBalancer Service {ns}/{name} has had no external address for {}", human_duration(age)))
            .message(format!(
                "Service {name} is of type LoadBalancer but status.loadBalancer.ingress is still empty {} after creation. \
                 No load-balancer controller{} has provisioned it: on bare metal or kind/minikube none may be installed \
                 (e.g. MetalLB), or the cloud controller failed (quota, permissions, subnet tags). The Service still works \
                 inside the cluster and on its node ports.",
                human_duration(age),
                class.map(|c| format!(" for class {c}")).unwrap_or_default()
            ))
            .evidence(Evidence::status("status.loadBalancer.ingress: empty"))
            .evidences(latest_events(&events, ctx.now, 3))
            .fix(
                "Check the load-balancer controller's events and logs, install one (e.g. MetalLB) on bare metal, or use NodePort/Ingress instead.",
                [format!("kubectl -n {ns} describe service {name}"), format!("kubectl -n {ns} get events --field-selector involvedObject.name={name}")],
            )
            .push(out);
    }
}

#[cfg(test)]
mod tests;
