//! Task groups: create, look up on behalf of the owner, add runs (each validated like a create,
//! queued in one store transaction), and the two group streams (`/events`: group status and
//! member state changes, live; `/runs`: the members' current state, once).

use std::sync::Arc;
use std::time::Duration;

use forage_api::validate::{parse_json_body, validate_create};
use forage_api::{
    ApiError, InteractionId, RunId, RunStatus, TaskGroup, TaskGroupCreate, TaskGroupRunCreate,
    TaskGroupRunResponse, TaskGroupStatus, TaskRunCreate,
};
use forage_store::{GroupRecord, GroupRunsQuery, NewGroup, NewRun, Notice, Store, StoreError};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::auth::Owner;
use crate::error::AppError;
use crate::event_frames::{Frame, error_frame, run_at_status, state_frame};
use crate::state::AppState;

/// Frames buffered ahead of a slow client.
const BUFFER: usize = 64;
/// Entries read from the store at once.
const PAGE: usize = 200;
/// Longest a group events stream stays open (Parallel: up to an hour while runs are active).
pub const MAX_GROUP_STREAM: Duration = Duration::from_secs(3600);

pub fn group_not_found() -> ApiError {
    ApiError::not_found("TaskGroup not found")
}

pub fn to_task_group(group: &GroupRecord) -> TaskGroup {
    TaskGroup {
        taskgroup_id: group.id.clone(),
        status: to_status(group),
        created_at: group.created_at,
        metadata: group.metadata.clone(),
    }
}

pub fn to_status(group: &GroupRecord) -> TaskGroupStatus {
    TaskGroupStatus {
        num_task_runs: group.num_runs,
        task_run_status_counts: group.status_counts.clone(),
        is_active: group.is_active(),
        status_message: None,
        modified_at: group.modified_at,
    }
}

pub async fn create_group(
    state: &AppState,
    owner: &Owner,
    body: &[u8],
) -> Result<TaskGroup, AppError> {
    let request: TaskGroupCreate = if body.iter().all(u8::is_ascii_whitespace) {
        TaskGroupCreate::default()
    } else {
        parse_json_body(body, &state.limits)?
    };
    if let Some(metadata) = &request.metadata {
        let probe = json!({"input": "x", "processor": "lite", "metadata": metadata});
        let probe: TaskRunCreate = serde_json::from_value(probe)
            .map_err(|e| ApiError::new(422, format!("Unprocessable content: metadata: {e}")))?;
        validate_create(probe, &state.limits, &state.unsupported)?;
    }
    let group = state
        .store
        .create_group(NewGroup {
            id: format!("tgrp_{}", uuid::Uuid::new_v4().simple()),
            owner: owner.0.clone(),
            metadata: request.metadata,
            created_at: chrono::Utc::now(),
        })
        .await?;
    tracing::info!(taskgroup_id = %group.id, "task group created");
    Ok(to_task_group(&group))
}

/// The group, if `owner` owns it; else 404 "TaskGroup not found".
pub async fn owned_group(
    store: &dyn Store,
    owner: &Owner,
    id: &str,
) -> Result<GroupRecord, AppError> {
    match store.get_group(id).await? {
        Some(group) if group.owner == owner.0 => Ok(group),
        _ => Err(group_not_found().into()),
    }
}

/// Validates every input (with `default_task_spec` where it has none) and queues them all.
pub async fn add_runs(
    state: &AppState,
    owner: &Owner,
    id: &str,
    body: &[u8],
) -> Result<TaskGroupRunResponse, AppError> {
    let before = owned_group(state.store.as_ref(), owner, id).await?;
    let request: TaskGroupRunCreate = parse_json_body(body, &state.limits)?;
    if request.inputs.is_empty() || request.inputs.len() > forage_api::group::MAX_RUNS_PER_REQUEST {
        return Err(validation(vec![item_error(
            json!(["body", "inputs"]),
            format!(
                "must hold 1 to {} runs, got {}",
                forage_api::group::MAX_RUNS_PER_REQUEST,
                request.inputs.len()
            ),
        )])
        .into());
    }
    let default_spec = request
        .default_task_spec
        .as_ref()
        .map(serde_json::to_value)
        .transpose()
        .map_err(|e| ApiError::internal(format!("Internal error: {e}")))?;
    let mut runs = Vec::with_capacity(request.inputs.len());
    let mut errors = Vec::new();
    let now = chrono::Utc::now();
    for (index, mut input) in request.inputs.into_iter().enumerate() {
        if let (Some(spec), Value::Object(fields)) = (&default_spec, &mut input)
            && fields.get("task_spec").is_none_or(Value::is_null)
        {
            fields.insert("task_spec".into(), spec.clone());
        }
        let validated = serde_json::from_value::<TaskRunCreate>(input)
            .map_err(|e| ApiError::new(422, e.to_string()))
            .and_then(|r| validate_create(r, &state.limits, &state.unsupported));
        match validated {
            Ok(valid) if valid.request.previous_interaction_id.is_some() => {
                errors.push(item_error(
                    json!(["body", "inputs", index, "previous_interaction_id"]),
                    "is not supported on runs added to a group".into(),
                ));
            }
            Ok(valid) => {
                let run_id = RunId::generate();
                runs.push(NewRun {
                    interaction_id: InteractionId::for_run(&run_id),
                    id: run_id,
                    owner: owner.0.clone(),
                    processor: valid.processor,
                    request: valid.request,
                    warnings: valid.warnings,
                    created_at: now,
                });
            }
            Err(err) => errors.push(item_error(json!(["body", "inputs", index]), err.message)),
        }
    }
    if !errors.is_empty() {
        return Err(validation(errors).into());
    }
    let run_ids: Vec<String> = runs.iter().map(|r| r.id.to_string()).collect();
    let group = state
        .store
        .add_group_runs(id, runs, state.admission.run_caps())
        .await?;
    tracing::info!(taskgroup_id = %id, added = run_ids.len(), "runs added to task group");
    Ok(TaskGroupRunResponse {
        run_ids,
        status: to_status(&group),
        event_cursor: (before.last_event_seq > 0).then(|| before.last_event_seq.to_string()),
        run_cursor: None,
    })
}

fn item_error(loc: Value, msg: String) -> Value {
    json!({"loc": loc, "msg": msg, "type": "value_error"})
}

/// 422 with FastAPI's `detail` list (inside Parallel's error shape).
fn validation(errors: Vec<Value>) -> ApiError {
    let first = errors
        .first()
        .and_then(|e| {
            Some(format!(
                "{}: {}",
                e["loc"]
                    .as_array()?
                    .iter()
                    .map(|v| v.to_string().trim_matches('"').to_owned())
                    .collect::<Vec<_>>()
                    .join("."),
                e["msg"].as_str()?
            ))
        })
        .unwrap_or_default();
    ApiError::new(
        422,
        format!(
            "Unprocessable content: request validation error ({} invalid; first: {first})",
            errors.len()
        ),
    )
    .with_detail(json!({ "detail": errors }))
}

/// Parses a `last_event_id` cursor (empty: from the start).
pub fn parse_cursor(text: Option<&str>) -> Result<u64, ApiError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(0),
        Some(t) => t.parse().map_err(|_| {
            ApiError::new(
                422,
                format!("Unprocessable content: query parameter last_event_id: '{t}' is not a cursor forage issued"),
            )
            .with_detail(json!({"detail": [{"loc": ["query", "last_event_id"], "msg": "not a cursor", "type": "value_error"}]}))
        }),
    }
}

fn with_event_id(mut frame: Frame, id: u64) -> Frame {
    frame.data["event_id"] = Value::String(id.to_string());
    frame.id = Some(id);
    frame
}

fn status_frame(group: &GroupRecord) -> Frame {
    Frame {
        id: Some(group.last_event_seq),
        kind: "task_group_status".into(),
        data: json!({
            "type": "task_group_status",
            "event_id": group.last_event_seq.to_string(),
            "status": to_status(group),
        }),
    }
}

/// `/events`: the group's status, each member state change after `after`, live until the
/// group is no longer active (or `timeout`), then the final status.
pub fn spawn_events(
    store: Arc<dyn Store>,
    group: GroupRecord,
    after: u64,
    timeout: Duration,
    closing: CancellationToken,
) -> mpsc::Receiver<Frame> {
    let (tx, rx) = mpsc::channel(BUFFER);
    tokio::spawn(async move {
        let id = group.id.clone();
        if let Err(err) = group_events(store, group, after, timeout, &tx, &closing).await {
            tracing::error!(taskgroup_id = %id, error = %err, "group event stream failed");
            let _ = tx
                .send(error_frame(
                    "Internal error: could not read the group's events",
                ))
                .await;
        }
    });
    rx
}

async fn group_events(
    store: Arc<dyn Store>,
    group: GroupRecord,
    mut cursor: u64,
    timeout: Duration,
    tx: &mpsc::Sender<Frame>,
    closing: &CancellationToken,
) -> Result<(), StoreError> {
    let deadline = Instant::now() + timeout.min(MAX_GROUP_STREAM);
    let mut notices = store.notices();
    if tx.send(status_frame(&group)).await.is_err() {
        return Ok(());
    }
    loop {
        loop {
            let page = store.group_events_after(&group.id, cursor, PAGE).await?;
            let full = page.len() == PAGE;
            for event in page {
                cursor = event.seq;
                let Some(run) = store.get_run(&event.run_id).await? else {
                    continue;
                };
                let output = if event.status == RunStatus::Completed {
                    store.get_output(&event.run_id).await?
                } else {
                    None
                };
                let at = if event.status == run.status {
                    run.modified_at
                } else {
                    event.at
                };
                let shown = run_at_status(&run.to_task_run(), event.status, at);
                let frame = with_event_id(state_frame(None, &shown, output.as_ref()), event.seq);
                if tx.send(frame).await.is_err() {
                    return Ok(());
                }
            }
            if !full {
                break;
            }
        }
        let current = store.get_group(&group.id).await?.unwrap_or(group.clone());
        if !current.is_active() && cursor >= current.last_event_seq {
            let _ = tx.send(status_frame(&current)).await;
            return Ok(());
        }
        if current.last_event_seq > cursor {
            continue;
        }
        tokio::select! {
            _ = group_changed(&mut notices, &group.id) => {}
            _ = tx.closed() => return Ok(()),
            _ = closing.cancelled() => return Ok(()),
            _ = tokio::time::sleep_until(deadline) => {
                let _ = tx.send(status_frame(&current)).await;
                return Ok(());
            }
        }
    }
}

async fn group_changed(notices: &mut tokio::sync::broadcast::Receiver<Notice>, id: &str) {
    loop {
        match notices.recv().await {
            Ok(Notice::GroupChanged { group_id, .. }) if group_id == id => return,
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => return,
            Err(RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}

/// What `/runs` shows of each member.
#[derive(Clone, Copy, Debug)]
pub struct RunsView {
    pub after: u64,
    pub status: Option<RunStatus>,
    pub include_input: bool,
    pub include_output: bool,
}

/// `/runs`: every member (of a status, if asked) after the cursor, once, in the order added.
pub fn spawn_runs(
    store: Arc<dyn Store>,
    group: GroupRecord,
    view: RunsView,
) -> mpsc::Receiver<Frame> {
    let (tx, rx) = mpsc::channel(BUFFER);
    tokio::spawn(async move {
        let id = group.id.clone();
        if let Err(err) = group_runs(store, group, view, &tx).await {
            tracing::error!(taskgroup_id = %id, error = %err, "group runs stream failed");
            let _ = tx
                .send(error_frame(
                    "Internal error: could not read the group's runs",
                ))
                .await;
        }
    });
    rx
}

async fn group_runs(
    store: Arc<dyn Store>,
    group: GroupRecord,
    view: RunsView,
    tx: &mpsc::Sender<Frame>,
) -> Result<(), StoreError> {
    let mut cursor = view.after;
    loop {
        let page = store
            .group_runs(
                &group.id,
                &GroupRunsQuery {
                    after: cursor,
                    status: view.status,
                    limit: PAGE,
                },
            )
            .await?;
        let full = page.len() == PAGE;
        for member in page {
            cursor = member.cursor;
            let record = member.record;
            let output = if view.include_output && record.status == RunStatus::Completed {
                store.get_output(&record.id).await?
            } else {
                None
            };
            let mut frame = with_event_id(
                state_frame(None, &record.to_task_run(), output.as_ref()),
                member.cursor,
            );
            if view.include_input
                && let Some(request) = store.get_request(&record.id).await?
            {
                frame.data["input"] = request.to_echo();
            }
            if tx.send(frame).await.is_err() {
                return Ok(());
            }
        }
        if !full {
            return Ok(());
        }
    }
}
