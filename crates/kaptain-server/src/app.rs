//! The whole HTTP application: the API under `/api/v1` (authenticated, audited), the OpenAPI
//! document and its docs page, health and metrics, embedded assets, and the web console.

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::middleware;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::api::error::ApiError;
use crate::api::{self, AppState};
use crate::assets;
use crate::auth;
use crate::harden;
use crate::metrics;

/// The application with every route and middleware.
pub fn router(state: AppState) -> Router {
    let (api_routes, openapi) = api::parts();
    let spec = serde_json::to_string(&openapi).unwrap_or_else(|e| {
        tracing::error!("serializing the OpenAPI document: {e}");
        "{}".to_owned()
    });
    let api_routes = api_routes
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            api::audit::record,
        ));
    Router::new()
        .nest("/api/v1", api_routes)
        .route(
            "/api/v1/openapi.json",
            get(
                move || async move { ([(header::CONTENT_TYPE, "application/json")], spec.clone()) },
            ),
        )
        .route("/api/v1/docs", get(docs))
        .route("/assets/{*file}", get(assets::serve))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::serve))
        .merge(crate::console::router(state.clone()))
        .merge(crate::mcp::router(state.clone()))
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(middleware::from_fn_with_state(
            state.hardening,
            harden::check,
        ))
        .layer(DefaultBodyLimit::max(harden::BODY_LIMIT))
        .layer(middleware::from_fn_with_state(
            state.hardening,
            harden::headers,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .with_state(state)
}

/// 200 once the store answers; the body lists each cluster's state (an unreachable cluster
/// does not make the server unready: the others are still served).
async fn readyz(State(state): State<AppState>) -> Response {
    let clusters: Vec<_> = state
        .hub
        .clusters()
        .into_iter()
        .map(|c| json!({"name": c.name, "status": c.status.state()}))
        .collect();
    match state.store.audit_head().await.map(|_| ()) {
        Ok(()) => axum::Json(json!({"ready": true, "clusters": clusters})).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(
                json!({"ready": false, "error": format!("store: {e}"), "clusters": clusters}),
            ),
        )
            .into_response(),
    }
}

/// The interactive API docs (Swagger UI, embedded).
async fn docs() -> Html<&'static str> {
    Html(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Kaptain API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/assets/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="/assets/swagger-ui-bundle.js"></script>
<script src="/assets/docs.js"></script>
</body></html>"#,
    )
}
