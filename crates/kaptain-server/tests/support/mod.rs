//! What kaptain-server's test binaries share (each includes this file as `mod support;`, or
//! `#[path = "../support/mod.rs"] mod support;` from a binary in its own directory): waiting
//! for a condition, a server's options and tokens, JSON requests through the real Router and
//! the API's error shape, Kaptain's CRDs, and a Proposed HealingAction as the operator makes
//! it.

// Each binary uses a part of this.
#![allow(dead_code)]

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kaptain_engine::live::{ClusterSource, LiveConfig};
use kaptain_heal::crd::{
    ActionKind, Change, FindingRef, GROUP, HealingAction, HealingActionSpec, Operation, PolicyKind,
    PolicyRef, VERSION,
};
use kaptain_model::{Category, Finding, ObjectRef, Severity};
use kaptain_server::serve::{ServeOptions, Server};
use kaptain_store::{Role, Scope};
use kaptain_testenv::apply_yaml;
use kube::Api;
use kube::api::{ListParams, PostParams};
use serde_json::Value;
use tower::ServiceExt;

pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type TestResult = Result<(), Error>;

/// A generous deadline for anything to happen; no test measures against it.
pub const DEADLINE: Duration = Duration::from_secs(180);

/// Retries `f` until it is `Some`, failing after [`DEADLINE`] with `what`: the shared
/// [`kaptain_testenv::eventually`] with this file's deadline.
pub async fn eventually<T, F, Fut>(what: &str, f: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    Ok(kaptain_testenv::eventually(what, DEADLINE, f).await?)
}

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
    }
}

/// A hub that reacts quickly and analyses 15 minutes ahead, so that grace periods (young pods
/// are not yet flagged) have passed, as the live CLI tests do with `--now`.
pub fn fast_hub() -> LiveConfig {
    LiveConfig {
        debounce: Duration::from_millis(300),
        max_delay: Duration::from_secs(2),
        ..LiveConfig::default()
    }
    .with_clock_offset(jiff::SignedDuration::from_mins(15))
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

/// Creates Kaptain's CRDs (already there from another test is fine) and waits until the API
/// server serves every kind of the group (until then, a request for one of them may answer
/// "404 page not found").
pub async fn install_crds(client: &kube::Client) -> TestResult {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let all = kaptain_heal::crd::crds();
    for crd in &all {
        match crds.create(&PostParams::default(), crd).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
    }
    eventually("every kind of kaptain.dev to be served", || async {
        client
            .list_api_group_resources(&format!("{GROUP}/{VERSION}"))
            .await
            .ok()
            .filter(|r| r.resources.len() >= all.len())
    })
    .await?;
    Ok(())
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

/// A Proposed RestartPod named `name` of Pod `namespace`/`pod` (with `uid` as the change's
/// precondition when given), for a pod that cannot start its containers, under the
/// HealingPolicy `restarts` — as the operator would propose it.
pub fn proposed_restart(
    namespace: &str,
    name: &str,
    pod: &str,
    uid: Option<String>,
) -> HealingAction {
    let object = ObjectRef::new("v1", "Pod", Some(namespace), pod);
    let check = "pod.create-container-config-error";
    let finding = Finding {
        title: format!("Pod {pod} cannot start its containers"),
        root_cause: false,
        ..Finding::new(check, Severity::High, Category::Config, object.clone())
    };
    let mut change = Change::new(object, Operation::Delete);
    change.precondition_uid = uid;
    let mut a = HealingAction::new(
        name,
        HealingActionSpec {
            finding: FindingRef::from(&finding),
            policy: PolicyRef {
                kind: PolicyKind::HealingPolicy,
                namespace: Some(namespace.into()),
                name: "restarts".into(),
                generation: 1,
            },
            action: ActionKind::RestartPod,
            target: format!("Pod/{namespace}/{pod}"),
            change,
            reasoning: "a restart re-reads the configuration".into(),
            confidence: 0.8,
            priority: 0,
            idempotency_key: format!("test-{namespace}-{name}"),
            requires_approval: Some("policy mode is approval".into()),
            verify_within: "5m".parse().expect("a duration"),
        },
    );
    a.metadata.namespace = Some(namespace.into());
    a
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
