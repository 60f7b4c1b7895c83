//! `GET /api/v1/whoami` and `GET /api/v1/agents`.

use axum::Json;
use axum::extract::State;
use kaptain_store::{Role, Scope};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::access::{Access, Target};
use super::error::{ApiResult, ErrorBody};
use crate::auth::Principal;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(Access::viewer(Target::Visible).on(routes!(whoami)))
        .routes(Access::viewer(Target::Visible).on(routes!(agents)))
}

/// The caller as the server sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WhoAmI {
    pub actor: String,
    pub role: Role,
    /// Empty means everywhere.
    pub scopes: Vec<Scope>,
    /// `token`, `oidc` or `none` (`--no-auth`).
    pub method: String,
}

/// Who the credentials belong to.
#[utoipa::path(get, path = "/whoami", tag = "system",
    responses((status = 200, body = WhoAmI), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn whoami(principal: Principal) -> Json<WhoAmI> {
    Json(WhoAmI {
        actor: principal.actor.clone(),
        role: principal.role,
        scopes: principal.scopes.clone(),
        method: serde_json::to_value(principal.method)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
    })
}

/// A worker of the server and what it is doing.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentInfo {
    /// `watcher/<cluster>` (keeps the cluster's index live and re-analyzes it on change) or
    /// `diagnose` (runs queued diagnose tasks).
    pub name: String,
    pub kind: String,
    /// The cluster it serves, if one.
    pub cluster: Option<String>,
    /// `ready`, `connecting`, `unreachable`, `idle`, `busy`.
    pub state: String,
    /// Tasks it is running now.
    pub active_tasks: usize,
    /// Tasks waiting for it.
    pub queued_tasks: usize,
}

/// Registered agents: one watcher per cluster and the diagnose worker pool.
#[utoipa::path(get, path = "/agents", tag = "system",
    responses((status = 200, body = Vec<AgentInfo>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn agents(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Vec<AgentInfo>>> {
    let mut out: Vec<AgentInfo> = state
        .hub
        .clusters()
        .into_iter()
        .filter(|c| principal.touches(&c.name))
        .map(|c| AgentInfo {
            name: format!("watcher/{}", c.name),
            kind: "watcher".into(),
            state: c.status.state().to_owned(),
            cluster: Some(c.name),
            active_tasks: 0,
            queued_tasks: 0,
        })
        .collect();
    let tasks = state.tasks.list();
    let running = tasks
        .iter()
        .filter(|t| t.state == crate::tasks::TaskState::Running)
        .count();
    out.push(AgentInfo {
        name: "diagnose".into(),
        kind: "diagnose".into(),
        cluster: None,
        state: if running > 0 { "busy" } else { "idle" }.into(),
        active_tasks: running,
        queued_tasks: tasks.len() - running,
    });
    Ok(Json(out))
}
