//! Tool calls for models and servers without native ones: the tools are described in the
//! system prompt with a strict output format (one JSON object: `{"tool": .., "arguments": ..}`
//! or `{"answer": ..}`), the reply is parsed strictly and the arguments validated against the
//! tool's schema; a reply that cannot be used gets ONE repair round (the error is sent back
//! and the model asked again) before the call fails with [`LlmError::Malformed`].
//!
//! [`PromptShim`] wraps any [`Provider`]; through it a request with tools works the same as
//! with native tool calls (assistant calls and tool results in the history are written as
//! text for the model).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::textcalls::{extract_tool_calls, new_call_id};
use crate::{
    Capabilities, ChatRequest, ChatResponse, FinishReason, LlmError, Message, Provider, Role,
    ToolCall, ToolChoice, ToolSpec, Usage,
};

/// How tools reach the model (`tool_mode` in the settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolMode {
    /// Native tool calls where the provider has them, else the prompt shim.
    #[default]
    Auto,
    /// The API's tool calls.
    Native,
    /// The prompt shim, whatever the provider can do.
    Prompt,
}

/// `messages` with `note` added to the system prompt (one system message first: some chat
/// templates accept no other).
pub(crate) fn with_system_note(messages: &[Message], note: &str) -> Vec<Message> {
    let mut out = messages.to_vec();
    match out.first_mut() {
        Some(m) if m.role == Role::System => {
            if !m.content.is_empty() {
                m.content.push_str("\n\n");
            }
            m.content.push_str(note);
        }
        _ => out.insert(0, Message::system(note)),
    }
    out
}

/// The JSON in a reply: the text itself, or the body of a fenced block.
pub(crate) fn json_text(s: &str) -> &str {
    let t = s.trim();
    if let Some(rest) = t.strip_prefix("```") {
        let body = rest.find('\n').map(|i| &rest[i + 1..]).unwrap_or("");
        if let Some(end) = body.rfind("```") {
            return body[..end].trim();
        }
    }
    t
}

/// A provider whose tools are described in the prompt.
pub struct PromptShim {
    inner: Arc<dyn Provider>,
}

/// What a reply said.
#[derive(Debug, Clone, PartialEq)]
pub enum ShimReply {
    Call(ToolCall),
    Answer(String),
}

impl PromptShim {
    pub fn new(inner: Arc<dyn Provider>) -> PromptShim {
        PromptShim { inner }
    }

    /// `inner` as `mode` wants it: wrapped in the shim for `prompt`, or for `auto` when it has
    /// no native tool calls.
    pub fn wrap(inner: Arc<dyn Provider>, mode: ToolMode) -> Arc<dyn Provider> {
        let shim = match mode {
            ToolMode::Prompt => true,
            ToolMode::Native => false,
            ToolMode::Auto => !inner.capabilities().native_tools,
        };
        if shim {
            Arc::new(PromptShim::new(inner))
        } else {
            inner
        }
    }
}

/// The system prompt part that describes `tools` and the output format.
pub fn tools_prompt(tools: &[ToolSpec], choice: &ToolChoice) -> String {
    let mut p = String::from(
        "You can call tools. The tools, each with the JSON Schema of its arguments:\n",
    );
    for t in tools {
        p.push_str(&format!(
            "- {}: {}\n  arguments schema: {}\n",
            t.name, t.description, t.parameters
        ));
    }
    p.push_str(
        "\nReply with exactly one JSON object and nothing else (no prose, no code fence):\n\
         - to call a tool: {\"tool\": \"<tool name>\", \"arguments\": {<arguments valid against its schema>}}\n",
    );
    match choice {
        ToolChoice::Required => p.push_str("You must call one of the tools now."),
        ToolChoice::Named(n) => p.push_str(&format!(
            "You must call the tool \"{n}\" now: {{\"tool\": \"{n}\", \"arguments\": {{...}}}}."
        )),
        _ => p.push_str("- to answer without a tool: {\"answer\": \"<your answer>\"}"),
    }
    p
}

/// Reads a reply strictly: a call must name an offered tool (the one `choice` names, if any)
/// and its arguments must be valid against the tool's schema. A reply with no JSON at all is
/// an answer when no call is required.
pub fn parse_reply(
    text: &str,
    tools: &[ToolSpec],
    choice: &ToolChoice,
) -> Result<ShimReply, String> {
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    let must_call = matches!(choice, ToolChoice::Required | ToolChoice::Named(_));
    if text.trim().is_empty() {
        return Err("the reply was empty".to_string());
    }
    // `<tool_call>` and the like first; then the one JSON object.
    let (_, mut calls) = extract_tool_calls(text, &names);
    let call = if let Some(c) = calls.drain(..).next() {
        c
    } else {
        let t = json_text(text);
        let candidate = match serde_json::from_str::<Value>(t) {
            Ok(v) => Some(v),
            Err(_) => match (t.find('{'), t.rfind('}')) {
                (Some(a), Some(b)) if a < b => serde_json::from_str::<Value>(&t[a..=b]).ok(),
                _ => None,
            },
        };
        let Some(v) = candidate else {
            if t.contains("\"tool\"") || t.trim_start().starts_with('{') {
                return Err(format!(
                    "the reply is not valid JSON: {}",
                    crate::http::one_line(t, 200)
                ));
            }
            if must_call {
                return Err("the reply called no tool, and a tool call is required".to_string());
            }
            return Ok(ShimReply::Answer(text.trim().to_string()));
        };
        let Some(o) = v.as_object() else {
            return Err("the reply must be one JSON object".to_string());
        };
        if let Some(a) = o.get("answer") {
            if must_call {
                return Err("the reply answered, and a tool call is required".to_string());
            }
            return Ok(ShimReply::Answer(match a {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }));
        }
        let Some(name) = o
            .get("tool")
            .or_else(|| o.get("name"))
            .and_then(Value::as_str)
        else {
            return Err("the JSON object has neither \"tool\" nor \"answer\"".to_string());
        };
        let args = o
            .get("arguments")
            .or_else(|| o.get("parameters"))
            .map(crate::textcalls::normalize_arguments)
            .unwrap_or_else(|| json!({}));
        ToolCall {
            id: new_call_id(),
            name: name.to_string(),
            arguments: args,
        }
    };
    let Some(spec) = tools.iter().find(|t| t.name == call.name) else {
        return Err(format!(
            "there is no tool \"{}\"; the tools are: {}",
            call.name,
            names.join(", ")
        ));
    };
    if let ToolChoice::Named(n) = choice
        && &call.name != n
    {
        return Err(format!(
            "the tool to call is \"{n}\", not \"{}\"",
            call.name
        ));
    }
    crate::schema::validate(&spec.parameters, &call.arguments)
        .map_err(|e| format!("the arguments of {} are invalid: {e}", call.name))?;
    Ok(ShimReply::Call(call))
}

/// The conversation with calls and results written as text, the tools described in the
/// system prompt.
fn shim_messages(req: &ChatRequest) -> Vec<Message> {
    let mut out: Vec<Message> = Vec::new();
    for m in &req.messages {
        let m = match m.role {
            Role::Assistant if !m.tool_calls.is_empty() => {
                let mut text = m.content.clone();
                for c in &m.tool_calls {
                    if !text.is_empty() {
                        text.push('\n');
                    }
                    // The format the prompt asks for, "tool" first.
                    text.push_str(&format!(
                        "{{\"tool\": {}, \"arguments\": {}}}",
                        json!(c.name),
                        c.arguments
                    ));
                }
                Message::assistant(text)
            }
            Role::Tool => Message::user(format!(
                "Result of the tool {}: {}",
                m.name
                    .as_deref()
                    .or(m.tool_call_id.as_deref())
                    .unwrap_or("call"),
                m.content
            )),
            _ => m.clone(),
        };
        // Chat templates that want user and assistant turns to alternate.
        match out.last_mut() {
            Some(last) if last.role == m.role && m.role != Role::System => {
                last.content.push_str("\n\n");
                last.content.push_str(&m.content);
            }
            _ => out.push(m),
        }
    }
    if matches!(req.tool_choice, ToolChoice::None) {
        return out;
    }
    with_system_note(&out, &tools_prompt(&req.tools, &req.tool_choice))
}

#[async_trait::async_trait]
impl Provider for PromptShim {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn model(&self) -> &str {
        self.inner.model()
    }

    /// Through the shim, requests with tools work: `native_tools` is true.
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            native_tools: true,
            ..self.inner.capabilities()
        }
    }

    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, LlmError> {
        if req.tools.is_empty() {
            return self.inner.chat(req).await;
        }
        let mut inner_req = ChatRequest {
            messages: shim_messages(req),
            tools: Vec::new(),
            tool_choice: ToolChoice::Auto,
            ..req.clone()
        };
        if matches!(req.tool_choice, ToolChoice::None) {
            return self.inner.chat(&inner_req).await;
        }
        let mut usage = Usage::default();
        let mut last_error = String::new();
        for round in 0..2 {
            let r = self.inner.chat(&inner_req).await?;
            usage += r.usage;
            match parse_reply(&r.message.content, &req.tools, &req.tool_choice) {
                Ok(ShimReply::Call(call)) => {
                    return Ok(ChatResponse {
                        message: Message {
                            role: Role::Assistant,
                            content: String::new(),
                            tool_calls: vec![call],
                            tool_call_id: None,
                            name: None,
                        },
                        finish: FinishReason::ToolCalls,
                        usage,
                        model: r.model,
                    });
                }
                Ok(ShimReply::Answer(text)) => {
                    return Ok(ChatResponse {
                        message: Message::assistant(text),
                        finish: match r.finish {
                            FinishReason::ToolCalls => FinishReason::Stop,
                            f => f,
                        },
                        usage,
                        model: r.model,
                    });
                }
                Err(e) => {
                    tracing::debug!(provider = %self.inner.name(), round, error = %e, "prompt-shim reply unusable");
                    last_error = e.clone();
                    inner_req
                        .messages
                        .push(Message::assistant(r.message.content));
                    inner_req.messages.push(Message::user(format!(
                        "Your reply could not be used: {e}. Reply again with exactly one JSON \
                         object as described: {{\"tool\": \"<tool name>\", \"arguments\": {{...}}}}{}.",
                        if matches!(req.tool_choice, ToolChoice::Auto) {
                            " or {\"answer\": \"...\"}"
                        } else {
                            ""
                        }
                    )));
                }
            }
        }
        Err(LlmError::Malformed(format!(
            "{} ({}) gave no usable tool call after one repair round: {last_error}",
            self.inner.name(),
            self.inner.model()
        )))
    }

    async fn chat_stream(
        &self,
        req: &ChatRequest,
        on_text: &mut (dyn for<'t> FnMut(&'t str) + Send),
    ) -> Result<ChatResponse, LlmError> {
        if req.tools.is_empty() {
            return self.inner.chat_stream(req, on_text).await;
        }
        // The reply is JSON to parse first: the answer's text is handed on at the end.
        let r = self.chat(req).await?;
        if !r.message.content.is_empty() {
            on_text(&r.message.content);
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tools() -> Vec<ToolSpec> {
        vec![ToolSpec {
            name: "get_pods".into(),
            description: "Lists pods".into(),
            parameters: json!({"type": "object", "properties": {"namespace": {"type": "string"}},
                               "required": ["namespace"]}),
        }]
    }

    fn call(text: &str, choice: ToolChoice) -> Result<ShimReply, String> {
        parse_reply(text, &tools(), &choice)
    }

    #[test]
    fn a_call_or_an_answer_in_the_format() {
        let r = call(
            "{\"tool\": \"get_pods\", \"arguments\": {\"namespace\": \"shop\"}}",
            ToolChoice::Auto,
        );
        let Ok(ShimReply::Call(c)) = r.clone() else {
            panic!("{r:?}")
        };
        assert_eq!(
            (c.name.as_str(), c.arguments.clone()),
            ("get_pods", json!({"namespace": "shop"}))
        );
        // In a fence, with prose around it, as <tool_call>: still read.
        assert!(matches!(
            call(
                "```json\n{\"tool\":\"get_pods\",\"arguments\":{\"namespace\":\"a\"}}\n```",
                ToolChoice::Auto
            ),
            Ok(ShimReply::Call(_))
        ));
        assert!(matches!(
            call(
                "Sure: {\"tool\":\"get_pods\",\"arguments\":{\"namespace\":\"a\"}} done",
                ToolChoice::Auto
            ),
            Ok(ShimReply::Call(_))
        ));
        assert!(matches!(
            call(
                "<tool_call>{\"name\":\"get_pods\",\"arguments\":{\"namespace\":\"a\"}}</tool_call>",
                ToolChoice::Auto
            ),
            Ok(ShimReply::Call(_))
        ));
        assert_eq!(
            call("{\"answer\": \"all good\"}", ToolChoice::Auto),
            Ok(ShimReply::Answer("all good".into()))
        );
        assert_eq!(
            call("All good.", ToolChoice::Auto),
            Ok(ShimReply::Answer("All good.".into()))
        );
    }

    #[test]
    fn what_cannot_be_used_is_said_precisely() {
        let e = call(
            "{\"tool\": \"get_pods\", \"arguments\": {}}",
            ToolChoice::Auto,
        )
        .expect_err("invalid");
        assert!(
            e.contains("arguments of get_pods are invalid") && e.contains("namespace"),
            "{e}"
        );
        let e = call(
            "{\"tool\": \"delete_all\", \"arguments\": {}}",
            ToolChoice::Auto,
        )
        .expect_err("unknown");
        assert!(
            e.contains("no tool \"delete_all\"") && e.contains("get_pods"),
            "{e}"
        );
        let e = call(
            "{\"tool\": \"get_pods\", \"arguments\": {\"namespace\": ",
            ToolChoice::Auto,
        )
        .expect_err("json");
        assert!(e.contains("not valid JSON"), "{e}");
        let e = call("The pods are fine.", ToolChoice::Required).expect_err("must call");
        assert!(e.contains("required"), "{e}");
        let e = call("{\"answer\": \"x\"}", ToolChoice::Named("get_pods".into()))
            .expect_err("must call");
        assert!(e.contains("required"), "{e}");
        let e = call("{\"result\": 1}", ToolChoice::Auto).expect_err("neither");
        assert!(e.contains("neither"), "{e}");
        assert!(call("  ", ToolChoice::Auto).is_err());
    }

    #[test]
    fn history_is_written_as_text_with_alternating_turns() {
        let c = ToolCall {
            id: "c1".into(),
            name: "get_pods".into(),
            arguments: json!({"namespace": "a"}),
        };
        let req = ChatRequest {
            messages: vec![
                Message::system("You help."),
                Message::user("why?"),
                Message {
                    tool_calls: vec![c.clone()],
                    ..Message::assistant("")
                },
                Message::tool_result(&c, "[]"),
                Message::user("and?"),
            ],
            tools: tools(),
            ..ChatRequest::default()
        };
        let m = shim_messages(&req);
        assert_eq!(m.len(), 4, "{m:#?}");
        assert!(m[0].content.starts_with("You help.\n\nYou can call tools."));
        assert!(m[0].content.contains("get_pods: Lists pods"));
        assert_eq!(
            m[2].content,
            "{\"tool\": \"get_pods\", \"arguments\": {\"namespace\":\"a\"}}"
        );
        assert_eq!(m[3].role, Role::User);
        assert_eq!(m[3].content, "Result of the tool get_pods: []\n\nand?");
        assert!(m.iter().all(|m| m.tool_calls.is_empty()));
    }
}
