//! A model's tool-call arguments checked against the tool's JSON Schema before the call.
//!
//! The subset of JSON Schema the ToolRegistry's schemas (schemars, draft-07) use: `type`
//! (one or a list), `properties`, `required`, `additionalProperties`, `items`, `enum`,
//! `const`, `anyOf`/`oneOf`/`allOf`, `minimum`/`maximum`, and local `$ref`s
//! (`#/definitions/…`, `#/$defs/…`). Unknown keywords are ignored (lenient, never wrong).

use serde_json::{Map, Value};

/// Arguments as a model may send them: an object, `null` (no arguments) or an object written
/// as a JSON string (some servers do). Anything else is an error line.
pub fn normalize(args: &Value) -> Result<Value, String> {
    match args {
        Value::Null => Ok(Value::Object(Map::new())),
        Value::Object(_) => Ok(args.clone()),
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(v @ Value::Object(_)) => Ok(v),
            Ok(Value::Null) => Ok(Value::Object(Map::new())),
            _ => Err(format!(
                "the arguments must be a JSON object, not the text {}",
                short(s)
            )),
        },
        other => Err(format!(
            "the arguments must be a JSON object, not {}",
            type_of(other)
        )),
    }
}

fn short(s: &str) -> String {
    let mut t: String = s.chars().take(80).collect();
    if s.chars().count() > 80 {
        t.push('…');
    }
    format!("{t:?}")
}

fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_matches(want: &str, v: &Value) -> bool {
    match want {
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64(),
        other => type_of(v) == other,
    }
}

/// Checks `value` against `schema`; the first problem, with its path, as one line.
pub fn validate(schema: &Value, value: &Value) -> Result<(), String> {
    check(schema, schema, value, "arguments", 0)
}

fn resolve<'a>(root: &'a Value, r: &str) -> Option<&'a Value> {
    let path = r.strip_prefix("#/")?;
    path.split('/').try_fold(root, |v, part| v.get(part))
}

fn check(root: &Value, schema: &Value, v: &Value, at: &str, depth: usize) -> Result<(), String> {
    if depth > 32 {
        return Ok(());
    }
    let Some(s) = schema.as_object() else {
        // `true` accepts anything; `false` nothing.
        return if schema == &Value::Bool(false) {
            Err(format!("{at} is not allowed"))
        } else {
            Ok(())
        };
    };
    if let Some(r) = s.get("$ref").and_then(Value::as_str)
        && let Some(target) = resolve(root, r)
    {
        check(root, target, v, at, depth + 1)?;
    }
    if let Some(t) = s.get("type") {
        let types: Vec<&str> = match t {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !types.is_empty() && !types.iter().any(|t| type_matches(t, v)) {
            return Err(format!(
                "{at} must be {}, not {}",
                types.join(" or "),
                type_of(v)
            ));
        }
    }
    if let Some(c) = s.get("const")
        && c != v
    {
        return Err(format!("{at} must be {c}"));
    }
    if let Some(Value::Array(options)) = s.get("enum")
        && !options.contains(v)
    {
        let list: Vec<String> = options.iter().map(Value::to_string).collect();
        return Err(format!("{at} must be one of {}", list.join(", ")));
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(options)) = s.get(key)
            && !options
                .iter()
                .any(|o| check(root, o, v, at, depth + 1).is_ok())
        {
            let consts: Vec<String> = options
                .iter()
                .filter_map(|o| o.get("const").or_else(|| o.get("enum")))
                .map(Value::to_string)
                .collect();
            return Err(if consts.is_empty() {
                format!("{at} matches none of the allowed forms")
            } else {
                format!("{at} must be one of {}", consts.join(", "))
            });
        }
    }
    if let Some(Value::Array(all)) = s.get("allOf") {
        for o in all {
            check(root, o, v, at, depth + 1)?;
        }
    }
    if let Some(n) = v.as_f64() {
        if let Some(min) = s.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            return Err(format!("{at} must be at least {min}"));
        }
        if let Some(max) = s.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            return Err(format!("{at} must be at most {max}"));
        }
    }
    if let Value::Object(obj) = v {
        let props = s.get("properties").and_then(Value::as_object);
        if let Some(Value::Array(req)) = s.get("required") {
            for r in req.iter().filter_map(Value::as_str) {
                if !obj.contains_key(r) {
                    return Err(format!("{at}.{r} is required"));
                }
            }
        }
        for (k, x) in obj {
            let sub = format!("{at}.{k}");
            match props.and_then(|p| p.get(k)) {
                Some(ps) => check(root, ps, x, &sub, depth + 1)?,
                None => match s.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        let known: Vec<&str> = props
                            .map(|p| p.keys().map(String::as_str).collect())
                            .unwrap_or_default();
                        return Err(format!(
                            "{sub} is not a known argument (known: {})",
                            known.join(", ")
                        ));
                    }
                    Some(extra @ Value::Object(_)) => check(root, extra, x, &sub, depth + 1)?,
                    _ => {}
                },
            }
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (v, s.get("items")) {
        for (i, x) in items.iter().enumerate() {
            check(root, item_schema, x, &format!("{at}[{i}]"), depth + 1)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["kind", "action"],
            "properties": {
                "kind": {"type": "string"},
                "namespace": {"type": ["string", "null"]},
                "limit": {"type": ["integer", "null"], "format": "uint", "minimum": 0},
                "action": {"$ref": "#/definitions/Action"},
                "names": {"type": "array", "items": {"type": "string"}}
            },
            "definitions": {"Action": {"oneOf": [
                {"type": "string", "const": "scale"}, {"type": "string", "enum": ["restart"]}]}}
        })
    }

    #[test]
    fn valid_arguments_pass() {
        let ok = json!({"kind": "Deployment", "namespace": null, "limit": 3, "action": "restart",
            "names": ["a"]});
        assert_eq!(validate(&schema(), &ok), Ok(()));
    }

    #[test]
    fn each_problem_is_named_with_its_path() {
        let cases = [
            (json!({"action": "scale"}), "arguments.kind is required"),
            (
                json!({"kind": 3, "action": "scale"}),
                "arguments.kind must be string, not integer",
            ),
            (
                json!({"kind": "x", "action": "delete"}),
                "arguments.action must be one of \"scale\", [\"restart\"]",
            ),
            (
                json!({"kind": "x", "action": "scale", "limit": -1}),
                "arguments.limit must be at least 0",
            ),
            (
                json!({"kind": "x", "action": "scale", "names": [1]}),
                "arguments.names[0] must be string",
            ),
            (
                json!({"kind": "x", "action": "scale", "nmae": "y"}),
                "arguments.nmae is not a known argument",
            ),
        ];
        for (v, want) in cases {
            let e = validate(&schema(), &v).expect_err("invalid");
            assert!(e.starts_with(want), "{v}: {e}");
        }
    }

    #[test]
    fn arguments_written_as_text_are_read() {
        assert_eq!(normalize(&json!("{\"a\":1}")), Ok(json!({"a": 1})));
        assert_eq!(normalize(&Value::Null), Ok(json!({})));
        assert!(normalize(&json!("kind=Pod")).is_err());
        assert!(normalize(&json!([1])).is_err());
    }
}
