//! Test doubles (feature `testing`): a scripted [`Provider`] that answers with fixed replies,
//! chosen by what it was sent, and records every request byte for byte; a [`ToolBox`] over
//! closures. They prove plumbing, not intelligence.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::{
    Capabilities, ChatRequest, ChatResponse, FinishReason, LlmError, Message, Provider, ToolBox,
    ToolCall, ToolSpec, Usage,
};

type Rule = Box<dyn Fn(&ChatRequest) -> Option<Result<ChatResponse, LlmError>> + Send + Sync>;

/// A model that replies by script: each rule looks at the request and may answer; the first
/// rule that answers wins, rules are tried in order, and a rule used once may be retired.
pub struct ScriptedProvider {
    name: String,
    model: String,
    rules: Mutex<Vec<(Rule, bool)>>,
    /// Every request as sent.
    pub requests: Mutex<Vec<ChatRequest>>,
    /// Usage reported per reply.
    pub usage: Usage,
}

impl ScriptedProvider {
    pub fn new() -> ScriptedProvider {
        ScriptedProvider {
            name: "scripted".into(),
            model: "scripted-1".into(),
            rules: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
            usage: Usage {
                input_tokens: 100,
                output_tokens: 20,
            },
        }
    }

    pub fn named(mut self, provider: &str, model: &str) -> ScriptedProvider {
        self.name = provider.into();
        self.model = model.into();
        self
    }

    pub fn with_usage(mut self, input: u64, output: u64) -> ScriptedProvider {
        self.usage = Usage {
            input_tokens: input,
            output_tokens: output,
        };
        self
    }

    /// A rule that answers every request it is asked while it stays; `once` retires it
    /// after one use.
    pub fn rule(
        self,
        once: bool,
        f: impl Fn(&ChatRequest) -> Option<Result<ChatResponse, LlmError>> + Send + Sync + 'static,
    ) -> ScriptedProvider {
        self.rules.lock().unwrap().push((Box::new(f), once));
        self
    }

    /// Next reply, in order: a message (used once).
    pub fn then(self, reply: Message) -> ScriptedProvider {
        let usage = self.usage;
        let model = self.model.clone();
        self.rule(true, move |_| {
            Some(Ok(response(reply.clone(), usage, &model)))
        })
    }

    /// Next reply, in order: tool calls (used once).
    pub fn then_call(self, calls: Vec<(&str, Value)>) -> ScriptedProvider {
        self.then(calls_message(calls))
    }

    /// Next reply, in order: text (used once).
    pub fn then_say(self, text: &str) -> ScriptedProvider {
        self.then(Message::assistant(text))
    }

    /// Every request's JSON, as it would go over the wire.
    pub fn sent_json(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|r| serde_json::to_string(r).unwrap())
            .collect()
    }

    pub fn calls(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

impl Default for ScriptedProvider {
    fn default() -> Self {
        ScriptedProvider::new()
    }
}

/// An assistant message with these tool calls.
pub fn calls_message(calls: Vec<(&str, Value)>) -> Message {
    Message {
        tool_calls: calls
            .into_iter()
            .enumerate()
            .map(|(i, (name, arguments))| ToolCall {
                id: format!("c{i}"),
                name: name.into(),
                arguments,
            })
            .collect(),
        ..Message::assistant("")
    }
}

/// A response carrying `m`.
pub fn response(m: Message, usage: Usage, model: &str) -> ChatResponse {
    ChatResponse {
        finish: if m.tool_calls.is_empty() {
            FinishReason::Stop
        } else {
            FinishReason::ToolCalls
        },
        message: m,
        usage,
        model: model.into(),
    }
}

#[async_trait::async_trait]
impl Provider for ScriptedProvider {
    fn name(&self) -> &str {
        &self.name
    }
    fn model(&self) -> &str {
        &self.model
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            native_tools: true,
            ..Capabilities::default()
        }
    }
    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, LlmError> {
        self.requests.lock().unwrap().push(req.clone());
        let mut rules = self.rules.lock().unwrap();
        for i in 0..rules.len() {
            if let Some(r) = (rules[i].0)(req) {
                if rules[i].1 {
                    drop(rules.remove(i));
                }
                return r;
            }
        }
        Err(LlmError::Malformed(
            "the scripted provider has no reply for this request".into(),
        ))
    }
}

type ToolFn = Box<dyn Fn(&Value) -> Result<Value, String> + Send + Sync>;

/// A tool box over closures, recording every call it runs.
#[derive(Default)]
pub struct FnToolBox {
    tools: Vec<(ToolSpec, ToolFn)>,
    pub calls: Mutex<Vec<(String, Value)>>,
}

impl FnToolBox {
    pub fn new() -> FnToolBox {
        FnToolBox::default()
    }

    pub fn tool(
        mut self,
        name: &str,
        parameters: Value,
        f: impl Fn(&Value) -> Result<Value, String> + Send + Sync + 'static,
    ) -> FnToolBox {
        self.tools.push((
            ToolSpec {
                name: name.into(),
                description: format!("test tool {name}"),
                parameters,
            },
            Box::new(f),
        ));
        self
    }

    pub fn into_arc(self) -> Arc<FnToolBox> {
        Arc::new(self)
    }
}

#[async_trait::async_trait]
impl ToolBox for FnToolBox {
    fn specs(&self) -> Vec<ToolSpec> {
        self.tools.iter().map(|(s, _)| s.clone()).collect()
    }
    async fn call(&self, name: &str, args: Value) -> Result<Value, String> {
        self.calls
            .lock()
            .unwrap()
            .push((name.to_string(), args.clone()));
        match self.tools.iter().find(|(s, _)| s.name == name) {
            Some((_, f)) => f(&args),
            None => Err(format!("no tool {name}")),
        }
    }
}
