//! Webhook deliveries in PostgreSQL: enqueued with a run's end, leased by the dispatchers of
//! every node (`FOR UPDATE SKIP LOCKED`, so two nodes never take the same due delivery at once),
//! and updated with each attempt's result.

use chrono::{DateTime, Utc};
use forage_api::RunId;

use super::codec::run_id;
use super::errors::from_pg;
use crate::{Delivery, DeliveryRecord, DeliveryResult, DeliveryState, StoreError};

type Tx<'a> = deadpool_postgres::Transaction<'a>;

fn timestamp(us: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(us)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {us} is out of range")))
}

fn count(value: i64) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| StoreError::Corrupt(format!("{value} delivery attempts")))
}

/// A pending delivery due at once (inside the run's final transaction).
pub(crate) async fn enqueue(
    tx: &Tx<'_>,
    run: &RunId,
    owner: &str,
    url: &str,
    at_us: i64,
) -> Result<(), StoreError> {
    let id = format!("whevent_{}", uuid::Uuid::new_v4().simple());
    let stmt = tx
        .prepare_cached(
            "INSERT INTO webhook_deliveries (id, run_id, owner, url, state, attempts, created_at, \
             next_attempt_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)",
        )
        .await
        .map_err(from_pg)?;
    tx.execute(&stmt, &[&id, &run.as_str(), &owner, &url, &at_us])
        .await
        .map_err(from_pg)?;
    Ok(())
}

pub(crate) async fn lease(
    client: &deadpool_postgres::Client,
    now_us: i64,
    lease_for_us: i64,
    limit: usize,
) -> Result<Vec<Delivery>, StoreError> {
    let stmt = client
        .prepare_cached(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = $2 \
             WHERE seq IN (SELECT seq FROM webhook_deliveries WHERE state = 'pending' \
             AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) \
             RETURNING id, run_id, owner, url, attempts, created_at",
        )
        .await
        .map_err(from_pg)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client
        .query(
            &stmt,
            &[&now_us, &now_us.saturating_add(lease_for_us), &limit],
        )
        .await
        .map_err(from_pg)?;
    let mut leased = rows
        .iter()
        .map(|row| {
            Ok(Delivery {
                id: row.try_get(0).map_err(from_pg)?,
                run_id: run_id(row.try_get(1).map_err(from_pg)?)?,
                owner: row.try_get(2).map_err(from_pg)?,
                url: row.try_get(3).map_err(from_pg)?,
                attempts: count(row.try_get(4).map_err(from_pg)?)?,
                created_at: timestamp(row.try_get(5).map_err(from_pg)?)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    leased.sort_by_key(|d| d.created_at);
    Ok(leased)
}

pub(crate) async fn record(
    client: &deadpool_postgres::Client,
    id: &str,
    result: DeliveryResult,
) -> Result<(), StoreError> {
    let (state, next, error) = match result {
        DeliveryResult::Delivered => (DeliveryState::Delivered, None, None),
        DeliveryResult::RetryAt { at, error } => (
            DeliveryState::Pending,
            Some(at.timestamp_micros()),
            Some(error),
        ),
        DeliveryResult::GaveUp { error } => (DeliveryState::Failed, None, Some(error)),
    };
    let stmt = client
        .prepare_cached(
            "UPDATE webhook_deliveries SET state = $2, next_attempt_at = $3, \
             last_error = COALESCE($4, last_error) WHERE id = $1",
        )
        .await
        .map_err(from_pg)?;
    let changed = client
        .execute(&stmt, &[&id, &state.as_str(), &next, &error])
        .await
        .map_err(from_pg)?;
    if changed == 0 {
        return Err(StoreError::NotFound(id.to_owned()));
    }
    Ok(())
}

pub(crate) async fn for_run(
    client: &deadpool_postgres::Client,
    run: &RunId,
) -> Result<Vec<DeliveryRecord>, StoreError> {
    let stmt = client
        .prepare_cached(
            "SELECT id, url, state, attempts, created_at, next_attempt_at, last_error \
             FROM webhook_deliveries WHERE run_id = $1 ORDER BY seq",
        )
        .await
        .map_err(from_pg)?;
    let rows = client
        .query(&stmt, &[&run.as_str()])
        .await
        .map_err(from_pg)?;
    rows.iter()
        .map(|row| {
            let id: String = row.try_get(0).map_err(from_pg)?;
            let state: String = row.try_get(2).map_err(from_pg)?;
            let next: Option<i64> = row.try_get(5).map_err(from_pg)?;
            Ok(DeliveryRecord {
                run_id: run.clone(),
                state: DeliveryState::parse(&state).ok_or_else(|| {
                    StoreError::Corrupt(format!("delivery {id} has state '{state}'"))
                })?,
                url: row.try_get(1).map_err(from_pg)?,
                attempts: count(row.try_get(3).map_err(from_pg)?)?,
                created_at: timestamp(row.try_get(4).map_err(from_pg)?)?,
                next_attempt_at: next.map(timestamp).transpose()?,
                last_error: row.try_get(6).map_err(from_pg)?,
                id,
            })
        })
        .collect()
}
