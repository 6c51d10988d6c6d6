//! `GET /v1/tasks/runs/{run_id}/result?timeout=N`: holds until the run is final or N seconds pass.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use forage_api::{ApiError, RunStatus, TaskRunResult};
use serde::Deserialize;
use serde_json::json;

use crate::auth::Owner;
use crate::error::AppResult;
use crate::extract::{ApiQuery, RunIdPath};
use crate::lookup::owned_run;
use crate::state::AppState;
use crate::wait::wait_until_final;

/// Parallel's default wait.
const DEFAULT_TIMEOUT_SECS: f64 = 600.0;
/// Longest wait honoured (clients reconnect after 408).
const MAX_TIMEOUT_SECS: f64 = 3600.0;

#[derive(Deserialize)]
pub struct ResultParams {
    timeout: Option<f64>,
}

pub async fn result(
    State(state): State<AppState>,
    owner: Owner,
    RunIdPath(id): RunIdPath,
    ApiQuery(params): ApiQuery<ResultParams>,
) -> AppResult<Json<TaskRunResult>> {
    let timeout = wait_time(params.timeout)?;
    // Watch before reading: a change after the read wakes the watch.
    let watch = state.signals.watch(&id);
    let known = owned_run(state.store.as_ref(), &owner, &id).await?;
    let waited = tokio::select! {
        waited = wait_until_final(state.store.as_ref(), watch, &id, known, timeout) => waited?,
        _ = state.closing.cancelled() => {
            let mut err = ApiError::unavailable("The server is shutting down; retry shortly");
            err.retry_after = Some(1);
            return Err(err.into());
        }
    };
    let (record, output) = waited.ok_or_else(ApiError::run_not_found)?;
    let detail = json!({"run_id": record.id, "status": record.status});
    match record.status {
        RunStatus::Completed => {
            let output = match output {
                Some(output) => Some(output),
                None => state.store.get_output(&id).await?,
            }
            .ok_or_else(|| {
                ApiError::internal("Internal error: the completed run has no stored output")
            })?;
            Ok(Json(TaskRunResult {
                run: record.to_task_run(),
                output,
            }))
        }
        RunStatus::Failed => {
            let why = record
                .error
                .as_ref()
                .map_or("unknown error", |e| e.message.as_str());
            Err(ApiError::not_found(format!("Run failed: {why}"))
                .with_detail(detail)
                .into())
        }
        RunStatus::Cancelled => Err(ApiError::not_found("Run was cancelled: it has no result")
            .with_detail(detail)
            .into()),
        _ => Err(ApiError::still_active().with_detail(detail).into()),
    }
}

fn wait_time(timeout: Option<f64>) -> Result<Duration, ApiError> {
    let secs = timeout.unwrap_or(DEFAULT_TIMEOUT_SECS);
    if !secs.is_finite() || secs < 0.0 {
        return Err(ApiError::new(
            422,
            "Unprocessable content: query parameter timeout: must be a number of seconds, 0 or more",
        )
        .with_detail(json!({"loc": ["query", "timeout"], "msg": "must be 0 or more"})));
    }
    Ok(Duration::from_secs_f64(secs.min(MAX_TIMEOUT_SECS)))
}
