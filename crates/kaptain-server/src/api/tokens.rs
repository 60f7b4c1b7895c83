//! API tokens (admin): list, create (the secret is in the response, once), revoke.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use kaptain_store::{Role, Scope, TokenInfo};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::access::{Access, Target};
use super::audit::AuditNote;
use super::error::{ApiResult, ErrorBody};
use crate::auth::Principal;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(Access::admin(Target::Server).on(routes!(list_tokens, create_token)))
        .routes(Access::admin(Target::Server).on(routes!(revoke_token)))
}

/// A token to create.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewToken {
    /// A name people recognise.
    pub name: String,
    pub role: Role,
    /// Where it may act; empty or absent means everywhere.
    #[serde(default)]
    pub scopes: Vec<Scope>,
    /// When it stops working (RFC 3339).
    pub expires_at: Option<Timestamp>,
}

/// A created token: the secret is shown here once and never again.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    pub token: TokenInfo,
    /// Send as `Authorization: Bearer <secret>`.
    pub secret: String,
}

/// Every token (never their secrets).
#[utoipa::path(get, path = "/tokens", tag = "tokens",
    responses((status = 200, body = Vec<TokenInfo>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_tokens(State(state): State<AppState>) -> ApiResult<Json<Vec<TokenInfo>>> {
    Ok(Json(state.store.tokens().await?))
}

/// Creates a token.
#[utoipa::path(post, path = "/tokens", tag = "tokens", request_body = NewToken,
    responses((status = 201, body = CreatedToken), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_token(
    State(state): State<AppState>,
    principal: Principal,
    body: Result<Json<NewToken>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<Response> {
    let Json(t) = body?;
    let (token, secret) = state
        .store
        .create_token(&t.name, t.role, t.scopes, t.expires_at, &principal.actor)
        .await?;
    let note = AuditNote {
        target: Some(format!("token {} ({})", token.id, token.name)),
        details: serde_json::json!({"role": token.role, "scopes": token.scopes}),
        ..AuditNote::default()
    };
    let mut response = (StatusCode::CREATED, Json(CreatedToken { token, secret })).into_response();
    response.extensions_mut().insert(note);
    Ok(response)
}

/// Revokes a token (it stops working at once).
#[utoipa::path(delete, path = "/tokens/{id}", tag = "tokens",
    params(("id" = i64, Path, description = "The token's id")),
    responses((status = 200, body = TokenInfo), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke_token(
    State(state): State<AppState>,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
) -> ApiResult<Json<TokenInfo>> {
    let Path(id) = id?;
    Ok(Json(state.store.revoke_token(id).await?))
}
