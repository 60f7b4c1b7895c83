//! The executor's hands: read, patch, delete and create the target of a change, for real or
//! as a server-side dry-run, whatever its kind.

use kaptain_heal::crd::{Change, PatchType};
use kaptain_index::Kind;
use kaptain_model::ObjectRef;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams, Preconditions,
};
use serde_json::Value;

use crate::config::MANAGER;
use kaptain_engine::healing::{Error, Result};

/// What a delete with a UID precondition did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// The object with that UID is being (or was) deleted now.
    Deleted,
    /// No object of that name exists any more.
    AlreadyGone,
    /// An object of that name exists with another UID (re-created): left alone.
    Recreated,
}

/// The API of one target object.
pub struct Target {
    api: Api<DynamicObject>,
    resource: ApiResource,
    name: String,
}

impl Target {
    pub fn new(client: &kube::Client, obj: &ObjectRef) -> Result<Target> {
        let kind = Kind::parse(&obj.kind).ok_or_else(|| Error::UnknownKind(obj.display()))?;
        let resource = ApiResource {
            group: kind.group().to_string(),
            version: kind.version().to_string(),
            api_version: kind.api_version(),
            kind: kind.name().to_string(),
            plural: kind.plural().to_string(),
        };
        let api = match (kind.namespaced(), obj.namespace.as_deref()) {
            (true, Some(ns)) => Api::namespaced_with(client.clone(), ns, &resource),
            (true, None) => {
                return Err(Error::Invalid(format!(
                    "{} has no namespace",
                    obj.display()
                )));
            }
            (false, _) => Api::all_with(client.clone(), &resource),
        };
        Ok(Target {
            api,
            resource,
            name: obj.name.clone(),
        })
    }

    pub async fn get(&self) -> Result<Option<DynamicObject>> {
        Ok(self.api.get_opt(&self.name).await?)
    }

    fn params(dry_run: bool) -> PatchParams {
        PatchParams {
            dry_run,
            field_manager: Some(MANAGER.to_string()),
            ..PatchParams::default()
        }
    }

    /// Applies `patch` (of the change's type); with `dry_run`, only on the server's dry-run path.
    pub async fn patch(
        &self,
        change: &Change,
        patch: &Value,
        dry_run: bool,
    ) -> Result<DynamicObject> {
        let pp = Self::params(dry_run);
        let obj = match change.patch_type.unwrap_or(PatchType::Strategic) {
            PatchType::Strategic => {
                self.api
                    .patch(&self.name, &pp, &Patch::Strategic(patch))
                    .await?
            }
            PatchType::Merge => {
                self.api
                    .patch(&self.name, &pp, &Patch::Merge(patch))
                    .await?
            }
            PatchType::Json => {
                let p: json_patch::Patch = serde_json::from_value(patch.clone())?;
                self.api
                    .patch(&self.name, &pp, &Patch::<()>::Json(p))
                    .await?
            }
        };
        Ok(obj)
    }

    /// Deletes the target if it still has `uid` (precondition), with the change's grace period.
    pub async fn delete(&self, change: &Change, dry_run: bool) -> Result<DeleteOutcome> {
        let dp = DeleteParams {
            dry_run,
            grace_period_seconds: change
                .grace_period_seconds
                .map(|g| u32::try_from(g.max(0)).unwrap_or(0)),
            preconditions: change.precondition_uid.clone().map(|uid| Preconditions {
                uid: Some(uid),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match self.api.delete(&self.name, &dp).await {
            Ok(_) => Ok(DeleteOutcome::Deleted),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(DeleteOutcome::AlreadyGone),
            // "Precondition failed: UID in precondition: ..., UID in object meta: ..."
            Err(kube::Error::Api(s)) if s.code == 409 && s.message.contains("recondition") => {
                Ok(DeleteOutcome::Recreated)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Creates the change's manifest.
    pub async fn create(&self, manifest: &Value, dry_run: bool) -> Result<DynamicObject> {
        let mut obj: DynamicObject = serde_json::from_value(manifest.clone())?;
        obj.types = Some(kube::api::TypeMeta {
            api_version: self.resource.api_version.clone(),
            kind: self.resource.kind.clone(),
        });
        let pp = PostParams {
            dry_run,
            field_manager: Some(MANAGER.to_string()),
        };
        Ok(self.api.create(&pp, &obj).await?)
    }
}

/// An object as recorded on an action (observedBefore, dry-run result): without
/// managedFields, and for everything but pods without status.
pub fn trimmed(obj: &DynamicObject) -> Value {
    let mut v = serde_json::to_value(obj).unwrap_or(Value::Null);
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
        if let Some(a) = m.get_mut("annotations").and_then(Value::as_object_mut) {
            a.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
    }
    let is_pod = obj.types.as_ref().is_some_and(|t| t.kind == "Pod");
    if let Some(o) = v.as_object_mut() {
        if is_pod {
            let phase = o
                .get("status")
                .and_then(|s| s.get("phase"))
                .cloned()
                .unwrap_or(Value::Null);
            o.insert("status".into(), serde_json::json!({ "phase": phase }));
        } else {
            o.remove("status");
        }
    }
    v
}

/// The part of an object a change can move: everything but status and the metadata the
/// server maintains. Two objects with the same such part are the same as far as a patch goes.
pub fn comparable(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
        if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
            for k in [
                "resourceVersion",
                "generation",
                "managedFields",
                "creationTimestamp",
                "selfLink",
            ] {
                m.remove(k);
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn comparable_ignores_server_maintained_fields() {
        let a = json!({"metadata": {"name": "x", "resourceVersion": "1", "generation": 1},
                       "spec": {"replicas": 1}, "status": {"replicas": 0}});
        let b = json!({"metadata": {"name": "x", "resourceVersion": "2", "generation": 2},
                       "spec": {"replicas": 1}, "status": {"replicas": 1}});
        assert_eq!(comparable(&a), comparable(&b));
        let c = json!({"metadata": {"name": "x"}, "spec": {"replicas": 2}});
        assert_ne!(comparable(&a), comparable(&c));
    }

    #[test]
    fn trimming_keeps_a_pods_phase_only() {
        let pod: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "managedFields": [{"manager": "x"}]},
            "status": {"phase": "Running", "podIP": "10.0.0.1"}
        }))
        .expect("pod");
        let t = trimmed(&pod);
        assert_eq!(t["status"], json!({"phase": "Running"}));
        assert!(t["metadata"].get("managedFields").is_none());
    }
}
