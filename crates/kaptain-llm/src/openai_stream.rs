//! Reassembling a streamed OpenAI-compatible completion: text deltas, tool-call deltas (by
//! index; arguments in fragments), finish reason and usage, as the servers of the field send
//! them — some send a call's id and name only in its first delta, some repeat them in every
//! delta, some omit the index, some repeat the whole arguments at the end, some send the
//! arguments as an object.
//!
//! [`TextGate`] holds text back from `on_text` once it may be a tool call written as text
//! (`<tool_call>`, a fenced block, a bare JSON object), so that the person reading the stream
//! does not see calls that are then taken out of the answer.

use serde_json::Value;

use crate::textcalls::{extract_tool_calls, new_call_id, normalize_arguments, parse_arguments};
use crate::{ToolCall, Usage};

#[derive(Debug, Default)]
struct PartialCall {
    /// The delta index the server gave, if any.
    index: Option<u64>,
    id: Option<String>,
    name: String,
    args: String,
    /// Arguments given as a JSON object instead of string fragments.
    args_obj: Option<Value>,
}

impl PartialCall {
    fn args_complete(&self) -> bool {
        self.args_obj.is_some()
            || (!self.args.is_empty() && serde_json::from_str::<Value>(&self.args).is_ok())
    }
}

/// The parts of one streamed completion.
#[derive(Debug, Default)]
pub(crate) struct StreamAssembler {
    calls: Vec<PartialCall>,
    /// The legacy `function_call` deltas, kept apart: llama-cpp-python sends both forms, and
    /// its `tool_calls` deltas lose the first fragment of the arguments.
    legacy: PartialCall,
    pub finish: Option<String>,
    pub usage: Option<Usage>,
    pub model: Option<String>,
}

impl StreamAssembler {
    /// Reads one chunk (`choices[0].delta`, `usage`, `model`); returns its text delta.
    pub fn push(&mut self, chunk: &Value) -> Option<String> {
        if let Some(m) = chunk.get("model").and_then(Value::as_str)
            && !m.is_empty()
        {
            self.model = Some(m.to_string());
        }
        if let Some(u) = chunk.get("usage").and_then(usage_of) {
            self.usage = Some(u);
        }
        let choice = chunk.get("choices").and_then(|c| c.get(0))?;
        if let Some(f) = choice.get("finish_reason").and_then(Value::as_str)
            && !f.is_empty()
        {
            self.finish = Some(f.to_string());
        }
        let delta = match choice.get("delta") {
            Some(d) if d.is_object() => d,
            _ => choice.get("message")?,
        };
        if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
            for (pos, c) in calls.iter().enumerate() {
                self.push_call(c, pos);
            }
        }
        if let Some(fc) = delta.get("function_call").filter(|f| f.is_object()) {
            push_fragments(&mut self.legacy, fc);
        }
        match delta.get("content") {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Array(parts)) => {
                let t: String = parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect();
                (!t.is_empty()).then_some(t)
            }
            _ => None,
        }
    }

    fn slot_for(&mut self, c: &Value, pos_in_delta: usize) -> usize {
        let f = c.get("function");
        let id = c
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let name = f
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        if let Some(index) = c.get("index").and_then(Value::as_u64) {
            if let Some(i) = self.calls.iter().position(|p| p.index == Some(index)) {
                return i;
            }
            // An id seen before under no index.
            if let Some(i) = id.and_then(|id| {
                self.calls
                    .iter()
                    .position(|p| p.index.is_none() && p.id.as_deref() == Some(id))
            }) {
                self.calls[i].index = Some(index);
                return i;
            }
            self.calls.push(PartialCall {
                index: Some(index),
                ..PartialCall::default()
            });
            return self.calls.len() - 1;
        }
        // No index: an id names the call; otherwise a name after a complete call (or a second
        // entry of the same delta) starts a new one; anything else continues the last call.
        if let Some(id) = id
            && let Some(i) = self.calls.iter().position(|p| p.id.as_deref() == Some(id))
        {
            return i;
        }
        let starts_new = match self.calls.last() {
            None => true,
            Some(last) => {
                id.is_some_and(|id| last.id.as_deref().is_some_and(|l| l != id))
                    || (id.is_some() && last.id.is_none() && !last.name.is_empty())
                    || pos_in_delta > 0
                    || name.is_some_and(|n| {
                        !last.name.is_empty() && (last.name != n || last.args_complete())
                    })
            }
        };
        if starts_new {
            self.calls.push(PartialCall::default());
        }
        self.calls.len() - 1
    }

    fn push_call(&mut self, c: &Value, pos_in_delta: usize) {
        let i = self.slot_for(c, pos_in_delta);
        let slot = &mut self.calls[i];
        if let Some(id) = c
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            && slot.id.is_none()
        {
            slot.id = Some(id.to_string());
        }
        let Some(f) = c.get("function") else { return };
        push_fragments(slot, f);
    }
    /// The calls, in the order they were started. Calls without a name are dropped. The
    /// legacy `function_call` stands in for a first call whose arguments do not parse (or
    /// for no `tool_calls` at all).
    pub fn calls(&self) -> Vec<ToolCall> {
        let to_call = |p: &PartialCall| ToolCall {
            id: p.id.clone().unwrap_or_else(new_call_id),
            name: p.name.clone(),
            arguments: match &p.args_obj {
                Some(o) => normalize_arguments(o),
                None => parse_arguments(&p.args),
            },
        };
        let mut calls: Vec<ToolCall> = self
            .calls
            .iter()
            .filter(|p| !p.name.is_empty())
            .map(to_call)
            .collect();
        if !self.legacy.name.is_empty() && self.legacy.args_complete() {
            match calls.first_mut() {
                None => calls.push(to_call(&self.legacy)),
                // A lost fragment leaves arguments that do not parse (a proper suffix of a
                // JSON object is never one).
                Some(first) if first.name == self.legacy.name && !first.arguments.is_object() => {
                    first.arguments = to_call(&self.legacy).arguments;
                }
                Some(_) => {}
            }
        }
        calls
    }
}

/// A call's `function` delta (`name`, `arguments`) added to `slot`.
fn push_fragments(slot: &mut PartialCall, f: &Value) {
    if let Some(n) = f
        .get("name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        if slot.name.is_empty() {
            slot.name = n.to_string();
        } else if slot.name != n && !slot.name.ends_with(n) {
            // A name streamed in fragments.
            slot.name.push_str(n);
        }
    }
    match f.get("arguments") {
        Some(Value::String(s)) if !s.is_empty() => {
            // A server that repeats the whole arguments at the end.
            if slot.args_complete() && (s == &slot.args || s.starts_with(&slot.args)) {
                if s != &slot.args && serde_json::from_str::<Value>(s).is_ok() {
                    slot.args = s.clone();
                }
                return;
            }
            slot.args.push_str(s);
        }
        Some(v @ Value::Object(_)) => slot.args_obj = Some(v.clone()),
        _ => {}
    }
}

/// Token counts of an OpenAI-style `usage` object.
pub(crate) fn usage_of(u: &Value) -> Option<Usage> {
    let n = |k: &str| u.get(k).and_then(Value::as_u64);
    let input = n("prompt_tokens").or_else(|| n("input_tokens"));
    let output = n("completion_tokens").or_else(|| n("output_tokens"));
    if input.is_none() && output.is_none() {
        return None;
    }
    Some(Usage {
        input_tokens: input.unwrap_or(0),
        output_tokens: output.unwrap_or(0),
    })
}

const MARKERS: &[&str] = &["<tool_call>", "<|python_tag|>", "[TOOL_CALLS]", "```"];

/// Streams text to `on_text`, holding back what may be a tool call written as text.
#[derive(Debug)]
pub(crate) struct TextGate {
    /// Tools were offered (otherwise everything passes at once).
    active: bool,
    /// The text handed on so far.
    emitted: String,
    held: String,
    /// From a marker (or a leading `{`/`[`) on, everything is held to the end.
    hold_all: bool,
}

impl TextGate {
    pub fn new(tools_offered: bool) -> TextGate {
        TextGate {
            active: tools_offered,
            emitted: String::new(),
            held: String::new(),
            hold_all: false,
        }
    }

    pub fn push(&mut self, delta: &str, on_text: &mut (dyn for<'t> FnMut(&'t str) + Send)) {
        if !self.active {
            self.emit(delta, on_text);
            return;
        }
        self.held.push_str(delta);
        if self.hold_all {
            return;
        }
        if self.emitted.trim().is_empty() {
            let t = self.held.trim_start();
            if t.is_empty() {
                return;
            }
            if t.starts_with('{') || t.starts_with('[') {
                self.hold_all = true;
                return;
            }
        }
        // Up to the first marker, or up to a tail that may begin one.
        let cut = match MARKERS.iter().filter_map(|m| self.held.find(m)).min() {
            Some(at) => {
                self.hold_all = true;
                at
            }
            None => {
                let mut cut = self.held.len();
                for m in MARKERS {
                    for k in (1..m.len()).rev() {
                        if self.held.ends_with(&m[..k]) {
                            cut = cut.min(self.held.len() - k);
                            break;
                        }
                    }
                }
                cut
            }
        };
        if cut > 0 {
            let out: String = self.held.drain(..cut).collect();
            self.emit(&out, on_text);
        }
    }

    fn emit(&mut self, s: &str, on_text: &mut (dyn for<'t> FnMut(&'t str) + Send)) {
        if !s.is_empty() {
            self.emitted.push_str(s);
            on_text(s);
        }
    }

    /// The end: the held text without the calls it holds goes out; returns the whole text
    /// and the calls.
    pub fn finish(
        mut self,
        offered: &[&str],
        on_text: &mut (dyn for<'t> FnMut(&'t str) + Send),
    ) -> (String, Vec<ToolCall>) {
        let held = std::mem::take(&mut self.held);
        let (rest, calls) = extract_tool_calls(&held, offered);
        if calls.is_empty() {
            self.emit(&held, on_text);
            return (self.emitted, calls);
        }
        self.emit(&rest, on_text);
        (self.emitted.trim_end().to_string(), calls)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn assemble(chunks: &[Value]) -> StreamAssembler {
        let mut a = StreamAssembler::default();
        for c in chunks {
            a.push(c);
        }
        a
    }

    fn delta(calls: Value) -> Value {
        json!({"choices": [{"index": 0, "delta": {"tool_calls": calls}, "finish_reason": null}]})
    }

    #[test]
    fn fragments_are_joined_by_index_with_the_id_and_name_sent_once() {
        let a = assemble(&[
            delta(
                json!([{"index": 0, "id": "call_a", "type": "function", "function": {"name": "get_pods", "arguments": ""}}]),
            ),
            delta(json!([{"index": 0, "function": {"arguments": "{\"names"}}])),
            delta(
                json!([{"index": 1, "id": "call_b", "function": {"name": "get_events", "arguments": "{}"}}]),
            ),
            delta(json!([{"index": 0, "function": {"arguments": "pace\": \"shop\"}"}}])),
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": ""}]}),
            json!({"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 7}}),
        ]);
        let calls = a.calls();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].id, "call_a");
        assert_eq!(calls[0].name, "get_pods");
        assert_eq!(calls[0].arguments, json!({"namespace": "shop"}));
        assert_eq!(calls[1].id, "call_b");
        assert_eq!(calls[1].arguments, json!({}));
        assert_eq!(a.finish, None, "an empty finish_reason is no finish reason");
        assert_eq!(
            a.usage,
            Some(Usage {
                input_tokens: 12,
                output_tokens: 7
            })
        );
    }

    #[test]
    fn ids_and_names_repeated_in_every_delta_are_not_doubled() {
        let a = assemble(&[
            delta(
                json!([{"index": 0, "id": "c1", "function": {"name": "get_pods", "arguments": "{\"a\":"}}]),
            ),
            delta(
                json!([{"index": 0, "id": "c1", "function": {"name": "get_pods", "arguments": "1}"}}]),
            ),
        ]);
        let calls = a.calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].name, "get_pods");
        assert_eq!(calls[0].arguments, json!({"a": 1}));
    }

    #[test]
    fn calls_without_an_index_are_told_apart_by_id_or_by_a_new_name() {
        let a = assemble(&[
            delta(json!([{"id": "x1", "function": {"name": "get_pods", "arguments": "{\"a\""}}])),
            delta(json!([{"function": {"arguments": ": 1}"}}])),
            delta(json!([{"id": "x2", "function": {"name": "get_pods", "arguments": "{}"}}])),
            // No id either: a name after a complete call starts a new one.
            delta(json!([{"function": {"name": "get_events", "arguments": {"n": 2}}}])),
        ]);
        let calls = a.calls();
        assert_eq!(calls.len(), 3, "{calls:?}");
        assert_eq!(calls[0].arguments, json!({"a": 1}));
        assert_eq!(calls[1].id, "x2");
        assert_eq!(calls[2].name, "get_events");
        assert_eq!(calls[2].arguments, json!({"n": 2}));
        assert!(!calls[2].id.is_empty());
    }

    #[test]
    fn llama_cpp_pythons_lost_first_fragment_is_taken_from_function_call() {
        // As llama-cpp-python streams a named tool call: both forms in every delta, the first
        // tool_calls delta with empty arguments where function_call has the first fragment.
        let d = |tc_args: &str, fc_args: &str| {
            json!({"choices": [{"index": 0, "delta": {"role": null, "content": null,
                "function_call": {"name": "add", "arguments": fc_args},
                "tool_calls": [{"index": 0, "id": "call__0_add_x", "type": "function",
                                "function": {"name": "add", "arguments": tc_args}}]}}]})
        };
        let a = assemble(&[
            d("", "{\""),
            d("a\": 2, ", "a\": 2, "),
            d("\"b\": 3}", "\"b\": 3}"),
        ]);
        let calls = a.calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].id, "call__0_add_x");
        assert_eq!(calls[0].arguments, json!({"a": 2, "b": 3}));
        // Only function_call: the call is still made.
        let a = assemble(&[
            json!({"choices": [{"delta": {"function_call": {"name": "f", "arguments": "{}"}}}]}),
        ]);
        assert_eq!(a.calls()[0].name, "f");
    }

    #[test]
    fn whole_arguments_repeated_at_the_end_are_not_appended() {
        let a = assemble(&[
            delta(
                json!([{"index": 0, "id": "c", "function": {"name": "f", "arguments": "{\"a\":"}}]),
            ),
            delta(json!([{"index": 0, "function": {"arguments": "1}"}}])),
            delta(json!([{"index": 0, "function": {"arguments": "{\"a\":1}"}}])),
        ]);
        assert_eq!(a.calls()[0].arguments, json!({"a": 1}));
    }

    fn gate(deltas: &[&str], offered: &[&str]) -> (Vec<String>, String, Vec<ToolCall>) {
        let mut seen = Vec::new();
        let mut on = |t: &str| seen.push(t.to_string());
        let mut g = TextGate::new(!offered.is_empty());
        for d in deltas {
            g.push(d, &mut on);
        }
        let (text, calls) = g.finish(offered, &mut on);
        (seen, text, calls)
    }

    #[test]
    fn text_passes_as_it_comes_and_a_call_written_as_text_is_held_back() {
        let (seen, text, calls) = gate(
            &[
                "Checking",
                " the pods. <tool",
                "_call>{\"name\": \"get_pods\", ",
                "\"arguments\": {}}</tool_call>",
            ],
            &["get_pods"],
        );
        assert_eq!(calls.len(), 1);
        assert_eq!(text, "Checking the pods.");
        assert_eq!(seen[0], "Checking");
        assert!(seen.concat().starts_with("Checking the pods."));
        assert!(!seen.concat().contains("tool_call"), "{seen:?}");

        let (seen, text, calls) = gate(
            &["{\"name\": \"get_pods\",", " \"arguments\": {}}"],
            &["get_pods"],
        );
        assert_eq!(
            (seen.concat(), text, calls.len()),
            (String::new(), String::new(), 1)
        );

        // A code block that is no call comes out whole at the end.
        let (seen, text, calls) =
            gate(&["Run:\n``", "`sh\nkubectl get pods\n```\n"], &["get_pods"]);
        assert!(calls.is_empty());
        assert_eq!(seen.concat(), "Run:\n```sh\nkubectl get pods\n```\n");
        assert_eq!(text, seen.concat());
        // With no tools offered nothing is held.
        let (seen, _, _) = gate(&["{\"name\""], &[]);
        assert_eq!(seen, vec!["{\"name\"".to_string()]);
    }
}
