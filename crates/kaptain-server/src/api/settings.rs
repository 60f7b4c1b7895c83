//! Settings (admin): names and whether they are secret; values are write-only over the API
//! for secret settings (LLM API keys, webhook URLs), which the store encrypts at rest.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kaptain_store::SettingInfo;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::access::{Access, Target};
use super::error::{ApiError, ApiResult, ErrorBody};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(Access::admin(Target::Server).on(routes!(list_settings)))
        .routes(Access::admin(Target::Server).on(routes!(put_setting, delete_setting)))
}

/// A setting's new value.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SettingValue {
    pub value: String,
    /// Encrypt it at rest and never show it again (default true).
    #[serde(default = "yes")]
    pub secret: bool,
}

fn yes() -> bool {
    true
}

/// Every setting's name and kind (never the values).
#[utoipa::path(get, path = "/settings", tag = "settings",
    responses((status = 200, body = Vec<SettingInfo>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_settings(State(state): State<AppState>) -> ApiResult<Json<Vec<SettingInfo>>> {
    Ok(Json(state.store.settings().await?))
}

/// Writes a setting. The `llm` setting (the `llm:` section of the config file, YAML or JSON)
/// is checked first: a value that does not parse is a 400 naming the field.
#[utoipa::path(put, path = "/settings/{name}", tag = "settings", request_body = SettingValue,
    params(("name" = String, Path, description = "The setting's name, e.g. `llm.api_key`")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_setting(
    State(state): State<AppState>,
    name: Result<Path<String>, axum::extract::rejection::PathRejection>,
    body: Result<Json<SettingValue>, axum::extract::rejection::JsonRejection>,
) -> ApiResult<StatusCode> {
    let Path(name) = name?;
    let Json(v) = body?;
    // The LLM settings are read when a question needs them; a mistake is named now instead.
    if name == crate::llm::SETTING {
        kaptain_llm::config_file::parse_section(&v.value)
            .map_err(|e| ApiError::bad_request(format!("setting {name}: {e}")))?;
    }
    state.store.set_setting(&name, &v.value, v.secret).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a setting.
#[utoipa::path(delete, path = "/settings/{name}", tag = "settings",
    params(("name" = String, Path, description = "The setting's name")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_setting(
    State(state): State<AppState>,
    name: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> ApiResult<StatusCode> {
    let Path(name) = name?;
    if state.store.delete_setting(&name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("setting {name} not found")))
    }
}
