//! Create, retrieve, list runs and echo a run's input.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use forage_api::{ApiError, RunId, RunStatus, TaskRun};
use forage_store::ListQuery;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::Owner;
use crate::create::create_run;
use crate::error::AppResult;
use crate::extract::{ApiQuery, JsonBytes, RunIdPath};
use crate::lookup::owned_run;
use crate::state::AppState;

/// `POST /v1/tasks/runs` → 202 with the queued run.
pub async fn create(
    State(state): State<AppState>,
    owner: Owner,
    JsonBytes(body): JsonBytes,
) -> AppResult<(StatusCode, Json<TaskRun>)> {
    let run = create_run(&state, &owner, &body).await?;
    Ok((StatusCode::ACCEPTED, Json(run)))
}

/// `GET /v1/tasks/runs/{run_id}`.
pub async fn retrieve(
    State(state): State<AppState>,
    owner: Owner,
    RunIdPath(id): RunIdPath,
) -> AppResult<Json<TaskRun>> {
    let record = owned_run(state.store.as_ref(), &owner, &id).await?;
    Ok(Json(record.to_task_run()))
}

/// `GET /v1/tasks/runs/{run_id}/input`: the request as created, header values redacted.
pub async fn input(
    State(state): State<AppState>,
    owner: Owner,
    RunIdPath(id): RunIdPath,
) -> AppResult<Json<Value>> {
    owned_run(state.store.as_ref(), &owner, &id).await?;
    let request = state
        .store
        .get_request(&id)
        .await?
        .ok_or_else(ApiError::run_not_found)?;
    Ok(Json(request.to_echo()))
}

/// Query of `GET /v1/tasks/runs`.
#[derive(Deserialize)]
pub struct ListParams {
    limit: Option<usize>,
    status: Option<String>,
    before: Option<String>,
}

/// Body of `GET /v1/tasks/runs`.
#[derive(Serialize)]
pub struct RunList {
    runs: Vec<TaskRun>,
    next_before: Option<RunId>,
}

const MAX_LIST: usize = 100;

/// `GET /v1/tasks/runs?limit=&status=&before=`: the caller's runs, newest first.
pub async fn list(
    State(state): State<AppState>,
    owner: Owner,
    ApiQuery(params): ApiQuery<ListParams>,
) -> AppResult<Json<RunList>> {
    let query = list_query(params)?;
    let limit = query.limit;
    let records = state.store.list_runs(&owner.0, &query).await?;
    let next_before = (records.len() == limit)
        .then(|| records.last().map(|r| r.id.clone()))
        .flatten();
    Ok(Json(RunList {
        runs: records.iter().map(|r| r.to_task_run()).collect(),
        next_before,
    }))
}

fn list_query(params: ListParams) -> Result<ListQuery, ApiError> {
    let bad = |field: &str, msg: String| {
        ApiError::new(
            422,
            format!("Unprocessable content: query parameter {field}: {msg}"),
        )
        .with_detail(serde_json::json!({"loc": ["query", field], "msg": msg}))
    };
    let limit = params.limit.unwrap_or(20);
    if !(1..=MAX_LIST).contains(&limit) {
        return Err(bad("limit", format!("must be between 1 and {MAX_LIST}")));
    }
    let status = match params.status.as_deref().filter(|s| !s.is_empty()) {
        Some(text) => Some(RunStatus::parse(text).ok_or_else(|| {
            let known: Vec<&str> = RunStatus::ALL.iter().map(|s| s.as_str()).collect();
            bad(
                "status",
                format!("'{text}' is not one of {}", known.join(", ")),
            )
        })?),
        None => None,
    };
    let before = match params.before.as_deref().filter(|s| !s.is_empty()) {
        Some(text) => Some(
            RunId::parse(text).ok_or_else(|| bad("before", format!("'{text}' is not a run id")))?,
        ),
        None => None,
    };
    Ok(ListQuery {
        status,
        before,
        limit,
    })
}
