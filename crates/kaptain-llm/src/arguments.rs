//! A model's tool-call arguments made an object before the loop checks them against the
//! tool's JSON Schema with [`crate::schema::validate`] (the `jsonschema` crate, as the prompt
//! shim does).

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
            match other {
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                _ => "an array",
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arguments_become_an_object_or_an_error_line() {
        assert_eq!(normalize(&Value::Null), Ok(json!({})));
        assert_eq!(normalize(&json!("{\"a\":1}")), Ok(json!({"a": 1})));
        assert!(normalize(&json!("delete everything")).is_err_and(|e| e.contains("not the text")));
        assert!(normalize(&json!([1])).is_err_and(|e| e.contains("an array")));
    }
}
