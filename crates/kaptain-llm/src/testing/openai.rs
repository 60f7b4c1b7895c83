//! Replies of an OpenAI-compatible chat completions server.

use serde_json::{Value, json};

use super::Reply;

/// A completion with `content` (finish `stop`, usage 10 in / 5 out).
pub fn text(content: &str) -> Reply {
    Reply::json(completion(
        json!({"role": "assistant", "content": content}),
        json!("stop"),
    ))
}

/// A completion calling tools: `(id, name, arguments as a JSON string)` each.
pub fn tool_calls(calls: &[(&str, &str, &str)]) -> Reply {
    let calls: Vec<Value> = calls
        .iter()
        .map(|(id, name, args)| {
            json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}})
        })
        .collect();
    Reply::json(completion(
        json!({"role": "assistant", "content": null, "tool_calls": calls}),
        json!("tool_calls"),
    ))
}

/// A whole completion body around `message`, with `finish_reason` as given (a string, `""`
/// or null).
pub fn completion(message: Value, finish_reason: Value) -> Value {
    json!({
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": 1,
        "model": "scripted-model",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    })
}

/// One streamed chunk whose `choices[0].delta` is `delta`.
pub fn chunk(delta: Value, finish_reason: Value) -> Value {
    json!({
        "id": "chatcmpl-scripted",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "scripted-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
    })
}

/// A streamed completion: each chunk as one `data:` event, then `data: [DONE]`.
pub fn stream(chunks: &[Value]) -> Reply {
    let mut payloads: Vec<String> = chunks.iter().map(Value::to_string).collect();
    payloads.push("[DONE]".to_string());
    Reply::sse_data(&payloads)
}

/// A streamed text answer, `pieces` one delta each, finish `stop`, then a usage chunk.
pub fn stream_text(pieces: &[&str]) -> Reply {
    let mut chunks = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    chunks.extend(
        pieces
            .iter()
            .map(|p| chunk(json!({"content": p}), Value::Null)),
    );
    chunks.push(chunk(json!({}), json!("stop")));
    chunks.push(
        json!({"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "choices": [],
                       "usage": {"prompt_tokens": 10, "completion_tokens": pieces.len()}}),
    );
    stream(&chunks)
}
