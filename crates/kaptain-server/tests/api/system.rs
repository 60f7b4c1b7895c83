//! Metrics by route template, and the OpenAPI document (served, committed, consistent).

use std::path::PathBuf;

use axum::http::StatusCode;
use kaptain_store::Role;
use serde_json::Value;

use super::Api;
use crate::support::TestResult;

#[tokio::test]
async fn metrics_count_requests_by_route_template() -> TestResult {
    let api = Api::start().await?;
    let viewer = api.token(Role::Viewer, vec![]).await?;
    for id in [1, 2, 3] {
        api.get(&format!("/api/v1/findings/{id}"), Some(&viewer))
            .await?;
    }
    let (_, text, _) = api.get("/metrics", None).await?;
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
    let (status, served, _) = api.get("/api/v1/openapi.json", None).await?;
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

/// `GET /api/v1/ask` with no cluster served: help still answers, a question about the
/// clusters gets no answers (not an error), and the usual 401/400 cases hold.
#[tokio::test]
async fn ask_without_clusters() -> TestResult {
    let api = Api::start().await?;
    let viewer = api.token(Role::Viewer, vec![]).await?;
    let (s, body, _) = api.get("/api/v1/ask?q=help", Some(&viewer)).await?;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["request"]["intent"], "help");
    let suggestions = body["answers"][0]["answer"]["suggestions"]
        .as_array()
        .ok_or("no suggestions")?;
    assert!(!suggestions.is_empty(), "{body}");
    let (s, body, _) = api
        .get("/api/v1/ask?q=what%20is%20wrong%3F", Some(&viewer))
        .await?;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["request"]["intent"], "diagnose");
    assert_eq!(body["answers"], Value::Array(vec![]));
    // What a check means is answered without a cluster too.
    let (s, body, _) = api
        .get(
            "/api/v1/ask?q=what%20does%20pod.oom-killed%20mean",
            Some(&viewer),
        )
        .await?;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["request"]["intent"], "explain");
    let headline = body["answers"][0]["answer"]["headline"]
        .as_str()
        .ok_or("no headline")?;
    assert!(headline.starts_with("pod.oom-killed"), "{body}");
    let (s, body, _) = api.get("/api/v1/ask?q=%20", Some(&viewer)).await?;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "bad_request", "{body}");
    let (s, _, _) = api.get("/api/v1/ask?q=help", None).await?;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    Ok(())
}
