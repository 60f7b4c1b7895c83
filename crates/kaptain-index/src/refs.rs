//! Who references which ConfigMap, Secret, PVC or ServiceAccount.

use k8s_openapi::api::core::v1::PodSpec;
use kaptain_model::ObjectRef;

use crate::index::{ClusterIndex, ObjKey};
use crate::kinds::Kind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefKind {
    /// `env[].valueFrom.configMapKeyRef` / `secretKeyRef`.
    EnvKey,
    /// `envFrom[].configMapRef` / `secretRef`.
    EnvFrom,
    /// A `configMap` / `secret` volume, or a projected source.
    Volume,
    /// A `persistentVolumeClaim` volume.
    Claim,
    /// `serviceAccountName`.
    ServiceAccount,
    /// `imagePullSecrets`.
    ImagePullSecret,
}

/// One reference from a pod template (of a workload or a bare pod) to another object.
#[derive(Debug, Clone)]
pub struct Reference {
    /// The workload or bare pod holding the pod template.
    pub from: ObjectRef,
    pub target: ObjKey,
    /// The key asked for, where the reference names one.
    pub key: Option<String>,
    pub optional: bool,
    pub via: RefKind,
    /// Where in the spec, e.g. `container api env DB_URL` or `volume config`.
    pub location: String,
}

pub(crate) fn collect(idx: &ClusterIndex) -> Vec<Reference> {
    let s = &idx.objects;
    let mut out = Vec::new();
    let mut add = |from: ObjectRef, ns: &str, spec: Option<&PodSpec>| {
        if let Some(spec) = spec {
            pod_spec_refs(&from, ns, spec, &mut out);
        }
    };
    macro_rules! templated {
        ($store:expr, $kind:expr, $o:ident => $spec:expr) => {
            for $o in $store.iter() {
                let m = &$o.metadata;
                // Objects owned by a workload we also index are covered by the owner's template.
                if let Some(owner) = ClusterIndex::controller_of(m) {
                    if idx.exists(owner.kind, &owner.namespace, &owner.name) {
                        continue;
                    }
                }
                let ns = m.namespace.as_deref().unwrap_or("");
                let from = ObjKey::new($kind, ns, m.name.as_deref().unwrap_or("")).to_ref();
                add(from, ns, $spec);
            }
        };
    }
    templated!(s.pods, Kind::Pod, o => o.spec.as_ref());
    templated!(s.deployments, Kind::Deployment, o => o.spec.as_ref().and_then(|s| s.template.spec.as_ref()));
    templated!(s.replicasets, Kind::ReplicaSet, o => o
        .spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.spec.as_ref()));
    templated!(s.statefulsets, Kind::StatefulSet, o => o.spec.as_ref().and_then(|s| s.template.spec.as_ref()));
    templated!(s.daemonsets, Kind::DaemonSet, o => o.spec.as_ref().and_then(|s| s.template.spec.as_ref()));
    templated!(s.jobs, Kind::Job, o => o.spec.as_ref().and_then(|s| s.template.spec.as_ref()));
    templated!(s.cronjobs, Kind::CronJob, o => o
        .spec
        .as_ref()
        .and_then(|s| s.job_template.spec.as_ref())
        .and_then(|s| s.template.spec.as_ref()));
    out
}

/// Every reference one pod spec makes.
pub fn pod_spec_refs(from: &ObjectRef, ns: &str, spec: &PodSpec, out: &mut Vec<Reference>) {
    let mut push = |kind: Kind,
                    name: &str,
                    key: Option<&str>,
                    optional: bool,
                    via: RefKind,
                    location: String| {
        out.push(Reference {
            from: from.clone(),
            target: ObjKey::new(kind, ns, name),
            key: key.map(str::to_string),
            optional,
            via,
            location,
        });
    };
    let containers = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| (c, "init container"))
        .chain(spec.containers.iter().map(|c| (c, "container")));
    for (c, what) in containers {
        for e in c.env.iter().flatten() {
            let Some(vf) = &e.value_from else { continue };
            if let Some(r) = &vf.config_map_key_ref {
                push(
                    Kind::ConfigMap,
                    &r.name,
                    Some(&r.key),
                    r.optional.unwrap_or(false),
                    RefKind::EnvKey,
                    format!("{what} {} env {}", c.name, e.name),
                );
            }
            if let Some(r) = &vf.secret_key_ref {
                push(
                    Kind::Secret,
                    &r.name,
                    Some(&r.key),
                    r.optional.unwrap_or(false),
                    RefKind::EnvKey,
                    format!("{what} {} env {}", c.name, e.name),
                );
            }
        }
        for ef in c.env_from.iter().flatten() {
            if let Some(r) = &ef.config_map_ref {
                push(
                    Kind::ConfigMap,
                    &r.name,
                    None,
                    r.optional.unwrap_or(false),
                    RefKind::EnvFrom,
                    format!("{what} {} envFrom", c.name),
                );
            }
            if let Some(r) = &ef.secret_ref {
                push(
                    Kind::Secret,
                    &r.name,
                    None,
                    r.optional.unwrap_or(false),
                    RefKind::EnvFrom,
                    format!("{what} {} envFrom", c.name),
                );
            }
        }
    }
    for v in spec.volumes.iter().flatten() {
        if let Some(cm) = &v.config_map {
            push(
                Kind::ConfigMap,
                &cm.name,
                None,
                cm.optional.unwrap_or(false),
                RefKind::Volume,
                format!("volume {}", v.name),
            );
        }
        if let Some(sec) = &v.secret
            && let Some(name) = &sec.secret_name
        {
            push(
                Kind::Secret,
                name,
                None,
                sec.optional.unwrap_or(false),
                RefKind::Volume,
                format!("volume {}", v.name),
            );
        }
        if let Some(pvc) = &v.persistent_volume_claim {
            push(
                Kind::PersistentVolumeClaim,
                &pvc.claim_name,
                None,
                false,
                RefKind::Claim,
                format!("volume {}", v.name),
            );
        }
        if let Some(p) = &v.projected {
            for src in p.sources.iter().flatten() {
                if let Some(cm) = &src.config_map {
                    push(
                        Kind::ConfigMap,
                        &cm.name,
                        None,
                        cm.optional.unwrap_or(false),
                        RefKind::Volume,
                        format!("projected volume {}", v.name),
                    );
                }
                if let Some(sec) = &src.secret {
                    push(
                        Kind::Secret,
                        &sec.name,
                        None,
                        sec.optional.unwrap_or(false),
                        RefKind::Volume,
                        format!("projected volume {}", v.name),
                    );
                }
            }
        }
    }
    if let Some(sa) = spec
        .service_account_name
        .as_deref()
        .filter(|s| !s.is_empty() && *s != "default")
    {
        push(
            Kind::ServiceAccount,
            sa,
            None,
            false,
            RefKind::ServiceAccount,
            "serviceAccountName".to_string(),
        );
    }
    for s in spec.image_pull_secrets.iter().flatten() {
        if !s.name.is_empty() {
            push(
                Kind::Secret,
                &s.name,
                None,
                true,
                RefKind::ImagePullSecret,
                "imagePullSecrets".to_string(),
            );
        }
    }
}
