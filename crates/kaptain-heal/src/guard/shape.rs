//! What a change of each action kind may look like, and how far it may go. The guard checks
//! these itself rather than trusting the proposer: a "RestartPod" that deletes a Deployment,
//! or a "RaiseResources" whose patch also swaps the image, is refused.

use serde_json::{Map, Value};

use super::GuardContext;
use super::breaker::elapsed;
use crate::Proposal;
use crate::crd::{
    ActionKind, ActionTemplate, Change, Operation, PatchType, ResourceField, ResourceName,
};
use kaptain_index::quantity;

/// The annotation a rollout restart sets on the pod template (as `kubectl rollout restart`).
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// Hard upper bound of any resource factor, whatever the configuration says.
pub const MAX_FACTOR: f64 = 4.0;

fn kind_in(c: &Change, kinds: &[&str]) -> Result<(), String> {
    if kinds.contains(&c.target.kind.as_str()) {
        Ok(())
    } else {
        Err(format!(
            "target kind {} is not one of {}",
            c.target.kind,
            kinds.join(", ")
        ))
    }
}

fn op_is(c: &Change, op: Operation) -> Result<(), String> {
    if c.operation == op {
        Ok(())
    } else {
        Err(format!(
            "operation {} where {} is expected",
            c.operation.as_str(),
            op.as_str()
        ))
    }
}

fn merge_patch(c: &Change) -> Result<&Value, String> {
    match (c.patch_type, &c.patch) {
        (Some(PatchType::Merge | PatchType::Strategic), Some(p)) => Ok(p),
        _ => Err("a merge or strategic merge patch is expected".to_string()),
    }
}

fn only_keys<'a>(v: &'a Value, keys: &[&str], at: &str) -> Result<&'a Map<String, Value>, String> {
    let o = v
        .as_object()
        .ok_or_else(|| format!("{at} is not an object"))?;
    match o.keys().find(|k| !keys.contains(&k.as_str())) {
        Some(k) => Err(format!("the patch touches {at}.{k}")),
        None => Ok(o),
    }
}

/// Follows a path of single-key objects (`spec` → `template` → ...), refusing other keys.
fn descend<'a>(mut v: &'a Value, path: &[&str]) -> Result<&'a Value, String> {
    let mut at = String::from("patch");
    for k in path {
        let o = only_keys(v, &[k], &at)?;
        v = o.get(*k).ok_or_else(|| format!("{at}.{k} is missing"))?;
        at = format!("{at}.{k}");
    }
    Ok(v)
}

fn uid_precondition(c: &Change) -> Result<(), String> {
    match c.precondition_uid.as_deref() {
        Some(u) if !u.is_empty() => Ok(()),
        _ => Err("a delete names the UID it deletes (precondition)".into()),
    }
}

/// The change has the shape its action kind allows.
pub(super) fn check_shape(p: &Proposal) -> Result<(), String> {
    let c = &p.change;
    if c.target.namespace.is_none() && c.target.kind != "Node" {
        return Err(format!("{} has no namespace", c.target.display()));
    }
    match p.action {
        ActionKind::RestartPod => {
            kind_in(c, &["Pod"])?;
            op_is(c, Operation::Delete)?;
            if c.grace_period_seconds.is_some_and(|g| g <= 0) {
                return Err("a restart does not force-delete (grace period 0)".into());
            }
            uid_precondition(c)?;
        }
        ActionKind::ForceDeleteStuckPod => {
            kind_in(c, &["Pod"])?;
            op_is(c, Operation::Delete)?;
            if c.grace_period_seconds != Some(0) {
                return Err("a force delete has grace period 0".into());
            }
            uid_precondition(c)?;
        }
        ActionKind::RolloutRestart => {
            kind_in(c, &["Deployment", "StatefulSet", "DaemonSet"])?;
            op_is(c, Operation::Patch)?;
            let a = descend(
                merge_patch(c)?,
                &["spec", "template", "metadata", "annotations", RESTARTED_AT],
            )?;
            if !a.is_string() {
                return Err(format!("{RESTARTED_AT} is not a string"));
            }
        }
        ActionKind::Scale => {
            kind_in(c, &["Deployment", "StatefulSet", "ReplicaSet"])?;
            op_is(c, Operation::Patch)?;
            let r = c.replicas.ok_or("a scale names its replicas")?;
            let v = descend(merge_patch(c)?, &["spec", "replicas"])?;
            if v.as_i64() != Some(i64::from(r.after)) {
                return Err(format!("the patch sets replicas {v}, not {}", r.after));
            }
        }
        ActionKind::RaiseResources => check_resources_patch(c)?,
        ActionKind::SetImage => check_image_patch(c)?,
        ActionKind::RollbackDeployment => {
            kind_in(c, &["Deployment"])?;
            op_is(c, Operation::Patch)?;
            let ok = c.patch_type == Some(PatchType::Json)
                && c.patch
                    .as_ref()
                    .and_then(Value::as_array)
                    .is_some_and(|ops| {
                        ops.len() == 1
                            && ops[0].get("op").and_then(Value::as_str) == Some("replace")
                            && ops[0].get("path").and_then(Value::as_str) == Some("/spec/template")
                            && ops[0].get("value").is_some_and(Value::is_object)
                    });
            if !ok {
                return Err("a rollback replaces /spec/template and nothing else".into());
            }
        }
        ActionKind::CordonNode => {
            kind_in(c, &["Node"])?;
            op_is(c, Operation::Patch)?;
            let v = descend(merge_patch(c)?, &["spec", "unschedulable"])?;
            if v != &Value::Bool(true) {
                return Err("a cordon sets spec.unschedulable to true".into());
            }
        }
        ActionKind::SuggestManifest => {
            kind_in(
                c,
                &[
                    "ConfigMap",
                    "Secret",
                    "ServiceAccount",
                    "PersistentVolumeClaim",
                ],
            )?;
            match c.operation {
                Operation::Create => {
                    let m = c
                        .manifest
                        .as_ref()
                        .ok_or("a suggestion carries its manifest")?;
                    let s = |k: &str| m.pointer(k).and_then(Value::as_str);
                    if s("/kind") != Some(c.target.kind.as_str())
                        || s("/metadata/name") != Some(c.target.name.as_str())
                        || s("/metadata/namespace") != c.target.namespace.as_deref()
                    {
                        return Err("the manifest is not the target object".into());
                    }
                }
                Operation::Patch => {
                    only_keys(merge_patch(c)?, &["data", "stringData"], "patch")?;
                }
                Operation::Delete => return Err("a suggestion never deletes".into()),
            }
        }
    }
    Ok(())
}

/// A SetImage patch sets the image of containers of a workload's pod template and nothing
/// else: `spec.template.spec.containers[{name, image}]`.
fn check_image_patch(c: &Change) -> Result<(), String> {
    kind_in(c, &["Deployment", "StatefulSet", "DaemonSet"])?;
    op_is(c, Operation::Patch)?;
    if c.patch_type != Some(PatchType::Strategic) {
        return Err("an image is set with a strategic merge patch".into());
    }
    let list = descend(merge_patch(c)?, &["spec", "template", "spec", "containers"])?;
    let list = list.as_array().ok_or("containers is not a list")?;
    if list.is_empty() {
        return Err("the patch sets no image".into());
    }
    for ctr in list {
        let o = only_keys(ctr, &["name", "image"], "container")?;
        let named = o
            .get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        let image = o
            .get("image")
            .and_then(Value::as_str)
            .is_some_and(|i| !i.trim().is_empty());
        if !named || !image {
            return Err("each container of the patch has a name and an image".into());
        }
    }
    Ok(())
}

/// A RaiseResources patch only sets resources of containers, exactly as `change.resources`
/// lists them.
fn check_resources_patch(c: &Change) -> Result<(), String> {
    kind_in(
        c,
        &[
            "Deployment",
            "StatefulSet",
            "DaemonSet",
            "ReplicaSet",
            "CronJob",
        ],
    )?;
    op_is(c, Operation::Patch)?;
    if c.patch_type != Some(PatchType::Strategic) {
        return Err("resources are raised with a strategic merge patch".into());
    }
    if c.resources.is_empty() {
        return Err("a raise lists the resources it changes".into());
    }
    let patch = c.patch.as_ref().ok_or("a raise carries its patch")?;
    let path: &[&str] = if c.target.kind == "CronJob" {
        &["spec", "jobTemplate", "spec", "template", "spec"]
    } else {
        &["spec", "template", "spec"]
    };
    let pod_spec = descend(patch, path)?;
    let lists = only_keys(pod_spec, &["containers", "initContainers"], "pod spec")?;
    let mut seen = 0;
    for list in lists.values() {
        for ctr in list.as_array().ok_or("containers is not a list")? {
            let o = only_keys(ctr, &["name", "resources"], "container")?;
            let name = o
                .get("name")
                .and_then(Value::as_str)
                .ok_or("container without name")?;
            let res = o.get("resources").ok_or("container without resources")?;
            for (field, values) in only_keys(res, &["limits", "requests"], "resources")? {
                let field = if field == "limits" {
                    ResourceField::Limits
                } else {
                    ResourceField::Requests
                };
                for (rname, v) in values.as_object().ok_or("resources are not a map")? {
                    let listed = c.resources.iter().any(|r| {
                        r.container == name
                            && r.field == field
                            && r.resource.as_str() == rname
                            && v.as_str() == Some(r.after.as_str())
                    });
                    if !listed {
                        return Err(format!("the patch sets {name}.{rname} to {v} unlisted"));
                    }
                    seen += 1;
                }
            }
        }
    }
    if seen != c.resources.len() {
        return Err("the patch and the listed resource changes differ".into());
    }
    Ok(())
}

/// The change stays within the policy's template for its kind and the global caps.
pub(super) fn check_bounds(
    ctx: &GuardContext,
    p: &Proposal,
    template: &ActionTemplate,
) -> Result<(), String> {
    let c = &p.change;
    match template {
        ActionTemplate::Scale { min, max } => {
            let r = c.replicas.ok_or("a scale names its replicas")?;
            if !(0 <= *min && min <= max && (*min..=*max).contains(&r.after)) {
                return Err(format!("replicas {} outside [{min}, {max}]", r.after));
            }
        }
        ActionTemplate::RaiseResources {
            resource,
            factor,
            max,
        } => check_raise(ctx, c, *resource, *factor, max)?,
        ActionTemplate::ForceDeleteStuckPod { grace_seconds } => {
            let Some(since) = ctx.facts.deletion_timestamp else {
                return Err("the pod is not terminating".into());
            };
            let stuck = elapsed(since, ctx.now);
            if *grace_seconds < 0 || stuck < *grace_seconds {
                return Err(format!(
                    "the pod has been terminating for {stuck}s, less than {grace_seconds}s"
                ));
            }
        }
        ActionTemplate::RestartPod {} => {
            if ctx.facts.owner.is_none() {
                return Err("the pod has no controller to re-create it".into());
            }
        }
        ActionTemplate::RolloutRestart {}
        | ActionTemplate::RollbackDeployment {}
        | ActionTemplate::CordonNode {}
        | ActionTemplate::SuggestManifest {}
        | ActionTemplate::SetImage {} => {}
    }
    Ok(())
}

fn check_raise(
    ctx: &GuardContext,
    c: &Change,
    resource: ResourceName,
    factor: f64,
    max: &str,
) -> Result<(), String> {
    let cap = ctx.config.max_resource_factor.min(MAX_FACTOR);
    if !(factor >= 1.0 && factor <= cap) {
        return Err(format!("factor {factor} outside [1, {cap}]"));
    }
    let max_v = quantity::parse(max).ok_or_else(|| format!("max {max:?} is not a quantity"))?;
    for r in &c.resources {
        if r.resource != resource {
            return Err(format!(
                "changes {} where the policy raises {}",
                r.resource.as_str(),
                resource.as_str()
            ));
        }
        let (Some(b), Some(a)) = (quantity::parse(&r.before), quantity::parse(&r.after)) else {
            return Err(format!("{} → {} are not quantities", r.before, r.after));
        };
        let tolerance = 1e-9 * b.abs().max(1.0);
        if !(b > 0.0 && a > b && a <= b * factor + tolerance && a <= max_v + tolerance) {
            return Err(format!(
                "{} {} {}: {} → {} is not a raise by at most ×{factor} up to {max}",
                r.container,
                r.resource.as_str(),
                if r.field == ResourceField::Limits {
                    "limit"
                } else {
                    "request"
                },
                r.before,
                r.after
            ));
        }
    }
    Ok(())
}
