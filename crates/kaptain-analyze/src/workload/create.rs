//! `replicaset.failed-create`: a controller (ReplicaSet, StatefulSet, DaemonSet, Job) that
//! cannot create its pods. The API server's refusal says why: a ResourceQuota, an admission
//! plugin or webhook, a missing ServiceAccount.

use k8s_openapi::api::apps::v1::{DaemonSet, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kaptain_index::{Kind, event_time};
use kaptain_model::{Category, Evidence, Finding, Severity};

use crate::check::{CheckInfo, Ctx};
use crate::util::{event_evidence, events_with, ns_name, obj_ref, ref_to};

pub(crate) const FAILED_CREATE: CheckInfo = CheckInfo::new(
    "replicaset.failed-create",
    Category::Config,
    Severity::High,
    "A ReplicaSet, StatefulSet, DaemonSet or Job cannot create its pods (quota, admission, missing ServiceAccount)",
    &[
        Kind::ReplicaSet,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::Job,
        Kind::Event,
        Kind::ResourceQuota,
        Kind::ValidatingWebhookConfiguration,
        Kind::MutatingWebhookConfiguration,
    ],
)
.confidence(0.95);

/// Why a controller cannot create pods: the refusal message and its evidence.
pub(crate) struct CreateFailure {
    pub message: String,
    pub evidence: Vec<Evidence>,
}

/// Messages of conflicts the controller retries by itself.
fn transient(msg: &str) -> bool {
    msg.contains("the object has been modified") || msg.contains("Operation cannot be fulfilled")
}

/// The current create failure of a controller that is short of pods: a condition message
/// (ReplicaFailure) if it has one, else a FailedCreate event newer than any SuccessfulCreate.
fn create_failure(
    ctx: &Ctx,
    kind: Kind,
    meta: &ObjectMeta,
    condition: Option<&str>,
) -> Option<CreateFailure> {
    let events = events_with(ctx.idx, kind, meta, &["FailedCreate", "SuccessfulCreate"]);
    let failed = events
        .iter()
        .rev()
        .find(|e| e.reason.as_deref() == Some("FailedCreate"));
    let succeeded = events
        .iter()
        .rev()
        .find(|e| e.reason.as_deref() == Some("SuccessfulCreate"));
    if let Some(msg) = condition.filter(|m| !transient(m)) {
        let mut evidence = vec![Evidence::status(format!(
            "condition ReplicaFailure=True (FailedCreate): {msg}"
        ))];
        evidence.extend(failed.map(|e| event_evidence(e, ctx.now)));
        return Some(CreateFailure {
            message: msg.to_string(),
            evidence,
        });
    }
    let failed = failed?;
    let msg = failed.message.as_deref().unwrap_or("").trim();
    if transient(msg) {
        return None;
    }
    if succeeded.is_some_and(|s| event_time(s) > event_time(failed)) {
        return None;
    }
    Some(CreateFailure {
        message: msg.to_string(),
        evidence: vec![event_evidence(failed, ctx.now)],
    })
}

pub(crate) fn rs_create_failure(ctx: &Ctx, rs: &ReplicaSet) -> Option<CreateFailure> {
    let want = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let st = rs.status.as_ref();
    if st.map_or(0, |s| s.replicas) >= want {
        return None;
    }
    let cond = st
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .find(|c| c.type_ == "ReplicaFailure" && c.status == "True")
        .map(|c| {
            c.message
                .as_deref()
                .unwrap_or(c.reason.as_deref().unwrap_or("FailedCreate"))
        });
    create_failure(ctx, Kind::ReplicaSet, &rs.metadata, cond)
}

pub(crate) fn sts_create_failure(ctx: &Ctx, s: &StatefulSet) -> Option<CreateFailure> {
    let want = s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    if s.status.as_ref().map_or(0, |s| s.replicas) >= want {
        return None;
    }
    create_failure(ctx, Kind::StatefulSet, &s.metadata, None)
}

pub(crate) fn ds_create_failure(ctx: &Ctx, d: &DaemonSet) -> Option<CreateFailure> {
    let st = d.status.as_ref()?;
    if st.current_number_scheduled >= st.desired_number_scheduled {
        return None;
    }
    create_failure(ctx, Kind::DaemonSet, &d.metadata, None)
}

pub(crate) fn job_create_failure(ctx: &Ctx, j: &Job) -> Option<CreateFailure> {
    let finished = j
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| {
            c.status == "True"
                && matches!(
                    c.type_.as_str(),
                    "Complete" | "Failed" | "SuccessCriteriaMet"
                )
        });
    if finished || j.spec.as_ref().and_then(|s| s.suspend) == Some(true) {
        return None;
    }
    create_failure(ctx, Kind::Job, &j.metadata, None)
}

/// What the refusal message says.
#[derive(Debug, PartialEq)]
enum Cause {
    Quota {
        name: String,
        requested: String,
        used: String,
        limited: String,
    },
    QuotaUnset {
        name: String,
        detail: String,
    },
    ServiceAccount {
        name: String,
    },
    Webhook {
        name: String,
        denied: bool,
    },
    Admission {
        detail: String,
    },
    Other,
}

fn after<'a>(s: &'a str, pat: &str) -> Option<&'a str> {
    s.find(pat).map(|i| &s[i + pat.len()..])
}

fn quoted(s: &str) -> String {
    s.split('"').next().unwrap_or("").to_string()
}

fn parse_cause(msg: &str) -> Cause {
    if let Some(rest) = after(msg, "exceeded quota: ") {
        let (name, rest) = rest.split_once(", ").unwrap_or((rest, ""));
        let part = |start: &str, end: &str| {
            after(rest, start)
                .map(|r| r.split(end).next().unwrap_or(r).trim().to_string())
                .unwrap_or_default()
        };
        return Cause::Quota {
            name: name.trim().to_string(),
            requested: part("requested: ", ", used: "),
            used: part("used: ", ", limited: "),
            limited: part("limited: ", "\n"),
        };
    }
    if let Some(rest) = after(msg, "failed quota: ") {
        let (name, detail) = rest.split_once(": ").unwrap_or((rest, ""));
        return Cause::QuotaUnset {
            name: name.trim().to_string(),
            detail: detail.trim().to_string(),
        };
    }
    if let Some(rest) = after(msg, "serviceaccount \"").filter(|_| msg.contains("not found")) {
        return Cause::ServiceAccount { name: quoted(rest) };
    }
    if let Some(rest) = after(msg, "admission webhook \"") {
        return Cause::Webhook {
            name: quoted(rest),
            denied: msg.contains("denied the request"),
        };
    }
    if let Some(rest) = after(msg, "failed calling webhook \"") {
        return Cause::Webhook {
            name: quoted(rest),
            denied: false,
        };
    }
    if let Some(rest) = after(msg, " is forbidden: ") {
        return Cause::Admission {
            detail: rest.trim().to_string(),
        };
    }
    Cause::Other
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}

/// The webhook configuration that holds a webhook of this name, if collected.
fn webhook_config(ctx: &Ctx, webhook: &str) -> Option<kaptain_model::ObjectRef> {
    let s = &ctx.idx.objects;
    let v = s
        .validating_webhooks
        .iter()
        .find(|c| c.webhooks.iter().flatten().any(|w| w.name == webhook));
    if let Some(c) = v {
        return Some(obj_ref(Kind::ValidatingWebhookConfiguration, &c.metadata));
    }
    s.mutating_webhooks
        .iter()
        .find(|c| c.webhooks.iter().flatten().any(|w| w.name == webhook))
        .map(|c| obj_ref(Kind::MutatingWebhookConfiguration, &c.metadata))
}

pub(crate) fn failed_create(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    let s = &ctx.idx.objects;
    for rs in s.replicasets.iter() {
        if let Some(f) = rs_create_failure(ctx, rs) {
            report(ctx, info, out, Kind::ReplicaSet, &rs.metadata, f);
        }
    }
    for x in s.statefulsets.iter() {
        if let Some(f) = sts_create_failure(ctx, x) {
            report(ctx, info, out, Kind::StatefulSet, &x.metadata, f);
        }
    }
    for x in s.daemonsets.iter() {
        if let Some(f) = ds_create_failure(ctx, x) {
            report(ctx, info, out, Kind::DaemonSet, &x.metadata, f);
        }
    }
    for x in s.jobs.iter() {
        if let Some(f) = job_create_failure(ctx, x) {
            report(ctx, info, out, Kind::Job, &x.metadata, f);
        }
    }
}

fn report(
    ctx: &Ctx,
    info: &CheckInfo,
    out: &mut Vec<Finding>,
    kind: Kind,
    meta: &ObjectMeta,
    f: CreateFailure,
) {
    let (ns, name) = ns_name(meta);
    let what = format!("{} {ns}/{name}", kind.name());
    let kubectl = format!("{}/{name}", kind.name().to_ascii_lowercase());
    let mut b = ctx
        .finding(info, obj_ref(kind, meta), "")
        .evidences(f.evidence);
    let mut category = info.category;
    let raw = shorten(&f.message, 300);
    b = match parse_cause(&f.message) {
        Cause::Quota {
            name: q,
            requested,
            used,
            limited,
        } => {
            category = Category::Capacity;
            let quota = quota_evidence(ctx, ns, &q);
            b.title(format!(
                "{what} cannot create pods: exceeded ResourceQuota {q} (requested {requested}, used {used}, limited {limited})"
            ))
            .message(format!(
                "The API server refuses new pods of {what} because namespace {ns}'s ResourceQuota \
                 {q} would be exceeded: the pod requests {requested} while {used} is already used \
                 of a limit of {limited}. No pod is created until the quota is raised, usage drops, \
                 or the pods ask for less."
            ))
            .evidences(quota)
            .fix(
                format!("Raise ResourceQuota {q}, free quota in namespace {ns}, or lower the pods' requests/limits."),
                [
                    format!("kubectl -n {ns} describe resourcequota {q}"),
                    format!("kubectl -n {ns} edit resourcequota {q}"),
                    format!("kubectl -n {ns} describe {kubectl}"),
                ],
            )
        }
        Cause::QuotaUnset { name: q, detail } => {
            category = Category::Capacity;
            b.title(format!("{what} cannot create pods: ResourceQuota {q} requires resources to be set ({})", shorten(&detail, 80)))
                .message(format!(
                    "ResourceQuota {q} in namespace {ns} limits compute resources, so every pod must \
                     declare them; the pods of {what} do not ({detail}). Set requests and limits in \
                     the pod template, or add a LimitRange with defaults."
                ))
                .evidences(quota_evidence(ctx, ns, &q))
                .fix(
                    "Set resources.requests and resources.limits on every container of the pod template (or add a LimitRange with defaults).",
                    [format!("kubectl -n {ns} describe resourcequota {q}"), format!("kubectl -n {ns} edit {kubectl}")],
                )
        }
        Cause::ServiceAccount { name: sa } => b
            .title(format!(
                "{what} cannot create pods: ServiceAccount {sa} not found"
            ))
            .message(format!(
                "The pods of {what} run as ServiceAccount {sa}, which does not exist in namespace \
                 {ns}, so the API server refuses to create them."
            ))
            .fix(
                format!(
                    "Create ServiceAccount {sa} or fix serviceAccountName in the pod template."
                ),
                [format!("kubectl -n {ns} create serviceaccount {sa}")],
            )
            .cause_hint(ref_to(Kind::ServiceAccount, ns, &sa)),
        Cause::Webhook { name: w, denied } => {
            let (t, m) = if denied {
                (
                    format!("{what} cannot create pods: admission webhook {w} denied them"),
                    format!(
                        "Admission webhook {w} rejects the pods of {what}: {raw}. Change the pod template to satisfy its policy, or the policy."
                    ),
                )
            } else {
                (
                    format!("{what} cannot create pods: admission webhook {w} cannot be called"),
                    format!(
                        "Creating pods of {what} fails because the API server cannot call admission webhook {w} (and it fails closed): {raw}. Fix the webhook's backend or its failurePolicy."
                    ),
                )
            };
            let mut b = b.title(t).message(m).fix(
                format!("Fix or satisfy admission webhook {w}."),
                [
                    "kubectl get validatingwebhookconfigurations,mutatingwebhookconfigurations"
                        .to_string(),
                    format!("kubectl -n {ns} describe {kubectl}"),
                ],
            );
            if let Some(cfg) = webhook_config(ctx, &w) {
                b = b.cause_hint(cfg);
            }
            b
        }
        Cause::Admission { detail } => b
            .title(format!(
                "{what} cannot create pods: forbidden by admission ({})",
                shorten(&detail, 100)
            ))
            .message(format!(
                "The API server's admission control (Pod Security, LimitRange or another plugin) \
                 forbids the pods of {what}: {detail}. Change the pod template to comply, or the \
                 namespace policy."
            ))
            .fix(
                "Change the pod template to satisfy the policy named in the message.",
                [
                    format!("kubectl -n {ns} describe {kubectl}"),
                    format!("kubectl get namespace {ns} --show-labels"),
                ],
            ),
        Cause::Other => b
            .title(format!(
                "{what} cannot create pods: {}",
                shorten(&f.message, 120)
            ))
            .message(format!("Creating pods of {what} fails: {raw}."))
            .fix(
                "Fix the error in the message.",
                [format!("kubectl -n {ns} describe {kubectl}")],
            ),
    };
    let mut f = b.build();
    f.category = category;
    out.push(f);
}

/// Hard and used amounts of a ResourceQuota, if collected.
fn quota_evidence(ctx: &Ctx, ns: &str, name: &str) -> Vec<Evidence> {
    let Some(q) = ctx.idx.objects.resourcequotas.get(ns, name) else {
        return Vec::new();
    };
    let st = q.status.clone().unwrap_or_default();
    let hard = st.hard.unwrap_or_default();
    let used = st.used.unwrap_or_default();
    let parts: Vec<String> = hard
        .iter()
        .map(|(k, h)| {
            format!(
                "{k}: used {} of {}",
                used.get(k).map_or("0", |u| u.0.as_str()),
                h.0
            )
        })
        .collect();
    vec![Evidence::reference(format!(
        "ResourceQuota {ns}/{name}: {}",
        parts.join(", ")
    ))]
}

/// `Running, not ready, api: CrashLoopBackOff` — a pod's state in a few words.
pub(crate) fn pod_state(p: &Pod) -> String {
    let st = p.status.as_ref();
    let phase = st.and_then(|s| s.phase.as_deref()).unwrap_or("Unknown");
    let mut parts = vec![phase.to_string()];
    if phase == "Running" && !super::pod_ready(p) {
        parts.push("not ready".into());
    }
    if phase == "Pending" {
        let sched = st
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .find(|c| c.type_ == "PodScheduled" && c.status == "False");
        if let Some(r) = sched.and_then(|c| c.reason.as_deref()) {
            parts.push(r.to_string());
        }
    }
    for cs in st
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
    {
        let state = cs.state.as_ref();
        if let Some(r) = state
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.as_deref())
        {
            parts.push(format!("{}: {r}", cs.name));
        } else if let Some(t) = state.and_then(|s| s.terminated.as_ref()) {
            parts.push(format!(
                "{}: exit code {} ({})",
                cs.name,
                t.exit_code,
                t.reason.as_deref().unwrap_or("terminated")
            ));
        }
        if cs.restart_count > 0 {
            parts.push(format!("{} restarts", cs.restart_count));
        }
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_refusal_messages() {
        let q = parse_cause(
            "Error creating: pods \"api-x\" is forbidden: exceeded quota: compute-resources, requested: limits.cpu=2, used: limits.cpu=3, limited: limits.cpu=4",
        );
        assert_eq!(
            q,
            Cause::Quota {
                name: "compute-resources".into(),
                requested: "limits.cpu=2".into(),
                used: "limits.cpu=3".into(),
                limited: "limits.cpu=4".into()
            }
        );
        let sa = parse_cause(
            "Error creating: pods \"api-x\" is forbidden: error looking up service account shop/api-sa: serviceaccount \"api-sa\" not found",
        );
        assert_eq!(
            sa,
            Cause::ServiceAccount {
                name: "api-sa".into()
            }
        );
        let u = parse_cause(
            "pods \"x\" is forbidden: failed quota: q1: must specify limits.cpu for: api",
        );
        assert!(matches!(u, Cause::QuotaUnset { ref name, .. } if name == "q1"));
        let w = parse_cause(
            "Internal error occurred: failed calling webhook \"v.example.com\": connection refused",
        );
        assert_eq!(
            w,
            Cause::Webhook {
                name: "v.example.com".into(),
                denied: false
            }
        );
        let ps = parse_cause(
            "pods \"x\" is forbidden: violates PodSecurity \"restricted:latest\": runAsNonRoot != true",
        );
        assert!(
            matches!(ps, Cause::Admission { ref detail } if detail.starts_with("violates PodSecurity"))
        );
        assert_eq!(parse_cause("something odd"), Cause::Other);
    }
}
