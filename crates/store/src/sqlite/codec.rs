//! Conversions between stored columns and the store's records: timestamps, JSON columns, run rows.

use chrono::{DateTime, Utc};
use forage_api::{InteractionId, RunEvent, RunId, RunStatus, TokenUsage};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::errors::{corrupt_json, encode_json};
use crate::{EventRecord, RunRecord, StoreError};

/// The columns `run_from_row` reads, in its order, from a query over `runs`. A run that began
/// its own interaction stores no interaction id; its group is stored by the group's `seq`.
pub(crate) const RUN_COLUMNS: &str = "runs.id, COALESCE(runs.interaction_id, runs.id), \
     runs.owner, runs.processor, runs.status, runs.created_at, runs.modified_at, runs.metadata, \
     runs.error, runs.warnings, \
     (SELECT task_groups.id FROM task_groups WHERE task_groups.seq = runs.group_seq), \
     runs.input_tokens, runs.output_tokens, runs.llm_calls, runs.attempts";

/// Now, at the microsecond precision the store keeps.
pub(crate) fn now() -> DateTime<Utc> {
    truncate(Utc::now())
}

/// Drops sub-microsecond precision, so what is stored reads back equal.
pub(crate) fn truncate(at: DateTime<Utc>) -> DateTime<Utc> {
    from_micros(at.timestamp_micros()).unwrap_or(at)
}

pub(crate) fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

pub(crate) fn from_micros(us: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(us)
}

fn timestamp(us: i64) -> Result<DateTime<Utc>, StoreError> {
    from_micros(us).ok_or_else(|| StoreError::Corrupt(format!("timestamp {us} is out of range")))
}

pub(crate) fn to_json<T: Serialize + ?Sized>(what: &str, value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| encode_json(what, e))
}

pub(crate) fn from_json<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt_json(what, e))
}

/// An unsigned counter as SQLite stores it.
pub(crate) fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn uint(what: &str, value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} is negative: {value}")))
}

/// Reads a run from a row selected with [`RUN_COLUMNS`].
pub(crate) fn run_from_row(
    row: &rusqlite::Row<'_>,
) -> rusqlite::Result<Result<RunRecord, StoreError>> {
    let id: String = row.get(0)?;
    let interaction_id: String = row.get(1)?;
    let owner: String = row.get(2)?;
    let processor: String = row.get(3)?;
    let status: String = row.get(4)?;
    let created_at: i64 = row.get(5)?;
    let modified_at: i64 = row.get(6)?;
    let metadata: Option<String> = row.get(7)?;
    let error: Option<String> = row.get(8)?;
    let warnings: String = row.get(9)?;
    let taskgroup_id: Option<String> = row.get(10)?;
    let usage: [i64; 3] = [row.get(11)?, row.get(12)?, row.get(13)?];
    let attempts: i64 = row.get(14)?;
    Ok((|| {
        Ok(RunRecord {
            status: RunStatus::parse(&status).ok_or_else(|| {
                StoreError::Corrupt(format!("run {id} has unknown status '{status}'"))
            })?,
            interaction_id: InteractionId::new(interaction_id),
            owner,
            processor,
            created_at: timestamp(created_at)?,
            modified_at: timestamp(modified_at)?,
            metadata: metadata
                .map(|m| from_json("run metadata", &m))
                .transpose()?,
            error: error.map(|e| from_json("run error", &e)).transpose()?,
            warnings: from_json("run warnings", &warnings)?,
            taskgroup_id,
            usage: TokenUsage {
                input_tokens: uint("input_tokens", usage[0])?,
                output_tokens: uint("output_tokens", usage[1])?,
                llm_calls: uint("llm_calls", usage[2])?,
            },
            attempts: u32::try_from(attempts)
                .map_err(|_| StoreError::Corrupt(format!("run {id} has {attempts} attempts")))?,
            id: RunId::parse(&id)
                .ok_or_else(|| StoreError::Corrupt(format!("malformed run id '{id}'")))?,
        })
    })())
}

/// Reads an event of `run` from a row of `seq, at, body`.
pub(crate) fn event_from_row(
    run: &RunId,
    row: &rusqlite::Row<'_>,
) -> rusqlite::Result<Result<EventRecord, StoreError>> {
    let seq: i64 = row.get(0)?;
    let at: i64 = row.get(1)?;
    let body: String = row.get(2)?;
    Ok((|| {
        Ok(EventRecord {
            run_id: run.clone(),
            seq: uint("event seq", seq)?,
            at: timestamp(at)?,
            event: from_json::<RunEvent>("event", &body)?,
        })
    })())
}
