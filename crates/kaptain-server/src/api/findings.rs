//! `GET /api/v1/findings` (current and history, from the store) and
//! `GET /api/v1/findings/{id}`.

use axum::Json;
use axum::extract::{Path, Query, State};
use kaptain_model::Severity;
use kaptain_store::{FindingQuery, FindingState, StoredFinding, StoredFindingJson};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::access::{Access, Target};
use super::error::{ApiError, ApiResult, ErrorBody, page_size};
use crate::auth::Principal;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(Access::viewer(Target::Namespace).on(routes!(list_findings)))
        .routes(
            Access::viewer(Target::Namespace)
                .hiding()
                .on(routes!(get_finding)),
        )
}

/// Filters of a findings listing.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FindingParams {
    /// Only this cluster.
    pub cluster: Option<String>,
    /// Only objects in this namespace.
    pub namespace: Option<String>,
    /// Only this severity and above.
    pub severity: Option<Severity>,
    /// A check id (`pod.crash-loop`) or a prefix ending in `.` (`pod.`).
    pub check: Option<String>,
    /// Only root causes.
    #[serde(default)]
    pub root_only: bool,
    /// `open` (default), `cleared` or `all`.
    #[param(inline)]
    pub state: Option<FindingState>,
    /// Page size (default 100, at most 1000).
    #[param(minimum = 0, maximum = 1000)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of findings.
#[derive(Debug, Serialize, ToSchema)]
pub struct FindingPage {
    // Served as stored: the same shape as `StoredFinding`, without parsing it first.
    #[schema(value_type = Vec<StoredFinding>)]
    pub items: Vec<StoredFindingJson>,
    /// Pass back as `cursor` for the next page; absent after the last one.
    pub next_cursor: Option<String>,
}

/// Findings, newest and worst first, from the history store.
#[utoipa::path(get, path = "/findings", tag = "findings",
    params(FindingParams),
    responses(
        (status = 200, body = FindingPage),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list_findings(
    State(state): State<AppState>,
    principal: Principal,
    params: Result<Query<FindingParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<FindingPage>> {
    let Query(p) = params?;
    let limit = page_size(p.limit, 0, kaptain_store::MAX_LIMIT)?;
    let (cluster, namespace) = principal.narrow(p.cluster, p.namespace)?;
    let page = state
        .store
        .findings_json(&FindingQuery {
            cluster,
            namespace,
            min_severity: p.severity,
            check: p.check,
            root_only: p.root_only,
            state: p.state.unwrap_or(FindingState::Open),
            limit,
            cursor: p.cursor,
        })
        .await?;
    Ok(Json(FindingPage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// One finding occurrence, with its evidence and remediation.
#[utoipa::path(get, path = "/findings/{id}", tag = "findings",
    params(("id" = i64, Path, description = "The occurrence's id")),
    responses(
        (status = 200, body = StoredFinding), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn get_finding(
    State(state): State<AppState>,
    principal: Principal,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
) -> ApiResult<Json<StoredFinding>> {
    let Path(id) = id?;
    let not_found = || ApiError::not_found(format!("finding {id} not found"));
    let f = state.store.finding(id).await?.ok_or_else(not_found)?;
    // Out of scope looks the same as absent: ids are guessable.
    if !principal.covers(&f.cluster, f.finding.object.namespace.as_deref()) {
        return Err(not_found());
    }
    Ok(Json(f))
}
