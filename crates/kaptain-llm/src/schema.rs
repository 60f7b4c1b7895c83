//! Tool-call arguments (and JSON answers) checked against a JSON Schema, with errors a model
//! can read and fix: the prompt shim's repair round and the loop send them back.
//!
//! Uses the `jsonschema` crate (drafts 4 to 2020-12, what schemars emits); remote `$ref`s are
//! not fetched.

use serde_json::Value;

/// How many errors one message lists.
const MAX_ERRORS: usize = 3;

/// `Ok` when `value` is valid against `schema`; otherwise one line naming where and what,
/// e.g. `/namespace: 5 is not of type "string"; "name" is a required property`.
pub fn validate(schema: &Value, value: &Value) -> Result<(), String> {
    let validator = jsonschema::validator_for(schema)
        .map_err(|e| format!("the schema itself is invalid: {e}"))?;
    let errors: Vec<String> = validator
        .iter_errors(value)
        .take(MAX_ERRORS + 1)
        .map(|e| {
            let at = e.instance_path().as_str();
            if at.is_empty() {
                e.to_string()
            } else {
                format!("{at}: {e}")
            }
        })
        .collect();
    if errors.is_empty() {
        return Ok(());
    }
    let more = errors.len() > MAX_ERRORS;
    let mut line = errors
        .into_iter()
        .take(MAX_ERRORS)
        .collect::<Vec<_>>()
        .join("; ");
    if more {
        line.push_str("; ...");
    }
    Err(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        // The shape schemars emits for a struct with an enum and a list.
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "Args",
            "type": "object",
            "properties": {
                "namespace": {"type": "string"},
                "severity": {"type": "string", "enum": ["high", "low"]},
                "names": {"type": "array", "items": {"type": "string"}},
                "limit": {"type": ["integer", "null"], "format": "uint32", "minimum": 0}
            },
            "required": ["namespace"],
            "additionalProperties": false
        })
    }

    #[test]
    fn valid_arguments_pass() {
        validate(&schema(), &json!({"namespace": "shop"})).expect("valid");
        validate(
            &schema(),
            &json!({"namespace": "shop", "severity": "high", "names": ["a"], "limit": null}),
        )
        .expect("valid");
    }

    #[test]
    fn each_kind_of_mistake_is_named_with_its_place() {
        let e = validate(&schema(), &json!({})).expect_err("missing");
        assert!(e.contains("\"namespace\" is a required property"), "{e}");
        let e = validate(&schema(), &json!({"namespace": 5})).expect_err("type");
        assert!(
            e.starts_with("/namespace: 5 is not of type \"string\""),
            "{e}"
        );
        let e =
            validate(&schema(), &json!({"namespace": "a", "severity": "mid"})).expect_err("enum");
        assert!(e.starts_with("/severity:"), "{e}");
        let e = validate(&schema(), &json!({"namespace": "a", "names": [1]})).expect_err("items");
        assert!(e.starts_with("/names/0:"), "{e}");
        let e = validate(&schema(), &json!({"namespace": "a", "nmae": 1})).expect_err("extra");
        assert!(e.contains("nmae"), "{e}");
        let e = validate(&schema(), &json!("{\"namespace\":")).expect_err("a string");
        assert!(e.contains("is not of type \"object\""), "{e}");
    }

    #[test]
    fn an_invalid_schema_is_said_so() {
        let e = validate(&json!({"type": "no-such-type"}), &json!(1)).expect_err("bad schema");
        assert!(e.contains("schema itself is invalid"), "{e}");
    }
}
