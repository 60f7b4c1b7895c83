//! Support for the live API tests: a server built by `Server::build` on the shared control
//! plane (with the simulated kubelet), requests through the real Router, waiting for
//! conditions with a generous deadline.

pub mod ask;
pub mod ask_act;
pub mod healing;
pub mod incluster;
pub mod metrics;
pub mod replicas;
pub mod runs;
pub mod upgrade;

use std::path::Path;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use kaptain_engine::live::{ClusterSource, LiveConfig};
use kaptain_server::serve::{ServeOptions, Server};
use kaptain_testenv::{CONTEXT, ControlPlane};

pub use crate::support::{
    DEADLINE, Error, Reply, TestResult, call_router, eventually, expect, request, token, traces_to,
};

/// The hub's name of the test cluster (the kubeconfig context).
pub const CLUSTER: &str = CONTEXT;

/// Options of a server watching the shared control plane's admin context, with its store at
/// `database_url` and its secret key in `dir`.
pub fn options(cp: &ControlPlane, dir: &Path, database_url: String) -> ServeOptions {
    let cluster = ClusterSource::context(Some(cp.kubeconfig_path().to_owned()), CLUSTER);
    ServeOptions {
        database_url,
        ..crate::support::serve_options(dir, vec![cluster])
    }
}

/// A hub that reacts quickly and analyses 15 minutes ahead (grace periods have passed).
pub fn hub_config() -> LiveConfig {
    crate::support::fast_hub()
}

/// Sends one request through `server`'s Router.
pub async fn call(
    server: &Server,
    method: axum::http::Method,
    uri: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> Result<Reply, Error> {
    call_router(server.router.clone(), method, uri, token, body).await
}

/// `POST /api/v1/runs` of [`CLUSTER`] with `token`, which must be accepted (`what` says why).
pub async fn start_run(server: &Server, token: &str, what: &str) -> Result<Reply, Error> {
    let body = json!({"cluster": CLUSTER});
    let r = call(
        server,
        Method::POST,
        "/api/v1/runs",
        Some(token),
        Some(body),
    )
    .await?;
    expect(&r, StatusCode::ACCEPTED, what);
    Ok(r)
}

/// Polls the run until it has finished; returns it.
pub async fn finished(server: &Server, id: i64, token: &str) -> Result<Value, Error> {
    eventually(&format!("run {id} to finish"), || async {
        let r = call(
            server,
            Method::GET,
            &format!("/api/v1/runs/{id}"),
            Some(token),
            None,
        )
        .await
        .ok()?;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        matches!(r.body["status"].as_str(), Some("succeeded" | "failed")).then_some(r.body)
    })
    .await
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
