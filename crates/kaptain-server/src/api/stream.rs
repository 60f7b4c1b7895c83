//! `GET /api/v1/stream`: Server-Sent Events of what changes — cluster status, new analyses
//! (with how many findings appeared and cleared), healing actions, diagnose runs — limited to
//! the clusters in the caller's scope. A client that falls behind gets a `lagged` event and
//! should re-read what it shows.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use futures::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::access::{Access, Target};
use super::error::{ApiResult, ErrorBody};
use crate::auth::Principal;
use crate::feed::ServerEvent;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(Access::viewer(Target::Visible).on(routes!(stream)))
}

/// The change stream (`text/event-stream`). Each event's `event:` is its type
/// (`cluster`, `report`, `healing`, `run`, `lagged`) and `data:` a JSON `ServerEvent`.
#[utoipa::path(get, path = "/stream", tag = "stream",
    responses(
        (status = 200, description = "Server-Sent Events", content_type = "text/event-stream", body = ServerEvent),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn stream(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let events = BroadcastStream::new(state.events.subscribe()).filter_map(move |item| {
        let out = match item {
            Ok(ev) if ev.cluster().is_none_or(|c| principal.touches(c)) => {
                Event::default().event(ev.kind()).json_data(&ev).ok()
            }
            Ok(_) => None,
            Err(BroadcastStreamRecvError::Lagged(n)) => Some(
                Event::default()
                    .event("lagged")
                    .data(format!("{{\"missed\":{n}}}")),
            ),
        };
        std::future::ready(out.map(Ok))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
