//! Task-group routes (`/tasks/groups…` under `/v1` and `/v1beta`): thin handlers over `groups`.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::{get, post};
use axum::{Json, Router};
use forage_api::{ApiError, RunId, RunStatus, TaskGroup, TaskGroupRunResponse, TaskRun};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use tokio_stream::wrappers::ReceiverStream;

use crate::auth::Owner;
use crate::error::AppResult;
use crate::event_frames::{Frame, sse_event};
use crate::extract::{ApiQuery, JsonBytes};
use crate::groups::{self, RunsView, owned_group};
use crate::state::AppState;

const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tasks/groups", post(create))
        .route("/tasks/groups/{group_id}", get(retrieve))
        .route("/tasks/groups/{group_id}/runs", post(add_runs).get(runs))
        .route("/tasks/groups/{group_id}/runs/{run_id}", get(retrieve_run))
        .route("/tasks/groups/{group_id}/events", get(events))
}

async fn create(
    State(state): State<AppState>,
    owner: Owner,
    JsonBytes(body): JsonBytes,
) -> AppResult<Json<TaskGroup>> {
    Ok(Json(groups::create_group(&state, &owner, &body).await?))
}

async fn retrieve(
    State(state): State<AppState>,
    owner: Owner,
    Path(id): Path<String>,
) -> AppResult<Json<TaskGroup>> {
    let group = owned_group(state.store.as_ref(), &owner, &id).await?;
    Ok(Json(groups::to_task_group(&group)))
}

async fn add_runs(
    State(state): State<AppState>,
    owner: Owner,
    Path(id): Path<String>,
    JsonBytes(body): JsonBytes,
) -> AppResult<Json<TaskGroupRunResponse>> {
    Ok(Json(groups::add_runs(&state, &owner, &id, &body).await?))
}

async fn retrieve_run(
    State(state): State<AppState>,
    owner: Owner,
    Path((id, run_id)): Path<(String, String)>,
) -> AppResult<Json<TaskRun>> {
    owned_group(state.store.as_ref(), &owner, &id).await?;
    let run_id = RunId::parse(&run_id).ok_or_else(ApiError::run_not_found)?;
    match state.store.get_run(&run_id).await? {
        Some(run) if run.taskgroup_id.as_deref() == Some(id.as_str()) => {
            Ok(Json(run.to_task_run()))
        }
        _ => Err(ApiError::run_not_found().into()),
    }
}

#[derive(Deserialize)]
struct EventsParams {
    last_event_id: Option<String>,
    timeout: Option<f64>,
}

fn last_event_id(query: Option<&str>, headers: &HeaderMap) -> Result<u64, ApiError> {
    let header = headers.get("last-event-id").and_then(|v| v.to_str().ok());
    groups::parse_cursor(query.filter(|q| !q.trim().is_empty()).or(header))
}

async fn events(
    State(state): State<AppState>,
    owner: Owner,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<EventsParams>,
    headers: HeaderMap,
) -> AppResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let group = owned_group(state.store.as_ref(), &owner, &id).await?;
    let after = last_event_id(params.last_event_id.as_deref(), &headers)?;
    let timeout = match params.timeout {
        Some(secs) if secs.is_finite() && secs > 0.0 => Duration::from_secs_f64(secs),
        _ => groups::MAX_GROUP_STREAM,
    };
    let frames = groups::spawn_events(
        state.store.clone(),
        group,
        after,
        timeout,
        state.closing.clone(),
    );
    Ok(sse(frames))
}

#[derive(Deserialize)]
struct RunsParams {
    last_event_id: Option<String>,
    status: Option<String>,
    include_input: Option<bool>,
    include_output: Option<bool>,
}

async fn runs(
    State(state): State<AppState>,
    owner: Owner,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<RunsParams>,
    headers: HeaderMap,
) -> AppResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let group = owned_group(state.store.as_ref(), &owner, &id).await?;
    let after = last_event_id(params.last_event_id.as_deref(), &headers)?;
    let status = match params
        .status
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(text) => Some(RunStatus::parse(text).ok_or_else(|| {
            ApiError::new(
                422,
                format!(
                    "Unprocessable content: query parameter status: '{text}' is not a run status"
                ),
            )
        })?),
        None => None,
    };
    let view = RunsView {
        after,
        status,
        include_input: params.include_input.unwrap_or(false),
        include_output: params.include_output.unwrap_or(false),
    };
    Ok(sse(groups::spawn_runs(state.store.clone(), group, view)))
}

fn sse(
    frames: tokio::sync::mpsc::Receiver<Frame>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = ReceiverStream::new(frames).map(|frame| Ok(sse_event(frame)));
    Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
}
