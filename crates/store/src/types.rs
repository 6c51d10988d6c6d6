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
    /// Where an earlier attempt got to, when the run ran before and checkpointed.
    pub checkpoint: Option<Checkpoint>,
}

/// The engine's state of a running run at one moment, saved as it goes so that the run can
/// resume after a crash. Versions grow: an older checkpoint never replaces a newer one.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    pub version: u64,
    /// The state as JSON text, stored as it is.
    pub state: Box<serde_json::value::RawValue>,
    /// The batch of tool calls saved after the state, as its calls finished (JSON text); it
    /// replaces the state's batch.
    pub batch: Option<Box<serde_json::value::RawValue>>,
}

/// What one checkpoint save writes.
#[derive(Clone, Debug)]
pub enum CheckpointPart {
    /// The run's whole state (JSON text); it replaces the stored state and any batch saved
    /// after it.
    State(Box<serde_json::value::RawValue>),
    /// The batch of tool calls in progress (JSON text), saved over the stored state's as each
    /// call finishes, so that the conversation is not written again with every call. Ignored
    /// when the run has no stored state.
    Batch(Box<serde_json::value::RawValue>),
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
        /// Events appended with the outcome, before the final status (the answering turn's).
        events: Vec<RunEvent>,
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
    /// A task group's event log grew up to `seq` (a member was added or changed status).
    GroupChanged { group_id: String, seq: u64 },
    /// A webhook delivery was enqueued (a run with a webhook ended).
    DeliveryQueued,
}

/// Runs by state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueDepth {
    pub queued: u64,
    pub running: u64,
}

/// What admission control weighs before queueing new runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AdmissionCounts {
    /// The owner's runs not yet finished (queued, running or cancelling).
    pub owner_active: u64,
    /// Runs waiting for a worker, all owners together.
    pub queued: u64,
}

/// Bounds that new runs must stay within. A store checks them in the write that inserts the
/// runs, so that creates made at the same time cannot together go past them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunCaps {
    /// The owner's unfinished runs (queued, running or cancelling), at most.
    pub per_owner: Option<u64>,
    /// Queued runs, all owners together, at most.
    pub queued: Option<u64>,
}

/// The cap that adding runs would have gone past; nothing was created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapReached {
    /// The owner has `active` unfinished runs and may have at most `max`.
    PerOwner { active: u64, max: u64 },
    /// `queued` runs wait for a worker, and at most `max` may.
    Queue { queued: u64, max: u64 },
}

impl RunCaps {
    /// No bounds.
    pub const NONE: RunCaps = RunCaps {
        per_owner: None,
        queued: None,
    };

    /// Whether anything needs counting.
    pub fn is_none(&self) -> bool {
        self.per_owner.is_none() && self.queued.is_none()
    }

    /// Whether `adding` more runs fit beside those `counts` has (the owner's cap is weighed
    /// first).
    pub fn admit(&self, counts: AdmissionCounts, adding: u64) -> Result<(), CapReached> {
        if let Some(max) = self.per_owner
            && counts.owner_active.saturating_add(adding) > max
        {
            return Err(CapReached::PerOwner {
                active: counts.owner_active,
                max,
            });
        }
        if let Some(max) = self.queued
            && counts.queued.saturating_add(adding) > max
        {
            return Err(CapReached::Queue {
                queued: counts.queued,
                max,
            });
        }
        Ok(())
    }
}

impl std::fmt::Display for CapReached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CapReached::PerOwner { active, max } => write!(
                f,
                "the owner has {active} unfinished runs and may have at most {max}"
            ),
            CapReached::Queue { queued, max } => {
                write!(f, "{queued} runs are queued and at most {max} may be")
            }
        }
    }
}

#[cfg(test)]
mod run_caps_tests {
    use super::*;

    fn counts(owner_active: u64, queued: u64) -> AdmissionCounts {
        AdmissionCounts {
            owner_active,
            queued,
        }
    }

    #[test]
    fn no_caps_admit_anything() {
        assert!(RunCaps::NONE.is_none());
        assert_eq!(RunCaps::NONE.admit(counts(u64::MAX, u64::MAX), 5), Ok(()));
    }

    #[test]
    fn the_owner_cap_counts_the_runs_being_added() {
        let caps = RunCaps {
            per_owner: Some(3),
            queued: None,
        };
        assert_eq!(caps.admit(counts(2, 100), 1), Ok(()));
        assert_eq!(
            caps.admit(counts(2, 100), 2),
            Err(CapReached::PerOwner { active: 2, max: 3 })
        );
        assert_eq!(
            caps.admit(counts(3, 0), 1),
            Err(CapReached::PerOwner { active: 3, max: 3 })
        );
    }

    #[test]
    fn the_queue_cap_is_weighed_after_the_owners() {
        let caps = RunCaps {
            per_owner: Some(10),
            queued: Some(4),
        };
        assert_eq!(caps.admit(counts(0, 3), 1), Ok(()));
        assert_eq!(
            caps.admit(counts(0, 3), 2),
            Err(CapReached::Queue { queued: 3, max: 4 })
        );
        assert_eq!(
            caps.admit(counts(10, 4), 1),
            Err(CapReached::PerOwner {
                active: 10,
                max: 10
            })
        );
    }
}

/// A task group about to be created.
#[derive(Clone, Debug)]
pub struct NewGroup {
    /// `tgrp_…`, chosen by the caller.
    pub id: String,
    /// Fingerprint of the API key that created it; its runs have the same owner.
    pub owner: String,
    pub metadata: Option<Metadata>,
    pub created_at: DateTime<Utc>,
}

/// A task group as stored, with counts the store maintains on every member's status change
/// (reading them never scans the group's runs).
#[derive(Clone, Debug, PartialEq)]
pub struct GroupRecord {
    pub id: String,
    pub owner: String,
    pub metadata: Option<Metadata>,
    pub created_at: DateTime<Utc>,
    /// The last time a run was added or a member changed status (`created_at` at first).
    pub modified_at: DateTime<Utc>,
    /// Runs in the group.
    pub num_runs: u64,
    /// Members by status (`RunStatus::as_str`), zero counts left out.
    pub status_counts: std::collections::BTreeMap<String, u64>,
    /// Sequence number of the group's latest event (0: none yet).
    pub last_event_seq: u64,
}

impl GroupRecord {
    /// Some member is queued, running or cancelling.
    pub fn is_active(&self) -> bool {
        RunStatus::ALL
            .into_iter()
            .filter(|s| s.is_active())
            .any(|s| self.status_counts.get(s.as_str()).copied().unwrap_or(0) > 0)
    }
}

/// One entry of a group's event log: a member run reached `status`.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupEventRecord {
    pub group_id: String,
    /// 1, 2, 3 … within the group.
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub run_id: RunId,
    pub status: RunStatus,
}

/// Filters and paging for `group_runs`.
#[derive(Clone, Debug)]
pub struct GroupRunsQuery {
    /// Only members whose cursor is greater than this (0: from the first).
    pub after: u64,
    pub status: Option<RunStatus>,
    pub limit: usize,
}

/// A member of a group with its cursor (increasing in the order runs were added).
#[derive(Clone, Debug, PartialEq)]
pub struct GroupRun {
    pub cursor: u64,
    pub record: RunRecord,
}

/// A webhook delivery handed to a dispatcher.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    /// `whevent_…`: the `webhook-id`, the same on every attempt.
    pub id: String,
    pub run_id: RunId,
    pub owner: String,
    pub url: String,
    /// Attempts so far, counting this one (1 on the first).
    pub attempts: u32,
    /// When it was enqueued (the run's end); the payload's `timestamp`.
    pub created_at: DateTime<Utc>,
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryState {
    /// Due at `next_attempt_at` (or leased to a dispatcher until then).
    Pending,
    Delivered,
    /// Given up on; `last_error` says why.
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<DeliveryState> {
        [
            DeliveryState::Pending,
            DeliveryState::Delivered,
            DeliveryState::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// A delivery as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct DeliveryRecord {
    pub id: String,
    pub run_id: RunId,
    pub url: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    /// When it is next due (or its lease ends); `None` once delivered or failed.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Why the latest attempt failed, if it did.
    pub last_error: Option<String>,
}

/// What an attempt came to.
#[derive(Clone, Debug, PartialEq)]
pub enum DeliveryResult {
    /// The receiver answered 2xx: done.
    Delivered,
    /// Failed; try again at `at`.
    RetryAt { at: DateTime<Utc>, error: String },
    /// Failed for good.
    GaveUp { error: String },
}
