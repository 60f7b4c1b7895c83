//! Findings: pages, filters and scopes.

use axum::http::StatusCode;
use kaptain_model::Severity;
use kaptain_store::{Role, Scope};

use super::{Api, finding};
use crate::support::{TestResult, assert_error};

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
        let (status, page, _) = api.get(&uri, Some(&admin)).await?;
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
        .get("/api/v1/findings?cluster=prod&severity=high", Some(&admin))
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
        .get("/api/v1/findings?severity=urgent", Some(&admin))
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "bad_request");
    let (status, body, _) = api
        .get("/api/v1/findings?cursor=garbage", Some(&admin))
        .await?;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // A token scoped to prod/shop sees only that namespace, and is refused elsewhere.
    let scoped = api
        .token(Role::Viewer, vec![Scope::namespace("prod", "shop")])
        .await?;
    let (status, page, _) = api.get("/api/v1/findings", Some(&scoped)).await?;
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
        let (status, body, _) = api.get(uri, Some(&scoped)).await?;
        assert_eq!(status, StatusCode::FORBIDDEN, "{uri}");
        assert_error(&body, "forbidden");
    }
    // A finding outside the scope is indistinguishable from a missing one.
    let (_, page, _) = api
        .get("/api/v1/findings?cluster=staging", Some(&admin))
        .await?;
    let other = page["items"][0]["id"].as_i64().ok_or("id")?;
    let (status, _, _) = api
        .get(&format!("/api/v1/findings/{other}"), Some(&scoped))
        .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, one, _) = api
        .get(&format!("/api/v1/findings/{other}"), Some(&admin))
        .await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["cluster"], "staging");
    Ok(())
}
