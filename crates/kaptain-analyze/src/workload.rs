//! Workload health: Deployments, StatefulSets and DaemonSets that lack the ready pods they
//! want (past a grace period), stuck rollouts, misscheduled daemon pods, and controllers that
//! cannot create pods at all (quota, admission, missing ServiceAccount; see [`create`]).

mod create;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, ReplicaSet};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use kaptain_index::Kind;
use kaptain_model::{Category, Evidence, Finding, ObjectRef, Severity};

use crate::certain::{due, spec_blockers, which};
use crate::check::{Check, CheckInfo, Ctx};
use crate::util::{events_with, human_duration, latest_events, ns_name, obj_ref, pod_ref};

pub(crate) use create::pod_state;

/// How long a shortfall must last before it is a finding (rollouts and restarts are normal).
pub(crate) const GRACE_SECS: i64 = 300;

const DEPLOYMENT_UNAVAILABLE: CheckInfo = CheckInfo::new(
    "deployment.unavailable",
    Category::Reliability,
    Severity::High,
    "A Deployment has fewer available replicas than it wants, for longer than 5 minutes",
    &[Kind::Deployment, Kind::ReplicaSet, Kind::Pod, Kind::Event],
);

const PROGRESS_DEADLINE: CheckInfo = CheckInfo::new(
    "deployment.progress-deadline-exceeded",
    Category::Reliability,
    Severity::High,
    "A Deployment rollout is stuck: no progress within progressDeadlineSeconds",
    &[Kind::Deployment, Kind::ReplicaSet, Kind::Pod, Kind::Event],
)
.confidence(0.95);

const STS_UNAVAILABLE: CheckInfo = CheckInfo::new(
    "statefulset.unavailable",
    Category::Reliability,
    Severity::High,
    "A StatefulSet has fewer ready replicas than it wants, for longer than 5 minutes",
    &[Kind::StatefulSet, Kind::Pod, Kind::Event],
);

const DS_UNAVAILABLE: CheckInfo = CheckInfo::new(
    "daemonset.unavailable",
    Category::Reliability,
    Severity::High,
    "A DaemonSet has pods that are not ready or not scheduled, for longer than 5 minutes",
    &[Kind::DaemonSet, Kind::Pod, Kind::Event],
);

const DS_MISSCHEDULED: CheckInfo = CheckInfo::new(
    "daemonset.misscheduled",
    Category::Scheduling,
    Severity::Low,
    "A DaemonSet runs pods on nodes where it should not (labels, taints or its selector changed)",
    &[Kind::DaemonSet],
);

pub(crate) fn checks() -> Vec<Check> {
    vec![
        Check::new(DEPLOYMENT_UNAVAILABLE, deployment_unavailable),
        Check::new(PROGRESS_DEADLINE, progress_deadline),
        Check::new(STS_UNAVAILABLE, statefulset_unavailable),
        Check::new(DS_UNAVAILABLE, daemonset_unavailable),
        Check::new(DS_MISSCHEDULED, daemonset_misscheduled),
        Check::new(create::FAILED_CREATE, create::failed_create),
    ]
}

// ---- shared helpers (also used by job, autoscaling and policy) ----

/// Seconds since a timestamp, if there is one.
pub(crate) fn since(ctx: &Ctx, t: Option<&Time>) -> Option<i64> {
    t.map(|t| ctx.age_secs(t.0))
}

/// Age of an object; an object without creationTimestamp (a hand-written file) counts as old.
pub(crate) fn age(ctx: &Ctx, meta: &ObjectMeta) -> i64 {
    since(ctx, meta.creation_timestamp.as_ref()).unwrap_or(i64::MAX)
}

/// `app=api,tier=web` from matchLabels, for `kubectl get pods -l`.
pub(crate) fn selector_string(sel: Option<&LabelSelector>) -> Option<String> {
    let ml = sel?.match_labels.as_ref()?;
    (!ml.is_empty()).then(|| {
        ml.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    })
}

/// `kubectl -n ns get pods -l sel -o wide`.
pub(crate) fn get_pods_cmd(ns: &str, sel: Option<&LabelSelector>) -> String {
    match selector_string(sel) {
        Some(s) => format!("kubectl -n {ns} get pods -l {s} -o wide"),
        None => format!("kubectl -n {ns} get pods -o wide"),
    }
}

fn ready_condition(p: &Pod) -> Option<&k8s_openapi::api::core::v1::PodCondition> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
}

pub(crate) fn pod_ready(p: &Pod) -> bool {
    ready_condition(p).is_some_and(|c| c.status == "True")
}

/// A pod that counts towards its controller: not being deleted and not finished.
fn pod_live(p: &Pod) -> bool {
    let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
    p.metadata.deletion_timestamp.is_none() && !matches!(phase, Some("Succeeded" | "Failed"))
}

/// Whether a workload's shortfall has outlasted the grace period, judged from its pods: some
/// pod has not been ready for 5 minutes, or pods are missing and none was created recently.
/// Without collected pods the caller relies on the workload's age alone.
pub(crate) fn shortfall_settled(ctx: &Ctx, pods: &[&Pod], desired: i32) -> bool {
    if !ctx.idx.has(Kind::Pod) {
        return true;
    }
    let live: Vec<&Pod> = pods.iter().copied().filter(|p| pod_live(p)).collect();
    let old = |p: &Pod| age(ctx, &p.metadata) >= GRACE_SECS;
    let stuck_unready = live.iter().any(|p| {
        !pod_ready(p)
            && old(p)
            && since(
                ctx,
                ready_condition(p).and_then(|c| c.last_transition_time.as_ref()),
            )
            .is_none_or(|s| s >= GRACE_SECS)
    });
    let missing = (live.len() as i64) < i64::from(desired);
    stuck_unready || (missing && pods.iter().all(|p| old(p)))
}

/// What in a workload's pod template keeps its pods from ever becoming ready, for certain
/// (see [`spec_blockers`]).
pub(crate) fn template_blockers(
    ctx: &Ctx,
    meta: &ObjectMeta,
    t: Option<&PodTemplateSpec>,
) -> Vec<String> {
    let ns = meta.namespace.as_deref().unwrap_or("");
    t.and_then(|t| t.spec.as_ref())
        .map(|s| spec_blockers(ctx, ns, s))
        .unwrap_or_default()
}

/// The evidence line saying whether a shortfall is certain now or outlasted the grace period.
fn shortfall_which(certain: &[String]) -> Evidence {
    which(
        certain,
        "pods starting or a rollout in progress",
        GRACE_SECS,
    )
}

/// How the message says why the shortfall is reported.
fn shortfall_why(certain: &[String]) -> &'static str {
    if certain.is_empty() {
        "for longer than the 5-minute grace period"
    } else {
        "and its pod template cannot produce ready pods (see the evidence)"
    }
}

/// Evidence lines for a workload's pods that are not ready (at most 3).
pub(crate) fn unready_pod_evidence(pods: &[&Pod]) -> Vec<Evidence> {
    pods.iter()
        .filter(|p| pod_live(p) && !pod_ready(p))
        .take(3)
        .map(|p| Evidence::status(format!("Pod {}: {}", pod_ref(p).name, pod_state(p))))
        .collect()
}

fn dep_condition<'a>(d: &'a Deployment, t: &str) -> Option<&'a DeploymentCondition> {
    d.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == t)
}

fn dep_condition_line(ctx: &Ctx, c: &DeploymentCondition) -> Evidence {
    let since = since(ctx, c.last_transition_time.as_ref())
        .map(|s| format!(", since {} ago", human_duration(s)))
        .unwrap_or_default();
    Evidence::status(format!(
        "condition {}={} ({}{since}): {}",
        c.type_,
        c.status,
        c.reason.as_deref().unwrap_or("no reason"),
        c.message.as_deref().unwrap_or("").trim()
    ))
}

/// The ReplicaSets a Deployment controls.
fn replicasets_of<'a>(ctx: &Ctx<'a>, ns: &str, name: &str) -> Vec<&'a ReplicaSet> {
    let idx = ctx.idx;
    idx.children_of(Kind::Deployment, ns, name)
        .iter()
        .filter(|k| k.kind == Kind::ReplicaSet)
        .filter_map(|k| idx.objects.replicasets.get(&k.namespace, &k.name))
        .collect()
}

fn revision(rs: &ReplicaSet) -> i64 {
    rs.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("deployment.kubernetes.io/revision"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(-1)
}

fn warning_events(ctx: &Ctx, kind: Kind, meta: &ObjectMeta, max: usize) -> Vec<Evidence> {
    let ev: Vec<_> = events_with(ctx.idx, kind, meta, &[])
        .into_iter()
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .collect();
    latest_events(&ev, ctx.now, max)
}

fn pod_refs(pods: &[&Pod]) -> Vec<ObjectRef> {
    pods.iter().map(|p| pod_ref(p)).collect()
}

// ---- checks ----

fn deployment_unavailable(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    for d in ctx.idx.objects.deployments.iter() {
        let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        // No status at all: a manifest, not a live object; nothing is known about its pods.
        let Some(st) = d.status.clone() else { continue };
        let avail = st.available_replicas.unwrap_or(0);
        let unavail = st.unavailable_replicas.unwrap_or(0);
        // As many available as wanted: a surge pod of a stuck rollout is not unavailability
        // (deployment.progress-deadline-exceeded reports the stuck rollout).
        let certain = template_blockers(ctx, &d.metadata, d.spec.as_ref().map(|s| &s.template));
        if want <= 0
            || avail >= want
            || !due(Some(age(ctx, &d.metadata)), !certain.is_empty(), GRACE_SECS)
        {
            continue;
        }
        // Still within a healthy rollout? Available=False for 5 minutes, or no progress
        // recorded for 5 minutes, means the shortfall is not a rollout in motion.
        let available = dep_condition(d, "Available");
        let progressing = dep_condition(d, "Progressing");
        let unavailable_long = available.is_some_and(|c| {
            c.status == "False"
                && since(ctx, c.last_transition_time.as_ref()).is_none_or(|s| s >= GRACE_SECS)
        });
        let no_recent_progress = progressing.is_none_or(|c| {
            c.status == "False"
                || since(ctx, c.last_update_time.as_ref()).is_none_or(|s| s >= GRACE_SECS)
        });
        if certain.is_empty() && !(unavailable_long || no_recent_progress) {
            continue;
        }
        let (ns, name) = ns_name(&d.metadata);
        let object = obj_ref(Kind::Deployment, &d.metadata);
        let sel = d.spec.as_ref().map(|s| &s.selector);
        let pods = ctx.idx.pods_of(Kind::Deployment, ns, name);
        let rss = replicasets_of(ctx, ns, name);
        let severity = if avail == 0 {
            Severity::Critical
        } else {
            info.severity
        };
        let mut evidence = vec![Evidence::status(format!(
            "spec.replicas={want}; status: availableReplicas={avail}, readyReplicas={}, \
             updatedReplicas={}, unavailableReplicas={unavail}",
            st.ready_replicas.unwrap_or(0),
            st.updated_replicas.unwrap_or(0)
        ))];
        evidence.extend(
            available
                .into_iter()
                .chain(progressing)
                .map(|c| dep_condition_line(ctx, c)),
        );
        evidence.extend(unready_pod_evidence(&pods));
        evidence.extend(warning_events(ctx, Kind::Deployment, &d.metadata, 2));
        evidence.push(shortfall_which(&certain));
        let down = if avail == 0 {
            " It serves no traffic at all."
        } else {
            ""
        };
        ctx.finding(info, object, "")
            .severity(severity)
            .title(format!(
                "Deployment {ns}/{name} has {avail}/{want} replicas available"
            ))
            .message(format!(
                "Deployment {name} wants {want} replicas but only {avail} are available, {}.{down} \
                 The cause is usually in its pods (crash loops, image pulls, failing probes, \
                 scheduling) or in its ReplicaSet being unable to create them.",
                if certain.is_empty() {
                    "and this has lasted beyond the 5-minute grace period for rollouts"
                } else {
                    shortfall_why(&certain)
                }
            ))
            .evidences(evidence)
            .fix(
                "Find out why the pods are not becoming available (see the linked findings), \
                 fix that, then watch the rollout finish.",
                [
                    get_pods_cmd(ns, sel),
                    format!("kubectl -n {ns} describe deployment {name}"),
                    format!("kubectl -n {ns} rollout status deployment/{name}"),
                ],
            )
            .cause_hints(pod_refs(&pods))
            .cause_hints(rss.iter().map(|rs| obj_ref(Kind::ReplicaSet, &rs.metadata)))
            .push(out);
    }
}

fn progress_deadline(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    for d in ctx.idx.objects.deployments.iter() {
        let Some(c) = dep_condition(d, "Progressing") else {
            continue;
        };
        if c.status != "False" || c.reason.as_deref() != Some("ProgressDeadlineExceeded") {
            continue;
        }
        let (ns, name) = ns_name(&d.metadata);
        let deadline = d
            .spec
            .as_ref()
            .and_then(|s| s.progress_deadline_seconds)
            .unwrap_or(600);
        let rss = replicasets_of(ctx, ns, name);
        let newest = rss.iter().copied().max_by_key(|rs| revision(rs));
        let serving: Vec<(&str, i32)> = rss
            .iter()
            .filter(|rs| {
                Some(rs.metadata.name.as_deref()) != newest.map(|n| n.metadata.name.as_deref())
            })
            .filter_map(|rs| {
                let a = rs
                    .status
                    .as_ref()
                    .and_then(|s| s.available_replicas)
                    .unwrap_or(0);
                (a > 0).then(|| (rs.metadata.name.as_deref().unwrap_or(""), a))
            })
            .collect();
        let mut evidence = vec![dep_condition_line(ctx, c)];
        let mut hints = Vec::new();
        let new_part = match newest {
            Some(rs) => {
                let rs_name = rs.metadata.name.as_deref().unwrap_or("");
                let s = rs.status.as_ref();
                let (ready, want) = (
                    s.and_then(|s| s.ready_replicas).unwrap_or(0),
                    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
                );
                evidence.push(Evidence::status(format!(
                    "new ReplicaSet {rs_name} (revision {}): {ready}/{want} pods ready",
                    revision(rs)
                )));
                let pods = ctx.idx.pods_of(Kind::ReplicaSet, ns, rs_name);
                evidence.extend(unready_pod_evidence(&pods));
                hints.extend(pod_refs(&pods));
                hints.push(obj_ref(Kind::ReplicaSet, &rs.metadata));
                format!(
                    "The new ReplicaSet {rs_name} (revision {}) has {ready}/{want} ready pods. ",
                    revision(rs)
                )
            }
            None => {
                hints.extend(pod_refs(&ctx.idx.pods_of(Kind::Deployment, ns, name)));
                String::new()
            }
        };
        let old_part = if serving.is_empty() {
            "No older ReplicaSet still serves pods, so nothing runs the previous version."
                .to_string()
        } else {
            let list: Vec<String> = serving
                .iter()
                .map(|(n, a)| format!("{n} ({a} available)"))
                .collect();
            evidence.push(Evidence::status(format!(
                "old ReplicaSets still serving: {}",
                list.join(", ")
            )));
            format!(
                "The previous version still serves from {}.",
                list.join(", ")
            )
        };
        evidence.extend(warning_events(ctx, Kind::Deployment, &d.metadata, 2));
        ctx.finding(info, obj_ref(Kind::Deployment, &d.metadata), "")
            .title(format!(
                "Deployment {ns}/{name} rollout is stuck: no progress for {deadline}s (ProgressDeadlineExceeded)"
            ))
            .message(format!(
                "The rollout of Deployment {name} made no progress within progressDeadlineSeconds \
                 ({deadline}s) and the controller gave up waiting. {new_part}{old_part} The new \
                 pods are where the cause is."
            ))
            .evidences(evidence)
            .fix(
                "Roll back to the previous revision, or fix what keeps the new pods from \
                 becoming ready and roll out again.",
                [
                    format!("kubectl -n {ns} rollout undo deployment/{name}"),
                    format!("kubectl -n {ns} rollout status deployment/{name}"),
                    format!("kubectl -n {ns} rollout history deployment/{name}"),
                ],
            )
            .cause_hints(hints)
            .push(out);
    }
}

fn statefulset_unavailable(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    for s in ctx.idx.objects.statefulsets.iter() {
        let want = s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let st = s.status.clone().unwrap_or_default();
        let ready = st.ready_replicas.unwrap_or(0);
        let certain = template_blockers(ctx, &s.metadata, s.spec.as_ref().map(|s| &s.template));
        if want <= 0
            || ready >= want
            || !due(Some(age(ctx, &s.metadata)), !certain.is_empty(), GRACE_SECS)
        {
            continue;
        }
        let (ns, name) = ns_name(&s.metadata);
        let pods = ctx.idx.pods_of(Kind::StatefulSet, ns, name);
        if certain.is_empty() && !shortfall_settled(ctx, &pods, want) {
            continue;
        }
        let object = obj_ref(Kind::StatefulSet, &s.metadata);
        let ordered = s
            .spec
            .as_ref()
            .and_then(|s| s.pod_management_policy.as_deref())
            != Some("Parallel");
        let mut evidence = vec![Evidence::status(format!(
            "spec.replicas={want}; status: replicas={}, readyReplicas={ready}, currentReplicas={}, updatedReplicas={}",
            st.replicas,
            st.current_replicas.unwrap_or(0),
            st.updated_replicas.unwrap_or(0)
        ))];
        evidence.extend(unready_pod_evidence(&pods));
        evidence.extend(warning_events(ctx, Kind::StatefulSet, &s.metadata, 2));
        evidence.push(shortfall_which(&certain));
        let order_note = if ordered {
            " With podManagementPolicy OrderedReady, a pod that never becomes ready also blocks \
             the creation of every higher ordinal."
        } else {
            ""
        };
        let mut b = ctx
            .finding(info, object.clone(), "")
            .title(format!(
                "StatefulSet {ns}/{name} has {ready}/{want} replicas ready"
            ))
            .message(format!(
                "StatefulSet {name} wants {want} replicas but only {ready} are ready, {}.{order_note} \
                 Look at its pods for the cause.",
                shortfall_why(&certain)
            ))
            .evidences(evidence)
            .fix(
                "Find out why its pods are not ready (see the linked findings) and fix that.",
                [
                    get_pods_cmd(ns, s.spec.as_ref().map(|s| &s.selector)),
                    format!("kubectl -n {ns} describe statefulset {name}"),
                    format!("kubectl -n {ns} rollout status statefulset/{name}"),
                ],
            )
            .cause_hints(pod_refs(&pods));
        if create::sts_create_failure(ctx, s).is_some() {
            b = b.cause_hint(object);
        }
        b.push(out);
    }
}

fn daemonset_unavailable(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    for d in ctx.idx.objects.daemonsets.iter() {
        let Some(st) = d.status.as_ref() else {
            continue;
        };
        let desired = st.desired_number_scheduled;
        let unavail = st.number_unavailable.unwrap_or(0);
        if desired <= 0 || (st.number_ready >= desired && unavail == 0) {
            continue;
        }
        let (ns, name) = ns_name(&d.metadata);
        let pods = ctx.idx.pods_of(Kind::DaemonSet, ns, name);
        let certain = template_blockers(ctx, &d.metadata, d.spec.as_ref().map(|s| &s.template));
        if !due(Some(age(ctx, &d.metadata)), !certain.is_empty(), GRACE_SECS)
            || (certain.is_empty() && !shortfall_settled(ctx, &pods, desired))
        {
            continue;
        }
        let object = obj_ref(Kind::DaemonSet, &d.metadata);
        let mut evidence = vec![Evidence::status(format!(
            "status: desiredNumberScheduled={desired}, currentNumberScheduled={}, numberReady={}, \
             numberAvailable={}, numberUnavailable={unavail}, updatedNumberScheduled={}",
            st.current_number_scheduled,
            st.number_ready,
            st.number_available.unwrap_or(0),
            st.updated_number_scheduled.unwrap_or(0)
        ))];
        evidence.extend(unready_pod_evidence(&pods));
        evidence.extend(warning_events(ctx, Kind::DaemonSet, &d.metadata, 2));
        evidence.push(shortfall_which(&certain));
        let mut b = ctx
            .finding(info, object.clone(), "")
            .title(format!(
                "DaemonSet {ns}/{name} has {}/{desired} pods ready",
                st.number_ready
            ))
            .message(format!(
                "DaemonSet {name} should run a ready pod on {desired} nodes but only {} are ready \
                 ({unavail} unavailable), {}. The nodes without a ready pod lack what it provides \
                 (logs, networking, storage, metrics).",
                st.number_ready,
                shortfall_why(&certain)
            ))
            .evidences(evidence)
            .fix(
                "See which nodes have a pod that is not ready and why (see the linked findings).",
                [
                    get_pods_cmd(ns, d.spec.as_ref().map(|s| &s.selector)),
                    format!("kubectl -n {ns} describe daemonset {name}"),
                    format!("kubectl -n {ns} rollout status daemonset/{name}"),
                ],
            )
            .cause_hints(pod_refs(&pods));
        if create::ds_create_failure(ctx, d).is_some() {
            b = b.cause_hint(object);
        }
        b.push(out);
    }
}

fn daemonset_misscheduled(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    for d in ctx.idx.objects.daemonsets.iter() {
        let Some(st) = d.status.as_ref() else {
            continue;
        };
        let n = st.number_misscheduled;
        if n <= 0 {
            continue;
        }
        let (ns, name) = ns_name(&d.metadata);
        ctx.finding(info, obj_ref(Kind::DaemonSet, &d.metadata), "")
            .title(format!(
                "DaemonSet {ns}/{name} runs {n} pod(s) on nodes where it should not"
            ))
            .message(format!(
                "{n} pod(s) of DaemonSet {name} run on nodes its nodeSelector, affinity or \
                 tolerations no longer match. This usually follows a change of node labels or a \
                 NoSchedule taint (pods are left running but counted as misscheduled), or a \
                 change of the DaemonSet's own placement rules."
            ))
            .evidence(Evidence::status(format!(
                "status: numberMisscheduled={n}, desiredNumberScheduled={}",
                st.desired_number_scheduled
            )))
            .fix(
                "Check which nodes the pods run on against the DaemonSet's placement rules; \
                 delete the misplaced pods or fix the node labels/taints.",
                [
                    get_pods_cmd(ns, d.spec.as_ref().map(|s| &s.selector)),
                    "kubectl get nodes --show-labels".to_string(),
                    format!("kubectl -n {ns} get daemonset {name} -o yaml"),
                ],
            )
            .push(out);
    }
}

#[cfg(test)]
mod tests;
