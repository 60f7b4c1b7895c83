//! The audit log: every state-changing request is recorded, secrets are not, and the
//! chain verifies.

use axum::http::{Method, StatusCode};
use kaptain_store::Role;
use serde_json::json;

use super::Api;
use crate::support::TestResult;

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

    let (status, page, _) = api.get("/api/v1/audit", Some(&admin)).await?;
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
    let (_, settings, _) = api.get("/api/v1/settings", Some(&admin)).await?;
    assert_eq!(settings[0]["name"], "llm.api_key");
    assert!(!settings.to_string().contains("sk-secret-1"));

    let (status, v, _) = api.get("/api/v1/audit/verify", Some(&admin)).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["records"].as_u64(), Some(records.len() as u64));
    Ok(())
}
