//! Authentication and roles: 401 without credentials, what each role may do with tokens,
//! and `--no-auth` only on a loopback address.

use std::net::SocketAddr;

use axum::http::{Method, StatusCode, header};
use kaptain_engine::live::LiveConfig;
use kaptain_server::serve::Server;
use kaptain_store::Role;
use serde_json::json;

use super::Api;
use crate::support::{TestResult, assert_error};

#[tokio::test]
async fn no_credentials_is_401_with_the_error_shape() -> TestResult {
    let api = Api::start().await?;
    for uri in [
        "/api/v1/findings",
        "/api/v1/clusters",
        "/api/v1/audit",
        "/api/v1/stream",
    ] {
        let (status, body, headers) = api.get(uri, None).await?;
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
        let (status, _, _) = api.get(uri, None).await?;
        assert_eq!(status, StatusCode::OK, "{uri}");
    }
    let (status, body, _) = api.get("/nope", None).await?;
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

    let (status, _, _) = api.get("/api/v1/findings", Some(&viewer)).await?;
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
    let (status, _, _) = api.get("/api/v1/tokens", Some(&operator)).await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = api.get("/api/v1/audit", Some(&operator)).await?;
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
    let (status, me, _) = api.get("/api/v1/whoami", Some(&secret)).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["actor"], "token:ci");
    assert_eq!(me["role"], "viewer");
    let (status, listed, _) = api.get("/api/v1/tokens", Some(&admin)).await?;
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
    let (status, _, _) = api.get("/api/v1/whoami", Some(&secret)).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    Ok(())
}

#[tokio::test]
async fn no_auth_only_on_loopback() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut opts = crate::support::serve_options(dir.path(), Vec::new());
    opts.no_auth = true;
    opts.listen = "0.0.0.0:7878".parse::<SocketAddr>()?;
    let err = Server::build(&opts, LiveConfig::default())
        .await
        .err()
        .ok_or("must refuse")?;
    assert!(err.to_string().contains("loopback"), "{err}");
    let api = Api::with(|o| o.no_auth = true).await?;
    let (status, me, _) = api.get("/api/v1/whoami", None).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["actor"], "anonymous");
    Ok(())
}
