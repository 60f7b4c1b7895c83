//! The REST API in-process (tower `oneshot` on the real Router, a real SQLite store, a hub
//! with no cluster): authentication, roles, scopes, pagination, audit, OpenAPI, OIDC.

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http_body_util::BodyExt;
use kaptain_model::{Category, Finding, ObjectRef, Remediation, Severity};
use kaptain_server::auth::OidcConfig;
use kaptain_server::hub::{ClusterSource, HubConfig};
use kaptain_server::serve::{ServeOptions, Server};
use kaptain_store::{Role, Scope};
use serde_json::{Value, json};
use tower::ServiceExt;

type TestResult = Result<(), Box<dyn std::error::Error>>;

struct Api {
    server: Server,
    _dir: tempfile::TempDir,
}

fn options(dir: &std::path::Path) -> ServeOptions {
    ServeOptions {
        listen: "127.0.0.1:0".parse().expect("addr"),
        clusters: Vec::new(),
        database_url: format!("sqlite://{}", dir.join("kaptain.db").display()),
        secret_key_file: dir.join("secret.key"),
        no_auth: false,
        oidc: None,
        operator_namespace: "kaptain-system".into(),
        workers: 1,
    }
}

impl Api {
    async fn start() -> Result<Api, Box<dyn std::error::Error>> {
        Api::with(|_| {}).await
    }

    async fn with(
        change: impl FnOnce(&mut ServeOptions),
    ) -> Result<Api, Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let mut opts = options(dir.path());
        change(&mut opts);
        let server = Server::build(&opts, HubConfig::default()).await?;
        Ok(Api { server, _dir: dir })
    }

    async fn token(
        &self,
        role: Role,
        scopes: Vec<Scope>,
    ) -> Result<String, Box<dyn std::error::Error>> {
        let name = format!("{role}-{}", rand_suffix());
        let (_, secret) = self
            .server
            .state
            .store
            .create_token(&name, role, scopes, None, "test")
            .await?;
        Ok(secret)
    }

    async fn call(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<(StatusCode, Value, axum::http::HeaderMap), Box<dyn std::error::Error>> {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(serde_json::to_vec(&b)?))?,
            None => req.body(Body::empty())?,
        };
        let resp = self.server.router.clone().oneshot(req).await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await?.to_bytes();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Ok((status, value, headers))
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
        id: "pod.crash-loop".into(),
        fingerprint: kaptain_model::fingerprint("pod.crash-loop", &object, ""),
        severity,
        category: Category::Reliability,
        object,
        title: format!("{name} crash-loops"),
        message: "restarting".into(),
        evidence: vec![],
        root_cause: true,
        caused_by: vec![],
        remediation: Remediation::default(),
        confidence: 0.9,
        cause_hints: vec![],
    }
}

fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "error body: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "error body without message: {body}"
    );
}

#[tokio::test]
async fn no_credentials_is_401_with_the_error_shape() -> TestResult {
    let api = Api::start().await?;
    for uri in [
        "/api/v1/findings",
        "/api/v1/clusters",
        "/api/v1/audit",
        "/api/v1/stream",
    ] {
        let (status, body, headers) = api.call(Method::GET, uri, None, None).await?;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_error(&body, "unauthorized");
        assert!(headers.contains_key(header::WWW_AUTHENTICATE), "{uri}");
    }
    let (status, body, _) = api
        .call(
            Method::GET,
            "/api/v1/findings",
            Some("kpt_not-a-real-token"),
            None,
        )
        .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "unauthorized");
    // Public routes need nothing.
    for uri in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/v1/openapi.json",
        "/api/v1/docs",
    ] {
        let (status, _, _) = api.call(Method::GET, uri, None, None).await?;
        assert_eq!(status, StatusCode::OK, "{uri}");
    }
    let (status, body, _) = api.call(Method::GET, "/nope", None, None).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "not_found");
    Ok(())
}

#[tokio::test]
async fn roles_gate_what_a_token_may_do() -> TestResult {
    let api = Api::start().await?;
    let viewer = api.token(Role::Viewer, vec![]).await?;
    let operator = api.token(Role::Operator, vec![]).await?;
    let admin = api.token(Role::Admin, vec![]).await?;

    let (status, _, _) = api
        .call(Method::GET, "/api/v1/findings", Some(&viewer), None)
        .await?;
    assert_eq!(status, StatusCode::OK);
    let new_token = json!({"name": "ci", "role": "viewer"});
    let (status, body, _) = api
        .call(
            Method::POST,
            "/api/v1/tokens",
            Some(&viewer),
            Some(new_token.clone()),
        )
        .await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_error(&body, "forbidden");
    let (status, _, _) = api
        .call(
            Method::POST,
            "/api/v1/runs",
            Some(&viewer),
            Some(json!({"cluster": "a"})),
        )
        .await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // An operator may start runs (this cluster does not exist: 404, not 403) but not manage tokens.
    let (status, body, _) = api
        .call(
            Method::POST,
            "/api/v1/runs",
            Some(&operator),
            Some(json!({"cluster": "a"})),
        )
        .await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _, _) = api
        .call(Method::GET, "/api/v1/tokens", Some(&operator), None)
        .await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = api
        .call(Method::GET, "/api/v1/audit", Some(&operator), None)
        .await?;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Admin: create a token, use it, revoke it, and it stops working.
    let (status, created, _) = api
        .call(
            Method::POST,
            "/api/v1/tokens",
            Some(&admin),
            Some(new_token),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().ok_or("no secret")?.to_owned();
    let id = created["token"]["id"].as_i64().ok_or("no id")?;
    let (status, me, _) = api
        .call(Method::GET, "/api/v1/whoami", Some(&secret), None)
        .await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["actor"], "token:ci");
    assert_eq!(me["role"], "viewer");
    let (status, listed, _) = api
        .call(Method::GET, "/api/v1/tokens", Some(&admin), None)
        .await?;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !listed.to_string().contains(&secret),
        "a token listing must never contain a secret"
    );
    let (status, _, _) = api
        .call(
            Method::DELETE,
            &format!("/api/v1/tokens/{id}"),
            Some(&admin),
            None,
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = api
        .call(Method::GET, "/api/v1/whoami", Some(&secret), None)
        .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    Ok(())
}

#[tokio::test]
async fn findings_page_filter_and_respect_scopes() -> TestResult {
    let api = Api::start().await?;
    let store = &api.server.state.store;
    let now = jiff::Timestamp::now();
    store
        .record_scan(
            "prod",
            &[
                finding("a", "shop", Severity::Critical),
                finding("b", "shop", Severity::Low),
                finding("c", "billing", Severity::High),
            ],
            now,
        )
        .await?;
    store
        .record_scan("staging", &[finding("d", "shop", Severity::High)], now)
        .await?;
    let admin = api.token(Role::Viewer, vec![]).await?;

    // Every finding exactly once across pages of 1.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let uri = match &cursor {
            Some(c) => format!("/api/v1/findings?limit=1&cursor={c}"),
            None => "/api/v1/findings?limit=1".to_owned(),
        };
        let (status, page, _) = api.call(Method::GET, &uri, Some(&admin), None).await?;
        assert_eq!(status, StatusCode::OK, "{page}");
        for item in page["items"].as_array().ok_or("items")? {
            seen.push(
                item["finding"]["object"]["name"]
                    .as_str()
                    .ok_or("name")?
                    .to_owned(),
            );
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen, ["a", "b", "c", "d"]);

    let (_, page, _) = api
        .call(
            Method::GET,
            "/api/v1/findings?cluster=prod&severity=high",
            Some(&admin),
            None,
        )
        .await?;
    let names: Vec<&str> = page["items"]
        .as_array()
        .ok_or("items")?
        .iter()
        .filter_map(|i| i["finding"]["object"]["name"].as_str())
        .collect();
    assert_eq!(names, ["a", "c"]);

    // A bad filter is a 400 with the error shape.
    let (status, body, _) = api
        .call(
            Method::GET,
            "/api/v1/findings?severity=urgent",
            Some(&admin),
            None,
        )
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "bad_request");
    let (status, body, _) = api
        .call(
            Method::GET,
            "/api/v1/findings?cursor=garbage",
            Some(&admin),
            None,
        )
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // A token scoped to prod/shop sees only that namespace, and is refused elsewhere.
    let scoped = api
        .token(Role::Viewer, vec![Scope::namespace("prod", "shop")])
        .await?;
    let (status, page, _) = api
        .call(Method::GET, "/api/v1/findings", Some(&scoped), None)
        .await?;
    assert_eq!(status, StatusCode::OK);
    let mut names: Vec<&str> = page["items"]
        .as_array()
        .ok_or("items")?
        .iter()
        .filter_map(|i| i["finding"]["object"]["name"].as_str())
        .collect();
    names.sort();
    assert_eq!(names, ["a", "b"]);
    for uri in [
        "/api/v1/findings?cluster=staging",
        "/api/v1/findings?cluster=prod&namespace=billing",
    ] {
        let (status, body, _) = api.call(Method::GET, uri, Some(&scoped), None).await?;
        assert_eq!(status, StatusCode::FORBIDDEN, "{uri}");
        assert_error(&body, "forbidden");
    }
    // A finding outside the scope is indistinguishable from a missing one.
    let (_, page, _) = api
        .call(
            Method::GET,
            "/api/v1/findings?cluster=staging",
            Some(&admin),
            None,
        )
        .await?;
    let other = page["items"][0]["id"].as_i64().ok_or("id")?;
    let (status, _, _) = api
        .call(
            Method::GET,
            &format!("/api/v1/findings/{other}"),
            Some(&scoped),
            None,
        )
        .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, one, _) = api
        .call(
            Method::GET,
            &format!("/api/v1/findings/{other}"),
            Some(&admin),
            None,
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["cluster"], "staging");
    Ok(())
}

#[tokio::test]
async fn every_state_changing_request_is_audited_and_the_chain_verifies() -> TestResult {
    let api = Api::start().await?;
    let admin = api.token(Role::Admin, vec![]).await?;
    let viewer = api.token(Role::Viewer, vec![]).await?;
    let (status, _, _) = api
        .call(
            Method::POST,
            "/api/v1/tokens",
            Some(&admin),
            Some(json!({"name": "bot", "role": "operator"})),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, _) = api
        .call(
            Method::PUT,
            "/api/v1/settings/llm.api_key",
            Some(&viewer),
            Some(json!({"value": "sk-1"})),
        )
        .await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = api
        .call(
            Method::POST,
            "/api/v1/tokens",
            None,
            Some(json!({"name": "x", "role": "admin"})),
        )
        .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = api
        .call(
            Method::PUT,
            "/api/v1/settings/llm.api_key",
            Some(&admin),
            Some(json!({"value": "sk-secret-1"})),
        )
        .await?;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let (status, page, _) = api
        .call(Method::GET, "/api/v1/audit", Some(&admin), None)
        .await?;
    assert_eq!(status, StatusCode::OK);
    let records = page["items"].as_array().ok_or("items")?;
    let brief: Vec<(String, String, String)> = records
        .iter()
        .map(|r| {
            (
                r["actor"].as_str().unwrap_or_default().to_owned(),
                r["action"].as_str().unwrap_or_default().to_owned(),
                r["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let admin_actor = format!("token:{}", "admin-");
    assert!(
        brief.iter().any(|(a, act, o)| a.starts_with(&admin_actor)
            && act == "POST /api/v1/tokens"
            && o == "ok"),
        "{brief:?}"
    );
    assert!(
        brief
            .iter()
            .any(|(a, act, o)| a.starts_with("token:viewer-")
                && act == "PUT /api/v1/settings/{name}"
                && o == "denied"),
        "{brief:?}"
    );
    assert!(
        brief
            .iter()
            .any(|(a, _, o)| a == "unauthenticated" && o == "denied"),
        "{brief:?}"
    );
    // Reads are not audited.
    assert!(
        !brief.iter().any(|(_, act, _)| act.starts_with("GET")),
        "{brief:?}"
    );
    // The secret value is in neither the audit log nor the settings listing.
    assert!(!page.to_string().contains("sk-secret-1"));
    let (_, settings, _) = api
        .call(Method::GET, "/api/v1/settings", Some(&admin), None)
        .await?;
    assert_eq!(settings[0]["name"], "llm.api_key");
    assert!(!settings.to_string().contains("sk-secret-1"));

    let (status, v, _) = api
        .call(Method::GET, "/api/v1/audit/verify", Some(&admin), None)
        .await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["records"].as_u64(), Some(records.len() as u64));
    Ok(())
}

#[tokio::test]
async fn metrics_count_requests_by_route_template() -> TestResult {
    let api = Api::start().await?;
    let viewer = api.token(Role::Viewer, vec![]).await?;
    for id in [1, 2, 3] {
        api.call(
            Method::GET,
            &format!("/api/v1/findings/{id}"),
            Some(&viewer),
            None,
        )
        .await?;
    }
    let (_, text, _) = api.call(Method::GET, "/metrics", None, None).await?;
    let text = text.as_str().ok_or("metrics text")?;
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("kaptain_server_http_requests_total")
                && l.contains("route=\"/api/v1/findings/{id}\"")
                && l.contains("status=\"404\"")
        })
        .ok_or_else(|| format!("no request counter for the route template in:\n{text}"))?;
    assert!(line.trim_end().ends_with(" 3"), "{line}");
    assert!(
        !text.contains("/api/v1/findings/1\""),
        "concrete paths must not become labels"
    );
    assert!(text.contains("kaptain_server_http_request_duration_seconds_bucket"));
    Ok(())
}

/// The committed OpenAPI document (docs/openapi.json) is what the code generates.
#[tokio::test]
async fn openapi_document_is_served_and_committed() -> TestResult {
    let api = Api::start().await?;
    let (status, served, _) = api
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await?;
    assert_eq!(status, StatusCode::OK);
    assert!(
        served["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        served["openapi"]
    );
    for path in [
        "/findings",
        "/clusters/{cluster}/report",
        "/runs",
        "/audit",
        "/stream",
    ] {
        assert!(served["paths"].get(path).is_some(), "missing path {path}");
    }
    let generated = serde_json::to_string_pretty(&kaptain_server::api::openapi())? + "\n";
    let committed = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let on_disk = std::fs::read_to_string(&committed).unwrap_or_default();
    assert!(
        on_disk == generated,
        "{} is stale: run `cargo run -p kaptain-server --example openapi > docs/openapi.json`",
        committed.display()
    );
    Ok(())
}

#[tokio::test]
async fn no_auth_only_on_loopback() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut opts = options(dir.path());
    opts.no_auth = true;
    opts.listen = "0.0.0.0:7878".parse::<SocketAddr>()?;
    let err = Server::build(&opts, HubConfig::default())
        .await
        .err()
        .ok_or("must refuse")?;
    assert!(err.to_string().contains("loopback"), "{err}");
    let api = Api::with(|o| o.no_auth = true).await?;
    let (status, me, _) = api.call(Method::GET, "/api/v1/whoami", None, None).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["actor"], "anonymous");
    Ok(())
}

#[tokio::test]
async fn unknown_cluster_routes_are_404_and_unreachable_clusters_are_listed() -> TestResult {
    // A context that points at a closed port: the cluster is listed with its state.
    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("kubeconfig");
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:{port}\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: gone\n  context:\n    cluster: c\n    user: u\ncurrent-context: gone\n"
        ),
    )?;
    let api =
        Api::with(|o| o.clusters = vec![ClusterSource::context(Some(kubeconfig.clone()), "gone")])
            .await?;
    let viewer = api.token(Role::Viewer, vec![]).await?;
    let (status, clusters, _) = api
        .call(Method::GET, "/api/v1/clusters", Some(&viewer), None)
        .await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(clusters[0]["name"], "gone", "{clusters}");
    let (status, body, _) = api
        .call(
            Method::GET,
            "/api/v1/clusters/elsewhere/nodes",
            Some(&viewer),
            None,
        )
        .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "not_found");
    let scoped = api
        .token(Role::Viewer, vec![Scope::cluster("other")])
        .await?;
    let (_, clusters, _) = api
        .call(Method::GET, "/api/v1/clusters", Some(&scoped), None)
        .await?;
    assert_eq!(clusters, json!([]), "a scoped token sees only its clusters");
    let (status, _, _) = api
        .call(Method::GET, "/api/v1/clusters/gone", Some(&scoped), None)
        .await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    Ok(())
}

// ---- What the fuzzer found (scripts/fuzz-api.sh, schemathesis against docs/openapi.json) ----

/// A kubeconfig whose only context, `gone`, points at a closed port.
fn unreachable_kubeconfig(dir: &std::path::Path) -> Result<PathBuf, Box<dyn std::error::Error>> {
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

/// Approving or rejecting a healing action whose namespace or name cannot be a Kubernetes
/// name was a 503 (the Kubernetes client could not even build the request): it is the
/// client's mistake, a 400 naming the bad part. A malformed reject body was a plain-text 422.
#[tokio::test]
async fn healing_decisions_on_impossible_names_are_400() -> TestResult {
    let dir = tempfile::tempdir()?;
    let kubeconfig = unreachable_kubeconfig(dir.path())?;
    let api =
        Api::with(|o| o.clusters = vec![ClusterSource::context(Some(kubeconfig), "gone")]).await?;
    let operator = api.token(Role::Operator, vec![]).await?;
    for (path, bad) in [
        ("%16_/restart-web/approve", "namespace"),
        ("%C3%8Dq%C3%A4/restart-web/reject", "namespace"),
        ("Default/restart-web/approve", "namespace"),
        ("default/%F1%B2%AC%AD/approve", "object name"),
        ("default/a%20b/reject", "object name"),
        ("default/restart..web/approve", "object name"),
    ] {
        let uri = format!("/api/v1/clusters/gone/healing-actions/{path}");
        let (status, body, _) = api.call(Method::POST, &uri, Some(&operator), None).await?;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_error(&body, "bad_request");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(bad)),
            "{uri}: {body}"
        );
    }
    let (status, body, _) = api
        .call(
            Method::POST,
            "/api/v1/clusters/gone/healing-actions/default/x/reject",
            Some(&operator),
            Some(json!({"reason": {}})),
        )
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_error(&body, "bad_request");
    Ok(())
}

/// Malformed input is a 400 with the error shape wherever it is: a body that is missing,
/// not JSON or of the wrong shape (was 415/422), a page size above the documented maximum
/// (was silently clamped), an id that is not a number; and the audit check names its parts.
#[tokio::test]
async fn malformed_requests_are_400_with_the_error_shape() -> TestResult {
    let api = Api::start().await?;
    let admin = api.token(Role::Admin, vec![]).await?;
    let raw = |method: Method, uri: &str, content_type: Option<&str>, body: &str| {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {admin}"));
        if let Some(ct) = content_type {
            req = req.header(header::CONTENT_TYPE, ct);
        }
        req.body(Body::from(body.to_owned()))
    };
    let json = Some("application/json");
    for (method, uri, ct, body) in [
        (Method::POST, "/api/v1/runs", None, ""),
        (Method::POST, "/api/v1/runs", Some("text/plain"), "{}"),
        (Method::POST, "/api/v1/runs", json, "{}"),
        (Method::POST, "/api/v1/runs", json, "{\"cluster\": 1}"),
        (Method::POST, "/api/v1/tokens", None, ""),
        (
            Method::POST,
            "/api/v1/tokens",
            json,
            "{\"name\": \"x\", \"role\": \"admin\", \"expires_at\": \"\"}",
        ),
        (Method::PUT, "/api/v1/settings/x", json, "[]"),
        (Method::PUT, "/api/v1/settings/x", json, "{\"value\": "),
        (Method::GET, "/api/v1/findings?limit=1001", None, ""),
        (Method::GET, "/api/v1/findings?limit=2147483648", None, ""),
        (Method::GET, "/api/v1/findings?limit=-1", None, ""),
        (Method::GET, "/api/v1/audit?limit=4294967295", None, ""),
        (Method::GET, "/api/v1/runs?limit=1001", None, ""),
        (
            Method::GET,
            "/api/v1/findings/9223372036854775808",
            None,
            "",
        ),
        (Method::GET, "/api/v1/runs/x", None, ""),
        (Method::POST, "/api/v1/tasks/-1/cancel", None, ""),
        (Method::DELETE, "/api/v1/tokens/1.5", None, ""),
        (Method::GET, "/api/v1/clusters/%FF", None, ""),
        (Method::DELETE, "/api/v1/settings/%FF%FE", None, ""),
    ] {
        let resp = api
            .server
            .router
            .clone()
            .oneshot(raw(method.clone(), uri, ct, body)?)
            .await?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await?.to_bytes();
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{method} {uri}: not JSON ({e}): {bytes:?}"))?;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{method} {uri} {body}: {value}"
        );
        assert_error(&value, "bad_request");
    }
    // The largest documented page size is accepted.
    let (status, _, _) = api
        .call(
            Method::GET,
            "/api/v1/findings?limit=1000",
            Some(&admin),
            None,
        )
        .await?;
    assert_eq!(status, StatusCode::OK);

    // `first_bad` and `head` are objects (they were [seq, text] tuples, which the document
    // could only describe with prefixItems).
    let (status, v, _) = api
        .call(Method::GET, "/api/v1/audit/verify", Some(&admin), None)
        .await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["first_bad"], Value::Null, "{v}");
    assert!(v["head"]["seq"].as_u64().is_some_and(|s| s > 0), "{v}");
    assert_eq!(v["head"]["hash"].as_str().map(str::len), Some(64), "{v}");
    Ok(())
}

/// PostgreSQL cannot store text with a NUL character: a NUL in a filter, a name or a value
/// was a 500 there (SQLite takes it); it is the request's fault, a 400 on both.
#[tokio::test(flavor = "multi_thread")]
async fn nul_characters_are_400_on_postgres() -> TestResult {
    let url = tokio::task::spawn_blocking(|| {
        kaptain_testenv::Postgres::shared()
            .fresh_database()
            .map_err(|e| e.to_string())
    })
    .await??;
    let api = Api::with(|o| o.database_url = url).await?;
    let admin = api.token(Role::Admin, vec![]).await?;
    for (method, uri, body) in [
        (Method::GET, "/api/v1/findings?cluster=a%00b", None),
        (Method::GET, "/api/v1/findings?namespace=%00", None),
        (Method::GET, "/api/v1/findings?check=pod.%00", None),
        (Method::GET, "/api/v1/audit?actor=%00", None),
        (Method::GET, "/api/v1/runs?cluster=%00", None),
        (
            Method::PUT,
            "/api/v1/settings/x",
            Some(json!({"value": "a\u{0}b", "secret": false})),
        ),
        (
            Method::PUT,
            "/api/v1/settings/x%00y",
            Some(json!({"value": "ab", "secret": false})),
        ),
        (
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"name": "a\u{0}b", "role": "viewer"})),
        ),
        (Method::DELETE, "/api/v1/settings/x%00y", None),
    ] {
        let (status, value, _) = api.call(method.clone(), uri, Some(&admin), body).await?;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {uri}: {value}");
        assert_error(&value, "bad_request");
    }
    // The refused writes were audited as such (the audit log itself takes no NUL: its
    // target is the percent-encoded path).
    let (status, v, _) = api
        .call(Method::GET, "/api/v1/audit/verify", Some(&admin), None)
        .await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["records"], 4, "{v}");
    Ok(())
}

/// Every `$ref` of the OpenAPI document resolves (a query enum once pointed at a schema that
/// was not in it), and every operation that takes parameters or a body documents the 400 it
/// answers to malformed ones.
#[test]
fn openapi_document_is_self_consistent() -> TestResult {
    let doc = serde_json::to_value(kaptain_server::api::openapi())?;
    let mut refs = Vec::new();
    fn collect(v: &Value, refs: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    refs.push(r.clone());
                }
                m.values().for_each(|v| collect(v, refs));
            }
            Value::Array(a) => a.iter().for_each(|v| collect(v, refs)),
            _ => {}
        }
    }
    collect(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in &refs {
        let pointer = r.strip_prefix('#').ok_or(format!("external $ref {r}"))?;
        assert!(doc.pointer(pointer).is_some(), "unresolvable $ref {r}");
    }
    let paths = doc["paths"].as_object().ok_or("paths")?;
    for (path, ops) in paths {
        for (method, op) in ops.as_object().ok_or("operations")? {
            let takes_input = op["parameters"].as_array().is_some_and(|p| !p.is_empty())
                || op.get("requestBody").is_some();
            if takes_input {
                assert!(
                    op["responses"].get("400").is_some(),
                    "{method} {path} takes input but documents no 400"
                );
            }
        }
    }
    Ok(())
}

// ---- OIDC ----

struct Issuer {
    key: jsonwebtoken::EncodingKey,
    jwks_url: String,
    _task: tokio::task::JoinHandle<()>,
}

async fn issuer() -> Result<Issuer, Box<dyn std::error::Error>> {
    let pair = rcgen::KeyPair::generate()?;
    let raw = pair.public_key_raw();
    // Uncompressed P-256 point: 0x04 || x || y.
    let (x, y) = (&raw[1..33], &raw[33..65]);
    let jwks = json!({"keys": [{
        "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": "k1",
        "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
    }]});
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let jwks = jwks.clone();
            async move { axum::Json(jwks) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(Issuer {
        key: jsonwebtoken::EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes())?,
        jwks_url: format!("http://{addr}/jwks"),
        _task: task,
    })
}

impl Issuer {
    fn sign(&self, claims: Value) -> Result<String, Box<dyn std::error::Error>> {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some("k1".into());
        Ok(jsonwebtoken::encode(&header, &claims, &self.key)?)
    }
}

#[tokio::test]
async fn oidc_tokens_are_checked_for_signature_issuer_audience_and_expiry() -> TestResult {
    let iss = issuer().await?;
    let jwks_url = iss.jwks_url.clone();
    let api = Api::with(|o| {
        o.oidc = Some(OidcConfig::new("https://idp.example", "kaptain", &jwks_url));
    })
    .await?;
    let exp = jiff::Timestamp::now().as_second() + 600;
    let good = iss.sign(json!({
        "iss": "https://idp.example", "aud": "kaptain", "sub": "u1", "email": "alice@example.com",
        "exp": exp, "kaptain_role": "operator", "kaptain_scopes": ["prod/shop"],
    }))?;
    let (status, me, _) = api
        .call(Method::GET, "/api/v1/whoami", Some(&good), None)
        .await?;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["actor"], "oidc:alice@example.com");
    assert_eq!(me["role"], "operator");
    assert_eq!(
        me["scopes"],
        json!([{"cluster": "prod", "namespace": "shop"}])
    );
    assert_eq!(me["method"], "oidc");
    // The scope applies: another cluster is refused.
    let (status, _, _) = api
        .call(
            Method::GET,
            "/api/v1/findings?cluster=staging",
            Some(&good),
            None,
        )
        .await?;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let bad_claims = [
        (
            "wrong audience",
            json!({"iss": "https://idp.example", "aud": "other", "sub": "u", "exp": exp, "kaptain_role": "admin"}),
        ),
        (
            "wrong issuer",
            json!({"iss": "https://evil.example", "aud": "kaptain", "sub": "u", "exp": exp, "kaptain_role": "admin"}),
        ),
        (
            "expired",
            json!({"iss": "https://idp.example", "aud": "kaptain", "sub": "u", "exp": exp - 7200, "kaptain_role": "admin"}),
        ),
        (
            "no role",
            json!({"iss": "https://idp.example", "aud": "kaptain", "sub": "u", "exp": exp}),
        ),
        (
            "unknown role",
            json!({"iss": "https://idp.example", "aud": "kaptain", "sub": "u", "exp": exp, "kaptain_role": "root"}),
        ),
    ];
    for (why, claims) in bad_claims {
        let t = iss.sign(claims)?;
        let (status, body, _) = api
            .call(Method::GET, "/api/v1/whoami", Some(&t), None)
            .await?;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{why}: {body}");
        assert_error(&body, "unauthorized");
    }
    // Signed by someone else (same kid): refused.
    let other = issuer().await?;
    let forged = other.sign(json!({"iss": "https://idp.example", "aud": "kaptain", "sub": "u", "exp": exp, "kaptain_role": "admin"}))?;
    let (status, _, _) = api
        .call(Method::GET, "/api/v1/whoami", Some(&forged), None)
        .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Tampered payload: refused.
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    parts[1] = URL_SAFE_NO_PAD.encode(
        json!({"iss": "https://idp.example", "aud": "kaptain", "sub": "u1", "exp": exp, "kaptain_role": "admin"}).to_string(),
    );
    let (status, _, _) = api
        .call(Method::GET, "/api/v1/whoami", Some(&parts.join(".")), None)
        .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    Ok(())
}
