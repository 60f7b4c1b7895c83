//! Keeping the context small: tool output capped in bytes before it enters the conversation,
//! old tool results compacted to one line, token use estimated before a call.
//!
//! A local model's context is a few thousand tokens, and raw listings overflow it (the
//! published evaluations of LLM tools for Kubernetes show exactly this). So:
//! - every tool result is cut to [`Limits::max_tool_bytes`] (at a character boundary) with a
//!   note saying how much was cut;
//! - only the last [`Limits::keep_whole`] tool results stay whole; older ones become
//!   `[compacted: tool X returned N bytes; key lines: …]`, the key lines being those that
//!   carry a fingerprint, a reason, a message, an error, a status or a phase.

use serde_json::Value;

use crate::{ChatRequest, Message, Role};

/// The marker that starts a compacted tool result.
pub const COMPACTED: &str = "[compacted:";

/// Words whose lines are kept when a tool result is compacted.
const KEY_WORDS: &[&str] = &[
    "fingerprint",
    "root_cause",
    "reason",
    "message",
    "error",
    "status",
    "phase",
    "title",
    "check",
];
const KEY_LINES: usize = 4;
const KEY_LINE_CHARS: usize = 120;

/// `text` cut to at most `max` bytes (at a character boundary), with a note when cut.
pub fn cap(text: &str, max: usize) -> (String, bool) {
    if text.len() <= max {
        return (text.to_string(), false);
    }
    let mut end = max;
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    (
        format!(
            "{}\n[truncated: kept {end} of {} bytes; narrow the call (a namespace, a name, a limit) to see the rest]",
            &text[..end],
            text.len()
        ),
        true,
    )
}

fn shorten(line: &str) -> String {
    let line = line.trim().trim_end_matches(',');
    if line.chars().count() <= KEY_LINE_CHARS {
        line.to_string()
    } else {
        let mut s: String = line.chars().take(KEY_LINE_CHARS).collect();
        s.push('…');
        s
    }
}

/// The one line an old tool result becomes.
pub fn summary_line(tool: &str, text: &str) -> String {
    let pretty = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok());
    let body = pretty.as_deref().unwrap_or(text);
    let mut key: Vec<String> = body
        .lines()
        .filter(|l| {
            let low = l.to_ascii_lowercase();
            KEY_WORDS.iter().any(|w| low.contains(w))
        })
        .map(shorten)
        .filter(|l| !l.is_empty())
        .take(KEY_LINES)
        .collect();
    if key.is_empty() {
        key = body
            .lines()
            .map(shorten)
            .filter(|l| l.len() > 2)
            .take(2)
            .collect();
    }
    format!(
        "{COMPACTED} tool {tool} returned {} bytes; key lines: {}]",
        text.len(),
        if key.is_empty() {
            "none".to_string()
        } else {
            key.join(" | ")
        }
    )
}

/// Compacts every tool result but the last `keep_whole` ones; returns how many it compacted
/// now (results compacted before are left as they are).
pub fn compact(messages: &mut [Message], keep_whole: usize) -> usize {
    let tool_idx: Vec<usize> = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| m.role == Role::Tool)
        .map(|(i, _)| i)
        .collect();
    let old = tool_idx.len().saturating_sub(keep_whole);
    let mut n = 0;
    for &i in &tool_idx[..old] {
        let m = &mut messages[i];
        if m.content.starts_with(COMPACTED) {
            continue;
        }
        let tool = m.name.clone().unwrap_or_else(|| "?".into());
        m.content = summary_line(&tool, &m.content);
        n += 1;
    }
    n
}

/// A rough count of the tokens `req` costs as input: its JSON size over four (the usual
/// bytes-per-token of English and JSON with BPE tokenizers). Used only to refuse a call that
/// would overrun the budget; the budget itself is charged with the provider's own counts.
pub fn estimate_tokens(req: &ChatRequest) -> u64 {
    let bytes = serde_json::to_vec(req).map_or(0, |v| v.len());
    (bytes as u64).div_ceil(4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ToolCall;
    use serde_json::json;

    fn call(name: &str) -> ToolCall {
        ToolCall {
            id: format!("c-{name}"),
            name: name.into(),
            arguments: json!({}),
        }
    }

    #[test]
    fn cap_cuts_at_a_char_boundary_and_says_so() {
        let (s, cut) = cap("ééééé", 3);
        assert!(cut);
        assert!(s.starts_with("é\n[truncated: kept 2 of 10 bytes"), "{s}");
        assert_eq!(cap("short", 10), ("short".to_string(), false));
    }

    #[test]
    fn old_results_become_one_line_with_key_lines() {
        let big = json!({"items": [{"fingerprint": "00aa11bb22cc33dd", "reason": "CreateContainerConfigError",
            "noise": "x".repeat(500)}]})
        .to_string();
        let mut msgs = vec![
            Message::user("q"),
            Message::tool_result(&call("diagnose"), big.clone()),
            Message::tool_result(&call("events"), "plain\ntext lines\n"),
            Message::tool_result(&call("logs"), "last"),
        ];
        assert_eq!(compact(&mut msgs, 1), 2);
        let first = &msgs[1].content;
        assert!(
            first.starts_with("[compacted: tool diagnose returned"),
            "{first}"
        );
        assert!(first.contains(&format!("{} bytes", big.len())), "{first}");
        assert!(first.contains("00aa11bb22cc33dd") && first.contains("CreateContainerConfigError"));
        assert!(!first.contains("xxxxxxxxxx"), "{first}");
        assert!(
            msgs[2].content.contains("key lines: plain | text lines"),
            "{}",
            msgs[2].content
        );
        assert_eq!(msgs[3].content, "last");
        // Idempotent.
        assert_eq!(compact(&mut msgs, 1), 0);
    }

    #[test]
    fn estimate_grows_with_the_request() {
        let small = ChatRequest {
            messages: vec![Message::user("hi")],
            ..ChatRequest::default()
        };
        let big = ChatRequest {
            messages: vec![Message::user("hi ".repeat(1000))],
            ..ChatRequest::default()
        };
        assert!(estimate_tokens(&big) > estimate_tokens(&small) + 500);
    }
}
