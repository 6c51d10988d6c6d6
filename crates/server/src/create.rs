//! Creating a run: validate, resolve the interaction, queue it.

use forage_api::validate::parse_create;
use forage_api::{ApiError, InteractionId, RunId, TaskRun};
use forage_store::NewRun;

use crate::auth::Owner;
use crate::error::AppError;
use crate::state::AppState;

/// Validates `body` and queues the run for `owner`.
pub async fn create_run(state: &AppState, owner: &Owner, body: &[u8]) -> Result<TaskRun, AppError> {
    let validated = parse_create(body, &state.limits, &state.unsupported)?;
    let id = RunId::generate();
    let interaction_id = match &validated.request.previous_interaction_id {
        Some(previous) => {
            let interaction = InteractionId::new(previous.clone());
            let transcript = state
                .store
                .interaction_transcript(&owner.0, &interaction)
                .await?;
            if transcript.is_none() {
                return Err(ApiError::invalid_field(
                    "previous_interaction_id",
                    format!("no completed run of interaction '{previous}' was found"),
                )
                .into());
            }
            interaction
        }
        None => InteractionId::for_run(&id),
    };
    let new = NewRun {
        id,
        interaction_id,
        owner: owner.0.clone(),
        processor: validated.processor,
        request: validated.request,
        warnings: validated.warnings,
        created_at: chrono::Utc::now(),
    };
    // The caps are checked in the write that creates the run, and an idle worker gets the
    // run in that write too.
    let caps = state.admission.run_caps();
    let record = match state.idle_workers.take() {
        Some(handoff) => {
            handoff
                .create(state.store.clone(), &state.signals, new, caps)
                .await?
        }
        None => state.store.create_run_within(new, caps).await?,
    };
    tracing::info!(run_id = %record.id, processor = %record.processor, "run created");
    Ok(record.to_task_run())
}
