//! `kaptain llm test`'s checks against the scripted server: what each failure says and what it
//! advises.

use kaptain_llm::check::run;
use kaptain_llm::config::{ProviderKind, ProviderSettings};
use kaptain_llm::testing::{Reply, ScriptedServer, openai};
use serde_json::json;

fn settings(base: String) -> ProviderSettings {
    ProviderSettings {
        provider: Some(ProviderKind::OpenAi),
        model: Some("local".into()),
        base_url: Some(base),
        ..ProviderSettings::default()
    }
}

#[tokio::test]
async fn a_model_that_answers_in_text_is_told_to_use_the_prompt_shim() {
    let server = ScriptedServer::start(vec![
        // An alias the server does not list.
        Reply::json(json!({"object": "list", "data": [{"id": "local-7b-q4"}]})),
        openai::text("pong"),
        // Native tool call: the model answers in text.
        openai::text("2 + 3 = 5"),
        // The same through the prompt shim: a valid call.
        openai::text("{\"tool\": \"add\", \"arguments\": {\"a\": 2, \"b\": 3}}"),
    ])
    .await;
    let report = run(&settings(server.base_url()), &|_| None)
        .await
        .expect("runs");
    let by_name = |n: &str| report.checks.iter().find(|c| c.name == n).expect("check");
    assert!(by_name("reachable").ok, "{report:#?}");
    assert!(
        by_name("reachable").detail.contains("yet it answers"),
        "{report:#?}"
    );
    assert!(by_name("completion").ok);
    let tool = by_name("tool call");
    assert!(!tool.ok);
    assert!(
        tool.detail
            .contains("answered in text instead of calling the tool"),
        "{tool:?}"
    );
    assert_eq!(
        tool.hint.as_deref(),
        Some("through the prompt shim the call works: set llm.tool_mode: prompt")
    );
    assert!(!report.ok);
    let sent = server.requests();
    assert_eq!(sent[0].path, "/v1/models");
    assert_eq!(
        sent[2].json()["tool_choice"],
        json!({"type": "function", "function": {"name": "add"}})
    );
}

#[tokio::test]
async fn an_unreachable_server_stops_after_the_first_check_with_what_to_do() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let report = run(&settings(format!("http://127.0.0.1:{port}/v1")), &|_| None)
        .await
        .expect("runs");
    assert_eq!(report.checks.len(), 1, "{report:#?}");
    let c = &report.checks[0];
    assert!(!c.ok);
    assert!(
        c.detail
            .starts_with(&format!("cannot reach openai at 127.0.0.1:{port}")),
        "{c:?}"
    );
    assert!(
        c.hint
            .as_deref()
            .is_some_and(|h| h.starts_with("start the server"))
    );
    assert_eq!(
        report.server.as_deref(),
        Some(format!("127.0.0.1:{port}").as_str())
    );
}

#[tokio::test]
async fn a_refused_key_and_no_provider_are_said_so() {
    let server = ScriptedServer::start(vec![Reply::error(401, "invalid api key")]).await;
    let mut s = settings(server.base_url());
    s.api_key_env = Some("GW_KEY".into());
    let env = |k: &str| (k == "GW_KEY").then(|| "wrong".to_string());
    let report = run(&s, &env).await.expect("runs");
    assert_eq!(report.checks.len(), 1);
    assert_eq!(
        report.checks[0].detail,
        "openai answered 401: invalid api key"
    );
    assert!(
        report.checks[0]
            .hint
            .as_deref()
            .is_some_and(|h| h.contains("GW_KEY"))
    );

    let e = run(&ProviderSettings::default(), &|_| None)
        .await
        .expect_err("nothing configured");
    assert!(
        e.to_string().starts_with("no LLM provider is configured"),
        "{e}"
    );
}
