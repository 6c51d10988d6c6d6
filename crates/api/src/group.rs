//! Task-group wire types (`/v1/tasks/groups…`): the group, its status counts, add-runs request
//! and response, and the group stream events.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::create::Metadata;
use crate::run::serialize_timestamp;
use crate::spec::TaskSpec;

/// Most runs one add-runs request may carry.
pub const MAX_RUNS_PER_REQUEST: usize = 1000;

/// `POST /v1/tasks/groups` body.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskGroupCreate {
    #[serde(default)]
    pub metadata: Option<Metadata>,
}

/// `TaskGroupStatus`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskGroupStatus {
    pub num_task_runs: u64,
    pub task_run_status_counts: BTreeMap<String, u64>,
    pub is_active: bool,
    pub status_message: Option<String>,
    #[serde(serialize_with = "serialize_timestamp")]
    pub modified_at: DateTime<Utc>,
}

/// `TaskGroup`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskGroup {
    pub taskgroup_id: String,
    pub status: TaskGroupStatus,
    #[serde(serialize_with = "serialize_timestamp")]
    pub created_at: DateTime<Utc>,
    pub metadata: Option<Metadata>,
}

/// `POST /v1/tasks/groups/{id}/runs` body: each input is a full create-run body, validated
/// like one (kept as JSON here so each item's errors can name its index).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskGroupRunCreate {
    pub inputs: Vec<Value>,
    #[serde(default)]
    pub default_task_spec: Option<TaskSpec>,
}

/// `TaskGroupRunResponse`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskGroupRunResponse {
    pub run_ids: Vec<String>,
    pub status: TaskGroupStatus,
    pub event_cursor: Option<String>,
    pub run_cursor: Option<String>,
}
