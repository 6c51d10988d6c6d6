//! Webhook deliveries in SQLite: enqueued with a run's end, leased by dispatchers when due,
//! and updated with each attempt's result.

use forage_api::RunId;
use rusqlite::{Connection, params};

use super::codec::from_micros;
use super::errors::from_sqlite;
use super::writer::WriteResult;
use crate::{Delivery, DeliveryRecord, DeliveryResult, DeliveryState, StoreError};

fn timestamp(us: i64) -> Result<chrono::DateTime<chrono::Utc>, StoreError> {
    from_micros(us).ok_or_else(|| StoreError::Corrupt(format!("timestamp {us} is out of range")))
}

fn count(value: i64) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| StoreError::Corrupt(format!("{value} delivery attempts")))
}

fn run_id(text: &str) -> Result<RunId, StoreError> {
    RunId::parse(text).ok_or_else(|| StoreError::Corrupt(format!("malformed run id '{text}'")))
}

/// A pending delivery due at once (inside the run's final transaction); the run is named by its
/// `seq`.
pub(crate) fn enqueue(
    conn: &Connection,
    run: i64,
    owner: &str,
    url: &str,
    at_us: i64,
) -> Result<(), StoreError> {
    let id = format!("whevent_{}", uuid::Uuid::new_v4().simple());
    conn.prepare_cached(
        "INSERT INTO webhook_deliveries (id, run_seq, owner, url, state, attempts, created_at, \
         next_attempt_at) VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?5)",
    )
    .and_then(|mut stmt| stmt.execute(params![id, run, owner, url, at_us]))
    .map_err(from_sqlite)?;
    Ok(())
}

pub(crate) fn lease(
    conn: &Connection,
    now_us: i64,
    lease_for_us: i64,
    limit: usize,
) -> WriteResult<Vec<Delivery>> {
    let rows: Vec<(String, String, String, String, i64, i64)> = conn
        .prepare_cached(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = ?2 \
             WHERE seq IN (SELECT seq FROM webhook_deliveries WHERE state = 'pending' \
             AND next_attempt_at <= ?1 ORDER BY next_attempt_at LIMIT ?3) \
             RETURNING id, (SELECT runs.id FROM runs WHERE runs.seq = run_seq), owner, url, \
             attempts, created_at",
        )
        .and_then(|mut stmt| {
            stmt.query_map(
                params![
                    now_us,
                    now_us.saturating_add(lease_for_us),
                    i64::try_from(limit).unwrap_or(i64::MAX)
                ],
                |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                        row.get(5)?,
                    ))
                },
            )?
            .collect()
        })
        .map_err(from_sqlite)?;
    let mut leased = rows
        .into_iter()
        .map(|(id, run, owner, url, attempts, created_at)| {
            Ok(Delivery {
                id,
                run_id: run_id(&run)?,
                owner,
                url,
                attempts: count(attempts)?,
                created_at: timestamp(created_at)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    leased.sort_by_key(|d| d.created_at);
    Ok((leased, Vec::new()))
}

pub(crate) fn record(conn: &Connection, id: &str, result: &DeliveryResult) -> WriteResult<()> {
    let (state, next, error) = match result {
        DeliveryResult::Delivered => (DeliveryState::Delivered, None, None),
        DeliveryResult::RetryAt { at, error } => (
            DeliveryState::Pending,
            Some(at.timestamp_micros()),
            Some(error),
        ),
        DeliveryResult::GaveUp { error } => (DeliveryState::Failed, None, Some(error)),
    };
    let changed = conn
        .prepare_cached(
            "UPDATE webhook_deliveries SET state = ?2, next_attempt_at = ?3, \
             last_error = COALESCE(?4, last_error) WHERE id = ?1",
        )
        .and_then(|mut stmt| stmt.execute(params![id, state.as_str(), next, error]))
        .map_err(from_sqlite)?;
    if changed == 0 {
        return Err(StoreError::NotFound(id.to_owned()));
    }
    Ok(((), Vec::new()))
}

pub(crate) fn for_run(conn: &Connection, run: &RunId) -> Result<Vec<DeliveryRecord>, StoreError> {
    type Row = (
        String,
        String,
        String,
        i64,
        i64,
        Option<i64>,
        Option<String>,
    );
    let rows: Vec<Row> = conn
        .prepare_cached(
            "SELECT id, url, state, attempts, created_at, next_attempt_at, last_error \
             FROM webhook_deliveries \
             WHERE run_seq = (SELECT seq FROM runs WHERE id = ?1) ORDER BY seq",
        )
        .and_then(|mut stmt| {
            stmt.query_map([run.as_str()], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                    row.get(6)?,
                ))
            })?
            .collect()
        })
        .map_err(from_sqlite)?;
    rows.into_iter()
        .map(|(id, url, state, attempts, created_at, next, last_error)| {
            Ok(DeliveryRecord {
                run_id: run.clone(),
                state: DeliveryState::parse(&state).ok_or_else(|| {
                    StoreError::Corrupt(format!("delivery {id} has state '{state}'"))
                })?,
                id,
                url,
                attempts: count(attempts)?,
                created_at: timestamp(created_at)?,
                next_attempt_at: next.map(timestamp).transpose()?,
                last_error,
            })
        })
        .collect()
}
