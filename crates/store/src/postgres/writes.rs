//! The write commands, each inside the caller's transaction. They lock the run row they change
//! (`FOR UPDATE`, or an `UPDATE`), so event sequence numbers stay consecutive and a lease is
//! checked and used atomically; queue candidates are taken with `FOR UPDATE SKIP LOCKED`.

use forage_api::{ProgressKind, RunEvent, RunId, RunStatus, Warning};

use super::codec::{RUN_COLUMNS, from_json, int, now_us, run_from_row, run_id, to_json, uint};
use super::errors::from_pg;
use crate::leased::{LeasedRow, StoredCheckpoint};
use crate::outcome::PreparedOutcome;
use crate::{AdmissionCounts, CheckpointPart, Lease, Notice, RunCaps, RunRecord, StoreError};

type Tx<'a> = deadpool_postgres::Transaction<'a>;

/// A command's value and the notices to send once it commits.
pub(crate) type Written<T> = Result<(T, Vec<Notice>), StoreError>;

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

async fn exec(
    tx: &Tx<'_>,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<u64, StoreError> {
    let stmt = tx.prepare_cached(sql).await.map_err(from_pg)?;
    tx.execute(&stmt, params).await.map_err(from_pg)
}

async fn query_opt(
    tx: &Tx<'_>,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Option<tokio_postgres::Row>, StoreError> {
    let stmt = tx.prepare_cached(sql).await.map_err(from_pg)?;
    tx.query_opt(&stmt, params).await.map_err(from_pg)
}

async fn record(tx: &Tx<'_>, id: &str) -> Result<RunRecord, StoreError> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1");
    let row = query_opt(tx, &sql, &[&id])
        .await?
        .ok_or_else(|| StoreError::NotFound(id.to_owned()))?;
    run_from_row(&row)
}

pub(crate) async fn create_run(tx: &Tx<'_>, run: PreparedRun, caps: RunCaps) -> Written<RunRecord> {
    admit(tx, &run.record.owner, caps, 1).await?;
    insert_run(tx, run).await
}

/// Refuses, before anything is written, `adding` runs of `owner` that would go past `caps`.
///
/// The count sees what was committed when it ran: creates committing at the same moment on
/// other connections are not in it, so together they may pass a cap by a few runs. Making them
/// take turns (an advisory lock held to commit) would make them exact, at the price of one
/// commit at a time: a quarter of PostgreSQL's create throughput in `bench-throughput`.
pub(crate) async fn admit(
    tx: &Tx<'_>,
    owner: &str,
    caps: RunCaps,
    adding: u64,
) -> Result<(), StoreError> {
    if caps.is_none() {
        return Ok(());
    }
    let stmt = tx
        .prepare_cached(
            "SELECT \
               (SELECT COUNT(*) FROM runs WHERE owner = $1 \
                  AND status IN ('queued', 'running', 'cancelling')), \
               (SELECT COUNT(*) FROM runs WHERE status = 'queued')",
        )
        .await
        .map_err(from_pg)?;
    let row = tx.query_one(&stmt, &[&owner]).await.map_err(from_pg)?;
    let counts = AdmissionCounts {
        owner_active: uint("active count", row.try_get(0).map_err(from_pg)?)?,
        queued: uint("queued count", row.try_get(1).map_err(from_pg)?)?,
    };
    caps.admit(counts, adding).map_err(StoreError::CapReached)
}

/// Inserts a queued run (a group member when `record.taskgroup_id` is set), with its request
/// and first event; the group's counts and log follow.
pub(crate) async fn insert_run(tx: &Tx<'_>, run: PreparedRun) -> Written<RunRecord> {
    let record = run.record;
    let id = record.id.as_str();
    let at = record.created_at.timestamp_micros();
    let inserted = exec(
        tx,
        "INSERT INTO runs (id, interaction_id, owner, processor, status, created_at, modified_at, \
         metadata, warnings, attempts, taskgroup_id, webhook_url) \
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, 0, $9, $10) ON CONFLICT (id) DO NOTHING",
        &[
            &id,
            &record.interaction_id.as_str(),
            &record.owner,
            &record.processor,
            &record.status.as_str(),
            &at,
            &run.metadata,
            &run.warnings,
            &record.taskgroup_id,
            &run.webhook_url,
        ],
    )
    .await?;
    if inserted == 0 {
        return Err(StoreError::Duplicate(id.to_owned()));
    }
    exec(
        tx,
        "INSERT INTO run_requests (run_id, request, secrets_sealed) VALUES ($1, $2, $3)",
        &[&id, &run.request, &run.secrets_sealed],
    )
    .await?;
    let seq = append(
        tx,
        &record.id,
        &[RunEvent::Status {
            status: RunStatus::Queued,
        }],
        at,
    )
    .await?;
    let mut notices = vec![
        Notice::RunQueued,
        Notice::EventsAppended {
            run_id: record.id.clone(),
            seq,
        },
    ];
    notices.extend(status_changed(tx, &record.id, None, RunStatus::Queued, at).await?);
    Ok((record, notices))
}

/// The oldest queued run, or running run whose lease expired, leased to `worker`.
pub(crate) async fn lease_next(
    tx: &Tx<'_>,
    worker: &str,
    lease_for_us: i64,
) -> Written<Option<LeasedRow>> {
    let now = now_us();
    let mut notices = sweep_abandoned_cancellations(tx, now).await?;
    let candidate = query_opt(
        tx,
        "SELECT seq, id, status, lease_worker FROM runs \
         WHERE status = 'queued' OR (status = 'running' AND lease_expires_at < $1) \
         ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED",
        &[&now],
    )
    .await?;
    let Some(row) = candidate else {
        return Ok((None, notices));
    };
    let seq: i64 = row.try_get(0).map_err(from_pg)?;
    let id: String = row.try_get(1).map_err(from_pg)?;
    let resumed = row.try_get::<_, String>(2).map_err(from_pg)? == "running";
    let previous_worker: Option<String> = row.try_get(3).map_err(from_pg)?;
    let run_id = run_id(&id)?;
    let token = uuid::Uuid::new_v4().simple().to_string();
    exec(
        tx,
        "UPDATE runs SET status = 'running', attempts = attempts + 1, lease_token = $2, \
         lease_worker = $3, lease_expires_at = $4, modified_at = $5 WHERE seq = $1",
        &[
            &seq,
            &token,
            &worker,
            &now.saturating_add(lease_for_us),
            &now,
        ],
    )
    .await?;
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
    let last = append(tx, &run_id, &[event], now).await?;
    let sql = format!(
        "SELECT {RUN_COLUMNS}, q.request, q.secrets_sealed FROM runs \
         JOIN run_requests q ON q.run_id = runs.id WHERE runs.seq = $1"
    );
    let row = query_opt(tx, &sql, &[&seq])
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("run {run_id} has no stored request")))?;
    let record = run_from_row(&row)?;
    if !resumed {
        notices.push(Notice::RunChanged {
            run_id: run_id.clone(),
            status: RunStatus::Running,
        });
        notices.extend(
            status_changed(
                tx,
                &run_id,
                Some(RunStatus::Queued),
                RunStatus::Running,
                now,
            )
            .await?,
        );
    }
    notices.push(Notice::EventsAppended {
        run_id: run_id.clone(),
        seq: last,
    });
    let checkpoint = query_opt(
        tx,
        "SELECT version, state, batch FROM run_checkpoints WHERE run_id = $1",
        &[&run_id.as_str()],
    )
    .await?
    .map(|row| {
        Ok::<_, StoreError>(StoredCheckpoint {
            version: row.try_get(0).map_err(from_pg)?,
            state: row.try_get(1).map_err(from_pg)?,
            batch: row.try_get(2).map_err(from_pg)?,
        })
    })
    .transpose()?;
    let leased = LeasedRow {
        lease: Lease { run_id, token },
        record,
        request: row.try_get(15).map_err(from_pg)?,
        secrets_sealed: row.try_get(16).map_err(from_pg)?,
        checkpoint,
    };
    Ok((Some(leased), notices))
}

pub(crate) async fn expire_leases(tx: &Tx<'_>) -> Written<u64> {
    let changed = exec(
        tx,
        "UPDATE runs SET lease_expires_at = 0 \
         WHERE status IN ('running', 'cancelling') AND lease_expires_at IS NOT NULL",
        &[],
    )
    .await?;
    let notices = if changed > 0 {
        vec![Notice::RunQueued]
    } else {
        Vec::new()
    };
    Ok((changed, notices))
}

pub(crate) async fn release(tx: &Tx<'_>, lease: &Lease) -> Written<()> {
    let now = now_us();
    let changed = exec(
        tx,
        "UPDATE runs SET status = 'queued', lease_token = NULL, lease_worker = NULL, \
         lease_expires_at = NULL, modified_at = $3 \
         WHERE id = $1 AND lease_token = $2 AND status = 'running'",
        &[&lease.run_id.as_str(), &lease.token, &now],
    )
    .await?;
    if changed == 0 {
        return Err(not_held(tx, &lease.run_id).await?);
    }
    let seq = append(
        tx,
        &lease.run_id,
        &[RunEvent::Status {
            status: RunStatus::Queued,
        }],
        now,
    )
    .await?;
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
    notices.extend(
        status_changed(
            tx,
            &lease.run_id,
            Some(RunStatus::Running),
            RunStatus::Queued,
            now,
        )
        .await?,
    );
    Ok(((), notices))
}

pub(crate) async fn finish(
    tx: &Tx<'_>,
    lease: &Lease,
    outcome: PreparedOutcome,
) -> Written<RunRecord> {
    let id = lease.run_id.as_str();
    let held = query_opt(
        tx,
        "SELECT warnings, lease_token, status FROM runs WHERE id = $1 FOR UPDATE",
        &[&id],
    )
    .await?;
    let Some(held) = held else {
        return Err(StoreError::NotFound(id.to_owned()));
    };
    let warnings: String = held.try_get(0).map_err(from_pg)?;
    let token: Option<String> = held.try_get(1).map_err(from_pg)?;
    let previous: String = held.try_get(2).map_err(from_pg)?;
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
    let now = now_us();
    exec(
        tx,
        "UPDATE runs SET status = $2, error = $3, warnings = $4, input_tokens = $5, \
         output_tokens = $6, llm_calls = $7, modified_at = $8, lease_token = NULL, \
         lease_worker = NULL, lease_expires_at = NULL WHERE id = $1",
        &[
            &id,
            &outcome.status.as_str(),
            &outcome.error,
            &warnings,
            &int(outcome.usage.input_tokens),
            &int(outcome.usage.output_tokens),
            &int(outcome.usage.llm_calls),
            &now,
        ],
    )
    .await?;
    if let Some((output, transcript)) = &outcome.output {
        exec(
            tx,
            "INSERT INTO run_outputs (run_id, output, transcript) VALUES ($1, $2, $3) \
             ON CONFLICT (run_id) DO UPDATE SET output = EXCLUDED.output, \
             transcript = EXCLUDED.transcript",
            &[&id, output, transcript],
        )
        .await?;
    }
    let seq = append(tx, &lease.run_id, &outcome.closing_events(), now).await?;
    let record = record(tx, id).await?;
    let mut notices = vec![
        Notice::RunChanged {
            run_id: lease.run_id.clone(),
            status: outcome.status,
        },
        Notice::EventsAppended {
            run_id: lease.run_id.clone(),
            seq,
        },
    ];
    notices.extend(
        status_changed(
            tx,
            &lease.run_id,
            RunStatus::parse(&previous),
            outcome.status,
            now,
        )
        .await?,
    );
    Ok((record, notices))
}

/// Saves a leased run's checkpoint (unless a newer one is stored) and appends its events.
pub(crate) async fn save_checkpoint(
    tx: &Tx<'_>,
    lease: &Lease,
    version: i64,
    part: &CheckpointPart,
    events: &[RunEvent],
) -> Written<u64> {
    let id = lease.run_id.as_str();
    let held = query_opt(
        tx,
        "SELECT lease_token FROM runs WHERE id = $1 FOR UPDATE",
        &[&id],
    )
    .await?;
    let Some(held) = held else {
        return Err(StoreError::NotFound(id.to_owned()));
    };
    let token: Option<String> = held.try_get(0).map_err(from_pg)?;
    if token.as_deref() != Some(lease.token.as_str()) {
        return Err(StoreError::LeaseLost);
    }
    let (sql, text) = match part {
        CheckpointPart::State(state) => (
            "INSERT INTO run_checkpoints (run_id, version, state) VALUES ($1, $2, $3) \
             ON CONFLICT (run_id) DO UPDATE \
             SET version = excluded.version, state = excluded.state, batch = NULL \
             WHERE excluded.version > run_checkpoints.version",
            state.get(),
        ),
        CheckpointPart::Batch(batch) => (
            "UPDATE run_checkpoints SET version = $2, batch = $3 \
             WHERE run_id = $1 AND version < $2",
            batch.get(),
        ),
    };
    exec(tx, sql, &[&id, &version, &text]).await?;
    append_events(tx, &lease.run_id, events).await
}

pub(crate) async fn append_events(tx: &Tx<'_>, run: &RunId, events: &[RunEvent]) -> Written<u64> {
    let seq = append(tx, run, events, now_us()).await?;
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
/// The `UPDATE` locks the run row until commit, so concurrent appends take turns.
async fn append(
    tx: &Tx<'_>,
    run: &RunId,
    events: &[RunEvent],
    at_us: i64,
) -> Result<u64, StoreError> {
    let count = i64::try_from(events.len()).unwrap_or(i64::MAX);
    let row = query_opt(
        tx,
        "UPDATE runs SET last_event_seq = last_event_seq + $2 WHERE id = $1 RETURNING last_event_seq",
        &[&run.as_str(), &count],
    )
    .await?
    .ok_or_else(|| StoreError::NotFound(run.to_string()))?;
    let last: i64 = row.try_get(0).map_err(from_pg)?;
    if count > 0 {
        let seqs: Vec<i64> = (last - count + 1..=last).collect();
        let bodies = events
            .iter()
            .map(|event| to_json("event", event))
            .collect::<Result<Vec<_>, _>>()?;
        exec(
            tx,
            "INSERT INTO events (run_id, seq, at, body) \
             SELECT $1, s, $3, b FROM unnest($2::BIGINT[], $4::TEXT[]) AS t (s, b)",
            &[&run.as_str(), &seqs, &at_us, &bodies],
        )
        .await?;
    }
    uint("event sequence", last)
}

/// Why a lease no longer holds: the run is gone, or someone else holds it.
async fn not_held(tx: &Tx<'_>, run: &RunId) -> Result<StoreError, StoreError> {
    let exists = query_opt(tx, "SELECT 1 FROM runs WHERE id = $1", &[&run.as_str()]).await?;
    Ok(if exists.is_some() {
        StoreError::LeaseLost
    } else {
        StoreError::NotFound(run.to_string())
    })
}

/// Asks a run to stop. A queued run, or a running one whose worker is gone (expired lease),
/// is cancelled at once; a running run becomes `cancelling` (its worker stops it and finishes it
/// as cancelled); a final or already-cancelling run is left as it is.
pub(crate) async fn cancel_run(tx: &Tx<'_>, id: &RunId) -> Written<RunRecord> {
    let now = now_us();
    let row = query_opt(
        tx,
        "SELECT status, lease_expires_at FROM runs WHERE id = $1 FOR UPDATE",
        &[&id.as_str()],
    )
    .await?
    .ok_or_else(|| StoreError::NotFound(id.as_str().to_owned()))?;
    let status: String = row.try_get(0).map_err(from_pg)?;
    let lease_expires_at: Option<i64> = row.try_get(1).map_err(from_pg)?;
    let status = RunStatus::parse(&status)
        .ok_or_else(|| StoreError::Corrupt(format!("run {id} has status '{status}'")))?;
    let worker_gone = lease_expires_at.is_none_or(|at| at < now);
    let next = match status {
        RunStatus::Queued => Some(RunStatus::Cancelled),
        RunStatus::Running if worker_gone => Some(RunStatus::Cancelled),
        RunStatus::Running => Some(RunStatus::Cancelling),
        _ => None,
    };
    let mut notices = Vec::new();
    if let Some(next) = next {
        notices = set_cancel_status(tx, id, status, next, now).await?;
    }
    Ok((record(tx, id.as_str()).await?, notices))
}

/// Cancels runs left `cancelling` by a worker that died (its lease expired).
async fn sweep_abandoned_cancellations(tx: &Tx<'_>, now: i64) -> Result<Vec<Notice>, StoreError> {
    let stmt = tx
        .prepare_cached(
            "SELECT id FROM runs WHERE status = 'cancelling' AND lease_expires_at < $1 \
             LIMIT 64 FOR UPDATE SKIP LOCKED",
        )
        .await
        .map_err(from_pg)?;
    let rows = tx.query(&stmt, &[&now]).await.map_err(from_pg)?;
    let mut notices = Vec::new();
    for row in rows {
        let id = run_id(&row.try_get::<_, String>(0).map_err(from_pg)?)?;
        notices.extend(
            set_cancel_status(tx, &id, RunStatus::Cancelling, RunStatus::Cancelled, now).await?,
        );
    }
    Ok(notices)
}

async fn set_cancel_status(
    tx: &Tx<'_>,
    id: &RunId,
    previous: RunStatus,
    next: RunStatus,
    now: i64,
) -> Result<Vec<Notice>, StoreError> {
    let sql = if next == RunStatus::Cancelled {
        "UPDATE runs SET status = $2, modified_at = $3, lease_token = NULL, lease_worker = NULL, \
         lease_expires_at = NULL WHERE id = $1"
    } else {
        "UPDATE runs SET status = $2, modified_at = $3 WHERE id = $1"
    };
    exec(tx, sql, &[&id.as_str(), &next.as_str(), &now]).await?;
    let seq = append(tx, id, &[RunEvent::Status { status: next }], now).await?;
    let mut notices = vec![
        Notice::RunChanged {
            run_id: id.clone(),
            status: next,
        },
        Notice::EventsAppended {
            run_id: id.clone(),
            seq,
        },
    ];
    notices.extend(status_changed(tx, id, Some(previous), next, now).await?);
    Ok(notices)
}

/// What follows a run's status change in the same transaction: its group's counts and event
/// log (for a member run), and its webhook delivery (for a run that ended and has a webhook).
async fn status_changed(
    tx: &Tx<'_>,
    run: &RunId,
    previous: Option<RunStatus>,
    next: RunStatus,
    at_us: i64,
) -> Result<Vec<Notice>, StoreError> {
    if previous == Some(next) {
        return Ok(Vec::new());
    }
    let row = query_opt(
        tx,
        "SELECT taskgroup_id, webhook_url, owner FROM runs WHERE id = $1",
        &[&run.as_str()],
    )
    .await?
    .ok_or_else(|| StoreError::NotFound(run.to_string()))?;
    let group: Option<String> = row.try_get(0).map_err(from_pg)?;
    let webhook_url: Option<String> = row.try_get(1).map_err(from_pg)?;
    let owner: String = row.try_get(2).map_err(from_pg)?;
    let mut notices = Vec::new();
    if let Some(group) = group {
        let seq = super::groups::member_changed(tx, &group, run, previous, next, at_us).await?;
        notices.push(Notice::GroupChanged {
            group_id: group,
            seq,
        });
    }
    if next.is_final() {
        // A final run never resumes: its checkpoint has served.
        exec(
            tx,
            "DELETE FROM run_checkpoints WHERE run_id = $1",
            &[&run.as_str()],
        )
        .await?;
    }
    if next.is_final()
        && let Some(url) = webhook_url
    {
        super::deliveries::enqueue(tx, run, &owner, &url, at_us).await?;
        notices.push(Notice::DeliveryQueued);
    }
    Ok(notices)
}
