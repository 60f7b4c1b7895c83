//! Replies of Anthropic's Messages API.

use serde_json::{Value, json};

use super::Reply;

/// A message with these content blocks and `stop_reason`.
pub fn message(content: Value, stop_reason: &str) -> Reply {
    Reply::json(json!({
        "id": "msg_scripted",
        "type": "message",
        "role": "assistant",
        "model": "claude-scripted",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": null,
        "usage": {"input_tokens": 20, "output_tokens": 7}
    }))
}

/// A text answer.
pub fn text(t: &str) -> Reply {
    message(json!([{"type": "text", "text": t}]), "end_turn")
}

/// A `tool_use` call.
pub fn tool_use(id: &str, name: &str, input: Value) -> Reply {
    message(
        json!([{"type": "tool_use", "id": id, "name": name, "input": input}]),
        "tool_use",
    )
}

/// An error as the API sends it.
pub fn error(status: u16, kind: &str, message: &str) -> Reply {
    Reply::Json {
        status,
        body: json!({"type": "error", "error": {"type": kind, "message": message}}),
    }
}

/// A stream of `(event name, data)` events, one chunk each.
pub fn stream(events: &[(&str, Value)]) -> Reply {
    Reply::Sse {
        status: 200,
        chunks: events
            .iter()
            .map(|(e, d)| format!("event: {e}\ndata: {d}\n\n"))
            .collect(),
    }
}
