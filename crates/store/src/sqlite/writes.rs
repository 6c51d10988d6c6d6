//! The write commands, each run by the writer thread inside the current batch transaction.
//! Inputs arrive already encoded (JSON, sealed secrets) so the writer only does SQL.

use std::sync::LazyLock;

use forage_api::{ProgressKind, RunEvent, RunId, RunStatus, Warning};
use rusqlite::{Connection, OptionalExtension, params};

use super::codec::{RUN_COLUMNS, from_json, int, micros, now, run_from_row, to_json, truncate};
use super::errors::{from_sqlite, insert_error};
use super::reads::admission_counts;
use super::writer::WriteResult;
use crate::leased::{LeasedRow, StoredCheckpoint};
use crate::outcome::PreparedOutcome;
use crate::{CheckpointPart, Lease, Notice, RunCaps, RunRecord, StoreError};

/// A run ready to insert.
pub(crate) struct PreparedRun {
    pub record: RunRecord,
    pub metadata: Option<String>,
    pub warnings: String,
    pub request: String,
    pub secrets_sealed: Option<String>,
    /// Where to announce the run's end, if anywhere.
    pub webhook_url: Option<String>,
}

pub(crate) fn create_run(
    conn: &Connection,
    run: &PreparedRun,
    caps: RunCaps,
) -> WriteResult<RunRecord> {
    admit(conn, &run.record.owner, caps, 1)?;
    insert_run(conn, run)
}

/// Refuses, before anything is written, `adding` runs of `owner` that would go past `caps`.
/// One writer writes at a time, so no other create can slip in between count and insert.
pub(crate) fn admit(
    conn: &Connection,
    owner: &str,
    caps: RunCaps,
    adding: u64,
) -> Result<(), StoreError> {
    if caps.is_none() {
        return Ok(());
    }
    let counts = admission_counts(conn, owner)?;
    caps.admit(counts, adding).map_err(StoreError::CapReached)
}

/// Creates a run and, when no other run is queued ahead of it, leases it to `worker` at once,
/// in the same transaction: the run is never announced as waiting in the queue.
pub(crate) fn create_run_leased(
    conn: &Connection,
    run: &PreparedRun,
    caps: RunCaps,
    worker: &str,
    lease_for_us: i64,
) -> WriteResult<(RunRecord, Option<LeasedRow>)> {
    admit(conn, &run.record.owner, caps, 1)?;
    let (seq, mut notices) = insert_queued(conn, run)?;
    let ahead = conn
        .prepare_cached("SELECT 1 FROM runs WHERE status = 'queued' AND seq < ?1")
        .and_then(|mut stmt| stmt.exists([seq]))
        .map_err(from_sqlite)?;
    if ahead {
        return Ok(((run.record.clone(), None), notices));
    }
    notices.retain(|n| !matches!(n, Notice::RunQueued));
    let candidate = Candidate {
        seq,
        id: run.record.id.as_str().to_owned(),
        worker: None,
    };
    let created = run.record.clone();
    let just_created = LeaseOf::JustCreated(Box::new(JustCreated {
        record: run.record.clone(),
        request: run.request.clone(),
        secrets_sealed: run.secrets_sealed.clone(),
    }));
    let (leased, more) =
        lease_candidate(conn, candidate, just_created, worker, lease_for_us, now())?;
    notices.extend(more);
    Ok(((created, Some(leased)), notices))
}

/// Inserts a queued run (a group member when `record.taskgroup_id` is set), with its request
/// and first event; the group's counts and log follow.
pub(crate) fn insert_run(conn: &Connection, run: &PreparedRun) -> WriteResult<RunRecord> {
    let (_, notices) = insert_queued(conn, run)?;
    Ok((run.record.clone(), notices))
}

/// [`insert_run`], returning the run's `seq` instead of its record.
fn insert_queued(conn: &Connection, run: &PreparedRun) -> Result<(i64, Vec<Notice>), StoreError> {
    let record = &run.record;
    let id = record.id.as_str();
    let at = micros(record.created_at);
    // A run that begins its own interaction stores none; a group is stored by its `seq`.
    let interaction = Some(record.interaction_id.as_str()).filter(|i| *i != id);
    // Written without `RETURNING` (see `take_event_seqs`): the new row's `seq` is its rowid.
    let group_seq: Option<i64> = match &record.taskgroup_id {
        Some(group) => conn
            .prepare_cached("SELECT seq FROM task_groups WHERE id = ?1")
            .and_then(|mut stmt| stmt.query_row([group], |row| row.get(0)).optional())
            .map_err(from_sqlite)?,
        None => None,
    };
    conn.prepare_cached(
        "INSERT INTO runs (id, interaction_id, owner, processor, status, created_at, \
         modified_at, metadata, warnings, attempts, group_seq, webhook_url, last_event_seq) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8, 0, ?9, ?10, 1)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            id,
            interaction,
            record.owner,
            record.processor,
            record.status.as_str(),
            at,
            run.metadata,
            run.warnings,
            group_seq,
            run.webhook_url,
        ])
    })
    .map_err(|e| insert_error(id, e))?;
    let seq = conn.last_insert_rowid();
    conn.prepare_cached(
        "INSERT INTO run_requests (run_seq, request, secrets_sealed) VALUES (?1, ?2, ?3)",
    )
    .and_then(|mut stmt| stmt.execute(params![seq, run.request, run.secrets_sealed]))
    .map_err(from_sqlite)?;
    // The row was written with its log's first sequence number taken.
    let first_event = 1;
    insert_events(
        conn,
        seq,
        first_event,
        &[RunEvent::Status {
            status: RunStatus::Queued,
        }],
        at,
    )?;
    let mut notices = vec![
        Notice::RunQueued,
        Notice::EventsAppended {
            run_id: record.id.clone(),
            seq: first_event as u64,
        },
    ];
    move_active_count(conn, &record.owner, None, RunStatus::Queued)?;
    notices.extend(member_status_changed(
        conn,
        seq,
        group_seq,
        None,
        RunStatus::Queued,
        at,
    )?);
    Ok((seq, notices))
}

/// The oldest queued run or the oldest running run whose lease expired, leased to `worker`.
pub(crate) fn lease_next(
    conn: &Connection,
    worker: &str,
    lease_for_us: i64,
) -> WriteResult<Option<LeasedRow>> {
    let at = now();
    let now_us = micros(at);
    let swept = sweep_abandoned_cancellations(conn, now_us)?;
    let queued = candidate(
        conn,
        "SELECT seq, id, NULL FROM runs WHERE status = 'queued' ORDER BY seq LIMIT 1",
        now_us,
    )?;
    let expired = candidate(
        conn,
        // Named: left to itself the planner takes the status index and sorts every running run.
        "SELECT seq, id, lease_worker FROM runs INDEXED BY runs_by_lease_expiry \
         WHERE status = 'running' AND lease_expires_at < ?1 ORDER BY lease_expires_at LIMIT 1",
        now_us,
    )?;
    let (candidate, of) = match (queued, expired) {
        (Some(q), Some(e)) if e.seq < q.seq => (e, LeaseOf::Expired),
        (Some(q), _) => (q, LeaseOf::Queued),
        (None, Some(e)) => (e, LeaseOf::Expired),
        (None, None) => return Ok((None, swept)),
    };
    let (leased, notices) = lease_candidate(conn, candidate, of, worker, lease_for_us, at)?;
    let mut all = swept;
    all.extend(notices);
    Ok((Some(leased), all))
}

/// Which run a lease is for.
enum LeaseOf {
    /// A run written in this same transaction: it has no checkpoint, and the lease need not
    /// read it back.
    JustCreated(Box<JustCreated>),
    /// A queued run (new, or put back in the queue with its checkpoint).
    Queued,
    /// A running run whose worker's lease expired: it resumes.
    Expired,
}

/// A run as [`create_run_leased`] wrote it, moments before its lease.
struct JustCreated {
    record: RunRecord,
    request: String,
    secrets_sealed: Option<String>,
}

/// Leases one run to `worker`, from `at`.
fn lease_candidate(
    conn: &Connection,
    candidate: Candidate,
    of: LeaseOf,
    worker: &str,
    lease_for_us: i64,
    at: chrono::DateTime<chrono::Utc>,
) -> WriteResult<LeasedRow> {
    let now_us = micros(at);
    let Candidate {
        seq,
        id,
        worker: previous_worker,
    } = candidate;
    let run_id =
        RunId::parse(&id).ok_or_else(|| StoreError::Corrupt(format!("malformed run id '{id}'")))?;
    let token = uuid::Uuid::new_v4().simple().to_string();
    // The lease takes the sequence number of the event that announces it. Read, then
    // updated: see `take_event_seqs` on `RETURNING`.
    let (before, group_seq, owner): (i64, Option<i64>, String) = conn
        .prepare_cached("SELECT last_event_seq, group_seq, owner FROM runs WHERE seq = ?1")
        .and_then(|mut stmt| {
            stmt.query_row([seq], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        })
        .map_err(from_sqlite)?;
    let event_seq = before + 1;
    conn.prepare_cached(
        "UPDATE runs SET status = 'running', attempts = attempts + 1, lease_token = ?2, \
         lease_worker = ?3, lease_expires_at = ?4, modified_at = ?5, last_event_seq = ?6 \
         WHERE seq = ?1",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            seq,
            token,
            worker,
            now_us.saturating_add(lease_for_us),
            now_us,
            event_seq
        ])
    })
    .map_err(from_sqlite)?;
    let resumed = matches!(of, LeaseOf::Expired);
    let event = if resumed {
        tracing::warn!(run_id = %run_id, previous_worker, worker, "re-leasing a run whose lease expired");
        RunEvent::Progress {
            progress: ProgressKind::ExecStatus,
            message: "resumed after worker restart".into(),
        }
    } else {
        RunEvent::Status {
            status: RunStatus::Running,
        }
    };
    insert_events(conn, seq, event_seq, std::slice::from_ref(&event), now_us)?;
    let last = log_position(&run_id, event_seq)?;
    let (record, request, secrets_sealed, may_have_checkpoint) = match of {
        // The row as the `UPDATE` above left it, without reading it back.
        LeaseOf::JustCreated(created) => {
            let JustCreated {
                mut record,
                request,
                secrets_sealed,
            } = *created;
            record.status = RunStatus::Running;
            record.attempts += 1;
            record.modified_at = truncate(at);
            (record, request, secrets_sealed, false)
        }
        LeaseOf::Queued | LeaseOf::Expired => {
            let (record, request, secrets_sealed) = conn
                .prepare_cached(&format!(
                    "SELECT {RUN_COLUMNS}, q.request, q.secrets_sealed FROM runs \
                     JOIN run_requests q ON q.run_seq = runs.seq WHERE runs.seq = ?1"
                ))
                .and_then(|mut stmt| {
                    stmt.query_row([seq], |row| {
                        Ok((
                            run_from_row(row)?,
                            row.get::<_, String>(15)?,
                            row.get::<_, Option<String>>(16)?,
                        ))
                    })
                })
                .map_err(from_sqlite)?;
            (record?, request, secrets_sealed, true)
        }
    };
    let mut notices = Vec::new();
    if !resumed {
        notices.push(Notice::RunChanged {
            run_id: run_id.clone(),
            status: RunStatus::Running,
        });
        move_active_count(conn, &owner, Some(RunStatus::Queued), RunStatus::Running)?;
        notices.extend(member_status_changed(
            conn,
            seq,
            group_seq,
            Some(RunStatus::Queued),
            RunStatus::Running,
            now_us,
        )?);
    }
    notices.push(Notice::EventsAppended {
        run_id: run_id.clone(),
        seq: last,
    });
    let checkpoint = if may_have_checkpoint {
        // A batch belongs to the checkpoint while it is newer than the state (a batch of the
        // state's turn or older is in the state already, or refused), and only with a state.
        conn.prepare_cached(
            "SELECT COALESCE(b.version, c.version), c.state, b.batch \
             FROM run_checkpoints c LEFT JOIN run_checkpoint_batches b \
             ON b.run_seq = c.run_seq AND b.version > c.version \
             WHERE c.run_seq = ?1",
        )
        .and_then(|mut stmt| {
            stmt.query_row([seq], |row| {
                Ok(StoredCheckpoint {
                    version: row.get(0)?,
                    state: row.get(1)?,
                    batch: row.get(2)?,
                })
            })
            .optional()
        })
        .map_err(from_sqlite)?
    } else {
        None
    };
    let leased = LeasedRow {
        lease: Lease { run_id, token },
        record,
        request,
        secrets_sealed,
        checkpoint,
    };
    Ok((leased, notices))
}

/// A run as the writes name it: its row (`seq`, the key of its rows in every table) and its id.
#[derive(Clone, Copy)]
struct RunKey<'a> {
    seq: i64,
    id: &'a RunId,
}

/// A run that could be leased: its queue position, id, and the worker that held it before.
struct Candidate {
    seq: i64,
    id: String,
    worker: Option<String>,
}

fn candidate(conn: &Connection, sql: &str, now_us: i64) -> Result<Option<Candidate>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(from_sqlite)?;
    let read = |row: &rusqlite::Row<'_>| {
        Ok(Candidate {
            seq: row.get(0)?,
            id: row.get(1)?,
            worker: row.get(2)?,
        })
    };
    let row = if stmt.parameter_count() == 1 {
        stmt.query_row([now_us], read)
    } else {
        stmt.query_row([], read)
    };
    row.optional().map_err(from_sqlite)
}

pub(crate) fn heartbeat(conn: &Connection, lease: &Lease, lease_for_us: i64) -> WriteResult<bool> {
    let now_us = micros(now());
    let changed = conn
        .prepare_cached(
            "UPDATE runs SET lease_expires_at = ?3 \
             WHERE id = ?1 AND lease_token = ?2",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                lease.run_id.as_str(),
                lease.token,
                now_us.saturating_add(lease_for_us)
            ])
        })
        .map_err(from_sqlite)?;
    Ok((changed == 1, Vec::new()))
}

pub(crate) fn expire_leases(conn: &Connection) -> WriteResult<u64> {
    let changed = conn
        .prepare_cached(
            "UPDATE runs SET lease_expires_at = 0 \
             WHERE status IN ('running', 'cancelling') AND lease_expires_at IS NOT NULL",
        )
        .and_then(|mut stmt| stmt.execute([]))
        .map_err(from_sqlite)?;
    let notices = if changed > 0 {
        vec![Notice::RunQueued]
    } else {
        Vec::new()
    };
    Ok((changed as u64, notices))
}

pub(crate) fn release(conn: &Connection, lease: &Lease) -> WriteResult<()> {
    let now_us = micros(now());
    let released: Option<i64> = conn
        .prepare_cached(
            "UPDATE runs SET status = 'queued', lease_token = NULL, lease_worker = NULL, \
             lease_expires_at = NULL, modified_at = ?3 \
             WHERE id = ?1 AND lease_token = ?2 AND status = 'running' RETURNING seq",
        )
        .and_then(|mut stmt| {
            stmt.query_row(params![lease.run_id.as_str(), lease.token, now_us], |row| {
                row.get(0)
            })
            .optional()
        })
        .map_err(from_sqlite)?;
    let Some(run_seq) = released else {
        return Err(not_held(conn, &lease.run_id)?);
    };
    let key = RunKey {
        seq: run_seq,
        id: &lease.run_id,
    };
    let seq = append(
        conn,
        key,
        &[RunEvent::Status {
            status: RunStatus::Queued,
        }],
        now_us,
    )?;
    let mut notices = vec![
        Notice::RunQueued,
        Notice::RunChanged {
            run_id: lease.run_id.clone(),
            status: RunStatus::Queued,
        },
        Notice::EventsAppended {
            run_id: lease.run_id.clone(),
            seq,
        },
    ];
    notices.extend(status_changed(
        conn,
        key,
        Some(RunStatus::Running),
        RunStatus::Queued,
        now_us,
    )?);
    Ok(((), notices))
}

pub(crate) fn finish(
    conn: &Connection,
    lease: &Lease,
    outcome: &PreparedOutcome,
) -> WriteResult<RunRecord> {
    let id = lease.run_id.as_str();
    let held: Option<(i64, String, Option<String>, String)> = conn
        .prepare_cached("SELECT seq, warnings, lease_token, status FROM runs WHERE id = ?1")
        .and_then(|mut stmt| {
            stmt.query_row([id], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .optional()
        })
        .map_err(from_sqlite)?;
    let Some((seq, warnings, token, previous)) = held else {
        return Err(StoreError::NotFound(id.to_owned()));
    };
    // The token is cleared whenever the run stops running, so a match means the lease holds.
    if token.as_deref() != Some(lease.token.as_str()) {
        return Err(StoreError::LeaseLost);
    }
    let mut all: Vec<Warning> = from_json("run warnings", &warnings)?;
    for warning in &outcome.warnings {
        if !all.contains(warning) {
            all.push(warning.clone());
        }
    }
    let warnings = to_json("warnings", &all)?;
    let now_us = micros(now());
    conn.prepare_cached(
        "UPDATE runs SET status = ?2, error = ?3, warnings = ?4, input_tokens = ?5, \
         output_tokens = ?6, llm_calls = ?7, modified_at = ?8, lease_token = NULL, \
         lease_worker = NULL, lease_expires_at = NULL WHERE seq = ?1",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            seq,
            outcome.status.as_str(),
            outcome.error,
            warnings,
            int(outcome.usage.input_tokens),
            int(outcome.usage.output_tokens),
            int(outcome.usage.llm_calls),
            now_us,
        ])
    })
    .map_err(from_sqlite)?;
    if let Some((output, transcript)) = &outcome.output {
        conn.prepare_cached(
            "INSERT OR REPLACE INTO run_outputs (run_seq, output, transcript) \
             VALUES (?1, ?2, ?3)",
        )
        .and_then(|mut stmt| stmt.execute(params![seq, output, transcript]))
        .map_err(from_sqlite)?;
    }
    let key = RunKey {
        seq,
        id: &lease.run_id,
    };
    let last_event = append(conn, key, &outcome.closing_events(), now_us)?;
    let record = conn
        .prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE seq = ?1"))
        .and_then(|mut stmt| stmt.query_row([seq], run_from_row))
        .map_err(from_sqlite)??;
    let mut notices = vec![
        Notice::RunChanged {
            run_id: lease.run_id.clone(),
            status: outcome.status,
        },
        Notice::EventsAppended {
            run_id: lease.run_id.clone(),
            seq: last_event,
        },
    ];
    notices.extend(status_changed(
        conn,
        key,
        RunStatus::parse(&previous),
        outcome.status,
        now_us,
    )?);
    Ok((record, notices))
}

/// Saves a leased run's checkpoint (unless a newer one is stored) and appends its events.
pub(crate) fn save_checkpoint(
    conn: &Connection,
    lease: &Lease,
    version: i64,
    part: &CheckpointPart,
    events: &[RunEvent],
) -> WriteResult<u64> {
    let held: Option<(i64, i64)> = conn
        .prepare_cached("SELECT seq, last_event_seq FROM runs WHERE id = ?1 AND lease_token = ?2")
        .and_then(|mut stmt| {
            stmt.query_row(params![lease.run_id.as_str(), lease.token], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()
        })
        .map_err(from_sqlite)?;
    let Some((seq, before)) = held else {
        return Err(not_held(conn, &lease.run_id)?);
    };
    let last = take_event_seqs(conn, seq, before, events)?;
    // The batch has a row of its own: SQLite writes a whole row again when any of its columns
    // changes, so a batch beside the state would write the state again with every call. The
    // row stays when a newer state is saved (it is read only while newer than the state), so a
    // turn's first call updates it instead of inserting it again.
    //
    // Each part is written from one row of `VALUES`, not from a `SELECT`: SQLite keeps a copy
    // of every page that a statement writing rows from a `SELECT` changes (a statement journal,
    // to undo that statement alone), the state's overflow pages among them. The writer undoes
    // a failed command itself.
    let upsert = match part {
        CheckpointPart::State(_) if newer_batch(conn, seq, version)? => None,
        CheckpointPart::State(state) => Some((
            "INSERT INTO run_checkpoints (run_seq, version, state) VALUES (?1, ?2, ?3) \
             ON CONFLICT (run_seq) DO UPDATE \
             SET version = excluded.version, state = excluded.state \
             WHERE excluded.version > run_checkpoints.version",
            state.get(),
        )),
        CheckpointPart::Batch(batch) => Some((
            "INSERT INTO run_checkpoint_batches (run_seq, version, batch) VALUES (?1, ?2, ?3) \
             ON CONFLICT (run_seq) DO UPDATE \
             SET version = excluded.version, batch = excluded.batch \
             WHERE excluded.version > run_checkpoint_batches.version",
            batch.get(),
        )),
    };
    if let Some((sql, text)) = upsert {
        conn.prepare_cached(sql)
            .and_then(|mut stmt| stmt.execute(params![seq, version, text]))
            .map_err(from_sqlite)?;
    }
    insert_events(conn, seq, last, events, micros(now()))?;
    announce(&lease.run_id, log_position(&lease.run_id, last)?, events)
}

/// Takes the sequence numbers of `events` after `before`, the run's `last_event_seq` as just
/// read; returns the last one. Read and updated in two statements, not one `UPDATE …
/// RETURNING`: SQLite runs `RETURNING` as a trigger, and keeps a copy of every page such a
/// statement changes (to undo it alone), here the run's row's page with every checkpoint.
fn take_event_seqs(
    conn: &Connection,
    run_seq: i64,
    before: i64,
    events: &[RunEvent],
) -> Result<i64, StoreError> {
    let last = before + event_count(events);
    if !events.is_empty() {
        conn.prepare_cached("UPDATE runs SET last_event_seq = ?2 WHERE seq = ?1")
            .and_then(|mut stmt| stmt.execute(params![run_seq, last]))
            .map_err(from_sqlite)?;
    }
    Ok(last)
}

/// Whether the run's stored batch is newer than `version` (a state that old changes nothing).
fn newer_batch(conn: &Connection, run_seq: i64, version: i64) -> Result<bool, StoreError> {
    conn.prepare_cached("SELECT 1 FROM run_checkpoint_batches WHERE run_seq = ?1 AND version > ?2")
        .and_then(|mut stmt| stmt.exists(params![run_seq, version]))
        .map_err(from_sqlite)
}

pub(crate) fn append_events(
    conn: &Connection,
    run: &RunId,
    events: &[RunEvent],
) -> WriteResult<u64> {
    let found: Option<(i64, i64)> = conn
        .prepare_cached("SELECT seq, last_event_seq FROM runs WHERE id = ?1")
        .and_then(|mut stmt| {
            stmt.query_row([run.as_str()], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()
        })
        .map_err(from_sqlite)?;
    let (seq, before) = found.ok_or_else(|| StoreError::NotFound(run.to_string()))?;
    let last = take_event_seqs(conn, seq, before, events)?;
    insert_events(conn, seq, last, events, micros(now()))?;
    announce(run, log_position(run, last)?, events)
}

/// The notice for `events` just appended up to `seq` (none: no notice).
fn announce(run: &RunId, seq: u64, events: &[RunEvent]) -> WriteResult<u64> {
    let notices = if events.is_empty() {
        Vec::new()
    } else {
        vec![Notice::EventsAppended {
            run_id: run.clone(),
            seq,
        }]
    };
    Ok((seq, notices))
}

/// Appends events with the next sequence numbers of the run; returns the last one.
fn append(
    conn: &Connection,
    run: RunKey<'_>,
    events: &[RunEvent],
    at_us: i64,
) -> Result<u64, StoreError> {
    let before: Option<i64> = conn
        .prepare_cached("SELECT last_event_seq FROM runs WHERE seq = ?1")
        .and_then(|mut stmt| stmt.query_row([run.seq], |row| row.get(0)).optional())
        .map_err(from_sqlite)?;
    let before = before.ok_or_else(|| StoreError::NotFound(run.id.to_string()))?;
    let last = take_event_seqs(conn, run.seq, before, events)?;
    insert_events(conn, run.seq, last, events, at_us)?;
    log_position(run.id, last)
}

/// Writes `events` of the run `run_seq` with the sequence numbers that end at `last`, which
/// the caller took from the run's `last_event_seq`. A statement writes up to
/// [`EVENTS_PER_INSERT`] of them: a tool turn's reply logs about five events, and one statement
/// for all costs less than one each.
fn insert_events(
    conn: &Connection,
    run_seq: i64,
    last: i64,
    events: &[RunEvent],
    at_us: i64,
) -> Result<(), StoreError> {
    let mut seq = last - event_count(events) + 1;
    for some in events.chunks(EVENTS_PER_INSERT) {
        let mut stmt = conn
            .prepare_cached(&INSERT_EVENTS[some.len() - 1])
            .map_err(from_sqlite)?;
        for (row, event) in some.iter().enumerate() {
            let body = to_json("event", event)?;
            let columns: [&dyn rusqlite::ToSql; 4] = [&run_seq, &seq, &at_us, &body];
            for (column, value) in columns.iter().enumerate() {
                stmt.raw_bind_parameter(columns.len() * row + column + 1, value)
                    .map_err(from_sqlite)?;
            }
            seq += 1;
        }
        stmt.raw_execute().map_err(from_sqlite)?;
    }
    Ok(())
}

/// The most events one `INSERT` writes.
const EVENTS_PER_INSERT: usize = 8;

/// `INSERT_EVENTS[n - 1]` writes `n` events.
static INSERT_EVENTS: LazyLock<Vec<String>> = LazyLock::new(|| {
    (1..=EVENTS_PER_INSERT)
        .map(|rows| {
            let values = vec!["(?, ?, ?, ?)"; rows].join(", ");
            format!("INSERT INTO events (run_seq, seq, at, body) VALUES {values}")
        })
        .collect()
});

/// How many sequence numbers `events` take.
fn event_count(events: &[RunEvent]) -> i64 {
    i64::try_from(events.len()).unwrap_or(i64::MAX)
}

/// An event sequence number as stored, as the API gives it.
fn log_position(run: &RunId, seq: i64) -> Result<u64, StoreError> {
    u64::try_from(seq)
        .map_err(|_| StoreError::Corrupt(format!("run {run} has a negative event sequence")))
}

/// Why a lease no longer holds: the run is gone, or someone else holds it.
fn not_held(conn: &Connection, run: &RunId) -> Result<StoreError, StoreError> {
    let exists = conn
        .prepare_cached("SELECT 1 FROM runs WHERE id = ?1")
        .and_then(|mut stmt| stmt.exists([run.as_str()]))
        .map_err(from_sqlite)?;
    Ok(if exists {
        StoreError::LeaseLost
    } else {
        StoreError::NotFound(run.to_string())
    })
}

/// Asks a run to stop. A queued run, or a running one whose worker is gone (expired lease),
/// is cancelled at once; a running run becomes `cancelling` (its worker stops it and finishes it
/// as cancelled); a final or already-cancelling run is left as it is.
pub(crate) fn cancel_run(conn: &Connection, id: &RunId) -> WriteResult<RunRecord> {
    let now_us = micros(now());
    let row: Option<(i64, String, Option<i64>)> = conn
        .prepare_cached("SELECT seq, status, lease_expires_at FROM runs WHERE id = ?1")
        .and_then(|mut stmt| {
            stmt.query_row([id.as_str()], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .optional()
        })
        .map_err(from_sqlite)?;
    let Some((seq, status, lease_expires_at)) = row else {
        return Err(StoreError::NotFound(id.as_str().to_owned()));
    };
    let status = RunStatus::parse(&status)
        .ok_or_else(|| StoreError::Corrupt(format!("run {id} has status '{status}'")))?;
    let worker_gone = lease_expires_at.is_none_or(|at| at < now_us);
    let next = match status {
        RunStatus::Queued => Some(RunStatus::Cancelled),
        RunStatus::Running if worker_gone => Some(RunStatus::Cancelled),
        RunStatus::Running => Some(RunStatus::Cancelling),
        _ => None,
    };
    let mut notices = Vec::new();
    if let Some(next) = next {
        notices = set_cancel_status(conn, RunKey { seq, id }, status, next, now_us)?;
    }
    let record = conn
        .prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE seq = ?1"))
        .and_then(|mut stmt| stmt.query_row([seq], run_from_row))
        .map_err(from_sqlite)??;
    Ok((record, notices))
}

/// Cancels runs left `cancelling` by a worker that died (its lease expired).
pub(crate) fn sweep_abandoned_cancellations(
    conn: &Connection,
    now_us: i64,
) -> Result<Vec<Notice>, StoreError> {
    let runs: Vec<(i64, String)> = conn
        .prepare_cached(
            "SELECT seq, id FROM runs WHERE status = 'cancelling' AND lease_expires_at < ?1 \
             LIMIT 64",
        )
        .and_then(|mut stmt| {
            stmt.query_map([now_us], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(from_sqlite)?;
    let mut notices = Vec::new();
    for (seq, id) in runs {
        let id = RunId::parse(&id).ok_or_else(|| StoreError::Corrupt(format!("run id '{id}'")))?;
        notices.extend(set_cancel_status(
            conn,
            RunKey { seq, id: &id },
            RunStatus::Cancelling,
            RunStatus::Cancelled,
            now_us,
        )?);
    }
    Ok(notices)
}

fn set_cancel_status(
    conn: &Connection,
    run: RunKey<'_>,
    previous: RunStatus,
    next: RunStatus,
    now_us: i64,
) -> Result<Vec<Notice>, StoreError> {
    let sql = if next == RunStatus::Cancelled {
        "UPDATE runs SET status = ?2, modified_at = ?3, lease_token = NULL, lease_worker = NULL, \
         lease_expires_at = NULL WHERE seq = ?1"
    } else {
        "UPDATE runs SET status = ?2, modified_at = ?3 WHERE seq = ?1"
    };
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.execute(params![run.seq, next.as_str(), now_us]))
        .map_err(from_sqlite)?;
    let seq = append(conn, run, &[RunEvent::Status { status: next }], now_us)?;
    let mut notices = vec![
        Notice::RunChanged {
            run_id: run.id.clone(),
            status: next,
        },
        Notice::EventsAppended {
            run_id: run.id.clone(),
            seq,
        },
    ];
    notices.extend(status_changed(conn, run, Some(previous), next, now_us)?);
    Ok(notices)
}

/// The group's part of what follows a run's status change, for a caller that knows the run's
/// group (`group_seq`, none for a run outside groups): the group's counts and event log.
fn member_status_changed(
    conn: &Connection,
    run_seq: i64,
    group_seq: Option<i64>,
    previous: Option<RunStatus>,
    next: RunStatus,
    at_us: i64,
) -> Result<Vec<Notice>, StoreError> {
    match group_seq {
        Some(group_seq) if previous != Some(next) => Ok(vec![super::groups::member_changed(
            conn, group_seq, run_seq, previous, next, at_us,
        )?]),
        _ => Ok(Vec::new()),
    }
}

/// Moves a run of `owner` in the counts admission weighs (`active_run_counts`, read by
/// `reads::admission_counts`): out of `previous` and into `next`, each where it is unfinished.
/// Every write that creates a run or changes its status calls this in the same transaction.
fn move_active_count(
    conn: &Connection,
    owner: &str,
    previous: Option<RunStatus>,
    next: RunStatus,
) -> Result<(), StoreError> {
    if previous == Some(next) {
        return Ok(());
    }
    if let Some(previous) = previous.filter(|s| s.is_active()) {
        conn.prepare_cached(
            "UPDATE active_run_counts SET runs = runs - 1 WHERE owner = ?1 AND status = ?2",
        )
        .and_then(|mut stmt| stmt.execute(params![owner, previous.as_str()]))
        .map_err(from_sqlite)?;
    }
    if next.is_active() {
        conn.prepare_cached(
            "INSERT INTO active_run_counts (owner, status, runs) VALUES (?1, ?2, 1) \
             ON CONFLICT (owner, status) DO UPDATE SET runs = runs + 1",
        )
        .and_then(|mut stmt| stmt.execute(params![owner, next.as_str()]))
        .map_err(from_sqlite)?;
    }
    Ok(())
}

/// What follows a run's status change in the same transaction: the counts admission weighs, its
/// group's counts and event log (for a member run), and its webhook delivery (for a run that
/// ended and has a webhook).
fn status_changed(
    conn: &Connection,
    run: RunKey<'_>,
    previous: Option<RunStatus>,
    next: RunStatus,
    at_us: i64,
) -> Result<Vec<Notice>, StoreError> {
    if previous == Some(next) {
        return Ok(Vec::new());
    }
    let run_seq = run.seq;
    let (group_seq, webhook_url, owner): (Option<i64>, Option<String>, String) = conn
        .prepare_cached("SELECT group_seq, webhook_url, owner FROM runs WHERE seq = ?1")
        .and_then(|mut stmt| {
            stmt.query_row([run_seq], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        })
        .map_err(from_sqlite)?;
    move_active_count(conn, &owner, previous, next)?;
    let mut notices = member_status_changed(conn, run_seq, group_seq, previous, next, at_us)?;
    if next.is_final() {
        // A final run never resumes: its checkpoint has served.
        for sql in [
            "DELETE FROM run_checkpoints WHERE run_seq = ?1",
            "DELETE FROM run_checkpoint_batches WHERE run_seq = ?1",
        ] {
            conn.prepare_cached(sql)
                .and_then(|mut stmt| stmt.execute([run_seq]))
                .map_err(from_sqlite)?;
        }
    }
    if next.is_final()
        && let Some(url) = webhook_url
    {
        super::deliveries::enqueue(conn, run_seq, &owner, &url, at_us)?;
        notices.push(Notice::DeliveryQueued);
    }
    Ok(notices)
}
