//! One error shape for the whole API: `{"error": {"code": "...", "message": "..."}}` with the
//! matching HTTP status. Extractor rejections (a bad query string, a malformed body) use it
//! too, so a client never has to parse two kinds of error.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// What went wrong, for programs (`code`) and for people (`message`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable machine-readable code: `bad_request`, `unauthorized`, `forbidden`,
    /// `not_found`, `conflict`, `unavailable`, `internal`.
    pub code: String,
    /// One line for a person.
    pub message: String,
}

/// An error an API handler returns.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.code, message = %self.message, "request failed");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"kaptain\""),
            );
        }
        response
    }
}

impl From<kaptain_store::Error> for ApiError {
    fn from(e: kaptain_store::Error) -> Self {
        use kaptain_store::Error as E;
        match e {
            E::InvalidArgument(m) => ApiError::bad_request(m),
            E::InvalidCursor => {
                ApiError::bad_request("invalid cursor (use next_cursor of the previous page)")
            }
            e @ E::NotFound { .. } => ApiError::not_found(e.to_string()),
            E::Conflict(m) => ApiError::conflict(m),
            e @ E::NoSecretKey { .. } => ApiError::conflict(e.to_string()),
            // PostgreSQL refuses text with a NUL character (SQLSTATE 22021, "invalid byte
            // sequence for encoding UTF8: 0x00") wherever the client put one: a filter, a
            // name, a value. The request is at fault, not the server.
            E::Database(e)
                if e.as_database_error()
                    .and_then(|d| d.code())
                    .is_some_and(|c| c == "22021") =>
            {
                ApiError::bad_request(
                    "text with a NUL character (\\u0000) cannot be stored or searched for",
                )
            }
            other => ApiError::internal(format!("store: {other}")),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad_request(format!("query string: {}", r.body_text()))
    }
}

impl From<JsonRejection> for ApiError {
    /// 400, like a bad query string or path: a missing `Content-Type`, malformed JSON and a
    /// body of the wrong shape are all the client's mistake, reported the same way; 413 for a
    /// body over the server's limit.
    fn from(r: JsonRejection) -> Self {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!(
                    "request body: larger than the server accepts ({} bytes)",
                    crate::harden::BODY_LIMIT
                ),
            );
        }
        ApiError::bad_request(format!("request body: {}", r.body_text()))
    }
}

/// The page size of a listing: `limit` when it is at most `max` (absent means `default`),
/// else 400.
pub fn page_size(limit: Option<u32>, default: u32, max: u32) -> ApiResult<u32> {
    match limit {
        None => Ok(default),
        Some(n) if n <= max => Ok(n),
        Some(n) => Err(ApiError::bad_request(format!(
            "limit {n} is too large (at most {max})"
        ))),
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::bad_request(format!("path: {}", r.body_text()))
    }
}

/// The result of an API handler.
pub type ApiResult<T> = Result<T, ApiError>;
