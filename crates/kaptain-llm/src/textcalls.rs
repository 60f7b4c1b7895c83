//! Tool calls some servers write as text in the message content instead of the API's
//! `tool_calls` (local models behind llama.cpp, Ollama or vLLM without a tool parser), and tool
//! arguments given as a JSON string or as an object.
//!
//! Forms read:
//! - `<tool_call>{"name": .., "arguments": ..}</tool_call>` (Hermes, Qwen; the closing tag may
//!   be missing), `<|python_tag|>{..}` (Llama 3.1), `[TOOL_CALLS] [{..}]` (Mistral) — any name;
//! - a fenced block (```` ```json ````) or the whole content being a JSON object (or an array of
//!   them) with `name` and `arguments` — only when the name is one of the offered tools, so
//!   that a JSON answer is not mistaken for a call.
//!
//! Arguments may be under `arguments`, `parameters`, `args` or `input`; `{"function": {..}}`
//! wrappers are unwrapped. The calls found are removed from the text.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value};

use crate::ToolCall;

/// A made-up call id, unique in this process, for providers that give none.
pub(crate) fn new_call_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("call_k{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Arguments as the API gave them: an object is kept; a string is parsed as JSON (twice when
/// it holds a JSON-encoded string); empty or null is `{}`. A string that is not JSON stays a
/// string, so that the caller's schema check reports it and the model can be told.
pub fn normalize_arguments(v: &Value) -> Value {
    match v {
        Value::Null => Value::Object(Map::new()),
        Value::String(s) => parse_arguments(s),
        other => other.clone(),
    }
}

/// Arguments streamed or written as text.
pub fn parse_arguments(s: &str) -> Value {
    let t = s.trim();
    if t.is_empty() {
        return Value::Object(Map::new());
    }
    match serde_json::from_str::<Value>(t) {
        Ok(Value::String(inner)) if inner.trim_start().starts_with('{') => {
            serde_json::from_str(&inner).unwrap_or(Value::String(inner))
        }
        Ok(v) => v,
        Err(_) => Value::String(s.to_string()),
    }
}

/// The calls written in `text`, and `text` without them (trimmed). `offered` names the tools
/// of the request; with none offered nothing is extracted.
pub fn extract_tool_calls(text: &str, offered: &[&str]) -> (String, Vec<ToolCall>) {
    if offered.is_empty() || text.trim().is_empty() {
        return (text.to_string(), Vec::new());
    }
    let mut calls = Vec::new();
    let mut rest = text.to_string();

    // Tagged forms: the model meant a call, whatever the name.
    for (open, close) in [
        ("<tool_call>", Some("</tool_call>")),
        ("<|python_tag|>", Some("<|eom_id|>")),
        ("[TOOL_CALLS]", None),
    ] {
        rest = strip_tagged(&rest, open, close, &mut calls);
    }

    // Fenced blocks whose JSON is a call of an offered tool.
    rest = strip_fenced(&rest, offered, &mut calls);

    // The whole content one JSON call (or an array of them).
    let t = rest.trim();
    if (t.starts_with('{') || t.starts_with('['))
        && calls.is_empty()
        && let Some(found) = calls_in(t, false)
        && !found.is_empty()
        && found.iter().all(|c| offered.contains(&c.name.as_str()))
    {
        calls.extend(found);
        rest.clear();
    }
    if calls.is_empty() {
        return (text.to_string(), calls);
    }
    (rest.trim().to_string(), calls)
}

fn strip_tagged(text: &str, open: &str, close: Option<&str>, calls: &mut Vec<ToolCall>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(open) {
        let after = &rest[start + open.len()..];
        let (inner, next) = match close.and_then(|c| after.find(c).map(|i| (i, c.len()))) {
            Some((i, len)) => (&after[..i], &after[i + len..]),
            None => (after, ""),
        };
        match calls_in(inner.trim(), true) {
            Some(found) if !found.is_empty() => {
                out.push_str(&rest[..start]);
                calls.extend(found);
                rest = next;
            }
            _ => {
                // Not a call after all: keep the text as written.
                out.push_str(&rest[..start + open.len()]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn strip_fenced(text: &str, offered: &[&str], calls: &mut Vec<ToolCall>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("```") {
        let after = &rest[start + 3..];
        // The info string (json, tool_call, ...) up to the end of the line.
        let body_start = after.find('\n').map(|i| i + 1).unwrap_or(0);
        let info = after[..body_start].trim();
        let Some(end) = after[body_start..].find("```") else {
            break;
        };
        let body = &after[body_start..body_start + end];
        let next = &after[body_start + end + 3..];
        let is_json_info = info.is_empty() || info.chars().all(|c| c.is_alphanumeric() || c == '_');
        let found = if is_json_info {
            calls_in(body.trim(), false)
                .filter(|f| !f.is_empty() && f.iter().all(|c| offered.contains(&c.name.as_str())))
        } else {
            None
        };
        match found {
            Some(found) => {
                out.push_str(&rest[..start]);
                calls.extend(found);
            }
            None => out.push_str(&rest[..start + 3 + body_start + end + 3]),
        }
        rest = next;
    }
    out.push_str(rest);
    out
}

/// The calls in `s`: JSON objects (one or several in a row) or an array of them. `lenient`:
/// a `name` without arguments is a call with `{}`.
fn calls_in(s: &str, lenient: bool) -> Option<Vec<ToolCall>> {
    let mut values = Vec::new();
    for v in serde_json::Deserializer::from_str(s).into_iter::<Value>() {
        values.push(v.ok()?);
    }
    let mut calls = Vec::new();
    for v in values {
        match v {
            Value::Array(items) => {
                for item in items {
                    calls.push(call_from(&item, lenient)?);
                }
            }
            other => calls.push(call_from(&other, lenient)?),
        }
    }
    Some(calls)
}

fn call_from(v: &Value, lenient: bool) -> Option<ToolCall> {
    let o = v.as_object()?;
    if let Some(f) = o.get("function").filter(|f| f.is_object()) {
        return call_from(f, lenient);
    }
    let name = o
        .get("name")
        .or_else(|| o.get("tool"))
        .and_then(Value::as_str)?
        .trim()
        .to_string();
    if name.is_empty() {
        return None;
    }
    let args = ["arguments", "parameters", "args", "input"]
        .iter()
        .find_map(|k| o.get(*k));
    let arguments = match args {
        Some(a) => normalize_arguments(a),
        None if lenient => Value::Object(Map::new()),
        None => return None,
    };
    let id = o
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(new_call_id);
    Some(ToolCall {
        id,
        name,
        arguments,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const OFFERED: &[&str] = &["get_pods", "get_events"];

    #[test]
    fn tagged_calls_are_parsed_and_stripped() {
        let (text, calls) = extract_tool_calls(
            "Let me look.\n<tool_call>\n{\"name\": \"get_pods\", \"arguments\": {\"namespace\": \"shop\"}}\n</tool_call>",
            OFFERED,
        );
        assert_eq!(text, "Let me look.");
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].name, "get_pods");
        assert_eq!(calls[0].arguments, json!({"namespace": "shop"}));

        // Two calls, one with string arguments, the closing tag of the last one missing.
        let (text, calls) = extract_tool_calls(
            "<tool_call>{\"name\":\"get_pods\",\"arguments\":\"{\\\"namespace\\\":\\\"a\\\"}\"}</tool_call><tool_call>{\"name\":\"get_events\",\"parameters\":{}}",
            OFFERED,
        );
        assert_eq!(text, "");
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].arguments, json!({"namespace": "a"}));
        assert_eq!(calls[1].name, "get_events");
        assert_ne!(calls[0].id, calls[1].id);

        let (_, calls) = extract_tool_calls(
            "[TOOL_CALLS] [{\"name\": \"get_events\", \"arguments\": {\"limit\": 3}}]",
            OFFERED,
        );
        assert_eq!(calls[0].arguments, json!({"limit": 3}));
        let (_, calls) = extract_tool_calls(
            "<|python_tag|>{\"name\": \"get_pods\", \"parameters\": {\"namespace\": \"x\"}}<|eom_id|>",
            OFFERED,
        );
        assert_eq!(calls[0].arguments, json!({"namespace": "x"}));
    }

    #[test]
    fn fenced_and_bare_json_calls_need_an_offered_name() {
        let (text, calls) = extract_tool_calls(
            "I will call:\n```json\n{\"name\": \"get_pods\", \"arguments\": {}}\n```\nthen read.",
            OFFERED,
        );
        assert_eq!(calls.len(), 1);
        assert_eq!(text, "I will call:\n\nthen read.");

        let (text, calls) = extract_tool_calls(
            "  {\"type\":\"function\",\"function\":{\"name\":\"get_events\",\"arguments\":{\"n\":1}}} ",
            OFFERED,
        );
        assert_eq!(text, "");
        assert_eq!(calls[0].name, "get_events");

        // A JSON answer that happens to have a name is not a call.
        let answer = "{\"name\": \"checkout\", \"arguments\": [\"x\"], \"status\": \"broken\"}";
        let (text, calls) = extract_tool_calls(answer, OFFERED);
        assert!(calls.is_empty());
        assert_eq!(text, answer);
        let code = "Run this:\n```yaml\nname: get_pods\n```";
        assert_eq!(
            extract_tool_calls(code, OFFERED),
            (code.to_string(), vec![])
        );
        // No tools offered: nothing is read.
        let (_, calls) = extract_tool_calls("<tool_call>{\"name\":\"x\"}</tool_call>", &[]);
        assert!(calls.is_empty());
    }

    #[test]
    fn a_broken_tag_stays_text() {
        let t = "<tool_call>{\"name\": \"get_pods\", \"arguments\": {</tool_call>";
        let (text, calls) = extract_tool_calls(t, OFFERED);
        assert!(calls.is_empty());
        assert_eq!(text, t);
    }

    #[test]
    fn arguments_as_string_or_object() {
        assert_eq!(normalize_arguments(&json!("{\"a\":1}")), json!({"a": 1}));
        assert_eq!(normalize_arguments(&json!({"a": 1})), json!({"a": 1}));
        assert_eq!(normalize_arguments(&json!("")), json!({}));
        assert_eq!(normalize_arguments(&Value::Null), json!({}));
        assert_eq!(
            normalize_arguments(&json!("\"{\\\"a\\\":1}\"")),
            json!({"a": 1})
        );
        assert_eq!(normalize_arguments(&json!("{broken")), json!("{broken"));
    }
}
