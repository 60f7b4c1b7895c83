//! Unknown and unreachable clusters, and what the fuzzer found (scripts/fuzz-api.sh,
//! schemathesis against docs/openapi.json): malformed input is a 400 with the error shape.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use kaptain_engine::live::ClusterSource;
use kaptain_store::{Role, Scope};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::{Api, unreachable_kubeconfig};
use crate::support::{TestResult, assert_error};

#[tokio::test]
async fn unknown_cluster_routes_are_404_and_unreachable_clusters_are_listed() -> TestResult {
    // A context that points at a closed port: the cluster is listed with its state.
    let dir = tempfile::tempdir()?;
    let kubeconfig = unreachable_kubeconfig(dir.path())?;
    let api =
        Api::with(|o| o.clusters = vec![ClusterSource::context(Some(kubeconfig.clone()), "gone")])
            .await?;
    let viewer = api.token(Role::Viewer, vec![]).await?;
    let (status, clusters, _) = api.get("/api/v1/clusters", Some(&viewer)).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(clusters[0]["name"], "gone", "{clusters}");
    let (status, body, _) = api
        .get("/api/v1/clusters/elsewhere/nodes", Some(&viewer))
        .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "not_found");
    let scoped = api
        .token(Role::Viewer, vec![Scope::cluster("other")])
        .await?;
    let (_, clusters, _) = api.get("/api/v1/clusters", Some(&scoped)).await?;
    assert_eq!(clusters, json!([]), "a scoped token sees only its clusters");
    let (status, _, _) = api.get("/api/v1/clusters/gone", Some(&scoped)).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    Ok(())
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
    let (status, _, _) = api.get("/api/v1/findings?limit=1000", Some(&admin)).await?;
    assert_eq!(status, StatusCode::OK);

    // `first_bad` and `head` are objects (they were [seq, text] tuples, which the document
    // could only describe with prefixItems).
    let (status, v, _) = api.get("/api/v1/audit/verify", Some(&admin)).await?;
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
    let (status, v, _) = api.get("/api/v1/audit/verify", Some(&admin)).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["records"], 4, "{v}");
    Ok(())
}
