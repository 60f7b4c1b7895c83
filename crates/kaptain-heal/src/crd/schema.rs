//! JSON-schema-only mirrors of `kaptain-model` types (which know nothing of schemars), and
//! schema helpers for free-form JSON fields. Fields keep their model types; these mirrors only
//! describe them to the API server (`#[schemars(with = ...)]`). A test checks they agree.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

/// Any JSON value, kept as is by the API server (before/after states, patches, manifests).
pub(crate) fn any_json(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "x-kubernetes-preserve-unknown-fields": true })
}

/// A Go duration (`30s`, `5m`, `1h30m`, `0`), as `kube_core::Duration` parses it: the
/// pattern lets the API server refuse what the operator could not read (an unreadable
/// object would stop the operator's watch of every policy).
pub(crate) const DURATION_PATTERN: &str =
    r"^[-+]?(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$";

pub(crate) fn duration(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "pattern": DURATION_PATTERN })
}

pub(crate) fn optional_duration(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "nullable": true, "pattern": DURATION_PATTERN })
}

// Mirrors kaptain_model::Severity.
/// How bad a finding is.
#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SeveritySchema {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

// Mirrors kaptain_model::Category.
/// What area of operations a finding belongs to.
#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum CategorySchema {
    Reliability,
    Config,
    Scheduling,
    Network,
    Storage,
    Security,
    Cost,
    Certificate,
    Capacity,
}

// Mirrors kaptain_model::ObjectRef.
/// One Kubernetes object (which may not exist, e.g. a missing ConfigMap).
#[allow(dead_code)]
#[derive(JsonSchema)]
pub(crate) struct ObjectRefSchema {
    #[serde(rename = "apiVersion")]
    api_version: String,
    kind: String,
    #[serde(default)]
    namespace: Option<String>,
    name: String,
}

// Mirrors kaptain_model::EvidenceSource.
/// Where a piece of evidence comes from.
#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum EvidenceSourceSchema {
    Status,
    Event,
    Spec,
    Log,
    Metric,
    Reference,
}

// Mirrors kaptain_model::Evidence.
/// One fact that supports a finding.
#[allow(dead_code)]
#[derive(JsonSchema)]
pub(crate) struct EvidenceSchema {
    source: EvidenceSourceSchema,
    detail: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaptain_model::{Category, Evidence, EvidenceSource, ObjectRef, Severity};
    use serde_json::{Value, json};

    fn enum_values<T: JsonSchema>() -> Vec<Value> {
        let s = schemars::schema_for!(T);
        let v = s.as_value();
        if let Some(e) = v.get("enum").and_then(Value::as_array) {
            return e.clone();
        }
        v.get("oneOf")
            .and_then(Value::as_array)
            .map(|alts| {
                alts.iter()
                    .flat_map(|a| {
                        a.get("enum")
                            .and_then(Value::as_array)
                            .cloned()
                            .or_else(|| a.get("const").map(|c| vec![c.clone()]))
                            .unwrap_or_default()
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn mirrors_accept_every_model_value() {
        let sev = enum_values::<SeveritySchema>();
        for s in Severity::ALL {
            assert!(sev.contains(&json!(s.as_str())), "severity {s} missing");
        }
        assert_eq!(sev.len(), Severity::ALL.len());
        let cat = enum_values::<CategorySchema>();
        for c in Category::ALL {
            assert!(cat.contains(&json!(c.as_str())), "category {c} missing");
        }
        assert_eq!(cat.len(), Category::ALL.len());
        let src = enum_values::<EvidenceSourceSchema>();
        for s in [
            EvidenceSource::Status,
            EvidenceSource::Event,
            EvidenceSource::Spec,
            EvidenceSource::Log,
            EvidenceSource::Metric,
            EvidenceSource::Reference,
        ] {
            let v = serde_json::to_value(Evidence {
                source: s,
                detail: String::new(),
            })
            .expect("serialize");
            assert!(src.contains(&v["source"]), "evidence source {s:?} missing");
        }
    }

    #[test]
    fn object_ref_mirror_has_the_model_fields() {
        let s = schemars::schema_for!(ObjectRefSchema);
        let props = s.as_value()["properties"].clone();
        let o = serde_json::to_value(ObjectRef::new("apps/v1", "Deployment", Some("a"), "b"))
            .expect("serialize");
        for k in o.as_object().expect("object").keys() {
            assert!(props.get(k).is_some(), "mirror lacks {k}");
        }
        let required = s.as_value()["required"].clone();
        assert_eq!(required, json!(["apiVersion", "kind", "name"]));
    }
}
