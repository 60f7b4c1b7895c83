//! Reading cluster state from files: `kubectl get -o json|yaml` output (single objects or
//! `List`s), multi-document YAML, concatenated JSON, directories (recursive), `kubectl
//! cluster-info dump` trees and Kaptain snapshots. A bad file or object is reported with its
//! path and never stops the rest.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::{Error, FileError};
use crate::snapshot::{META_FILE, SnapshotMeta};
use kaptain_index::{AnyObject, Kind};
use kaptain_index::{ClusterIndex, SourceInfo};

/// What was read from files.
#[derive(Debug, Default)]
pub struct Loaded {
    pub objects: Vec<AnyObject>,
    /// Kinds declared collected by a snapshot's metadata (even when empty).
    pub declared_kinds: Vec<Kind>,
    pub errors: Vec<FileError>,
    pub info: SourceInfo,
    pub files: usize,
    /// Objects of kinds Kaptain does not analyze (ignored).
    pub ignored: usize,
}

impl Loaded {
    pub fn into_index(self) -> (ClusterIndex, SourceInfo, Vec<FileError>) {
        let idx = ClusterIndex::build(self.objects, &self.declared_kinds);
        (idx, self.info, self.errors)
    }
}

/// Reads every path (files or directories, recursively). Fails only when a path cannot be
/// read at all; problems inside files are collected in [`Loaded::errors`].
pub fn load_paths(paths: &[PathBuf]) -> Result<Loaded, Error> {
    let mut files = Vec::new();
    let mut metas = Vec::new();
    for p in paths {
        let md = std::fs::metadata(p).map_err(|e| Error::Io {
            path: p.clone(),
            message: io_message(&e),
        })?;
        if md.is_dir() {
            walk(p, &mut files, &mut metas)?;
        } else {
            files.push(p.clone());
        }
    }
    files.sort();

    let results: Vec<FileResult> = files.par_iter().map(|f| read_file(f)).collect();
    let mut loaded = Loaded {
        files: files.len(),
        ..Loaded::default()
    };
    for r in results {
        loaded.objects.extend(r.objects);
        loaded.errors.extend(r.errors);
        loaded.ignored += r.ignored;
    }
    for m in metas {
        match std::fs::read(&m)
            .map_err(|e| io_message(&e))
            .and_then(|b| serde_json::from_slice::<SnapshotMeta>(&b).map_err(|e| e.to_string()))
        {
            Ok(meta) => {
                loaded.info.context = loaded.info.context.take().or(meta.context);
                loaded.info.server_version =
                    loaded.info.server_version.take().or(meta.server_version);
                loaded.info.skipped.extend(meta.skipped);
                loaded.info.captured_at = loaded
                    .info
                    .captured_at
                    .or(meta.captured_at.and_then(|t| t.parse().ok()));
                loaded
                    .declared_kinds
                    .extend(meta.kinds.iter().filter_map(|k| Kind::parse(k)));
            }
            Err(e) => loaded.errors.push(FileError {
                path: m,
                message: format!("invalid snapshot metadata: {e}"),
            }),
        }
    }
    Ok(loaded)
}

/// Reads objects from text (JSON or YAML, one object, a List or several documents), as if it
/// were a file called `name`. Used by tests and by callers holding manifests in memory.
pub fn load_str(name: &str, text: &str) -> Loaded {
    let mut r = FileResult::default();
    parse_bytes(Path::new(name), text.as_bytes(), &mut r);
    Loaded {
        objects: r.objects,
        errors: r.errors,
        ignored: r.ignored,
        files: 1,
        ..Loaded::default()
    }
}

fn io_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    }
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, metas: &mut Vec<PathBuf>) -> Result<(), Error> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::Io {
        path: dir.to_path_buf(),
        message: io_message(&e),
    })?;
    for entry in rd.flatten() {
        let p = entry.path();
        let Ok(ft) = entry.file_type() else { continue };
        if ft.is_dir() {
            walk(&p, files, metas)?;
        } else if p.file_name().is_some_and(|n| n == META_FILE) {
            metas.push(p);
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("json" | "yaml" | "yml")
        ) {
            files.push(p);
        }
    }
    Ok(())
}

#[derive(Default)]
struct FileResult {
    objects: Vec<AnyObject>,
    errors: Vec<FileError>,
    ignored: usize,
}

fn read_file(path: &Path) -> FileResult {
    let mut r = FileResult::default();
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            r.errors.push(FileError {
                path: path.to_path_buf(),
                message: io_message(&e),
            });
            return r;
        }
    };
    parse_bytes(path, &bytes, &mut r);
    r
}

#[derive(Deserialize)]
struct Head<'a> {
    #[serde(rename = "apiVersion", default, borrow)]
    api_version: Option<&'a str>,
    #[serde(default, borrow)]
    kind: Option<&'a str>,
    #[serde(default, borrow)]
    items: Option<Vec<&'a RawValue>>,
}

#[derive(Deserialize)]
struct ItemHead<'a> {
    #[serde(rename = "apiVersion", default, borrow)]
    api_version: Option<&'a str>,
    #[serde(default, borrow)]
    kind: Option<&'a str>,
    #[serde(default)]
    metadata: Option<NameOnly>,
}

#[derive(Deserialize, Default)]
struct NameOnly {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
}

fn parse_bytes(path: &Path, bytes: &[u8], r: &mut FileResult) {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace()).copied();
    match first {
        None => {}
        Some(b'{') | Some(b'[') => parse_json(path, bytes, r),
        Some(_) => parse_yaml(path, bytes, r),
    }
}

fn parse_json(path: &Path, bytes: &[u8], r: &mut FileResult) {
    let stream = serde_json::Deserializer::from_slice(bytes).into_iter::<&RawValue>();
    for doc in stream {
        match doc {
            Ok(raw) => json_doc(path, raw, r),
            Err(e) => {
                r.errors.push(FileError {
                    path: path.to_path_buf(),
                    message: format!("invalid JSON: {e}"),
                });
                return;
            }
        }
    }
}

fn json_doc(path: &Path, raw: &RawValue, r: &mut FileResult) {
    let text = raw.get();
    if text.starts_with('[') {
        match serde_json::from_str::<Vec<&RawValue>>(text) {
            Ok(items) => json_items(path, None, None, &items, r),
            Err(e) => r.errors.push(FileError {
                path: path.to_path_buf(),
                message: format!("invalid JSON: {e}"),
            }),
        }
        return;
    }
    let head: Head = match serde_json::from_str(text) {
        Ok(h) => h,
        Err(e) => {
            r.errors.push(FileError {
                path: path.to_path_buf(),
                message: format!("not a Kubernetes object: {e}"),
            });
            return;
        }
    };
    match (head.kind, head.items) {
        (Some(kind), Some(items)) if kind.ends_with("List") => {
            let item_kind = kind.strip_suffix("List").filter(|k| !k.is_empty());
            json_items(path, item_kind, head.api_version, &items, r)
        }
        (Some(kind), _) => {
            json_object(path, kind, head.api_version.unwrap_or(""), text, None, r);
        }
        (None, _) => r.errors.push(FileError {
            path: path.to_path_buf(),
            message: "not a Kubernetes object: no \"kind\" field".to_string(),
        }),
    }
}

/// Items of a List. Typed lists from the API server leave `kind` off their items: the list's
/// own kind (`PodList`) and apiVersion stand in.
fn json_items(
    path: &Path,
    list_kind: Option<&str>,
    list_api: Option<&str>,
    items: &[&RawValue],
    r: &mut FileResult,
) {
    let one = |raw: &&RawValue| {
        let mut part = FileResult::default();
        let text = raw.get();
        match serde_json::from_str::<ItemHead>(text) {
            Ok(h) => {
                let kind = h.kind.or(list_kind);
                let api = h.api_version.or(list_api).unwrap_or("");
                match kind {
                    Some(kind) if kind != "List" => {
                        json_object(path, kind, api, text, h.metadata, &mut part)
                    }
                    _ => part.errors.push(FileError {
                        path: path.to_path_buf(),
                        message: format!(
                            "list item {} has no \"kind\"",
                            describe(h.metadata.as_ref())
                        ),
                    }),
                }
            }
            Err(e) => part.errors.push(FileError {
                path: path.to_path_buf(),
                message: format!("invalid list item: {e}"),
            }),
        }
        part
    };
    let parts: Vec<FileResult> = if items.len() > 64 {
        items.par_iter().map(one).collect()
    } else {
        items.iter().map(one).collect()
    };
    for p in parts {
        r.objects.extend(p.objects);
        r.errors.extend(p.errors);
        r.ignored += p.ignored;
    }
}

fn describe(m: Option<&NameOnly>) -> String {
    match m {
        Some(NameOnly {
            name: Some(n),
            namespace: Some(ns),
        }) => format!("{ns}/{n}"),
        Some(NameOnly { name: Some(n), .. }) => n.clone(),
        _ => "(unnamed)".to_string(),
    }
}

fn json_object(
    path: &Path,
    kind: &str,
    api: &str,
    text: &str,
    meta: Option<NameOnly>,
    r: &mut FileResult,
) {
    match Kind::resolve(kind, api) {
        // An older apiVersion of the same shape (batch/v1beta1 CronJob, ...): the typed
        // structs insist on their own apiVersion, so go through a Value and rewrite it.
        Ok(k) if api != k.api_version() => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(v) => value_doc(path, v, r),
            Err(e) => r.errors.push(FileError {
                path: path.to_path_buf(),
                message: format!("{kind}: {e}"),
            }),
        },
        Ok(k) => match AnyObject::from_json(k, text) {
            Ok(o) => r.objects.push(o),
            Err(e) => {
                let meta = meta.or_else(|| {
                    serde_json::from_str::<ItemHead>(text)
                        .ok()
                        .and_then(|h| h.metadata)
                });
                r.errors.push(FileError {
                    path: path.to_path_buf(),
                    message: format!("{kind} {}: {e}", describe(meta.as_ref())),
                })
            }
        },
        Err(true) => r.errors.push(FileError {
            path: path.to_path_buf(),
            message: format!(
                "{kind} with apiVersion {api:?} is not supported (expected {})",
                expected(kind)
            ),
        }),
        Err(false) => r.ignored += 1,
    }
}

fn expected(kind: &str) -> String {
    Kind::ALL
        .iter()
        .find(|k| k.name() == kind)
        .map(|k| {
            let mut v = vec![k.api_version()];
            v.extend(k.alternate_versions().iter().map(|s| s.to_string()));
            v.join(" or ")
        })
        .unwrap_or_default()
}

fn parse_yaml(path: &Path, bytes: &[u8], r: &mut FileResult) {
    for (n, doc) in serde_yaml_ng::Deserializer::from_slice(bytes).enumerate() {
        let value = match serde_json::Value::deserialize(doc) {
            Ok(v) => v,
            Err(e) => {
                r.errors.push(FileError {
                    path: path.to_path_buf(),
                    message: format!("invalid YAML (document {}): {e}", n + 1),
                });
                // A syntax error leaves the stream unusable after this point.
                return;
            }
        };
        value_doc(path, value, r);
    }
}

fn value_doc(path: &Path, mut v: serde_json::Value, r: &mut FileResult) {
    if v.is_null() {
        return;
    }
    let Some(obj) = v.as_object_mut() else {
        r.errors.push(FileError {
            path: path.to_path_buf(),
            message: "not a Kubernetes object: expected a mapping".to_string(),
        });
        return;
    };
    let kind = obj.get("kind").and_then(|k| k.as_str()).map(str::to_string);
    let api = obj
        .get("apiVersion")
        .and_then(|k| k.as_str())
        .unwrap_or("")
        .to_string();
    let Some(kind) = kind else {
        r.errors.push(FileError {
            path: path.to_path_buf(),
            message: "not a Kubernetes object: no \"kind\" field".to_string(),
        });
        return;
    };
    if kind.ends_with("List")
        && let Some(serde_json::Value::Array(items)) = obj.remove("items")
    {
        let item_kind = kind
            .strip_suffix("List")
            .filter(|k| !k.is_empty())
            .map(str::to_string);
        for mut item in items {
            if let Some(io) = item.as_object_mut()
                && !io.contains_key("kind")
                && let Some(k) = &item_kind
            {
                io.insert("kind".into(), k.clone().into());
                io.insert("apiVersion".into(), api.clone().into());
            }
            value_doc(path, item, r);
        }
        return;
    }
    match Kind::resolve(&kind, &api) {
        Ok(k) => {
            if api != k.api_version()
                && let Some(o) = v.as_object_mut()
            {
                o.insert("apiVersion".into(), k.api_version().into());
            }
            let name = v
                .pointer("/metadata/name")
                .and_then(|n| n.as_str())
                .unwrap_or("(unnamed)")
                .to_string();
            match AnyObject::from_value(k, v) {
                Ok(o) => r.objects.push(o),
                Err(e) => r.errors.push(FileError {
                    path: path.to_path_buf(),
                    message: format!("{kind} {name}: {e}"),
                }),
            }
        }
        Err(true) => r.errors.push(FileError {
            path: path.to_path_buf(),
            message: format!(
                "{kind} with apiVersion {api:?} is not supported (expected {})",
                expected(&kind)
            ),
        }),
        Err(false) => r.ignored += 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, body).expect("write");
        p
    }

    #[test]
    fn reads_lists_yaml_dumps_and_reports_bad_files() {
        let d = tempfile::tempdir().expect("tempdir");
        // kubectl get -o json List with kinds on items
        write(
            d.path(),
            "a/pods.json",
            r#"{"apiVersion":"v1","kind":"List","items":[
            {"apiVersion":"v1","kind":"Pod","metadata":{"name":"p1","namespace":"x"}},
            {"apiVersion":"v1","kind":"Widget","metadata":{"name":"w"}}]}"#,
        );
        // cluster-info dump style typed list without kinds on items
        write(
            d.path(),
            "dump/x/services.json",
            r#"{"kind":"ServiceList","apiVersion":"v1","items":[
            {"metadata":{"name":"s1","namespace":"x"},"spec":{}}]}"#,
        );
        // multi-document YAML
        write(
            d.path(),
            "b/all.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d1, namespace: x}\nspec:\n  selector: {}\n  template: {}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c1, namespace: x}\n",
        );
        // broken files
        write(
            d.path(),
            "c/broken.json",
            r#"{"apiVersion":"v1","kind":"Pod","metadata":"#,
        );
        write(d.path(), "c/broken.yaml", "kind: [unclosed\n");
        write(
            d.path(),
            "c/badobj.json",
            r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"bad","namespace":"x"},"spec":{"containers":"nope"}}"#,
        );
        write(
            d.path(),
            "c/oldingress.yaml",
            "apiVersion: extensions/v1beta1\nkind: Ingress\nmetadata: {name: i}\n",
        );
        write(d.path(), "notes.txt", "ignored");
        // Older apiVersions of the same shape load as the current kind, from JSON and YAML.
        write(
            d.path(),
            "d/old.json",
            r#"{"apiVersion":"batch/v1beta1","kind":"CronJob","metadata":{"name":"cj","namespace":"x"},"spec":{"schedule":"* * * * *","jobTemplate":{}}}"#,
        );
        write(
            d.path(),
            "d/old.yaml",
            "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata: {name: pdb, namespace: x}\nspec: {minAvailable: 1}\n",
        );

        let loaded = load_paths(&[d.path().to_path_buf()]).expect("load");
        let mut kinds: Vec<&str> = loaded.objects.iter().map(|o| o.kind().name()).collect();
        kinds.sort();
        assert_eq!(
            kinds,
            vec![
                "ConfigMap",
                "CronJob",
                "Deployment",
                "Pod",
                "PodDisruptionBudget",
                "Service"
            ]
        );
        assert_eq!(loaded.ignored, 1);
        let msgs: Vec<String> = loaded.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(msgs.len(), 4, "{msgs:#?}");
        assert!(
            msgs.iter()
                .any(|m| m.contains("broken.json") && m.contains("invalid JSON"))
        );
        assert!(
            msgs.iter()
                .any(|m| m.contains("broken.yaml") && m.contains("invalid YAML"))
        );
        assert!(
            msgs.iter()
                .any(|m| m.contains("badobj.json") && m.contains("Pod x/bad"))
        );
        assert!(
            msgs.iter()
                .any(|m| m.contains("oldingress.yaml") && m.contains("networking.k8s.io/v1"))
        );
    }

    #[test]
    fn missing_path_is_an_error() {
        let err = load_paths(&[PathBuf::from("/no/such/dir")]).expect_err("must fail");
        assert!(
            err.to_string()
                .contains("/no/such/dir: no such file or directory")
        );
    }
}
