//! Task groups in PostgreSQL: creation, adding member runs, the maintained status counts and
//! the group event log (written in the member's status-change transaction), and their reads.
//! A member's change locks the group row first, so changes of one group take turns.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use forage_api::{RunId, RunStatus};
use tokio_postgres::types::ToSql;

use super::codec::{RUN_COLUMNS, from_json, int, run_from_row, run_id, uint};
use super::errors::from_pg;
use super::writes::{PreparedRun, Written, admit, insert_run};
use crate::{GroupEventRecord, GroupRecord, GroupRun, GroupRunsQuery, Notice, RunCaps, StoreError};

type Tx<'a> = deadpool_postgres::Transaction<'a>;

fn timestamp(us: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(us)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {us} is out of range")))
}

pub(crate) async fn create_group(
    tx: &Tx<'_>,
    id: &str,
    owner: &str,
    metadata: Option<String>,
    at_us: i64,
) -> Written<GroupRecord> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO task_groups (id, owner, metadata, created_at, modified_at) \
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT (id) DO NOTHING",
        )
        .await
        .map_err(from_pg)?;
    let inserted = tx
        .execute(&stmt, &[&id, &owner, &metadata, &at_us])
        .await
        .map_err(from_pg)?;
    if inserted == 0 {
        return Err(StoreError::Duplicate(id.to_owned()));
    }
    let group = get_group(tx, id)
        .await?
        .ok_or_else(|| StoreError::NotFound(id.to_owned()))?;
    Ok((group, Vec::new()))
}

/// Inserts the runs as members of `group`, all in the current transaction, if they fit
/// within `caps`.
pub(crate) async fn add_runs(
    tx: &Tx<'_>,
    group: &str,
    runs: Vec<PreparedRun>,
    caps: RunCaps,
) -> Written<GroupRecord> {
    if let Some(first) = runs.first() {
        admit(tx, &first.record.owner, caps, runs.len() as u64).await?;
    }
    let stmt = tx
        .prepare_cached("UPDATE task_groups SET num_runs = num_runs + $2 WHERE id = $1")
        .await
        .map_err(from_pg)?;
    let changed = tx
        .execute(&stmt, &[&group, &int(runs.len() as u64)])
        .await
        .map_err(from_pg)?;
    if changed == 0 {
        return Err(StoreError::NotFound(group.to_owned()));
    }
    let mut notices = Vec::new();
    let mut group_notice = None;
    for mut run in runs {
        run.record.taskgroup_id = Some(group.to_owned());
        let (_, sent) = insert_run(tx, run).await?;
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
    let record = get_group(tx, group)
        .await?
        .ok_or_else(|| StoreError::NotFound(group.to_owned()))?;
    Ok((record, notices))
}

/// A member changed status: counts move, the group's log grows. Returns the new event's seq.
pub(crate) async fn member_changed(
    tx: &Tx<'_>,
    group: &str,
    run: &RunId,
    previous: Option<RunStatus>,
    next: RunStatus,
    at_us: i64,
) -> Result<u64, StoreError> {
    // The group row first: it orders concurrent changes of the group's counts.
    let stmt = tx
        .prepare_cached(
            "UPDATE task_groups SET last_event_seq = last_event_seq + 1, modified_at = $2 \
             WHERE id = $1 RETURNING last_event_seq",
        )
        .await
        .map_err(from_pg)?;
    let seq: i64 = tx
        .query_one(&stmt, &[&group, &at_us])
        .await
        .map_err(from_pg)?
        .try_get(0)
        .map_err(from_pg)?;
    if let Some(previous) = previous {
        let stmt = tx
            .prepare_cached(
                "UPDATE task_group_counts SET count = count - 1 \
                 WHERE group_id = $1 AND status = $2 AND count > 0",
            )
            .await
            .map_err(from_pg)?;
        tx.execute(&stmt, &[&group, &previous.as_str()])
            .await
            .map_err(from_pg)?;
    }
    let stmt = tx
        .prepare_cached(
            "INSERT INTO task_group_counts (group_id, status, count) VALUES ($1, $2, 1) \
             ON CONFLICT (group_id, status) DO UPDATE SET count = task_group_counts.count + 1",
        )
        .await
        .map_err(from_pg)?;
    tx.execute(&stmt, &[&group, &next.as_str()])
        .await
        .map_err(from_pg)?;
    let stmt = tx
        .prepare_cached(
            "INSERT INTO task_group_events (group_id, seq, at, run_id, status) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .await
        .map_err(from_pg)?;
    tx.execute(
        &stmt,
        &[&group, &seq, &at_us, &run.as_str(), &next.as_str()],
    )
    .await
    .map_err(from_pg)?;
    uint("group event seq", seq)
}

/// Works on a transaction or a plain pooled client.
pub(crate) async fn get_group<C: deadpool_postgres::GenericClient>(
    client: &C,
    id: &str,
) -> Result<Option<GroupRecord>, StoreError> {
    let stmt = client
        .prepare_cached(
            "SELECT owner, metadata, created_at, modified_at, num_runs, last_event_seq \
             FROM task_groups WHERE id = $1",
        )
        .await
        .map_err(from_pg)?;
    let Some(row) = client.query_opt(&stmt, &[&id]).await.map_err(from_pg)? else {
        return Ok(None);
    };
    let metadata: Option<String> = row.try_get(1).map_err(from_pg)?;
    let stmt = client
        .prepare_cached("SELECT status, count FROM task_group_counts WHERE group_id = $1")
        .await
        .map_err(from_pg)?;
    let mut status_counts = BTreeMap::new();
    for count_row in client.query(&stmt, &[&id]).await.map_err(from_pg)? {
        let status: String = count_row.try_get(0).map_err(from_pg)?;
        let count: i64 = count_row.try_get(1).map_err(from_pg)?;
        if count > 0 {
            status_counts.insert(status, uint("group count", count)?);
        }
    }
    Ok(Some(GroupRecord {
        id: id.to_owned(),
        owner: row.try_get(0).map_err(from_pg)?,
        metadata: metadata
            .map(|m| from_json("group metadata", &m))
            .transpose()?,
        created_at: timestamp(row.try_get(2).map_err(from_pg)?)?,
        modified_at: timestamp(row.try_get(3).map_err(from_pg)?)?,
        num_runs: uint("num_runs", row.try_get(4).map_err(from_pg)?)?,
        status_counts,
        last_event_seq: uint("group event seq", row.try_get(5).map_err(from_pg)?)?,
    }))
}

pub(crate) async fn events_after(
    client: &deadpool_postgres::Client,
    id: &str,
    after: u64,
    limit: usize,
) -> Result<Vec<GroupEventRecord>, StoreError> {
    let stmt = client
        .prepare_cached(
            "SELECT seq, at, run_id, status FROM task_group_events \
             WHERE group_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .await
        .map_err(from_pg)?;
    let rows = client
        .query(&stmt, &[&id, &int(after), &int(limit as u64)])
        .await
        .map_err(from_pg)?;
    rows.iter()
        .map(|row| {
            let status: String = row.try_get(3).map_err(from_pg)?;
            Ok(GroupEventRecord {
                group_id: id.to_owned(),
                seq: uint("group event seq", row.try_get(0).map_err(from_pg)?)?,
                at: timestamp(row.try_get(1).map_err(from_pg)?)?,
                run_id: run_id(row.try_get(2).map_err(from_pg)?)?,
                status: RunStatus::parse(&status)
                    .ok_or_else(|| StoreError::Corrupt(format!("unknown status '{status}'")))?,
            })
        })
        .collect()
}

pub(crate) async fn group_runs(
    client: &deadpool_postgres::Client,
    id: &str,
    query: &GroupRunsQuery,
) -> Result<Vec<GroupRun>, StoreError> {
    if query.limit == 0 {
        return Ok(Vec::new());
    }
    let after = int(query.after);
    let limit = int(query.limit as u64);
    let status = query.status.map(RunStatus::as_str);
    let mut sql =
        format!("SELECT {RUN_COLUMNS}, seq FROM runs WHERE taskgroup_id = $1 AND seq > $2");
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&id, &after, &limit];
    if let Some(status) = &status {
        params.push(status);
        sql.push_str(" AND status = $4");
    }
    sql.push_str(" ORDER BY seq LIMIT $3");
    let stmt = client.prepare_cached(&sql).await.map_err(from_pg)?;
    let rows = client.query(&stmt, &params).await.map_err(from_pg)?;
    rows.iter()
        .map(|row| {
            Ok(GroupRun {
                cursor: uint("run seq", row.try_get(15).map_err(from_pg)?)?,
                record: run_from_row(row)?,
            })
        })
        .collect()
}
