//! The audit log: `GET /api/v1/audit` (query), `GET /api/v1/audit/verify` (check the hash
//! chain), and the middleware that records every state-changing request with its actor.

use axum::Json;
use axum::extract::{MatchedPath, Query, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use jiff::Timestamp;
use kaptain_store::{AuditQuery, AuditRecord, AuditVerification, NewAudit};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::access::{Access, Target};
use super::error::{ApiError, ApiResult, ErrorBody, page_size};
use crate::auth::throttle::AuditFailure;
use crate::auth::{AuthFailed, Principal};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(Access::admin(Target::Server).on(routes!(list_audit)))
        .routes(Access::admin(Target::Server).on(routes!(verify_audit)))
}

/// What a handler adds to the audit record of its request (put into the response's
/// extensions): the cluster it acted on and any details.
#[derive(Debug, Clone, Default)]
pub struct AuditNote {
    pub cluster: Option<String>,
    pub target: Option<String>,
    pub details: serde_json::Value,
}

/// Filters of an audit query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only this actor (`token:ci`, `oidc:alice@example.com`).
    pub actor: Option<String>,
    /// Only this action (`POST /api/v1/runs`: method and route template).
    pub action: Option<String>,
    /// Only this cluster.
    pub cluster: Option<String>,
    /// Records at or after this time (RFC 3339).
    pub since: Option<Timestamp>,
    /// Records before this time (RFC 3339).
    pub until: Option<Timestamp>,
    /// Page size (default 100, at most 1000).
    #[param(minimum = 0, maximum = 1000)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of audit records, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditRecord>,
    pub next_cursor: Option<String>,
}

/// Audit records (admin only: they name every actor).
#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditParams),
    responses((status = 200, body = AuditPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_audit(
    State(state): State<AppState>,
    params: Result<Query<AuditParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<AuditPage>> {
    let Query(p) = params?;
    let page = state
        .store
        .audit(&AuditQuery {
            actor: p.actor,
            action: p.action,
            cluster: p.cluster,
            since: p.since,
            until: p.until,
            limit: page_size(p.limit, 0, kaptain_store::MAX_LIMIT)?,
            cursor: p.cursor,
        })
        .await?;
    Ok(Json(AuditPage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// The result of re-checking the audit chain (the shape of `kaptain audit verify --format
/// json`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ChainCheck {
    /// Records in the log.
    pub records: u64,
    /// Whether the whole chain is intact.
    pub ok: bool,
    /// The first record that fails, and why.
    pub first_bad: Option<BadRecord>,
    /// The last record: keep its hash elsewhere; a later check that ends before it shows
    /// records removed from the end.
    pub head: Option<ChainHead>,
}

/// A record that fails the check.
#[derive(Debug, Serialize, ToSchema)]
pub struct BadRecord {
    pub seq: u64,
    pub reason: String,
}

/// The last record of the chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChainHead {
    pub seq: u64,
    pub hash: String,
}

impl From<AuditVerification> for ChainCheck {
    fn from(v: AuditVerification) -> Self {
        ChainCheck {
            records: v.records,
            ok: v.ok,
            first_bad: v.first_bad.map(|(seq, reason)| BadRecord { seq, reason }),
            head: v.head.map(|(seq, hash)| ChainHead { seq, hash }),
        }
    }
}

/// Re-computes the hash chain of the whole audit log.
#[utoipa::path(get, path = "/audit/verify", tag = "audit",
    responses((status = 200, body = ChainCheck),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn verify_audit(State(state): State<AppState>) -> ApiResult<Json<ChainCheck>> {
    Ok(Json(state.store.verify_audit().await?.into()))
}

/// Middleware: after every POST/PUT/PATCH/DELETE, appends an audit record with the actor
/// (or `unauthenticated`), the route, the path, the status and the handler's note. A request
/// whose record cannot be written is answered 500 rather than left unaudited.
pub async fn record(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    if matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(request).await;
    }
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| request.uri().path().to_owned());
    // The path as requested: inside the nested `/api/v1` router the URI has lost its prefix.
    let path = request
        .extensions()
        .get::<axum::extract::OriginalUri>()
        .map_or_else(|| request.uri().path(), |u| u.0.path())
        .to_owned();
    let response = next.run(request).await;
    let status = response.status();
    // A flood of failed authentications: one record per address and window, with a count.
    let failed = response.extensions().get::<AuthFailed>().copied();
    if let Some(AuthFailed {
        audit: AuditFailure::Suppress,
        ..
    }) = failed
    {
        return response;
    }
    let actor = response
        .extensions()
        .get::<Principal>()
        .map(|p| p.actor.clone())
        .unwrap_or_else(|| "unauthenticated".to_owned());
    let note = response
        .extensions()
        .get::<AuditNote>()
        .cloned()
        .unwrap_or_default();
    let outcome = match status.as_u16() {
        200..=399 => "ok",
        401 | 403 => "denied",
        400..=499 => "rejected",
        _ => "error",
    };
    let mut details = serde_json::json!({ "status": status.as_u16() });
    if let Some(AuthFailed {
        peer,
        audit: AuditFailure::Record { suppressed },
    }) = failed
    {
        details["peer"] = peer.to_string().into();
        if suppressed > 0 {
            details["failed_before_unrecorded"] = suppressed.into();
        }
    }
    if !note.details.is_null() {
        details["details"] = note.details;
    }
    let entry = NewAudit {
        actor,
        action: format!("{method} {route}"),
        target: note.target.unwrap_or(path),
        cluster: note.cluster,
        details,
        outcome: outcome.to_owned(),
    };
    match state.store.append_audit(entry).await {
        Ok(_) => response,
        Err(e) => {
            use axum::response::IntoResponse;
            ApiError::internal(format!("the audit record could not be written: {e}"))
                .into_response()
        }
    }
}
