//! `POST /api/v1/ask` with a request to act, on the real cluster: a viewer gets what would be
//! done and nothing is created; an operator gets the HealingAction created, waiting for
//! approval, which the approval flow then approves under the request's built-in limits; a
//! protected namespace is refused by the guard. Every call is in the audit log with its actor.

use axum::http::{Method, StatusCode};
use kaptain_heal::crd::{HealingAction, Phase, PolicyKind};
use kaptain_store::Role;
use kaptain_testenv::apply_yaml;
use kube::Api;
use kube::api::ListParams;
use serde_json::json;

use crate::support::install_crds;

use super::{
    CLUSTER, TestResult, audit_records, call, cluster, eventually, expect, hub_config, options,
    token,
};

const NS: &str = "live-act";

fn web(ns: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: act-web, namespace: {ns}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: act-web}}}}
  template:
    metadata: {{labels: {{app: act-web}}}}
    spec:
      containers: [{{name: web, image: nginx:1.25}}]
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_to_act_are_proposed_for_operators_and_only_answered_for_viewers() -> TestResult {
    let (cp, client) = cluster().await?;
    install_crds(&client).await?;
    apply_yaml(&client, &web(NS)).await?;
    apply_yaml(
        &client,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: act-sys, namespace: kube-system}\n\
         spec:\n  replicas: 1\n  selector: {matchLabels: {app: act-sys}}\n  template:\n    \
         metadata: {labels: {app: act-sys}}\n    spec:\n      containers: [{name: c, image: x:1}]\n",
    )
    .await?;
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("kaptain.db").display());
    let server =
        kaptain_server::serve::Server::build(&options(cp, dir.path(), url), hub_config()).await?;
    let viewer = token(&server, "act-viewer", Role::Viewer, vec![]).await?;
    let operator = token(&server, "act-operator", Role::Operator, vec![]).await?;
    let actions: Api<HealingAction> = Api::namespaced(client.clone(), NS);
    let ask = |q: &str| json!({"q": q, "cluster": CLUSTER});

    // The hub has read the Deployment.
    let scale = ask("scale act-web in live-act to 2");
    let r = eventually("the Deployment in the hub's index", || async {
        let r = call(
            &server,
            Method::POST,
            "/api/v1/ask",
            Some(&viewer),
            Some(scale.clone()),
        )
        .await
        .ok()?;
        (r.status == StatusCode::OK).then_some(r)
    })
    .await?;
    // A viewer: what would be done, nothing created.
    assert_eq!(r.body["created"], false, "{:?}", r.body);
    assert_eq!(r.body["proposed"]["action"], "Scale");
    assert_eq!(r.body["proposed"]["diff"][0]["field"], "spec.replicas");
    assert_eq!(r.body["proposed"]["diff"][0]["after"], 2);
    assert_eq!(r.body["proposed"]["verdict"]["decision"], "allow");
    assert!(
        r.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("needs the operator role")),
        "{:?}",
        r.body
    );
    assert!(actions.list(&ListParams::default()).await?.items.is_empty());

    // An operator: the proposal, pending approval, with where to approve and reject it.
    let r = call(
        &server,
        Method::POST,
        "/api/v1/ask",
        Some(&operator),
        Some(scale.clone()),
    )
    .await?;
    expect(&r, StatusCode::OK, "operator's request");
    assert_eq!(r.body["created"], true, "{:?}", r.body);
    let name = r.body["proposed"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let a = actions.get(&name).await?;
    assert_eq!(a.spec.policy.kind, PolicyKind::Request);
    assert_eq!(a.spec.policy.name, "token:act-operator");
    assert_eq!(
        a.metadata
            .annotations
            .as_ref()
            .and_then(|m| m.get("kaptain.dev/proposed-by"))
            .map(String::as_str),
        Some("token:act-operator")
    );
    assert_eq!(
        a.status.map(|s| s.phase).unwrap_or_default(),
        Phase::Proposed
    );
    // The existing approval flow approves it (the guard judges it again).
    let approve = r.body["approve"].as_str().unwrap_or_default().to_owned();
    let r = call(&server, Method::POST, &approve, Some(&operator), None).await?;
    expect(&r, StatusCode::OK, "approve");
    assert_eq!(r.body["phase"], "Approved", "{:?}", r.body);

    // A protected namespace: refused by the guard, nothing created.
    let r = call(
        &server,
        Method::POST,
        "/api/v1/ask",
        Some(&operator),
        Some(ask("restart deployment act-sys in kube-system")),
    )
    .await?;
    expect(&r, StatusCode::OK, "protected namespace");
    assert_eq!(r.body["created"], false);
    assert_eq!(r.body["proposed"]["verdict"]["rule"], "protected-namespace");
    let sys: Api<HealingAction> = Api::namespaced(client.clone(), "kube-system");
    assert!(sys.list(&ListParams::default()).await?.items.is_empty());

    // Not a request, and an ambiguous one: 400.
    let r = call(
        &server,
        Method::POST,
        "/api/v1/ask",
        Some(&viewer),
        Some(ask("what is wrong?")),
    )
    .await?;
    expect(&r, StatusCode::BAD_REQUEST, "a question");
    let r = call(
        &server,
        Method::POST,
        "/api/v1/ask",
        Some(&viewer),
        Some(ask("scale act-web")),
    )
    .await?;
    expect(&r, StatusCode::BAD_REQUEST, "no amount");

    // Audited with the asker as actor.
    let records = audit_records(&server, "POST /api/v1/ask").await?;
    for actor in ["token:act-viewer", "token:act-operator"] {
        assert!(
            records
                .iter()
                .any(|r| r.actor == actor && r.outcome == "ok"),
            "{actor}: {records:?}"
        );
    }
    assert!(
        records
            .iter()
            .any(|r| r.details["details"]["created"] == true && r.target.contains(&name)),
        "{records:?}"
    );
    Ok(())
}
