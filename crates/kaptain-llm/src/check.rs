//! `kaptain llm test`'s checks, here so that every face can run them: the server is
//! reachable (and takes the key), a plain completion comes back, and a trivial tool is called
//! with arguments valid against its schema. Each check is one line: ok, or the problem and
//! what to do.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use serde_json::json;

use crate::config::{ProviderKind, ProviderSettings, build_with_env};
use crate::shim::{PromptShim, ToolMode};
use crate::{ChatRequest, LlmError, Message, Provider, ToolChoice, ToolSpec};

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// `reachable`, `completion`, `tool call`.
    pub name: String,
    pub ok: bool,
    /// What was seen (ok) or what went wrong.
    pub detail: String,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// All checks of one provider.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub provider: String,
    pub model: String,
    /// `host:port` of a server provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    pub ok: bool,
    pub checks: Vec<Check>,
}

fn check(name: &str, r: Result<String, (String, Option<String>)>) -> Check {
    match r {
        Ok(detail) => Check {
            name: name.to_string(),
            ok: true,
            detail,
            hint: None,
        },
        Err((detail, hint)) => Check {
            name: name.to_string(),
            ok: false,
            detail,
            hint,
        },
    }
}

/// What to do about an error of a call.
fn hint_for(e: &LlmError, key_var: &str) -> Option<String> {
    match e {
        LlmError::Unreachable(_) => Some(
            "start the server, or fix llm.base_url (OLLAMA_HOST, KAPTAIN_LLM_BASE_URL)".to_string(),
        ),
        LlmError::Api { status: 401 | 403, .. } => Some(format!(
            "check the API key in {key_var} (llm.api_key_env names the variable)"
        )),
        LlmError::Api { status: 404, .. } => Some(
            "check llm.model (the server's model names) and llm.base_url (OpenAI-compatible servers end in /v1)"
                .to_string(),
        ),
        LlmError::Api { status: 429, .. } => {
            Some("rate-limited or out of quota: wait, or check the account".to_string())
        }
        LlmError::Timeout(_) => {
            Some("raise llm.timeout_secs, or use a smaller or faster model".to_string())
        }
        _ => None,
    }
}

fn key_var(s: &ProviderSettings) -> String {
    s.api_key_env.clone().unwrap_or_else(|| {
        match s.provider {
            Some(ProviderKind::Anthropic) => "ANTHROPIC_API_KEY",
            _ => "OPENAI_API_KEY",
        }
        .to_string()
    })
}

/// Runs the checks of `settings`. A configuration that cannot make a provider is an error
/// (exit 2 for the CLI); a failed check is in the report.
pub async fn run(
    settings: &ProviderSettings,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Report, LlmError> {
    let provider = build_with_env(settings, env)?.ok_or_else(|| {
        LlmError::Config(
            "no LLM provider is configured: set llm.provider in the config file, \
             KAPTAIN_LLM_PROVIDER, or --provider (openai, anthropic, ollama, embedded)"
                .to_string(),
        )
    })?;
    let var = key_var(settings);
    let mut checks = Vec::new();
    let mut server = None;

    // 1. Reachable (server providers only).
    let listed = match settings.provider {
        Some(kind @ (ProviderKind::OpenAi | ProviderKind::Ollama)) => {
            let p = crate::openai::from_settings(kind, settings, env)?;
            server = Some(crate::http::host_port(p.base_url()));
            Some(p.list_models().await)
        }
        Some(ProviderKind::Anthropic) => {
            let p = crate::anthropic::from_settings(settings, env)?;
            server = Some(crate::http::host_port(p.base_url()));
            Some(p.list_models().await)
        }
        _ => None,
    };
    if let Some(listed) = listed {
        let at = server.clone().unwrap_or_default();
        let c = match listed {
            Ok(models) if models.is_empty() => Ok(format!("{} at {at} answers", provider.name())),
            Ok(models) if !models.iter().any(|m| same_model(m, provider.model())) => Err((
                format!(
                    "{} at {at} answers, but does not list the model {:?} (it lists {})",
                    provider.name(),
                    provider.model(),
                    models
                        .iter()
                        .take(8)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Some("set llm.model (or --model) to one of the listed models".to_string()),
            )),
            Ok(models) => Ok(format!(
                "{} at {at} answers and lists the model {:?} ({} model{})",
                provider.name(),
                provider.model(),
                models.len(),
                if models.len() == 1 { "" } else { "s" }
            )),
            // A server without a model list still answered.
            Err(LlmError::Api {
                status: 404 | 405, ..
            }) => Ok(format!(
                "{} at {at} answers (it has no model list)",
                provider.name()
            )),
            Err(e) => Err((e.to_string(), hint_for(&e, &var))),
        };
        // A model that is not listed may still work (aliases): only a failure to reach or
        // to authenticate stops the other checks.
        let stop = matches!(&c, Err((_, Some(h))) if !h.starts_with("set llm.model"));
        checks.push(check("reachable", c));
        if stop {
            return Ok(report(provider.as_ref(), server, checks));
        }
    }

    // 2. A plain completion.
    let req = ChatRequest {
        messages: vec![Message::user("Reply with the single word: pong")],
        max_tokens: Some(32),
        temperature: Some(0.0),
        ..ChatRequest::default()
    };
    let started = Instant::now();
    let c = match provider.chat(&req).await {
        Ok(r) if r.message.content.trim().is_empty() => Err((
            "the model answered with no text".to_string(),
            Some("check that llm.model is a chat (instruct) model".to_string()),
        )),
        Ok(r) => Ok(format!(
            "{:?} in {:.1}s ({} tokens in, {} out)",
            crate::http::one_line(&r.message.content, 60),
            started.elapsed().as_secs_f64(),
            r.usage.input_tokens,
            r.usage.output_tokens
        )),
        Err(e) => Err((e.to_string(), hint_for(&e, &var))),
    };
    let completion_ok = c.is_ok();
    // A model the server does not list but answers as (an alias) is fine after all.
    if completion_ok {
        for r in checks.iter_mut().filter(|c| c.name == "reachable" && !c.ok) {
            r.ok = true;
            r.detail.push_str(", yet it answers as that model");
            r.hint = None;
        }
    }
    checks.push(check("completion", c));
    if !completion_ok {
        return Ok(report(provider.as_ref(), server, checks));
    }

    // 3. A tool call with valid arguments.
    let c = match tool_call(provider.as_ref()).await {
        Ok(d) => Ok(d),
        Err(problem) => {
            let mode = settings.tool_mode.unwrap_or_default();
            let shim_works = if mode == ToolMode::Prompt {
                false
            } else {
                let shimmed = PromptShim::new(Arc::clone(&provider));
                tool_call(&shimmed).await.is_ok()
            };
            Err((
                problem,
                Some(if shim_works {
                    "through the prompt shim the call works: set llm.tool_mode: prompt".to_string()
                } else {
                    "use a model trained for tool calls (for llama.cpp's server, a chat format \
                     with function calling)"
                        .to_string()
                }),
            ))
        }
    };
    checks.push(check("tool call", c));
    Ok(report(provider.as_ref(), server, checks))
}

/// `listed` names `asked` (Ollama lists `llama3.2:latest` for `llama3.2`).
fn same_model(listed: &str, asked: &str) -> bool {
    listed == asked || listed.strip_suffix(":latest") == Some(asked)
}

fn report(provider: &dyn Provider, server: Option<String>, checks: Vec<Check>) -> Report {
    Report {
        provider: provider.name().to_string(),
        model: provider.model().to_string(),
        server,
        ok: checks.iter().all(|c| c.ok),
        checks,
    }
}

/// The trivial tool the check offers.
pub fn add_tool() -> ToolSpec {
    ToolSpec {
        name: "add".to_string(),
        description: "Adds two integers and returns their sum.".to_string(),
        parameters: json!({
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"]
        }),
    }
}

async fn tool_call(p: &dyn Provider) -> Result<String, String> {
    let tool = add_tool();
    let req = ChatRequest {
        messages: vec![
            Message::system("You are a calculator. Use the add tool to add numbers."),
            Message::user("What is 2 + 3? Call the add tool."),
        ],
        tools: vec![tool.clone()],
        // Named rather than `required`: more servers know it (llama-cpp-python fails on
        // `required`), and it is what the loop's users need to work.
        tool_choice: ToolChoice::Named(tool.name.clone()),
        max_tokens: Some(128),
        temperature: Some(0.0),
        ..ChatRequest::default()
    };
    let r = p.chat(&req).await.map_err(|e| e.to_string())?;
    let Some(call) = r.message.tool_calls.first() else {
        return Err(format!(
            "the model answered in text instead of calling the tool: {:?}",
            crate::http::one_line(&r.message.content, 80)
        ));
    };
    if call.name != tool.name {
        return Err(format!(
            "the model called {:?}, which was not offered",
            call.name
        ));
    }
    crate::schema::validate(&tool.parameters, &call.arguments).map_err(|e| {
        format!(
            "the model called add with invalid arguments {}: {e}",
            call.arguments
        )
    })?;
    Ok(format!("called add({}), arguments valid", call.arguments))
}
