//! The REST API in-process (tower `oneshot` on the real Router, a real SQLite store, a hub
//! with no cluster): authentication, roles, scopes, pagination, audit, OpenAPI, OIDC, and
//! malformed input; and over real TCP on a loopback port: the listener's hardening and the
//! RBAC matrix (every operation × every role and kind of scope).

#[path = "../support/mod.rs"]
mod support;

mod audit;
mod auth;
mod errors;
mod findings;
mod hardening;
mod oidc;
mod rbac_matrix;
mod system;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, Method, StatusCode};
use kaptain_engine::live::LiveConfig;
use kaptain_model::{Category, Finding, ObjectRef, Severity};
use kaptain_server::listen::{self, Listen};
use kaptain_server::serve::{ServeOptions, Server};
use kaptain_store::{Role, Scope};
use serde_json::Value;

use support::{Error, call_router, serve_options};

/// A server with no cluster and its store in a temp dir.
struct Api {
    server: Server,
    _dir: tempfile::TempDir,
}

impl Api {
    async fn start() -> Result<Api, Error> {
        Api::with(|_| {}).await
    }

    /// A server whose options `change` adjusts first.
    async fn with(change: impl FnOnce(&mut ServeOptions)) -> Result<Api, Error> {
        let dir = tempfile::tempdir()?;
        let mut opts = serve_options(dir.path(), Vec::new());
        change(&mut opts);
        let server = Server::build(&opts, LiveConfig::default()).await?;
        Ok(Api { server, _dir: dir })
    }

    /// A new token with `role` and `scopes`, named after the role.
    async fn token(&self, role: Role, scopes: Vec<Scope>) -> Result<String, Error> {
        let name = format!("{role}-{}", rand_suffix());
        support::token(&self.server, &name, role, scopes).await
    }

    async fn call(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<(StatusCode, Value, HeaderMap), Error> {
        let r = call_router(self.server.router.clone(), method, uri, token, body).await?;
        Ok((r.status, r.body, r.headers))
    }

    async fn get(
        &self,
        uri: &str,
        token: Option<&str>,
    ) -> Result<(StatusCode, Value, HeaderMap), Error> {
        self.call(Method::GET, uri, token, None).await
    }

    /// The router behind `kaptain serve`'s listener on a free loopback port (real TCP: the
    /// client address is known, so failed authentications are throttled per address).
    async fn listen(
        &self,
        tls: Option<Arc<rustls::ServerConfig>>,
        header_read_timeout: Duration,
    ) -> Result<SocketAddr, Error> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(listen::serve(
            listener,
            self.server.router.clone(),
            Listen {
                tls,
                header_read_timeout,
            },
            std::future::pending(),
        ));
        Ok(addr)
    }
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::Relaxed).to_string()
}

fn finding(name: &str, ns: &str, severity: Severity) -> Finding {
    let object = ObjectRef::new("v1", "Pod", Some(ns), name);
    Finding {
        title: format!("{name} crash-loops"),
        message: "restarting".into(),
        ..Finding::new("pod.crash-loop", severity, Category::Reliability, object)
    }
}

// ---- What the fuzzer found (scripts/fuzz-api.sh, schemathesis against docs/openapi.json) ----

/// A kubeconfig whose only context, `gone`, points at a closed port.
fn unreachable_kubeconfig(dir: &Path) -> Result<PathBuf, Error> {
    let kubeconfig = dir.join("kubeconfig");
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:{port}\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: gone\n  context:\n    cluster: c\n    user: u\ncurrent-context: gone\n"
        ),
    )?;
    Ok(kubeconfig)
}
