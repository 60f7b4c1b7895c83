//! Healing actions: list them across clusters, approve or reject one — through the same
//! operations (and so the same safety rules) as `kaptain heal approve|reject`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use kaptain_store::Role;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::access::{Access, Target};
use super::audit::AuditNote;
use super::error::{ApiError, ApiResult, ErrorBody};
use crate::auth::Principal;
use kaptain_engine::live::HealingActionRow;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(Access::viewer(Target::Cluster).on(routes!(list_actions)))
        .routes(Access::operator(Target::Namespace).on(routes!(approve_action)))
        .routes(Access::operator(Target::Namespace).on(routes!(reject_action)))
}

/// Filters of a healing-action listing.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActionParams {
    /// Only this cluster.
    pub cluster: Option<String>,
    /// Only this namespace.
    pub namespace: Option<String>,
    /// Only this phase (`Proposed`, `Succeeded`, ...).
    pub phase: Option<String>,
}

/// Healing actions of every cluster in scope, newest first.
#[utoipa::path(get, path = "/healing-actions", tag = "healing", params(ActionParams),
    responses((status = 200, body = Vec<HealingActionRow>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_actions(
    State(state): State<AppState>,
    principal: Principal,
    params: Result<Query<ActionParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<HealingActionRow>>> {
    let Query(p) = params?;
    if let Some(c) = &p.cluster {
        principal.ensure_touches(c)?;
    }
    let mut rows: Vec<HealingActionRow> = Vec::new();
    for cluster in state.hub.clusters().into_iter().map(|c| c.name) {
        if p.cluster.as_ref().is_some_and(|c| *c != cluster) || !principal.touches(&cluster) {
            continue;
        }
        rows.extend(
            state
                .hub
                .healing_actions(&cluster)
                .unwrap_or_default()
                .into_iter()
                .filter(|a| principal.covers(&cluster, Some(&a.namespace)))
                .filter(|a| p.namespace.as_ref().is_none_or(|ns| *ns == a.namespace))
                .filter(|a| {
                    p.phase
                        .as_ref()
                        .is_none_or(|ph| ph.eq_ignore_ascii_case(&a.phase))
                }),
        );
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.created_at));
    Ok(Json(rows))
}

/// Why an action is rejected.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct Rejection {
    pub reason: Option<String>,
}

/// Approves a Proposed action: the safety rules are checked again now (protected objects,
/// rate limits, blast radius, circuit breaker); the operator then executes it.
#[utoipa::path(post, path = "/clusters/{cluster}/healing-actions/{namespace}/{name}/approve", tag = "healing",
    params(("cluster" = String, Path),
        ("namespace" = String, Path, max_length = 63, pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"),
        ("name" = String, Path, max_length = 253,
            pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")),
    responses((status = 200, body = HealingActionRow), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn approve_action(
    State(state): State<AppState>,
    principal: Principal,
    path: Result<Path<(String, String, String)>, axum::extract::rejection::PathRejection>,
) -> ApiResult<Response> {
    respond(&state, &principal, path, Decision::Approve).await
}

/// Rejects a Proposed or Approved action: it will not run.
#[utoipa::path(post, path = "/clusters/{cluster}/healing-actions/{namespace}/{name}/reject", tag = "healing",
    params(("cluster" = String, Path),
        ("namespace" = String, Path, max_length = 63, pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"),
        ("name" = String, Path, max_length = 253,
            pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")),
    request_body(content = Rejection, description = "Optional reason", content_type = "application/json"),
    responses((status = 200, body = HealingActionRow), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 503, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn reject_action(
    State(state): State<AppState>,
    principal: Principal,
    path: Result<Path<(String, String, String)>, axum::extract::rejection::PathRejection>,
    body: Result<Option<Json<Rejection>>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Response> {
    let reason = body?.and_then(|Json(r)| r.reason);
    respond(&state, &principal, path, Decision::Reject(reason)).await
}

/// The response of an approve/reject request: the action as it is now, with its audit note.
async fn respond(
    state: &AppState,
    principal: &Principal,
    path: Result<Path<(String, String, String)>, axum::extract::rejection::PathRejection>,
    decision: Decision,
) -> ApiResult<Response> {
    let Path((cluster, namespace, name)) = path?;
    let (row, note) = decide(state, principal, &cluster, &namespace, &name, decision).await?;
    Ok(with_note(Json(row).into_response(), note))
}

/// What a person decides about a healing action.
#[derive(Debug, Clone)]
pub enum Decision {
    Approve,
    /// With an optional reason.
    Reject(Option<String>),
}

/// Approves or rejects `namespace/name` of `cluster` for `principal` (operator role, scoped
/// to the namespace), through the operator's operations: the API and the console share
/// this. Returns the action as it is now and the audit note to attach to the response.
pub async fn decide(
    state: &AppState,
    principal: &Principal,
    cluster: &str,
    namespace: &str,
    name: &str,
    decision: Decision,
) -> ApiResult<(HealingActionRow, AuditNote)> {
    principal.require(Role::Operator)?;
    if !is_dns_label(namespace) {
        return Err(ApiError::bad_request(format!(
            "namespace {namespace:?} is not a Kubernetes namespace name"
        )));
    }
    if !is_dns_subdomain(name) {
        return Err(ApiError::bad_request(format!(
            "{name:?} is not a Kubernetes object name"
        )));
    }
    principal.ensure(cluster, Some(namespace))?;
    let client = state.client(cluster)?;
    let (done, verb) = match decision {
        Decision::Approve => (
            kaptain_engine::healing::ops::approve(
                &client,
                name,
                Some(namespace),
                &principal.actor,
                &state.operator_namespace,
                None,
            )
            .await,
            "approve",
        ),
        Decision::Reject(reason) => (
            kaptain_engine::healing::ops::reject(
                &client,
                name,
                Some(namespace),
                &principal.actor,
                reason.as_deref(),
            )
            .await,
            "reject",
        ),
    };
    let done = done.map_err(|e| op_error(name, e))?;
    let rows = kaptain_engine::live::summary::healing_rows(
        &[std::sync::Arc::new(done)],
        jiff::Timestamp::now(),
    );
    let Some(row) = rows.into_iter().next() else {
        return Err(ApiError::internal("no row for the decided action"));
    };
    let note = AuditNote {
        cluster: Some(cluster.to_owned()),
        target: Some(format!("HealingAction {}/{}", row.namespace, row.name)),
        details: serde_json::json!({"decision": verb, "action": row.action, "target": row.target, "phase": row.phase}),
    };
    Ok((row, note))
}

/// A DNS-1123 label (a namespace's name): at most 63 lowercase letters, digits and `-`,
/// starting and ending with a letter or digit.
fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=63).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
}

/// A DNS-1123 subdomain (most objects' names): at most 253 characters, labels joined by `.`.
fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// `response` with `note` for the audit middleware.
pub fn with_note(mut response: Response, note: AuditNote) -> Response {
    response.extensions_mut().insert(note);
    response
}

fn op_error(name: &str, e: kaptain_engine::healing::Error) -> ApiError {
    use kaptain_engine::healing::Error as E;
    let message = format!("HealingAction {name}: {e}");
    match &e {
        E::Invalid(m) if m.starts_with("no HealingAction") => ApiError::not_found(message),
        E::Invalid(_) | E::Refused { .. } => ApiError::conflict(message),
        E::Kube(kube::Error::Api(s)) if s.code == 404 => ApiError::not_found(message),
        E::Kube(kube::Error::Api(s)) if s.code == 403 => ApiError::forbidden(message),
        E::Kube(kube::Error::Api(s)) if s.code == 409 => ApiError::conflict(message),
        E::CrdsMissing(_) => ApiError::not_found(message),
        _ => ApiError::unavailable(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_names() {
        for ok in ["default", "kube-system", "a", "x1", &"a".repeat(63)] {
            assert!(is_dns_label(ok), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "A",
            "a_b",
            "a.b",
            "\u{16}_",
            "é",
            &"a".repeat(64),
        ] {
            assert!(!is_dns_label(bad), "{bad}");
        }
        for ok in ["restart-web-7f9c", "a.b.c", "x"] {
            assert!(is_dns_subdomain(ok), "{ok}");
        }
        let long = format!("{}ab", "a.".repeat(126));
        for bad in ["", "a..b", ".a", "a.", "A", "a b", "a/b", &long] {
            assert!(!is_dns_subdomain(bad), "{bad}");
        }
    }
}
