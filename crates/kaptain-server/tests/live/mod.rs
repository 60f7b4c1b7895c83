//! Support for the live API tests: a server built by `Server::build` on the shared control
//! plane (with the simulated kubelet), requests through the real Router, waiting for
//! conditions with a generous deadline.

pub mod healing;
pub mod incluster;
pub mod replicas;
pub mod runs;

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use kaptain_server::hub::{ClusterSource, HubConfig};
use kaptain_server::serve::{ServeOptions, Server};
use kaptain_store::{Role, Scope};
use kaptain_testenv::{CONTEXT, ControlPlane};
use serde_json::Value;
use tower::ServiceExt;

pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type TestResult = Result<(), Error>;

/// A generous deadline for anything to happen; no test measures against it.
pub const DEADLINE: Duration = Duration::from_secs(180);

/// The hub's name of the test cluster (the kubeconfig context).
pub const CLUSTER: &str = CONTEXT;

/// Retries `f` every 200 ms until it is `Some`, failing after [`DEADLINE`] with `what`.
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = f().await {
            return Ok(v);
        }
        if Instant::now() > deadline {
            return Err(format!("{what}: not within {DEADLINE:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Options of a server watching the shared control plane's admin context, with its store at
/// `database_url` and its secret key in `dir`.
pub fn options(cp: &ControlPlane, dir: &Path, database_url: String) -> ServeOptions {
    ServeOptions {
        listen: "127.0.0.1:0".parse().expect("a loopback address"),
        clusters: vec![ClusterSource::context(
            Some(cp.kubeconfig_path().to_owned()),
            CLUSTER,
        )],
        database_url,
        secret_key_file: dir.join("secret.key"),
        no_auth: false,
        oidc: None,
        operator_namespace: "kaptain-system".into(),
        workers: 1,
    }
}

/// A hub that reacts quickly and analyses 15 minutes ahead (grace periods have passed).
pub fn hub_config() -> HubConfig {
    HubConfig {
        debounce: Duration::from_millis(300),
        max_delay: Duration::from_secs(2),
        ..HubConfig::default()
    }
    .with_clock_offset(jiff::SignedDuration::from_mins(15))
}

/// The response of one request: status and JSON body (a string when it is not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

/// Sends one request through `server`'s Router.
pub async fn call(
    server: &Server,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Result<Reply, Error> {
    call_router(server.router.clone(), method, uri, token, body).await
}

/// [`call`] on a Router of its own (for spawned tasks).
pub async fn call_router(
    router: axum::Router,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Result<Reply, Error> {
    let resp = router.oneshot(request(method, uri, token, body)?).await?;
    let status = resp.status();
    let bytes = resp.into_body().collect().await?.to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Ok(Reply { status, body })
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

/// Asserts `reply` has `status` and, for an error, the API's error shape with `code`.
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

/// Audit records (newest first) of `server`'s store whose action is `action`.
pub async fn audit_records(
    server: &Server,
    action: &str,
) -> Result<Vec<kaptain_store::AuditRecord>, Error> {
    let page = server
        .state
        .store
        .audit(&kaptain_store::AuditQuery {
            action: Some(action.to_owned()),
            limit: 1000,
            ..kaptain_store::AuditQuery::default()
        })
        .await?;
    Ok(page.items)
}

/// The missing-ConfigMap scenario (tests/scenarios/missing-configmap) in namespace `ns`.
pub fn missing_configmap(ns: &str) -> String {
    include_str!("../../../../tests/scenarios/missing-configmap/manifests.yaml")
        .replace("missing-configmap", ns)
}

/// Starts the shared control plane's simulated kubelet (once per binary).
pub async fn cluster() -> Result<(&'static ControlPlane, kube::Client), Error> {
    let cp = tokio::task::spawn_blocking(ControlPlane::shared).await?;
    cp.shared_kubelet().await?;
    Ok((cp, cp.client().await?))
}
