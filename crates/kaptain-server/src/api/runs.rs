//! Diagnose runs: `POST /api/v1/runs` starts one (a fresh analysis of a cluster, recorded in
//! the findings history), `GET /api/v1/runs/{id}` polls it, the SSE stream carries its
//! progress; `GET /api/v1/tasks` and `POST /api/v1/tasks/{id}/cancel` manage the queue.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kaptain_store::{Run, RunStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::access::{Access, Target};
use super::audit::AuditNote;
use super::error::{ApiError, ApiResult, ErrorBody, page_size};
use crate::auth::Principal;
use crate::tasks::{Outcome, TaskInfo};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(Access::viewer(Target::Cluster).on(routes!(list_runs)))
        .routes(Access::operator(Target::WholeCluster).on(routes!(start_run)))
        .routes(
            Access::viewer(Target::Cluster)
                .hiding()
                .on(routes!(get_run)),
        )
        .routes(Access::viewer(Target::Visible).on(routes!(list_tasks)))
        .routes(Access::operator(Target::WholeCluster).on(routes!(cancel_task)))
}

/// How long one diagnose run may take before it is stopped.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(300);

/// A run to start.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewRun {
    /// The cluster to diagnose.
    pub cluster: String,
}

/// A started run and the task that carries it out.
#[derive(Debug, Serialize, ToSchema)]
pub struct StartedRun {
    pub run: Run,
    pub task: TaskInfo,
}

/// Starts a diagnose run: the cluster is analyzed afresh and the result recorded in the
/// findings history. Poll `GET /runs/{id}` or follow the SSE stream for progress.
#[utoipa::path(post, path = "/runs", tag = "runs", request_body = NewRun,
    responses((status = 202, body = StartedRun), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn start_run(
    State(state): State<AppState>,
    principal: Principal,
    body: Result<Json<NewRun>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Response> {
    let Json(req) = body?;
    principal.ensure(&req.cluster, None)?;
    if state.hub.cluster(&req.cluster).is_none() {
        return Err(ApiError::not_found(format!(
            "cluster {} not found",
            req.cluster
        )));
    }
    let run = state
        .store
        .create_run(&req.cluster, &principal.actor)
        .await?;
    let task = spawn_run(&state, &run, &principal.actor);
    let note = AuditNote {
        cluster: Some(run.cluster.clone()),
        target: Some(format!("run {}", run.id)),
        details: serde_json::json!({"task": task.id}),
    };
    let mut response = (StatusCode::ACCEPTED, Json(StartedRun { run, task })).into_response();
    response.extensions_mut().insert(note);
    Ok(response)
}

fn spawn_run(state: &AppState, run: &Run, actor: &str) -> TaskInfo {
    let (work_state, finish_state) = (state.clone(), state.clone());
    let (cluster, id) = (run.cluster.clone(), run.id);
    let finish_cluster = cluster.clone();
    let work = async move {
        let store = &work_state.store;
        progress(
            &work_state,
            id,
            &cluster,
            0.1,
            "analyzing the cluster's current state",
        )
        .await;
        let outcome = match fresh_report(&work_state, &cluster).await {
            Ok(report) => {
                progress(&work_state, id, &cluster, 0.7, "recording findings").await;
                // Through the recorder: of several replicas, only the claim holder writes
                // the cluster's history.
                match work_state.history.record(&cluster, &report.findings).await {
                    Ok(diff) => Ok(super::run_result::summary(&report, diff.as_ref())),
                    Err(e) => Err(format!("recording findings: {e}")),
                }
            }
            Err(e) => Err(e),
        };
        let result = match outcome {
            Ok(summary) => {
                store
                    .update_run(id, RunStatus::Succeeded, 1.0, Some("done"), Some(&summary))
                    .await
            }
            Err(e) => {
                store
                    .update_run(id, RunStatus::Failed, 1.0, Some(&e), None)
                    .await
            }
        };
        if let Err(e) = result {
            tracing::warn!(run = id, "recording the run's end: {e}");
        }
        work_state.notify_run(id, &cluster);
    };
    let finish = move |outcome: Outcome| async move {
        if let Outcome::TimedOut(after) = outcome {
            let msg = format!("timed out after {} s", after.as_secs());
            if let Err(e) = finish_state
                .store
                .update_run(id, RunStatus::Failed, 1.0, Some(&msg), None)
                .await
            {
                tracing::warn!(run = id, "recording the timeout: {e}");
            }
            finish_state.notify_run(id, &finish_cluster);
        }
    };
    state.tasks.spawn(
        TaskInfo::new("diagnose", &run.cluster, Some(run.id), actor),
        RUN_TIMEOUT,
        work,
        finish,
    )
}

async fn progress(state: &AppState, id: i64, cluster: &str, p: f32, message: &str) {
    if let Err(e) = state
        .store
        .update_run(id, RunStatus::Running, p, Some(message), None)
        .await
    {
        tracing::warn!(run = id, "recording progress: {e}");
    }
    state.notify_run(id, cluster);
}

/// Analyzes the cluster's live index afresh, as of now, with every check the hub runs.
async fn fresh_report(state: &AppState, cluster: &str) -> Result<kaptain_model::Report, String> {
    let index = state.hub.index(cluster).ok_or_else(|| {
        format!("cluster {cluster} has no data yet (still connecting, or unreachable)")
    })?;
    let previous = state.hub.report(cluster);
    let (source, skipped) = match &previous {
        Some(r) => (r.source.clone(), r.skipped.clone()),
        None => (
            kaptain_model::ReportSource {
                kind: kaptain_model::SourceKind::Live,
                context: Some(cluster.to_owned()),
                server_version: None,
            },
            Vec::new(),
        ),
    };
    let checks = state.hub.config().checks.clone();
    let now = (state.hub.config().now)();
    tokio::task::spawn_blocking(move || {
        kaptain_engine::scan::report(&index, source, skipped, &checks, now)
    })
    .await
    .map_err(|e| format!("the analysis failed: {e}"))
}

/// Filters of a runs listing.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunParams {
    /// Only this cluster.
    pub cluster: Option<String>,
    /// Page size (default 100, at most 1000).
    #[param(minimum = 0, maximum = 1000)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of runs, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunPage {
    pub items: Vec<Run>,
    pub next_cursor: Option<String>,
}

/// Diagnose runs, newest first.
#[utoipa::path(get, path = "/runs", tag = "runs", params(RunParams),
    responses((status = 200, body = RunPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_runs(
    State(state): State<AppState>,
    principal: Principal,
    params: Result<Query<RunParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<RunPage>> {
    let Query(p) = params?;
    let limit = page_size(p.limit, 0, kaptain_store::MAX_LIMIT)?;
    let (cluster, _) = principal.narrow(p.cluster, None)?;
    let page = state
        .store
        .runs(cluster.as_deref(), limit, p.cursor.as_deref())
        .await?;
    Ok(Json(RunPage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// One run.
#[utoipa::path(get, path = "/runs/{id}", tag = "runs",
    params(("id" = i64, Path, description = "The run's id")),
    responses((status = 200, body = Run), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_run(
    State(state): State<AppState>,
    principal: Principal,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
) -> ApiResult<Json<Run>> {
    let Path(id) = id?;
    let not_found = || ApiError::not_found(format!("run {id} not found"));
    let run = state.store.run(id).await?.ok_or_else(not_found)?;
    if !principal.touches(&run.cluster) {
        return Err(not_found());
    }
    Ok(Json(run))
}

/// Queued and running tasks.
#[utoipa::path(get, path = "/tasks", tag = "runs",
    responses((status = 200, body = Vec<TaskInfo>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_tasks(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Vec<TaskInfo>>> {
    let tasks = state
        .tasks
        .list()
        .into_iter()
        .filter(|t| principal.touches(&t.cluster))
        .collect();
    Ok(Json(tasks))
}

/// Cancels a queued or running task (its run ends as failed).
#[utoipa::path(post, path = "/tasks/{id}/cancel", tag = "runs",
    params(("id" = u64, Path, description = "The task's id")),
    responses((status = 200, body = TaskInfo), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn cancel_task(
    State(state): State<AppState>,
    principal: Principal,
    id: Result<Path<u64>, axum::extract::rejection::PathRejection>,
) -> ApiResult<Json<TaskInfo>> {
    let Path(id) = id?;
    let not_found = || ApiError::not_found(format!("task {id} not found (it may have finished)"));
    let task = state.tasks.get(id).ok_or_else(not_found)?;
    principal.ensure(&task.cluster, None)?;
    let task = state.tasks.cancel(id).ok_or_else(not_found)?;
    if let Some(run) = task.run_id {
        let msg = format!("cancelled by {}", principal.actor);
        state
            .store
            .update_run(run, RunStatus::Failed, 1.0, Some(&msg), None)
            .await?;
        state.notify_run(run, &task.cluster);
    }
    Ok(Json(task))
}
