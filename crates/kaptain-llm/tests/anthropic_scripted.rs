//! The Anthropic provider against the scripted server: headers and body as the Messages API
//! wants them, whole and streamed answers read, errors as one line.

use std::sync::{Arc, Mutex};

use kaptain_llm::anthropic::{Anthropic, AnthropicConfig};
use kaptain_llm::testing::{ScriptedServer, anthropic};
use kaptain_llm::{
    ChatRequest, FinishReason, LlmError, Message, Provider, ToolCall, ToolChoice, ToolSpec,
};
use serde_json::json;

const KEY: &str = "sk-ant-test-not-real-91b2";

fn provider(server: &ScriptedServer) -> Anthropic {
    Anthropic::new(AnthropicConfig {
        model: "claude-test".into(),
        base_url: server.url(),
        api_key: KEY.into(),
        ..AnthropicConfig::default()
    })
    .expect("provider")
}

fn tool() -> ToolSpec {
    ToolSpec {
        name: "get_pods".into(),
        description: "Lists pods".into(),
        parameters: json!({"type": "object", "properties": {"namespace": {"type": "string"}}}),
    }
}

#[tokio::test]
async fn the_request_is_the_messages_api_and_a_tool_use_is_read() {
    let server = ScriptedServer::start(vec![anthropic::tool_use(
        "toolu_1",
        "get_pods",
        json!({"namespace": "shop"}),
    )])
    .await;
    let p = provider(&server);
    let earlier = ToolCall {
        id: "toolu_0".into(),
        name: "get_pods".into(),
        arguments: json!({"namespace": "a"}),
    };
    let req = ChatRequest {
        messages: vec![
            Message::system("You are Kaptain."),
            Message::user("why?"),
            Message {
                tool_calls: vec![earlier.clone()],
                ..Message::assistant("")
            },
            Message::tool_result(&earlier, "[]"),
        ],
        tools: vec![tool()],
        tool_choice: ToolChoice::Required,
        ..ChatRequest::default()
    };
    let r = p.chat(&req).await.expect("answer");
    assert_eq!(r.finish, FinishReason::ToolCalls);
    assert_eq!(
        r.message.tool_calls,
        vec![ToolCall {
            id: "toolu_1".into(),
            name: "get_pods".into(),
            arguments: json!({"namespace": "shop"})
        }]
    );
    assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (20, 7));
    let sent = &server.requests()[0];
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some(KEY));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(sent.header("authorization"), None);
    assert_eq!(
        sent.json(),
        json!({
            "model": "claude-test",
            "max_tokens": 4096,
            "system": "You are Kaptain.",
            "messages": [
                {"role": "user", "content": "why?"},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "toolu_0", "name": "get_pods", "input": {"namespace": "a"}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_0", "content": "[]"}]}
            ],
            "tools": [{"name": "get_pods", "description": "Lists pods",
                       "input_schema": {"type": "object", "properties": {"namespace": {"type": "string"}}}}],
            "tool_choice": {"type": "any"}
        })
    );
}

#[tokio::test]
async fn a_streamed_message_reassembles_text_and_input_json() {
    let ev = |t: &str, d: serde_json::Value| (t.to_string(), d);
    let events = [
        ev(
            "message_start",
            json!({"type": "message_start", "message": {"model": "claude-test-1", "usage": {"input_tokens": 40, "output_tokens": 1}}}),
        ),
        ev(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        ev("ping", json!({"type": "ping"})),
        ev(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Let me "}}),
        ),
        ev(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "look."}}),
        ),
        ev(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        ev(
            "content_block_start",
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_s", "name": "get_pods", "input": {}}}),
        ),
        ev(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}}),
        ),
        ev(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"names"}}),
        ),
        ev(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "pace\": \"shop\"}"}}),
        ),
        ev(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 1}),
        ),
        ev(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 25}}),
        ),
        ev("message_stop", json!({"type": "message_stop"})),
    ];
    let refs: Vec<(&str, serde_json::Value)> = events
        .iter()
        .map(|(a, b)| (a.as_str(), b.clone()))
        .collect();
    let server = ScriptedServer::start(vec![anthropic::stream(&refs)]).await;
    let p = provider(&server);
    let req = ChatRequest {
        messages: vec![Message::user("why?")],
        tools: vec![tool()],
        ..ChatRequest::default()
    };
    let seen = Arc::new(Mutex::new(String::new()));
    let s2 = seen.clone();
    let mut on = move |t: &str| s2.lock().expect("lock").push_str(t);
    let r = p.chat_stream(&req, &mut on).await.expect("answer");
    assert_eq!(seen.lock().expect("lock").as_str(), "Let me look.");
    assert_eq!(r.message.content, "Let me look.");
    assert_eq!(r.message.tool_calls[0].id, "toolu_s");
    assert_eq!(
        r.message.tool_calls[0].arguments,
        json!({"namespace": "shop"})
    );
    assert_eq!(r.finish, FinishReason::ToolCalls);
    assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (40, 25));
    assert_eq!(r.model, "claude-test-1");
    assert_eq!(server.requests()[0].json()["stream"], json!(true));
}

#[tokio::test]
async fn errors_are_one_line_with_the_apis_message() {
    let server = ScriptedServer::start(vec![
        anthropic::error(529, "overloaded_error", "Overloaded"),
        anthropic::text("fine"),
    ])
    .await;
    let p = provider(&server);
    let req = ChatRequest {
        messages: vec![Message::user("hi")],
        ..ChatRequest::default()
    };
    let e = p.chat(&req).await.expect_err("529");
    assert!(matches!(e, LlmError::Api { status: 529, .. }), "{e:?}");
    assert_eq!(e.to_string(), "anthropic answered 529: Overloaded");
    let r = p.chat(&req).await.expect("answer");
    assert_eq!(
        (r.message.content.as_str(), r.finish),
        ("fine", FinishReason::Stop)
    );
}

#[tokio::test]
async fn build_needs_a_key_and_reads_the_named_variable() {
    use kaptain_llm::config::{ProviderKind, ProviderSettings, build_with_env};
    let server = ScriptedServer::start(vec![anthropic::text("ok")]).await;
    let mut s = ProviderSettings {
        provider: Some(ProviderKind::Anthropic),
        base_url: Some(format!("{}/v1", server.url())),
        ..ProviderSettings::default()
    };
    let e = build_with_env(&s, &|_| None).err().expect("no key");
    assert!(e.to_string().contains("ANTHROPIC_API_KEY"), "{e}");
    s.api_key_env = Some("MY_CLAUDE_KEY".into());
    let env = |k: &str| (k == "MY_CLAUDE_KEY").then(|| "k-123".to_string());
    let p = build_with_env(&s, &env).expect("builds").expect("provider");
    assert_eq!((p.name(), p.model()), ("anthropic", "claude-sonnet-4-5"));
    p.chat(&ChatRequest {
        messages: vec![Message::user("x")],
        ..ChatRequest::default()
    })
    .await
    .expect("answer");
    let sent = &server.requests()[0];
    assert_eq!(
        sent.path, "/v1/messages",
        "a base URL ending in /v1 is not doubled"
    );
    assert_eq!(sent.header("x-api-key"), Some("k-123"));
}
