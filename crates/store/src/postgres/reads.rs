//! The read queries, each on a pooled connection outside any transaction.

use forage_api::{InteractionId, RunId, RunStatus, TaskOutput};
use tokio_postgres::types::ToSql;

use super::codec::{RUN_COLUMNS, event_from_row, from_json, run_from_row, uint};
use super::errors::from_pg;
use crate::{EventRecord, ListQuery, QueueDepth, RunRecord, StoreError};

type Client = deadpool_postgres::Client;

/// A stored request: its JSON (header values redacted) and its sealed header values.
pub(crate) struct StoredRequest {
    pub request: String,
    pub secrets_sealed: Option<String>,
}

pub(crate) async fn get_run(client: &Client, id: &RunId) -> Result<Option<RunRecord>, StoreError> {
    let stmt = client
        .prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1"))
        .await
        .map_err(from_pg)?;
    let row = client
        .query_opt(&stmt, &[&id.as_str()])
        .await
        .map_err(from_pg)?;
    row.as_ref().map(run_from_row).transpose()
}

pub(crate) async fn get_request(
    client: &Client,
    id: &RunId,
) -> Result<Option<StoredRequest>, StoreError> {
    let stmt = client
        .prepare_cached("SELECT request, secrets_sealed FROM run_requests WHERE run_id = $1")
        .await
        .map_err(from_pg)?;
    let row = client
        .query_opt(&stmt, &[&id.as_str()])
        .await
        .map_err(from_pg)?;
    row.map(|row| {
        Ok(StoredRequest {
            request: row.try_get(0).map_err(from_pg)?,
            secrets_sealed: row.try_get(1).map_err(from_pg)?,
        })
    })
    .transpose()
}

pub(crate) async fn get_output(
    client: &Client,
    id: &RunId,
) -> Result<Option<TaskOutput>, StoreError> {
    let stmt = client
        .prepare_cached("SELECT output FROM run_outputs WHERE run_id = $1")
        .await
        .map_err(from_pg)?;
    let row = client
        .query_opt(&stmt, &[&id.as_str()])
        .await
        .map_err(from_pg)?;
    row.map(|row| {
        let text: String = row.try_get(0).map_err(from_pg)?;
        from_json("run output", &text)
    })
    .transpose()
}

pub(crate) async fn list_runs(
    client: &Client,
    owner: &str,
    query: &ListQuery,
) -> Result<Vec<RunRecord>, StoreError> {
    if query.limit == 0 {
        return Ok(Vec::new());
    }
    let status = query.status.map(RunStatus::as_str);
    let before = query.before.as_ref().map(RunId::as_str);
    let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
    let mut sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE owner = $1");
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&owner];
    if let Some(status) = &status {
        params.push(status);
        sql.push_str(&format!(" AND status = ${}", params.len()));
    }
    if let Some(before) = &before {
        params.push(before);
        // An id that is not this owner's matches nothing, so the page is empty.
        sql.push_str(&format!(
            " AND seq < (SELECT seq FROM runs WHERE id = ${} AND owner = $1)",
            params.len()
        ));
    }
    params.push(&limit);
    sql.push_str(&format!(" ORDER BY seq DESC LIMIT ${}", params.len()));
    let stmt = client.prepare_cached(&sql).await.map_err(from_pg)?;
    let rows = client.query(&stmt, &params).await.map_err(from_pg)?;
    rows.iter().map(run_from_row).collect()
}

pub(crate) async fn interaction_transcript(
    client: &Client,
    owner: &str,
    interaction: &InteractionId,
) -> Result<Option<serde_json::Value>, StoreError> {
    let stmt = client
        .prepare_cached(
            "SELECT o.transcript FROM runs r JOIN run_outputs o ON o.run_id = r.id \
             WHERE r.interaction_id = $1 AND r.owner = $2 AND r.status = 'completed' \
             ORDER BY r.seq DESC LIMIT 1",
        )
        .await
        .map_err(from_pg)?;
    let row = client
        .query_opt(&stmt, &[&interaction.as_str(), &owner])
        .await
        .map_err(from_pg)?;
    row.map(|row| {
        let text: String = row.try_get(0).map_err(from_pg)?;
        from_json("run transcript", &text)
    })
    .transpose()
}

pub(crate) async fn events_after(
    client: &Client,
    run: &RunId,
    after: u64,
    limit: usize,
) -> Result<Vec<EventRecord>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let stmt = client
        .prepare_cached(
            "SELECT run_id, seq, at, body FROM events WHERE run_id = $1 AND seq > $2 \
             ORDER BY seq LIMIT $3",
        )
        .await
        .map_err(from_pg)?;
    let rows = client
        .query(&stmt, &[&run.as_str(), &after, &limit])
        .await
        .map_err(from_pg)?;
    rows.iter().map(event_from_row).collect()
}

pub(crate) async fn queue_depth(client: &Client) -> Result<QueueDepth, StoreError> {
    let stmt = client
        .prepare_cached(
            "SELECT COUNT(*) FILTER (WHERE status = 'queued'), \
             COUNT(*) FILTER (WHERE status = 'running') \
             FROM runs WHERE status IN ('queued', 'running')",
        )
        .await
        .map_err(from_pg)?;
    let row = client.query_one(&stmt, &[]).await.map_err(from_pg)?;
    Ok(QueueDepth {
        queued: uint("queued count", row.try_get(0).map_err(from_pg)?)?,
        running: uint("running count", row.try_get(1).map_err(from_pg)?)?,
    })
}
