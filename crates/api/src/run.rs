//! The `TaskRun` object and its status, errors and warnings.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize, Serializer};

use crate::create::Metadata;
use crate::ids::{InteractionId, RunId};

/// A run's life: queued → running → completed | failed; cancelling → cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Queued,
    ActionRequired,
    Running,
    Completed,
    Failed,
    Cancelling,
    Cancelled,
}

impl RunStatus {
    pub const ALL: [RunStatus; 7] = [
        RunStatus::Queued,
        RunStatus::ActionRequired,
        RunStatus::Running,
        RunStatus::Completed,
        RunStatus::Failed,
        RunStatus::Cancelling,
        RunStatus::Cancelled,
    ];

    /// Parallel's `is_active`: still queued, running or being cancelled.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            RunStatus::Queued | RunStatus::Running | RunStatus::Cancelling
        )
    }

    /// No further change will happen.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::ActionRequired => "action_required",
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelling => "cancelling",
            RunStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<RunStatus> {
        RunStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// `ErrorObject`: why a run or request failed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    pub ref_id: String,
    pub message: String,
    #[serde(default)]
    pub detail: Option<serde_json::Value>,
}

impl ErrorObject {
    pub fn new(message: impl Into<String>) -> Self {
        ErrorObject {
            ref_id: uuid::Uuid::new_v4().to_string(),
            message: message.into(),
            detail: None,
        }
    }
}

/// Kinds of warning Parallel emits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningKind {
    SpecValidationWarning,
    InputValidationWarning,
    Warning,
}

/// A non-fatal problem attached to a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Warning {
    #[serde(rename = "type")]
    pub kind: WarningKind,
    pub message: String,
    #[serde(default)]
    pub detail: Option<serde_json::Value>,
}

impl Warning {
    pub fn new(kind: WarningKind, message: impl Into<String>) -> Self {
        Warning {
            kind,
            message: message.into(),
            detail: None,
        }
    }
}

/// RFC 3339 with microseconds and `Z`, as Parallel writes timestamps.
pub fn serialize_timestamp<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_timestamp(at))
}

pub fn format_timestamp(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// `TaskRun` on the wire.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskRun {
    pub run_id: RunId,
    pub interaction_id: InteractionId,
    pub status: RunStatus,
    pub is_active: bool,
    pub processor: String,
    #[serde(serialize_with = "serialize_timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "serialize_timestamp")]
    pub modified_at: DateTime<Utc>,
    pub metadata: Option<Metadata>,
    pub error: Option<ErrorObject>,
    pub warnings: Option<Vec<Warning>>,
    pub taskgroup_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn active_and_final_statuses_follow_parallel() {
        let active: Vec<_> = RunStatus::ALL
            .into_iter()
            .filter(|s| s.is_active())
            .collect();
        assert_eq!(
            active,
            [RunStatus::Queued, RunStatus::Running, RunStatus::Cancelling]
        );
        for s in RunStatus::ALL {
            assert_eq!(RunStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), json!(s.as_str()));
        }
    }

    #[test]
    fn task_run_wire_shape() {
        let id = RunId::generate();
        let at = DateTime::parse_from_rfc3339("2025-04-23T20:21:48.037943Z")
            .unwrap()
            .with_timezone(&Utc);
        let run = TaskRun {
            interaction_id: InteractionId::for_run(&id),
            run_id: id.clone(),
            status: RunStatus::Queued,
            is_active: true,
            processor: "core".into(),
            created_at: at,
            modified_at: at,
            metadata: None,
            error: None,
            warnings: None,
            taskgroup_id: None,
        };
        let wire = serde_json::to_value(&run).unwrap();
        assert_eq!(
            wire,
            json!({"run_id": id.as_str(), "interaction_id": id.as_str(), "status": "queued",
                   "is_active": true, "processor": "core",
                   "created_at": "2025-04-23T20:21:48.037943Z", "modified_at": "2025-04-23T20:21:48.037943Z",
                   "metadata": null, "error": null, "warnings": null, "taskgroup_id": null})
        );
    }
}
