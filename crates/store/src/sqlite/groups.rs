//! Task groups in SQLite: creation, adding member runs, the maintained status counts and the
//! group event log (written in the member's status-change transaction), and their reads.

use std::collections::BTreeMap;

use forage_api::{RunId, RunStatus};
use rusqlite::{Connection, OptionalExtension, params};

use super::codec::{RUN_COLUMNS, from_json, from_micros, int, run_from_row};
use super::errors::{from_sqlite, insert_error};
use super::writer::WriteResult;
use super::writes::{PreparedRun, admit, insert_run};
use crate::{GroupEventRecord, GroupRecord, GroupRun, GroupRunsQuery, Notice, RunCaps, StoreError};

fn timestamp(us: i64) -> Result<chrono::DateTime<chrono::Utc>, StoreError> {
    from_micros(us).ok_or_else(|| StoreError::Corrupt(format!("timestamp {us} is out of range")))
}

fn uint(what: &str, value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} is negative: {value}")))
}

pub(crate) fn create_group(
    conn: &Connection,
    id: &str,
    owner: &str,
    metadata: Option<&str>,
    at_us: i64,
) -> WriteResult<GroupRecord> {
    conn.prepare_cached(
        "INSERT INTO task_groups (id, owner, metadata, created_at, modified_at) \
         VALUES (?1, ?2, ?3, ?4, ?4)",
    )
    .and_then(|mut stmt| stmt.execute(params![id, owner, metadata, at_us]))
    .map_err(|e| insert_error(id, e))?;
    let group = get_group(conn, id)?.ok_or_else(|| StoreError::NotFound(id.to_owned()))?;
    Ok((group, Vec::new()))
}

/// Inserts the runs as members of `group`, all in the current transaction, if they fit
/// within `caps`.
pub(crate) fn add_runs(
    conn: &Connection,
    group: &str,
    runs: &[PreparedRun],
    caps: RunCaps,
) -> WriteResult<GroupRecord> {
    if let Some(first) = runs.first() {
        admit(conn, &first.record.owner, caps, runs.len() as u64)?;
    }
    let changed = conn
        .prepare_cached("UPDATE task_groups SET num_runs = num_runs + ?2 WHERE id = ?1")
        .and_then(|mut stmt| stmt.execute(params![group, int(runs.len() as u64)]))
        .map_err(from_sqlite)?;
    if changed == 0 {
        return Err(StoreError::NotFound(group.to_owned()));
    }
    let mut notices = Vec::new();
    let mut group_notice = None;
    for run in runs {
        let (_, sent) = insert_run(conn, run)?;
        for notice in sent {
            match notice {
                // One wake-up per batch is enough, for workers and group watchers alike.
                Notice::RunQueued => {}
                Notice::GroupChanged { .. } => group_notice = Some(notice),
                other => notices.push(other),
            }
        }
    }
    notices.push(Notice::RunQueued);
    notices.extend(group_notice);
    let record = get_group(conn, group)?.ok_or_else(|| StoreError::NotFound(group.to_owned()))?;
    Ok((record, notices))
}

/// A member changed status: counts move, the group's log grows. Returns the notice of the new
/// group event. The group and the run are named by their `seq`.
pub(crate) fn member_changed(
    conn: &Connection,
    group: i64,
    run: i64,
    previous: Option<RunStatus>,
    next: RunStatus,
    at_us: i64,
) -> Result<Notice, StoreError> {
    if let Some(previous) = previous {
        conn.prepare_cached(
            "UPDATE task_group_counts SET count = count - 1 \
             WHERE group_seq = ?1 AND status = ?2 AND count > 0",
        )
        .and_then(|mut stmt| stmt.execute(params![group, previous.as_str()]))
        .map_err(from_sqlite)?;
    }
    conn.prepare_cached(
        "INSERT INTO task_group_counts (group_seq, status, count) VALUES (?1, ?2, 1) \
         ON CONFLICT (group_seq, status) DO UPDATE SET count = count + 1",
    )
    .and_then(|mut stmt| stmt.execute(params![group, next.as_str()]))
    .map_err(from_sqlite)?;
    let (seq, group_id): (i64, String) = conn
        .prepare_cached(
            "UPDATE task_groups SET last_event_seq = last_event_seq + 1, modified_at = ?2 \
             WHERE seq = ?1 RETURNING last_event_seq, id",
        )
        .and_then(|mut stmt| {
            stmt.query_row(params![group, at_us], |row| Ok((row.get(0)?, row.get(1)?)))
        })
        .map_err(from_sqlite)?;
    conn.prepare_cached(
        "INSERT INTO task_group_events (group_seq, seq, at, run_seq, status) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut stmt| stmt.execute(params![group, seq, at_us, run, next.as_str()]))
    .map_err(from_sqlite)?;
    Ok(Notice::GroupChanged {
        group_id,
        seq: uint("group event seq", seq)?,
    })
}

pub(crate) fn get_group(conn: &Connection, id: &str) -> Result<Option<GroupRecord>, StoreError> {
    type Row = (i64, String, Option<String>, i64, i64, i64, i64);
    let row: Option<Row> = conn
        .prepare_cached(
            "SELECT seq, owner, metadata, created_at, modified_at, num_runs, last_event_seq \
             FROM task_groups WHERE id = ?1",
        )
        .and_then(|mut stmt| {
            stmt.query_row([id], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                    row.get(6)?,
                ))
            })
            .optional()
        })
        .map_err(from_sqlite)?;
    let Some((seq, owner, metadata, created_at, modified_at, num_runs, last_event_seq)) = row
    else {
        return Ok(None);
    };
    let counts: Vec<(String, i64)> = conn
        .prepare_cached("SELECT status, count FROM task_group_counts WHERE group_seq = ?1")
        .and_then(|mut stmt| {
            stmt.query_map([seq], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
        })
        .map_err(from_sqlite)?;
    let mut status_counts = BTreeMap::new();
    for (status, count) in counts {
        if count > 0 {
            status_counts.insert(status, uint("group count", count)?);
        }
    }
    Ok(Some(GroupRecord {
        id: id.to_owned(),
        owner,
        metadata: metadata
            .map(|m| from_json("group metadata", &m))
            .transpose()?,
        created_at: timestamp(created_at)?,
        modified_at: timestamp(modified_at)?,
        num_runs: uint("num_runs", num_runs)?,
        status_counts,
        last_event_seq: uint("group event seq", last_event_seq)?,
    }))
}

pub(crate) fn events_after(
    conn: &Connection,
    id: &str,
    after: u64,
    limit: usize,
) -> Result<Vec<GroupEventRecord>, StoreError> {
    let rows: Vec<(i64, i64, String, String)> = conn
        .prepare_cached(
            "SELECT e.seq, e.at, runs.id, e.status FROM task_group_events e \
             JOIN runs ON runs.seq = e.run_seq \
             WHERE e.group_seq = (SELECT seq FROM task_groups WHERE id = ?1) AND e.seq > ?2 \
             ORDER BY e.seq LIMIT ?3",
        )
        .and_then(|mut stmt| {
            stmt.query_map(params![id, int(after), int(limit as u64)], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })?
            .collect()
        })
        .map_err(from_sqlite)?;
    rows.into_iter()
        .map(|(seq, at, run_id, status)| {
            Ok(GroupEventRecord {
                group_id: id.to_owned(),
                seq: uint("group event seq", seq)?,
                at: timestamp(at)?,
                run_id: RunId::parse(&run_id)
                    .ok_or_else(|| StoreError::Corrupt(format!("malformed run id '{run_id}'")))?,
                status: RunStatus::parse(&status)
                    .ok_or_else(|| StoreError::Corrupt(format!("unknown status '{status}'")))?,
            })
        })
        .collect()
}

pub(crate) fn group_runs(
    conn: &Connection,
    id: &str,
    query: &GroupRunsQuery,
) -> Result<Vec<GroupRun>, StoreError> {
    if query.limit == 0 {
        return Ok(Vec::new());
    }
    let mut sql = format!(
        "SELECT {RUN_COLUMNS}, runs.seq FROM runs \
         WHERE runs.group_seq = (SELECT seq FROM task_groups WHERE id = ?1) AND runs.seq > ?2"
    );
    if query.status.is_some() {
        sql.push_str(" AND runs.status = ?4");
    }
    sql.push_str(" ORDER BY runs.seq LIMIT ?3");
    let mut stmt = conn.prepare_cached(&sql).map_err(from_sqlite)?;
    let read = |row: &rusqlite::Row<'_>| Ok((run_from_row(row)?, row.get::<_, i64>(15)?));
    let limit = int(query.limit as u64);
    let rows: Vec<_> = match query.status {
        Some(status) => stmt
            .query_map(params![id, int(query.after), limit, status.as_str()], read)
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>()),
        None => stmt
            .query_map(params![id, int(query.after), limit], read)
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>()),
    }
    .map_err(from_sqlite)?;
    rows.into_iter()
        .map(|(record, seq)| {
            Ok(GroupRun {
                cursor: uint("run seq", seq)?,
                record: record?,
            })
        })
        .collect()
}
