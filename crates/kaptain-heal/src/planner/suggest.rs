//! Suggested manifests for missing configuration. Kaptain never invents configuration: the
//! suggestion is a skeleton with the names and keys the workloads ask for and empty values,
//! and only a person can approve it.

use kaptain_index::{ClusterIndex, Kind};
use kaptain_model::{Finding, fingerprint};
use serde_json::{Map, Value, json};

use super::{Build, Built};
use crate::crd::{Change, Operation, PatchType};

const REVIEW: &str = "kaptain.dev/review";

fn approval_reason(what: &str) -> String {
    format!(
        "Kaptain never invents configuration: the suggested {what} has placeholder values that \
         a person must fill in and approve"
    )
}

/// Keys the workloads read from a ConfigMap or Secret, sorted.
fn referenced_keys(idx: &ClusterIndex, kind: Kind, ns: &str, name: &str) -> Vec<String> {
    let mut keys: Vec<String> = idx
        .references_to(kind, ns, name)
        .into_iter()
        .filter_map(|r| r.key.clone())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

fn empty_values(keys: &[String]) -> Value {
    Value::Object(
        keys.iter()
            .map(|k| (k.clone(), json!("")))
            .collect::<Map<_, _>>(),
    )
}

fn nothing_to_suggest(f: &Finding) -> Build {
    Err(format!("no manifest to suggest for {}", f.id))
}

pub(super) fn suggest_manifest(f: &Finding, idx: &ClusterIndex) -> Build {
    if f.id == "config.missing-key" {
        return missing_key(f, idx);
    }
    if !f.id.starts_with("config.missing-") {
        return nothing_to_suggest(f);
    }
    let o = &f.object;
    let ns = o
        .namespace
        .as_deref()
        .ok_or("the object has no namespace")?;
    let kind = Kind::parse(&o.kind).ok_or("unknown kind")?;
    let meta = json!({
        "name": o.name,
        "namespace": ns,
        "annotations": {REVIEW: "placeholder values: fill them in before approving"},
    });
    let keys = referenced_keys(idx, kind, ns, &o.name);
    let manifest = match kind {
        Kind::ConfigMap => json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
            "data": empty_values(&keys),
        }),
        Kind::Secret if f.id == "config.missing-image-pull-secret" => json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": meta,
            "type": "kubernetes.io/dockerconfigjson",
            "stringData": {".dockerconfigjson": "{\"auths\":{}}"},
        }),
        Kind::Secret => json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": "Opaque",
            "stringData": empty_values(&keys),
        }),
        Kind::ServiceAccount => json!({
            "apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta,
        }),
        Kind::PersistentVolumeClaim => json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta,
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        }),
        _ => return nothing_to_suggest(f),
    };
    let mut change = Change::new(o.clone(), Operation::Create);
    change.manifest = Some(manifest);
    let users: Vec<String> = idx
        .references_to(kind, ns, &o.name)
        .into_iter()
        .map(|r| r.from.display())
        .collect();
    let mut built = Built::new(
        change,
        format!(
            "{} ({}): {} is referenced by {} but does not exist. The suggested manifest has the \
             name{} they ask for and empty values; fill in the real ones (or restore it from \
             your manifests) before approving.",
            f.id,
            f.title,
            o.display(),
            if users.is_empty() {
                "its workloads".to_string()
            } else {
                users.join(", ")
            },
            if keys.is_empty() {
                String::new()
            } else {
                format!(" and keys ({})", keys.join(", "))
            },
        ),
    );
    built.requires_approval = Some(approval_reason(o.kind.as_str()));
    Ok(built)
}

fn missing_key(f: &Finding, idx: &ClusterIndex) -> Build {
    let o = &f.object;
    let ns = o
        .namespace
        .as_deref()
        .ok_or("the object has no namespace")?;
    let kind = Kind::parse(&o.kind).ok_or("unknown kind")?;
    let key = referenced_keys(idx, kind, ns, &o.name)
        .into_iter()
        .find(|k| fingerprint(&f.id, o, k) == f.fingerprint)
        .ok_or("cannot tell which key is missing")?;
    let field = match kind {
        Kind::ConfigMap => "data",
        Kind::Secret => "stringData",
        _ => return nothing_to_suggest(f),
    };
    let mut change = Change::new(o.clone(), Operation::Patch);
    change.patch_type = Some(PatchType::Merge);
    change.patch = Some(json!({ field: { key.as_str(): "" } }));
    change.reverse_patch = Some(json!({ "data": { key.as_str(): null } }));
    change.before = Some(json!({ "key": key, "present": false }));
    change.after = Some(json!({ "key": key, "present": true, "value": "" }));
    let mut built = Built::new(
        change,
        format!(
            "{} ({}): {} lacks key {key:?} that a workload reads. The suggestion adds it empty; \
             set its real value before approving.",
            f.id,
            f.title,
            o.display()
        ),
    );
    built.requires_approval = Some(approval_reason("key"));
    Ok(built)
}
