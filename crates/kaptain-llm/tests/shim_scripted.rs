//! The prompt shim over a scripted OpenAI-compatible server: tools described in the prompt,
//! replies parsed and validated, one repair round, then a clear refusal.

use std::sync::Arc;

use kaptain_llm::config::{ProviderKind, ProviderSettings, build_with_env};
use kaptain_llm::testing::{ScriptedServer, openai};
use kaptain_llm::{
    ChatRequest, FinishReason, LlmError, Message, Provider, ToolChoice, ToolMode, ToolSpec,
};
use serde_json::json;

fn shimmed(server: &ScriptedServer) -> Arc<dyn Provider> {
    let s = ProviderSettings {
        provider: Some(ProviderKind::OpenAi),
        model: Some("small".into()),
        base_url: Some(server.base_url()),
        tool_mode: Some(ToolMode::Prompt),
        ..ProviderSettings::default()
    };
    build_with_env(&s, &|_| None)
        .expect("builds")
        .expect("provider")
}

fn req() -> ChatRequest {
    ChatRequest {
        messages: vec![
            Message::system("You are Kaptain."),
            Message::user("why is checkout failing?"),
        ],
        tools: vec![ToolSpec {
            name: "get_findings".into(),
            description: "The findings of a namespace".into(),
            parameters: json!({"type": "object", "properties": {"namespace": {"type": "string"}},
                               "required": ["namespace"], "additionalProperties": false}),
        }],
        tool_choice: ToolChoice::Required,
        ..ChatRequest::default()
    }
}

#[tokio::test]
async fn the_tools_go_in_the_prompt_and_a_valid_reply_is_a_call() {
    let server = ScriptedServer::start(vec![openai::text(
        "{\"tool\": \"get_findings\", \"arguments\": {\"namespace\": \"shop\"}}",
    )])
    .await;
    let p = shimmed(&server);
    assert!(p.capabilities().native_tools);
    let r = p.chat(&req()).await.expect("answer");
    assert_eq!(r.finish, FinishReason::ToolCalls);
    assert_eq!(r.message.tool_calls[0].name, "get_findings");
    assert_eq!(
        r.message.tool_calls[0].arguments,
        json!({"namespace": "shop"})
    );
    let body = server.requests()[0].json();
    assert!(
        body.get("tools").is_none() && body.get("tool_choice").is_none(),
        "{body}"
    );
    let system = body["messages"][0]["content"].as_str().expect("system");
    assert!(
        system.starts_with("You are Kaptain.\n\nYou can call tools."),
        "{system}"
    );
    assert!(system.contains("- get_findings: The findings of a namespace"));
    assert!(system.contains("You must call one of the tools now."));
}

#[tokio::test]
async fn an_invalid_reply_gets_one_repair_round_with_the_error() {
    let server = ScriptedServer::start(vec![
        openai::text("{\"tool\": \"get_findings\", \"arguments\": {\"ns\": \"shop\"}}"),
        openai::text("<tool_call>{\"name\": \"get_findings\", \"arguments\": {\"namespace\": \"shop\"}}</tool_call>"),
    ])
    .await;
    let p = shimmed(&server);
    let r = p.chat(&req()).await.expect("repaired");
    assert_eq!(
        r.message.tool_calls[0].arguments,
        json!({"namespace": "shop"})
    );
    assert_eq!(
        (r.usage.input_tokens, r.usage.output_tokens),
        (20, 10),
        "both rounds counted"
    );
    let sent = server.requests();
    assert_eq!(sent.len(), 2);
    let msgs = sent[1].json()["messages"]
        .as_array()
        .expect("messages")
        .clone();
    let n = msgs.len();
    assert_eq!(msgs[n - 2]["role"], "assistant");
    assert_eq!(
        msgs[n - 2]["content"],
        "{\"tool\": \"get_findings\", \"arguments\": {\"ns\": \"shop\"}}"
    );
    let repair = msgs[n - 1]["content"].as_str().expect("text");
    assert!(
        repair
            .starts_with("Your reply could not be used: the arguments of get_findings are invalid"),
        "{repair}"
    );
    assert!(
        repair.contains("\"namespace\" is a required property"),
        "{repair}"
    );
}

#[tokio::test]
async fn two_unusable_replies_are_malformed_after_exactly_two_requests() {
    let server = ScriptedServer::start(vec![
        openai::text("I think the ConfigMap is missing."),
        openai::text("{\"tool\": \"delete_namespace\", \"arguments\": {}}"),
    ])
    .await;
    let p = shimmed(&server);
    let e = p.chat(&req()).await.expect_err("refused");
    assert!(matches!(e, LlmError::Malformed(_)), "{e:?}");
    let line = e.to_string();
    assert!(line.contains("after one repair round"), "{line}");
    assert!(line.contains("no tool \"delete_namespace\""), "{line}");
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn an_answer_is_text_and_requests_without_tools_pass_through() {
    let server = ScriptedServer::start(vec![
        openai::text("{\"answer\": \"The ConfigMap app-config is missing.\"}"),
        openai::text("plain"),
    ])
    .await;
    let p = shimmed(&server);
    let r = p
        .chat(&ChatRequest {
            tool_choice: ToolChoice::Auto,
            ..req()
        })
        .await
        .expect("answer");
    assert_eq!(r.finish, FinishReason::Stop);
    assert_eq!(r.message.content, "The ConfigMap app-config is missing.");
    assert!(r.message.tool_calls.is_empty());
    let r = p
        .chat(&ChatRequest {
            messages: vec![Message::user("hi")],
            ..ChatRequest::default()
        })
        .await
        .expect("answer");
    assert_eq!(r.message.content, "plain");
    assert_eq!(
        server.requests()[1].json()["messages"],
        json!([{"role": "user", "content": "hi"}])
    );
}
