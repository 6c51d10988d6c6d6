//! Cancelling a run on behalf of its owner: a queued run ends at once, a running one becomes
//! `cancelling` until its worker stops it; a final run cannot be cancelled (409).

use forage_api::{ApiError, RunId, TaskRun};

use crate::auth::Owner;
use crate::error::AppError;
use crate::lookup::owned_run;
use crate::state::AppState;

pub async fn cancel_run(state: &AppState, owner: &Owner, id: &RunId) -> Result<TaskRun, AppError> {
    let record = owned_run(state.store.as_ref(), owner, id).await?;
    if record.status.is_final() {
        return Err(final_run(record.status.as_str(), id).into());
    }
    let record = state.store.cancel_run(id).await?;
    if record.status.is_final() && record.status != forage_api::RunStatus::Cancelled {
        // It ended on its own meanwhile.
        return Err(final_run(record.status.as_str(), id).into());
    }
    tracing::info!(run_id = %id, status = record.status.as_str(), "run cancellation requested");
    Ok(record.to_task_run())
}

fn final_run(status: &str, id: &RunId) -> ApiError {
    ApiError::new(
        409,
        format!("Run is already {status}: only a queued or running run can be cancelled"),
    )
    .with_detail(serde_json::json!({"run_id": id, "status": status}))
}
