//! Conversions between PostgreSQL rows and the store's records: timestamps, JSON columns, runs.

use chrono::{DateTime, Utc};
use forage_api::{InteractionId, RunEvent, RunId, RunStatus, TokenUsage};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_postgres::Row;

use super::errors::{corrupt_json, encode_json, from_pg};
use crate::{EventRecord, RunRecord, StoreError};

/// The columns `run_from_row` reads, in its order.
pub(crate) const RUN_COLUMNS: &str = "id, interaction_id, owner, processor, status, created_at, \
     modified_at, metadata, error, warnings, taskgroup_id, input_tokens, output_tokens, \
     llm_calls, attempts";

/// Now, at the microsecond precision the store keeps.
pub(crate) fn now_us() -> i64 {
    Utc::now().timestamp_micros()
}

/// Drops sub-microsecond precision, so what is stored reads back equal.
pub(crate) fn truncate(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at)
}

fn timestamp(us: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(us)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {us} is out of range")))
}

pub(crate) fn to_json<T: Serialize + ?Sized>(what: &str, value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| encode_json(what, e))
}

pub(crate) fn from_json<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt_json(what, e))
}

/// An unsigned counter as a BIGINT.
pub(crate) fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(crate) fn uint(what: &str, value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} is negative: {value}")))
}

pub(crate) fn run_id(text: &str) -> Result<RunId, StoreError> {
    RunId::parse(text).ok_or_else(|| StoreError::Corrupt(format!("malformed run id '{text}'")))
}

fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a Row,
    idx: usize,
) -> Result<T, StoreError> {
    row.try_get(idx).map_err(from_pg)
}

/// Reads a run from a row selected with [`RUN_COLUMNS`] first.
pub(crate) fn run_from_row(row: &Row) -> Result<RunRecord, StoreError> {
    let id: String = get(row, 0)?;
    let status: String = get(row, 4)?;
    let metadata: Option<String> = get(row, 7)?;
    let error: Option<String> = get(row, 8)?;
    let warnings: String = get(row, 9)?;
    let attempts: i64 = get(row, 14)?;
    Ok(RunRecord {
        status: RunStatus::parse(&status).ok_or_else(|| {
            StoreError::Corrupt(format!("run {id} has unknown status '{status}'"))
        })?,
        interaction_id: InteractionId::new(get::<String>(row, 1)?),
        owner: get(row, 2)?,
        processor: get(row, 3)?,
        created_at: timestamp(get(row, 5)?)?,
        modified_at: timestamp(get(row, 6)?)?,
        metadata: metadata
            .map(|m| from_json("run metadata", &m))
            .transpose()?,
        error: error.map(|e| from_json("run error", &e)).transpose()?,
        warnings: from_json("run warnings", &warnings)?,
        taskgroup_id: get(row, 10)?,
        usage: TokenUsage {
            input_tokens: uint("input_tokens", get(row, 11)?)?,
            output_tokens: uint("output_tokens", get(row, 12)?)?,
            llm_calls: uint("llm_calls", get(row, 13)?)?,
        },
        attempts: u32::try_from(attempts)
            .map_err(|_| StoreError::Corrupt(format!("run {id} has {attempts} attempts")))?,
        id: run_id(&id)?,
    })
}

/// Reads an event from a row of `run_id, seq, at, body`.
pub(crate) fn event_from_row(row: &Row) -> Result<EventRecord, StoreError> {
    let body: String = get(row, 3)?;
    Ok(EventRecord {
        run_id: run_id(&get::<String>(row, 0)?)?,
        seq: uint("event seq", get(row, 1)?)?,
        at: timestamp(get(row, 2)?)?,
        event: from_json::<RunEvent>("event", &body)?,
    })
}
