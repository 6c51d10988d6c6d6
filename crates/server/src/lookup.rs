//! Finding a run on behalf of its owner: another owner's run is indistinguishable from none.

use forage_api::{ApiError, RunId};
use forage_store::{RunRecord, Store};

use crate::auth::Owner;
use crate::error::AppError;

/// The run, if `owner` owns it; else 404 "Run id not found".
pub async fn owned_run(
    store: &dyn Store,
    owner: &Owner,
    id: &RunId,
) -> Result<RunRecord, AppError> {
    match store.get_run(id).await? {
        Some(record) if record.owner == owner.0 => Ok(record),
        _ => Err(ApiError::run_not_found().into()),
    }
}
