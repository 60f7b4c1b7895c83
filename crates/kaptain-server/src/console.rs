//! The web console (server-rendered pages with htmx).

use axum::Router;

use crate::api::AppState;

/// The console's routes.
pub fn router(_state: AppState) -> Router<AppState> {
    Router::new()
}
