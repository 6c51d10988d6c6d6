//! The read queries, run on a read-only connection (or the writer's, for in-memory databases).

use forage_api::{InteractionId, RunId, RunStatus, TaskOutput};
use rusqlite::{Connection, OptionalExtension, params};

use super::codec::{RUN_COLUMNS, event_from_row, from_json, run_from_row};
use super::errors::from_sqlite;
use crate::{AdmissionCounts, EventRecord, ListQuery, QueueDepth, RunRecord, StoreError};

/// A stored request: its JSON (header values redacted) and its sealed header values.
pub(crate) struct StoredRequest {
    pub request: String,
    pub secrets_sealed: Option<String>,
}

pub(crate) fn get_run(conn: &Connection, id: &RunId) -> Result<Option<RunRecord>, StoreError> {
    conn.prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"))
        .and_then(|mut stmt| stmt.query_row([id.as_str()], run_from_row).optional())
        .map_err(from_sqlite)?
        .transpose()
}

pub(crate) fn get_request(
    conn: &Connection,
    id: &RunId,
) -> Result<Option<StoredRequest>, StoreError> {
    conn.prepare_cached(
        "SELECT request, secrets_sealed FROM run_requests \
         WHERE run_seq = (SELECT seq FROM runs WHERE id = ?1)",
    )
    .and_then(|mut stmt| {
        stmt.query_row([id.as_str()], |row| {
            Ok(StoredRequest {
                request: row.get(0)?,
                secrets_sealed: row.get(1)?,
            })
        })
        .optional()
    })
    .map_err(from_sqlite)
}

pub(crate) fn get_output(conn: &Connection, id: &RunId) -> Result<Option<TaskOutput>, StoreError> {
    let output: Option<String> = conn
        .prepare_cached(
            "SELECT output FROM run_outputs WHERE run_seq = (SELECT seq FROM runs WHERE id = ?1)",
        )
        .and_then(|mut stmt| stmt.query_row([id.as_str()], |row| row.get(0)).optional())
        .map_err(from_sqlite)?;
    output.map(|o| from_json("run output", &o)).transpose()
}

pub(crate) fn list_runs(
    conn: &Connection,
    owner: &str,
    query: &ListQuery,
) -> Result<Vec<RunRecord>, StoreError> {
    if query.limit == 0 {
        return Ok(Vec::new());
    }
    let mut sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE owner = ?1");
    if query.status.is_some() {
        sql.push_str(" AND status = ?2");
    }
    if query.before.is_some() {
        // An id that is not this owner's matches nothing, so the page is empty.
        sql.push_str(" AND seq < (SELECT seq FROM runs WHERE id = ?3 AND owner = ?1)");
    }
    sql.push_str(" ORDER BY seq DESC LIMIT ?4");
    let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(&sql).map_err(from_sqlite)?;
    let status = query.status.map(RunStatus::as_str);
    let before = query.before.as_ref().map(RunId::as_str);
    // `?4` makes the statement take four parameters whichever of `?2`/`?3` its text names.
    let rows = stmt
        .query_map(params![owner, status, before, limit], run_from_row)
        .map_err(from_sqlite)?;
    let runs = rows
        .map(|row| row.map_err(from_sqlite)?)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(runs)
}

pub(crate) fn interaction_transcript(
    conn: &Connection,
    owner: &str,
    interaction: &InteractionId,
) -> Result<Option<serde_json::Value>, StoreError> {
    // The interaction's latest completed run: a continuation (which names the interaction), or
    // else the run that began it (which stores no interaction id).
    let transcript: Option<String> = conn
        .prepare_cached(
            "SELECT transcript FROM run_outputs WHERE run_seq = ( \
               SELECT seq FROM ( \
                 SELECT seq FROM runs WHERE interaction_id = ?1 AND owner = ?2 \
                   AND status = 'completed' \
                 UNION ALL \
                 SELECT seq FROM runs WHERE id = ?1 AND interaction_id IS NULL AND owner = ?2 \
                   AND status = 'completed') \
               ORDER BY seq DESC LIMIT 1)",
        )
        .and_then(|mut stmt| {
            stmt.query_row(params![interaction.as_str(), owner], |row| row.get(0))
                .optional()
        })
        .map_err(from_sqlite)?;
    transcript
        .map(|t| from_json("run transcript", &t))
        .transpose()
}

pub(crate) fn events_after(
    conn: &Connection,
    run: &RunId,
    after: u64,
    limit: usize,
) -> Result<Vec<EventRecord>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = conn
        .prepare_cached(
            "SELECT seq, at, body FROM events \
             WHERE run_seq = (SELECT seq FROM runs WHERE id = ?1) AND seq > ?2 \
             ORDER BY seq LIMIT ?3",
        )
        .map_err(from_sqlite)?;
    let rows = stmt
        .query_map(params![run.as_str(), after, limit], |row| {
            event_from_row(run, row)
        })
        .map_err(from_sqlite)?;
    rows.map(|row| row.map_err(from_sqlite)?).collect()
}

pub(crate) fn queue_depth(conn: &Connection) -> Result<QueueDepth, StoreError> {
    let (queued, running): (i64, i64) = conn
        .prepare_cached(
            "SELECT \
               COALESCE(SUM(runs) FILTER (WHERE status = 'queued'), 0), \
               COALESCE(SUM(runs) FILTER (WHERE status = 'running'), 0) \
             FROM active_run_counts",
        )
        .and_then(|mut stmt| stmt.query_row([], |row| Ok((row.get(0)?, row.get(1)?))))
        .map_err(from_sqlite)?;
    Ok(QueueDepth {
        queued: u64::try_from(queued).unwrap_or(0),
        running: u64::try_from(running).unwrap_or(0),
    })
}

/// The owner's unfinished runs and all queued runs, read from the counts that
/// `writes::move_active_count` keeps (`active_run_counts`): a row per owner and
/// status, however many runs wait or are in flight.
pub(crate) fn admission_counts(
    conn: &Connection,
    owner: &str,
) -> Result<AdmissionCounts, StoreError> {
    let (owner_active, queued): (i64, i64) = conn
        .prepare_cached(
            "SELECT \
               (SELECT COALESCE(SUM(runs), 0) FROM active_run_counts WHERE owner = ?1), \
               (SELECT COALESCE(SUM(runs), 0) FROM active_run_counts WHERE status = 'queued')",
        )
        .and_then(|mut stmt| stmt.query_row([owner], |row| Ok((row.get(0)?, row.get(1)?))))
        .map_err(from_sqlite)?;
    Ok(AdmissionCounts {
        owner_active: u64::try_from(owner_active).unwrap_or(0),
        queued: u64::try_from(queued).unwrap_or(0),
    })
}
