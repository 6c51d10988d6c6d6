//! Records the store keeps and returns.

use chrono::{DateTime, Utc};
use forage_api::{
    ErrorObject, InteractionId, Metadata, Processor, RunEvent, RunId, RunStatus, TaskOutput,
    TaskRun, TaskRunCreate, TokenUsage, Warning,
};

/// A run about to be queued.
#[derive(Clone, Debug)]
pub struct NewRun {
    pub id: RunId,
    pub interaction_id: InteractionId,
    /// Who may see the run: a fingerprint of the API key that created it.
    pub owner: String,
    pub processor: Processor,
    pub request: TaskRunCreate,
    pub warnings: Vec<Warning>,
    pub created_at: DateTime<Utc>,
}

/// A run as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRecord {
    pub id: RunId,
    pub interaction_id: InteractionId,
    pub owner: String,
    pub processor: String,
    pub status: RunStatus,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
    pub metadata: Option<Metadata>,
    pub error: Option<ErrorObject>,
    pub warnings: Vec<Warning>,
    pub taskgroup_id: Option<String>,
    pub usage: TokenUsage,
    /// How many times the run was leased (1 on its first execution).
    pub attempts: u32,
}

impl RunRecord {
    /// The run as the API shows it.
    pub fn to_task_run(&self) -> TaskRun {
        TaskRun {
            run_id: self.id.clone(),
            interaction_id: self.interaction_id.clone(),
            status: self.status,
            is_active: self.status.is_active(),
            processor: self.processor.clone(),
            created_at: self.created_at,
            modified_at: self.modified_at,
            metadata: self.metadata.clone(),
            error: self.error.clone(),
            warnings: (!self.warnings.is_empty()).then(|| self.warnings.clone()),
            taskgroup_id: self.taskgroup_id.clone(),
        }
    }
}

/// Proof that a worker holds a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub run_id: RunId,
    pub token: String,
}

/// A run handed to a worker.
#[derive(Clone, Debug)]
pub struct LeasedRun {
    pub lease: Lease,
    pub record: RunRecord,
    /// The request with MCP header values decrypted.
    pub request: TaskRunCreate,
}

/// How a run ended.
#[derive(Clone, Debug)]
pub enum RunOutcome {
    Completed {
        /// Boxed: the answer is large beside the other outcomes.
        output: Box<TaskOutput>,
        warnings: Vec<Warning>,
        usage: TokenUsage,
        /// The conversation, kept so a later run can continue the interaction.
        transcript: serde_json::Value,
    },
    Failed {
        error: ErrorObject,
        warnings: Vec<Warning>,
        usage: TokenUsage,
    },
    Cancelled {
        warnings: Vec<Warning>,
        usage: TokenUsage,
    },
}

impl RunOutcome {
    pub fn status(&self) -> RunStatus {
        match self {
            RunOutcome::Completed { .. } => RunStatus::Completed,
            RunOutcome::Failed { .. } => RunStatus::Failed,
            RunOutcome::Cancelled { .. } => RunStatus::Cancelled,
        }
    }
}

/// One entry of a run's event log.
#[derive(Clone, Debug, PartialEq)]
pub struct EventRecord {
    pub run_id: RunId,
    /// 1, 2, 3 … within the run.
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub event: RunEvent,
}

/// Filters and paging for `list_runs`.
#[derive(Clone, Debug)]
pub struct ListQuery {
    pub status: Option<RunStatus>,
    /// Only runs created strictly before this run (keyset paging cursor).
    pub before: Option<RunId>,
    pub limit: usize,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            status: None,
            before: None,
            limit: 50,
        }
    }
}

/// Something changed that waiters may care about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// A run entered the queue.
    RunQueued,
    /// A run changed status (or was finished).
    RunChanged { run_id: RunId, status: RunStatus },
    /// A run's event log grew up to `seq`.
    EventsAppended { run_id: RunId, seq: u64 },
}

/// Runs by state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueDepth {
    pub queued: u64,
    pub running: u64,
}
