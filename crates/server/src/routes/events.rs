//! `GET /v1/tasks/runs/{run_id}/events`: the run's events as server-sent events.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use futures::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use crate::auth::Owner;
use crate::error::AppResult;
use crate::event_stream;
use crate::extract::RunIdPath;
use crate::lookup::owned_run;
use crate::state::AppState;

const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub async fn events(
    State(state): State<AppState>,
    owner: Owner,
    RunIdPath(id): RunIdPath,
    headers: HeaderMap,
) -> AppResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let record = owned_run(state.store.as_ref(), &owner, &id).await?;
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let events = event_stream::spawn(
        state.hub.clone(),
        state.store.clone(),
        record,
        after,
        state.closing.clone(),
    );
    let stream = ReceiverStream::new(events).map(Ok);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive")))
}
