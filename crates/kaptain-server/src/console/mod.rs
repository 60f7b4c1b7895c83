//! The web console: server-rendered pages (maud) with htmx for live fragments and the
//! approve/reject buttons. It reads the same hub and store as the API, through the same
//! principal (role and scopes), and decides healing actions through the API's shared code.
//!
//! Authentication is the `kaptain_session` cookie set by the login form (it holds an API
//! token). Without it, pages redirect to `/console/login` (htmx requests get 401 with
//! `HX-Redirect`). Console POSTs need `HX-Request: true` (a CSRF defence alongside
//! `SameSite=Strict`) and are audited by the API's audit middleware.

mod ask;
mod ask_act;
mod chart;
mod findings;
mod healing;
mod layout;
mod lists;
mod login;
mod overview;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::api::error::ApiError;
use crate::api::{self, AppState};
use crate::auth::{self, Principal};

pub use layout::Page;

/// The console's routes.
pub fn router(state: AppState) -> Router<AppState> {
    let pages = Router::new()
        .route("/console", get(overview::page))
        .route("/console/findings", get(findings::list))
        .route(
            "/console/findings/{cluster}/{fingerprint}",
            get(findings::detail),
        )
        .route("/console/namespaces", get(lists::namespaces))
        .route("/console/nodes", get(lists::nodes))
        .route("/console/healing", get(healing::page))
        .route(
            "/console/healing/{cluster}/{namespace}/{name}/{verb}",
            post(healing::decide),
        )
        .route("/console/agents", get(lists::agents))
        .route("/console/ask", get(ask::page))
        .route("/console/ask/act", post(ask_act::propose))
        .route("/console/audit", get(lists::audit))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_session,
        ))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            api::audit::record,
        ));
    let public = Router::new()
        .route("/console/login", get(login::form_page).post(login::submit))
        .route("/console/logout", post(login::logout))
        .route_layer(middleware::from_fn_with_state(state, api::audit::record));
    pages.merge(public)
}

/// Whether the request comes from htmx.
fn is_htmx(headers: &HeaderMap) -> bool {
    headers
        .get("hx-request")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "true")
}

/// Middleware: the session cookie's principal into the request (and, for the audit
/// middleware, the response), or off to the login page.
async fn require_session(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let principal = if state.auth.is_disabled() {
        Some(Principal::anonymous())
    } else {
        match auth::credential(request.headers()) {
            Some(c) => state.auth.principal(&c).await.ok(),
            None => None,
        }
    };
    let Some(principal) = principal else {
        return to_login(is_htmx(request.headers()));
    };
    request.extensions_mut().insert(principal.clone());
    let mut response = next.run(request).await;
    response.extensions_mut().insert(principal);
    response
}

/// Where an unauthenticated request goes: a 303 to the login page, or for htmx a 401 that
/// tells htmx to go there.
fn to_login(htmx: bool) -> Response {
    if htmx {
        let mut r = (StatusCode::UNAUTHORIZED, "log in again").into_response();
        r.headers_mut()
            .insert("hx-redirect", HeaderValue::from_static("/console/login"));
        r
    } else {
        Redirect::to("/console/login").into_response()
    }
}

/// A page handler's error: rendered as a page (403 "forbidden", 404, 503) with the nav bar.
#[derive(Debug)]
pub struct PageError(pub ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError(e)
    }
}

impl From<kaptain_store::Error> for PageError {
    fn from(e: kaptain_store::Error) -> Self {
        PageError(ApiError::from(e))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let title = match self.0.status {
            StatusCode::FORBIDDEN => "Forbidden",
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::UNAUTHORIZED => "Not logged in",
            _ => "Error",
        };
        let body = maud::html! {
            section.error {
                h1 { (self.0.status.as_u16()) " " (title) }
                p.message { (self.0.message) }
            }
        };
        let mut r = layout::error_page(title, body).into_response();
        *r.status_mut() = self.0.status;
        r
    }
}

/// What page handlers return.
pub type PageResult = Result<Response, PageError>;
