//! Writes what a scan read into files that [`crate::offline`] reads back: one `List` per kind
//! plus `kaptain-snapshot.json` (context, server version, kinds collected, skipped APIs).
//!
//! Every Secret value is redacted: keys and type stay (so "key missing" checks still work),
//! values become empty. Public certificates (`tls.crt`, `ca.crt`) are kept so certificate
//! expiry can be checked offline; private keys never leave. `managedFields` and the
//! last-applied annotation (which holds Secret values in plain text) are dropped.

use std::path::{Path, PathBuf};

use kaptain_model::Skipped;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Error;
use kaptain_index::ClusterIndex;
use kaptain_index::Kind;
use kaptain_index::SourceInfo;

pub const META_FILE: &str = "kaptain-snapshot.json";
pub const SNAPSHOT_SCHEMA: &str = "kaptain.snapshot/v1";
/// Marks a Secret whose values were removed.
pub const REDACTED_ANNOTATION: &str = "kaptain.dev/redacted";
pub(crate) const KEEP_SECRET_KEYS: &[&str] = &["tls.crt", "ca.crt"];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotMeta {
    pub schema: String,
    #[serde(default)]
    pub context: Option<String>,
    #[serde(default)]
    pub server_version: Option<String>,
    #[serde(default)]
    pub captured_at: Option<String>,
    /// Kinds that were collected (an empty list of a collected kind still means "none exist").
    #[serde(default)]
    pub kinds: Vec<String>,
    #[serde(default)]
    pub skipped: Vec<Skipped>,
}

/// Writes the index into `dir`; returns the files written.
pub fn write(dir: &Path, idx: &ClusterIndex, info: &SourceInfo) -> Result<Vec<PathBuf>, Error> {
    let werr = |path: &Path, source: std::io::Error| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|e| werr(dir, e))?;
    let mut written = Vec::new();
    let kinds = idx.loaded_kinds();
    for &k in &kinds {
        let mut items = idx
            .objects
            .values_of(k)
            .map_err(|e| werr(dir, std::io::Error::other(e)))?;
        for item in &mut items {
            clean(item);
            if k == Kind::Secret {
                redact_secret(item);
            }
        }
        let list = serde_json::json!({ "apiVersion": "v1", "kind": "List", "items": items });
        let name = if k.group().is_empty() {
            format!("{}.json", k.plural())
        } else {
            format!("{}.{}.json", k.plural(), k.group())
        };
        let path = dir.join(name);
        let body = serde_json::to_vec(&list).map_err(|e| werr(&path, std::io::Error::other(e)))?;
        std::fs::write(&path, body).map_err(|e| werr(&path, e))?;
        written.push(path);
    }
    let meta = SnapshotMeta {
        schema: SNAPSHOT_SCHEMA.to_string(),
        context: info.context.clone(),
        server_version: info.server_version.clone(),
        captured_at: Some(jiff::Timestamp::now().to_string()),
        kinds: kinds.iter().map(|k| k.name().to_string()).collect(),
        skipped: info.skipped.clone(),
    };
    let path = dir.join(META_FILE);
    let body =
        serde_json::to_vec_pretty(&meta).map_err(|e| werr(&path, std::io::Error::other(e)))?;
    std::fs::write(&path, body).map_err(|e| werr(&path, e))?;
    written.push(path);
    Ok(written)
}

/// Drops what no analyzer reads and what may leak: managedFields, last-applied configuration.
fn clean(item: &mut Value) {
    if let Some(m) = item.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
        if let Some(a) = m.get_mut("annotations").and_then(Value::as_object_mut) {
            a.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
    }
}

/// Empties every Secret value except public certificates.
pub fn redact_secret(item: &mut Value) {
    if let Some(obj) = item.as_object_mut() {
        obj.remove("stringData");
        if let Some(Value::Object(data)) = obj.get_mut("data") {
            for (k, v) in data.iter_mut() {
                if !KEEP_SECRET_KEYS.contains(&k.as_str()) {
                    *v = Value::String(String::new());
                }
            }
        }
        let meta = obj
            .entry("metadata")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(m) = meta.as_object_mut() {
            let ann = m
                .entry("annotations")
                .or_insert_with(|| Value::Object(Default::default()));
            if let Some(a) = ann.as_object_mut() {
                a.insert(
                    REDACTED_ANNOTATION.to_string(),
                    Value::String("true".into()),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaptain_index::AnyObject;

    #[test]
    fn secrets_are_redacted_and_snapshot_reads_back() {
        let secret: AnyObject = AnyObject::from_json(
            Kind::Secret,
            r#"{"apiVersion":"v1","kind":"Secret","type":"kubernetes.io/tls",
                "metadata":{"name":"web-tls","namespace":"shop",
                  "annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"data\":{\"password\":\"aHVudGVyMg==\"}}"}},
                "data":{"tls.crt":"Q0VSVA==","tls.key":"S0VZ","password":"aHVudGVyMg=="}}"#,
        )
        .expect("secret");
        let idx = ClusterIndex::build(vec![secret], &[Kind::Secret, Kind::ConfigMap]);
        let d = tempfile::tempdir().expect("tempdir");
        let info = SourceInfo {
            context: Some("ctx".into()),
            server_version: Some("v1.20.2".into()),
            ..Default::default()
        };
        write(d.path(), &idx, &info).expect("write");

        let raw = std::fs::read_to_string(d.path().join("secrets.json")).expect("read");
        assert!(!raw.contains("aHVudGVyMg=="), "secret value leaked: {raw}");
        assert!(!raw.contains("S0VZ"), "private key leaked: {raw}");
        assert!(
            raw.contains("Q0VSVA=="),
            "public certificate should be kept"
        );

        let loaded = crate::offline::load_paths(&[d.path().to_path_buf()]).expect("load");
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        assert_eq!(loaded.info.context.as_deref(), Some("ctx"));
        let (idx2, _, _) = loaded.into_index();
        // ConfigMaps were collected (none exist): the reloaded index must know that.
        assert!(idx2.has(Kind::ConfigMap));
        let s = idx2
            .objects
            .secrets
            .get("shop", "web-tls")
            .expect("secret back");
        let data = s.data.as_ref().expect("data");
        assert!(data.contains_key("password") && data["password"].0.is_empty());
    }
}
