//! PersistentVolumeClaims stuck Pending or Lost, claims that name a StorageClass that does not
//! exist (or rely on a default class the cluster lacks), and PersistentVolumes that failed to
//! reclaim or were released but kept.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kaptain_index::{ClusterIndex, Kind};
use kaptain_model::{Category, Evidence, Finding, Severity};

use crate::certain::{certain_now, did_you_mean, due, one_edit_away, which};
use crate::check::{Check, CheckInfo, Ctx};
use crate::util::{events_with, human_duration, latest_events, ns_name, obj_ref, ref_to};

/// A claim may stay Pending for a short while during normal provisioning.
const PENDING_GRACE_SECS: i64 = 120;
const DEFAULT_CLASS_ANNOTATIONS: [&str; 2] = [
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
];
const BETA_CLASS_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-class";

const PVC_PENDING: CheckInfo = CheckInfo::new(
    "pvc.pending",
    Category::Storage,
    Severity::High,
    "A PersistentVolumeClaim has been Pending for more than 2 minutes (no volume provisioned or bound)",
    &[
        Kind::PersistentVolumeClaim,
        Kind::StorageClass,
        Kind::Pod,
        Kind::Event,
    ],
);

const PVC_MISSING_CLASS: CheckInfo = CheckInfo::new(
    "pvc.missing-storageclass",
    Category::Storage,
    Severity::High,
    "A pending PersistentVolumeClaim names a StorageClass that does not exist, or names none and there is no default class",
    &[Kind::PersistentVolumeClaim, Kind::StorageClass, Kind::PersistentVolume],
)
.confidence(0.95);

const PVC_LOST: CheckInfo = CheckInfo::new(
    "pvc.lost",
    Category::Storage,
    Severity::Critical,
    "A PersistentVolumeClaim is Lost: the PersistentVolume it was bound to is gone",
    &[
        Kind::PersistentVolumeClaim,
        Kind::PersistentVolume,
        Kind::Pod,
    ],
)
.confidence(0.97);

const PV_FAILED: CheckInfo = CheckInfo::new(
    "pv.failed",
    Category::Storage,
    Severity::High,
    "A PersistentVolume is Failed: its automatic reclaim (delete or recycle) did not succeed",
    &[Kind::PersistentVolume, Kind::Event],
)
.confidence(0.95);

const PV_RELEASED: CheckInfo = CheckInfo::new(
    "pv.released",
    Category::Storage,
    Severity::Low,
    "A PersistentVolume with reclaimPolicy Retain is Released: its data is kept but it cannot be bound again",
    &[Kind::PersistentVolume],
)
.confidence(0.9);

pub(crate) fn checks() -> Vec<Check> {
    vec![
        Check::new(PVC_PENDING, pvc_pending),
        Check::new(PVC_MISSING_CLASS, pvc_missing_class),
        Check::new(PVC_LOST, pvc_lost),
        Check::new(PV_FAILED, pv_failed),
        Check::new(PV_RELEASED, pv_released),
    ]
}

fn pvc_phase(pvc: &PersistentVolumeClaim) -> &str {
    pvc.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

/// The class the claim asks for: `spec.storageClassName` or the legacy beta annotation.
/// `Some("")` means "no class" (static binding only); `None` means "use the default".
fn requested_class(pvc: &PersistentVolumeClaim) -> Option<&str> {
    pvc.spec
        .as_ref()
        .and_then(|s| s.storage_class_name.as_deref())
        .or_else(|| {
            pvc.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(BETA_CLASS_ANNOTATION))
                .map(String::as_str)
        })
}

fn volume_name(pvc: &PersistentVolumeClaim) -> Option<&str> {
    pvc.spec
        .as_ref()
        .and_then(|s| s.volume_name.as_deref())
        .filter(|v| !v.is_empty())
}

fn is_default(sc: &StorageClass) -> bool {
    let ann = sc.metadata.annotations.as_ref();
    DEFAULT_CLASS_ANNOTATIONS
        .iter()
        .any(|k| ann.and_then(|a| a.get(*k)).is_some_and(|v| v == "true"))
}

fn default_class(idx: &ClusterIndex) -> Option<&StorageClass> {
    idx.objects.storageclasses.iter().find(|sc| is_default(sc))
}

/// Why a claim naming a class that does not exist cannot bind.
fn no_such_class(class: &str) -> String {
    format!("StorageClass {class} does not exist and no Available PersistentVolume has that class")
}

/// Seconds since the claim was created; `None` when it carries no creation time.
fn age(ctx: &Ctx, pvc: &PersistentVolumeClaim) -> Option<i64> {
    pvc.metadata
        .creation_timestamp
        .as_ref()
        .map(|t| ctx.age_secs(t.0))
}

/// Pods that mount the claim, directly or as a generic ephemeral volume (`<pod>-<volume>`).
fn pods_using<'a>(idx: &'a ClusterIndex, ns: &'a str, claim: &str) -> Vec<&'a Pod> {
    idx.objects
        .pods
        .in_namespace(ns)
        .filter(|p| {
            let pod = p.metadata.name.as_deref().unwrap_or("");
            p.spec
                .iter()
                .flat_map(|s| s.volumes.iter().flatten())
                .any(|v| {
                    v.persistent_volume_claim
                        .as_ref()
                        .is_some_and(|c| c.claim_name == claim)
                        || (v.ephemeral.is_some() && format!("{pod}-{}", v.name) == claim)
                })
        })
        .collect()
}

/// Whether an Available PersistentVolume of the given class (`""` = no class) exists, so a
/// claim could still bind statically.
fn available_pv_of_class(idx: &ClusterIndex, class: &str) -> bool {
    idx.objects.pvs.iter().any(|pv| {
        let phase = pv
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .unwrap_or("");
        let pv_class = pv
            .spec
            .as_ref()
            .and_then(|s| s.storage_class_name.as_deref())
            .unwrap_or("");
        phase == "Available" && pv_class == class
    })
}

fn pvc_pending(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    let idx = ctx.idx;
    for pvc in idx.objects.pvcs.iter() {
        if pvc_phase(pvc) != "Pending" {
            continue;
        }
        let Some(age) = age(ctx, pvc) else { continue };
        let object = obj_ref(Kind::PersistentVolumeClaim, &pvc.metadata);
        let (ns, name) = ns_name(&pvc.metadata);
        let requested = requested_class(pvc);
        let default = default_class(idx);
        let class: Option<&str> = match requested {
            Some(c) => Some(c),
            None => default.and_then(|d| d.metadata.name.as_deref()),
        };
        let sc = class
            .filter(|c| !c.is_empty())
            .and_then(|c| idx.objects.storageclasses.get("", c));
        // Certain now: the class it names does not exist and no PV of that class could bind
        // it. Provisioning in progress may resolve, so that waits PENDING_GRACE_SECS.
        let certain: Vec<String> = class
            .filter(|c| {
                !c.is_empty()
                    && sc.is_none()
                    && idx.has(Kind::StorageClass)
                    && !available_pv_of_class(idx, c)
            })
            .map(no_such_class)
            .into_iter()
            .collect();
        if !due(Some(age), !certain.is_empty(), PENDING_GRACE_SECS) {
            continue;
        }
        let users = pods_using(idx, ns, name);
        let wffc =
            sc.and_then(|s| s.volume_binding_mode.as_deref()) == Some("WaitForFirstConsumer");
        if wffc && users.is_empty() {
            // Normal: the volume is provisioned once a pod using the claim is scheduled.
            continue;
        }

        let events = events_with(
            idx,
            Kind::PersistentVolumeClaim,
            &pvc.metadata,
            &[
                "ProvisioningFailed",
                "FailedBinding",
                "ExternalProvisioning",
                "WaitForFirstConsumer",
                "WaitForPodScheduled",
            ],
        );
        let last_warning = events
            .iter()
            .rev()
            .find(|e| e.type_.as_deref() == Some("Warning"))
            .and_then(|e| e.reason.as_deref());

        let mut ev = vec![Evidence::status(format!(
            "status.phase: Pending for {}",
            human_duration(age)
        ))];
        let class_text = match (requested, class) {
            (Some(""), _) => {
                ev.push(Evidence::spec(
                    "spec.storageClassName: \"\" (no dynamic provisioning)",
                ));
                "it requests no StorageClass (storageClassName: \"\"), so it can only bind to a pre-created \
                 PersistentVolume that matches its size, access modes and selector, and none does"
                    .to_string()
            }
            (_, Some(c)) => {
                let how = if requested.is_some() {
                    "spec.storageClassName"
                } else {
                    "default StorageClass"
                };
                ev.push(Evidence::spec(format!("{how}: {c}")));
                match sc {
                    Some(s) => {
                        ev.push(Evidence::reference(format!(
                            "StorageClass {c}: provisioner {}, volumeBindingMode {}",
                            s.provisioner,
                            s.volume_binding_mode.as_deref().unwrap_or("Immediate")
                        )));
                        format!(
                            "its StorageClass {c} uses provisioner {}, which has not provisioned a volume for it",
                            s.provisioner
                        )
                    }
                    None if idx.has(Kind::StorageClass) => {
                        format!("its StorageClass {c} does not exist")
                    }
                    None => format!("StorageClass {c} has not provisioned a volume for it"),
                }
            }
            (_, None) => {
                ev.push(Evidence::spec(
                    "spec.storageClassName is not set and no default StorageClass exists",
                ));
                "it names no StorageClass and the cluster has no default StorageClass, so nothing provisions a volume"
                    .to_string()
            }
        };
        if let Some(v) = volume_name(pvc) {
            ev.push(Evidence::spec(format!(
                "spec.volumeName: {v} (pre-bound to this PersistentVolume)"
            )));
        }
        if wffc {
            let names: Vec<&str> = users
                .iter()
                .filter_map(|p| p.metadata.name.as_deref())
                .take(5)
                .collect();
            ev.push(Evidence::reference(format!(
                "used by pod(s) {}",
                names.join(", ")
            )));
        }
        ev.extend(latest_events(&events, ctx.now, 4));
        ev.push(which(
            &certain,
            "the provisioner may still be creating its volume",
            PENDING_GRACE_SECS,
        ));

        let mut hints = Vec::new();
        match class {
            Some(c) if !c.is_empty() => hints.push(ref_to(Kind::StorageClass, "", c)),
            // No class: the cause is recorded on the claim itself (pvc.missing-storageclass).
            None => hints.push(object.clone()),
            _ => {}
        }
        if let Some(v) = volume_name(pvc) {
            hints.push(ref_to(Kind::PersistentVolume, "", v));
        }
        let title = match last_warning {
            Some(r) => format!(
                "PVC {name} has been Pending for {}: {r}",
                human_duration(age)
            ),
            None => format!("PVC {name} has been Pending for {}", human_duration(age)),
        };
        ctx.finding(info, object, "")
            .title(title)
            .message(format!(
                "PersistentVolumeClaim {ns}/{name} has had no volume for {} (a claim normally binds within a \
                 minute or two): {class_text}. Pods that mount it stay Pending or ContainerCreating until it binds.",
                human_duration(age)
            ))
            .evidences(ev)
            .cause_hints(hints)
            .fix(
                "Read the claim's events (ProvisioningFailed says why the provisioner failed), check that the \
                 StorageClass exists and its provisioner is running, or create a matching PersistentVolume.",
                [
                    format!("kubectl -n {ns} describe pvc {name}"),
                    format!("kubectl -n {ns} get events --field-selector involvedObject.name={name}"),
                    "kubectl get storageclass".to_string(),
                ],
            )
            .push(out);
    }
}

fn pvc_missing_class(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    let idx = ctx.idx;
    if !idx.has(Kind::StorageClass) {
        return;
    }
    // A named class that does not exist is certain once the claim is settled; a missing
    // default class may still be installed, so that waits PENDING_GRACE_SECS.
    let unbound = |pvc: &PersistentVolumeClaim| {
        matches!(pvc_phase(pvc), "Pending" | "")
            && volume_name(pvc).is_none()
            && due(
                age(ctx, pvc),
                requested_class(pvc).is_some_and(|c| !c.is_empty()),
                PENDING_GRACE_SECS,
            )
    };
    // Named classes that do not exist, with the claims that ask for them.
    let mut by_class: BTreeMap<&str, Vec<&PersistentVolumeClaim>> = BTreeMap::new();
    for pvc in idx.objects.pvcs.iter().filter(|p| unbound(p)) {
        match requested_class(pvc) {
            Some("") => {}
            Some(c) => {
                // Static binding works with a class name that has no StorageClass object.
                if idx.objects.storageclasses.get("", c).is_none() && !available_pv_of_class(idx, c)
                {
                    by_class.entry(c).or_default().push(pvc);
                }
            }
            None => {
                if pvc_phase(pvc) == "Pending"
                    && default_class(idx).is_none()
                    && !available_pv_of_class(idx, "")
                {
                    no_default_class(ctx, info, pvc, out);
                }
            }
        }
    }
    for (class, claims) in by_class {
        let mut names: Vec<String> = claims
            .iter()
            .map(|p| obj_ref(Kind::PersistentVolumeClaim, &p.metadata).display())
            .collect();
        names.sort();
        let mut existing: Vec<&str> = idx
            .objects
            .storageclasses
            .iter()
            .filter_map(|s| s.metadata.name.as_deref())
            .collect();
        existing.sort();
        let existing_text = if existing.is_empty() {
            "none".to_string()
        } else {
            existing.join(", ")
        };
        let mut cmds = vec!["kubectl get storageclass".to_string()];
        for p in claims.iter().take(3) {
            let (ns, name) = ns_name(&p.metadata);
            cmds.push(format!(
                "kubectl -n {ns} get pvc {name} -o yaml > {name}.yaml   # set spec.storageClassName to an existing class, then: kubectl -n {ns} delete pvc {name} && kubectl apply -f {name}.yaml"
            ));
        }
        let n = claims.len();
        let hint = one_edit_away(class, existing.iter().copied())
            .map(|c| format!(" ({})", did_you_mean(c)))
            .unwrap_or_default();
        ctx.finding(info, ref_to(Kind::StorageClass, "", class), "")
            .title(format!(
                "StorageClass {class} does not exist but {n} PersistentVolumeClaim{} request it",
                if n == 1 { "" } else { "s" }
            ))
            .message(format!(
                "{} request StorageClass {class}, which does not exist (existing classes: {existing_text}), and no \
                 Available PersistentVolume has that class. No volume will ever be provisioned, so the claims stay \
                 Pending and the pods that mount them cannot start.",
                names.join(", ")
            ))
            .evidences(claims.iter().take(8).map(|p| {
                Evidence::reference(format!(
                    "{} → StorageClass {class} (spec.storageClassName)",
                    obj_ref(Kind::PersistentVolumeClaim, &p.metadata).display()
                ))
            }))
            .evidence(certain_now(no_such_class(class)))
            .fix(
                format!(
                    "Create StorageClass {class}, or recreate the claims with an existing class{hint} \
                     (storageClassName cannot be changed on an existing claim)."
                ),
                cmds,
            )
            .push(out);
    }
}

fn no_default_class(
    ctx: &Ctx,
    info: &CheckInfo,
    pvc: &PersistentVolumeClaim,
    out: &mut Vec<Finding>,
) {
    let (ns, name) = ns_name(&pvc.metadata);
    let mut existing: Vec<&str> = ctx
        .idx
        .objects
        .storageclasses
        .iter()
        .filter_map(|s| s.metadata.name.as_deref())
        .collect();
    existing.sort();
    let candidate = existing.first().copied().unwrap_or("CLASS");
    let patch =
        r#"{"metadata":{"annotations":{"storageclass.kubernetes.io/is-default-class":"true"}}}"#;
    ctx.finding(info, obj_ref(Kind::PersistentVolumeClaim, &pvc.metadata), "no-default-class")
        .title(format!("PVC {name} names no StorageClass and the cluster has no default StorageClass"))
        .message(format!(
            "PersistentVolumeClaim {ns}/{name} does not set spec.storageClassName, so it relies on the default \
             StorageClass, but no StorageClass is annotated storageclass.kubernetes.io/is-default-class=true \
             (existing classes: {}). Nothing will provision a volume for it.",
            if existing.is_empty() { "none".to_string() } else { existing.join(", ") }
        ))
        .evidence(Evidence::spec("spec.storageClassName: not set"))
        .evidence(Evidence::status("status.phase: Pending, no spec.volumeName"))
        .evidence(Evidence::reference("no StorageClass has annotation storageclass.kubernetes.io/is-default-class: \"true\""))
        .fix(
            "Mark one StorageClass as the default (Kubernetes 1.28+ then assigns it to pending claims), or \
             recreate the claim with an explicit storageClassName.",
            [
                "kubectl get storageclass".to_string(),
                format!("kubectl patch storageclass {candidate} -p '{patch}'"),
                format!("kubectl -n {ns} describe pvc {name}"),
            ],
        )
        .patch(patch)
        .push(out);
}

fn pvc_lost(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    let idx = ctx.idx;
    for pvc in idx.objects.pvcs.iter().filter(|p| pvc_phase(p) == "Lost") {
        let (ns, name) = ns_name(&pvc.metadata);
        let object = obj_ref(Kind::PersistentVolumeClaim, &pvc.metadata);
        let vol = volume_name(pvc);
        let mut ev = vec![Evidence::status("status.phase: Lost")];
        let mut hints = Vec::new();
        if let Some(v) = vol {
            let state = if !idx.has(Kind::PersistentVolume) {
                ""
            } else if idx.exists(Kind::PersistentVolume, "", v) {
                " (it exists but no longer references this claim)"
            } else {
                " (it no longer exists)"
            };
            ev.push(Evidence::spec(format!("spec.volumeName: {v}{state}")));
            hints.push(ref_to(Kind::PersistentVolume, "", v));
        }
        let users = pods_using(idx, ns, name);
        if !users.is_empty() {
            let names: Vec<&str> = users
                .iter()
                .filter_map(|p| p.metadata.name.as_deref())
                .take(5)
                .collect();
            ev.push(Evidence::reference(format!(
                "mounted by pod(s) {}",
                names.join(", ")
            )));
        }
        let vol_text = vol
            .map(|v| format!("PersistentVolume {v}"))
            .unwrap_or_else(|| "its PersistentVolume".into());
        let mut cmds = vec![format!("kubectl -n {ns} describe pvc {name}")];
        if let Some(v) = vol {
            cmds.push(format!("kubectl get pv {v} -o yaml"));
        }
        ctx.finding(info, object, "")
            .title(format!("PVC {name} is Lost: {vol_text} is gone"))
            .message(format!(
                "PersistentVolumeClaim {ns}/{name} was bound to {vol_text}, which was deleted or lost its claim \
                 reference. Pods that mount the claim cannot start, and the data on the volume may be gone."
            ))
            .evidences(ev)
            .cause_hints(hints)
            .fix(
                "Restore the PersistentVolume (same name, claimRef to this claim) from a backup or the storage \
                 backend; if the data is expendable, recreate the claim to get a new, empty volume.",
                cmds,
            )
            .push(out);
    }
}

fn pv_failed(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    for pv in ctx.idx.objects.pvs.iter() {
        let Some(status) = pv.status.as_ref() else {
            continue;
        };
        if status.phase.as_deref() != Some("Failed") {
            continue;
        }
        let name = pv.metadata.name.as_deref().unwrap_or("");
        let spec = pv.spec.as_ref();
        let policy = spec
            .and_then(|s| s.persistent_volume_reclaim_policy.as_deref())
            .unwrap_or("Delete");
        let msg = status.message.as_deref().unwrap_or("").trim();
        let mut ev = vec![Evidence::status(format!(
            "status.phase: Failed{}{}",
            status
                .reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default(),
            if msg.is_empty() {
                String::new()
            } else {
                format!(": {msg}")
            }
        ))];
        ev.push(Evidence::spec(format!(
            "spec.persistentVolumeReclaimPolicy: {policy}"
        )));
        if let Some(c) = spec.and_then(|s| s.claim_ref.as_ref()) {
            ev.push(Evidence::spec(format!(
                "spec.claimRef: {}/{}",
                c.namespace.as_deref().unwrap_or(""),
                c.name.as_deref().unwrap_or("")
            )));
        }
        let events: Vec<_> = events_with(ctx.idx, Kind::PersistentVolume, &pv.metadata, &[])
            .into_iter()
            .filter(|e| e.type_.as_deref() == Some("Warning"))
            .collect();
        ev.extend(latest_events(&events, ctx.now, 3));
        let title = if msg.is_empty() {
            format!("PersistentVolume {name} is Failed: its {policy} reclaim did not succeed")
        } else {
            format!("PersistentVolume {name} is Failed: {msg}")
        };
        ctx.finding(info, obj_ref(Kind::PersistentVolume, &pv.metadata), "")
            .title(title)
            .message(format!(
                "PersistentVolume {name} was released by its claim and the automatic reclaim ({policy}) failed. \
                 The backing storage may still exist (and cost money) and the volume is not usable."
            ))
            .evidences(ev)
            .fix(
                "Find out why the reclaim failed (events, provisioner logs), clean up or keep the backing storage \
                 by hand, then delete the PersistentVolume object.",
                [
                    format!("kubectl describe pv {name}"),
                    format!("kubectl get events -A --field-selector involvedObject.name={name}"),
                    format!("kubectl delete pv {name}   # only after the backing storage was cleaned up or its data saved"),
                ],
            )
            .push(out);
    }
}

fn pv_released(ctx: &Ctx, info: &CheckInfo, out: &mut Vec<Finding>) {
    for pv in ctx.idx.objects.pvs.iter() {
        let phase = pv.status.as_ref().and_then(|s| s.phase.as_deref());
        let spec = pv.spec.as_ref();
        let policy = spec.and_then(|s| s.persistent_volume_reclaim_policy.as_deref());
        if phase != Some("Released") || policy != Some("Retain") {
            continue;
        }
        let name = pv.metadata.name.as_deref().unwrap_or("");
        let claim = spec
            .and_then(|s| s.claim_ref.as_ref())
            .map(|c| {
                format!(
                    "{}/{}",
                    c.namespace.as_deref().unwrap_or(""),
                    c.name.as_deref().unwrap_or("")
                )
            })
            .unwrap_or_else(|| "(none)".into());
        let patch = r#"{"spec":{"claimRef":null}}"#;
        ctx.finding(info, obj_ref(Kind::PersistentVolume, &pv.metadata), "")
            .title(format!("PersistentVolume {name} is Released (Retain): data kept, but it cannot be bound again"))
            .message(format!(
                "The claim {claim} that used PersistentVolume {name} was deleted. Because its reclaim policy is \
                 Retain, the volume and its data were kept, but it still references the old claim, so no new \
                 claim can bind to it. Check the data, then either clear spec.claimRef to make it Available again \
                 or delete it."
            ))
            .evidence(Evidence::status("status.phase: Released"))
            .evidence(Evidence::spec("spec.persistentVolumeReclaimPolicy: Retain"))
            .evidence(Evidence::spec(format!("spec.claimRef: {claim} (deleted claim)")))
            .fix(
                "After checking the data, clear the claim reference so the volume can be bound again (or delete \
                 the volume and its backing storage if it is no longer needed).",
                [
                    format!("kubectl get pv {name} -o yaml"),
                    format!("kubectl patch pv {name} --type merge -p '{patch}'"),
                ],
            )
            .patch(patch)
            .push(out);
    }
}

#[cfg(test)]
mod tests;
