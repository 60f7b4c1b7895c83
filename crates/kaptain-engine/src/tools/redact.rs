//! What never leaves the process: Secret values, the last-applied configuration (which holds
//! a Secret's data when it was applied with kubectl), managed fields, credentials in text.

use serde_json::{Map, Value};

/// The annotation `kubectl apply` keeps the whole applied object in.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Strips an object for a tool's output: `metadata.managedFields` and the last-applied
/// annotation go; a Secret keeps its type and the names of its keys (under `keys`), never a
/// value (`data` and `stringData` are removed).
pub fn redact_object(value: &mut Value) {
    let is_secret = value.get("kind").and_then(Value::as_str) == Some("Secret");
    let Some(obj) = value.as_object_mut() else {
        return;
    };
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
        if let Some(ann) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            ann.remove(LAST_APPLIED);
        }
    }
    if is_secret {
        let mut keys: Vec<String> = Vec::new();
        for field in ["data", "stringData"] {
            if let Some(Value::Object(m)) = obj.remove(field) {
                keys.extend(m.keys().cloned());
            }
        }
        keys.sort();
        keys.dedup();
        obj.insert(
            "keys".into(),
            Value::Array(keys.into_iter().map(Value::String).collect()),
        );
        obj.insert(
            "note".into(),
            Value::String("Secret values are never returned; only key names and type.".into()),
        );
    }
}

/// Removes credentials from free text (error messages): the shared scrubber of
/// [`kaptain_model::scrub`] (URL user-info, bearer tokens, sensitive `key: value` pairs, JWTs,
/// private keys).
pub use kaptain_model::scrub_text;

/// A map of a Secret-free object's labels (for listings).
pub fn labels_of(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Map<String, Value> {
    meta.labels
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_keep_keys_only() {
        let mut s = json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": "db", "managedFields": [{"manager": "x"}],
                "annotations": {LAST_APPLIED: "{\"data\":{\"password\":\"c2VjcmV0\"}}", "keep": "me"}},
            "data": {"password": "c2VjcmV0"}, "stringData": {"user": "admin"}});
        redact_object(&mut s);
        let text = s.to_string();
        assert!(
            !text.contains("c2VjcmV0") && !text.contains("admin"),
            "{text}"
        );
        assert_eq!(s["keys"], json!(["password", "user"]));
        assert_eq!(s["type"], "Opaque");
        assert_eq!(s["metadata"]["annotations"], json!({"keep": "me"}));
        assert!(s["metadata"].get("managedFields").is_none());
    }

    #[test]
    fn other_objects_keep_their_data() {
        let mut c = json!({"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}});
        redact_object(&mut c);
        assert_eq!(c["data"]["a"], "b");
    }

    #[test]
    fn credentials_are_scrubbed_from_text() {
        let s = scrub_text(
            "GET https://alice:hunter2@10.0.0.1:6443/api failed; Authorization: Bearer abc.def",
        );
        assert!(!s.contains("hunter2") && !s.contains("abc.def"), "{s}");
        assert!(s.contains("https://***@10.0.0.1:6443/api"), "{s}");
        assert_eq!(scrub_text("plain text"), "plain text");
    }
}
