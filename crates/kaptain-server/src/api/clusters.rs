//! Clusters and what the hub keeps live for each: status, nodes, namespaces, recent Warning
//! events and the current report with its root-cause grouping.

use axum::Json;
use axum::extract::{Path, Query, State};
use kaptain_model::{Finding, Report, Severity};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::access::{Access, Target};
use super::error::{ApiError, ApiResult, ErrorBody, page_size};
use crate::auth::Principal;
use kaptain_engine::live::{ClusterInfo, ClusterView, NamespaceRow, NodeRow, WarningEvent};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(Access::viewer(Target::Visible).on(routes!(list_clusters)))
        .routes(Access::viewer(Target::Cluster).on(routes!(get_cluster)))
        .routes(Access::viewer(Target::WholeCluster).on(routes!(list_nodes)))
        .routes(Access::viewer(Target::Cluster).on(routes!(list_namespaces)))
        .routes(Access::viewer(Target::Cluster).on(routes!(list_events)))
        .routes(Access::viewer(Target::Cluster).on(routes!(get_report)))
}

type ClusterPath = Result<Path<String>, axum::extract::rejection::PathRejection>;

/// The clusters in scope and their status.
#[utoipa::path(get, path = "/clusters", tag = "clusters",
    responses((status = 200, body = Vec<ClusterInfo>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_clusters(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Vec<ClusterInfo>>> {
    Ok(Json(
        state
            .hub
            .clusters()
            .into_iter()
            .filter(|c| principal.touches(&c.name))
            .collect(),
    ))
}

fn known(state: &AppState, principal: &Principal, cluster: &str) -> ApiResult<()> {
    principal.ensure_touches(cluster)?;
    if state.hub.cluster(cluster).is_none() {
        return Err(ApiError::not_found(format!("cluster {cluster} not found")));
    }
    Ok(())
}

/// One cluster: status, server version, counts.
#[utoipa::path(get, path = "/clusters/{cluster}", tag = "clusters",
    params(("cluster" = String, Path)),
    responses((status = 200, body = ClusterView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_cluster(
    State(state): State<AppState>,
    principal: Principal,
    cluster: ClusterPath,
) -> ApiResult<Json<ClusterView>> {
    let Path(cluster) = cluster?;
    known(&state, &principal, &cluster)?;
    state
        .hub
        .cluster(&cluster)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("cluster {cluster} not found")))
}

/// The cluster's nodes (needs a whole-cluster scope).
#[utoipa::path(get, path = "/clusters/{cluster}/nodes", tag = "clusters",
    params(("cluster" = String, Path)),
    responses((status = 200, body = Vec<NodeRow>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_nodes(
    State(state): State<AppState>,
    principal: Principal,
    cluster: ClusterPath,
) -> ApiResult<Json<Vec<NodeRow>>> {
    let Path(cluster) = cluster?;
    known(&state, &principal, &cluster)?;
    principal.ensure(&cluster, None)?;
    Ok(Json(state.hub.nodes(&cluster).unwrap_or_default()))
}

/// Per namespace: pods by phase, workloads, findings by severity.
#[utoipa::path(get, path = "/clusters/{cluster}/namespaces", tag = "clusters",
    params(("cluster" = String, Path)),
    responses((status = 200, body = Vec<NamespaceRow>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_namespaces(
    State(state): State<AppState>,
    principal: Principal,
    cluster: ClusterPath,
) -> ApiResult<Json<Vec<NamespaceRow>>> {
    let Path(cluster) = cluster?;
    known(&state, &principal, &cluster)?;
    Ok(Json(
        state
            .hub
            .namespaces(&cluster)
            .unwrap_or_default()
            .into_iter()
            .filter(|n| principal.covers(&cluster, Some(&n.name)))
            .collect(),
    ))
}

/// Page size of the events listing.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// At most this many (default and 0: 50; at most 500).
    #[param(minimum = 0, maximum = 500)]
    pub limit: Option<u32>,
    /// Only this namespace.
    pub namespace: Option<String>,
}

/// Recent Warning events, newest first.
#[utoipa::path(get, path = "/clusters/{cluster}/events", tag = "clusters",
    params(("cluster" = String, Path), EventParams),
    responses((status = 200, body = Vec<WarningEvent>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_events(
    State(state): State<AppState>,
    principal: Principal,
    cluster: ClusterPath,
    params: Result<Query<EventParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<WarningEvent>>> {
    let Path(cluster) = cluster?;
    let Query(p) = params?;
    known(&state, &principal, &cluster)?;
    let limit = match page_size(p.limit, 50, 500)? {
        0 => 50,
        n => n as usize,
    };
    Ok(Json(
        state
            .hub
            .warning_events(&cluster, usize::MAX)
            .unwrap_or_default()
            .into_iter()
            .filter(|e| principal.covers(&cluster, Some(&e.namespace)))
            .filter(|e| p.namespace.as_ref().is_none_or(|ns| *ns == e.namespace))
            .take(limit)
            .collect(),
    ))
}

/// Filters of the live report.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// Only this namespace.
    pub namespace: Option<String>,
    /// Only this severity and above (causes of kept findings are kept too).
    pub severity: Option<Severity>,
}

/// The cluster's current report (`kaptain.report/v1`), from the live analysis: findings with
/// their `caused_by` links, so the root-cause tree can be drawn.
#[utoipa::path(get, path = "/clusters/{cluster}/report", tag = "clusters",
    params(("cluster" = String, Path), ReportParams),
    responses((status = 200, body = Report), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_report(
    State(state): State<AppState>,
    principal: Principal,
    cluster: ClusterPath,
    params: Result<Query<ReportParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Report>> {
    let Path(cluster) = cluster?;
    let Query(p) = params?;
    known(&state, &principal, &cluster)?;
    let report = state.hub.report(&cluster).ok_or_else(|| {
        ApiError::unavailable(format!("cluster {cluster} has not been analyzed yet"))
    })?;
    let visible = |f: &Finding| {
        principal.covers(&cluster, f.object.namespace.as_deref())
            && (p.namespace.is_none() || f.object.namespace == p.namespace)
    };
    let findings = kaptain_model::with_causes(
        &report.findings,
        |f| visible(f) && p.severity.is_none_or(|m| f.severity >= m),
        visible,
    );
    Ok(Json(Report {
        summary: kaptain_model::Summary::of(&findings),
        findings,
        ..(*report).clone()
    }))
}
