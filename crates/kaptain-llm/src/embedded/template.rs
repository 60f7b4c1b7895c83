//! The prompt: the GGUF's own chat template (`tokenizer.chat_template`, Jinja) rendered with
//! minijinja over the conversation.
//!
//! Tools: when the template renders a `tools` variable, it gets them in the usual
//! (OpenAI-style) shape and the conversation's tool calls as `tool_calls`. Otherwise they are
//! written into the system prompt, with how to call one: `<tool_call>{"name": ...,
//! "arguments": {...}}</tool_call>` (the Hermes/Qwen convention); past calls are written the
//! same way and tool results come back as user turns inside `<tool_response>` tags.

use minijinja::{Environment, Error as JinjaError, ErrorKind};
use serde_json::{Value, json};

use crate::{LlmError, Message, Role, ToolSpec};

/// Where a tool call starts in the model's output (and how past calls are written).
pub const CALL_OPEN: &str = "<tool_call>";
pub const CALL_CLOSE: &str = "</tool_call>";

/// ChatML, for a GGUF with no template.
const CHATML: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// A chat template and the special tokens it may refer to.
#[derive(Debug, Clone)]
pub struct ChatTemplate {
    source: String,
    bos: String,
    eos: String,
    /// Whether the template renders `tools` itself.
    pub native_tools: bool,
}

impl ChatTemplate {
    pub fn new(source: Option<String>, bos: String, eos: String) -> Result<ChatTemplate, LlmError> {
        let source = source.unwrap_or_else(|| CHATML.to_string());
        // Compile once now so that a broken template is reported when the model loads.
        env().template_from_str(&source).map_err(|e| {
            LlmError::Model(format!("the GGUF's chat template does not compile: {e}"))
        })?;
        let native_tools = source.contains("tools");
        Ok(ChatTemplate {
            source,
            bos,
            eos,
            native_tools,
        })
    }

    /// The end-of-turn marker the template writes after a message, when it is a special
    /// token such as `<|im_end|>` or `<|eot_id|>` (a stop token besides eos).
    pub fn end_of_turn_candidates(&self) -> Vec<&'static str> {
        [
            "<|im_end|>",
            "<|eot_id|>",
            "<|end|>",
            "<end_of_turn>",
            "<|endoftext|>",
        ]
        .into_iter()
        .filter(|t| self.source.contains(t))
        .collect()
    }

    /// The prompt for `messages` with `tools`, ending where the assistant's answer begins.
    /// `extra_system` (the response schema's instructions) is added to the system prompt.
    pub fn render(
        &self,
        messages: &[Message],
        tools: &[ToolSpec],
        extra_system: Option<&str>,
    ) -> Result<String, LlmError> {
        let mut system_extra = String::new();
        if !tools.is_empty() && !self.native_tools {
            system_extra.push_str(&tools_prompt(tools));
        }
        if let Some(x) = extra_system {
            if !system_extra.is_empty() {
                system_extra.push_str("\n\n");
            }
            system_extra.push_str(x);
        }
        let mut msgs: Vec<Value> = Vec::new();
        let has_system = messages.first().is_some_and(|m| m.role == Role::System);
        if !has_system && !system_extra.is_empty() {
            msgs.push(json!({"role": "system", "content": system_extra}));
        }
        for (i, m) in messages.iter().enumerate() {
            let mut content = m.content.clone();
            if i == 0 && has_system && !system_extra.is_empty() {
                content = format!("{}\n\n{}", content.trim_end(), system_extra);
            }
            msgs.push(self.message(m, content));
        }
        let tools_json: Vec<Value> = tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.parameters}})
            })
            .collect();
        let env = env();
        let tmpl = env
            .template_from_str(&self.source)
            .map_err(|e| LlmError::Model(format!("chat template: {e}")))?;
        let mut ctx = json!({
            "messages": msgs,
            "add_generation_prompt": true,
            "bos_token": self.bos,
            "eos_token": self.eos,
        });
        if self.native_tools && !tools.is_empty() {
            ctx["tools"] = Value::Array(tools_json);
        }
        tmpl.render(minijinja::value::Serde(&ctx))
            .map_err(|e| LlmError::Model(format!("chat template: {e}")))
    }

    fn message(&self, m: &Message, content: String) -> Value {
        match m.role {
            Role::Tool if !self.native_tools => json!({
                "role": "user",
                "content": format!("<tool_response>\n{}\n</tool_response>", content),
            }),
            Role::Assistant if !m.tool_calls.is_empty() && !self.native_tools => {
                let mut c = content;
                for call in &m.tool_calls {
                    if !c.is_empty() {
                        c.push('\n');
                    }
                    c.push_str(&format!(
                        "{CALL_OPEN}\n{}\n{CALL_CLOSE}",
                        call_json(&call.name, &call.arguments)
                    ));
                }
                json!({"role": "assistant", "content": c})
            }
            role => {
                let mut v = json!({"role": role_name(role), "content": content});
                if !m.tool_calls.is_empty() {
                    v["tool_calls"] = Value::Array(
                        m.tool_calls
                            .iter()
                            .map(|c| {
                                json!({"id": c.id, "type": "function", "function": {
                                    "name": c.name, "arguments": c.arguments}})
                            })
                            .collect(),
                    );
                }
                if let Some(id) = &m.tool_call_id {
                    v["tool_call_id"] = json!(id);
                }
                if let Some(n) = &m.name {
                    v["name"] = json!(n);
                }
                v
            }
        }
    }
}

/// A call as the model writes it: `{"name":...,"arguments":...}`, name first.
pub fn call_json(name: &str, arguments: &Value) -> String {
    format!(
        "{{\"name\":{},\"arguments\":{}}}",
        Value::String(name.to_string()),
        arguments
    )
}

fn role_name(r: Role) -> &'static str {
    match r {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    }
}

/// The system prompt's part that offers tools to a model whose template does not.
pub fn tools_prompt(tools: &[ToolSpec]) -> String {
    let mut s = String::from("You can call these tools:\n<tools>\n");
    for t in tools {
        s.push_str(&format!(
            "{{\"name\":{},\"description\":{},\"parameters\":{}}}",
            Value::String(t.name.clone()),
            Value::String(t.description.clone()),
            t.parameters
        ));
        s.push('\n');
    }
    s.push_str("</tools>\nTo call a tool, answer with only ");
    s.push_str(CALL_OPEN);
    s.push_str(r#"{"name": "<tool name>", "arguments": {<its arguments>}}"#);
    s.push_str(CALL_CLOSE);
    s.push_str(". Otherwise answer in plain text.");
    s
}

fn env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.add_function(
        "raise_exception",
        |msg: String| -> Result<String, JinjaError> {
            Err(JinjaError::new(ErrorKind::InvalidOperation, msg))
        },
    );
    env.add_function("strftime_now", |_fmt: String| -> String {
        // Templates use it for a date line; a fixed one keeps prompts reproducible.
        "01 Jan 2026".to_string()
    });
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMOL: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn renders_smollm2s_template_with_tools_in_the_system_prompt() {
        let t = ChatTemplate::new(Some(SMOL.into()), String::new(), "<|im_end|>".into())
            .expect("compiles");
        assert!(!t.native_tools);
        assert_eq!(t.end_of_turn_candidates(), vec!["<|im_end|>"]);
        let p = t
            .render(&[Message::user("hi")], &[], None)
            .expect("renders");
        assert!(p.starts_with("<|im_start|>system\nYou are a helpful AI assistant named SmolLM"));
        assert!(
            p.ends_with("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"),
            "{p}"
        );
        let tool = ToolSpec {
            name: "why".into(),
            description: "Why an object is broken".into(),
            parameters: json!({"type": "object"}),
        };
        let p = t
            .render(
                &[Message::system("Be brief."), Message::user("hi")],
                std::slice::from_ref(&tool),
                None,
            )
            .expect("renders");
        assert!(
            p.starts_with("<|im_start|>system\nBe brief.\n\nYou can call these tools:"),
            "{p}"
        );
        assert!(p.contains(r#""name":"why""#), "{p}");
        let call = crate::ToolCall {
            id: "c1".into(),
            name: "why".into(),
            arguments: json!({"name": "web"}),
        };
        let mut a = Message::assistant("");
        a.tool_calls.push(call.clone());
        let p = t
            .render(
                &[Message::user("hi"), a, Message::tool_result(&call, "ok")],
                &[tool],
                None,
            )
            .expect("renders");
        assert!(p.contains("<|im_start|>assistant\n<tool_call>\n{\"name\":\"why\",\"arguments\":{\"name\":\"web\"}}\n</tool_call><|im_end|>"), "{p}");
        assert!(
            p.contains("<|im_start|>user\n<tool_response>\nok\n</tool_response><|im_end|>"),
            "{p}"
        );
    }

    #[test]
    fn a_broken_template_is_reported_at_load() {
        let e = ChatTemplate::new(Some("{% for %}".into()), String::new(), String::new())
            .expect_err("broken");
        assert!(e.to_string().contains("chat template"), "{e}");
    }
}
