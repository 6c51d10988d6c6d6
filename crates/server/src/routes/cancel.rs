//! `POST /v1/tasks/runs/{run_id}/cancel` (forage's own): 200 with the run, `cancelling` or
//! `cancelled`; 404 for an unknown run; 409 for a run that already ended.

use axum::Json;
use axum::extract::State;
use forage_api::TaskRun;

use crate::auth::Owner;
use crate::cancel::cancel_run;
use crate::error::AppResult;
use crate::extract::RunIdPath;
use crate::state::AppState;

pub async fn cancel(
    State(state): State<AppState>,
    owner: Owner,
    RunIdPath(id): RunIdPath,
) -> AppResult<Json<TaskRun>> {
    Ok(Json(cancel_run(&state, &owner, &id).await?))
}
