//! What kaptain-server's test binaries share (each includes this file as `mod support;`, or
//! `#[path = "../support/mod.rs"] mod support;` from a binary in its own directory): waiting
//! for a condition, a server's options and tokens, JSON requests through the real Router and
//! the API's error shape, and (from the engine's tests/support/live.rs, included here)
//! waiting, Kaptain's CRDs and a Proposed HealingAction as the operator makes it.

// Each binary uses a part of this.
#![allow(dead_code)]

#[path = "../../../kaptain-engine/tests/support/live.rs"]
mod live;
pub use live::*;

use std::path::Path;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::Pod;
use kaptain_engine::live::ClusterSource;
use kaptain_heal::crd::HealingAction;
use kaptain_server::serve::{ServeOptions, Server};
use kaptain_store::{Role, Scope};
use kaptain_testenv::apply_yaml;
use kube::Api;
use kube::api::{ListParams, PostParams};
use serde_json::Value;
use tower::ServiceExt;

/// Whether `f`'s chain of causes in `findings` leads to the finding `root_fp`.
pub fn traces_to(
    findings: &[kaptain_model::Finding],
    f: &kaptain_model::Finding,
    root_fp: &str,
) -> bool {
    let mut stack: Vec<&str> = f.caused_by.iter().map(String::as_str).collect();
    let mut seen = std::collections::HashSet::new();
    while let Some(fp) = stack.pop() {
        if fp == root_fp {
            return true;
        }
        if seen.insert(fp)
            && let Some(cause) = findings.iter().find(|c| c.fingerprint == fp)
        {
            stack.extend(cause.caused_by.iter().map(String::as_str));
        }
    }
    false
}

/// Options of a server on a loopback address watching `clusters`, with a SQLite store and its
/// secret key in `dir`.
pub fn serve_options(dir: &Path, clusters: Vec<ClusterSource>) -> ServeOptions {
    ServeOptions {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        clusters,
        database_url: format!("sqlite://{}", dir.join("kaptain.db").display()),
        secret_key_file: dir.join("secret.key"),
        no_auth: false,
        oidc: None,
        operator_namespace: "kaptain-system".into(),
        workers: 1,
        tls: None,
        auth_throttle: Default::default(),
    }
}

/// A token created in `server`'s store (as `kaptain token create` does); returns its secret.
pub async fn token(
    server: &Server,
    name: &str,
    role: Role,
    scopes: Vec<Scope>,
) -> Result<String, Error> {
    let (_, secret) = server
        .state
        .store
        .create_token(name, role, scopes, None, "test")
        .await?;
    Ok(secret)
}

/// The response of one request: status, headers and JSON body (a string when it is not
/// JSON, null when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub headers: HeaderMap,
}

/// Sends one request through `router` (a clone of the server's, so spawned tasks can too).
pub async fn call_router(
    router: axum::Router,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Result<Reply, Error> {
    let resp = router.oneshot(request(method, uri, token, body)?).await?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await?.to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Ok(Reply {
        status,
        body,
        headers,
    })
}

/// A request with an optional bearer token and JSON body.
pub fn request(
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Result<Request<Body>, Error> {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    Ok(match body {
        Some(b) => req
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(serde_json::to_vec(&b)?))?,
        None => req.body(Body::empty())?,
    })
}

/// Asserts `body` is the API's error shape with `code` and a message.
pub fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "error body: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "error body without message: {body}"
    );
}

/// Asserts `reply` has `status` and, for an error, the API's error shape (any code).
pub fn expect(reply: &Reply, status: StatusCode, what: &str) {
    assert_eq!(reply.status, status, "{what}: {:?}", reply.body);
    if status.is_client_error() || status.is_server_error() {
        assert!(
            reply.body["error"]["code"].is_string()
                && reply.body["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty()),
            "{what}: not the error shape: {}",
            reply.body
        );
    }
}

/// Namespace `namespace` and a Deployment `app` (pods labelled `app=<app>`) whose pods read
/// the ConfigMap `<app>-config`, which does not exist: they stay in
/// CreateContainerConfigError, and the missing ConfigMap is the root cause.
pub fn missing_config_app(namespace: &str, app: &str, replicas: u32) -> String {
    format!(
        r#"
apiVersion: v1
kind: Namespace
metadata: {{name: {namespace}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {app}, namespace: {namespace}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {app}}}}}
  template:
    metadata: {{labels: {{app: {app}}}}}
    spec:
      containers:
      - {{name: {app}, image: test/{app}:1.0, envFrom: [{{configMapRef: {{name: {app}-config}}}}]}}
"#
    )
}

/// The HealingPolicy `restarts` in `namespace`: approval mode, a RestartPod for pods that
/// cannot start their containers.
pub fn restart_policy(namespace: &str) -> String {
    format!(
        r#"
apiVersion: kaptain.dev/v1alpha1
kind: HealingPolicy
metadata: {{name: restarts, namespace: {namespace}}}
spec:
  mode: approval
  minConfidence: 0.5
  match: {{checks: [pod.create-container-config-error]}}
  actions: [{{restartPod: {{}}}}]
  verification: {{window: 30s}}
"#
    )
}

/// Kaptain's CRDs, the manifests `app` and the [`restart_policy`] in `namespace`; returns one
/// of the app's pods (labelled `selector`) once it exists.
pub async fn app_with_restart_policy(
    client: &kube::Client,
    namespace: &str,
    app: &str,
    selector: &str,
) -> Result<Pod, Error> {
    install_crds(client).await?;
    apply_yaml(client, app).await?;
    let policy = restart_policy(namespace);
    eventually("the HealingPolicy CRD to be served", || async {
        apply_yaml(client, &policy).await.ok()
    })
    .await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    eventually(&format!("a pod {selector}"), || async {
        pods.list(&ListParams::default().labels(selector))
            .await
            .ok()
            .and_then(|l| l.items.into_iter().find(|p| p.metadata.uid.is_some()))
    })
    .await
}

/// Creates `action` afresh in `api`: one left over from an earlier run of the test binary
/// against a kept cluster is deleted first, so it starts again from Proposed.
pub async fn create_afresh(api: &Api<HealingAction>, action: &HealingAction) -> TestResult {
    let name = action.metadata.name.clone().unwrap_or_default();
    if api.get_opt(&name).await?.is_some() {
        api.delete(&name, &Default::default()).await?;
        eventually("the old action to go", || async {
            api.get_opt(&name).await.ok().filter(Option::is_none)
        })
        .await?;
    }
    api.create(&PostParams::default(), action).await?;
    Ok(())
}
