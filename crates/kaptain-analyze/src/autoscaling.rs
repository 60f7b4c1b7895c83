//! HorizontalPodAutoscalers (autoscaling/v2): a scale target that does not exist, utilization
//! targets on containers without requests, HPAs pinned at maxReplicas under load, and HPAs
//! that cannot scale at all.

use k8s_openapi::api::autoscaling::v2::{
    HorizontalPodAutoscaler, HorizontalPodAutoscalerCondition, MetricSpec, MetricStatus,
    MetricTarget, MetricValueStatus,
};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use kaptain_index::Kind;
use kaptain_model::{Category, Evidence, EvidenceSource, Finding, ObjectRef, Severity};

use crate::certain::{certain_now, did_you_mean, due, names_in, one_edit_away, which};
use crate::check::{Check, CheckInfo, Ctx};
use crate::util::{
    events_with, human_duration, latest_events, ns_name, obj_ref, parse_quantity as quantity,
    ref_to,
};
use crate::workload::{GRACE_SECS, age, since};

const TARGETS: &[Kind] = &[Kind::Deployment, Kind::StatefulSet, Kind::ReplicaSet];

const MISSING_TARGET: CheckInfo = CheckInfo::new(
    "hpa.missing-target",
    Category::Config,
    Severity::High,
    "An HPA's scaleTargetRef names a Deployment, StatefulSet or ReplicaSet that does not exist",
    &[
        Kind::HorizontalPodAutoscaler,
        Kind::Deployment,
        Kind::StatefulSet,
        Kind::ReplicaSet,
        Kind::Event,
    ],
)
.confidence(0.95);

const MISSING_REQUESTS: CheckInfo = CheckInfo::new(
    "hpa.missing-requests",
    Category::Config,
    Severity::Medium,
    "An HPA targets CPU/memory utilization but a container of its target has no request for it",
    &[
        Kind::HorizontalPodAutoscaler,
        Kind::Deployment,
        Kind::StatefulSet,
        Kind::ReplicaSet,
        Kind::Pod,
        Kind::Event,
    ],
);

const AT_MAX: CheckInfo = CheckInfo::new(
    "hpa.at-max",
    Category::Capacity,
    Severity::Medium,
    "An HPA runs at maxReplicas and wants more: the workload is under-provisioned",
    &[Kind::HorizontalPodAutoscaler],
)
.confidence(0.85);

const UNABLE: CheckInfo = CheckInfo::new(
    "hpa.unable-to-scale",
    Category::Reliability,
    Severity::Medium,
    "An HPA cannot scale (AbleToScale or ScalingActive is False) for longer than 5 minutes",
    &[Kind::HorizontalPodAutoscaler, Kind::Event],
);

pub(crate) fn checks() -> Vec<Check> {
    vec![
        Check::new(MISSING_TARGET, missing_target),
        Check::new(MISSING_REQUESTS, missing_requests),
        Check::new(AT_MAX, at_max),
        Check::new(UNABLE, unable_to_scale),
    ]
}

fn target_kind(h: &HorizontalPodAutoscaler) -> Option<Kind> {
    let k = Kind::parse(&h.spec.as_ref()?.scale_target_ref.kind)?;
    TARGETS.contains(&k).then_some(k)
}

/// `Deployment shop/x does not exist` when the HPA's scale target is missing (its kind
/// collected).
fn target_missing(ctx: &Ctx, h: &HorizontalPodAutoscaler) -> Option<String> {
    let kind = target_kind(h)?;
    let (ns, _) = ns_name(&h.metadata);
    let target = target_name(h);
    (ctx.idx.has(kind) && !ctx.idx.exists(kind, ns, target))
        .then(|| format!("{} {ns}/{target} does not exist", kind.name()))
}

fn target_name(h: &HorizontalPodAutoscaler) -> &str {
    h.spec
        .as_ref()
        .map_or("", |s| s.scale_target_ref.name.as_str())
}

fn hpa_condition<'a>(
    h: &'a HorizontalPodAutoscaler,
    t: &str,
) -> Option<&'a HorizontalPodAutoscalerCondition> {
    h.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == t)
}

fn condition_line(c: &HorizontalPodAutoscalerCondition) -> Evidence {
    Evidence::status(format!(
        "condition {}={} ({}): {}",
        c.type_,
        c.status,
        c.reason.as_deref().unwrap_or("no reason"),
        c.message.as_deref().unwrap_or("").trim()
    ))
}

fn warnings(ctx: &Ctx, h: &HorizontalPodAutoscaler, reasons: &[&str], max: usize) -> Vec<Evidence> {
    let ev: Vec<_> = events_with(ctx.idx, Kind::HorizontalPodAutoscaler, &h.metadata, reasons)
        .into_iter()
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .collect();
    latest_events(&ev, ctx.now, max)
}

fn missing_target(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    for h in ctx.idx.objects.hpas.iter() {
        let Some(kind) = target_kind(h) else { continue };
        let (ns, name) = ns_name(&h.metadata);
        let target = target_name(h);
        let Some(missing) = target_missing(ctx, h) else {
            continue;
        };
        let hint = one_edit_away(target, names_in(ctx, kind, ns).iter().map(String::as_str))
            .map(|n| format!(" ({})", did_you_mean(n)))
            .unwrap_or_default();
        let k = kind.name();
        ctx.finding(
            info,
            obj_ref(Kind::HorizontalPodAutoscaler, &h.metadata),
            "",
        )
        .title(format!(
            "HPA {ns}/{name} scales {k} {target}, which does not exist"
        ))
        .message(format!(
            "HorizontalPodAutoscaler {name} points its scaleTargetRef at {k} {target}, but no \
                 such {k} exists in namespace {ns}. The HPA scales nothing; if the workload was \
                 renamed, it now runs without autoscaling."
        ))
        .evidence(Evidence::spec(format!("spec.scaleTargetRef: {k}/{target}")))
        .evidence(certain_now(missing))
        .evidences(warnings(ctx, h, &["FailedGetScale"], 1))
        .fix(
            format!("Point scaleTargetRef at the workload's current name{hint}, or delete the stale HPA."),
            [
                format!("kubectl -n {ns} get deployments,statefulsets"),
                format!("kubectl -n {ns} edit hpa {name}"),
                format!("kubectl -n {ns} delete hpa {name}   # if it is no longer needed"),
            ],
        )
        .push(out);
    }
}

/// The pod template of an HPA's target, if collected.
fn target_template<'a>(
    ctx: &Ctx<'a>,
    kind: Kind,
    ns: &str,
    name: &str,
) -> Option<&'a PodTemplateSpec> {
    let s = &ctx.idx.objects;
    match kind {
        Kind::Deployment => s
            .deployments
            .get(ns, name)?
            .spec
            .as_ref()
            .map(|s| &s.template),
        Kind::StatefulSet => s
            .statefulsets
            .get(ns, name)?
            .spec
            .as_ref()
            .map(|s| &s.template),
        Kind::ReplicaSet => s
            .replicasets
            .get(ns, name)?
            .spec
            .as_ref()?
            .template
            .as_ref(),
        _ => None,
    }
}

/// (resource, container filter) of each Utilization metric.
fn utilization_metrics(metrics: &[MetricSpec]) -> Vec<(&str, Option<&str>)> {
    metrics
        .iter()
        .filter_map(
            |m| match (m.resource.as_ref(), m.container_resource.as_ref()) {
                (Some(r), _) if m.type_ == "Resource" && r.target.type_ == "Utilization" => {
                    Some((r.name.as_str(), None))
                }
                (_, Some(c))
                    if m.type_ == "ContainerResource" && c.target.type_ == "Utilization" =>
                {
                    Some((c.name.as_str(), Some(c.container.as_str())))
                }
                _ => None,
            },
        )
        .collect()
}

fn missing_requests(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    for h in ctx.idx.objects.hpas.iter() {
        let Some(kind) = target_kind(h) else { continue };
        let (ns, name) = ns_name(&h.metadata);
        let target = target_name(h);
        let Some(tpl) = target_template(ctx, kind, ns, target) else {
            continue;
        };
        let metrics = h
            .spec
            .as_ref()
            .and_then(|s| s.metrics.as_deref())
            .unwrap_or(&[]);
        let pods: Vec<&Pod> = ctx.idx.pods_of(kind, ns, target);
        for (res, only) in utilization_metrics(metrics) {
            let containers = tpl
                .spec
                .as_ref()
                .map(|s| s.containers.as_slice())
                .unwrap_or(&[]);
            // In the template a limit alone also counts: the API server defaults the request to it.
            let lacking: Vec<&str> = containers
                .iter()
                .filter(|c| only.is_none_or(|o| o == c.name))
                .filter(|c| {
                    let r = c.resources.as_ref();
                    !r.and_then(|r| r.requests.as_ref())
                        .is_some_and(|m| m.contains_key(res))
                        && !r
                            .and_then(|r| r.limits.as_ref())
                            .is_some_and(|m| m.contains_key(res))
                })
                .map(|c| c.name.as_str())
                .collect();
            if lacking.is_empty() {
                continue;
            }
            // A LimitRange may have given the running pods a default request: trust the pods.
            let pods_have_it = !pods.is_empty()
                && pods.iter().all(|p| {
                    p.spec.as_ref().is_some_and(|s| {
                        s.containers
                            .iter()
                            .filter(|c| lacking.contains(&c.name.as_str()))
                            .all(|c| {
                                c.resources
                                    .as_ref()
                                    .and_then(|r| r.requests.as_ref())
                                    .is_some_and(|m| m.contains_key(res))
                            })
                    })
                });
            if pods_have_it {
                continue;
            }
            let k = kind.name();
            let list = lacking.join(", ");
            let mut evidence = vec![
                Evidence::spec(format!(
                    "HPA metric: {res} Utilization{}",
                    only.map(|c| format!(" of container {c}"))
                        .unwrap_or_default()
                )),
                Evidence::spec(format!(
                    "{k} {target}: container(s) {list} have no resources.requests.{res}"
                )),
            ];
            evidence.extend(
                hpa_condition(h, "ScalingActive")
                    .filter(|c| c.status == "False")
                    .map(condition_line),
            );
            evidence.extend(warnings(
                ctx,
                h,
                &["FailedGetResourceMetric", "FailedComputeMetricsReplicas"],
                2,
            ));
            let first = lacking[0];
            let example = if res == "memory" { "256Mi" } else { "100m" };
            let patch_containers: String = lacking
                .iter()
                .map(|c| format!("      - name: {c}\n        resources:\n          requests:\n            {res}: {example}   # set to the real need\n"))
                .collect();
            ctx.finding(info, obj_ref(Kind::HorizontalPodAutoscaler, &h.metadata), res)
                .title(format!(
                    "HPA {ns}/{name} targets {res} utilization but {k} {target} sets no {res} request (container {list})"
                ))
                .message(format!(
                    "Utilization is usage as a percentage of the request, so the HPA cannot compute \
                     {res} utilization for pods whose containers ({list}) have no {res} request. It \
                     fails to get the metric and does not scale on it."
                ))
                .evidences(evidence)
                .fix(
                    format!("Set resources.requests.{res} on container(s) {list} of {k} {target}."),
                    [format!(
                        "kubectl -n {ns} set resources {}/{target} -c {first} --requests={res}={example}",
                        k.to_ascii_lowercase()
                    )],
                )
                .patch(format!("spec:\n  template:\n    spec:\n      containers:\n{patch_containers}"))
                .push(out);
        }
    }
}

/// `cpu: 180% of requests (target 70%)` if the current value is over 110% of the target
/// (the HPA's own 10% tolerance).
fn over_target(label: &str, t: &MetricTarget, c: &MetricValueStatus) -> Option<String> {
    let (cur, tgt, txt) = match t.type_.as_str() {
        "Utilization" => {
            let (cu, tu) = (c.average_utilization?, t.average_utilization?);
            (
                f64::from(cu),
                f64::from(tu),
                format!("{label}: {cu}% of requests (target {tu}%)"),
            )
        }
        "AverageValue" => {
            let (cv, tv) = (c.average_value.as_ref()?, t.average_value.as_ref()?);
            (
                quantity(&cv.0)?,
                quantity(&tv.0)?,
                format!("{label}: average {} (target {})", cv.0, tv.0),
            )
        }
        "Value" => {
            let (cv, tv) = (c.value.as_ref()?, t.value.as_ref()?);
            (
                quantity(&cv.0)?,
                quantity(&tv.0)?,
                format!("{label}: {} (target {})", cv.0, tv.0),
            )
        }
        _ => return None,
    };
    (tgt > 0.0 && cur > tgt * 1.1).then_some(txt)
}

/// Metrics whose current value is above target.
fn metrics_over_target(spec: &[MetricSpec], status: &[MetricStatus]) -> Vec<String> {
    let mut out = Vec::new();
    for m in spec {
        let found = status.iter().find_map(|s| match (m.type_.as_str(), s) {
            (
                "Resource",
                MetricStatus {
                    resource: Some(c), ..
                },
            ) => {
                let r = m.resource.as_ref()?;
                (r.name == c.name).then(|| over_target(&r.name, &r.target, &c.current))
            }
            (
                "ContainerResource",
                MetricStatus {
                    container_resource: Some(c),
                    ..
                },
            ) => {
                let r = m.container_resource.as_ref()?;
                (r.name == c.name && r.container == c.container).then(|| {
                    over_target(
                        &format!("{} of container {}", r.name, r.container),
                        &r.target,
                        &c.current,
                    )
                })
            }
            ("Pods", MetricStatus { pods: Some(c), .. }) => {
                let r = m.pods.as_ref()?;
                (r.metric.name == c.metric.name)
                    .then(|| over_target(&r.metric.name, &r.target, &c.current))
            }
            (
                "Object",
                MetricStatus {
                    object: Some(c), ..
                },
            ) => {
                let r = m.object.as_ref()?;
                (r.metric.name == c.metric.name)
                    .then(|| over_target(&r.metric.name, &r.target, &c.current))
            }
            (
                "External",
                MetricStatus {
                    external: Some(c), ..
                },
            ) => {
                let r = m.external.as_ref()?;
                (r.metric.name == c.metric.name)
                    .then(|| over_target(&r.metric.name, &r.target, &c.current))
            }
            _ => None,
        });
        out.extend(found.flatten());
    }
    out
}

fn at_max(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    for h in ctx.idx.objects.hpas.iter() {
        let (Some(spec), Some(st)) = (h.spec.as_ref(), h.status.as_ref()) else {
            continue;
        };
        let (max, min) = (spec.max_replicas, spec.min_replicas.unwrap_or(1));
        let current = st.current_replicas.unwrap_or(0);
        // min == max is a fixed size chosen on purpose; below max is not "at max".
        if min >= max || current < max {
            continue;
        }
        let limited = hpa_condition(h, "ScalingLimited")
            .filter(|c| c.status == "True" && c.reason.as_deref() == Some("TooManyReplicas"));
        let over = metrics_over_target(
            spec.metrics.as_deref().unwrap_or(&[]),
            st.current_metrics.as_deref().unwrap_or(&[]),
        );
        if limited.is_none() && st.desired_replicas <= max && over.is_empty() {
            continue;
        }
        let (ns, name) = ns_name(&h.metadata);
        let target = target_name(h);
        let mut evidence = vec![Evidence::status(format!(
            "currentReplicas={current}, desiredReplicas={}, minReplicas={min}, maxReplicas={max}",
            st.desired_replicas
        ))];
        evidence.extend(limited.map(condition_line));
        evidence.extend(over.iter().map(|o| Evidence {
            source: EvidenceSource::Metric,
            detail: o.clone(),
        }));
        let new_max = max + (max / 2).max(1);
        let load = if over.is_empty() {
            String::new()
        } else {
            format!(" Load is above target ({}).", over.join("; "))
        };
        ctx.finding(info, obj_ref(Kind::HorizontalPodAutoscaler, &h.metadata), "")
            .title(format!("HPA {ns}/{name} is at maxReplicas ({max}) and wants more"))
            .message(format!(
                "HPA {name} runs {target} at its maximum of {max} replicas and would scale further \
                 if allowed.{load} Latency or errors may rise under load until maxReplicas is \
                 raised or the pods get more resources."
            ))
            .evidences(evidence)
            .fix(
                format!("Raise maxReplicas (e.g. to {new_max}) if the cluster has room, or give the pods more resources."),
                [
                    format!("kubectl -n {ns} patch hpa {name} -p '{{\"spec\":{{\"maxReplicas\":{new_max}}}}}'"),
                    format!("kubectl -n {ns} describe hpa {name}"),
                ],
            )
            .patch(format!("spec:\n  maxReplicas: {new_max}\n"))
            .push(out);
    }
}

fn unable_to_scale(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    for h in ctx.idx.objects.hpas.iter() {
        // Certain now when the scale target does not exist; anything else (metrics not there
        // yet, a passing API error) may resolve within the grace period.
        let certain: Vec<String> = target_missing(ctx, h).into_iter().collect();
        let bad = ["AbleToScale", "ScalingActive"].into_iter().filter_map(|t| hpa_condition(h, t)).find(|c| {
            c.status == "False"
                // Scaling is disabled on purpose when the target is scaled to zero.
                && c.reason.as_deref() != Some("ScalingDisabled")
                && due(
                    Some(since(ctx, c.last_transition_time.as_ref()).unwrap_or(age(ctx, &h.metadata))),
                    !certain.is_empty(),
                    GRACE_SECS,
                )
        });
        let Some(c) = bad else { continue };
        let (ns, name) = ns_name(&h.metadata);
        let reason = c.reason.as_deref().unwrap_or("unknown");
        let target = target_name(h);
        let tkind = h
            .spec
            .as_ref()
            .map_or("", |s| s.scale_target_ref.kind.as_str());
        let since_txt = since(ctx, c.last_transition_time.as_ref())
            .map(|s| format!(" for {}", human_duration(s)))
            .unwrap_or_default();
        let (hint, mut commands) = match reason {
            r if r.contains("Metric") => (
                "Check that the metrics pipeline (metrics-server or the custom/external metrics adapter) works and that the pods report metrics.",
                vec![
                    "kubectl get apiservices | grep metrics".to_string(),
                    format!("kubectl -n {ns} top pods"),
                ],
            ),
            "FailedGetScale" | "FailedUpdateScale" => (
                "Check that the scale target exists and that the HPA controller may read and update its scale subresource.",
                vec![format!(
                    "kubectl -n {ns} get {} {target}",
                    tkind.to_ascii_lowercase()
                )],
            ),
            "InvalidSelector" => (
                "The target's label selector is invalid or overlaps another HPA's target; make it unique.",
                vec![format!("kubectl -n {ns} get hpa")],
            ),
            _ => (
                "Read the condition message and the HPA's events.",
                Vec::new(),
            ),
        };
        commands.push(format!("kubectl -n {ns} describe hpa {name}"));
        let mut hints: Vec<ObjectRef> = vec![obj_ref(Kind::HorizontalPodAutoscaler, &h.metadata)];
        if let Some(k) = Kind::parse(tkind) {
            hints.push(ref_to(k, ns, target));
        }
        ctx.finding(
            info,
            obj_ref(Kind::HorizontalPodAutoscaler, &h.metadata),
            "",
        )
        .title(format!(
            "HPA {ns}/{name} cannot scale {tkind} {target}: {reason}"
        ))
        .message(format!(
            "HPA {name} reports {}=False ({reason}){since_txt}: {}. While this lasts it does not \
                 adjust the replica count of {tkind} {target}.",
            c.type_,
            c.message.as_deref().unwrap_or("no message").trim()
        ))
        .evidence(condition_line(c))
        .evidences(warnings(ctx, h, &[], 3))
        .evidence(which(
            &certain,
            "metrics or the scale target may still appear",
            GRACE_SECS,
        ))
        .fix(hint, commands)
        .cause_hints(hints)
        .push(out);
    }
}

#[cfg(test)]
mod tests;
