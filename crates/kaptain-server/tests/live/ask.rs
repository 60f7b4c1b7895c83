//! `GET /api/v1/ask` on the real cluster: a question about the missing-ConfigMap scenario is
//! answered from the hub's live report with the root cause and the chain to it; scopes narrow
//! what an answer may draw on; bad questions are 400s with the error shape.

use axum::http::{Method, StatusCode};
use kaptain_store::{Role, Scope};
use kaptain_testenv::apply_yaml;
use serde_json::Value;

use super::{
    CLUSTER, TestResult, call, cluster, eventually, expect, hub_config, missing_configmap, options,
    token, traces_to,
};

const NS: &str = "live-ask";

fn ask_uri(q: &str) -> String {
    let enc: String = q
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("/api/v1/ask?q={enc}")
}

/// (check id, object kind, object name) of each item of the only answer.
fn items(body: &Value) -> Vec<(String, String, String)> {
    body["answers"][0]["answer"]["items"]
        .as_array()
        .map(|v| {
            v.iter()
                .map(|i| {
                    let f = &i["finding"];
                    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
                    (
                        s(&f["id"]),
                        s(&f["object"]["kind"]),
                        s(&f["object"]["name"]),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_answers_from_the_live_report_within_scope() -> TestResult {
    let (cp, client) = cluster().await?;
    apply_yaml(&client, &missing_configmap(NS)).await?;
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("kaptain.db").display());
    let server =
        kaptain_server::serve::Server::build(&options(cp, dir.path(), url), hub_config()).await?;
    let viewer = token(&server, "ask-viewer", Role::Viewer, vec![]).await?;
    let elsewhere = token(
        &server,
        "ask-elsewhere",
        Role::Viewer,
        vec![Scope::namespace(CLUSTER, "default")],
    )
    .await?;

    // The scenario's broken state, with the failing pods and the unavailable Deployment (its
    // status comes from the deployment controller, on its own schedule) linked to the root
    // cause: the answer below goes from the Deployment through a pod to the ConfigMap.
    let hub = server.state.hub.clone();
    eventually(
        "the failing pods and the Deployment linked to the missing ConfigMap",
        || {
            let hub = hub.clone();
            async move {
                let r = hub.report(CLUSTER)?;
                let root = r.findings.iter().find(|f| {
                    f.id == "config.missing-configmap" && f.object.namespace.as_deref() == Some(NS)
                })?;
                let linked = |id: &str| {
                    r.findings.iter().any(|f| {
                        f.id == id
                            && f.object.namespace.as_deref() == Some(NS)
                            && traces_to(&r.findings, f, &root.fingerprint)
                    })
                };
                (linked("pod.create-container-config-error") && linked("deployment.unavailable"))
                    .then_some(())
            }
        },
    )
    .await?;

    // Why the Deployment fails: the missing ConfigMap, reached through the Deployment's
    // finding and one of its pods.
    let q = format!("why is the api deployment failing in {NS}?");
    let r = call(&server, Method::GET, &ask_uri(&q), Some(&viewer), None).await?;
    expect(&r, StatusCode::OK, "a viewer asking why");
    assert_eq!(r.body["request"]["intent"], "why", "{:?}", r.body);
    assert_eq!(r.body["request"]["namespace"], NS);
    let answers = r.body["answers"].as_array().ok_or("no answers")?;
    assert_eq!(answers.len(), 1, "{:?}", r.body);
    assert_eq!(answers[0]["cluster"], CLUSTER);
    assert_eq!(
        items(&r.body),
        [(
            "config.missing-configmap".to_owned(),
            "ConfigMap".to_owned(),
            "api-config".to_owned()
        )],
        "{:?}",
        r.body
    );
    let via = answers[0]["answer"]["items"][0]["via"]
        .as_array()
        .ok_or("no chain")?;
    assert_eq!(via[0]["object"]["kind"], "Deployment", "{via:?}");
    // Through the pods' failure, one finding on the Deployment for both pods.
    assert!(
        via.iter().any(|l| l["object"]["kind"] == "Deployment"
            && l["title"]
                .as_str()
                .is_some_and(|t| t.ends_with("— 2 of 2 pods"))),
        "{via:?}"
    );
    assert_eq!(
        answers[0]["answer"]["cli"],
        format!("kaptain diagnose --context {CLUSTER} -n {NS}")
    );

    // A principal scoped to another namespace may not ask about this one, and its answers
    // about "everything" draw on nothing from it.
    let r = call(&server, Method::GET, &ask_uri(&q), Some(&elsewhere), None).await?;
    expect(&r, StatusCode::FORBIDDEN, "asking outside the scope");
    let r = call(
        &server,
        Method::GET,
        &ask_uri("what is wrong?"),
        Some(&elsewhere),
        None,
    )
    .await?;
    expect(
        &r,
        StatusCode::OK,
        "a scoped principal asking what is wrong",
    );
    let seen = r.body["answers"][0]["answer"]["items"]
        .as_array()
        .ok_or("no items")?;
    assert!(
        seen.iter()
            .all(|i| i["finding"]["object"]["namespace"] == "default"),
        "{seen:?}"
    );
    // The unscoped viewer's answer does include the scenario's root cause.
    let r = call(
        &server,
        Method::GET,
        &ask_uri("what is wrong?"),
        Some(&viewer),
        None,
    )
    .await?;
    expect(&r, StatusCode::OK, "what is wrong");
    assert!(
        items(&r.body)
            .iter()
            .any(|(id, _, name)| id == "config.missing-configmap" && name == "api-config"),
        "{:?}",
        r.body
    );

    // Help needs no cluster; bad questions and unknown clusters are errors with the shape.
    let r = call(&server, Method::GET, &ask_uri("help"), Some(&viewer), None).await?;
    expect(&r, StatusCode::OK, "help");
    assert!(
        r.body["answers"][0].get("cluster").is_none(),
        "{:?}",
        r.body
    );
    for (uri, status, what) in [
        (ask_uri(" ? "), StatusCode::BAD_REQUEST, "an empty question"),
        (
            ask_uri(&"why ".repeat(300)),
            StatusCode::BAD_REQUEST,
            "a question too long",
        ),
        (
            "/api/v1/ask".to_owned(),
            StatusCode::BAD_REQUEST,
            "no question",
        ),
        (
            format!("{}&cluster=nope", ask_uri("what is wrong")),
            StatusCode::NOT_FOUND,
            "an unknown cluster",
        ),
        (
            format!(
                "{}&cluster={CLUSTER}",
                ask_uri("what is wrong on cluster other")
            ),
            StatusCode::BAD_REQUEST,
            "the question and ?cluster= disagree",
        ),
    ] {
        let r = call(&server, Method::GET, &uri, Some(&viewer), None).await?;
        expect(&r, status, what);
    }
    let r = call(&server, Method::GET, &ask_uri("help"), None, None).await?;
    expect(&r, StatusCode::UNAUTHORIZED, "asking without a token");
    Ok(())
}

/// Words the rules cannot read go to the LLM configured in the store's settings — here a
/// scripted OpenAI-compatible server on loopback that records every byte (a test double: it
/// proves the server's wiring, not a model's answers). Both `GET /api/v1/ask` and the
/// console's chat box show the investigation: the model's tool call ran against the live
/// cluster with the viewer's scope, the answer cites the root cause, the call is audited and
/// counted; what was sent carries Kaptain's root cause as a hypothesis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_words_are_investigated_by_the_configured_model_in_api_and_console() -> TestResult {
    use kaptain_llm::testing::{ScriptedServer, openai};

    const NS: &str = "live-ask-llm";
    let (cp, client) = cluster().await?;
    apply_yaml(&client, &missing_configmap(NS)).await?;
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("kaptain.db").display());
    let server =
        kaptain_server::serve::Server::build(&options(cp, dir.path(), url), hub_config()).await?;
    let admin = token(&server, "llm-admin", Role::Admin, vec![]).await?;
    let viewer = token(&server, "llm-viewer", Role::Viewer, vec![]).await?;

    let hub = server.state.hub.clone();
    let root = eventually("the missing ConfigMap's finding", || {
        let hub = hub.clone();
        async move {
            let r = hub.report(CLUSTER)?;
            r.findings
                .iter()
                .find(|f| {
                    f.id == "config.missing-configmap" && f.object.namespace.as_deref() == Some(NS)
                })
                .map(|f| f.fingerprint.clone())
        }
    })
    .await?;

    // No model configured: the rules' answer only.
    let q = format!("why is api in {NS} flaky since the zorblax upgrade?");
    let r = call(&server, Method::GET, &ask_uri(&q), Some(&viewer), None).await?;
    expect(&r, StatusCode::OK, "asking with no model");
    assert!(
        r.body["request"]["ignored"]
            .as_array()
            .is_some_and(|w| !w.is_empty()),
        "the rules say words back: {:?}",
        r.body["request"]
    );
    assert!(r.body.get("investigation").is_none(), "{:?}", r.body);

    // An invalid llm setting is refused when it is written, with the field named.
    let r = call(
        &server,
        Method::PUT,
        "/api/v1/settings/llm",
        Some(&admin),
        Some(
            serde_json::json!({"value": "provider: openai\ntimeout_secs: soon\n", "secret": false}),
        ),
    )
    .await?;
    expect(
        &r,
        StatusCode::BAD_REQUEST,
        "an llm setting that does not parse",
    );
    let msg = r.body["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("timeout_secs"), "{msg}");

    let model = ScriptedServer::start(vec![]).await;
    let answer = format!(
        "The api Deployment cannot start because ConfigMap api-config is missing [{root}]."
    );
    for _ in 0..2 {
        model.push(openai::tool_calls(&[(
            "call_1",
            "list_findings",
            &format!(r#"{{"namespace": "{NS}", "root_causes_only": true}}"#),
        )]));
        model.push(openai::text(&answer));
    }
    let setting = format!(
        "provider: openai\nbase_url: {}\nmodel: scripted\nmax_tokens: 333\n",
        model.base_url()
    );
    let r = call(
        &server,
        Method::PUT,
        "/api/v1/settings/llm",
        Some(&admin),
        Some(serde_json::json!({"value": setting, "secret": false})),
    )
    .await?;
    expect(&r, StatusCode::NO_CONTENT, "writing the llm setting");

    let r = call(&server, Method::GET, &ask_uri(&q), Some(&viewer), None).await?;
    expect(&r, StatusCode::OK, "asking with a model");
    let inv = &r.body["investigation"];
    assert_eq!(inv["cluster"], CLUSTER, "{inv:?}");
    assert_eq!(inv["answer"], answer, "{inv:?}");
    let t = &inv["transcript"];
    assert_eq!(t["stop"], "answered", "{t:?}");
    assert_eq!(t["cited"], serde_json::json!([root]), "{t:?}");
    let run = &t["steps"][0]["tool_calls"][0];
    assert_eq!(run["tool"], "list_findings", "{t:?}");
    assert_eq!(run["outcome"], "ok", "{t:?}");
    // What the model was sent: the root cause as a hypothesis first, then the tool's result
    // (from the live cluster) in the second request.
    let sent = model.requests();
    assert_eq!(sent.len(), 2, "two model calls");
    assert!(sent[0].text().contains(&root), "hypothesis not sent");
    for r in &sent {
        assert_eq!(
            r.json()["max_tokens"],
            333,
            "the setting's max_tokens caps each call"
        );
    }
    let second = sent[1].text();
    assert!(
        second.contains("config.missing-configmap") && second.contains("api-config"),
        "the tool's result reached the model: {second}"
    );

    // The console's chat box shows the same investigation.
    let r = call(
        &server,
        Method::GET,
        &format!("/console/ask?q={}", &ask_uri(&q)["/api/v1/ask?q=".len()..]),
        Some(&viewer),
        None,
    )
    .await?;
    assert_eq!(r.status, StatusCode::OK);
    let page = r.body.as_str().unwrap_or_default();
    assert!(page.contains("Investigation"), "{page}");
    assert!(page.contains("ConfigMap api-config is missing"), "{page}");
    assert!(page.contains("data-tool=\"list_findings\""), "{page}");
    assert_eq!(model.requests().len(), 4, "the console asked the model too");

    // Audited with the asker as actor.
    let r = call(&server, Method::GET, "/api/v1/audit", Some(&admin), None).await?;
    expect(&r, StatusCode::OK, "the audit log");
    let llm: Vec<&Value> = r.body["items"]
        .as_array()
        .ok_or("items")?
        .iter()
        .filter(|a| a["action"] == "llm.investigate")
        .collect();
    assert_eq!(llm.len(), 2, "{llm:?}");
    assert!(
        llm.iter().all(|a| a["actor"]
            .as_str()
            .is_some_and(|s| s.contains("llm-viewer"))),
        "{llm:?}"
    );
    Ok(())
}
