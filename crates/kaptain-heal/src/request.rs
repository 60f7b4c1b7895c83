//! A person's one-off request, as a proposal the guard decides like any other.
//!
//! "scale web to 5", "restart deployment api", "roll back checkout", "set the image of web to
//! nginx:1.27", "cordon node n1": no standing HealingPolicy answers these, so they carry a
//! [`PolicyKind::Request`] reference (named after the asker) and are judged under the built-in
//! [`spec`]: every action kind listed, in approval mode (the asker's approval is the approval),
//! the global rate limit and circuit breaker, a per-asker rate limit, the usual blast radius,
//! and of course protected namespaces, kinds and labels and the never-allow list, which come
//! before any policy.
//!
//! A request that answers no finding gets a finding of its own, `request.<verb>` on the target:
//! it never shows up in a scan, so verification is the rest of the usual check — the workload
//! rolls out completely (every replica updated and available) within the window, or the node
//! is cordoned — and a failed one is reversed like any other action.

use jiff::Timestamp;
use kaptain_index::{ClusterIndex, Kind, ObjKey};
use kaptain_model::{Category, Evidence, EvidenceSource, ObjectRef, Severity, fingerprint};
use serde_json::{Value, json};

use crate::Proposal;
use crate::crd::{
    ActionKind, ActionTemplate, BlastRadius, Change, FindingRef, HealingAction, HealingPolicySpec,
    Mode, Operation, PatchType, Policy, PolicyKind, PolicyRef, RateLimit, ResourceName,
    Verification,
};
use crate::planner::idempotency_key;
use crate::planner::resolve::{has_hpa, replicas, template};

/// The check id prefix of the findings requests carry (`request.scale`).
pub const CHECK_PREFIX: &str = "request.";
/// The annotation naming who asked (the same one `propose_action` sets).
pub const PROPOSED_BY_ANNOTATION: &str = "kaptain.dev/proposed-by";
/// The annotation holding the words of the request.
pub const REQUEST_ANNOTATION: &str = "kaptain.dev/request";
/// The annotation naming the action an "undo" reverses (`namespace/name`).
pub const UNDOES_ANNOTATION: &str = "kaptain.dev/undoes";
/// Real actions one person may start per rolling hour through requests.
pub const ACTIONS_PER_HOUR: u32 = 10;
/// How long a request's change has to verify.
pub const VERIFY_WITHIN_SECS: u64 = 120;
/// The most replicas a request may scale to (the blast radius bounds the step).
pub const MAX_REPLICAS: i32 = 1000;

/// The reference a request of `actor` carries.
pub fn reference(actor: &str) -> PolicyRef {
    PolicyRef {
        kind: PolicyKind::Request,
        namespace: None,
        name: actor.to_string(),
        generation: 0,
    }
}

/// The built-in limits of requests: every action kind (resources raised at most ×1.5 up to
/// 4Gi / 4 CPUs), approval mode, [`ACTIONS_PER_HOUR`] per asker, no per-object cool-down (a
/// person may undo what they just did; the rate limits and the breaker still hold), the
/// default blast radius.
pub fn spec() -> HealingPolicySpec {
    HealingPolicySpec {
        actions: vec![
            ActionTemplate::RaiseResources {
                resource: ResourceName::Memory,
                factor: 1.5,
                max: "4Gi".into(),
            },
            ActionTemplate::RaiseResources {
                resource: ResourceName::Cpu,
                factor: 1.5,
                max: "4".into(),
            },
            ActionTemplate::RollbackDeployment {},
            ActionTemplate::RolloutRestart {},
            ActionTemplate::RestartPod {},
            ActionTemplate::Scale {
                min: 0,
                max: MAX_REPLICAS,
            },
            ActionTemplate::CordonNode {},
            ActionTemplate::SetImage {},
            ActionTemplate::SuggestManifest {},
        ],
        mode: Mode::Approval,
        rate_limit: RateLimit {
            actions_per_hour: ACTIONS_PER_HOUR,
            cooldown_per_object: std::time::Duration::ZERO.into(),
        },
        blast_radius: BlastRadius::default(),
        verification: Verification {
            window: std::time::Duration::from_secs(VERIFY_WITHIN_SECS).into(),
        },
        min_confidence: 1.0,
        ..HealingPolicySpec::default()
    }
}

/// The built-in policy of `reference`'s asker.
pub fn policy(reference: &PolicyRef) -> Policy {
    Policy {
        reference: reference.clone(),
        spec: spec(),
    }
}

/// Whether an action came from a person's request.
pub fn is_request(p: &Proposal) -> bool {
    p.policy.kind == PolicyKind::Request
}

/// Whether an action's finding is one a request made up (never in a scan).
pub fn own_finding(p: &Proposal) -> bool {
    is_request(p) && p.finding.id.starts_with(CHECK_PREFIX)
}

/// How many replicas a scale asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replicas {
    /// Exactly this many.
    To(i32),
    /// This many more (fewer when negative).
    By(i32),
    /// This percentage more (fewer when negative), rounded up.
    Percent(i32),
}

impl Replicas {
    /// The replicas after the change, from `current`.
    pub fn apply(self, current: i32) -> Result<i32, String> {
        let after = match self {
            Replicas::To(n) => i64::from(n),
            Replicas::By(n) => i64::from(current) + i64::from(n),
            Replicas::Percent(p) => {
                let delta = i64::from(current) * i64::from(p);
                // Round away from zero: "by 50%" of 3 adds 2, not 1.
                let step = if delta >= 0 {
                    (delta + 99) / 100
                } else {
                    -((-delta + 99) / 100)
                };
                i64::from(current) + step
            }
        };
        if after < 0 {
            return Err(format!("that leaves {after} replicas (from {current})"));
        }
        i32::try_from(after).map_err(|_| format!("{after} replicas is too many"))
    }
}

/// What a person asked for, on one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    Scale(Replicas),
    RolloutRestart,
    Rollback,
    /// The image of `container` (the only one when `None`).
    SetImage {
        container: Option<String>,
        image: String,
    },
    Cordon,
}

impl Want {
    pub fn action(&self) -> ActionKind {
        match self {
            Want::Scale(_) => ActionKind::Scale,
            Want::RolloutRestart => ActionKind::RolloutRestart,
            Want::Rollback => ActionKind::RollbackDeployment,
            Want::SetImage { .. } => ActionKind::SetImage,
            Want::Cordon => ActionKind::CordonNode,
        }
    }

    fn verb(&self) -> &'static str {
        match self {
            Want::Scale(_) => "scale",
            Want::RolloutRestart => "restart",
            Want::Rollback => "rollback",
            Want::SetImage { .. } => "set-image",
            Want::Cordon => "cordon",
        }
    }
}

/// Who asked what, for the record.
#[derive(Debug, Clone, Copy)]
pub struct Asker<'a> {
    pub actor: &'a str,
    /// The words of the request.
    pub text: &'a str,
    pub now: Timestamp,
}

/// The finding a request carries: `request.<verb>` on the target, with the request as
/// evidence. `salt` keeps two identical requests at different times apart (the idempotency
/// key also holds the state before, so a repeated request on a changed object is new anyway).
fn own_finding_ref(target: &ObjectRef, verb: &str, who: &Asker, salt: &str) -> FindingRef {
    let id = format!("{CHECK_PREFIX}{verb}");
    FindingRef {
        fingerprint: fingerprint(&id, target, salt),
        id,
        title: format!("{} asked: {}", who.actor, who.text.trim()),
        severity: Severity::Info,
        category: Category::Reliability,
        object: target.clone(),
        evidence: vec![Evidence {
            source: EvidenceSource::Spec,
            detail: format!("requested by {} at {}", who.actor, who.now),
        }],
        confidence: 1.0,
        root_cause: false,
    }
}

/// A proposal of `action` with `change`, under `who`'s request reference.
fn proposal(
    finding: FindingRef,
    action: ActionKind,
    change: Change,
    reasoning: String,
    who: &Asker,
) -> Proposal {
    let reference = reference(who.actor);
    let key = idempotency_key(&finding.fingerprint, action, &change, &reference);
    Proposal {
        priority: 100,
        confidence: 1.0,
        target: change.target.display(),
        idempotency_key: key,
        requires_approval: None,
        verify_within: std::time::Duration::from_secs(VERIFY_WITHIN_SECS).into(),
        finding,
        policy: reference,
        action,
        change,
        reasoning,
    }
}

/// The proposal a request makes on `target` (already resolved to one object).
pub fn build(
    idx: &ClusterIndex,
    target: &ObjKey,
    want: &Want,
    who: &Asker,
) -> Result<Proposal, String> {
    let (change, reasoning) = match want {
        Want::Scale(r) => scale(idx, target, *r)?,
        Want::RolloutRestart => restart(idx, target, who.now)?,
        Want::Rollback => {
            if target.kind != Kind::Deployment {
                return Err(format!(
                    "only a Deployment rolls back to its previous revision, not a {}",
                    target.kind.name()
                ));
            }
            let (c, newest, previous) = crate::planner::workload::rollback_change(
                idx,
                &target.namespace,
                &target.name,
                None,
            )?;
            let why = format!(
                "rolls {} back from revision {newest} to revision {previous}'s pod template, as \
                 `kubectl rollout undo` does",
                c.target.display()
            );
            (c, why)
        }
        Want::SetImage { container, image } => set_image(idx, target, container.as_deref(), image)?,
        Want::Cordon => cordon(idx, target)?,
    };
    let finding = own_finding_ref(&change.target, want.verb(), who, &who.now.to_string());
    let reasoning = format!(
        "{} asked: \"{}\". Kaptain {reasoning}.",
        who.actor,
        who.text.trim()
    );
    Ok(proposal(finding, want.action(), change, reasoning, who))
}

fn workload_kind(target: &ObjKey, kinds: &[Kind], what: &str) -> Result<(), String> {
    if kinds.contains(&target.kind) {
        Ok(())
    } else {
        Err(format!(
            "a {} cannot be {what} (only {})",
            target.kind.name(),
            kinds
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

fn scale(idx: &ClusterIndex, w: &ObjKey, r: Replicas) -> Result<(Change, String), String> {
    workload_kind(w, &[Kind::Deployment, Kind::StatefulSet], "scaled")?;
    if has_hpa(idx, w) {
        return Err(format!(
            "a HorizontalPodAutoscaler owns the replicas of {}: change its bounds instead",
            w.to_ref().display()
        ));
    }
    let cur =
        replicas(idx, w).ok_or_else(|| format!("{} is not in the index", w.to_ref().display()))?;
    let want = r.apply(cur)?;
    if want == cur {
        return Err(format!(
            "{} already has {cur} replicas",
            w.to_ref().display()
        ));
    }
    let target = w.to_ref();
    let change = crate::planner::workload::scale_change(target.clone(), cur, want);
    Ok((
        change,
        format!("scales {} from {cur} to {want} replicas", target.display()),
    ))
}

fn restart(idx: &ClusterIndex, w: &ObjKey, now: Timestamp) -> Result<(Change, String), String> {
    workload_kind(
        w,
        &[Kind::Deployment, Kind::StatefulSet, Kind::DaemonSet],
        "restarted",
    )?;
    let tpl =
        template(idx, w).ok_or_else(|| format!("{} is not in the index", w.to_ref().display()))?;
    let target = w.to_ref();
    let change = crate::planner::workload::restart_change(tpl, target.clone(), now);
    Ok((
        change,
        format!(
            "replaces the pods of {} one by one with fresh ones, as `kubectl rollout restart` does",
            target.display()
        ),
    ))
}

fn set_image(
    idx: &ClusterIndex,
    w: &ObjKey,
    container: Option<&str>,
    image: &str,
) -> Result<(Change, String), String> {
    workload_kind(
        w,
        &[Kind::Deployment, Kind::StatefulSet, Kind::DaemonSet],
        "given a new image",
    )?;
    let image = image.trim();
    if image.is_empty() || image.chars().any(char::is_whitespace) {
        return Err(format!("{image:?} is not an image reference"));
    }
    let tpl =
        template(idx, w).ok_or_else(|| format!("{} is not in the index", w.to_ref().display()))?;
    let containers = tpl
        .spec
        .as_ref()
        .map(|s| s.containers.as_slice())
        .unwrap_or_default();
    let c = match container {
        Some(name) => containers.iter().find(|c| c.name == name).ok_or_else(|| {
            format!(
                "{} has no container {name} (it has {})",
                w.to_ref().display(),
                names(containers)
            )
        })?,
        None => match containers {
            [one] => one,
            [] => return Err(format!("{} has no containers", w.to_ref().display())),
            _ => {
                return Err(format!(
                    "{} has several containers ({}): say which, e.g. \"set the image of {} \
                     container {} to {image}\"",
                    w.to_ref().display(),
                    names(containers),
                    w.name,
                    containers[0].name
                ));
            }
        },
    };
    let old = c.image.clone().unwrap_or_default();
    if old == image {
        return Err(format!("container {} already runs {image}", c.name));
    }
    let target = w.to_ref();
    let mut change = Change::new(target.clone(), Operation::Patch);
    change.patch_type = Some(PatchType::Strategic);
    change.patch = Some(image_patch(&c.name, image));
    change.reverse_patch = Some(image_patch(&c.name, &old));
    change.before = Some(json!({"images": [{"name": c.name, "image": old}]}));
    change.after = Some(json!({"images": [{"name": c.name, "image": image}]}));
    Ok((
        change,
        format!(
            "sets the image of container {} of {} from {old} to {image}; the pods roll out with it",
            c.name,
            target.display()
        ),
    ))
}

fn names(cs: &[k8s_openapi::api::core::v1::Container]) -> String {
    cs.iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn image_patch(container: &str, image: &str) -> Value {
    json!({"spec": {"template": {"spec": {"containers": [{"name": container, "image": image}]}}}})
}

fn cordon(idx: &ClusterIndex, n: &ObjKey) -> Result<(Change, String), String> {
    workload_kind(n, &[Kind::Node], "cordoned")?;
    let node = idx
        .objects
        .nodes
        .get("", &n.name)
        .ok_or_else(|| format!("there is no node {}", n.name))?;
    if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
        return Err(format!("node {} is already cordoned", n.name));
    }
    let mut change = Change::new(n.to_ref(), Operation::Patch);
    change.patch_type = Some(PatchType::Merge);
    change.patch = Some(json!({"spec": {"unschedulable": true}}));
    change.reverse_patch = Some(json!({"spec": {"unschedulable": false}}));
    change.before = Some(json!({"unschedulable": false}));
    change.after = Some(json!({"unschedulable": true}));
    Ok((
        change,
        format!(
            "cordons node {}: no new pod is scheduled onto it; pods already there are not touched",
            n.name
        ),
    ))
}

/// The proposal that reverses `done` (the asker's last action), on the index as it is now.
/// Only what can be reversed by an action Kaptain takes: a scale (back to the replicas
/// before), an image (back to the images before) and a rollback (forward again to the
/// template it replaced).
pub fn undo(idx: &ClusterIndex, done: &HealingAction, who: &Asker) -> Result<Proposal, String> {
    let spec = &done.spec;
    let name = done.metadata.name.as_deref().unwrap_or("");
    let target = &spec.change.target;
    let key = Kind::parse(&target.kind)
        .map(|k| ObjKey::new(k, target.namespace.as_deref().unwrap_or(""), &target.name))
        .ok_or_else(|| format!("{} is not a kind Kaptain knows", target.kind))?;
    let (action, change, why) = match spec.action {
        ActionKind::Scale => {
            let before = spec
                .change
                .replicas
                .map(|r| r.before)
                .ok_or("the scale does not record its replicas before")?;
            let (c, why) = scale(idx, &key, Replicas::To(before))?;
            (ActionKind::Scale, c, why)
        }
        ActionKind::SetImage => {
            let before = spec
                .change
                .before
                .as_ref()
                .and_then(|b| b.get("images"))
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .ok_or("the image change does not record the image before")?;
            let (Some(ctr), Some(img)) = (
                before.get("name").and_then(Value::as_str),
                before.get("image").and_then(Value::as_str),
            ) else {
                return Err("the image change does not record the image before".into());
            };
            let (c, why) = set_image(idx, &key, Some(ctr), img)?;
            (ActionKind::SetImage, c, why)
        }
        ActionKind::RollbackDeployment => {
            let (Some(patch), Some(reverse)) =
                (spec.change.reverse_patch.clone(), spec.change.patch.clone())
            else {
                return Err("the rollback does not record the template it replaced".into());
            };
            let mut c = Change::new(target.clone(), Operation::Patch);
            c.patch_type = Some(PatchType::Json);
            c.patch = Some(patch);
            c.reverse_patch = Some(reverse);
            c.before = spec.change.after.clone();
            c.after = spec.change.before.clone();
            let why = format!(
                "puts back the pod template {} ran before the rollback",
                target.display()
            );
            (ActionKind::RollbackDeployment, c, why)
        }
        other => {
            return Err(format!(
                "{name} was a {other}, which Kaptain cannot undo{}",
                match other {
                    ActionKind::CordonNode => ": uncordon the node with `kubectl uncordon`",
                    ActionKind::RaiseResources => ": Kaptain only raises resources",
                    _ => " (a restart cannot be taken back)",
                }
            ));
        }
    };
    let finding = own_finding_ref(&change.target, "undo", who, &format!("{name}@{}", who.now));
    let reasoning = format!(
        "{} asked: \"{}\". Kaptain undoes {name} ({} on {}): it {why}.",
        who.actor,
        who.text.trim(),
        spec.action,
        target.display()
    );
    Ok(proposal(finding, action, change, reasoning, who))
}

/// The proposal that answers `finding` the way the built-in request limits allow (the
/// planner's own builders: raise memory after OOM kills, roll back a bad rollout, restart,
/// scale, cordon, suggest a manifest), or why there is none.
pub fn fix(
    idx: &ClusterIndex,
    finding: &kaptain_model::Finding,
    who: &Asker,
) -> Result<Proposal, String> {
    let pol = policy(&reference(who.actor));
    let first_seen =
        std::collections::BTreeMap::from([(finding.fingerprint.clone(), Timestamp::MIN)]);
    let plan = crate::planner::plan(&crate::planner::PlanInput {
        findings: std::slice::from_ref(finding),
        policies: std::slice::from_ref(&pol),
        index: idx,
        first_seen: &first_seen,
        now: who.now,
    });
    match plan.proposals.into_iter().next() {
        Some(mut p) => {
            p.reasoning = format!(
                "{} asked: \"{}\". {}",
                who.actor,
                who.text.trim(),
                p.reasoning
            );
            Ok(p)
        }
        None => Err(plan
            .skipped
            .into_iter()
            .next()
            .map(|s| s.reason)
            .unwrap_or_else(|| format!("no action Kaptain takes answers {}", finding.id))),
    }
}

#[cfg(test)]
mod tests;
