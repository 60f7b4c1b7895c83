//! `kubectl apply -f` for tests: multi-document YAML of any kind.

use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::discovery::{ApiCapabilities, ApiResource, Discovery, Scope};
use serde::Deserialize as _;

use crate::{Error, Result};

/// Field manager of the server-side applies.
const MANAGER: &str = "kaptain-testenv";
/// How long a kind that is not served yet (a CRD created by an earlier document) is waited for.
const DISCOVERY_WAIT: Duration = Duration::from_secs(15);

/// Applies every document of `yaml` in order: create, or — when it already exists —
/// server-side apply (forced, field manager `kaptain-testenv`). Namespaced objects without a
/// namespace go to `default`. Kinds are resolved by discovery (re-run while a kind is not
/// served yet, for CRDs created by an earlier document). Returns `Kind/namespace/name` (or
/// `Kind/name` for cluster-scoped objects) per document.
pub async fn apply_yaml(client: &kube::Client, yaml: &str) -> Result<Vec<String>> {
    let mut discovery = Discovery::new(client.clone()).run().await?;
    let mut applied = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(yaml) {
        let value = serde_yaml_ng::Value::deserialize(document)?;
        if value.is_null() {
            continue;
        }
        let mut obj: DynamicObject = serde_yaml_ng::from_value(value)?;
        let types = obj
            .types
            .clone()
            .ok_or_else(|| Error::Apply("a document has no apiVersion/kind".into()))?;
        let gvk = GroupVersionKind::try_from(&types)
            .map_err(|e| Error::Apply(format!("{}/{}: {e}", types.api_version, types.kind)))?;
        let name = obj
            .metadata
            .name
            .clone()
            .ok_or_else(|| Error::Apply(format!("a {} has no metadata.name", types.kind)))?;
        let (resource, caps) = resolve(client, &mut discovery, &gvk).await?;
        let api: Api<DynamicObject> = if caps.scope == Scope::Namespaced {
            let ns = obj
                .metadata
                .namespace
                .get_or_insert_with(|| "default".to_owned())
                .clone();
            Api::namespaced_with(client.clone(), &ns, &resource)
        } else {
            obj.metadata.namespace = None;
            Api::all_with(client.clone(), &resource)
        };
        match api.create(&PostParams::default(), &obj).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {
                let params = PatchParams::apply(MANAGER).force();
                api.patch(&name, &params, &Patch::Apply(&obj)).await?;
            }
            Err(e) => return Err(e.into()),
        }
        applied.push(match &obj.metadata.namespace {
            Some(ns) => format!("{}/{ns}/{name}", types.kind),
            None => format!("{}/{name}", types.kind),
        });
    }
    Ok(applied)
}

async fn resolve(
    client: &kube::Client,
    discovery: &mut Discovery,
    gvk: &GroupVersionKind,
) -> Result<(ApiResource, ApiCapabilities)> {
    let began = Instant::now();
    loop {
        if let Some(found) = discovery.resolve_gvk(gvk) {
            return Ok(found);
        }
        if began.elapsed() > DISCOVERY_WAIT {
            return Err(Error::Apply(format!(
                "{}/{} {} is not served by the API server",
                gvk.group, gvk.version, gvk.kind
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        *discovery = Discovery::new(client.clone()).run().await?;
    }
}
