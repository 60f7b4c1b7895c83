//! The OpenAI-compatible provider against the scripted server: the exact bytes sent, and the
//! answers of compliant and non-compliant servers read right. A test double: it proves the
//! plumbing, not a model.

use std::sync::{Arc, Mutex};

use kaptain_llm::openai::{OpenAiCompat, OpenAiConfig};
use kaptain_llm::testing::{Reply, ScriptedServer, openai};
use kaptain_llm::{
    ChatRequest, FinishReason, LlmError, Message, Provider, ToolCall, ToolChoice, ToolSpec,
};
use serde_json::{Value, json};

const KEY: &str = "sk-test-not-a-real-key-7f3a";

fn provider(server: &ScriptedServer) -> OpenAiCompat {
    OpenAiCompat::new(OpenAiConfig {
        name: "openai".into(),
        model: "gpt-test".into(),
        base_url: server.base_url(),
        api_key: Some(KEY.into()),
        ..OpenAiConfig::default()
    })
    .expect("provider")
}

fn get_pods() -> ToolSpec {
    ToolSpec {
        name: "get_pods".into(),
        description: "Lists the pods of a namespace".into(),
        parameters: json!({"type": "object", "properties": {"namespace": {"type": "string"}},
                           "required": ["namespace"]}),
    }
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![Message::system("You are terse."), Message::user(text)],
        ..ChatRequest::default()
    }
}

async fn stream(
    p: &OpenAiCompat,
    req: &ChatRequest,
) -> (Result<kaptain_llm::ChatResponse, LlmError>, Vec<String>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let mut on = move |t: &str| s2.lock().expect("lock").push(t.to_string());
    let r = p.chat_stream(req, &mut on).await;
    let seen = seen.lock().expect("lock").clone();
    (r, seen)
}

#[tokio::test]
async fn a_plain_completion_sends_exactly_this_and_reads_the_answer() {
    let server = ScriptedServer::start(vec![openai::text("pong")]).await;
    let p = provider(&server);
    let req = ChatRequest {
        max_tokens: Some(16),
        temperature: Some(0.0),
        ..ask("ping")
    };
    let r = p.chat(&req).await.expect("answer");
    assert_eq!(r.message.content, "pong");
    assert_eq!(r.finish, FinishReason::Stop);
    assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (10, 5));
    assert_eq!(r.model, "scripted-model");

    let sent = server.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].method.as_str(), sent[0].path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(
        sent[0].header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(sent[0].header("content-type"), Some("application/json"));
    assert_eq!(
        sent[0].json(),
        json!({
            "model": "gpt-test",
            "messages": [{"role": "system", "content": "You are terse."},
                         {"role": "user", "content": "ping"}],
            "max_tokens": 16,
            "temperature": 0.0
        })
    );
}

#[tokio::test]
async fn tools_tool_choice_and_a_history_of_calls_are_written_as_the_api_wants() {
    let server = ScriptedServer::start(vec![openai::tool_calls(&[(
        "call_1",
        "get_pods",
        "{\"namespace\":\"shop\"}",
    )])])
    .await;
    let p = provider(&server);
    let earlier = ToolCall {
        id: "call_0".into(),
        name: "get_pods".into(),
        arguments: json!({"namespace": "default"}),
    };
    let req = ChatRequest {
        messages: vec![
            Message::user("why?"),
            Message {
                tool_calls: vec![earlier.clone()],
                ..Message::assistant("")
            },
            Message::tool_result(&earlier, "[]"),
        ],
        tools: vec![get_pods()],
        tool_choice: ToolChoice::Named("get_pods".into()),
        ..ChatRequest::default()
    };
    let r = p.chat(&req).await.expect("answer");
    assert_eq!(r.finish, FinishReason::ToolCalls);
    assert_eq!(
        r.message.tool_calls,
        vec![ToolCall {
            id: "call_1".into(),
            name: "get_pods".into(),
            arguments: json!({"namespace": "shop"})
        }]
    );
    let body = server.requests()[0].json();
    assert_eq!(
        body["tools"],
        json!([{"type": "function", "function": {
            "name": "get_pods", "description": "Lists the pods of a namespace",
            "parameters": {"type": "object", "properties": {"namespace": {"type": "string"}},
                           "required": ["namespace"]}}}])
    );
    assert_eq!(
        body["tool_choice"],
        json!({"type": "function", "function": {"name": "get_pods"}})
    );
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": "why?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_0", "type": "function",
                "function": {"name": "get_pods", "arguments": "{\"namespace\":\"default\"}"}}]},
            {"role": "tool", "tool_call_id": "call_0", "content": "[]"}
        ])
    );
}

#[tokio::test]
async fn non_compliant_answers_are_read() {
    let server = ScriptedServer::start(vec![
        // Empty finish_reason, arguments as an object, no id.
        Reply::json(openai::completion(
            json!({"role": "assistant", "content": "", "tool_calls": [
                {"type": "function", "function": {"name": "get_pods", "arguments": {"namespace": "a"}}}]}),
            json!(""),
        )),
        // The call written as text, finish_reason "stop".
        Reply::json(openai::completion(
            json!({"role": "assistant", "content": "Checking.\n<tool_call>\n{\"name\": \"get_pods\", \"arguments\": {\"namespace\": \"b\"}}\n</tool_call>"}),
            json!("stop"),
        )),
        // A bare JSON call, no finish_reason at all.
        Reply::json(json!({"choices": [{"message": {"role": "assistant",
            "content": "{\"name\": \"get_pods\", \"arguments\": \"{\\\"namespace\\\": \\\"c\\\"}\"}"}}]})),
        // Text, finish_reason null, no usage.
        Reply::json(json!({"choices": [{"message": {"role": "assistant", "content": "All fine."}, "finish_reason": null}]})),
    ])
    .await;
    let p = provider(&server);
    let req = ChatRequest {
        tools: vec![get_pods()],
        ..ask("why?")
    };
    let ns = |r: &kaptain_llm::ChatResponse| r.message.tool_calls[0].arguments["namespace"].clone();

    let r = p.chat(&req).await.expect("answer");
    assert_eq!((r.finish, ns(&r)), (FinishReason::ToolCalls, json!("a")));
    assert!(!r.message.tool_calls[0].id.is_empty());

    let r = p.chat(&req).await.expect("answer");
    assert_eq!((r.finish, ns(&r)), (FinishReason::ToolCalls, json!("b")));
    assert_eq!(r.message.content, "Checking.");

    let r = p.chat(&req).await.expect("answer");
    assert_eq!((r.finish, ns(&r)), (FinishReason::ToolCalls, json!("c")));
    assert_eq!(r.message.content, "");

    let r = p.chat(&req).await.expect("answer");
    assert_eq!(r.finish, FinishReason::Stop);
    assert_eq!(r.message.content, "All fine.");
    assert!(r.message.tool_calls.is_empty());
    assert_eq!(
        r.model, "gpt-test",
        "the asked model when the server names none"
    );
}

#[tokio::test]
async fn streamed_tool_call_deltas_are_reassembled_and_text_streams() {
    let c = openai::chunk;
    let server = ScriptedServer::start(vec![openai::stream(&[
        c(
            json!({"role": "assistant", "content": "Let me "}),
            Value::Null,
        ),
        c(json!({"content": "check."}), Value::Null),
        c(
            json!({"tool_calls": [{"index": 0, "id": "call_s", "type": "function",
                                   "function": {"name": "get_pods", "arguments": ""}}]}),
            Value::Null,
        ),
        c(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"name"}}]}),
            Value::Null,
        ),
        c(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "space\": \"sh"}}]}),
            Value::Null,
        ),
        c(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "op\"}"}}]}),
            Value::Null,
        ),
        c(json!({}), json!("")),
        json!({"choices": [], "usage": {"prompt_tokens": 30, "completion_tokens": 9}}),
    ])])
    .await;
    let p = provider(&server);
    let req = ChatRequest {
        tools: vec![get_pods()],
        ..ask("why?")
    };
    let (r, seen) = stream(&p, &req).await;
    let r = r.expect("answer");
    assert_eq!(seen.concat(), "Let me check.");
    assert_eq!(r.message.content, "Let me check.");
    assert_eq!(
        r.finish,
        FinishReason::ToolCalls,
        "inferred: the finish_reason was empty"
    );
    assert_eq!(r.message.tool_calls[0].id, "call_s");
    assert_eq!(
        r.message.tool_calls[0].arguments,
        json!({"namespace": "shop"})
    );
    assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (30, 9));
    let body = server.requests()[0].json();
    assert_eq!(body["stream"], json!(true));
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
}

#[tokio::test]
async fn events_split_across_chunks_and_calls_written_as_text_while_streaming() {
    let c = openai::chunk;
    let events: Vec<String> = [
        c(json!({"content": "Looking. <tool"}), Value::Null),
        c(
            json!({"content": "_call>{\"name\": \"get_pods\", "}),
            Value::Null,
        ),
        c(
            json!({"content": "\"arguments\": {\"namespace\": \"x\"}}</tool_call>"}),
            Value::Null,
        ),
        c(json!({}), json!("stop")),
    ]
    .iter()
    .map(|v| format!("data: {v}\n\n"))
    .chain(["data: [DONE]\n\n".to_string()])
    .collect();
    // Cut the byte stream in the middle of events and lines.
    let all = events.concat();
    let cuts = [7, 50, 51, 120, all.len() - 3];
    let mut chunks = Vec::new();
    let mut last = 0;
    for cut in cuts {
        chunks.push(all[last..cut].to_string());
        last = cut;
    }
    chunks.push(all[last..].to_string());
    let server = ScriptedServer::start(vec![Reply::Sse {
        status: 200,
        chunks,
    }])
    .await;
    let p = provider(&server);
    let req = ChatRequest {
        tools: vec![get_pods()],
        ..ask("why?")
    };
    let (r, seen) = stream(&p, &req).await;
    let r = r.expect("answer");
    assert_eq!(r.message.tool_calls.len(), 1);
    assert_eq!(r.message.tool_calls[0].arguments, json!({"namespace": "x"}));
    assert_eq!(
        r.finish,
        FinishReason::ToolCalls,
        "calls were made though the server said stop"
    );
    assert_eq!(r.message.content, "Looking.");
    assert!(
        !seen.concat().contains("tool_call"),
        "the call was shown: {seen:?}"
    );
    assert!(seen.concat().starts_with("Looking."));
}

#[tokio::test]
async fn error_statuses_are_one_line_with_the_servers_message_and_no_key() {
    let server = ScriptedServer::start(vec![
        Reply::error(401, "Incorrect API key provided: sk-test-****7f3a."),
        Reply::Raw {
            status: 502,
            content_type: "text/html".into(),
            body: "<html>\nBad gateway\n</html>".into(),
        },
    ])
    .await;
    let p = provider(&server);
    let e = p.chat(&ask("ping")).await.expect_err("401");
    match &e {
        LlmError::Api {
            provider,
            status,
            message,
        } => {
            assert_eq!((provider.as_str(), *status), ("openai", 401));
            assert_eq!(message, "Incorrect API key provided: sk-test-****7f3a.");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        e.to_string(),
        "openai answered 401: Incorrect API key provided: sk-test-****7f3a."
    );
    let e = p.chat(&ask("ping")).await.expect_err("502");
    assert!(matches!(e, LlmError::Api { status: 502, .. }), "{e:?}");
    assert!(!e.to_string().contains('\n'));
    assert!(!e.to_string().contains(KEY));
}

#[tokio::test]
async fn an_unreachable_server_is_named_by_host_and_port_only() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let p = OpenAiCompat::new(OpenAiConfig {
        model: "m".into(),
        base_url: format!("http://user:pw-secret@127.0.0.1:{port}/v1"),
        api_key: Some(KEY.into()),
        ..OpenAiConfig::default()
    })
    .expect("provider");
    let e = p.chat(&ask("ping")).await.expect_err("unreachable");
    let line = e.to_string();
    assert!(matches!(e, LlmError::Unreachable(_)), "{e:?}");
    assert!(
        line.starts_with(&format!("cannot reach openai at 127.0.0.1:{port}: ")),
        "{line}"
    );
    assert!(
        !line.contains(KEY) && !line.contains("pw-secret") && !line.contains('\n'),
        "{line}"
    );
}

#[tokio::test]
async fn a_server_that_does_not_answer_times_out() {
    let server = ScriptedServer::start(vec![Reply::Hang]).await;
    let p = OpenAiCompat::new(OpenAiConfig {
        model: "m".into(),
        base_url: server.base_url(),
        timeout: Some(std::time::Duration::from_secs(1)),
        ..OpenAiConfig::default()
    })
    .expect("provider");
    let e = p.chat(&ask("ping")).await.expect_err("timeout");
    assert!(matches!(e, LlmError::Timeout(_)), "{e:?}");
    assert!(e.to_string().contains("did not answer within 1s"), "{e}");
}

#[tokio::test]
async fn a_response_schema_falls_back_to_json_object_and_is_validated() {
    let schema = json!({"type": "object", "properties": {"cause": {"type": "string"}}, "required": ["cause"]});
    let server = ScriptedServer::start(vec![
        Reply::error(400, "response_format.type 'json_schema' is not supported"),
        openai::text("```json\n{\"cause\": \"missing ConfigMap\"}\n```"),
    ])
    .await;
    let p = provider(&server);
    let req = ChatRequest {
        response_schema: Some(schema.clone()),
        ..ask("why?")
    };
    let r = p.chat(&req).await.expect("answer");
    assert_eq!(r.message.content, "{\"cause\": \"missing ConfigMap\"}");
    let sent = server.requests();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent[0].json()["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}})
    );
    let second = sent[1].json();
    assert_eq!(second["response_format"], json!({"type": "json_object"}));
    let system = second["messages"][0]["content"]
        .as_str()
        .expect("system text");
    assert!(
        system.starts_with("You are terse.\n\nAnswer with one JSON object only"),
        "{system}"
    );
    assert!(system.contains("\"cause\""));

    // Still json_schema first (nothing is remembered), then json_object, then invalid.
    server.push(Reply::error(400, "unknown field json_schema"));
    server.push(openai::text("{\"reason\": 1}"));
    let e = p.chat(&req).await.expect_err("invalid answer");
    assert!(matches!(e, LlmError::Malformed(_)), "{e:?}");
    assert!(
        e.to_string().contains("\"cause\" is a required property"),
        "{e}"
    );
}

#[tokio::test]
async fn a_server_that_rejects_stream_options_is_asked_again_without() {
    let server = ScriptedServer::start(vec![
        Reply::error(
            400,
            "Unrecognized request argument supplied: stream_options",
        ),
        openai::stream_text(&["po", "ng"]),
    ])
    .await;
    let p = provider(&server);
    let (r, seen) = stream(&p, &ask("ping")).await;
    assert_eq!(r.expect("answer").message.content, "pong");
    assert_eq!(seen, vec!["po".to_string(), "ng".to_string()]);
    let sent = server.requests();
    assert!(sent[0].json().get("stream_options").is_some());
    assert!(sent[1].json().get("stream_options").is_none());
    // Any other 400 is not retried.
    server.push(Reply::error(400, "model not found"));
    let e = p.chat(&ask("x")).await.expect_err("400");
    assert!(e.to_string().ends_with("model not found"));
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn build_reads_keys_from_the_named_variable_and_never_sends_the_openai_key_elsewhere() {
    use kaptain_llm::config::{ProviderKind, ProviderSettings, build_with_env};
    let server = ScriptedServer::start(vec![
        openai::text("a"),
        openai::text("b"),
        openai::text("c"),
    ])
    .await;
    let env = |k: &str| match k {
        "OPENAI_API_KEY" => Some("sk-openai-secret".to_string()),
        "GATEWAY_KEY" => Some("gw-key".to_string()),
        _ => None,
    };
    let mut s = ProviderSettings {
        provider: Some(ProviderKind::OpenAi),
        model: Some("m".into()),
        base_url: Some(server.base_url()),
        ..ProviderSettings::default()
    };
    let p = build_with_env(&s, &env)
        .expect("builds")
        .expect("a provider");
    p.chat(&ask("x")).await.expect("answer");
    assert_eq!(server.requests()[0].header("authorization"), None);

    s.api_key_env = Some("GATEWAY_KEY".into());
    let p = build_with_env(&s, &env)
        .expect("builds")
        .expect("a provider");
    p.chat(&ask("x")).await.expect("answer");
    assert_eq!(
        server.requests()[1].header("authorization"),
        Some("Bearer gw-key")
    );

    // Ollama: OLLAMA_HOST as host:port, /v1 added.
    let addr = server.addr().to_string();
    let env2 = move |k: &str| (k == "OLLAMA_HOST").then(|| addr.clone());
    let o = ProviderSettings {
        provider: Some(ProviderKind::Ollama),
        model: Some("qwen".into()),
        ..ProviderSettings::default()
    };
    let p = build_with_env(&o, &env2)
        .expect("builds")
        .expect("a provider");
    assert_eq!(p.name(), "ollama");
    p.chat(&ask("x")).await.expect("answer");
    assert_eq!(server.requests()[2].path, "/v1/chat/completions");

    // OpenAI's own API without a key, or a named variable that is unset: a config error.
    let none = |_: &str| None;
    let e = build_with_env(
        &ProviderSettings {
            provider: Some(ProviderKind::OpenAi),
            ..ProviderSettings::default()
        },
        &none,
    )
    .err()
    .expect("no key");
    assert!(e.to_string().contains("OPENAI_API_KEY"), "{e}");
    s.api_key_env = Some("UNSET_VAR".into());
    let e = build_with_env(&s, &none).err().expect("unset");
    assert!(e.to_string().contains("UNSET_VAR"), "{e}");
}
